//! The deployer controller (OCM `pkg/apps/deployer`): one deployer pod per new RC, and the RC
//! phase machine of [`crate::pods::deployer_step`] driven by that pod.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, ReplicationController};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client, Resource as _, ResourceExt as _};
use serde_json::json;

use crate::defaults;
use crate::error::{Error, Result};
use crate::keys::*;
use crate::pods::{self, RcView};
use crate::rc::{self, Phase};

/// Shared state of the deployer controller.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// Image of deployer pods (unless the strategy's `customParams.image` says otherwise).
    pub deployer_image: String,
}

async fn event(
    ctx: &Context,
    rc: &ReplicationController,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let reference: ObjectReference = rc.object_ref(&());
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

fn timestamp() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// One reconcile of an RC of a DeploymentConfig.
pub async fn reconcile(rc_obj: Arc<ReplicationController>, ctx: Arc<Context>) -> Result<Action> {
    let rc_name = rc_obj.name_any();
    if !rc_obj
        .annotations()
        .contains_key(DEPLOYMENT_CONFIG_ANNOTATION)
        || rc_obj.metadata.deletion_timestamp.is_some()
    {
        return Ok(Action::await_change());
    }
    let ns = rc_obj
        .namespace()
        .ok_or_else(|| Error::MissingField(rc_name.clone(), "metadata.namespace"))?;
    let phase = rc::phase(&rc_obj);
    if phase == Phase::Complete {
        return Ok(Action::await_change());
    }
    let mut dc = rc::decode_config(&rc_obj)?;
    defaults::apply(&mut dc);
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let rc_api: Api<ReplicationController> = Api::namespaced(ctx.client.clone(), &ns);
    let pod_name = rc::deployer_pod_name(&rc_name);
    let pod = pods_api.get_opt(&pod_name).await?;
    let related = pod
        .as_ref()
        .map(|p| p.annotations().get(DEPLOYMENT_ANNOTATION) == Some(&rc_name));
    let cancelled = rc::is_cancelled(&rc_obj);
    let lp = ListParams::default().labels(&format!("{DEPLOYER_POD_FOR_LABEL}={rc_name}"));
    let has_pods = if cancelled {
        !pods_api.list(&lp).await?.items.is_empty()
    } else {
        pod.is_some()
    };
    let age = rc_obj
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| k8s_openapi::jiff::Timestamp::now().as_second() - t.0.as_second())
        .unwrap_or(0);
    let view = RcView {
        phase,
        cancelled,
        ignore_pod: rc_obj
            .annotations()
            .contains_key(DEPLOYMENT_IGNORE_POD_ANNOTATION),
        age_seconds: age,
        timeout_seconds: pods::strategy_timeout_seconds(&dc),
        has_pods,
    };
    let step = pods::deployer_step(view, pod.as_ref().zip(related));
    tracing::debug!(rc = %rc_name, ?phase, ?step, "deployer step");

    if step.delete_pods {
        for p in pods_api.list(&lp).await?.items {
            match pods_api
                .delete(&p.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        event(
            &ctx,
            &rc_obj,
            EventType::Normal,
            "RolloutCancelled",
            format!("deleted the deployer and hook pods of cancelled rollout {rc_name}"),
        )
        .await;
    }
    let mut annotations: BTreeMap<String, Option<String>> = BTreeMap::new();
    if step.create_pod {
        let pod = pods::deployer_pod(&rc_obj, &dc, &ctx.deployer_image)?;
        let pp = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        match pods_api.create(&pp, &pod).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            Err(e) => {
                event(
                    &ctx,
                    &rc_obj,
                    EventType::Warning,
                    "FailedCreate",
                    format!("cannot create deployer pod {pod_name}: {e}"),
                )
                .await;
                return Err(e.into());
            }
        }
        annotations.insert(DEPLOYER_POD_ANNOTATION.into(), Some(pod_name.clone()));
        annotations.insert(DEPLOYER_POD_CREATED_AT_ANNOTATION.into(), Some(timestamp()));
    }
    let mut replicas = None;
    if let Some((next, reason)) = step.next {
        annotations.insert(
            DEPLOYMENT_STATUS_ANNOTATION.into(),
            Some(next.as_str().into()),
        );
        if let Some(reason) = reason {
            annotations.insert(
                DEPLOYMENT_STATUS_REASON_ANNOTATION.into(),
                Some(reason.into()),
            );
        }
        match next {
            Phase::Running => {
                annotations.insert(DEPLOYER_POD_STARTED_AT_ANNOTATION.into(), Some(timestamp()));
            }
            Phase::Complete | Phase::Failed => {
                annotations.insert(
                    DEPLOYER_POD_COMPLETED_AT_ANNOTATION.into(),
                    Some(timestamp()),
                );
                if dc.spec.test == Some(true) {
                    replicas = Some(0);
                }
            }
            _ => {}
        }
        if next == Phase::Complete {
            let desired = rc_obj
                .annotations()
                .get(DESIRED_REPLICAS_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            annotations.insert(DEPLOYMENT_REPLICAS_ANNOTATION.into(), Some(desired));
            annotations.insert(DESIRED_REPLICAS_ANNOTATION.into(), None);
            if cancelled {
                annotations.insert(DEPLOYMENT_CANCELLED_ANNOTATION.into(), None);
                annotations.insert(DEPLOYMENT_STATUS_REASON_ANNOTATION.into(), None);
                event(
                    &ctx,
                    &rc_obj,
                    EventType::Warning,
                    "FailedCancellation",
                    format!("rollout {rc_name} succeeded before it could be cancelled"),
                )
                .await;
            }
        }
        if next == Phase::Failed && reason.is_some() {
            event(
                &ctx,
                &rc_obj,
                EventType::Warning,
                "RolloutFailed",
                format!("rollout {rc_name} failed: {}", reason.unwrap_or_default()),
            )
            .await;
        }
    }
    if !annotations.is_empty() || replicas.is_some() {
        // Guarded by resourceVersion: a phase is only ever written from the phase we read.
        let mut patch = json!({"metadata": {"annotations": annotations, "resourceVersion": rc_obj.resource_version()}});
        if let Some(r) = replicas {
            patch["spec"] = json!({"replicas": r});
        }
        match rc_api
            .patch(
                &rc_name,
                &PatchParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..Default::default()
                },
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {
                return Ok(Action::requeue(Duration::from_millis(500)));
            }
            Err(e) => return Err(e.into()),
        }
        if let Some((next, _)) = step.next {
            tracing::info!(rc = %rc_name, from = phase.as_str(), to = next.as_str(), "rollout phase");
        }
    }
    // Ensure deployer/hook pods carry an owner reference to the RC (GC with the RC).
    if let Some(p) = pod.as_ref().filter(|p| {
        p.owner_references()
            .iter()
            .all(|o| o.uid != rc_obj.uid().unwrap_or_default())
    }) {
        let mut refs = p.owner_references().to_vec();
        refs.push(pods::rc_owner_reference(&rc_obj)?);
        let patch = json!({"metadata": {"ownerReferences": refs}});
        pods_api
            .patch(
                &p.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
    }
    Ok(match step.next.map(|(p, _)| p).unwrap_or(phase) {
        Phase::New => Action::requeue(Duration::from_secs(5)),
        Phase::Complete | Phase::Failed => Action::requeue(Duration::from_secs(300)),
        _ => Action::requeue(Duration::from_secs(30)),
    })
}
