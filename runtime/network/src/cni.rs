//! Running CNI plugin chains for pods.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

use crate::Error;
use crate::cache::{self, CacheEntry};
use crate::config::{self, ConfigList, plugin_type};
use crate::netns::check_component;
use crate::result::{parse_result, plugin_error, result_ips};

/// Default time limit for one plugin invocation.
pub const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A port mapping passed to plugins with the `portMappings` capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Port on the host.
    #[serde(rename = "hostPort")]
    pub host_port: u16,
    /// Port in the pod.
    #[serde(rename = "containerPort")]
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp` (lower case; empty means tcp).
    pub protocol: String,
    /// Host IP to bind; empty means all.
    #[serde(rename = "hostIP", default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// What a pod's network setup or teardown needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodNetwork {
    /// Sandbox id (`CNI_CONTAINERID`).
    pub id: String,
    /// Network namespace file (`CNI_NETNS`).
    pub netns: PathBuf,
    /// Interface name in the pod (`CNI_IFNAME`); empty means `eth0`.
    pub ifname: String,
    /// Pod name (`K8S_POD_NAME`).
    pub pod_name: String,
    /// Pod namespace (`K8S_POD_NAMESPACE`).
    pub pod_namespace: String,
    /// Pod UID (`K8S_POD_UID`).
    pub pod_uid: String,
    /// Host port mappings (`portMappings` capability).
    pub port_mappings: Vec<PortMapping>,
}

impl PodNetwork {
    fn ifname(&self) -> &str {
        if self.ifname.is_empty() {
            "eth0"
        } else {
            &self.ifname
        }
    }

    /// The `CNI_ARGS` value for this pod.
    pub fn cni_args(&self) -> Result<String, Error> {
        let pairs = [
            ("K8S_POD_NAMESPACE", &self.pod_namespace),
            ("K8S_POD_NAME", &self.pod_name),
            ("K8S_POD_INFRA_CONTAINER_ID", &self.id),
            ("K8S_POD_UID", &self.pod_uid),
        ];
        let mut out = String::from("IgnoreUnknown=1");
        for (k, v) in pairs {
            if v.contains([';', '=', '\0']) {
                return Err(Error::InvalidName {
                    what: "CNI_ARGS value",
                    value: v.clone(),
                    reason: "must not contain ';', '=' or NUL",
                });
            }
            out.push(';');
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        Ok(out)
    }

    /// Capability arguments (`runtimeConfig` candidates) for this pod.
    pub fn runtime_args(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if !self.port_mappings.is_empty() {
            let pms: Vec<Value> = self
                .port_mappings
                .iter()
                .map(|p| {
                    let mut p = p.clone();
                    p.protocol = if p.protocol.is_empty() {
                        "tcp".into()
                    } else {
                        p.protocol.to_ascii_lowercase()
                    };
                    serde_json::to_value(p).unwrap_or(Value::Null)
                })
                .collect();
            m.insert("portMappings".into(), Value::Array(pms));
        }
        m
    }
}

/// Result of a successful setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetworkStatus {
    /// Pod IPs; the first is the primary, IPv4 before IPv6.
    pub ips: Vec<IpAddr>,
}

/// Parameters of one plugin invocation.
struct Invocation<'a> {
    command: &'static str,
    container_id: &'a str,
    netns: &'a str,
    ifname: &'a str,
    cni_args: &'a str,
}

/// Per-sandbox locks: setup and teardown of one pod never overlap.
type PodLocks = Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// CNI driver: config dir, plugin dirs and result cache. Cheap to clone and share (`Send +
/// Sync`); operations on different pods run concurrently, those on one pod one at a time.
#[derive(Debug, Clone)]
pub struct Cni {
    conf_dir: PathBuf,
    bin_dirs: Vec<PathBuf>,
    cache_dir: PathBuf,
    timeout: Duration,
    locks: PodLocks,
}

impl Cni {
    /// A driver reading configs from `conf_dir`, plugins from `bin_dirs` (also `CNI_PATH`) and
    /// keeping its result cache in `cache_dir`.
    pub fn new(conf_dir: &Path, bin_dirs: Vec<PathBuf>, cache_dir: &Path) -> Self {
        Cni {
            conf_dir: conf_dir.to_path_buf(),
            bin_dirs,
            cache_dir: cache_dir.to_path_buf(),
            timeout: DEFAULT_PLUGIN_TIMEOUT,
            locks: PodLocks::default(),
        }
    }

    fn pod_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_string()).or_default().clone()
    }

    /// Drops the map entry when nobody else holds or waits for it.
    fn pod_unlock(&self, id: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&lock) == 2 {
            map.remove(id);
        }
    }

    /// Sets the time limit for each plugin invocation.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The network config currently selected from the config dir.
    pub fn config(&self) -> Result<ConfigList, Error> {
        config::select_config(&self.conf_dir)
    }

    /// `NetworkReady`: Ok if a valid config exists and all its plugin binaries are present.
    pub fn status(&self) -> Result<(), Error> {
        let list = self.config()?;
        for p in &list.plugins {
            self.find_plugin(plugin_type(p))?;
        }
        Ok(())
    }

    fn find_plugin(&self, ty: &str) -> Result<PathBuf, Error> {
        self.bin_dirs
            .iter()
            .map(|d| d.join(ty))
            .find(|p| p.is_file())
            .ok_or_else(|| Error::PluginNotFound {
                plugin: ty.to_string(),
                dirs: self.bin_dirs.clone(),
            })
    }

    fn cni_path(&self) -> String {
        self.bin_dirs
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":")
    }

    /// Runs one plugin; returns its stdout on success.
    async fn exec(&self, ty: &str, inv: &Invocation<'_>, conf: &Value) -> Result<Vec<u8>, Error> {
        let bin = self.find_plugin(ty)?;
        let stdin_data = serde_json::to_vec(conf).map_err(|e| Error::InvalidConfig {
            path: bin.clone(),
            reason: format!("serialising plugin config: {e}"),
        })?;
        let mut cmd = tokio::process::Command::new(&bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("CNI_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("CNI_COMMAND", inv.command)
            .env("CNI_CONTAINERID", inv.container_id)
            .env("CNI_NETNS", inv.netns)
            .env("CNI_IFNAME", inv.ifname)
            .env("CNI_ARGS", inv.cni_args)
            .env("CNI_PATH", self.cni_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        tracing::debug!(
            plugin = ty,
            command = inv.command,
            id = inv.container_id,
            "running CNI plugin"
        );
        let mut child = spawn_retrying(&mut cmd, &bin).await?;
        let stdin = child.stdin.take();
        let write = async move {
            if let Some(mut s) = stdin {
                // A plugin that exits without reading gives EPIPE: its exit status tells more.
                let _ = s.write_all(&stdin_data).await;
                let _ = s.shutdown().await;
            }
        };
        let run = async { tokio::join!(write, child.wait_with_output()).1 };
        let output = match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(Error::io("waiting for CNI plugin", &bin, e)),
            Err(_) => {
                return Err(Error::Timeout {
                    plugin: ty.to_string(),
                    command: inv.command,
                    timeout: self.timeout,
                });
            }
        };
        if !output.status.success() {
            return Err(plugin_error(
                ty,
                inv.command,
                output.status,
                &output.stdout,
                &output.stderr,
            ));
        }
        Ok(output.stdout)
    }

    /// Brings `lo` up in the pod: the `loopback` plugin if present, else `ip link set lo up`.
    async fn loopback_up(
        &self,
        pod: &PodNetwork,
        netns: &str,
        cni_args: &str,
        version: &str,
    ) -> Result<(), Error> {
        if self.find_plugin("loopback").is_ok() {
            let conf = serde_json::json!({"cniVersion": version, "name": "cni-loopback", "type": "loopback"});
            let inv = Invocation {
                command: "ADD",
                container_id: &pod.id,
                netns,
                ifname: "lo",
                cni_args,
            };
            self.exec("loopback", &inv, &conf).await?;
            return Ok(());
        }
        let mut netarg = std::ffi::OsString::from("--net=");
        netarg.push(&pod.netns);
        let out = tokio::process::Command::new("nsenter")
            .arg(netarg)
            .args(["ip", "link", "set", "lo", "up"])
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| Error::io("running nsenter ip link set lo up in", &pod.netns, e))?;
        if !out.status.success() {
            return Err(plugin_error(
                "loopback (ip link)",
                "ADD",
                out.status,
                &out.stdout,
                &out.stderr,
            ));
        }
        Ok(())
    }

    /// Runs DEL for every plugin of `list` in reverse order; returns the first error after
    /// trying all of them.
    async fn del_list(
        &self,
        list: &ConfigList,
        prev: Option<&Value>,
        runtime_args: &Map<String, Value>,
        inv: &Invocation<'_>,
    ) -> Result<(), Error> {
        let mut first_err = None;
        for plugin in list.plugins.iter().rev() {
            let conf = config::plugin_conf(list, plugin, prev, runtime_args);
            if let Err(e) = self.exec(plugin_type(plugin), inv, &conf).await {
                tracing::warn!(error = %e, id = inv.container_id, "CNI DEL failed");
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The pod IPs cached by a successful [`Cni::setup`] of sandbox `id` (first network by
    /// name), e.g. to answer PodSandboxStatus after a daemon restart; `None` if not set up.
    pub fn cached_status(&self, id: &str) -> Result<Option<PodNetworkStatus>, Error> {
        let entries = cache::read_all(&self.cache_dir, id)?;
        match entries.first() {
            Some((_, entry)) => Ok(Some(PodNetworkStatus {
                ips: result_ips(&entry.network_name, &entry.result)?,
            })),
            None => Ok(None),
        }
    }

    /// Attaches the pod to the network: loopback, then every plugin of the config with ADD;
    /// caches config and result for [`Cni::teardown`]. On failure the plugins are DELeted
    /// again (best effort) and nothing is cached. If the pod is already set up on this
    /// network (cache entry present), returns the cached IPs without running plugins.
    pub async fn setup(&self, pod: &PodNetwork) -> Result<PodNetworkStatus, Error> {
        check_component("sandbox id", &pod.id)?;
        let lock = self.pod_lock(&pod.id);
        let guard = lock.lock().await;
        let res = self.setup_locked(pod).await;
        drop(guard);
        self.pod_unlock(&pod.id, lock);
        res
    }

    async fn setup_locked(&self, pod: &PodNetwork) -> Result<PodNetworkStatus, Error> {
        check_component("interface name", pod.ifname())?;
        let list = self.config()?;
        check_component("network name", &list.name)?;
        for (_, entry) in cache::read_all(&self.cache_dir, &pod.id)? {
            if entry.network_name == list.name {
                return Ok(PodNetworkStatus {
                    ips: result_ips(&entry.network_name, &entry.result)?,
                });
            }
        }
        let cni_args = pod.cni_args()?;
        let runtime_args = pod.runtime_args();
        let netns = pod.netns.to_string_lossy().into_owned();
        let inv = Invocation {
            command: "ADD",
            container_id: &pod.id,
            netns: &netns,
            ifname: pod.ifname(),
            cni_args: &cni_args,
        };
        self.loopback_up(pod, &netns, &cni_args, &list.cni_version)
            .await?;

        let mut prev: Option<Value> = None;
        let mut outcome: Result<Vec<IpAddr>, Error> = Ok(Vec::new());
        for plugin in &list.plugins {
            let ty = plugin_type(plugin);
            let conf = config::plugin_conf(&list, plugin, prev.as_ref(), &runtime_args);
            match self
                .exec(ty, &inv, &conf)
                .await
                .and_then(|out| parse_result(ty, &out))
            {
                Ok(result) => prev = Some(result),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        let result = prev.clone().unwrap_or(Value::Null);
        if outcome.is_ok() {
            let last = list.plugins.last().map(plugin_type).unwrap_or("");
            outcome = result_ips(last, &result).and_then(|ips| {
                if ips.is_empty() {
                    Err(Error::BadResult {
                        plugin: last.to_string(),
                        reason: "the final result has no IP address".into(),
                    })
                } else {
                    Ok(ips)
                }
            });
        }
        if outcome.is_ok() {
            let entry = CacheEntry {
                kind: CacheEntry::kind(),
                container_id: pod.id.clone(),
                network_name: list.name.clone(),
                if_name: pod.ifname().to_string(),
                netns: netns.clone(),
                cni_args: cni_args.clone(),
                config: list.to_value(),
                runtime_args: runtime_args.clone(),
                result: result.clone(),
            };
            if let Err(e) = cache::write(&self.cache_dir, &entry) {
                outcome = Err(e);
            }
        }
        match outcome {
            Ok(ips) => Ok(PodNetworkStatus { ips }),
            Err(e) => {
                let del = Invocation {
                    command: "DEL",
                    ..inv
                };
                if let Err(de) = self
                    .del_list(&list, prev.as_ref(), &runtime_args, &del)
                    .await
                {
                    tracing::warn!(error = %de, id = %pod.id, "cleanup after failed CNI ADD");
                }
                Err(e)
            }
        }
    }

    /// Detaches the pod: DEL in reverse order with the cached config, runtime args and
    /// `prevResult` (so it works after a daemon restart); without a cache entry, with the
    /// current config and `pod`. Idempotent; a missing netns is fine (`CNI_NETNS` is then
    /// empty). The cache entry is removed only when every DEL succeeded.
    pub async fn teardown(&self, pod: &PodNetwork) -> Result<(), Error> {
        check_component("sandbox id", &pod.id)?;
        let lock = self.pod_lock(&pod.id);
        let guard = lock.lock().await;
        let res = self.teardown_locked(pod).await;
        drop(guard);
        self.pod_unlock(&pod.id, lock);
        res
    }

    async fn teardown_locked(&self, pod: &PodNetwork) -> Result<(), Error> {
        let entries = cache::read_all(&self.cache_dir, &pod.id)?;
        let netns = if !pod.netns.as_os_str().is_empty() && pod.netns.exists() {
            pod.netns.to_string_lossy().into_owned()
        } else {
            String::new()
        };
        if entries.is_empty() {
            let list = match self.config() {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, id = %pod.id, "no cached or current CNI config; nothing to tear down");
                    return Ok(());
                }
            };
            let cni_args = pod.cni_args()?;
            let inv = Invocation {
                command: "DEL",
                container_id: &pod.id,
                netns: &netns,
                ifname: pod.ifname(),
                cni_args: &cni_args,
            };
            return self.del_list(&list, None, &pod.runtime_args(), &inv).await;
        }
        let mut first_err = None;
        for (path, entry) in entries {
            let res = async {
                let list = ConfigList::from_value(entry.config.clone(), &path)?;
                let inv = Invocation {
                    command: "DEL",
                    container_id: &pod.id,
                    netns: &netns,
                    ifname: &entry.if_name,
                    cni_args: &entry.cni_args,
                };
                let prev = (!entry.result.is_null()).then_some(&entry.result);
                self.del_list(&list, prev, &entry.runtime_args, &inv)
                    .await?;
                cache::remove(&self.cache_dir, &pod.id, &path)
            }
            .await;
            if let Err(e) = res {
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Spawns `cmd`, retrying briefly on ETXTBSY (a freshly written plugin file still open for
/// writing in a concurrently forked child).
async fn spawn_retrying(
    cmd: &mut tokio::process::Command,
    bin: &Path,
) -> Result<tokio::process::Child, Error> {
    let mut attempts = 0;
    loop {
        match cmd.spawn() {
            Ok(c) => return Ok(c),
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(Error::io("executing CNI plugin", bin, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const RESULT: &str = r#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"fd00::7/64","interface":0},{"address":"10.88.0.5/24","interface":0}]}"#;

    struct Env {
        dir: tempfile::TempDir,
    }

    impl Env {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            for d in ["bin", "conf", "cache", "log"] {
                std::fs::create_dir(dir.path().join(d)).unwrap();
            }
            std::fs::write(dir.path().join("netns"), b"").unwrap();
            Env { dir }
        }
        fn p(&self, s: &str) -> PathBuf {
            self.dir.path().join(s)
        }
        /// A fake plugin logging stdin and CNI_* env, then running `body`.
        fn plugin(&self, name: &str, body: &str) {
            let log = self.p("log");
            let script = format!(
                "#!/bin/sh\nn=$(ls {log} | wc -l)\nf={log}/$(printf %03d $n)-$CNI_COMMAND-{name}\n\
                 cat > $f.stdin\nenv | grep '^CNI_' | sort > $f.env\n{body}\n",
                log = log.display()
            );
            let path = self.p("bin").join(name);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        fn standard_plugins(&self) {
            let ok = format!("[ \"$CNI_COMMAND\" = ADD ] && echo '{RESULT}'\nexit 0");
            self.plugin(
                "loopback",
                "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"1.0.0\"}'\nexit 0",
            );
            self.plugin("bridge", &ok);
            self.plugin("portmap", &ok);
        }
        fn conflist(&self, plugins: &str) {
            std::fs::write(
                self.p("conf/10-test.conflist"),
                format!(r#"{{"cniVersion":"1.0.0","name":"testnet","plugins":[{plugins}]}}"#),
            )
            .unwrap();
        }
        fn cni(&self) -> Cni {
            Cni::new(
                &self.p("conf"),
                vec![self.p("nobin"), self.p("bin")],
                &self.p("cache"),
            )
        }
        fn pod(&self) -> PodNetwork {
            PodNetwork {
                id: "sb1".into(),
                netns: self.p("netns"),
                ifname: String::new(),
                pod_name: "web".into(),
                pod_namespace: "default".into(),
                pod_uid: "uid-1".into(),
                port_mappings: vec![PortMapping {
                    host_port: 8080,
                    container_port: 80,
                    protocol: "TCP".into(),
                    host_ip: String::new(),
                }],
            }
        }
        /// Logged invocations: (command-plugin, stdin JSON, env text), in order.
        fn calls(&self) -> Vec<(String, Value, String)> {
            let mut names: Vec<String> = std::fs::read_dir(self.p("log"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".stdin"))
                .collect();
            names.sort();
            names
                .into_iter()
                .map(|n| {
                    let base = n.trim_end_matches(".stdin").to_string();
                    let stdin = std::fs::read(self.p("log").join(&n)).unwrap();
                    let env =
                        std::fs::read_to_string(self.p("log").join(format!("{base}.env"))).unwrap();
                    let label = base.split_once('-').unwrap().1.to_string();
                    (label, serde_json::from_slice(&stdin).unwrap(), env)
                })
                .collect()
        }
        fn clear_log(&self) {
            std::fs::remove_dir_all(self.p("log")).unwrap();
            std::fs::create_dir(self.p("log")).unwrap();
        }
    }

    const PLUGINS: &str = r#"{"type":"bridge","bridge":"b0"},{"type":"portmap","capabilities":{"portMappings":true}}"#;

    #[test]
    fn cni_args_and_runtime_args() {
        let env = Env::new();
        let pod = env.pod();
        assert_eq!(
            pod.cni_args().unwrap(),
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID=uid-1"
        );
        assert_eq!(
            Value::Object(pod.runtime_args()),
            serde_json::json!({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]})
        );
        let mut bad = pod.clone();
        bad.pod_name = "a;b".into();
        assert!(matches!(bad.cni_args(), Err(Error::InvalidName { .. })));
        bad.port_mappings.clear();
        assert!(bad.runtime_args().is_empty());
    }

    #[test]
    fn status_checks_config_and_plugins() {
        let env = Env::new();
        assert!(matches!(env.cni().status(), Err(Error::NoConfig { .. })));
        env.conflist(PLUGINS);
        let err = env.cni().status().unwrap_err();
        assert!(
            matches!(&err, Error::PluginNotFound { plugin, .. } if plugin == "bridge"),
            "{err}"
        );
        env.standard_plugins();
        env.cni().status().unwrap();
    }

    #[tokio::test]
    async fn setup_runs_chain_then_teardown_uses_cache() {
        let env = Env::new();
        env.standard_plugins();
        env.conflist(PLUGINS);
        let pod = env.pod();
        let status = env.cni().setup(&pod).await.unwrap();
        assert_eq!(
            status.ips,
            vec![
                "10.88.0.5".parse::<IpAddr>().unwrap(),
                "fd00::7".parse().unwrap()
            ]
        );
        let calls = env.calls();
        let labels: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(labels, ["ADD-loopback", "ADD-bridge", "ADD-portmap"]);
        assert!(calls[0].2.contains("CNI_IFNAME=lo\n"), "{}", calls[0].2);
        assert_eq!(calls[0].1["type"], "loopback");
        let (_, bridge, bridge_env) = &calls[1];
        assert_eq!(bridge["name"], "testnet");
        assert_eq!(bridge["cniVersion"], "1.0.0");
        assert_eq!(bridge["bridge"], "b0");
        assert!(bridge.get("prevResult").is_none());
        assert!(bridge.get("runtimeConfig").is_none());
        for want in [
            "CNI_COMMAND=ADD\n".to_string(),
            "CNI_CONTAINERID=sb1\n".into(),
            "CNI_IFNAME=eth0\n".into(),
            format!("CNI_NETNS={}\n", env.p("netns").display()),
            format!("CNI_PATH={}:{}\n", env.p("nobin").display(), env.p("bin").display()),
            "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID=uid-1\n".into(),
        ] {
            assert!(bridge_env.contains(&want), "{want} not in {bridge_env}");
        }
        let (_, portmap, _) = &calls[2];
        assert_eq!(
            portmap["prevResult"],
            serde_json::from_str::<Value>(RESULT).unwrap()
        );
        assert_eq!(
            portmap["runtimeConfig"]["portMappings"][0]["hostPort"],
            8080
        );
        assert!(env.p("cache/sb1/testnet.json").is_file());
        assert_eq!(
            env.cni().cached_status("sb1").unwrap(),
            Some(status.clone())
        );
        assert_eq!(env.cni().cached_status("other").unwrap(), None);

        // A repeated setup (e.g. a retried RunPodSandbox) returns the cached IPs, runs nothing.
        env.clear_log();
        assert_eq!(env.cni().setup(&pod).await.unwrap(), status);
        assert!(env.calls().is_empty());

        // "Restart": a new driver, the config gone, the netns gone, pod info lost.
        env.clear_log();
        std::fs::remove_file(env.p("conf/10-test.conflist")).unwrap();
        std::fs::remove_file(env.p("netns")).unwrap();
        let bare = PodNetwork {
            id: "sb1".into(),
            netns: env.p("netns"),
            ..Default::default()
        };
        env.cni().teardown(&bare).await.unwrap();
        let calls = env.calls();
        let labels: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(labels, ["DEL-portmap", "DEL-bridge"]);
        let (_, portmap, penv) = &calls[0];
        assert_eq!(
            portmap["prevResult"],
            serde_json::from_str::<Value>(RESULT).unwrap()
        );
        assert_eq!(
            portmap["runtimeConfig"]["portMappings"][0]["containerPort"],
            80
        );
        assert!(penv.contains("CNI_NETNS=\n"), "{penv}");
        assert!(
            penv.contains("K8S_POD_NAME=web"),
            "cached CNI_ARGS used: {penv}"
        );
        assert!(!env.p("cache/sb1").exists());

        // Second teardown: no cache, no config: nothing to do, still Ok.
        env.clear_log();
        env.cni().teardown(&bare).await.unwrap();
        assert!(env.calls().is_empty());
    }

    #[tokio::test]
    async fn teardown_without_cache_uses_current_config() {
        let env = Env::new();
        env.standard_plugins();
        env.conflist(PLUGINS);
        env.cni().teardown(&env.pod()).await.unwrap();
        let calls = env.calls();
        let labels: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(labels, ["DEL-portmap", "DEL-bridge"]);
        assert!(calls[0].1.get("prevResult").is_none());
        assert_eq!(
            calls[0].1["runtimeConfig"]["portMappings"][0]["hostPort"],
            8080
        );
    }

    #[tokio::test]
    async fn failing_plugin_is_named_and_rolled_back() {
        let env = Env::new();
        env.standard_plugins();
        env.plugin(
            "portmap",
            "[ \"$CNI_COMMAND\" = ADD ] || exit 0\necho '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"iptables failed\",\"details\":\"chain busy\"}'\nexit 1",
        );
        env.conflist(PLUGINS);
        let err = env.cni().setup(&env.pod()).await.unwrap_err();
        match &err {
            Error::Plugin {
                plugin,
                command,
                code,
                msg,
                details,
            } => {
                assert_eq!((plugin.as_str(), *command, *code), ("portmap", "ADD", 11));
                assert_eq!(msg, "iptables failed");
                assert_eq!(details, "chain busy");
            }
            other => panic!("{other}"),
        }
        let labels: Vec<String> = env.calls().into_iter().map(|c| c.0).collect();
        assert_eq!(
            labels,
            [
                "ADD-loopback",
                "ADD-bridge",
                "ADD-portmap",
                "DEL-portmap",
                "DEL-bridge"
            ]
        );
        assert!(!env.p("cache/sb1").exists());
    }

    #[tokio::test]
    async fn bad_result_and_timeout() {
        let env = Env::new();
        env.standard_plugins();
        env.plugin(
            "bridge",
            "[ \"$CNI_COMMAND\" = ADD ] && echo 'garbage'\nexit 0",
        );
        env.conflist(r#"{"type":"bridge"}"#);
        let err = env.cni().setup(&env.pod()).await.unwrap_err();
        assert!(
            matches!(&err, Error::BadResult { plugin, .. } if plugin == "bridge"),
            "{err}"
        );

        env.plugin(
            "bridge",
            "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"1.0.0\"}'\nexit 0",
        );
        let err = env.cni().setup(&env.pod()).await.unwrap_err();
        assert!(err.to_string().contains("no IP address"), "{err}");

        env.plugin(
            "bridge",
            "[ \"$CNI_COMMAND\" = ADD ] && exec sleep 30\nexit 0",
        );
        let start = std::time::Instant::now();
        let err = env
            .cni()
            .with_timeout(Duration::from_millis(500))
            .setup(&env.pod())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Timeout { ref plugin, .. } if plugin == "bridge"),
            "{err}"
        );
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn single_conf_file_and_bad_ids() {
        let env = Env::new();
        env.standard_plugins();
        std::fs::write(
            env.p("conf/99.conf"),
            r#"{"cniVersion":"0.4.0","name":"single","type":"bridge"}"#,
        )
        .unwrap();
        let status = env.cni().setup(&env.pod()).await.unwrap();
        assert_eq!(status.ips.len(), 2);
        assert!(env.p("cache/sb1/single.json").is_file());
        let calls = env.calls();
        assert_eq!(calls[1].1["cniVersion"], "0.4.0");
        let mut bad = env.pod();
        bad.id = "../etc".into();
        assert!(matches!(
            env.cni().setup(&bad).await,
            Err(Error::InvalidName { .. })
        ));
        assert!(matches!(
            env.cni().teardown(&bad).await,
            Err(Error::InvalidName { .. })
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_pod_operations_are_serialised() {
        let env = Env::new();
        env.standard_plugins();
        // A slow bridge: without the per-pod lock the teardown would run in the middle.
        env.plugin(
            "bridge",
            &format!("[ \"$CNI_COMMAND\" = ADD ] && sleep 0.5 && echo '{RESULT}'\nexit 0"),
        );
        env.conflist(PLUGINS);
        let cni = env.cni();
        let pod = env.pod();
        let setup = {
            let (cni, pod) = (cni.clone(), pod.clone());
            tokio::spawn(async move { cni.setup(&pod).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        cni.teardown(&pod).await.unwrap();
        setup.await.unwrap().unwrap();
        let labels: Vec<String> = env.calls().into_iter().map(|c| c.0).collect();
        assert_eq!(
            labels,
            [
                "ADD-loopback",
                "ADD-bridge",
                "ADD-portmap",
                "DEL-portmap",
                "DEL-bridge"
            ]
        );
        assert!(!env.p("cache/sb1").exists());
        assert!(cni.locks.lock().unwrap().is_empty());
    }

    #[test]
    fn cni_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Cni>();
    }
}
