//! End-to-end test harness for the local cluster (`hack/cluster up`).
//!
//! Every test goes through [`run`], which
//! - connects with the admin kubeconfig (`$KUBECONFIG`, else `hack/cluster kubeconfig`),
//! - skips with a plain message when no cluster answers — unless `OUTRIGGER_E2E_REQUIRED=1`
//!   (set by `.ci/run`), in which case an unreachable cluster fails the test,
//! - creates a fresh namespace, runs the test body in it, deletes the namespace on success and
//!   keeps it on failure after printing its events and pod logs.
//!
//! Helpers: [`Env::apply_yaml`] (server-side apply through discovery and `DynamicObject`),
//! [`wait_for`] (poll a condition with a timeout), [`Env::kubectl`] (the upstream CLI, for the
//! tests that are about kubectl itself).

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{Discovery, Scope};
use kube::{Client, Config, ResourceExt as _};

/// Environment variable that turns "no cluster" from a skip into a failure.
pub const REQUIRED_ENV: &str = "OUTRIGGER_E2E_REQUIRED";
/// Field manager used for every server-side apply from the tests.
pub const FIELD_MANAGER: &str = "outrigger-e2e";

/// The project root (the workspace root above `e2e/`).
pub fn project_root() -> PathBuf {
    // cargo sets CARGO_MANIFEST_DIR for test processes too; prefer it over the compile-time
    // value so a test binary built from another checkout still finds this one.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// `../shared/corpus` relative to the project root.
pub fn corpus_dir() -> PathBuf {
    project_root().join("..").join("shared").join("corpus")
}

/// Where the admin kubeconfig is: `$KUBECONFIG`, else what `hack/cluster kubeconfig` prints.
pub fn kubeconfig_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("KUBECONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let script = project_root().join("hack").join("cluster");
    let out = Command::new(&script)
        .arg("kubeconfig")
        .output()
        .with_context(|| format!("running {} kubeconfig", script.display()))?;
    if !out.status.success() {
        bail!(
            "`hack/cluster kubeconfig` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The value of a `name: value` line of `hack/cluster status` (`registry`, `runtime`, ...).
pub fn cluster_status_field(name: &str) -> Result<String> {
    let out = Command::new(project_root().join("hack").join("cluster"))
        .arg("status")
        .output()
        .context("running hack/cluster status")?;
    let prefix = format!("{name}: ");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(|r| r.trim().to_owned()))
        .ok_or_else(|| anyhow!("`hack/cluster status` printed no {name} line"))
}

/// The registry's one address for the node and for pods: `$OUTRIGGER_REGISTRY`, else the
/// `registry:` line of `hack/cluster status`.
pub fn registry_address() -> Result<String> {
    if let Ok(r) = std::env::var("OUTRIGGER_REGISTRY") {
        return Ok(r);
    }
    cluster_status_field("registry")
}

fn required() -> bool {
    std::env::var(REQUIRED_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

async fn connect() -> Result<(Client, PathBuf)> {
    let path = kubeconfig_path()?;
    let kc = Kubeconfig::read_from(&path).with_context(|| format!("reading {}", path.display()))?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    let client = Client::try_from(config)?;
    tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
        .await
        .map_err(|_| anyhow!("API server did not answer within 10s"))??;
    Ok((client, path))
}

/// Connects to the cluster. `Ok(None)` means "skip": no cluster, and not required.
pub async fn cluster(test: &str) -> Result<Option<(Client, PathBuf)>> {
    match connect().await {
        Ok(c) => Ok(Some(c)),
        Err(e) if required() => Err(e.context(format!(
            "e2e test {test}: the cluster is not reachable and {REQUIRED_ENV}=1"
        ))),
        Err(e) => {
            // Written to the real stderr (not eprintln!, which the test harness captures), so
            // the skip shows in every `cargo test` run.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED e2e test {test}: no reachable cluster ({e:#}). Start one with `hack/cluster up`; set {REQUIRED_ENV}=1 to make this a failure."
            );
            Ok(None)
        }
    }
}

/// One test's view of the cluster: a client and a namespace of its own.
#[derive(Clone)]
pub struct Env {
    pub client: Client,
    pub namespace: String,
    pub kubeconfig: PathBuf,
}

/// Runs `body` in a fresh namespace `e2e-<name>-<suffix>`; see the crate docs.
///
/// Panics (failing the test) when the body fails or panics, after printing diagnostics.
pub async fn run<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    if let Err(e) = run_inner(name, body).await {
        panic!("e2e test {name} failed: {e:#}");
    }
}

async fn run_inner<F, Fut>(name: &str, body: F) -> Result<()>
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let Some((client, kubeconfig)) = cluster(name).await? else {
        return Ok(());
    };
    let namespace = create_namespace(&client, name).await?;
    eprintln!("e2e test {name}: namespace {namespace}");
    let env = Env {
        client,
        namespace,
        kubeconfig,
    };
    let started = Instant::now();
    let outcome = tokio::spawn(body(env.clone())).await;
    let result = match outcome {
        Ok(r) => r,
        Err(join) if join.is_panic() => Err(anyhow!(
            "test body panicked: {}",
            panic_message(join.into_panic())
        )),
        Err(join) => Err(anyhow!("test body was cancelled: {join}")),
    };
    match result {
        Ok(()) => {
            eprintln!(
                "e2e test {name}: passed in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            env.delete_namespace().await;
            Ok(())
        }
        Err(e) => {
            eprintln!(
                "e2e test {name}: FAILED after {:.1}s; keeping namespace {} for inspection",
                started.elapsed().as_secs_f64(),
                env.namespace
            );
            env.dump_diagnostics().await;
            Err(e)
        }
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic)".to_owned()
    }
}

fn namespace_name(test: &str) -> String {
    let clean: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_matches('-');
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    let suffix = format!("{:05x}", nanos & 0xfffff);
    let max = 63 - "e2e-".len() - 1 - suffix.len();
    format!(
        "e2e-{}-{suffix}",
        &clean[..clean.len().min(max)].trim_end_matches('-')
    )
}

async fn create_namespace(client: &Client, test: &str) -> Result<String> {
    let name = namespace_name(test);
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": name, "labels": { "outrigger.io/e2e": "true" } },
    }))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    // The service account controller fills in "default" shortly after; pods need it.
    let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), &name);
    wait_for("service account default", Duration::from_secs(30), || {
        let sa = sa.clone();
        async move { Ok(sa.get_opt("default").await?.is_some()) }
    })
    .await?;
    Ok(name)
}

/// Polls `check` every 500 ms until it returns `Ok(true)`; fails after `timeout` (with the last
/// error, if the check itself kept failing).
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let start = Instant::now();
    let mut last_err = None;
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        if start.elapsed() >= timeout {
            return Err(match last_err {
                Some(e) => e.context(format!("timed out after {timeout:?} waiting for {what}")),
                None => anyhow!("timed out after {timeout:?} waiting for {what}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Splits a YAML (or JSON) stream into documents, dropping empty ones.
pub fn parse_documents(text: &str) -> Result<Vec<serde_json::Value>> {
    let mut docs = Vec::new();
    for de in serde_norway::Deserializer::from_str(text) {
        let value: serde_json::Value = serde::Deserialize::deserialize(de)?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

impl Env {
    /// Typed API in the test namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Server-side applies every object of a YAML/JSON stream. Namespaced objects without a
    /// namespace go to the test namespace. Returns the applied objects.
    pub async fn apply_yaml(&self, yaml: &str) -> Result<Vec<DynamicObject>> {
        self.apply_documents(parse_documents(yaml)?, false).await
    }

    /// Like [`Env::apply_yaml`] for a file.
    pub async fn apply_file(&self, path: &Path) -> Result<Vec<DynamicObject>> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        self.apply_yaml(&text)
            .await
            .with_context(|| format!("applying {}", path.display()))
    }

    /// Server-side applies documents (`dry_run`: server-side dry run only).
    pub async fn apply_documents(
        &self,
        docs: Vec<serde_json::Value>,
        dry_run: bool,
    ) -> Result<Vec<DynamicObject>> {
        let discovery = Discovery::new(self.client.clone()).run().await?;
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = dry_run;
        let mut applied = Vec::new();
        for doc in docs {
            let obj: DynamicObject = serde_json::from_value(doc)?;
            let tm = obj
                .types
                .clone()
                .ok_or_else(|| anyhow!("object without apiVersion/kind"))?;
            let gvk = kube::api::GroupVersionKind::try_from(&tm)?;
            let (ar, caps) = discovery.resolve_gvk(&gvk).ok_or_else(|| {
                anyhow!("the cluster does not serve {}/{}", tm.api_version, tm.kind)
            })?;
            let name = obj.name_any();
            let api: Api<DynamicObject> = match caps.scope {
                Scope::Namespaced => {
                    let ns = obj.namespace().unwrap_or_else(|| self.namespace.clone());
                    Api::namespaced_with(self.client.clone(), &ns, &ar)
                }
                Scope::Cluster => Api::all_with(self.client.clone(), &ar),
            };
            let out = api
                .patch(&name, &params, &Patch::Apply(&obj))
                .await
                .with_context(|| format!("applying {} {name}", tm.kind))?;
            applied.push(out);
        }
        Ok(applied)
    }

    /// Waits until the object `kind`/`name` (`api_version` as in YAML, e.g.
    /// `apps.openshift.io/v1`) in the test namespace (or cluster scope) has
    /// `status.conditions[type == cond_type].status == "True"`. Works for any kind, CRDs included.
    pub async fn wait_condition(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        cond_type: &str,
        timeout: Duration,
    ) -> Result<DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = kube::discovery::pinned_kind(&self.client, &gvk).await?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(self.client.clone(), &self.namespace, &ar),
            Scope::Cluster => Api::all_with(self.client.clone(), &ar),
        };
        wait_for(
            &format!("{kind} {name} condition {cond_type}=True"),
            timeout,
            || {
                let api = api.clone();
                async move {
                    let obj = api.get(name).await?;
                    Ok(obj.data["status"]["conditions"]
                        .as_array()
                        .is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == cond_type && c["status"] == "True")
                        }))
                }
            },
        )
        .await?;
        Ok(api.get(name).await?)
    }

    /// Waits until the pod reaches phase `Succeeded` (fails early on `Failed`).
    pub async fn wait_pod_succeeded(&self, name: &str, timeout: Duration) -> Result<()> {
        let pods: Api<Pod> = self.api();
        wait_for(&format!("pod {name} to succeed"), timeout, || {
            let pods = pods.clone();
            async move {
                let pod = pods.get(name).await?;
                match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
                    Some("Succeeded") => Ok(true),
                    Some("Failed") => Err(anyhow!("pod {name} failed")),
                    _ => Ok(false),
                }
            }
        })
        .await
    }

    /// Waits until the pod is Running and Ready.
    pub async fn wait_pod_ready(&self, name: &str, timeout: Duration) -> Result<()> {
        let pods: Api<Pod> = self.api();
        wait_for(&format!("pod {name} to be ready"), timeout, || {
            let pods = pods.clone();
            async move {
                let pod = pods.get(name).await?;
                Ok(pod
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True"))
            }
        })
        .await
    }

    /// Waits until the pod's first container has started (running or already terminated).
    pub async fn wait_pod_started(&self, name: &str, timeout: Duration) -> Result<()> {
        let pods: Api<Pod> = self.api();
        wait_for(&format!("pod {name} to start"), timeout, || {
            let pods = pods.clone();
            async move {
                let pod = pods.get(name).await?;
                Ok(pod
                    .status
                    .and_then(|s| s.container_statuses)
                    .unwrap_or_default()
                    .first()
                    .and_then(|c| c.state.as_ref())
                    .is_some_and(|s| s.running.is_some() || s.terminated.is_some()))
            }
        })
        .await
    }

    /// Reads a container log through the API.
    pub async fn pod_logs(&self, name: &str) -> Result<String> {
        Ok(self.api::<Pod>().logs(name, &LogParams::default()).await?)
    }

    /// Runs the upstream kubectl (from ~/.cache/outrigger/bin if present) against this cluster
    /// and namespace; fails unless it exits 0. Returns stdout.
    pub fn kubectl(&self, args: &[&str]) -> Result<String> {
        let out = self.kubectl_output(args)?;
        if !out.status.success() {
            bail!(
                "kubectl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// kubectl with its raw output (exit status not checked).
    pub fn kubectl_output(&self, args: &[&str]) -> Result<Output> {
        self.kubectl_command(args)
            .output()
            .context("running kubectl")
    }

    /// A kubectl command ready to spawn (for long-running ones like `port-forward`).
    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl_binary());
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("-n")
            .arg(&self.namespace)
            .args(args);
        cmd
    }

    async fn delete_namespace(&self) {
        let api = Api::<Namespace>::all(self.client.clone());
        if let Err(e) = api
            .delete(&self.namespace, &DeleteParams::background())
            .await
        {
            eprintln!("warning: deleting namespace {}: {e}", self.namespace);
        }
    }

    /// Prints the namespace's events and every container's log.
    pub async fn dump_diagnostics(&self) {
        eprintln!("---- events in {} ----", self.namespace);
        match self.api::<Event>().list(&ListParams::default()).await {
            Ok(list) => {
                let mut events = list.items;
                events.sort_by_key(|e| {
                    e.last_timestamp
                        .clone()
                        .or(e.first_timestamp.clone())
                        .map(|t| t.0)
                });
                for e in events {
                    eprintln!(
                        "{} {}/{} {}: {}",
                        e.type_.unwrap_or_default(),
                        e.involved_object.kind.unwrap_or_default(),
                        e.involved_object.name.unwrap_or_default(),
                        e.reason.unwrap_or_default(),
                        e.message.unwrap_or_default().trim()
                    );
                }
            }
            Err(e) => eprintln!("(listing events failed: {e})"),
        }
        let pods = match self.api::<Pod>().list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => {
                eprintln!("(listing pods failed: {e})");
                return;
            }
        };
        for pod in pods {
            let name = pod.name_any();
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            let containers: Vec<String> = pod
                .spec
                .as_ref()
                .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
                .unwrap_or_default();
            for c in containers {
                eprintln!("---- pod {name} ({phase}) container {c} ----");
                let lp = LogParams {
                    container: Some(c.clone()),
                    tail_lines: Some(200),
                    ..LogParams::default()
                };
                match self.api::<Pod>().logs(&name, &lp).await {
                    Ok(log) => eprintln!("{}", log.trim_end()),
                    Err(e) => eprintln!("(no log: {e})"),
                }
            }
        }
    }
}

/// The kubectl to use: `$KUBECTL`, else the one hack/build-tools built, else PATH.
pub fn kubectl_binary() -> PathBuf {
    if let Some(k) = std::env::var_os("KUBECTL") {
        return PathBuf::from(k);
    }
    let cache = std::env::var_os("OUTRIGGER_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/outrigger")));
    if let Some(c) = cache {
        let k = c.join("bin/kubectl");
        if k.is_file() {
            return k;
        }
    }
    PathBuf::from("kubectl")
}

/// A pod spec for a run-to-completion busybox command.
pub fn busybox_pod(name: &str, script: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main",
                "image": BUSYBOX_IMAGE,
                "command": ["/bin/sh", "-c", script],
            }],
        },
    })
}

/// Images the local registry serves (pushed by `hack/cluster up`).
pub const BUSYBOX_IMAGE: &str = "docker.io/library/busybox:1.36";
pub const HELLO_IMAGE: &str = "docker.io/openshift/hello-openshift:latest";

/// The `crane` binary: `$CRANE`, else `~/.cache/outrigger/bin/crane` (built by
/// `hack/build-tools`), else `crane` on PATH.
pub fn crane_binary() -> PathBuf {
    if let Some(c) = std::env::var_os("CRANE") {
        return PathBuf::from(c);
    }
    let cache = std::env::var_os("OUTRIGGER_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/outrigger")));
    match cache.map(|c| c.join("bin/crane")) {
        Some(k) if k.is_file() => k,
        _ => PathBuf::from("crane"),
    }
}

/// Runs `crane --insecure ARGS` (the local registry speaks plain HTTP); returns trimmed stdout.
pub fn crane(args: &[&str]) -> Result<String> {
    let out = Command::new(crane_binary())
        .arg("--insecure")
        .args(args)
        .output()
        .context("running crane")?;
    if !out.status.success() {
        bail!(
            "crane {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Pushes a fresh image (busybox plus a label making its digest unique) to `target`; returns
/// its digest.
pub fn push_unique(registry: &str, target: &str, marker: &str) -> Result<String> {
    crane(&["copy", &format!("{registry}/{BUSYBOX_IMAGE}"), target])?;
    crane(&[
        "mutate",
        "--label",
        &format!("outrigger.e2e/marker={marker}"),
        "-t",
        target,
        target,
    ])?;
    crane(&["digest", target])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_valid_dns_labels() {
        let n = namespace_name("Some_Very/long test name that goes on and on and on and on and on");
        assert!(n.len() <= 63, "{n}");
        assert!(n.starts_with("e2e-some-very-long"), "{n}");
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{n}"
        );
    }

    #[test]
    fn documents_split_and_skip_empty() -> Result<()> {
        let docs = parse_documents("---\na: 1\n---\n---\nb: [2]\n")?;
        assert_eq!(docs.len(), 2);
        let json = parse_documents(r#"{"kind": "List", "items": []}"#)?;
        assert_eq!(json[0]["kind"], "List");
        Ok(())
    }
}
