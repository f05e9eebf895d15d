//! The daemon's records of pod sandboxes and containers: in memory for fast List/Status calls,
//! and on disk (one directory per object) so a restarted daemon finds every pod again.
//!
//! Each record is two files: the CRI config as protobuf bytes (`config.pb`, exactly what the
//! kubelet sent) and our own state as JSON (`state.json`), both written atomically.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use outrigger_cri_proto::{ContainerConfig, PodSandboxConfig};
use prost::Message;
use serde::{Deserialize, Serialize};

/// Sandbox life cycle (CRI `PodSandboxState`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxState {
    Ready,
    NotReady,
}

/// What we keep about a pod sandbox besides its config.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SandboxData {
    pub id: String,
    pub state: SandboxState,
    pub created_at: i64,
    /// Network namespace file (`None`: host network).
    pub netns: Option<PathBuf>,
    /// Pod IPs from CNI, primary first.
    pub ips: Vec<String>,
    /// The pause process holding the pod's IPC/UTS/PID namespaces, and its start time
    /// (`/proc/<pid>/stat` field 22) so a recycled pid is never mistaken for it.
    pub pause_pid: i32,
    pub pause_start_time: u64,
    /// Cgroup of the whole pod (the kubelet's `cgroup_parent`, or ours when none was given).
    pub pod_cgroup: String,
    /// Whether `pod_cgroup` was created by us (then we delete it too).
    pub owns_pod_cgroup: bool,
    pub runtime_handler: String,
    /// Whether a tmpfs is mounted at `<dir>/shm`.
    pub shm_mounted: bool,
}

/// Container life cycle (CRI `ContainerState`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Exited,
    Unknown,
}

/// What we keep about a container besides its config.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ContainerData {
    pub id: String,
    pub sandbox_id: String,
    pub state: ContainerState,
    pub created_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub exit_code: i32,
    pub reason: String,
    pub message: String,
    /// The image as the kubelet named it, and the image ID it resolved to.
    pub image_name: String,
    pub image_id: String,
    /// A repo digest of the image (CRI `image_ref`), or the ID when it has none.
    pub image_ref: String,
    pub pid: i32,
    pub pid_start_time: u64,
    pub monitor_pid: i32,
    #[serde(default)]
    pub monitor_start_time: u64,
    pub cgroup: String,
    pub log_path: String,
    pub stop_signal: i32,
    /// The resources last applied (UpdateContainerResources changes them).
    pub resources: Option<Vec<u8>>,
    pub uid: i64,
    pub gid: i64,
    pub supplemental_groups: Vec<i64>,
}

/// A sandbox: config (immutable) plus data behind a lock that is never held across `.await`.
pub struct Sandbox {
    pub dir: PathBuf,
    pub config: PodSandboxConfig,
    pub data: Mutex<SandboxData>,
    /// Serialises operations (stop, remove, ...) on this sandbox.
    pub op: tokio::sync::Mutex<()>,
}

/// A container: see [`Sandbox`].
pub struct Container {
    pub dir: PathBuf,
    pub config: ContainerConfig,
    pub data: Mutex<ContainerData>,
    pub op: tokio::sync::Mutex<()>,
}

impl Sandbox {
    pub fn snapshot(&self) -> SandboxData {
        lock(&self.data).clone()
    }
    pub fn update(&self, f: impl FnOnce(&mut SandboxData)) -> std::io::Result<()> {
        let mut d = lock(&self.data);
        f(&mut d);
        write_json(&self.dir.join("state.json"), &*d)
    }
}

impl Container {
    pub fn snapshot(&self) -> ContainerData {
        lock(&self.data).clone()
    }
    pub fn update(&self, f: impl FnOnce(&mut ContainerData)) -> std::io::Result<()> {
        let mut d = lock(&self.data);
        f(&mut d);
        write_json(&self.dir.join("state.json"), &*d)
    }
}

/// Locks a std mutex, recovering the data if a thread panicked while holding it.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// All records, indexed by ID, plus the name reservations the CRI requires
/// (one sandbox per `name_namespace_uid_attempt`, one container per sandbox+name+attempt).
#[derive(Default)]
pub struct Store {
    pub sandboxes: RwLock<HashMap<String, Arc<Sandbox>>>,
    pub containers: RwLock<HashMap<String, Arc<Container>>>,
    names: Mutex<HashMap<String, String>>,
}

impl Store {
    pub fn sandbox(&self, id: &str) -> Option<Arc<Sandbox>> {
        read(&self.sandboxes).get(id).cloned()
    }
    pub fn all_sandboxes(&self) -> Vec<Arc<Sandbox>> {
        read(&self.sandboxes).values().cloned().collect()
    }
    pub fn all_containers(&self) -> Vec<Arc<Container>> {
        read(&self.containers).values().cloned().collect()
    }
    pub fn containers_of(&self, sandbox_id: &str) -> Vec<Arc<Container>> {
        read(&self.containers)
            .values()
            .filter(|c| lock(&c.data).sandbox_id == sandbox_id)
            .cloned()
            .collect()
    }
    /// Resolves a full ID or a unique ID prefix (crictl users type prefixes).
    pub fn find_sandbox(&self, id: &str) -> Option<Arc<Sandbox>> {
        find(&read(&self.sandboxes), id)
    }
    pub fn find_container(&self, id: &str) -> Option<Arc<Container>> {
        find(&read(&self.containers), id)
    }
    pub fn insert_sandbox(&self, s: Arc<Sandbox>) {
        let id = lock(&s.data).id.clone();
        write(&self.sandboxes).insert(id, s);
    }
    pub fn insert_container(&self, c: Arc<Container>) {
        let id = lock(&c.data).id.clone();
        write(&self.containers).insert(id, c);
    }
    pub fn remove_sandbox(&self, id: &str) {
        write(&self.sandboxes).remove(id);
        lock(&self.names).retain(|_, v| v != id);
    }
    pub fn remove_container(&self, id: &str) {
        write(&self.containers).remove(id);
        lock(&self.names).retain(|_, v| v != id);
    }
    /// Reserves `name` for `id`; on conflict returns the ID holding it.
    pub fn reserve_name(&self, name: &str, id: &str) -> Result<(), String> {
        let mut names = lock(&self.names);
        match names.get(name) {
            Some(holder) if holder != id => Err(holder.clone()),
            _ => {
                names.insert(name.to_string(), id.to_string());
                Ok(())
            }
        }
    }
    pub fn release_name(&self, name: &str) {
        lock(&self.names).remove(name);
    }
}

fn find<T: Clone>(map: &HashMap<String, T>, id: &str) -> Option<T> {
    if id.is_empty() {
        return None;
    }
    if let Some(v) = map.get(id) {
        return Some(v.clone());
    }
    let mut hits = map.iter().filter(|(k, _)| k.starts_with(id));
    match (hits.next(), hits.next()) {
        (Some((_, v)), None) => Some(v.clone()),
        _ => None,
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Writes `value` as JSON to `path` atomically (temp file + fsync + rename).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Writes bytes to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// Sandbox name key (`name_namespace_uid_attempt`, as the kubelet builds it).
pub fn sandbox_name(c: &PodSandboxConfig) -> String {
    let m = c.metadata.clone().unwrap_or_default();
    format!("{}_{}_{}_{}", m.name, m.namespace, m.uid, m.attempt)
}

/// Container name key, unique within its sandbox.
pub fn container_name(sandbox: &PodSandboxConfig, c: &ContainerConfig) -> String {
    let m = c.metadata.clone().unwrap_or_default();
    format!("{}_{}_{}", m.name, sandbox_name(sandbox), m.attempt)
}

/// Loads every sandbox record under `dir` (`<dir>/<id>/{config.pb,state.json}`); records that
/// can't be read are reported and skipped, never fatal.
pub fn load_sandboxes(dir: &Path) -> Vec<(Sandbox, Option<String>)> {
    let mut out = Vec::new();
    for d in subdirs(dir) {
        let r = (|| -> Result<Sandbox, String> {
            let cfg = fs::read(d.join("config.pb")).map_err(|e| e.to_string())?;
            let config = PodSandboxConfig::decode(cfg.as_slice()).map_err(|e| e.to_string())?;
            let data: SandboxData = read_json(&d.join("state.json"))?;
            Ok(Sandbox {
                dir: d.clone(),
                config,
                data: Mutex::new(data),
                op: tokio::sync::Mutex::new(()),
            })
        })();
        match r {
            Ok(s) => out.push((s, None)),
            Err(e) => {
                tracing::warn!(dir = %d.display(), error = %e, "skipping unreadable sandbox record")
            }
        }
    }
    out
}

/// Loads every container record under `dir`.
pub fn load_containers(dir: &Path) -> Vec<Container> {
    let mut out = Vec::new();
    for d in subdirs(dir) {
        let r = (|| -> Result<Container, String> {
            let cfg = fs::read(d.join("config.pb")).map_err(|e| e.to_string())?;
            let config = ContainerConfig::decode(cfg.as_slice()).map_err(|e| e.to_string())?;
            let data: ContainerData = read_json(&d.join("state.json"))?;
            Ok(Container {
                dir: d.clone(),
                config,
                data: Mutex::new(data),
                op: tokio::sync::Mutex::new(()),
            })
        })();
        match r {
            Ok(c) => out.push(c),
            Err(e) => {
                tracing::warn!(dir = %d.display(), error = %e, "skipping unreadable container record")
            }
        }
    }
    out
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("state.json").is_file())
        .collect()
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_reserved_once() {
        let s = Store::default();
        assert!(s.reserve_name("a", "1").is_ok());
        assert!(s.reserve_name("a", "1").is_ok());
        assert_eq!(s.reserve_name("a", "2"), Err("1".to_string()));
        s.release_name("a");
        assert!(s.reserve_name("a", "2").is_ok());
    }

    #[test]
    fn prefixes_resolve_only_when_unique() {
        let mut m = HashMap::new();
        m.insert("abc1".to_string(), 1);
        m.insert("abc2".to_string(), 2);
        assert_eq!(find(&m, "abc1"), Some(1));
        assert_eq!(find(&m, "abc"), None);
        assert_eq!(find(&m, "abc2"), Some(2));
        assert_eq!(find(&m, ""), None);
    }

    #[test]
    fn records_round_trip_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("s1");
        fs::create_dir_all(&d).unwrap();
        let cfg = PodSandboxConfig {
            hostname: "h".into(),
            ..Default::default()
        };
        fs::write(d.join("config.pb"), cfg.encode_to_vec()).unwrap();
        let data = SandboxData {
            id: "s1".into(),
            state: SandboxState::Ready,
            created_at: 5,
            netns: None,
            ips: vec!["10.0.0.2".into()],
            pause_pid: 7,
            pause_start_time: 9,
            pod_cgroup: "/outrigger/s1".into(),
            owns_pod_cgroup: true,
            runtime_handler: String::new(),
            shm_mounted: false,
        };
        write_json(&d.join("state.json"), &data).unwrap();
        fs::create_dir_all(dir.path().join("broken")).unwrap();
        fs::write(dir.path().join("broken/state.json"), b"{").unwrap();
        let loaded = load_sandboxes(dir.path());
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].0.config.hostname, "h");
        assert_eq!(loaded[0].0.snapshot().ips, vec!["10.0.0.2".to_string()]);
    }
}
