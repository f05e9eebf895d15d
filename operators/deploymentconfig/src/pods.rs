//! Deployer and hook pods (OCM `pkg/apps/deployer`, oc `strategy/support/lifecycle.go`) and the
//! deployer controller's RC phase machine, as pure functions.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EnvVar, Pod, PodSpec, ReplicationController, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt as _;
use outrigger_api::apps::{DeploymentConfig, ExecNewPodHook};

use crate::defaults::{DEFAULT_ACTIVE_DEADLINE_SECONDS, DEFAULT_TIMEOUT_SECONDS, strategy_type};
use crate::error::{Error, Result};
use crate::keys::*;
use crate::rc::{self, Phase};

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// Overlays `extra` on `base` by name (extra wins), keeping `base`'s order.
fn merge_env(base: &[EnvVar], extra: &[EnvVar]) -> Vec<EnvVar> {
    let mut out: Vec<EnvVar> = base
        .iter()
        .filter(|e| !extra.iter().any(|x| x.name == e.name))
        .cloned()
        .collect();
    out.extend(extra.iter().cloned());
    out
}

fn merge_missing(into: &mut BTreeMap<String, String>, extra: Option<&BTreeMap<String, String>>) {
    for (k, v) in extra.into_iter().flatten() {
        into.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

/// The owner reference deployer and hook pods carry to their RC (not a controller reference).
pub fn rc_owner_reference(rc: &ReplicationController) -> Result<OwnerReference> {
    Ok(OwnerReference {
        api_version: "v1".into(),
        kind: "ReplicationController".into(),
        name: rc.name_any(),
        uid: rc
            .metadata
            .uid
            .clone()
            .ok_or_else(|| Error::MissingField(rc.name_any(), "metadata.uid"))?,
        controller: None,
        block_owner_deletion: None,
    })
}

/// The deployer pod `<rc>-deploy` for `rc`, whose embedded config is `dc` (defaulted).
pub fn deployer_pod(
    rc: &ReplicationController,
    dc: &DeploymentConfig,
    deployer_image: &str,
) -> Result<Pod> {
    let rc_name = rc.name_any();
    let namespace = rc
        .namespace()
        .ok_or_else(|| Error::MissingField(rc_name.clone(), "metadata.namespace"))?;
    let strategy = dc.spec.strategy.clone().unwrap_or_default();
    let custom = strategy.custom_params.clone().unwrap_or_default();
    let image = custom
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| deployer_image.to_owned());
    let mut environment = custom.environment.clone().unwrap_or_default();
    environment.retain(|e| e.name != ENV_DEPLOYMENT_NAME && e.name != ENV_DEPLOYMENT_NAMESPACE);
    environment.push(env(ENV_DEPLOYMENT_NAME, &rc_name));
    environment.push(env(ENV_DEPLOYMENT_NAMESPACE, &namespace));

    let mut labels = BTreeMap::from([(DEPLOYER_POD_FOR_LABEL.to_owned(), rc_name.clone())]);
    merge_missing(&mut labels, strategy.labels.as_ref());
    let mut annotations = BTreeMap::from([
        (DEPLOYMENT_ANNOTATION.to_owned(), rc_name.clone()),
        (DEPLOYMENT_CONFIG_ANNOTATION.to_owned(), dc.name_any()),
    ]);
    merge_missing(&mut annotations, strategy.annotations.as_ref());

    let template_spec = rc
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.clone())
        .unwrap_or_default();
    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(rc::deployer_pod_name(&rc_name)),
            namespace: Some(namespace),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![rc_owner_reference(rc)?]),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: DEPLOYER_CONTAINER.into(),
                image: Some(image),
                command: custom.command.clone().filter(|c| !c.is_empty()),
                env: Some(environment),
                resources: strategy.resources.clone(),
                termination_message_policy: Some("FallbackToLogsOnError".into()),
                image_pull_policy: Some("IfNotPresent".into()),
                ..Default::default()
            }],
            active_deadline_seconds: Some(
                strategy
                    .active_deadline_seconds
                    .unwrap_or(DEFAULT_ACTIVE_DEADLINE_SECONDS),
            ),
            restart_policy: Some("Never".into()),
            termination_grace_period_seconds: Some(10),
            share_process_namespace: Some(false),
            service_account_name: Some(DEPLOYER_SERVICE_ACCOUNT.into()),
            dns_policy: template_spec.dns_policy,
            dns_config: template_spec.dns_config,
            enable_service_links: template_spec.enable_service_links,
            image_pull_secrets: template_spec.image_pull_secrets,
            tolerations: template_spec.tolerations,
            node_selector: template_spec.node_selector,
            ..Default::default()
        }),
        status: None,
    })
}

/// The hook pod `<rc>-hook-<point>` running `hook` (oc `createHookPodManifest`).
/// `deadline_seconds` is what is left of the strategy's active deadline.
pub fn hook_pod(
    hook: &ExecNewPodHook,
    failure_policy: &str,
    point: &str,
    rc: &ReplicationController,
    dc: &DeploymentConfig,
    deadline_seconds: i64,
) -> Result<Pod> {
    let rc_name = rc.name_any();
    let namespace = rc
        .namespace()
        .ok_or_else(|| Error::MissingField(rc_name.clone(), "metadata.namespace"))?;
    let pod_spec = rc
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.clone())
        .ok_or_else(|| Error::InvalidConfig("spec.template.spec is required".into()))?;
    let container_name = hook.container_name.clone().unwrap_or_default();
    let base = pod_spec
        .containers
        .iter()
        .find(|c| c.name == container_name)
        .ok_or_else(|| {
            Error::InvalidConfig(format!(
                "the {point} hook names container {container_name:?}, which the pod template does not have"
            ))
        })?;
    let mut environment = merge_env(
        base.env.as_deref().unwrap_or_default(),
        hook.env.as_deref().unwrap_or_default(),
    );
    environment.retain(|e| e.name != ENV_DEPLOYMENT_NAME && e.name != ENV_DEPLOYMENT_NAMESPACE);
    environment.push(env(ENV_DEPLOYMENT_NAME, &rc_name));
    environment.push(env(ENV_DEPLOYMENT_NAMESPACE, &namespace));

    let wanted: Vec<&String> = hook.volumes.iter().flatten().collect();
    let volumes: Vec<Volume> = pod_spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| wanted.contains(&&v.name))
        .cloned()
        .collect();
    let mounts: Vec<VolumeMount> = base
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| volumes.iter().any(|v| v.name == m.name))
        .cloned()
        .collect();

    let strategy = dc.spec.strategy.clone().unwrap_or_default();
    let mut labels = BTreeMap::from([
        (DEPLOYER_POD_FOR_LABEL.to_owned(), rc_name.clone()),
        (DEPLOYER_POD_TYPE_LABEL.to_owned(), format!("hook-{point}")),
    ]);
    merge_missing(&mut labels, strategy.labels.as_ref());
    let mut annotations = BTreeMap::from([(DEPLOYMENT_ANNOTATION.to_owned(), rc_name.clone())]);
    merge_missing(&mut annotations, strategy.annotations.as_ref());

    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(rc::hook_pod_name(&rc_name, point)),
            namespace: Some(namespace),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![rc_owner_reference(rc)?]),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: HOOK_CONTAINER.into(),
                image: base.image.clone(),
                image_pull_policy: base.image_pull_policy.clone(),
                working_dir: base.working_dir.clone(),
                resources: base.resources.clone(),
                security_context: base.security_context.clone(),
                command: hook.command.clone(),
                env: Some(environment),
                volume_mounts: (!mounts.is_empty()).then_some(mounts),
                ..Default::default()
            }],
            volumes: (!volumes.is_empty()).then_some(volumes),
            active_deadline_seconds: Some(deadline_seconds.max(1)),
            restart_policy: Some(
                if failure_policy == "Retry" {
                    "OnFailure"
                } else {
                    "Never"
                }
                .into(),
            ),
            termination_grace_period_seconds: Some(10),
            security_context: pod_spec.security_context.clone(),
            node_selector: pod_spec.node_selector.clone(),
            image_pull_secrets: pod_spec.image_pull_secrets.clone(),
            ..Default::default()
        }),
        status: None,
    })
}

/// The strategy timeout the deployer controller uses to fail an RC whose deployer pod never got
/// created (Rolling/Recreate `timeoutSeconds`, 600 otherwise; ≤ 0 disables).
pub fn strategy_timeout_seconds(dc: &DeploymentConfig) -> i64 {
    let s = dc.spec.strategy.as_ref();
    match strategy_type(s) {
        "Rolling" => s
            .and_then(|s| s.rolling_params.as_ref())
            .and_then(|p| p.timeout_seconds),
        "Recreate" => s
            .and_then(|s| s.recreate_params.as_ref())
            .and_then(|p| p.timeout_seconds),
        _ => None,
    }
    .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
}

/// The RC phase that follows from the deployer pod's phase.
pub fn phase_from_pod(pod: &Pod) -> Option<Phase> {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => Some(Phase::Pending),
        Some("Running") => Some(Phase::Running),
        Some("Succeeded") => Some(Phase::Complete),
        Some("Failed") => Some(Phase::Failed),
        _ => None,
    }
}

/// What the deployer controller does for an RC in one reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeployerStep {
    /// Create the deployer pod (and move to Pending).
    pub create_pod: bool,
    /// Delete the deployer and hook pods (cancellation).
    pub delete_pods: bool,
    /// Move the RC to this phase, with this status reason (`None`: keep the reason).
    pub next: Option<(Phase, Option<&'static str>)>,
}

/// What the deployer controller knows about an RC.
#[derive(Debug, Clone, Copy)]
pub struct RcView {
    /// Current phase.
    pub phase: Phase,
    /// Cancelled by the user or by a newer version.
    pub cancelled: bool,
    /// `deploy.openshift.io/deployer-pod.ignore` present.
    pub ignore_pod: bool,
    /// Seconds since the RC was created.
    pub age_seconds: i64,
    /// Strategy timeout (≤ 0: none).
    pub timeout_seconds: i64,
    /// Whether any deployer or hook pod of the RC still exists.
    pub has_pods: bool,
}

/// The deployer controller's phase machine (§1.9). `pod` is the pod named `<rc>-deploy`, with
/// `related` telling whether its `openshift.io/deployment.name` names this RC.
pub fn deployer_step(rc: RcView, pod: Option<(&Pod, bool)>) -> DeployerStep {
    let fail = |reason| DeployerStep {
        next: Some((Phase::Failed, reason)),
        ..Default::default()
    };
    match rc.phase {
        Phase::New => {
            if let Some((_, false)) = pod {
                return fail(Some(status_reason::UNRELATED_POD));
            }
            if rc.cancelled {
                return DeployerStep {
                    delete_pods: rc.has_pods,
                    next: Some((Phase::Failed, None)),
                    create_pod: false,
                };
            }
            match pod {
                None => {
                    if rc.timeout_seconds > 0 && rc.age_seconds > rc.timeout_seconds {
                        fail(Some(status_reason::CANNOT_CREATE_DEPLOYER))
                    } else if rc.ignore_pod {
                        DeployerStep::default()
                    } else {
                        DeployerStep {
                            create_pod: true,
                            next: Some((Phase::Pending, None)),
                            delete_pods: false,
                        }
                    }
                }
                Some((p, _)) => DeployerStep {
                    next: phase_from_pod(p).map(|ph| (ph, None)),
                    ..Default::default()
                },
            }
        }
        Phase::Pending | Phase::Running => match pod {
            None if rc.cancelled => DeployerStep {
                delete_pods: rc.has_pods,
                next: Some((Phase::Failed, None)),
                create_pod: false,
            },
            None => fail(Some(status_reason::DEPLOYER_POD_GONE)),
            Some(_) if rc.cancelled => DeployerStep {
                delete_pods: true,
                ..Default::default()
            },
            Some((p, _)) => DeployerStep {
                next: phase_from_pod(p)
                    .filter(|next| rc.phase.can_move_to(*next))
                    .map(|ph| (ph, None)),
                ..Default::default()
            },
        },
        Phase::Failed => DeployerStep {
            delete_pods: rc.cancelled && rc.has_pods,
            ..Default::default()
        },
        Phase::Complete => DeployerStep::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rc::tests::dc_fixture;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn rc_and_dc() -> (ReplicationController, DeploymentConfig) {
        let mut dc = dc_fixture(1);
        dc.spec.strategy = Some(serde_json::from_value(json!({
            "type": "Recreate", "activeDeadlineSeconds": 900, "labels": {"extra": "x", "openshift.io/deployer-pod-for.name": "no"},
            "recreateParams": {"timeoutSeconds": 120, "mid": {"failurePolicy": "Retry", "execNewPod": {"command": ["sh", "-c", "echo mid"], "env": [{"name": "A", "value": "hook"}], "volumes": ["data", "missing"]}}}
        })).expect("strategy"));
        if let Some(spec) = dc.spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
            spec.volumes = Some(vec![
                serde_json::from_value(json!({"name": "data", "emptyDir": {}})).expect("vol"),
                serde_json::from_value(json!({"name": "other", "emptyDir": {}})).expect("vol"),
            ]);
            spec.containers[0].env = Some(vec![env("A", "base"), env("B", "base")]);
            spec.containers[0].volume_mounts = Some(vec![
                serde_json::from_value(json!({"name": "data", "mountPath": "/data"})).expect("m"),
                serde_json::from_value(json!({"name": "other", "mountPath": "/o"})).expect("m"),
            ]);
        }
        crate::defaults::apply(&mut dc);
        let mut rc = crate::rc::build(&dc).expect("rc");
        rc.metadata.uid = Some("rc-uid".into());
        (rc, dc)
    }

    #[test]
    fn deployer_pod_shape() {
        let (rc, dc) = rc_and_dc();
        let pod = deployer_pod(&rc, &dc, "registry/deployer:dev").expect("pod");
        assert_eq!(pod.metadata.name.as_deref(), Some("web-1-deploy"));
        let labels = pod.metadata.labels.clone().expect("labels");
        assert_eq!(
            labels["openshift.io/deployer-pod-for.name"], "web-1",
            "strategy labels never override"
        );
        assert_eq!(labels["extra"], "x");
        let ann = pod.metadata.annotations.clone().expect("ann");
        assert_eq!(ann["openshift.io/deployment.name"], "web-1");
        assert_eq!(ann["openshift.io/deployment-config.name"], "web");
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.service_account_name.as_deref(), Some("deployer"));
        assert_eq!(spec.active_deadline_seconds, Some(900));
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        let c = &spec.containers[0];
        assert_eq!(c.name, "deployment");
        assert_eq!(c.image.as_deref(), Some("registry/deployer:dev"));
        let envs: Vec<_> = c
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.as_str(), e.value.as_deref()))
            .collect();
        assert_eq!(
            envs,
            vec![
                ("OPENSHIFT_DEPLOYMENT_NAME", Some("web-1")),
                ("OPENSHIFT_DEPLOYMENT_NAMESPACE", Some("demo"))
            ]
        );
        let owner = &pod.metadata.owner_references.expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("ReplicationController", "rc-uid")
        );
    }

    #[test]
    fn custom_strategy_uses_user_image_and_command() {
        let (rc, mut dc) = rc_and_dc();
        if let Some(s) = dc.spec.strategy.as_mut() {
            s.type_ = Some("Custom".into());
            s.custom_params = Some(serde_json::from_value(json!({"image": "me/deployer:1", "command": ["/go"], "environment": [{"name": "X", "value": "1"}]})).expect("cp"));
        }
        let pod = deployer_pod(&rc, &dc, "registry/deployer:dev").expect("pod");
        let c = &pod.spec.expect("spec").containers[0];
        assert_eq!(c.image.as_deref(), Some("me/deployer:1"));
        assert_eq!(c.command, Some(vec!["/go".to_owned()]));
        assert_eq!(c.env.as_ref().map(|e| e[0].name.as_str()), Some("X"));
    }

    #[test]
    fn hook_pod_copies_the_named_container() {
        let (rc, dc) = rc_and_dc();
        let hook = dc
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.recreate_params.as_ref())
            .and_then(|p| p.mid.clone())
            .expect("mid");
        let exec = hook.exec_new_pod.expect("exec");
        let pod = hook_pod(&exec, "Retry", "mid", &rc, &dc, 500).expect("pod");
        assert_eq!(pod.metadata.name.as_deref(), Some("web-1-hook-mid"));
        let labels = pod.metadata.labels.clone().expect("labels");
        assert_eq!(labels["openshift.io/deployer-pod.type"], "hook-mid");
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.restart_policy.as_deref(), Some("OnFailure"));
        assert_eq!(spec.active_deadline_seconds, Some(500));
        assert_eq!(spec.volumes.as_ref().map(|v| v.len()), Some(1));
        let c = &spec.containers[0];
        assert_eq!(c.name, "lifecycle");
        assert_eq!(c.image.as_deref(), Some("img:1"));
        let envs: Vec<_> = c
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            envs,
            vec![
                ("B", "base"),
                ("A", "hook"),
                ("OPENSHIFT_DEPLOYMENT_NAME", "web-1"),
                ("OPENSHIFT_DEPLOYMENT_NAMESPACE", "demo")
            ]
        );
        assert_eq!(
            c.volume_mounts.as_ref().map(|m| m[0].mount_path.as_str()),
            Some("/data")
        );
        let mut bad = exec.clone();
        bad.container_name = Some("nope".into());
        let err = hook_pod(&bad, "Abort", "mid", &rc, &dc, 5).expect_err("missing container");
        assert_eq!(err.category(), "InvalidConfig");
    }

    fn view(phase: Phase) -> RcView {
        RcView {
            phase,
            cancelled: false,
            ignore_pod: false,
            age_seconds: 1,
            timeout_seconds: 600,
            has_pods: false,
        }
    }

    fn pod(phase: &str) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "web-1-deploy"}, "status": {"phase": phase}}),
        )
        .expect("pod")
    }

    #[test]
    fn phase_machine() {
        let s = deployer_step(view(Phase::New), None);
        assert_eq!(
            s,
            DeployerStep {
                create_pod: true,
                delete_pods: false,
                next: Some((Phase::Pending, None))
            }
        );
        let p = pod("Running");
        assert_eq!(
            deployer_step(view(Phase::Pending), Some((&p, true))).next,
            Some((Phase::Running, None))
        );
        let p = pod("Succeeded");
        assert_eq!(
            deployer_step(view(Phase::Running), Some((&p, true))).next,
            Some((Phase::Complete, None))
        );
        let p = pod("Failed");
        assert_eq!(
            deployer_step(view(Phase::Running), Some((&p, true))).next,
            Some((Phase::Failed, None))
        );
        // Never backwards, never out of a terminal phase.
        let p = pod("Pending");
        assert_eq!(
            deployer_step(view(Phase::Running), Some((&p, true))).next,
            None
        );
        let p = pod("Running");
        assert_eq!(
            deployer_step(view(Phase::Complete), Some((&p, true))),
            DeployerStep::default()
        );
        assert_eq!(
            deployer_step(view(Phase::Failed), Some((&p, true))),
            DeployerStep::default()
        );
    }

    #[test]
    fn pod_gone_unrelated_timeout_ignore() {
        assert_eq!(
            deployer_step(view(Phase::Running), None).next,
            Some((Phase::Failed, Some("deployer pod no longer exists")))
        );
        let p = pod("Running");
        assert_eq!(
            deployer_step(view(Phase::New), Some((&p, false))).next,
            Some((
                Phase::Failed,
                Some("unrelated pod with the same name as this deployment is already running")
            ))
        );
        let old = RcView {
            age_seconds: 700,
            ..view(Phase::New)
        };
        assert_eq!(
            deployer_step(old, None).next,
            Some((Phase::Failed, Some("unable to create deployer pod")))
        );
        let ignored = RcView {
            ignore_pod: true,
            ..view(Phase::New)
        };
        assert_eq!(deployer_step(ignored, None), DeployerStep::default());
    }

    #[test]
    fn cancellation_deletes_pods_then_fails() {
        let p = pod("Running");
        let running = RcView {
            cancelled: true,
            has_pods: true,
            ..view(Phase::Running)
        };
        assert_eq!(
            deployer_step(running, Some((&p, true))),
            DeployerStep {
                delete_pods: true,
                ..Default::default()
            }
        );
        let gone = RcView {
            has_pods: false,
            ..running
        };
        assert_eq!(deployer_step(gone, None).next, Some((Phase::Failed, None)));
        let failed = RcView {
            phase: Phase::Failed,
            ..running
        };
        assert!(
            deployer_step(failed, None).delete_pods,
            "late hook pods are removed"
        );
    }

    #[test]
    fn timeouts_per_strategy() {
        let (_, dc) = rc_and_dc();
        assert_eq!(strategy_timeout_seconds(&dc), 120);
        assert_eq!(strategy_timeout_seconds(&dc_fixture(1)), 600);
    }
}
