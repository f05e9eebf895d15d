//! ReplicationControllers as rollouts: building the RC of a version with OpenShift's exact
//! names, labels and annotations, and reading them back (version, phase, cancellation, the
//! encoded DeploymentConfig).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ReplicationController, ReplicationControllerSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt as _;
use outrigger_api::apps::DeploymentConfig;

use crate::error::{Error, Result};
use crate::keys::*;

/// The phase of a rollout, kept in the RC's `openshift.io/deployment.phase` annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Created, no deployer pod yet.
    New,
    /// Deployer pod created, not running yet.
    Pending,
    /// Deployer pod running.
    Running,
    /// Deployer pod succeeded.
    Complete,
    /// Deployer pod failed, was cancelled or vanished.
    Failed,
}

impl Phase {
    /// The annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::New => "New",
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Complete => "Complete",
            Phase::Failed => "Failed",
        }
    }

    /// Parses an annotation value; anything unknown (or absent) reads as `New`, as OpenShift's
    /// helpers do for an empty phase.
    pub fn parse(s: Option<&str>) -> Phase {
        match s {
            Some("Pending") => Phase::Pending,
            Some("Running") => Phase::Running,
            Some("Complete") => Phase::Complete,
            Some("Failed") => Phase::Failed,
            _ => Phase::New,
        }
    }

    /// Complete or Failed.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Complete | Phase::Failed)
    }

    /// OpenShift's allowed transitions: New→{Pending,Running,Failed,Complete};
    /// Pending→{Running,Failed,Complete}; Running→{Failed,Complete}; none from terminal phases.
    pub fn can_move_to(self, next: Phase) -> bool {
        match self {
            Phase::New => next != Phase::New,
            Phase::Pending => matches!(next, Phase::Running | Phase::Failed | Phase::Complete),
            Phase::Running => matches!(next, Phase::Failed | Phase::Complete),
            Phase::Complete | Phase::Failed => false,
        }
    }
}

/// `<dc>-<N>`.
pub fn rc_name(dc: &str, version: i64) -> String {
    format!("{dc}-{version}")
}

/// `<rc>-deploy`.
pub fn deployer_pod_name(rc: &str) -> String {
    naming_get_name(rc, "deploy")
}

/// `<rc>-hook-<pre|mid|post>`.
pub fn hook_pod_name(rc: &str, point: &str) -> String {
    naming_get_name(rc, &format!("hook-{point}"))
}

fn fnv32a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// library-go `naming.GetName(base, suffix, 253)`: `base-suffix`, or a truncated base with an
/// 8-hex FNV-32a hash when too long.
pub fn naming_get_name(base: &str, suffix: &str) -> String {
    const MAX: usize = 253;
    let name = format!("{base}-{suffix}");
    if name.len() <= MAX {
        return name;
    }
    let hash = format!("{:08x}", fnv32a(base));
    let prefix_len = MAX.saturating_sub(suffix.len() + hash.len() + 2);
    if prefix_len > 0 {
        let prefix: String = base.chars().take(prefix_len).collect();
        format!("{prefix}-{hash}-{suffix}")
    } else {
        let hash = format!("{:08x}", fnv32a(&name));
        let prefix: String = name.chars().take(MAX - hash.len() - 1).collect();
        format!("{prefix}-{hash}")
    }
}

fn annotation<'a>(rc: &'a ReplicationController, key: &str) -> Option<&'a str> {
    rc.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// The rollout phase of an RC.
pub fn phase(rc: &ReplicationController) -> Phase {
    Phase::parse(annotation(rc, DEPLOYMENT_STATUS_ANNOTATION))
}

/// The version of an RC (`openshift.io/deployment-config.latest-version`).
pub fn version(rc: &ReplicationController) -> Option<i64> {
    annotation(rc, DEPLOYMENT_VERSION_ANNOTATION).and_then(|v| v.parse().ok())
}

/// True when `openshift.io/deployment.cancelled` is `true` (any case).
pub fn is_cancelled(rc: &ReplicationController) -> bool {
    annotation(rc, DEPLOYMENT_CANCELLED_ANNOTATION).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The replica target recorded at creation (`kubectl.kubernetes.io/desired-replicas`).
pub fn desired_replicas(rc: &ReplicationController) -> Option<i32> {
    annotation(rc, DESIRED_REPLICAS_ANNOTATION).and_then(|v| v.parse().ok())
}

/// The status reason annotation.
pub fn status_reason(rc: &ReplicationController) -> Option<&str> {
    annotation(rc, DEPLOYMENT_STATUS_REASON_ANNOTATION)
}

/// `spec.replicas` (0 when unset).
pub fn spec_replicas(rc: &ReplicationController) -> i32 {
    rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

/// The DeploymentConfig encoded in the RC when it was created.
pub fn decode_config(rc: &ReplicationController) -> Result<DeploymentConfig> {
    let raw = annotation(rc, DEPLOYMENT_ENCODED_CONFIG_ANNOTATION).ok_or_else(|| {
        Error::BadReplicationController {
            rc: rc.name_any(),
            message: format!("missing annotation {DEPLOYMENT_ENCODED_CONFIG_ANNOTATION}"),
        }
    })?;
    serde_json::from_str(raw).map_err(|e| Error::BadReplicationController {
        rc: rc.name_any(),
        message: format!("cannot decode {DEPLOYMENT_ENCODED_CONFIG_ANNOTATION}: {e}"),
    })
}

/// Sorts RCs by version, newest first (RCs without a version last).
pub fn sort_newest_first(rcs: &mut [ReplicationController]) {
    rcs.sort_by_key(|rc| std::cmp::Reverse(version(rc).unwrap_or(-1)));
}

/// The active RC: the newest Complete one.
pub fn active(rcs: &[ReplicationController]) -> Option<&ReplicationController> {
    rcs.iter()
        .filter(|rc| phase(rc) == Phase::Complete)
        .max_by_key(|rc| version(rc).unwrap_or(-1))
}

/// The owner reference an RC carries to its DeploymentConfig.
pub fn owner_reference(dc: &DeploymentConfig) -> Result<OwnerReference> {
    Ok(OwnerReference {
        api_version: "apps.openshift.io/v1".into(),
        kind: "DeploymentConfig".into(),
        name: dc.name_any(),
        uid: dc
            .metadata
            .uid
            .clone()
            .ok_or_else(|| Error::MissingField(dc.name_any(), "metadata.uid"))?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// The DC as stored in `openshift.io/encoded-deployment-config`: the full object without its
/// server-side bookkeeping (managed fields).
pub fn encode_config(dc: &DeploymentConfig) -> Result<String> {
    let mut copy = dc.clone();
    copy.metadata.managed_fields = None;
    let mut value = serde_json::to_value(&copy)?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("apiVersion".into(), "apps.openshift.io/v1".into());
        obj.insert("kind".into(), "DeploymentConfig".into());
    }
    Ok(serde_json::to_string(&value)?)
}

/// Builds the RC of the DC's `status.latestVersion` (library-go `MakeDeployment`). `dc` must be
/// defaulted and carry the new `status.latestVersion` and `status.details`.
pub fn build(dc: &DeploymentConfig) -> Result<ReplicationController> {
    let dc_name = dc.name_any();
    let version = dc
        .status
        .as_ref()
        .and_then(|s| s.latest_version)
        .unwrap_or(0);
    let name = rc_name(&dc_name, version);
    let mut template = dc
        .spec
        .template
        .clone()
        .ok_or_else(|| Error::InvalidConfig("spec.template is required".into()))?;

    let mut labels: BTreeMap<String, String> = dc.labels().clone();
    labels.insert(DEPLOYMENT_CONFIG_ANNOTATION.into(), dc_name.clone());

    let mut annotations = BTreeMap::from([
        (DEPLOYMENT_CONFIG_ANNOTATION.to_owned(), dc_name.clone()),
        (
            DEPLOYMENT_ENCODED_CONFIG_ANNOTATION.to_owned(),
            encode_config(dc)?,
        ),
        (
            DEPLOYMENT_STATUS_ANNOTATION.to_owned(),
            Phase::New.as_str().to_owned(),
        ),
        (
            DEPLOYMENT_VERSION_ANNOTATION.to_owned(),
            version.to_string(),
        ),
        (
            DESIRED_REPLICAS_ANNOTATION.to_owned(),
            dc.spec.replicas.unwrap_or(0).to_string(),
        ),
        (DEPLOYMENT_REPLICAS_ANNOTATION.to_owned(), "0".to_owned()),
    ]);
    if let Some(v) = dc.annotations().get(DEPLOYMENT_IGNORE_POD_ANNOTATION) {
        annotations.insert(DEPLOYMENT_IGNORE_POD_ANNOTATION.into(), v.clone());
    }
    if let Some(msg) = dc
        .status
        .as_ref()
        .and_then(|s| s.details.as_ref())
        .and_then(|d| d.message.as_ref())
        .filter(|m| !m.is_empty())
    {
        annotations.insert(DEPLOYMENT_STATUS_REASON_ANNOTATION.into(), msg.clone());
    }

    let mut selector = dc.spec.selector.clone().unwrap_or_default();
    selector.insert(DEPLOYMENT_CONFIG_LABEL.into(), dc_name.clone());
    selector.insert(DEPLOYMENT_LABEL.into(), name.clone());

    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    let tl = meta.labels.get_or_insert_with(BTreeMap::new);
    tl.insert(DEPLOYMENT_CONFIG_LABEL.into(), dc_name.clone());
    tl.insert(DEPLOYMENT_LABEL.into(), name.clone());
    let ta = meta.annotations.get_or_insert_with(BTreeMap::new);
    ta.insert(DEPLOYMENT_ANNOTATION.into(), name.clone());
    ta.insert(DEPLOYMENT_CONFIG_ANNOTATION.into(), dc_name.clone());
    ta.insert(DEPLOYMENT_VERSION_ANNOTATION.into(), version.to_string());
    if let Some(spec) = template.spec.as_mut() {
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            if let Some(image) = c.image.as_mut() {
                *image = image.trim().to_owned();
            }
        }
    }

    Ok(ReplicationController {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: dc.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner_reference(dc)?]),
            ..Default::default()
        },
        spec: Some(ReplicationControllerSpec {
            replicas: Some(0),
            min_ready_seconds: dc.spec.min_ready_seconds,
            selector: Some(selector),
            template: Some(template),
        }),
        status: None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    pub(crate) fn dc_fixture(version: i64) -> DeploymentConfig {
        let mut dc: DeploymentConfig = serde_json::from_value(json!({
            "apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
            "metadata": {"name": "web", "namespace": "demo", "uid": "u-1", "labels": {"team": "a"}, "generation": 2},
            "spec": {"replicas": 3, "minReadySeconds": 2,
                      "template": {"metadata": {"labels": {"app": "web"}},
                                   "spec": {"containers": [{"name": "c", "image": " img:1 "}]}}},
            "status": {"latestVersion": version, "details": {"message": "config change", "causes": [{"type": "ConfigChange"}]}}
        }))
        .expect("fixture");
        crate::defaults::apply(&mut dc);
        dc
    }

    #[test]
    fn rc_has_openshift_names_labels_and_annotations() {
        let dc = dc_fixture(3);
        let rc = build(&dc).expect("builds");
        assert_eq!(rc.metadata.name.as_deref(), Some("web-3"));
        assert_eq!(
            rc.metadata.labels,
            Some(BTreeMap::from([
                ("openshift.io/deployment-config.name".into(), "web".into()),
                ("team".into(), "a".into())
            ]))
        );
        let a = rc.metadata.annotations.clone().expect("annotations");
        assert_eq!(a["openshift.io/deployment-config.name"], "web");
        assert_eq!(a["openshift.io/deployment-config.latest-version"], "3");
        assert_eq!(a["openshift.io/deployment.phase"], "New");
        assert_eq!(a["kubectl.kubernetes.io/desired-replicas"], "3");
        assert_eq!(a["openshift.io/deployment.replicas"], "0");
        assert_eq!(a["openshift.io/deployment.status-reason"], "config change");
        let spec = rc.spec.clone().expect("spec");
        assert_eq!(spec.replicas, Some(0));
        assert_eq!(spec.min_ready_seconds, Some(2));
        assert_eq!(
            spec.selector,
            Some(BTreeMap::from([
                ("app".into(), "web".into()),
                ("deployment".into(), "web-3".into()),
                ("deploymentconfig".into(), "web".into())
            ]))
        );
        let t = spec.template.expect("template");
        let tm = t.metadata.expect("meta");
        assert_eq!(
            tm.labels.as_ref().map(|l| l["deployment"].as_str()),
            Some("web-3")
        );
        assert_eq!(
            tm.annotations
                .as_ref()
                .map(|l| l["openshift.io/deployment.name"].as_str()),
            Some("web-3")
        );
        assert_eq!(
            t.spec.expect("pod spec").containers[0].image.as_deref(),
            Some("img:1")
        );
        let owner = &rc.metadata.owner_references.expect("owner")[0];
        assert_eq!(
            (
                owner.kind.as_str(),
                owner.api_version.as_str(),
                owner.controller,
                owner.block_owner_deletion
            ),
            (
                "DeploymentConfig",
                "apps.openshift.io/v1",
                Some(true),
                Some(true)
            )
        );
        let decoded = decode_config(&build(&dc).expect("builds")).expect("decodes");
        assert_eq!(decoded.spec, dc.spec);
        assert_eq!(version(&rc_with_phase("x", 7, Phase::New)), Some(7));
    }

    pub(crate) fn rc_with_phase(dc: &str, v: i64, p: Phase) -> ReplicationController {
        serde_json::from_value(json!({
            "metadata": {"name": rc_name(dc, v), "namespace": "demo", "annotations": {
                "openshift.io/deployment-config.latest-version": v.to_string(),
                "openshift.io/deployment.phase": p.as_str(),
            }, "labels": {"openshift.io/deployment-config.name": dc}},
            "spec": {"replicas": 0},
        }))
        .expect("rc fixture")
    }

    #[test]
    fn phases_move_forward_only() {
        assert!(Phase::New.can_move_to(Phase::Complete));
        assert!(Phase::Pending.can_move_to(Phase::Running));
        assert!(!Phase::Running.can_move_to(Phase::Pending));
        assert!(!Phase::Complete.can_move_to(Phase::Failed));
        assert!(!Phase::Failed.can_move_to(Phase::Complete));
        assert_eq!(Phase::parse(None), Phase::New);
    }

    #[test]
    fn active_is_newest_complete() {
        let rcs = vec![
            rc_with_phase("web", 1, Phase::Complete),
            rc_with_phase("web", 2, Phase::Complete),
            rc_with_phase("web", 3, Phase::Failed),
        ];
        assert_eq!(active(&rcs).map(|r| r.name_any()).as_deref(), Some("web-2"));
    }

    #[test]
    fn long_names_are_hashed() {
        assert_eq!(deployer_pod_name("web-1"), "web-1-deploy");
        assert_eq!(hook_pod_name("web-1", "mid"), "web-1-hook-mid");
        let long = "a".repeat(260);
        let n = deployer_pod_name(&long);
        assert_eq!(n.len(), 253);
        assert!(n.ends_with("-deploy"));
    }

    #[test]
    fn cancelled_is_case_insensitive() {
        let mut rc = rc_with_phase("web", 1, Phase::Running);
        rc.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(DEPLOYMENT_CANCELLED_ANNOTATION.into(), "True".into());
        assert!(is_cancelled(&rc));
    }
}
