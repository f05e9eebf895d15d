//! The reconciler: for one ImageStream, import the tags that need it, resolve the others, write
//! `status` (server-side apply on the status subresource, field manager [`FIELD_MANAGER`]),
//! publish Events for failures, then bring the workloads that trigger on the stream's tags up
//! to date.
//!
//! # Asking for an import now
//!
//! - Declarative (GitOps-friendly): set the annotation [`IMPORT_REQUESTED_ANNOTATION`] on the
//!   stream to any new value (a nonce, a timestamp). Every importable tag is imported once per
//!   distinct value. The value last handled is kept in memory, so a restarted controller imports
//!   such a stream once more — harmless, an unchanged digest changes nothing.
//! - OpenShift's way also works: set a tag's `generation` to `0` (see [`crate::tags`]).
//!
//! # Retries
//!
//! Failed tags carry `ImportSuccess=False` and are retried with the kit's back-off (1 s doubling
//! to 5 min) while the other tags stay as they are. Scheduled tags are re-imported every
//! `scheduled_interval` (OpenShift: 15 minutes).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, Resource, ResourceExt as _};
use outrigger_api::image::{ImageStream, ImageStreamStatus};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::{Error, Result};
use crate::import::{Credentials, Importer};
use crate::tags::{self, PlanOptions};
use crate::triggers::{TRIGGERS_ANNOTATION, Trigger, WorkloadKind, image_patch, parse_triggers};

/// Field manager of every write.
pub const FIELD_MANAGER: &str = "outrigger-imagestream";
/// Annotation asking for an import of every importable tag, once per distinct value.
pub const IMPORT_REQUESTED_ANNOTATION: &str = "image.openshift.io/import-requested";

/// Settings of the controller.
#[derive(Clone, Debug)]
pub struct Config {
    /// Host[:port] of the in-cluster registry, for `status.dockerImageRepository`.
    pub internal_registry: Option<String>,
    /// Interval of scheduled imports.
    pub scheduled_interval: Duration,
    /// Platform picked from manifest lists in Legacy mode, `(os, arch)`.
    pub node_platform: (String, String),
    /// Periodic re-check of every stream.
    pub resync: Duration,
}

/// A workload that triggers on some stream.
pub type WorkloadKey = (WorkloadKind, String, String);
/// `(namespace, name)` of a stream.
pub type StreamKey = (String, String);

/// Which objects depend on which streams: workloads that trigger on a stream's tags (fed by
/// the workload watches), or streams whose tags track another stream (fed by reconcile).
#[derive(Debug)]
pub struct Index<W> {
    forward: BTreeMap<StreamKey, BTreeSet<W>>,
    reverse: BTreeMap<W, BTreeSet<StreamKey>>,
}

impl<W> Default for Index<W> {
    fn default() -> Self {
        Index {
            forward: BTreeMap::new(),
            reverse: BTreeMap::new(),
        }
    }
}

/// Workloads by the streams they trigger on.
pub type TriggerIndex = Index<WorkloadKey>;
/// Streams by the other streams their tags read from.
pub type ReferrerIndex = Index<StreamKey>;

impl<W: Ord + Clone> Index<W> {
    /// Records that `workload` now depends on `streams` (replacing what it did before).
    pub fn update(&mut self, workload: W, streams: BTreeSet<StreamKey>) {
        if let Some(old) = self.reverse.remove(&workload) {
            for s in old {
                if let Some(set) = self.forward.get_mut(&s) {
                    set.remove(&workload);
                    if set.is_empty() {
                        self.forward.remove(&s);
                    }
                }
            }
        }
        for s in &streams {
            self.forward
                .entry(s.clone())
                .or_default()
                .insert(workload.clone());
        }
        if !streams.is_empty() {
            self.reverse.insert(workload, streams);
        }
    }

    /// The objects depending on `stream`.
    pub fn workloads(&self, stream: &StreamKey) -> Vec<W> {
        self.forward
            .get(stream)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Label of an import result: `Imported` or the error category.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ImportLabels {
    /// `Imported`, or the error's category (`NotFound`, `Unauthorized`, ...).
    pub result: String,
}

/// Import and trigger counters (bounded labels).
#[derive(Clone, Debug, Default)]
pub struct ImportMetrics {
    imports: Family<ImportLabels, Counter>,
    triggered: Counter,
}

impl ImportMetrics {
    /// Registers `imagestream_imports` and `imagestream_image_triggers` in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = ImportMetrics::default();
        registry.register(
            "imagestream_imports",
            "Tag imports from registries, by result (Imported or the error category)",
            m.imports.clone(),
        );
        registry.register(
            "imagestream_image_triggers",
            "Workload images updated by image.openshift.io/triggers",
            m.triggered.clone(),
        );
        m
    }

    fn import(&self, result: &str) {
        self.imports
            .get_or_create(&ImportLabels {
                result: result.to_owned(),
            })
            .inc();
    }
}

/// Per-stream memory of the controller (lost on restart, which only costs one extra import).
#[derive(Debug, Default)]
struct StreamState {
    last_scheduled: Option<Instant>,
    handled_request: Option<String>,
    failures: u32,
    next_retry: Option<Instant>,
}

/// Shared state of the controller.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// Registry importer.
    pub importer: Importer,
    /// Settings.
    pub config: Config,
    /// Workload trigger index.
    pub index: Arc<Mutex<TriggerIndex>>,
    /// Streams whose tags read from other streams.
    pub referrers: Arc<Mutex<ReferrerIndex>>,
    /// Import and trigger counters.
    pub metrics: ImportMetrics,
    state: Mutex<HashMap<StreamKey, StreamState>>,
}

impl Context {
    /// A context with empty per-stream state.
    pub fn new(
        client: Client,
        recorder: Recorder,
        importer: Importer,
        config: Config,
        index: Arc<Mutex<TriggerIndex>>,
        referrers: Arc<Mutex<ReferrerIndex>>,
        metrics: ImportMetrics,
    ) -> Self {
        Context {
            client,
            recorder,
            importer,
            config,
            index,
            referrers,
            metrics,
            state: Mutex::new(HashMap::new()),
        }
    }
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

async fn publish(
    ctx: &Context,
    reference: &ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, reference).await {
        tracing::warn!(error = %e, reason, "cannot publish event");
    }
}

/// Reads the namespace's pull secrets (`kubernetes.io/dockerconfigjson` and
/// `kubernetes.io/dockercfg`). A broken secret is logged and skipped.
async fn credentials(client: &Client, ns: &str) -> Result<Credentials> {
    let mut creds = Credentials::default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for s in secrets.list(&ListParams::default()).await?.items {
        let (key, legacy) = match s.type_.as_deref() {
            Some("kubernetes.io/dockerconfigjson") => (".dockerconfigjson", false),
            Some("kubernetes.io/dockercfg") => (".dockercfg", true),
            _ => continue,
        };
        let Some(data) = s.data.as_ref().and_then(|d| d.get(key)) else {
            continue;
        };
        if let Err(reason) = creds.add_docker_config(&data.0, legacy) {
            let e = Error::PullSecret {
                secret: format!("{ns}/{}", s.name_any()),
                reason,
            };
            tracing::warn!(error = %e, "skipping pull secret");
        }
    }
    Ok(creds)
}

/// Reconciles one stream; see the module docs.
#[tracing::instrument(skip_all, fields(stream = %stream.name_any(), namespace = stream.namespace().unwrap_or_default()))]
pub async fn reconcile(stream: Arc<ImageStream>, ctx: Arc<Context>) -> Result<Action> {
    let name = stream.name_any();
    let ns = stream
        .namespace()
        .ok_or_else(|| Error::MissingField(name.clone(), "metadata.namespace"))?;
    let key = (ns.clone(), name.clone());
    let started = Instant::now();
    let request = stream
        .annotations()
        .get(IMPORT_REQUESTED_ANNOTATION)
        .filter(|v| !v.is_empty())
        .cloned();
    let scheduled = tags::has_scheduled_tags(&stream);
    let options = {
        let state = ctx.state.lock().map_err(|_| poisoned())?;
        let s = state.get(&key);
        PlanOptions {
            scheduled_due: scheduled
                && s.and_then(|s| s.last_scheduled)
                    .is_none_or(|t| t.elapsed() >= ctx.config.scheduled_interval),
            forced: request.is_some() && s.and_then(|s| s.handled_request.clone()) != request,
            // unknown (first sight, restart) or passed back-off: retry failed tags
            retry_failed: s
                .and_then(|s| s.next_retry)
                .is_none_or(|t| Instant::now() >= t),
        }
    };

    let old = stream.status.clone().unwrap_or_default();
    let mut status = old.clone();
    status.docker_image_repository =
        tags::docker_image_repository(&stream, &ns, &name, ctx.config.internal_registry.as_deref());
    let platform = (
        ctx.config.node_platform.0.as_str(),
        ctx.config.node_platform.1.as_str(),
    );
    let plan = tags::plan_imports(&stream, &status, options, platform);
    let mut failed = Vec::new();
    let attempted = !plan.is_empty();
    if attempted {
        tracing::info!(tags = ?plan.iter().map(|r| r.tag.as_str()).collect::<Vec<_>>(), ?options, "importing");
        let creds = credentials(&ctx.client, &ns).await?;
        let results = futures::future::join_all(plan.into_iter().map(|req| {
            let importer = ctx.importer.clone();
            let creds = &creds;
            async move {
                let r = importer.import(&req, creds).await;
                (req, r)
            }
        }))
        .await;
        for (req, r) in &results {
            match r {
                Ok(i) => {
                    ctx.metrics.import("Imported");
                    tracing::info!(tag = %req.tag, digest = %i.digest, "imported");
                }
                Err(e) => {
                    ctx.metrics.import(e.category());
                    failed.push((req.tag.clone(), e.category(), e.to_string()));
                }
            }
        }
        let t = now();
        tags::apply_imports(&mut status, results, &t);
    }

    let mut others = BTreeMap::new();
    let refs = tags::referenced_streams(&stream, &ns, &name);
    if let Ok(mut r) = ctx.referrers.lock() {
        r.update(key.clone(), refs.iter().cloned().collect());
    }
    for (ons, oname) in &refs {
        let api: Api<ImageStream> = Api::namespaced(ctx.client.clone(), ons);
        if let Some(o) = api.get_opt(oname).await? {
            others.insert((ons.clone(), oname.clone()), o.status.unwrap_or_default());
        }
    }
    tags::resolve_references(&stream, &ns, &name, &mut status, &others, &now());
    crate::history::prune_empty(&mut status);

    let reference = stream.object_ref(&());
    for (tag, category, message) in &failed {
        publish(
            &ctx,
            &reference,
            EventType::Warning,
            "ImportFailed",
            format!("tag {tag}: {message} ({category})"),
        )
        .await;
    }

    if status != old {
        write_status(
            &ctx.client,
            &ns,
            &name,
            stream.metadata.resource_version.as_deref(),
            &status,
        )
        .await?;
        tracing::info!(
            took_ms = started.elapsed().as_millis() as u64,
            "status updated"
        );
    }

    // remember what was done, and when to come back
    let retry_in = {
        let mut state = ctx.state.lock().map_err(|_| poisoned())?;
        let s = state.entry(key.clone()).or_default();
        if options.scheduled_due {
            s.last_scheduled = Some(Instant::now());
        }
        if options.forced {
            s.handled_request = request;
        }
        // only a round that imported changes the back-off; reconciles caused by our own status
        // write (or by workloads) leave it alone
        if attempted && failed.is_empty() {
            s.failures = 0;
            s.next_retry = None;
        } else if attempted {
            let delay = outrigger_kit::error::backoff(s.failures);
            s.failures = s.failures.saturating_add(1);
            s.next_retry = Some(Instant::now() + delay);
        }
        s.next_retry.map(|t| {
            t.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(100))
        })
    };

    let mut updated = (*stream).clone();
    updated.status = Some(status);
    apply_triggers(&ctx, &updated, &key).await;

    let mut next = ctx.config.resync;
    if scheduled {
        next = next.min(ctx.config.scheduled_interval);
    }
    if let Some(d) = retry_in {
        next = next.min(d);
    }
    Ok(Action::requeue(next))
}

fn poisoned() -> Error {
    Error::StatePoisoned
}

/// Applies the whole status. `status.tags` is an atomic list, so the apply carries the
/// `resourceVersion` the status was computed from: a concurrent writer (a deployer's
/// `tagImages`, a registry push) makes it fail with a conflict and the stream is reconciled again
/// instead of its write being lost.
async fn write_status(
    client: &Client,
    ns: &str,
    name: &str,
    resource_version: Option<&str>,
    status: &ImageStreamStatus,
) -> Result<()> {
    let api: Api<ImageStream> = Api::namespaced(client.clone(), ns);
    let mut patch = json!({
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "status": status,
    });
    if let Some(rv) = resource_version {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// The streams a workload's annotation triggers on (empty when it has none or it is invalid).
pub fn trigger_streams<K: Resource>(obj: &K, kind: WorkloadKind) -> BTreeSet<StreamKey> {
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    let Some(a) = obj
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(TRIGGERS_ANNOTATION))
    else {
        return BTreeSet::new();
    };
    match parse_triggers(a, &ns, kind) {
        Ok(ts) => ts.into_iter().map(|t| (t.namespace, t.stream)).collect(),
        Err(e) => {
            tracing::warn!(kind = kind.as_str(), namespace = %ns, name = ?obj.meta().name, error = %e, "ignoring image triggers");
            BTreeSet::new()
        }
    }
}

/// The mapper of a workload watch: update the index and reconcile the streams it triggers on.
pub fn map_workload<K: Resource>(
    index: &Mutex<TriggerIndex>,
    obj: &K,
    kind: WorkloadKind,
) -> Vec<ObjectRef<ImageStream>> {
    let streams = trigger_streams(obj, kind);
    let key = (
        kind,
        obj.meta().namespace.clone().unwrap_or_default(),
        obj.meta().name.clone().unwrap_or_default(),
    );
    if let Ok(mut i) = index.lock() {
        i.update(key, streams.clone());
    }
    streams
        .into_iter()
        .map(|(ns, name)| ObjectRef::new(&name).within(&ns))
        .collect()
}

/// The mapper of the second ImageStream watch: a changed stream reconciles the streams whose
/// tags read from it (`ImageStreamTag`/`ImageStreamImage` in another stream).
pub fn map_referrers(
    referrers: &Mutex<ReferrerIndex>,
    stream: &ImageStream,
) -> Vec<ObjectRef<ImageStream>> {
    let key = (
        stream.metadata.namespace.clone().unwrap_or_default(),
        stream.metadata.name.clone().unwrap_or_default(),
    );
    referrers
        .lock()
        .map(|r| r.workloads(&key))
        .unwrap_or_default()
        .into_iter()
        .map(|(ns, name)| ObjectRef::new(&name).within(&ns))
        .collect()
}

/// Updates every workload that triggers on `stream`; failures are logged and evented per
/// workload, never failing the stream's reconcile.
async fn apply_triggers(ctx: &Context, stream: &ImageStream, key: &StreamKey) {
    let workloads = match ctx.index.lock() {
        Ok(i) => i.workloads(key),
        Err(_) => return,
    };
    for (kind, ns, name) in workloads {
        let r = match kind {
            WorkloadKind::Deployment => {
                trigger_workload::<Deployment>(ctx, stream, kind, &ns, &name).await
            }
            WorkloadKind::StatefulSet => {
                trigger_workload::<StatefulSet>(ctx, stream, kind, &ns, &name).await
            }
            WorkloadKind::DaemonSet => {
                trigger_workload::<DaemonSet>(ctx, stream, kind, &ns, &name).await
            }
            WorkloadKind::Job => trigger_workload::<Job>(ctx, stream, kind, &ns, &name).await,
            WorkloadKind::CronJob => {
                trigger_workload::<CronJob>(ctx, stream, kind, &ns, &name).await
            }
        };
        if let Err(e) = r {
            tracing::warn!(kind = kind.as_str(), %ns, %name, error = %e, category = e.category(), "image trigger failed");
        }
    }
}

async fn trigger_workload<K>(
    ctx: &Context,
    stream: &ImageStream,
    kind: WorkloadKind,
    ns: &str,
    name: &str,
) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let Some(obj) = api.get_opt(name).await? else {
        if let Ok(mut i) = ctx.index.lock() {
            i.update((kind, ns.to_owned(), name.to_owned()), BTreeSet::new());
        }
        return Ok(());
    };
    let Some(annotation) = obj
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(TRIGGERS_ANNOTATION))
    else {
        return Ok(());
    };
    let triggers = match parse_triggers(annotation, ns, kind) {
        Ok(t) => t,
        Err(e) => {
            publish(
                ctx,
                &obj.object_ref(&()),
                EventType::Warning,
                "InvalidImageTrigger",
                e.to_string(),
            )
            .await;
            return Err(e);
        }
    };
    // streams other than the one being reconciled are read fresh
    let stream_ns = stream.namespace().unwrap_or_default();
    let stream_name = stream.name_any();
    let mut streams: BTreeMap<StreamKey, Option<ImageStream>> = BTreeMap::new();
    streams.insert((stream_ns, stream_name), Some(stream.clone()));
    for Trigger {
        namespace, stream, ..
    } in triggers.iter().filter(|t| !t.paused)
    {
        let k = (namespace.clone(), stream.clone());
        if let std::collections::btree_map::Entry::Vacant(e) = streams.entry(k) {
            let other = Api::<ImageStream>::namespaced(ctx.client.clone(), namespace)
                .get_opt(stream)
                .await?;
            e.insert(other);
        }
    }
    let value = serde_json::to_value(&obj)?;
    let (ops, problems) = image_patch(&value, kind, &triggers, |ns, s, t| {
        streams
            .get(&(ns.to_owned(), s.to_owned()))
            .and_then(Option::as_ref)
            .and_then(|is| tags::resolve_pull_spec(is, t))
    });
    let reference = obj.object_ref(&());
    for p in &problems {
        publish(
            ctx,
            &reference,
            EventType::Warning,
            "InvalidImageTrigger",
            p.clone(),
        )
        .await;
    }
    if ops.is_empty() {
        return Ok(());
    }
    let images: Vec<String> = ops
        .iter()
        .filter(|o| o["op"] != "test")
        .filter_map(|o| o["value"].as_str().map(str::to_owned))
        .collect();
    let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(ops))?;
    api.patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await?;
    ctx.metrics.triggered.inc();
    tracing::info!(kind = kind.as_str(), %ns, %name, ?images, "image trigger applied");
    publish(
        ctx,
        &reference,
        EventType::Normal,
        "ImageTriggered",
        format!("image updated to {}", images.join(", ")),
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn sk(ns: &str, n: &str) -> StreamKey {
        (ns.to_owned(), n.to_owned())
    }

    /// A context whose client talks to a mock API server.
    fn mock_context() -> (
        Arc<Context>,
        tower_test::mock::Handle<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >,
    ) {
        let (service, handle) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        let client = Client::new(service, "default");
        let ctx = Context::new(
            client.clone(),
            Recorder::new(
                client,
                kube::runtime::events::Reporter {
                    controller: "test".into(),
                    instance: None,
                },
            ),
            Importer::new(1, Duration::from_secs(1)),
            Config {
                internal_registry: Some("reg.local:5000".into()),
                scheduled_interval: Duration::from_secs(900),
                node_platform: ("linux".into(), "amd64".into()),
                resync: Duration::from_secs(600),
            },
            Arc::default(),
            Arc::default(),
            ImportMetrics::default(),
        );
        (Arc::new(ctx), handle)
    }

    fn reference_stream(status: serde_json::Value) -> ImageStream {
        serde_json::from_value(json!({
            "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
            "metadata": {"name": "app", "namespace": "ns", "generation": 1, "resourceVersion": "1"},
            "spec": {"tags": [
                {"name": "ref", "reference": true, "from": {"kind": "DockerImage", "name": "quay.io/x/y:1"}},
                {"name": "alias", "from": {"kind": "ImageStreamTag", "name": "ref"}},
            ]},
            "status": status,
        }))
        .expect("stream")
    }

    /// Resolving tags needs no registry: one server-side apply of the status, with the field
    /// manager, carrying both tags and the repository.
    #[tokio::test]
    async fn reconcile_applies_status_once() {
        let (ctx, mut handle) = mock_context();
        let stream = Arc::new(reference_stream(json!({})));
        let server = tokio::spawn(async move {
            let (req, send) = handle.next_request().await.expect("a request");
            assert_eq!(req.method(), http::Method::PATCH);
            let uri = req.uri().to_string();
            assert!(
                uri.starts_with(
                    "/apis/image.openshift.io/v1/namespaces/ns/imagestreams/app/status?"
                ) && uri.contains("fieldManager=outrigger-imagestream")
                    && uri.contains("force=true"),
                "{uri}"
            );
            let body = req.into_body().collect_bytes().await.expect("body");
            let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(
                body["status"]["dockerImageRepository"],
                "reg.local:5000/ns/app"
            );
            let tags = body["status"]["tags"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let refs: Vec<(&str, &str)> = tags
                .iter()
                .map(|t| {
                    (
                        t["tag"].as_str().unwrap_or_default(),
                        t["items"][0]["dockerImageReference"]
                            .as_str()
                            .unwrap_or_default(),
                    )
                })
                .collect();
            assert_eq!(refs, [("ref", "quay.io/x/y:1"), ("alias", "quay.io/x/y:1")]);
            let mut answer = reference_stream(body["status"].clone());
            answer.metadata.resource_version = Some("2".into());
            send.send_response(
                http::Response::builder()
                    .body(kube::client::Body::from(
                        serde_json::to_vec(&answer).expect("json"),
                    ))
                    .expect("response"),
            );
        });
        let action = tokio::time::timeout(Duration::from_secs(1), reconcile(stream, ctx))
            .await
            .expect("reconcile finishes")
            .expect("reconcile succeeds");
        assert_eq!(action, Action::requeue(Duration::from_secs(600)));
        tokio::time::timeout(Duration::from_secs(1), server)
            .await
            .expect("server done")
            .expect("server assertions");
    }

    /// A stream whose status is already right causes no API call at all.
    #[tokio::test]
    async fn reconcile_is_silent_when_nothing_changed() {
        let (ctx, mut handle) = mock_context();
        let event = json!({"created": "2026-01-01T00:00:00Z", "dockerImageReference": "quay.io/x/y:1", "image": "", "generation": 1});
        let stream = Arc::new(reference_stream(json!({
            "dockerImageRepository": "reg.local:5000/ns/app",
            "tags": [{"tag": "ref", "items": [event.clone()]}, {"tag": "alias", "items": [event]}],
        })));
        tokio::time::timeout(Duration::from_secs(1), reconcile(stream, ctx))
            .await
            .expect("reconcile finishes")
            .expect("reconcile succeeds");
        let next = tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await;
        assert!(
            next.is_err() || next.is_ok_and(|r| r.is_none()),
            "unexpected API call"
        );
    }

    #[test]
    fn import_metrics_are_exposed() {
        let mut registry = Registry::with_prefix("outrigger");
        let m = ImportMetrics::register(&mut registry);
        m.import("Imported");
        m.import("NotFound");
        m.import("NotFound");
        m.triggered.inc();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(
            text.contains("outrigger_imagestream_imports_total{result=\"NotFound\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("outrigger_imagestream_imports_total{result=\"Imported\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("outrigger_imagestream_image_triggers_total 1"),
            "{text}"
        );
    }

    #[test]
    fn index_tracks_changes_and_removals() {
        let mut i = TriggerIndex::default();
        let mut r = ReferrerIndex::default();
        r.update(sk("ns", "app"), [sk("openshift", "ruby")].into());
        let ruby: ImageStream = serde_json::from_value(
            json!({"metadata": {"name": "ruby", "namespace": "openshift"}, "spec": {}}),
        )
        .expect("stream");
        assert_eq!(
            map_referrers(&Mutex::new(r), &ruby),
            vec![ObjectRef::<ImageStream>::new("app").within("ns")]
        );
        let w = (WorkloadKind::Deployment, "ns".to_owned(), "web".to_owned());
        i.update(w.clone(), [sk("ns", "app"), sk("base", "ruby")].into());
        assert_eq!(i.workloads(&sk("ns", "app")), vec![w.clone()]);
        assert_eq!(i.workloads(&sk("base", "ruby")), vec![w.clone()]);
        i.update(w.clone(), [sk("ns", "other")].into());
        assert!(i.workloads(&sk("ns", "app")).is_empty());
        assert_eq!(i.workloads(&sk("ns", "other")), vec![w.clone()]);
        i.update(w, BTreeSet::new());
        assert!(i.workloads(&sk("ns", "other")).is_empty());
        assert!(i.forward.is_empty() && i.reverse.is_empty());
    }

    #[test]
    fn mapper_reads_annotations() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "annotations": {TRIGGERS_ANNOTATION:
                r#"[{"from":{"kind":"ImageStreamTag","name":"app:latest"},"fieldPath":"spec.template.spec.containers[0].image"}]"#}},
        }))
        .expect("deployment");
        let index = Mutex::new(TriggerIndex::default());
        let refs = map_workload(&index, &d, WorkloadKind::Deployment);
        assert_eq!(
            refs,
            vec![ObjectRef::<ImageStream>::new("app").within("ns")]
        );
        let bad: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "annotations": {TRIGGERS_ANNOTATION: "[{}]"}},
        }))
        .expect("deployment");
        assert!(map_workload(&index, &bad, WorkloadKind::Deployment).is_empty());
        assert!(
            index
                .lock()
                .expect("lock")
                .workloads(&sk("ns", "app"))
                .is_empty()
        );
    }
}
