//! Image triggers on workloads: the `image.openshift.io/triggers` annotation (spec §3.11) of
//! Deployments, StatefulSets, DaemonSets, Jobs and CronJobs. (DeploymentConfigs are left to the
//! DeploymentConfig controller, which reads its own `spec.triggers`.)
//!
//! The annotation is OpenShift's JSON array:
//!
//! ```json
//! [{"from":{"kind":"ImageStreamTag","name":"app:latest","namespace":"optional"},
//!   "fieldPath":"spec.template.spec.containers[?(@.name==\"web\")].image",
//!   "paused":false}]
//! ```
//!
//! For each entry that is not paused and whose tag resolves, the addressed container's image is
//! set to the resolved pull spec when it differs. The patch carries a JSON-patch `test` of the old
//! value, so it never overwrites a concurrent change, and it is empty once the images match —
//! so one tag change yields exactly one write and the controller cannot loop.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::Error;

/// The annotation holding a workload's image triggers.
pub const TRIGGERS_ANNOTATION: &str = "image.openshift.io/triggers";

/// Kinds whose pod templates carry triggers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// `batch/v1` Job.
    Job,
    /// `batch/v1` CronJob.
    CronJob,
}

impl WorkloadKind {
    /// Every kind handled.
    pub const ALL: [WorkloadKind; 5] = [
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::Job,
        WorkloadKind::CronJob,
    ];

    /// Where the pod spec is, as written in `fieldPath`.
    pub fn pod_spec_path(self) -> &'static str {
        match self {
            WorkloadKind::CronJob => "spec.jobTemplate.spec.template.spec",
            _ => "spec.template.spec",
        }
    }

    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
        }
    }
}

/// How a container is addressed in `fieldPath`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// `containers[0]`.
    Index(usize),
    /// `containers[?(@.name=="web")]`.
    Name(String),
}

/// One parsed trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// Namespace of the image stream (the workload's unless given).
    pub namespace: String,
    /// Image stream name.
    pub stream: String,
    /// Tag (`latest` when the name has none).
    pub tag: String,
    /// `initContainers` rather than `containers`.
    pub init: bool,
    /// Which container.
    pub selector: Selector,
    /// Paused triggers are parsed but never applied.
    pub paused: bool,
    /// The `fieldPath` as written.
    pub field_path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FromWire {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TriggerWire {
    from: FromWire,
    #[serde(default)]
    field_path: String,
    #[serde(default)]
    paused: Option<bool>,
}

fn parse_field_path(kind: WorkloadKind, path: &str) -> Result<(bool, Selector), Error> {
    let bad = |why: &str| {
        Error::InvalidTrigger(format!(
            "fieldPath {path:?}: {why}; expected {}.containers[<index> or ?(@.name==\"<name>\")].image (or initContainers)",
            kind.pod_spec_path()
        ))
    };
    let rest = path
        .strip_prefix(kind.pod_spec_path())
        .and_then(|r| r.strip_prefix('.'))
        .ok_or_else(|| {
            bad(&format!(
                "a {} keeps its pod spec at {}",
                kind.as_str(),
                kind.pod_spec_path()
            ))
        })?;
    let (init, rest) = if let Some(r) = rest.strip_prefix("initContainers[") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix("containers[") {
        (false, r)
    } else {
        return Err(bad("only containers and initContainers can be addressed"));
    };
    let (sel, tail) = rest.rsplit_once(']').ok_or_else(|| bad("missing ']'"))?;
    if tail != ".image" {
        return Err(bad("only the image field is supported"));
    }
    let selector = if let Ok(i) = sel.parse::<usize>() {
        Selector::Index(i)
    } else {
        let inner = sel
            .strip_prefix("?(@.name==")
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| bad("the selector must be an index or ?(@.name==\"<name>\")"))?;
        let name = inner
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("the container name must be quoted"))?;
        Selector::Name(name.to_owned())
    };
    Ok((init, selector))
}

/// Parses the annotation of a `kind` object in `namespace`. Any invalid entry rejects the whole
/// annotation (as OpenShift does), with a message naming the entry.
pub fn parse_triggers(
    annotation: &str,
    namespace: &str,
    kind: WorkloadKind,
) -> Result<Vec<Trigger>, Error> {
    let wire: Vec<TriggerWire> = serde_json::from_str(annotation)
        .map_err(|e| Error::InvalidTrigger(format!("not a JSON array of triggers: {e}")))?;
    let mut out: Vec<Trigger> = Vec::with_capacity(wire.len());
    for (i, t) in wire.into_iter().enumerate() {
        let kind_of_from = t.from.kind.as_deref().unwrap_or_default();
        if kind_of_from != "ImageStreamTag" {
            return Err(Error::InvalidTrigger(format!(
                "entry {i}: from.kind must be ImageStreamTag, not {kind_of_from:?}"
            )));
        }
        let name = t.from.name.as_deref().unwrap_or_default();
        let (stream, tag) = match name.split_once(':') {
            Some(_) => outrigger_api::image::split_image_stream_tag(name)
                .map(|(s, t)| (s.to_owned(), t.to_owned())),
            None if !name.is_empty() && !name.contains('@') => Some((
                name.to_owned(),
                outrigger_api::image::DEFAULT_TAG.to_owned(),
            )),
            None => None,
        }
        .ok_or_else(|| {
            Error::InvalidTrigger(format!(
                "entry {i}: from.name {name:?} must be <stream>:<tag>"
            ))
        })?;
        if out.iter().any(|o| o.field_path == t.field_path) {
            return Err(Error::InvalidTrigger(format!(
                "entry {i}: fieldPath {:?} appears more than once",
                t.field_path
            )));
        }
        let (init, selector) = parse_field_path(kind, &t.field_path)
            .map_err(|e| Error::InvalidTrigger(format!("entry {i}: {e}")))?;
        out.push(Trigger {
            namespace: t
                .from
                .namespace
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| namespace.to_owned()),
            stream,
            tag,
            init,
            selector,
            paused: t.paused.unwrap_or(false),
            field_path: t.field_path,
        });
    }
    Ok(out)
}

/// The JSON-patch operations (as a JSON array) that set every resolved trigger's container
/// image in `object` (the workload as JSON). `resolve(namespace, stream, tag)` gives a tag's
/// pull spec, `None` when it has no image yet (the trigger is then skipped). Containers that a
/// trigger names but the template lacks are reported in the second value and skipped.
pub fn image_patch(
    object: &Value,
    kind: WorkloadKind,
    triggers: &[Trigger],
    resolve: impl Fn(&str, &str, &str) -> Option<String>,
) -> (Vec<Value>, Vec<String>) {
    let mut ops = Vec::new();
    let mut problems = Vec::new();
    let base: String = kind
        .pod_spec_path()
        .split('.')
        .map(|s| format!("/{s}"))
        .collect();
    let pod_spec = object.pointer(&base);
    for t in triggers.iter().filter(|t| !t.paused) {
        let Some(image) = resolve(&t.namespace, &t.stream, &t.tag) else {
            continue;
        };
        let list = if t.init {
            "initContainers"
        } else {
            "containers"
        };
        let containers = pod_spec
            .and_then(|p| p.get(list))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let index = match &t.selector {
            Selector::Index(i) => (*i < containers.len()).then_some(*i),
            Selector::Name(n) => containers
                .iter()
                .position(|c| c.get("name").and_then(Value::as_str) == Some(n.as_str())),
        };
        let Some(index) = index else {
            problems.push(format!("{}: no such container", t.field_path));
            continue;
        };
        let path = format!("{base}/{list}/{index}/image");
        match containers[index].get("image") {
            Some(Value::String(current)) if *current == image => {}
            Some(current) => {
                ops.push(json!({"op": "test", "path": path, "value": current}));
                ops.push(json!({"op": "replace", "path": path, "value": image}));
            }
            None => ops.push(json!({"op": "add", "path": path, "value": image})),
        }
    }
    (ops, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn deployment(containers: Value) -> Value {
        json!({"metadata": {"name": "d", "namespace": "ns"},
               "spec": {"template": {"spec": {"containers": containers}}}})
    }

    const WEB: &str = r#"[{"from":{"kind":"ImageStreamTag","name":"app:latest"},"fieldPath":"spec.template.spec.containers[?(@.name==\"web\")].image","paused":false}]"#;

    #[test]
    fn parses_openshift_format() {
        let t = parse_triggers(WEB, "ns", WorkloadKind::Deployment).expect("valid");
        assert_eq!(
            t,
            vec![Trigger {
                namespace: "ns".into(),
                stream: "app".into(),
                tag: "latest".into(),
                init: false,
                selector: Selector::Name("web".into()),
                paused: false,
                field_path: r#"spec.template.spec.containers[?(@.name=="web")].image"#.into(),
            }]
        );
        let t = parse_triggers(
            r#"[{"from":{"kind":"ImageStreamTag","name":"base","namespace":"openshift","apiVersion":"image.openshift.io/v1"},"fieldPath":"spec.jobTemplate.spec.template.spec.initContainers[1].image","paused":true}]"#,
            "ns",
            WorkloadKind::CronJob,
        )
        .expect("valid");
        assert_eq!(t[0].namespace, "openshift");
        assert_eq!(t[0].tag, "latest");
        assert!(t[0].init);
        assert!(t[0].paused);
        assert_eq!(t[0].selector, Selector::Index(1));
    }

    #[test]
    fn rejects_bad_annotations() {
        for (a, kind, msg) in [
            ("not json", WorkloadKind::Deployment, "not a JSON array"),
            (
                r#"[{"from":{"kind":"DockerImage","name":"a:b"},"fieldPath":"spec.template.spec.containers[0].image"}]"#,
                WorkloadKind::Deployment,
                "must be ImageStreamTag",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b:c"},"fieldPath":"spec.template.spec.containers[0].image"}]"#,
                WorkloadKind::Deployment,
                "<stream>:<tag>",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b"},"fieldPath":"spec.template.spec.containers[0].command"}]"#,
                WorkloadKind::Deployment,
                "only the image field",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b"},"fieldPath":"spec.template.spec.containers[0].image"}]"#,
                WorkloadKind::CronJob,
                "spec.jobTemplate.spec.template.spec",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b"},"fieldPath":"spec.template.spec.volumes[0].image"}]"#,
                WorkloadKind::Job,
                "containers and initContainers",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b"},"fieldPath":"spec.template.spec.containers[?(@.name==web)].image"}]"#,
                WorkloadKind::StatefulSet,
                "quoted",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b"},"fieldPath":"spec.template.spec.containers[0].image"},
                    {"from":{"kind":"ImageStreamTag","name":"c:d"},"fieldPath":"spec.template.spec.containers[0].image"}]"#,
                WorkloadKind::DaemonSet,
                "more than once",
            ),
        ] {
            let err = parse_triggers(a, "ns", kind).expect_err(a);
            assert!(err.to_string().contains(msg), "{a}: {err}");
        }
    }

    #[test]
    fn patch_sets_image_once() {
        let triggers = parse_triggers(WEB, "ns", WorkloadKind::Deployment).expect("valid");
        let obj =
            deployment(json!([{"name": "side", "image": "x"}, {"name": "web", "image": "old"}]));
        let resolve = |ns: &str, s: &str, t: &str| {
            assert_eq!((ns, s, t), ("ns", "app", "latest"));
            Some("reg/app@sha256:1".to_owned())
        };
        let (ops, problems) = image_patch(&obj, WorkloadKind::Deployment, &triggers, resolve);
        assert!(problems.is_empty());
        assert_eq!(
            ops,
            vec![
                json!({"op": "test", "path": "/spec/template/spec/containers/1/image", "value": "old"}),
                json!({"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "reg/app@sha256:1"}),
            ]
        );
        // apply it: the next computation is empty (no loop)
        let mut patched = obj.clone();
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops)).expect("patch");
        json_patch::patch(&mut patched, &patch).expect("applies");
        let (ops, _) = image_patch(&patched, WorkloadKind::Deployment, &triggers, resolve);
        assert!(ops.is_empty());
    }

    #[test]
    fn unresolved_paused_and_missing_containers_are_skipped() {
        let triggers = parse_triggers(WEB, "ns", WorkloadKind::Deployment).expect("valid");
        let obj = deployment(json!([{"name": "web", "image": "old"}]));
        let (ops, problems) =
            image_patch(&obj, WorkloadKind::Deployment, &triggers, |_, _, _| None);
        assert!(ops.is_empty() && problems.is_empty());
        let mut paused = triggers.clone();
        paused[0].paused = true;
        let (ops, _) = image_patch(&obj, WorkloadKind::Deployment, &paused, |_, _, _| {
            Some("new".into())
        });
        assert!(ops.is_empty());
        let other = deployment(json!([{"name": "api", "image": "old"}]));
        let (ops, problems) =
            image_patch(&other, WorkloadKind::Deployment, &triggers, |_, _, _| {
                Some("new".into())
            });
        assert!(ops.is_empty());
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn cronjob_init_container_by_index_without_image() {
        let triggers = parse_triggers(
            r#"[{"from":{"kind":"ImageStreamTag","name":"a:1"},"fieldPath":"spec.jobTemplate.spec.template.spec.initContainers[0].image"}]"#,
            "ns",
            WorkloadKind::CronJob,
        )
        .expect("valid");
        let obj = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"initContainers": [{"name": "i"}], "containers": []}}}}}});
        let (ops, _) = image_patch(&obj, WorkloadKind::CronJob, &triggers, |_, _, _| {
            Some("new".into())
        });
        assert_eq!(
            ops,
            vec![
                json!({"op": "add", "path": "/spec/jobTemplate/spec/template/spec/initContainers/0/image", "value": "new"})
            ]
        );
    }
}
