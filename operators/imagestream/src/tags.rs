//! Spec tags → status: which tags need an import (spec §3.4, §3.9), how import results enter the
//! history, how `reference: true`, `ImageStreamTag` and `ImageStreamImage` tags are resolved
//! (§3.6), `status.dockerImageRepository` (§3.3) and the pull spec consumers get (§3.8).
//!
//! # Generations without a mutating webhook
//!
//! OpenShift's API server stamps `spec.tags[].generation` with the stream's generation whenever
//! a tag changes. Outrigger has no webhook doing that, so a tag's *effective* generation is its
//! `generation` when that is positive, and otherwise (`null` or `0`) the stream's
//! `metadata.generation`. Consequences: a stream whose tags carry no generation re-imports its
//! `DockerImage` tags after every spec change (cheap: an unchanged digest only refreshes the
//! head's generation), and setting a tag's `generation` to `0` — OpenShift's way to ask for a
//! re-import — still works, because it changes the spec and so bumps `metadata.generation`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use outrigger_api::image::{
    ImageStream, ImageStreamStatus, TagEvent, TagReference, split_image_stream_tag,
};

use crate::error::Error;
use crate::history::{self, add_tag_event, import_condition, set_import_failed};
use crate::reference::ImageReference;

/// Spec-tag annotation naming the preferred architecture in a manifest list (Legacy mode).
pub const PREFER_ARCH_ANNOTATION: &str = "importer.image.openshift.io/prefer-arch";
/// Spec-tag annotation naming the preferred OS in a manifest list (Legacy mode).
pub const PREFER_OS_ANNOTATION: &str = "importer.image.openshift.io/prefer-os";

/// How a manifest list is imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMode {
    /// Keep one platform's manifest (the preferred or the node's platform).
    Legacy,
    /// Keep the manifest list itself (its digest), recording all its platforms.
    PreserveOriginal,
}

impl ImportMode {
    /// The mode of a spec tag; empty or absent means the cluster default, `Legacy`.
    pub fn of(tag: &TagReference) -> Self {
        match tag
            .import_policy
            .as_ref()
            .and_then(|p| p.import_mode.as_deref())
        {
            Some("PreserveOriginal") => ImportMode::PreserveOriginal,
            _ => ImportMode::Legacy,
        }
    }
}

/// One tag to import from a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRequest {
    /// Stream tag that receives the image.
    pub tag: String,
    /// Pull spec to import (`spec.tags[].from.name`).
    pub from: String,
    /// Allow plain HTTP and unverified TLS.
    pub insecure: bool,
    /// Manifest-list handling.
    pub mode: ImportMode,
    /// Generation recorded on the resulting event or condition.
    pub generation: i64,
    /// Wanted platform for Legacy imports of manifest lists, `os`/`arch`.
    pub platform: (String, String),
}

/// The result of a successful import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// Digest of the recorded manifest (`sha256:…`).
    pub digest: String,
    /// Digest pull spec, `registry/repository@digest`.
    pub reference: String,
    /// Platforms of the image, `os/arch[/variant]`, when known.
    pub platforms: Option<Vec<String>>,
}

/// Why tags are imported in this round, besides spec changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// The scheduled-import interval has passed: re-import `importPolicy.scheduled` tags.
    pub scheduled_due: bool,
    /// An import was requested (annotation): import every importable tag.
    pub forced: bool,
    /// The back-off after failures has passed: retry tags whose last import failed.
    pub retry_failed: bool,
}

/// The effective generation of a spec tag (see the module docs).
pub fn effective_generation(stream: &ImageStream, tag: &TagReference) -> i64 {
    match tag.generation {
        Some(g) if g > 0 => g,
        _ => stream.metadata.generation.unwrap_or(1).max(1),
    }
}

fn spec_tags(stream: &ImageStream) -> impl Iterator<Item = (&str, &TagReference)> {
    stream
        .spec
        .tags
        .iter()
        .flatten()
        .filter_map(|t| t.name.as_deref().filter(|n| !n.is_empty()).map(|n| (n, t)))
}

fn from_kind(tag: &TagReference) -> Option<&str> {
    tag.from.as_ref().and_then(|f| f.kind.as_deref())
}

fn from_name(tag: &TagReference) -> &str {
    tag.from
        .as_ref()
        .and_then(|f| f.name.as_deref())
        .unwrap_or_default()
}

/// Whether a spec tag is imported from a registry: `DockerImage` and not `reference: true`.
pub fn is_importable(tag: &TagReference) -> bool {
    from_kind(tag) == Some("DockerImage")
        && tag.reference != Some(true)
        && !from_name(tag).is_empty()
}

fn is_scheduled(tag: &TagReference) -> bool {
    tag.import_policy
        .as_ref()
        .and_then(|p| p.scheduled)
        .unwrap_or(false)
}

/// Whether any tag of the stream is re-imported on a schedule.
pub fn has_scheduled_tags(stream: &ImageStream) -> bool {
    spec_tags(stream).any(|(_, t)| is_scheduled(t) && is_importable(t) && !pins_digest(t))
}

fn pins_digest(tag: &TagReference) -> bool {
    from_name(tag).contains('@')
}

/// Whether the current head of `name` came from a different source than the spec names now
/// (the spec's `from` was edited while its generation stayed the same).
fn source_changed(status: &ImageStreamStatus, name: &str, tag: &TagReference) -> bool {
    let Some(head) = history::head(status, name) else {
        return false;
    };
    let Ok(from) = ImageReference::parse(from_name(tag)) else {
        return true;
    };
    if !from.digest.is_empty() {
        return head.image.as_deref() != Some(from.digest.as_str());
    }
    let head_ref = head.docker_image_reference.as_deref().unwrap_or_default();
    let head_repo = match ImageReference::parse(head_ref) {
        Ok(r) => r.repository_location(),
        Err(_) => return true,
    };
    head_repo != from.repository_location()
}

/// Which importable tags to import now (spec §3.4 "needs import", plus scheduled, forced and
/// retried imports).
pub fn plan_imports(
    stream: &ImageStream,
    status: &ImageStreamStatus,
    options: PlanOptions,
    node_platform: (&str, &str),
) -> Vec<ImportRequest> {
    let mut out = Vec::new();
    for (name, tag) in spec_tags(stream) {
        if !is_importable(tag) {
            continue;
        }
        let generation = effective_generation(stream, tag);
        let head_gen = history::head(status, name)
            .and_then(|e| e.generation)
            .unwrap_or(0);
        let condition = import_condition(status, name);
        let cond_gen = condition.and_then(|c| c.generation).unwrap_or(0);
        let failed = condition.is_some_and(|c| c.status.as_deref() == Some("False"));
        let needs = generation > head_gen.max(cond_gen)
            || (cond_gen < generation && source_changed(status, name, tag))
            || options.forced
            || (options.scheduled_due && is_scheduled(tag) && !pins_digest(tag))
            || (options.retry_failed && failed);
        if !needs {
            continue;
        }
        let annotations = tag.annotations.as_ref();
        let pick = |key: &str, default: &str| {
            annotations
                .and_then(|a| a.get(key))
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| default.to_owned())
        };
        out.push(ImportRequest {
            tag: name.to_owned(),
            from: from_name(tag).to_owned(),
            insecure: tag
                .import_policy
                .as_ref()
                .and_then(|p| p.insecure)
                .unwrap_or(false),
            mode: ImportMode::of(tag),
            generation,
            platform: (
                pick(PREFER_OS_ANNOTATION, node_platform.0),
                pick(PREFER_ARCH_ANNOTATION, node_platform.1),
            ),
        });
    }
    out
}

/// Records import results in the history (success: new event by the §3.5 rule and conditions
/// cleared; failure: `ImportSuccess=False` with the error's category and message). Returns
/// whether the status changed.
pub fn apply_imports(
    status: &mut ImageStreamStatus,
    results: Vec<(ImportRequest, Result<Imported, Error>)>,
    now: &Time,
) -> bool {
    let mut changed = false;
    for (req, result) in results {
        match result {
            Ok(imported) => {
                changed |= add_tag_event(
                    status,
                    &req.tag,
                    TagEvent {
                        created: Some(now.clone()),
                        docker_image_reference: Some(imported.reference),
                        image: Some(imported.digest),
                        generation: Some(req.generation),
                        platforms: imported.platforms,
                    },
                );
                changed |= history::clear_conditions(status, &req.tag);
            }
            Err(e) => {
                changed |= set_import_failed(
                    status,
                    &req.tag,
                    e.category(),
                    &e.to_string(),
                    req.generation,
                    now,
                );
            }
        }
    }
    changed
}

/// Where an `ImageStreamTag`/`ImageStreamImage` tag takes its image from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `<stream>:<tag>` in `namespace`.
    Tag {
        /// Namespace of the source stream.
        namespace: String,
        /// Source stream.
        stream: String,
        /// Source tag.
        tag: String,
    },
    /// `<stream>@<digest>` (a digest prefix is allowed when unique).
    Image {
        /// Namespace of the source stream.
        namespace: String,
        /// Source stream.
        stream: String,
        /// Digest or unique digest prefix.
        digest: String,
    },
}

impl Source {
    /// `(namespace, stream)` of the source.
    pub fn stream_key(&self) -> (&str, &str) {
        match self {
            Source::Tag {
                namespace, stream, ..
            }
            | Source::Image {
                namespace, stream, ..
            } => (namespace, stream),
        }
    }
}

/// The source of an `ImageStreamTag` or `ImageStreamImage` spec tag of `stream` (in `ns`).
/// `Ok(None)` for other kinds.
pub fn source_of(ns: &str, stream: &str, tag: &TagReference) -> Result<Option<Source>, Error> {
    let Some(from) = tag.from.as_ref() else {
        return Ok(None);
    };
    let name = from.name.as_deref().unwrap_or_default();
    let namespace = from
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(ns)
        .to_owned();
    match from.kind.as_deref() {
        Some("ImageStreamTag") => {
            let (s, t) = if name.contains(':') {
                split_image_stream_tag(name).ok_or_else(|| {
                    Error::InvalidTag(format!(
                        "from.name {name:?} of an ImageStreamTag must be <tag> or <stream>:<tag>"
                    ))
                })?
            } else if name.is_empty() || name.contains('@') {
                return Err(Error::InvalidTag(format!(
                    "from.name {name:?} of an ImageStreamTag must be <tag> or <stream>:<tag>"
                )));
            } else {
                (stream, name)
            };
            Ok(Some(Source::Tag {
                namespace,
                stream: s.to_owned(),
                tag: t.to_owned(),
            }))
        }
        Some("ImageStreamImage") => {
            let (s, d) = match name.split_once('@') {
                Some((s, d)) if !s.is_empty() && !d.is_empty() => (s, d),
                None if !name.is_empty() => (stream, name),
                _ => {
                    return Err(Error::InvalidTag(format!(
                        "from.name {name:?} of an ImageStreamImage must be <stream>@<digest>"
                    )));
                }
            };
            Ok(Some(Source::Image {
                namespace,
                stream: s.to_owned(),
                digest: d.to_owned(),
            }))
        }
        _ => Ok(None),
    }
}

/// The other streams this stream's tags read from, `(namespace, name)`, without duplicates.
pub fn referenced_streams(stream: &ImageStream, ns: &str, name: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (_, tag) in spec_tags(stream) {
        if let Ok(Some(src)) = source_of(ns, name, tag) {
            let (n, s) = src.stream_key();
            let key = (n.to_owned(), s.to_owned());
            if (n, s) != (ns, name) && !out.contains(&key) {
                out.push(key);
            }
        }
    }
    out
}

fn find_image<'a>(
    status: &'a ImageStreamStatus,
    digest: &str,
) -> Result<Option<&'a TagEvent>, String> {
    let mut found: Vec<&TagEvent> = Vec::new();
    for list in status.tags.iter().flatten() {
        for e in list.items.iter().flatten() {
            let image = e.image.as_deref().unwrap_or_default();
            if image.is_empty() {
                continue;
            }
            if image == digest {
                return Ok(Some(e));
            }
            let matches = image.starts_with(digest)
                || image
                    .split_once(':')
                    .is_some_and(|(_, hex)| hex.starts_with(digest));
            if matches && !found.iter().any(|f| f.image == e.image) {
                found.push(e);
            }
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(format!(
            "digest prefix {digest:?} matches more than one image"
        )),
    }
}

/// Resolves every `reference: true` `DockerImage`, `ImageStreamTag` and `ImageStreamImage` tag
/// into the history (the events are copied through the §3.5 rule, so repeated resolution is a
/// no-op), repeating until tags that track tags have settled. Sources in other streams come
/// from `others` (keyed `(namespace, name)`); a missing source is recorded as
/// `ImportSuccess=False` with reason `NotFound`. Returns whether the status changed.
pub fn resolve_references(
    stream: &ImageStream,
    ns: &str,
    name: &str,
    status: &mut ImageStreamStatus,
    others: &BTreeMap<(String, String), ImageStreamStatus>,
    now: &Time,
) -> bool {
    let mut changed = false;
    let rounds = stream.spec.tags.as_ref().map_or(0, Vec::len) + 1;
    for _ in 0..rounds {
        let mut round_changed = false;
        for (tag_name, tag) in spec_tags(stream) {
            let generation = effective_generation(stream, tag);
            let fail = |status: &mut ImageStreamStatus, e: Error| {
                set_import_failed(
                    status,
                    tag_name,
                    e.category(),
                    &e.to_string(),
                    generation,
                    now,
                )
            };
            if from_kind(tag) == Some("DockerImage") && tag.reference == Some(true) {
                let from = from_name(tag);
                if let Err(e) = ImageReference::parse(from) {
                    round_changed |= fail(status, e);
                    continue;
                }
                round_changed |= add_tag_event(
                    status,
                    tag_name,
                    TagEvent {
                        created: Some(now.clone()),
                        docker_image_reference: Some(from.to_owned()),
                        image: Some(String::new()),
                        generation: Some(generation),
                        platforms: None,
                    },
                );
                continue;
            }
            let source = match source_of(ns, name, tag) {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    round_changed |= fail(status, e);
                    continue;
                }
            };
            let (src_ns, src_stream) = source.stream_key();
            let own = (src_ns, src_stream) == (ns, name);
            let src_status = if own {
                Some(status.clone())
            } else {
                others
                    .get(&(src_ns.to_owned(), src_stream.to_owned()))
                    .cloned()
            };
            let event = match (&source, src_status.as_ref()) {
                (Source::Tag { tag: t, .. }, _) if own && t == tag_name => {
                    round_changed |= fail(
                        status,
                        Error::InvalidTag(format!("tag {tag_name:?} cannot track itself")),
                    );
                    continue;
                }
                (Source::Tag { tag: t, .. }, Some(s)) => {
                    history::head(s, t).cloned().ok_or_else(|| {
                        format!("imagestreamtag {src_ns}/{src_stream}:{t} has no image yet")
                    })
                }
                (Source::Image { digest, .. }, Some(s)) => match find_image(s, digest) {
                    Ok(Some(e)) => Ok(e.clone()),
                    Ok(None) => Err(format!(
                        "imagestreamimage {src_ns}/{src_stream}@{digest} is not in the stream's history"
                    )),
                    Err(m) => Err(m),
                },
                (_, None) => Err(format!("imagestream {src_ns}/{src_stream} does not exist")),
            };
            match event {
                Ok(mut e) => {
                    e.generation = Some(generation);
                    round_changed |= add_tag_event(status, tag_name, e);
                }
                Err(message) => {
                    round_changed |= fail(status, Error::SourceNotFound(message));
                }
            }
        }
        changed |= round_changed;
        if !round_changed {
            break;
        }
    }
    changed
}

/// `status.dockerImageRepository`: `<registry>/<namespace>/<name>` when an internal registry is
/// configured, else the deprecated `spec.dockerImageRepository`, else none.
pub fn docker_image_repository(
    stream: &ImageStream,
    ns: &str,
    name: &str,
    internal_registry: Option<&str>,
) -> Option<String> {
    match internal_registry.filter(|r| !r.is_empty()) {
        Some(r) => Some(format!("{}/{ns}/{name}", r.trim_end_matches('/'))),
        None => stream
            .spec
            .docker_image_repository
            .clone()
            .filter(|r| !r.is_empty()),
    }
}

/// The pull spec of `tag` for consumers (spec §3.8): the head's reference, or
/// `<status.dockerImageRepository>@<digest>` for `referencePolicy.type: Local`.
pub fn resolve_pull_spec(stream: &ImageStream, tag: &str) -> Option<String> {
    let status = stream.status.as_ref()?;
    let head = history::head(status, tag)?;
    let reference = head
        .docker_image_reference
        .as_deref()
        .filter(|r| !r.is_empty())?;
    let spec_tag = spec_tags(stream).find(|(n, _)| *n == tag).map(|(_, t)| t);
    let local = spec_tag
        .and_then(|t| t.reference_policy.as_ref())
        .and_then(|p| p.type_.as_deref())
        == Some("Local");
    let repo = status
        .docker_image_repository
        .as_deref()
        .filter(|r| !r.is_empty());
    let digest = head.image.as_deref().filter(|d| !d.is_empty());
    match (local, repo, digest) {
        (true, Some(repo), Some(digest)) => Some(format!("{repo}@{digest}")),
        _ => Some(reference.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("valid"))
    }

    fn stream(generation: i64, tags: serde_json::Value) -> ImageStream {
        serde_json::from_value(json!({
            "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
            "metadata": {"name": "app", "namespace": "ns", "generation": generation},
            "spec": {"tags": tags},
        }))
        .expect("valid stream")
    }

    fn imported(digest: &str) -> Imported {
        Imported {
            digest: digest.into(),
            reference: format!("reg.io/app@{digest}"),
            platforms: None,
        }
    }

    const NODE: (&str, &str) = ("linux", "amd64");

    #[test]
    fn plans_new_tags_then_nothing_after_import() {
        let s = stream(
            1,
            json!([{"name": "latest", "from": {"kind": "DockerImage", "name": "reg.io/app:latest"}}]),
        );
        let mut status = ImageStreamStatus::default();
        let plan = plan_imports(&s, &status, PlanOptions::default(), NODE);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].from, "reg.io/app:latest");
        assert_eq!(plan[0].generation, 1);
        assert_eq!(plan[0].mode, ImportMode::Legacy);
        assert_eq!(plan[0].platform, ("linux".to_owned(), "amd64".to_owned()));
        assert!(apply_imports(
            &mut status,
            vec![(plan[0].clone(), Ok(imported(A)))],
            &at(10)
        ));
        assert_eq!(
            plan_imports(&s, &status, PlanOptions::default(), NODE),
            vec![]
        );
        // scheduled only applies to scheduled tags
        let due = PlanOptions {
            scheduled_due: true,
            ..PlanOptions::default()
        };
        assert_eq!(plan_imports(&s, &status, due, NODE), vec![]);
        // a forced import takes every importable tag
        let forced = PlanOptions {
            forced: true,
            ..PlanOptions::default()
        };
        assert_eq!(plan_imports(&s, &status, forced, NODE).len(), 1);
    }

    #[test]
    fn spec_change_and_generation_zero_request_import() {
        let mut status = ImageStreamStatus::default();
        let s1 = stream(
            1,
            json!([{"name": "t", "generation": 1, "from": {"kind": "DockerImage", "name": "reg.io/app:1"}}]),
        );
        let p = plan_imports(&s1, &status, PlanOptions::default(), NODE);
        apply_imports(&mut status, vec![(p[0].clone(), Ok(imported(A)))], &at(1));
        // generation set to 0: the stream generation (bumped by that edit) counts
        let s2 = stream(
            2,
            json!([{"name": "t", "generation": 0, "from": {"kind": "DockerImage", "name": "reg.io/app:1"}}]),
        );
        let p = plan_imports(&s2, &status, PlanOptions::default(), NODE);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].generation, 2);
        // from edited with a stale explicit generation: the source changed, import again
        let s3 = stream(
            3,
            json!([{"name": "t", "generation": 1, "from": {"kind": "DockerImage", "name": "other.io/x:1"}}]),
        );
        assert_eq!(
            plan_imports(&s3, &status, PlanOptions::default(), NODE).len(),
            1
        );
    }

    #[test]
    fn failures_are_conditions_and_retried_only_on_backoff() {
        let s = stream(
            1,
            json!([
                {"name": "bad", "from": {"kind": "DockerImage", "name": "reg.io/missing:1"}},
                {"name": "good", "from": {"kind": "DockerImage", "name": "reg.io/app:1"}},
            ]),
        );
        let mut status = ImageStreamStatus::default();
        let plan = plan_imports(&s, &status, PlanOptions::default(), NODE);
        assert_eq!(plan.len(), 2);
        let results = vec![
            (
                plan[0].clone(),
                Err(Error::NotFound {
                    reference: "reg.io/missing:1".into(),
                    message: "manifest unknown".into(),
                }),
            ),
            (plan[1].clone(), Ok(imported(A))),
        ];
        assert!(apply_imports(&mut status, results, &at(5)));
        let c = import_condition(&status, "bad")
            .cloned()
            .expect("condition");
        assert_eq!(c.reason.as_deref(), Some("NotFound"));
        assert_eq!(c.status.as_deref(), Some("False"));
        assert!(c.message.unwrap_or_default().contains("manifest unknown"));
        assert_eq!(c.generation, Some(1));
        // the good tag is unaffected
        assert_eq!(
            history::head(&status, "good").and_then(|e| e.image.clone()),
            Some(A.into())
        );
        assert!(import_condition(&status, "good").is_none());
        // no import until the back-off says so
        assert_eq!(
            plan_imports(&s, &status, PlanOptions::default(), NODE),
            vec![]
        );
        let retry = PlanOptions {
            retry_failed: true,
            ..PlanOptions::default()
        };
        let p = plan_imports(&s, &status, retry, NODE);
        assert_eq!(
            p.iter().map(|r| r.tag.as_str()).collect::<Vec<_>>(),
            ["bad"]
        );
        // a later success clears the condition
        apply_imports(&mut status, vec![(p[0].clone(), Ok(imported(B)))], &at(9));
        assert!(import_condition(&status, "bad").is_none());
    }

    #[test]
    fn scheduled_reimport_grows_history() {
        let s = stream(
            1,
            json!([{"name": "t", "importPolicy": {"scheduled": true, "insecure": true, "importMode": "PreserveOriginal"},
                     "from": {"kind": "DockerImage", "name": "reg.io/app:1"}}]),
        );
        assert!(has_scheduled_tags(&s));
        let mut status = ImageStreamStatus::default();
        let p = plan_imports(&s, &status, PlanOptions::default(), NODE);
        assert!(p[0].insecure);
        assert_eq!(p[0].mode, ImportMode::PreserveOriginal);
        apply_imports(&mut status, vec![(p[0].clone(), Ok(imported(A)))], &at(1));
        let due = PlanOptions {
            scheduled_due: true,
            ..PlanOptions::default()
        };
        let p = plan_imports(&s, &status, due, NODE);
        assert_eq!(p.len(), 1);
        // same digest: nothing changes
        assert!(!apply_imports(
            &mut status,
            vec![(p[0].clone(), Ok(imported(A)))],
            &at(2)
        ));
        // moved tag: a new head
        assert!(apply_imports(
            &mut status,
            vec![(p[0].clone(), Ok(imported(B)))],
            &at(3)
        ));
        let items = history::status_tag(&status, "t")
            .and_then(|t| t.items.clone())
            .unwrap_or_default();
        assert_eq!(
            items
                .iter()
                .map(|e| e.image.clone().unwrap_or_default())
                .collect::<Vec<_>>(),
            [B, A]
        );
        // digest-pinned tags are not scheduled
        let pinned = stream(
            1,
            json!([{"name": "t", "importPolicy": {"scheduled": true}, "from": {"kind": "DockerImage", "name": format!("reg.io/app@{A}")}}]),
        );
        assert!(!has_scheduled_tags(&pinned));
    }

    #[test]
    fn prefer_annotations_choose_platform() {
        let s = stream(
            1,
            json!([{"name": "t", "annotations": {PREFER_ARCH_ANNOTATION: "arm64"}, "from": {"kind": "DockerImage", "name": "a"}}]),
        );
        let p = plan_imports(
            &s,
            &ImageStreamStatus::default(),
            PlanOptions::default(),
            NODE,
        );
        assert_eq!(p[0].platform, ("linux".to_owned(), "arm64".to_owned()));
    }

    #[test]
    fn reference_tags_are_recorded_without_import() {
        let s = stream(
            4,
            json!([
                {"name": "ref", "reference": true, "from": {"kind": "DockerImage", "name": "quay.io/x/y:1"}},
                {"name": "bad", "reference": true, "from": {"kind": "DockerImage", "name": "Not A Ref"}},
            ]),
        );
        assert_eq!(
            plan_imports(
                &s,
                &ImageStreamStatus::default(),
                PlanOptions::default(),
                NODE
            ),
            vec![]
        );
        let mut status = ImageStreamStatus::default();
        assert!(resolve_references(
            &s,
            "ns",
            "app",
            &mut status,
            &BTreeMap::new(),
            &at(1)
        ));
        let head = history::head(&status, "ref").cloned().expect("head");
        assert_eq!(
            head.docker_image_reference.as_deref(),
            Some("quay.io/x/y:1")
        );
        assert_eq!(head.image.as_deref(), Some(""));
        assert_eq!(head.generation, Some(4));
        let c = import_condition(&status, "bad")
            .cloned()
            .expect("condition");
        assert_eq!(c.reason.as_deref(), Some("InvalidImageReference"));
        // idempotent
        assert!(!resolve_references(
            &s,
            "ns",
            "app",
            &mut status,
            &BTreeMap::new(),
            &at(2)
        ));
    }

    #[test]
    fn image_stream_tags_same_stream_chain_and_other_namespace() {
        let s = stream(
            2,
            json!([
                {"name": "1.0", "from": {"kind": "DockerImage", "name": "reg.io/app:1.0"}},
                {"name": "stable", "from": {"kind": "ImageStreamTag", "name": "latest"}},
                {"name": "latest", "from": {"kind": "ImageStreamTag", "name": "app:1.0"}},
                {"name": "base", "from": {"kind": "ImageStreamTag", "name": "ruby:3.3", "namespace": "openshift"}},
                {"name": "pinned", "from": {"kind": "ImageStreamImage", "name": "ruby@sha256:bbbb"}, "generation": 1},
                {"name": "missing", "from": {"kind": "ImageStreamTag", "name": "nope:1"}},
                {"name": "self", "from": {"kind": "ImageStreamTag", "name": "self"}},
            ]),
        );
        assert_eq!(
            referenced_streams(&s, "ns", "app"),
            vec![
                ("openshift".to_owned(), "ruby".to_owned()),
                ("ns".to_owned(), "ruby".to_owned()),
                ("ns".to_owned(), "nope".to_owned()),
            ]
        );
        let mut status = ImageStreamStatus::default();
        let p = plan_imports(&s, &status, PlanOptions::default(), NODE);
        assert_eq!(p.len(), 1);
        apply_imports(&mut status, vec![(p[0].clone(), Ok(imported(A)))], &at(1));
        let mut ruby = ImageStreamStatus::default();
        add_tag_event(
            &mut ruby,
            "3.3",
            TagEvent {
                created: Some(at(0)),
                docker_image_reference: Some(format!("docker.io/library/ruby@{B}")),
                image: Some(B.into()),
                generation: Some(1),
                platforms: None,
            },
        );
        let mut others = BTreeMap::new();
        others.insert(("openshift".to_owned(), "ruby".to_owned()), ruby.clone());
        others.insert(("ns".to_owned(), "ruby".to_owned()), ruby);
        assert!(resolve_references(
            &s,
            "ns",
            "app",
            &mut status,
            &others,
            &at(2)
        ));
        let image = |status: &ImageStreamStatus, t: &str| {
            history::head(status, t).and_then(|e| e.image.clone())
        };
        assert_eq!(image(&status, "latest"), Some(A.into()));
        assert_eq!(
            image(&status, "stable"),
            Some(A.into()),
            "tracking a tracking tag settles"
        );
        assert_eq!(
            history::head(&status, "stable").and_then(|e| e.generation),
            Some(2)
        );
        assert_eq!(image(&status, "base"), Some(B.into()));
        assert_eq!(
            image(&status, "pinned"),
            Some(B.into()),
            "unique digest prefix"
        );
        assert_eq!(
            import_condition(&status, "missing").and_then(|c| c.reason.clone()),
            Some("NotFound".into())
        );
        assert_eq!(
            import_condition(&status, "self").and_then(|c| c.reason.clone()),
            Some("InvalidTag".into())
        );
        assert!(!resolve_references(
            &s,
            "ns",
            "app",
            &mut status,
            &others,
            &at(3)
        ));
        // the tracked tag moves: the tracking tags follow
        let p = plan_imports(
            &s,
            &status,
            PlanOptions {
                forced: true,
                ..Default::default()
            },
            NODE,
        );
        apply_imports(&mut status, vec![(p[0].clone(), Ok(imported(B)))], &at(4));
        assert!(resolve_references(
            &s,
            "ns",
            "app",
            &mut status,
            &others,
            &at(4)
        ));
        assert_eq!(image(&status, "stable"), Some(B.into()));
        let stable = history::status_tag(&status, "stable")
            .and_then(|t| t.items.clone())
            .unwrap_or_default();
        assert_eq!(stable.len(), 2);
    }

    #[test]
    fn repository_and_pull_spec() {
        let mut s = stream(
            1,
            json!([
                {"name": "src", "from": {"kind": "DockerImage", "name": "reg.io/app:1"}},
                {"name": "loc", "referencePolicy": {"type": "Local"}, "from": {"kind": "DockerImage", "name": "reg.io/app:1"}},
            ]),
        );
        assert_eq!(docker_image_repository(&s, "ns", "app", None), None);
        assert_eq!(
            docker_image_repository(&s, "ns", "app", Some("10.0.0.1:5000")).as_deref(),
            Some("10.0.0.1:5000/ns/app")
        );
        s.spec.docker_image_repository = Some("quay.io/x/app".into());
        assert_eq!(
            docker_image_repository(&s, "ns", "app", None).as_deref(),
            Some("quay.io/x/app")
        );
        let mut status = ImageStreamStatus {
            docker_image_repository: Some("10.0.0.1:5000/ns/app".into()),
            ..ImageStreamStatus::default()
        };
        let p = plan_imports(&s, &status, PlanOptions::default(), NODE);
        let results = p.into_iter().map(|r| (r, Ok(imported(A)))).collect();
        apply_imports(&mut status, results, &at(1));
        s.status = Some(status);
        assert_eq!(
            resolve_pull_spec(&s, "src"),
            Some(format!("reg.io/app@{A}"))
        );
        assert_eq!(
            resolve_pull_spec(&s, "loc"),
            Some(format!("10.0.0.1:5000/ns/app@{A}"))
        );
        assert_eq!(resolve_pull_spec(&s, "none"), None);
    }
}
