//! The DeploymentConfig controller (OCM `pkg/apps/deploymentconfig`): reads a DC and its RCs,
//! lets [`crate::decide`] choose, then writes RCs, status and Events. Also resolves ImageChange
//! triggers from ImageStream status, handles the declarative `instantiate` / `rollback`
//! annotations, and keeps the `deployer` ServiceAccount and RoleBinding in each namespace.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, ReplicationController, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client, Resource as _, ResourceExt as _};
use outrigger_api::apps::{DeploymentCause, DeploymentConfig, DeploymentDetails};
use outrigger_api::image::{ImageStream, split_image_stream_tag};
use serde_json::json;

use crate::decide::{self, Decision};
use crate::defaults::{self, strategy_type};
use crate::error::{Error, Result};
use crate::keys::*;
use crate::rc;
use crate::strategy::resolve_surge_unavailable;

/// Shared state of the DC controller.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// Namespaces whose `deployer` ServiceAccount/RoleBinding were applied by this process.
    pub bootstrapped: Mutex<HashSet<String>>,
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

fn ns_of(dc: &DeploymentConfig) -> Result<String> {
    dc.namespace()
        .ok_or_else(|| Error::MissingField(dc.name_any(), "metadata.namespace"))
}

async fn event(ctx: &Context, dc: &DeploymentConfig, type_: EventType, reason: &str, note: String) {
    let reference: ObjectReference = dc.object_ref(&());
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
        tracing::warn!(error = %e, reason, "cannot publish event");
    }
}

/// Checks what the schema cannot: strategy values, hook and trigger container names.
pub fn validate(dc: &DeploymentConfig) -> Result<()> {
    let template = dc
        .spec
        .template
        .as_ref()
        .ok_or_else(|| Error::InvalidConfig("spec.template is required".into()))?;
    let pod = template
        .spec
        .as_ref()
        .ok_or_else(|| Error::InvalidConfig("spec.template.spec is required".into()))?;
    let names: Vec<&str> = pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
        .map(|c| c.name.as_str())
        .collect();
    let strategy = dc.spec.strategy.as_ref();
    let kind = strategy_type(strategy);
    if !["Rolling", "Recreate", "Custom"].contains(&kind) {
        return Err(Error::InvalidConfig(format!(
            "spec.strategy.type {kind:?} is not supported; use Recreate, Rolling or Custom"
        )));
    }
    if let Some(p) = strategy.and_then(|s| s.rolling_params.as_ref()) {
        resolve_surge_unavailable(
            p.max_surge.as_ref(),
            p.max_unavailable.as_ref(),
            dc.spec.replicas.unwrap_or(0),
        )
        .map_err(|e| Error::InvalidConfig(e.to_string()))?;
    }
    let mut hooks = Vec::new();
    if let Some(p) = strategy.and_then(|s| s.rolling_params.as_ref()) {
        hooks.push(("rollingParams.pre", p.pre.as_ref()));
        hooks.push(("rollingParams.post", p.post.as_ref()));
    }
    if let Some(p) = strategy.and_then(|s| s.recreate_params.as_ref()) {
        hooks.push(("recreateParams.pre", p.pre.as_ref()));
        hooks.push(("recreateParams.mid", p.mid.as_ref()));
        hooks.push(("recreateParams.post", p.post.as_ref()));
    }
    for (at, hook) in hooks {
        let Some(hook) = hook else { continue };
        let mut referenced: Vec<Option<&str>> = Vec::new();
        if let Some(e) = hook.exec_new_pod.as_ref() {
            referenced.push(e.container_name.as_deref());
        }
        for t in hook.tag_images.iter().flatten() {
            referenced.push(t.container_name.as_deref());
        }
        for c in referenced {
            match c {
                Some(c) if names.contains(&c) => {}
                Some(c) => {
                    return Err(Error::InvalidConfig(format!(
                        "spec.strategy.{at} names container {c:?}, which spec.template does not have"
                    )));
                }
                None => {
                    return Err(Error::InvalidConfig(format!(
                        "spec.strategy.{at}: containerName is required when the template has more than one container"
                    )));
                }
            }
        }
    }
    for t in dc.spec.triggers.iter().flatten() {
        for c in t
            .image_change_params
            .iter()
            .flat_map(|p| p.container_names.iter().flatten())
        {
            if !names.contains(&c.as_str()) {
                return Err(Error::InvalidConfig(format!(
                    "an ImageChange trigger names container {c:?}, which spec.template does not have"
                )));
            }
        }
    }
    Ok(())
}

/// Applies the `deployer` ServiceAccount and its `system:deployers` RoleBinding.
async fn ensure_deployer_account(ctx: &Context, ns: &str) -> Result<()> {
    if ctx
        .bootstrapped
        .lock()
        .map(|s| s.contains(ns))
        .unwrap_or(false)
    {
        return Ok(());
    }
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let sa = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": DEPLOYER_SERVICE_ACCOUNT, "namespace": ns},
    });
    Api::<ServiceAccount>::namespaced(ctx.client.clone(), ns)
        .patch(DEPLOYER_SERVICE_ACCOUNT, &pp, &Patch::Apply(&sa))
        .await?;
    let rb = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": DEPLOYER_ROLE_BINDING, "namespace": ns, "annotations": {
            "openshift.io/description": "Allows deploymentconfigs in this namespace to rollout pods in this namespace.  It is auto-managed by a controller; remove subjects to disable."
        }},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": DEPLOYER_CLUSTER_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": DEPLOYER_SERVICE_ACCOUNT, "namespace": ns}],
    });
    Api::<RoleBinding>::namespaced(ctx.client.clone(), ns)
        .patch(DEPLOYER_ROLE_BINDING, &pp, &Patch::Apply(&rb))
        .await?;
    if let Ok(mut s) = ctx.bootstrapped.lock() {
        s.insert(ns.to_owned());
    }
    Ok(())
}

/// Lists the DC's RCs, adopting orphans that carry its label (controller-ref manager).
async fn owned_rcs(ctx: &Context, dc: &DeploymentConfig) -> Result<Vec<ReplicationController>> {
    let ns = ns_of(dc)?;
    let api: Api<ReplicationController> = Api::namespaced(ctx.client.clone(), &ns);
    let lp =
        ListParams::default().labels(&format!("{DEPLOYMENT_CONFIG_ANNOTATION}={}", dc.name_any()));
    let uid = dc.metadata.uid.clone().unwrap_or_default();
    let mut out = Vec::new();
    for r in api.list(&lp).await?.items {
        let controller = r
            .owner_references()
            .iter()
            .find(|o| o.controller == Some(true))
            .cloned();
        match controller {
            Some(o) if o.uid == uid => out.push(r),
            Some(_) => {} // owned by another object
            None if dc.metadata.deletion_timestamp.is_none() => {
                let mut refs = r.owner_references().to_vec();
                refs.push(rc::owner_reference(dc)?);
                let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": r.resource_version()}});
                let adopted = api
                    .patch(
                        &r.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await?;
                tracing::info!(rc = %adopted.name_any(), "adopted replication controller");
                out.push(adopted);
            }
            None => {}
        }
    }
    Ok(out)
}

/// Resolves `<stream>:<tag>` in `ns` to the tag's current pull spec (None: not yet imported).
async fn resolve_tag(client: &Client, ns: &str, name: &str) -> Result<Option<String>> {
    let (stream, tag) = split_image_stream_tag(name).ok_or_else(|| {
        Error::ImageTrigger(format!(
            "{name:?} is not an image stream tag (<stream>:<tag>)"
        ))
    })?;
    let api: Api<ImageStream> = Api::namespaced(client.clone(), ns);
    let is = api
        .get_opt(stream)
        .await?
        .ok_or_else(|| Error::ImageTrigger(format!("image stream {ns}/{stream} does not exist")))?;
    Ok(is
        .status
        .and_then(|s| s.tags)
        .into_iter()
        .flatten()
        .find(|t| t.tag.as_deref() == Some(tag))
        .and_then(|t| t.items)
        .and_then(|items| items.into_iter().next())
        .and_then(|i| i.docker_image_reference)
        .filter(|r| !r.is_empty()))
}

/// Writes new images of ImageChange triggers into the template (JSON patch guarded by the
/// resourceVersion). `all`: also non-automatic triggers (an explicit `latest` request).
/// Returns true when the DC was changed.
async fn apply_image_triggers(ctx: &Context, dc: &DeploymentConfig, all: bool) -> Result<bool> {
    let ns = ns_of(dc)?;
    let mut ops = Vec::new();
    let Some(template) = dc.spec.template.as_ref().and_then(|t| t.spec.as_ref()) else {
        return Ok(false);
    };
    for (ti, t) in dc.spec.triggers.iter().flatten().enumerate() {
        let Some(p) = t.image_change_params.as_ref() else {
            continue;
        };
        if t.type_.as_deref() != Some("ImageChange") || (!all && p.automatic != Some(true)) {
            continue;
        }
        let Some(from) = p.from.as_ref() else {
            continue;
        };
        let from_ns = from.namespace.clone().unwrap_or_else(|| ns.clone());
        let Some(image) =
            resolve_tag(&ctx.client, &from_ns, from.name.as_deref().unwrap_or("")).await?
        else {
            continue;
        };
        if p.last_triggered_image.as_deref() == Some(image.as_str()) {
            continue;
        }
        let names = p.container_names.clone().unwrap_or_default();
        for (ci, c) in template.containers.iter().enumerate() {
            if names.contains(&c.name) {
                ops.push(json!({"op": "add", "path": format!("/spec/template/spec/containers/{ci}/image"), "value": image}));
            }
        }
        for (ci, c) in template.init_containers.iter().flatten().enumerate() {
            if names.contains(&c.name) {
                ops.push(json!({"op": "add", "path": format!("/spec/template/spec/initContainers/{ci}/image"), "value": image}));
            }
        }
        ops.push(json!({"op": "add", "path": format!("/spec/triggers/{ti}/imageChangeParams/lastTriggeredImage"), "value": image}));
    }
    if ops.is_empty() {
        return Ok(false);
    }
    ops.insert(
        0,
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": dc.resource_version()}),
    );
    let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(ops))?;
    Api::<DeploymentConfig>::namespaced(ctx.client.clone(), &ns)
        .patch(
            &dc.name_any(),
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &Patch::Json::<()>(patch),
        )
        .await?;
    Ok(true)
}

async fn write_status(
    ctx: &Context,
    dc: &DeploymentConfig,
    status: &outrigger_api::apps::DeploymentConfigStatus,
) -> Result<()> {
    let current = dc.status.clone().unwrap_or_default();
    if !decide::status_differs(&current, status) {
        return Ok(());
    }
    let patch =
        json!({"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig", "status": status});
    Api::<DeploymentConfig>::namespaced(ctx.client.clone(), &ns_of(dc)?)
        .patch_status(
            &dc.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}

/// A parsed `apps.openshift.io/instantiate` annotation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct InstantiateRequest {
    /// Refresh images from ImageChange triggers first.
    #[serde(default = "yes")]
    pub latest: bool,
    /// Roll out even without a trigger change.
    #[serde(default = "yes")]
    pub force: bool,
}

fn yes() -> bool {
    true
}

impl InstantiateRequest {
    /// JSON object, or any other string meaning `{"latest": true, "force": true}` (a nonce).
    pub fn parse(value: &str) -> InstantiateRequest {
        serde_json::from_str(value).unwrap_or(InstantiateRequest {
            latest: true,
            force: true,
        })
    }
}

/// A parsed `apps.openshift.io/rollback` annotation (DeploymentConfigRollbackSpec).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackRequest {
    /// Version to return to; 0 or absent: the one before the latest.
    #[serde(default)]
    pub revision: i64,
    /// Copy the triggers.
    #[serde(default)]
    pub include_triggers: bool,
    /// Copy the pod template.
    #[serde(default = "yes")]
    pub include_template: bool,
    /// Copy replicas and selector.
    #[serde(default)]
    pub include_replication_meta: bool,
    /// Copy the strategy.
    #[serde(default)]
    pub include_strategy: bool,
}

impl RollbackRequest {
    /// Parses the annotation: a JSON object, or a bare revision number.
    pub fn parse(value: &str) -> Result<RollbackRequest> {
        if let Ok(rev) = value.trim().parse::<i64>() {
            return Ok(RollbackRequest {
                revision: rev,
                include_triggers: false,
                include_template: true,
                include_replication_meta: false,
                include_strategy: false,
            });
        }
        serde_json::from_str(value)
            .map_err(|e| Error::BadRequest(format!("{}: {e}", request::ROLLBACK)))
    }
}

/// OpenShift's rollback generator checks: the version to return to.
pub fn rollback_target(latest: i64, requested: i64) -> Result<i64> {
    if latest == 0 {
        return Err(Error::BadRequest(
            "cannot rollback an undeployed config".into(),
        ));
    }
    if latest == 1 {
        return Err(Error::BadRequest(format!(
            "no previous deployment exists for version {latest}"
        )));
    }
    let target = if requested == 0 {
        latest - 1
    } else {
        requested
    };
    if target == latest {
        return Err(Error::BadRequest(format!(
            "version {target} is already the latest"
        )));
    }
    if target < 0 || target > latest {
        return Err(Error::BadRequest(format!(
            "version {target} does not exist"
        )));
    }
    Ok(target)
}

/// The JSON patch operations that roll the DC's spec back to `from` (the decoded DC of the
/// target RC) per the include flags; every ImageChange trigger becomes non-automatic.
pub fn rollback_ops(
    current: &DeploymentConfig,
    from: &DeploymentConfig,
    req: &RollbackRequest,
) -> Result<Vec<serde_json::Value>> {
    let mut ops = Vec::new();
    if req.include_template {
        ops.push(json!({"op": "add", "path": "/spec/template", "value": from.spec.template}));
    }
    if req.include_replication_meta {
        ops.push(json!({"op": "add", "path": "/spec/replicas", "value": from.spec.replicas.unwrap_or(0)}));
        ops.push(json!({"op": "add", "path": "/spec/selector", "value": from.spec.selector.clone().unwrap_or_default()}));
    }
    if req.include_strategy {
        ops.push(json!({"op": "add", "path": "/spec/strategy", "value": from.spec.strategy}));
    }
    let mut triggers = if req.include_triggers {
        from.spec.triggers.clone()
    } else {
        current.spec.triggers.clone()
    }
    .unwrap_or_default();
    for t in &mut triggers {
        if let Some(p) = t.image_change_params.as_mut() {
            p.automatic = Some(false);
        }
    }
    if req.include_triggers || triggers.iter().any(|t| t.image_change_params.is_some()) {
        ops.push(json!({"op": "add", "path": "/spec/triggers", "value": triggers}));
    }
    Ok(ops)
}

async fn set_handled(ctx: &Context, dc: &DeploymentConfig, key: &str, value: &str) -> Result<()> {
    let patch = json!({"metadata": {"annotations": {key: value}}});
    Api::<DeploymentConfig>::namespaced(ctx.client.clone(), &ns_of(dc)?)
        .patch(
            &dc.name_any(),
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

fn manual_details() -> DeploymentDetails {
    DeploymentDetails {
        message: Some(cause::MANUAL_MESSAGE.into()),
        causes: Some(vec![DeploymentCause {
            type_: Some(cause::MANUAL.into()),
            image_trigger: None,
        }]),
    }
}

async fn bump(
    ctx: &Context,
    dc: &DeploymentConfig,
    rcs: &[ReplicationController],
    version: i64,
    details: Option<DeploymentDetails>,
) -> Result<()> {
    let mut next = dc.clone();
    let st = next.status.get_or_insert_with(Default::default);
    st.latest_version = Some(version);
    if details.is_some() {
        st.details = details;
    }
    let status = decide::compute_status(&next, rcs, false, &now());
    write_status(ctx, dc, &status).await
}

/// Handles the declarative instantiate/rollback annotations. Returns true when it acted (the
/// reconcile then stops; the resulting watch event continues).
async fn handle_requests(
    ctx: &Context,
    dc: &DeploymentConfig,
    rcs: &[ReplicationController],
) -> Result<bool> {
    let ann = dc.annotations().clone();
    let latest = dc
        .status
        .as_ref()
        .and_then(|s| s.latest_version)
        .unwrap_or(0);
    if let Some(v) = ann
        .get(request::INSTANTIATE)
        .filter(|v| ann.get(request::INSTANTIATE_HANDLED) != Some(*v))
    {
        set_handled(ctx, dc, request::INSTANTIATE_HANDLED, v).await?;
        if dc.spec.paused == Some(true) {
            event(
                ctx,
                dc,
                EventType::Warning,
                "InstantiateRejected",
                "cannot instantiate a paused deployment config (spec.paused)".into(),
            )
            .await;
            return Ok(true);
        }
        let req = InstantiateRequest::parse(v);
        if req.latest && apply_image_triggers(ctx, dc, true).await? {
            // The refreshed images trigger an ImageChange rollout of their own when forced.
        }
        if req.force {
            bump(ctx, dc, rcs, latest + 1, Some(manual_details())).await?;
            event(
                ctx,
                dc,
                EventType::Normal,
                "DeploymentRequested",
                format!("manual rollout of version {} requested", latest + 1),
            )
            .await;
        }
        return Ok(true);
    }
    if let Some(v) = ann.get(request::ROLLBACK).filter(|v| {
        ann.get(request::ROLLBACK_HANDLED)
            .is_none_or(|h| h != *v && !h.ends_with(&format!(" ({v})")))
    }) {
        let outcome = async {
            let req = RollbackRequest::parse(v)?;
            let target = rollback_target(latest, req.revision)?;
            let name = rc::rc_name(&dc.name_any(), target);
            let from_rc = rcs.iter().find(|r| r.name_any() == name).ok_or_else(|| {
                Error::BadRequest(format!(
                    "replication controller {name} for version {target} does not exist"
                ))
            })?;
            let from = rc::decode_config(from_rc)?;
            Ok::<_, Error>((target, rollback_ops(dc, &from, &req)?))
        }
        .await;
        match outcome {
            Ok((target, ops)) => {
                set_handled(ctx, dc, request::ROLLBACK_HANDLED, v).await?;
                let mut all = vec![
                    json!({"op": "test", "path": "/metadata/resourceVersion", "value": dc.resource_version()}),
                ];
                all.extend(ops);
                let patch: json_patch::Patch =
                    serde_json::from_value(serde_json::Value::Array(all))?;
                // The handled annotation changed the resourceVersion: re-read it for the guard.
                let api = Api::<DeploymentConfig>::namespaced(ctx.client.clone(), &ns_of(dc)?);
                let fresh = api.get(&dc.name_any()).await?;
                let mut patch_value = serde_json::to_value(&patch)?;
                if let Some(first) = patch_value.get_mut(0) {
                    first["value"] = json!(fresh.resource_version());
                }
                let patch: json_patch::Patch = serde_json::from_value(patch_value)?;
                api.patch(
                    &dc.name_any(),
                    &PatchParams {
                        field_manager: Some(FIELD_MANAGER.into()),
                        ..Default::default()
                    },
                    &Patch::Json::<()>(patch),
                )
                .await?;
                bump(
                    ctx,
                    &fresh,
                    rcs,
                    latest + 1,
                    Some(DeploymentDetails {
                        message: Some(format!("rollback to version {target}")),
                        causes: Some(vec![DeploymentCause {
                            type_: Some(cause::MANUAL.into()),
                            image_trigger: None,
                        }]),
                    }),
                )
                .await?;
                event(
                    ctx,
                    dc,
                    EventType::Normal,
                    "RolledBack",
                    format!(
                        "rolled back to version {target}; rolling out version {}",
                        latest + 1
                    ),
                )
                .await;
            }
            Err(e) => {
                set_handled(
                    ctx,
                    dc,
                    request::ROLLBACK_HANDLED,
                    &format!("error: {e} ({v})"),
                )
                .await?;
                event(ctx, dc, EventType::Warning, "RollbackFailed", e.to_string()).await;
            }
        }
        return Ok(true);
    }
    Ok(false)
}

/// Reports bad input: Progressing=False with the error's category, and a Warning Event.
async fn report_invalid(
    ctx: &Context,
    dc: &DeploymentConfig,
    rcs: &[ReplicationController],
    err: &Error,
) -> Result<()> {
    let mut status = decide::compute_status(dc, rcs, true, &now());
    let mut conds = status.conditions.take().unwrap_or_default();
    decide::set_condition(&mut conds, decide::invalid_condition(err, &now()));
    status.conditions = Some(conds);
    let changed = decide::status_differs(&dc.status.clone().unwrap_or_default(), &status);
    write_status(ctx, dc, &status).await?;
    if changed {
        event(ctx, dc, EventType::Warning, err.category(), err.to_string()).await;
    }
    Ok(())
}

/// One reconcile of a DeploymentConfig.
pub async fn reconcile(obj: Arc<DeploymentConfig>, ctx: Arc<Context>) -> Result<Action> {
    if obj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = ns_of(&obj)?;
    ensure_deployer_account(&ctx, &ns).await?;
    let mut dc = (*obj).clone();
    defaults::apply(&mut dc);
    let rcs = owned_rcs(&ctx, &dc).await?;

    if let Err(e) = validate(&dc) {
        report_invalid(&ctx, &dc, &rcs, &e).await?;
        return Ok(Action::requeue(Duration::from_secs(300)));
    }
    if handle_requests(&ctx, &dc, &rcs).await? {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    if dc.spec.paused != Some(true) {
        match apply_image_triggers(&ctx, &dc, false).await {
            Ok(true) => return Ok(Action::requeue(Duration::from_secs(1))),
            Ok(false) => {}
            Err(e @ Error::ImageTrigger(_)) => {
                report_invalid(&ctx, &dc, &rcs, &e).await?;
                return Ok(Action::requeue(Duration::from_secs(30)));
            }
            Err(e) => return Err(e),
        }
    }

    let rc_api: Api<ReplicationController> = Api::namespaced(ctx.client.clone(), &ns);
    let decision = decide::decide(&dc, &rcs)?;
    if matches!(decision, Decision::Bump { .. } | Decision::CreateRc) && is_stale(&ctx, &dc).await?
    {
        // The cache lags behind our own last write: decide again on the fresh object.
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    tracing::debug!(dc = %dc.name_any(), ?decision, "decided");
    let status_now;
    match decision {
        Decision::StatusOnly { observe } => {
            if dc.spec.paused == Some(true) {
                prune(&ctx, &dc, &rcs).await?;
            }
            status_now = Some(decide::compute_status(&dc, &rcs, observe, &now()));
        }
        Decision::Bump {
            latest_version,
            details,
        } => {
            bump(&ctx, &dc, &rcs, latest_version, details).await?;
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        Decision::CancelOlder { to_cancel } => {
            for name in &to_cancel {
                let patch = json!({"metadata": {"annotations": {
                    DEPLOYMENT_CANCELLED_ANNOTATION: "true",
                    DEPLOYMENT_STATUS_REASON_ANNOTATION: status_reason::NEWER_RUNNING,
                }}});
                rc_api
                    .patch(
                        name,
                        &PatchParams {
                            field_manager: Some(FIELD_MANAGER.into()),
                            ..Default::default()
                        },
                        &Patch::Merge(&patch),
                    )
                    .await?;
                event(
                    &ctx,
                    &dc,
                    EventType::Normal,
                    "DeploymentCancelled",
                    format!("cancelled {name}: {}", status_reason::NEWER_RUNNING),
                )
                .await;
            }
            let status = decide::compute_status(&dc, &rcs, false, &now());
            write_status(&ctx, &dc, &status).await?;
            return Err(Error::OlderRolloutRunning(
                rcs.iter()
                    .filter(|r| !rc::phase(r).is_terminal())
                    .map(|r| r.name_any())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        Decision::CreateRc => {
            let new_rc = rc::build(&dc)?;
            let name = new_rc.name_any();
            let pp = PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            let mut status = decide::compute_status(&dc, &rcs, true, &now());
            let mut conds = status.conditions.take().unwrap_or_default();
            match rc_api.create(&pp, &new_rc).await {
                Ok(_) => {
                    event(
                        &ctx,
                        &dc,
                        EventType::Normal,
                        "DeploymentCreated",
                        format!(
                            "Created new replication controller {name:?} for version {}",
                            dc.status
                                .as_ref()
                                .and_then(|s| s.latest_version)
                                .unwrap_or(0)
                        ),
                    )
                    .await;
                    decide::set_condition(&mut conds, decide::created_condition(&name, &now()));
                }
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => {
                    decide::set_condition(
                        &mut conds,
                        decide::create_error_condition(&name, &e.to_string(), &now()),
                    );
                    status.conditions = Some(conds);
                    write_status(&ctx, &dc, &status).await?;
                    event(
                        &ctx,
                        &dc,
                        EventType::Warning,
                        "DeploymentCreationFailed",
                        format!("cannot create {name}: {e}"),
                    )
                    .await;
                    return Err(e.into());
                }
            }
            status.conditions = Some(conds);
            write_status(&ctx, &dc, &status).await?;
            prune(&ctx, &dc, &rcs).await?;
            return Ok(Action::requeue(Duration::from_secs(60)));
        }
        Decision::ScaleRcs { changes } => {
            for (name, replicas) in &changes {
                let patch = json!({"spec": {"replicas": replicas}});
                rc_api
                    .patch(
                        name,
                        &PatchParams {
                            field_manager: Some(FIELD_MANAGER.into()),
                            ..Default::default()
                        },
                        &Patch::Merge(&patch),
                    )
                    .await?;
                event(
                    &ctx,
                    &dc,
                    EventType::Normal,
                    "ReplicationControllerScaled",
                    format!("Scaled replication controller {name:?} to {replicas}"),
                )
                .await;
            }
            prune(&ctx, &dc, &rcs).await?;
            let mut scaled = rcs.clone();
            for r in &mut scaled {
                if let Some((_, n)) = changes.iter().find(|(name, _)| *name == r.name_any())
                    && let Some(s) = r.spec.as_mut()
                {
                    s.replicas = Some(*n);
                }
            }
            status_now = Some(decide::compute_status(&dc, &scaled, true, &now()));
        }
    }
    if let Some(status) = status_now {
        write_status(&ctx, &dc, &status).await?;
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// True when the API server has a newer version of the DC than the (cached) one we decided on;
/// bumping or creating from a stale view would start a rollout twice or from an old template.
async fn is_stale(ctx: &Context, dc: &DeploymentConfig) -> Result<bool> {
    let fresh = Api::<DeploymentConfig>::namespaced(ctx.client.clone(), &ns_of(dc)?)
        .get(&dc.name_any())
        .await?;
    Ok(fresh.resource_version() != dc.resource_version())
}

async fn prune(ctx: &Context, dc: &DeploymentConfig, rcs: &[ReplicationController]) -> Result<()> {
    let api: Api<ReplicationController> = Api::namespaced(ctx.client.clone(), &ns_of(dc)?);
    for name in decide::prune(dc, rcs) {
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => tracing::info!(rc = %name, "pruned old replication controller"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// True when the DC has an ImageChange trigger following `stream` in `ns`.
pub fn follows_stream(dc: &DeploymentConfig, ns: &str, stream: &str) -> bool {
    let dc_ns = dc.namespace().unwrap_or_default();
    dc.spec.triggers.iter().flatten().any(|t| {
        t.image_change_params
            .as_ref()
            .and_then(|p| p.from.as_ref())
            .is_some_and(|f| {
                f.namespace
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .unwrap_or(&dc_ns)
                    == ns
                    && f.name
                        .as_deref()
                        .and_then(split_image_stream_tag)
                        .is_some_and(|(s, _)| s == stream)
            })
    })
}

/// Annotations the controller writes on the DC; exposed for the kubectl plugin.
pub fn request_annotation(key: &str, value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(key.to_owned(), value.to_owned())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rc::tests::dc_fixture;
    use pretty_assertions::assert_eq;

    #[test]
    fn validation_names_missing_containers() {
        let mut dc = dc_fixture(1);
        validate(&dc).expect("valid");
        dc.spec.strategy = Some(serde_json::from_value(json!({"type": "Recreate", "recreateParams": {"pre": {"failurePolicy": "Abort", "execNewPod": {"command": ["x"], "containerName": "nope"}}}})).expect("s"));
        let e = validate(&dc).expect_err("missing container");
        assert_eq!(e.category(), "InvalidConfig");
        assert!(e.to_string().contains("\"nope\""), "{e}");
        let mut dc = dc_fixture(1);
        dc.spec.triggers = Some(serde_json::from_value(json!([{"type": "ImageChange", "imageChangeParams": {"containerNames": ["zz"], "from": {"name": "s:t"}}}])).expect("t"));
        assert!(validate(&dc).is_err());
        let mut dc = dc_fixture(1);
        if let Some(p) = dc
            .spec
            .strategy
            .as_mut()
            .and_then(|s| s.rolling_params.as_mut())
        {
            p.max_surge = Some(
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("lots".into()),
            );
        }
        assert!(
            validate(&dc)
                .expect_err("bad surge")
                .to_string()
                .contains("maxSurge")
        );
    }

    #[test]
    fn instantiate_and_rollback_requests_parse() {
        assert_eq!(
            InstantiateRequest::parse("nonce-1"),
            InstantiateRequest {
                latest: true,
                force: true
            }
        );
        assert_eq!(
            InstantiateRequest::parse(r#"{"latest": false}"#),
            InstantiateRequest {
                latest: false,
                force: true
            }
        );
        let r = RollbackRequest::parse("2").expect("number");
        assert_eq!(
            (r.revision, r.include_template, r.include_triggers),
            (2, true, false)
        );
        let r =
            RollbackRequest::parse(r#"{"revision": 3, "includeStrategy": true}"#).expect("json");
        assert!(r.include_strategy && r.include_template);
        assert_eq!(
            RollbackRequest::parse("{").expect_err("bad").category(),
            "BadRequest"
        );
    }

    #[test]
    fn rollback_target_rules() {
        assert!(rollback_target(0, 0).is_err());
        assert!(rollback_target(1, 0).is_err());
        assert_eq!(rollback_target(3, 0).expect("previous"), 2);
        assert_eq!(rollback_target(3, 1).expect("explicit"), 1);
        assert!(rollback_target(3, 3).is_err());
        assert!(rollback_target(3, 4).is_err());
    }

    #[test]
    fn rollback_copies_template_and_disables_image_triggers() {
        let mut current = dc_fixture(3);
        current.spec.triggers = Some(serde_json::from_value(json!([{"type": "ImageChange", "imageChangeParams": {"automatic": true, "containerNames": ["c"], "from": {"name": "s:t"}}}])).expect("t"));
        let mut old = dc_fixture(1);
        if let Some(c) = old.spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
            c.containers[0].image = Some("img:old".into());
        }
        let req = RollbackRequest::parse("1").expect("req");
        let ops = rollback_ops(&current, &old, &req).expect("ops");
        assert_eq!(ops[0]["path"], "/spec/template");
        assert_eq!(ops[0]["value"]["spec"]["containers"][0]["image"], "img:old");
        assert_eq!(ops[1]["path"], "/spec/triggers");
        assert_eq!(ops[1]["value"][0]["imageChangeParams"]["automatic"], false);
    }

    fn stored_dc() -> DeploymentConfig {
        let mut dc = dc_fixture(0);
        dc.status = None;
        dc.metadata.resource_version = Some("5".into());
        dc
    }

    #[tokio::test]
    async fn new_dc_gets_a_deployer_account_and_version_one() {
        use crate::deployer_controller::tests::fake_client;
        let (client, calls) = fake_client(|method, path, body| match method {
            "PATCH" if path.ends_with("/deploymentconfigs/web/status") => {
                (200, serde_json::to_value(stored_dc()).unwrap_or_default())
            }
            "PATCH" => (200, body.clone()),
            "GET" if path.ends_with("/replicationcontrollers") => (
                200,
                json!({"apiVersion": "v1", "kind": "ReplicationControllerList", "metadata": {}, "items": []}),
            ),
            "GET" if path.ends_with("/deploymentconfigs/web") => {
                (200, serde_json::to_value(stored_dc()).unwrap_or_default())
            }
            _ => (500, json!({})),
        });
        let ctx = Arc::new(Context {
            recorder: Recorder::new(
                client.clone(),
                kube::runtime::events::Reporter {
                    controller: "test".into(),
                    instance: None,
                },
            ),
            client,
            bootstrapped: Mutex::new(HashSet::new()),
        });
        let action = tokio::time::timeout(
            Duration::from_secs(5),
            reconcile(Arc::new(stored_dc()), ctx),
        )
        .await
        .expect("no hang")
        .expect("reconciles");
        assert_eq!(action, Action::requeue(Duration::from_secs(1)));
        let calls = calls.lock().expect("calls").clone();
        let methods: Vec<_> = calls.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
        assert_eq!(methods.len(), 5, "{methods:#?}");
        assert!(
            methods[0].ends_with("/namespaces/demo/serviceaccounts/deployer"),
            "{methods:?}"
        );
        assert!(
            methods[1].contains("/namespaces/demo/rolebindings/system"),
            "{methods:?}"
        );
        assert_eq!(calls[1].2["roleRef"]["name"], "system:deployer");
        assert!(methods[2].starts_with("GET ") && methods[2].ends_with("/replicationcontrollers"));
        assert!(
            methods[3].starts_with("GET ") && methods[3].ends_with("/deploymentconfigs/web"),
            "freshness check"
        );
        let status = &calls[4].2["status"];
        assert_eq!(status["latestVersion"], 1);
        assert_eq!(status["details"]["message"], "config change");
        assert_eq!(status["selector"], "app=web");
    }

    #[test]
    fn stream_following() {
        let mut dc = dc_fixture(1);
        dc.spec.triggers = Some(serde_json::from_value(json!([{"type": "ImageChange", "imageChangeParams": {"containerNames": ["c"], "from": {"kind": "ImageStreamTag", "name": "app:latest"}}}])).expect("t"));
        assert!(follows_stream(&dc, "demo", "app"));
        assert!(!follows_stream(&dc, "other", "app"));
        assert!(!follows_stream(&dc, "demo", "db"));
    }
}
