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
    /// Pull policy of deployer pods when set (OpenShift's is `IfNotPresent`; a `:dev` tag that
    /// is re-pushed wants `Always`).
    pub deployer_pull_policy: Option<String>,
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
        let mut pod = pods::deployer_pod(&rc_obj, &dc, &ctx.deployer_image)?;
        if let Some(policy) = ctx.deployer_pull_policy.as_ref()
            && let Some(c) = pod.spec.as_mut().and_then(|s| s.containers.first_mut())
        {
            c.image_pull_policy = Some(policy.clone());
        }
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

#[cfg(test)]
pub(crate) mod tests {
    //! The reconcile against a scripted fake API server: each test lists the calls it expects
    //! (method, path) and what the server answers, and checks the bodies the controller sent.

    use std::sync::Mutex;

    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::{Value, json};

    use super::*;
    use crate::rc::tests::dc_fixture;

    pub(crate) type Calls = Arc<Mutex<Vec<(String, String, Value)>>>;

    /// A client whose server answers each request with `answer(method, path, body)`.
    pub(crate) fn fake_client(answer: fn(&str, &str, &Value) -> (u16, Value)) -> (Client, Calls) {
        let calls: Calls = Arc::default();
        let seen = calls.clone();
        let service = tower::service_fn(move |req: Request<Body>| {
            let seen = seen.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_owned();
                let bytes = req.into_body().collect_bytes().await?;
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let (code, reply) = answer(&method, &path, &body);
                if let Ok(mut s) = seen.lock() {
                    s.push((method, path, body));
                }
                let resp = Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&reply)?))?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(resp)
            }
        });
        (Client::new(service, "demo"), calls)
    }

    fn ctx(client: Client) -> Arc<Context> {
        Arc::new(Context {
            recorder: Recorder::new(
                client.clone(),
                kube::runtime::events::Reporter {
                    controller: "test".into(),
                    instance: None,
                },
            ),
            client,
            deployer_image: "registry/deployer:dev".into(),
            deployer_pull_policy: None,
        })
    }

    fn new_rc() -> ReplicationController {
        let mut rc = rc::build(&dc_fixture(1)).expect("rc");
        rc.metadata.uid = Some("rc-uid".into());
        rc.metadata.resource_version = Some("7".into());
        rc
    }

    fn not_found() -> (u16, Value) {
        (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
        )
    }

    #[tokio::test]
    async fn new_rc_gets_a_deployer_pod_and_moves_to_pending() {
        let (client, calls) = fake_client(|method, path, body| match (method, path) {
            ("GET", "/api/v1/namespaces/demo/pods/web-1-deploy") => not_found(),
            ("POST", "/api/v1/namespaces/demo/pods") => (201, body.clone()),
            ("PATCH", "/api/v1/namespaces/demo/replicationcontrollers/web-1") => {
                (200, serde_json::to_value(new_rc()).unwrap_or_default())
            }
            _ => (500, json!({})),
        });
        let action = tokio::time::timeout(
            Duration::from_secs(5),
            reconcile(Arc::new(new_rc()), ctx(client)),
        )
        .await
        .expect("no hang")
        .expect("reconciles");
        assert_eq!(action, Action::requeue(Duration::from_secs(30)));
        let calls = calls.lock().expect("calls").clone();
        let methods: Vec<_> = calls.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
        assert_eq!(
            methods,
            [
                "GET /api/v1/namespaces/demo/pods/web-1-deploy",
                "POST /api/v1/namespaces/demo/pods",
                "PATCH /api/v1/namespaces/demo/replicationcontrollers/web-1",
            ]
        );
        assert_eq!(calls[1].2["metadata"]["name"], "web-1-deploy");
        assert_eq!(calls[1].2["spec"]["serviceAccountName"], "deployer");
        let patch = &calls[2].2["metadata"];
        assert_eq!(
            patch["annotations"]["openshift.io/deployment.phase"],
            "Pending"
        );
        assert_eq!(
            patch["annotations"]["openshift.io/deployer-pod.name"],
            "web-1-deploy"
        );
        assert_eq!(
            patch["resourceVersion"], "7",
            "phase writes are guarded by resourceVersion"
        );
    }

    #[tokio::test]
    async fn succeeded_pod_completes_the_rc_and_records_replicas() {
        let (client, calls) = fake_client(|method, path, _| match (method, path) {
            ("GET", "/api/v1/namespaces/demo/pods/web-1-deploy") => (
                200,
                json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web-1-deploy", "namespace": "demo",
                        "annotations": {"openshift.io/deployment.name": "web-1"},
                        "ownerReferences": [{"apiVersion": "v1", "kind": "ReplicationController", "name": "web-1", "uid": "rc-uid"}]},
                    "status": {"phase": "Succeeded"}
                }),
            ),
            ("PATCH", "/api/v1/namespaces/demo/replicationcontrollers/web-1") => {
                (200, serde_json::to_value(new_rc()).unwrap_or_default())
            }
            _ => (500, json!({})),
        });
        let mut rc = new_rc();
        rc.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(DEPLOYMENT_STATUS_ANNOTATION.into(), "Running".into());
        tokio::time::timeout(Duration::from_secs(5), reconcile(Arc::new(rc), ctx(client)))
            .await
            .expect("no hang")
            .expect("reconciles");
        let calls = calls.lock().expect("calls").clone();
        assert_eq!(calls.len(), 2, "{calls:?}");
        let a = &calls[1].2["metadata"]["annotations"];
        assert_eq!(a["openshift.io/deployment.phase"], "Complete");
        assert_eq!(a["openshift.io/deployment.replicas"], "3");
        assert_eq!(
            a["kubectl.kubernetes.io/desired-replicas"],
            Value::Null,
            "desired-replicas is removed"
        );
    }

    #[tokio::test]
    async fn complete_rc_is_left_alone() {
        let (client, calls) = fake_client(|_, _, _| (500, json!({})));
        let mut rc = new_rc();
        rc.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(DEPLOYMENT_STATUS_ANNOTATION.into(), "Complete".into());
        let action = reconcile(Arc::new(rc), ctx(client))
            .await
            .expect("reconciles");
        assert_eq!(action, Action::await_change());
        assert!(
            calls.lock().expect("calls").is_empty(),
            "a finished rollout never changes"
        );
    }
}
