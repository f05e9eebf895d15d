//! cgroupfs driver (no systemd) for cgroup v1, v2 and hybrid hosts.
//!
//! Hierarchies are found in `/proc/self/mountinfo`; v1 controllers may be mounted separately or
//! co-mounted (`cpu,cpuacct`), and on hybrid hosts the unified hierarchy serves the controllers
//! it lists in `cgroup.controllers` (e.g. hugetlb) while v1 stays authoritative for the rest.
//! All kernel access goes through paths under the mount points, so tests re-root them in a temp
//! dir with [`CgroupManager::from_mountinfo`].
#![deny(unsafe_code)]

mod devices;
mod mountinfo;
mod resources;
mod stats;

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use devices::{
    BpfInsn, DEVICE_PROGRAM_NAME, DeviceKind, DeviceRule, apply_device_rules_v2,
    attached_device_programs, compile_device_program,
};
use mountinfo::Hierarchy;
pub use resources::{Resources, blkio_to_io_weight, shares_to_weight, weight_to_shares};
use resources::{invalid, set_i64, set_str, set_u64};
pub use stats::{CpuStats, HugetlbStats, IoStats, MemoryStats, PidsStats, Stats};

/// Parent used for pod cgroups when the kubelet gives none.
pub const DEFAULT_PARENT: &str = "/outrigger";

/// How long [`Cgroup::kill_all`] keeps trying before giving up.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Cgroup::delete`] retries a busy directory.
const DELETE_RETRY: Duration = Duration::from_secs(2);

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No cgroup v1 or v2 mount was found.
    #[error("no cgroup hierarchy is mounted (none found in mountinfo)")]
    NoCgroups,
    /// A mountinfo line could not be parsed.
    #[error("cannot parse mountinfo line {line:?}: {reason}")]
    Mountinfo {
        /// The line.
        line: String,
        /// What was wrong.
        reason: String,
    },
    /// A cgroup path was rejected.
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// A resource value was rejected (nothing was written).
    #[error("invalid value {value:?} for {field}: {reason}")]
    InvalidValue {
        /// The resource field (CRI name).
        field: String,
        /// The value given.
        value: String,
        /// What was wrong.
        reason: String,
    },
    /// The host lacks a controller or file needed for a requested limit.
    #[error("{what} is not supported on this host: {reason}")]
    Unsupported {
        /// The requested feature.
        what: String,
        /// Why it cannot be done.
        reason: String,
    },
    /// The cgroup does not exist.
    #[error("cgroup {path} does not exist")]
    NotFound {
        /// The cgroup path.
        path: String,
    },
    /// A filesystem operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing a value into a cgroup file failed.
    #[error("cannot write {value:?} to {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The value.
        value: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A cgroup file held something unexpected.
    #[error("cannot parse {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Sending a signal failed.
    #[error("cannot send SIGKILL to pid {pid}: {source}")]
    Signal {
        /// The process.
        pid: i32,
        /// The OS error.
        source: std::io::Error,
    },
    /// Processes survived [`Cgroup::kill_all`].
    #[error("processes {pids:?} still in cgroup {path} after {secs}s of killing")]
    KillTimeout {
        /// The cgroup path.
        path: String,
        /// The survivors.
        pids: Vec<i32>,
        /// The time spent.
        secs: u64,
    },
}

/// Which cgroup version governs resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    /// cgroup v1 (also reported for hybrid hosts; see [`CgroupManager::hybrid`]).
    V1,
    /// cgroup v2 only.
    V2,
}

/// The host's cgroup hierarchies; hands out [`Cgroup`]s.
#[derive(Clone, Debug)]
pub struct CgroupManager {
    hierarchies: Arc<Vec<Hierarchy>>,
    version: CgroupVersion,
    hybrid: bool,
}

impl CgroupManager {
    /// Detect the hierarchies from `/proc/self/mountinfo`.
    pub fn detect() -> Result<Self, Error> {
        let path = Path::new("/proc/self/mountinfo");
        let text = stats::read(path)?;
        Self::from_mountinfo(&text, Path::new("/"))
    }

    /// Build from mountinfo text; every mount point is re-rooted under `root_prefix`
    /// (`/` on a real host, a temp dir in tests).
    pub fn from_mountinfo(mountinfo: &str, root_prefix: &Path) -> Result<Self, Error> {
        let all = mountinfo::parse(mountinfo, root_prefix)?;
        let has_v1 = all
            .iter()
            .any(|h| !h.unified && h.controllers.iter().any(|c| !c.starts_with("name=")));
        let has_v2 = all.iter().any(|h| h.unified);
        let (hierarchies, version, hybrid) = if has_v1 {
            (all, CgroupVersion::V1, has_v2)
        } else if has_v2 {
            let v2 = all.into_iter().filter(|h| h.unified).collect();
            (v2, CgroupVersion::V2, false)
        } else {
            return Err(Error::NoCgroups);
        };
        Ok(Self {
            hierarchies: Arc::new(hierarchies),
            version,
            hybrid,
        })
    }

    /// The governing version (V1 on hybrid hosts).
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// True when v1 hierarchies and a unified hierarchy are both mounted.
    pub fn hybrid(&self) -> bool {
        self.hybrid
    }

    /// The mount point of the unified (v2) hierarchy, if one is mounted.
    pub fn unified_mount(&self) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.unified)
            .map(|h| h.mount.as_path())
    }

    /// Controllers available, each with its mount point (v2 ones from `cgroup.controllers`).
    pub fn controllers(&self) -> Vec<(String, PathBuf)> {
        self.hierarchies
            .iter()
            .flat_map(|h| h.controllers.iter().map(|c| (c.clone(), h.mount.clone())))
            .collect()
    }

    /// A handle on the cgroup at `path` (relative to the hierarchy roots, e.g. `/a/b`).
    /// Rejects the root, empty parts, `.` and `..`. Nothing is created.
    pub fn cgroup(&self, path: &str) -> Result<Cgroup, Error> {
        let bad = |reason: &str| Error::InvalidPath {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        let rel = path.strip_prefix('/').unwrap_or(path);
        if rel.is_empty() {
            return Err(bad("the root cgroup cannot be managed"));
        }
        for part in rel.split('/') {
            if part.is_empty() {
                return Err(bad("empty path component"));
            }
            if part == "." || part == ".." {
                return Err(bad("'.' and '..' are not allowed"));
            }
            if part.contains('\0') {
                return Err(bad("NUL byte in path"));
            }
        }
        Ok(Cgroup {
            path: format!("/{rel}"),
            rel: PathBuf::from(rel),
            manager: self.clone(),
        })
    }

    /// The cgroup `<parent>/<name>`, with [`DEFAULT_PARENT`] when `parent` is empty.
    pub fn cgroup_under(&self, parent: &str, name: &str) -> Result<Cgroup, Error> {
        let parent = parent.trim_end_matches('/');
        let parent = if parent.is_empty() {
            DEFAULT_PARENT
        } else {
            parent
        };
        if name.is_empty() || name.contains('/') {
            return Err(Error::InvalidPath {
                path: name.to_string(),
                reason: "a cgroup name must be one non-empty path component".to_string(),
            });
        }
        self.cgroup(&format!("{parent}/{name}"))
    }
}

/// One cgroup, present in every hierarchy at the same relative path.
#[derive(Clone, Debug)]
pub struct Cgroup {
    path: String,
    rel: PathBuf,
    manager: CgroupManager,
}

/// A planned write of `value` into `path`.
type Plan = Vec<(PathBuf, String)>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn write_file(path: &Path, value: &str) -> Result<(), Error> {
    std::fs::write(path, value).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

fn mkdir(path: &Path) -> Result<bool, Error> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err("create cgroup directory", path)(e)),
    }
}

/// `dir` and every directory below it, deepest first. Missing `dir`: empty.
fn walk_leaves_first(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("read directory", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("read directory", dir))?;
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            out.extend(walk_leaves_first(&entry.path())?);
        }
    }
    out.push(dir.to_path_buf());
    Ok(out)
}

fn read_pids(procs: &Path) -> Result<Vec<i32>, Error> {
    let Some(text) = stats::read_opt(procs)? else {
        return Ok(Vec::new());
    };
    text.split_whitespace()
        .map(|p| {
            p.parse::<i32>().map_err(|_| Error::Parse {
                path: procs.to_path_buf(),
                reason: format!("{p:?} is not a pid"),
            })
        })
        .collect()
}

/// Send SIGKILL to `pid`; a process that is already gone is not an error.
#[allow(unsafe_code)]
fn sigkill(pid: i32) -> Result<(), Error> {
    // SAFETY: kill(2) only takes two integers and touches no memory of ours; `pid` is checked
    // by the caller to be > 1, so it never targets a process group or every process.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    if rc == 0 {
        return Ok(());
    }
    let source = std::io::Error::last_os_error();
    if source.raw_os_error() == Some(libc::ESRCH) {
        return Ok(());
    }
    Err(Error::Signal { pid, source })
}

impl Cgroup {
    /// The normalized path (`/a/b`).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn dirs(&self) -> impl Iterator<Item = (&Hierarchy, PathBuf)> {
        self.manager
            .hierarchies
            .iter()
            .map(|h| (h, h.mount.join(&self.rel)))
    }

    /// The directory of the hierarchy serving `controller`, and whether it is the unified one.
    fn dir(&self, controller: &str) -> Option<(PathBuf, bool)> {
        self.manager
            .hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| (h.mount.join(&self.rel), h.unified))
    }

    fn need(&self, controller: &str, field: &str) -> Result<(PathBuf, bool), Error> {
        self.dir(controller).ok_or_else(|| Error::Unsupported {
            what: field.to_string(),
            reason: format!("no {controller} controller is mounted"),
        })
    }

    fn unified_dir(&self) -> Option<PathBuf> {
        self.manager
            .hierarchies
            .iter()
            .find(|h| h.unified)
            .map(|h| h.mount.join(&self.rel))
    }

    /// Create the cgroup (and missing parents) in every hierarchy. v1 cpuset: empty
    /// `cpuset.cpus`/`cpuset.mems` are copied from the parent. v2: the hierarchy's controllers
    /// are enabled in each ancestor's `cgroup.subtree_control`.
    pub fn create(&self) -> Result<(), Error> {
        for h in self.manager.hierarchies.iter() {
            let mut cur = h.mount.clone();
            for part in self.rel.iter() {
                if h.unified {
                    self.enable_controllers(h, &cur)?;
                }
                let parent = cur.clone();
                cur.push(part);
                mkdir(&cur)?;
                if !h.unified && h.controllers.iter().any(|c| c == "cpuset") {
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        let here = stats::read_opt(&cur.join(f))?.unwrap_or_default();
                        if here.trim().is_empty() {
                            let up = stats::read_opt(&parent.join(f))?.unwrap_or_default();
                            if !up.trim().is_empty() {
                                write_file(&cur.join(f), up.trim())?;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Enable the hierarchy's controllers in `dir/cgroup.subtree_control` where missing.
    fn enable_controllers(&self, h: &Hierarchy, dir: &Path) -> Result<(), Error> {
        let available: Vec<String> = match stats::read_opt(&dir.join("cgroup.controllers"))? {
            Some(t) => t.split_whitespace().map(str::to_string).collect(),
            None => h.controllers.clone(),
        };
        let ctl = dir.join("cgroup.subtree_control");
        let enabled = stats::read_opt(&ctl)?.unwrap_or_default();
        let enabled: BTreeSet<&str> = enabled.split_whitespace().collect();
        let missing: Vec<&String> = h
            .controllers
            .iter()
            .filter(|c| available.contains(c) && !enabled.contains(c.as_str()))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
        if write_file(&ctl, &all.join(" ")).is_ok() {
            return Ok(());
        }
        // One refused controller (e.g. cpu with realtime tasks about) must not block the others.
        let mut last = None;
        let mut any = false;
        for c in &all {
            match write_file(&ctl, c) {
                Ok(()) => any = true,
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e) if !any => Err(e),
            _ => Ok(()),
        }
    }

    /// True when the cgroup directory exists in every hierarchy.
    pub fn exists(&self) -> bool {
        self.dirs().all(|(_, d)| d.is_dir())
    }

    /// Validate `r`, then write it. On invalid input nothing is written.
    pub fn apply(&self, r: &Resources) -> Result<(), Error> {
        let plan = self.plan(r)?;
        for (path, value) in &plan {
            write_file(path, value)?;
        }
        Ok(())
    }

    fn plan(&self, r: &Resources) -> Result<Plan, Error> {
        let mut plan = Plan::new();
        self.plan_cpu(r, &mut plan)?;
        for (field, file, v) in [
            ("cpuset_cpus", "cpuset.cpus", set_str(&r.cpuset_cpus)),
            ("cpuset_mems", "cpuset.mems", set_str(&r.cpuset_mems)),
        ] {
            if let Some(v) = v {
                resources::check_cpuset_list(field, v)?;
                let (dir, _) = self.need("cpuset", field)?;
                plan.push((dir.join(file), v.to_string()));
            }
        }
        self.plan_memory(r, &mut plan)?;
        for (size, limit) in &r.hugepage_limits {
            resources::check_page_size(size)?;
            let (dir, unified) = self.need("hugetlb", "hugepage_limits")?;
            let file = if unified {
                format!("hugetlb.{size}.max")
            } else {
                format!("hugetlb.{size}.limit_in_bytes")
            };
            // Before create() the v1 root lists the same sizes.
            let known = dir.join(&file).is_file() || self.hugetlb_size_at_root(&file);
            if !known {
                return Err(invalid(
                    "hugepage_limits.page_size",
                    size,
                    format!("this host has no {file}: unsupported hugepage size"),
                ));
            }
            plan.push((dir.join(file), limit.to_string()));
        }
        if let Some(p) = set_i64(r.pids_limit) {
            if p < -1 {
                return Err(invalid(
                    "pids_limit",
                    p,
                    "must be -1 (unlimited) or positive",
                ));
            }
            let (dir, _) = self.need("pids", "pids_limit")?;
            let v = if p == -1 {
                "max".to_string()
            } else {
                p.to_string()
            };
            plan.push((dir.join("pids.max"), v));
        }
        if let Some(w) = r.blkio_weight.filter(|w| *w != 0) {
            resources::check_blkio_weight(w)?;
            plan.push(self.plan_blkio(w)?);
        }
        for (key, value) in &r.unified {
            self.plan_unified(key, value, &mut plan)?;
        }
        Ok(plan)
    }

    /// True when a hugetlb file of that name exists at the hierarchy root (v1 roots have them).
    fn hugetlb_size_at_root(&self, file: &str) -> bool {
        self.manager
            .hierarchies
            .iter()
            .filter(|h| h.controllers.iter().any(|c| c == "hugetlb"))
            .any(|h| h.mount.join(file).is_file())
    }

    fn plan_cpu(&self, r: &Resources, plan: &mut Plan) -> Result<(), Error> {
        let shares = set_u64(r.cpu_shares);
        let period = set_u64(r.cpu_period);
        let quota = set_i64(r.cpu_quota);
        if let Some(s) = shares {
            if !(2..=262_144).contains(&s) {
                return Err(invalid("cpu_shares", s, "must be between 2 and 262144"));
            }
        }
        if let Some(p) = period {
            if !(1000..=1_000_000).contains(&p) {
                return Err(invalid(
                    "cpu_period",
                    p,
                    "must be between 1000 and 1000000 microseconds",
                ));
            }
        }
        if let Some(q) = quota {
            if q != -1 && q < 1000 {
                return Err(invalid(
                    "cpu_quota",
                    q,
                    "must be -1 (unlimited) or at least 1000 microseconds",
                ));
            }
        }
        if shares.is_none() && period.is_none() && quota.is_none() {
            return Ok(());
        }
        let (dir, unified) = self.need("cpu", "cpu limits")?;
        if unified {
            if let Some(s) = shares {
                plan.push((dir.join("cpu.weight"), shares_to_weight(s).to_string()));
            }
            if period.is_some() || quota.is_some() {
                let cur = stats::read_opt(&dir.join("cpu.max"))?.unwrap_or_default();
                let mut cur = cur.split_whitespace();
                let cur_quota = cur.next().unwrap_or("max").to_string();
                let cur_period = cur.next().unwrap_or("100000").to_string();
                let q = match quota {
                    Some(-1) => "max".to_string(),
                    Some(q) => q.to_string(),
                    None => cur_quota,
                };
                let p = period.map(|p| p.to_string()).unwrap_or(cur_period);
                plan.push((dir.join("cpu.max"), format!("{q} {p}")));
            }
        } else {
            if let Some(s) = shares {
                plan.push((dir.join("cpu.shares"), s.to_string()));
            }
            if let Some(p) = period {
                plan.push((dir.join("cpu.cfs_period_us"), p.to_string()));
            }
            if let Some(q) = quota {
                plan.push((dir.join("cpu.cfs_quota_us"), q.to_string()));
            }
        }
        Ok(())
    }

    fn plan_memory(&self, r: &Resources, plan: &mut Plan) -> Result<(), Error> {
        let mem = set_i64(r.memory_limit_bytes);
        let swap = set_i64(r.memory_swap_limit_bytes);
        if let Some(m) = mem {
            if m < -1 {
                return Err(invalid(
                    "memory_limit_bytes",
                    m,
                    "must be -1 (unlimited) or positive",
                ));
            }
        }
        if let Some(s) = swap {
            if s < -1 {
                return Err(invalid(
                    "memory_swap_limit_bytes",
                    s,
                    "must be -1 (unlimited) or positive",
                ));
            }
            if let Some(m) = mem {
                if s != -1 && (m == -1 || s < m) {
                    return Err(invalid(
                        "memory_swap_limit_bytes",
                        s,
                        format!(
                            "memory+swap limit is below memory_limit_bytes ({m}); the CRI swap limit includes memory"
                        ),
                    ));
                }
            }
        }
        if mem.is_none() && swap.is_none() {
            return Ok(());
        }
        let (dir, unified) = self.need("memory", "memory limits")?;
        let fmt = |v: i64, max: &str| {
            if v == -1 {
                max.to_string()
            } else {
                v.to_string()
            }
        };
        if unified {
            if let Some(m) = mem {
                plan.push((dir.join("memory.max"), fmt(m, "max")));
            }
            if let Some(s) = swap {
                let file = dir.join("memory.swap.max");
                let value = if s == -1 {
                    "max".to_string()
                } else {
                    match mem {
                        Some(m) if m > 0 => (s - m).to_string(),
                        _ => {
                            return Err(invalid(
                                "memory_swap_limit_bytes",
                                s,
                                "cgroup v2 needs memory_limit_bytes too to compute memory.swap.max",
                            ));
                        }
                    }
                };
                // Without swap accounting the file is absent: nothing to limit.
                if file.is_file() {
                    plan.push((file, value));
                }
            }
            return Ok(());
        }
        let mem_w = mem.map(|m| (dir.join("memory.limit_in_bytes"), fmt(m, "-1")));
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        let swap_w = match swap {
            Some(s) if memsw.is_file() => Some((memsw.clone(), fmt(s, "-1"))),
            _ => None,
        };
        match (mem_w, swap_w) {
            (Some(m), Some(s)) => {
                // memory.limit must stay <= memsw.limit at every step: raise memsw first,
                // lower it last.
                let cur = match stats::read_opt(&memsw)? {
                    Some(t) => stats::parse_u64(&memsw, &t)?,
                    None => u64::MAX,
                };
                let new = swap.and_then(|s| u64::try_from(s).ok()).unwrap_or(u64::MAX);
                if new >= cur {
                    plan.push(s);
                    plan.push(m);
                } else {
                    plan.push(m);
                    plan.push(s);
                }
            }
            (Some(m), None) => plan.push(m),
            (None, Some(s)) => plan.push(s),
            (None, None) => {}
        }
        Ok(())
    }

    fn plan_blkio(&self, w: u16) -> Result<(PathBuf, String), Error> {
        if let Some((dir, true)) = self.dir("io") {
            let bfq = dir.join("io.bfq.weight");
            if bfq.is_file() {
                return Ok((bfq, w.to_string()));
            }
            return Ok((
                dir.join("io.weight"),
                format!("default {}", blkio_to_io_weight(w)),
            ));
        }
        let (dir, _) = self.need("blkio", "blkio_weight")?;
        for f in ["blkio.weight", "blkio.bfq.weight"] {
            if dir.join(f).is_file() {
                return Ok((dir.join(f), w.to_string()));
            }
        }
        Err(Error::Unsupported {
            what: "blkio_weight".to_string(),
            reason: format!(
                "neither blkio.weight nor blkio.bfq.weight exists in {}",
                dir.display()
            ),
        })
    }

    fn plan_unified(&self, key: &str, value: &str, plan: &mut Plan) -> Result<(), Error> {
        let bad = |reason: &str| invalid("unified", format!("{key}={value}"), reason);
        if key.is_empty()
            || key.contains('/')
            || key.contains('\0')
            || key.starts_with('.')
            || !key.contains('.')
        {
            return Err(bad("key must be a cgroup v2 file name such as memory.high"));
        }
        if matches!(
            key,
            "cgroup.procs"
                | "cgroup.threads"
                | "cgroup.subtree_control"
                | "cgroup.kill"
                | "cgroup.freeze"
                | "cgroup.type"
        ) {
            return Err(bad("this file is managed by the runtime"));
        }
        let controller = key.split('.').next().unwrap_or_default();
        // Keys for a controller that the unified hierarchy serves are written raw.
        if let Some((dir, true)) = self.dir(controller) {
            plan.push((dir.join(key), value.to_string()));
            return Ok(());
        }
        if controller == "cgroup" {
            if let Some(dir) = self.unified_dir() {
                if self.manager.version == CgroupVersion::V2 {
                    plan.push((dir.join(key), value.to_string()));
                    return Ok(());
                }
            }
        }
        if self.manager.version == CgroupVersion::V2 {
            return Err(bad(&format!(
                "the {controller} controller is not available"
            )));
        }
        // cgroup v1: translate the few keys with an exact equivalent.
        let v = value.trim();
        match key {
            "cpu.weight" => {
                let w: u64 = v
                    .parse()
                    .ok()
                    .filter(|w| (1..=10_000).contains(w))
                    .ok_or_else(|| bad("cpu.weight must be between 1 and 10000"))?;
                let (dir, _) = self.need("cpu", "unified cpu.weight")?;
                plan.push((dir.join("cpu.shares"), weight_to_shares(w).to_string()));
            }
            "cpu.max" => {
                let mut it = v.split_whitespace();
                let q = it.next().unwrap_or_default();
                let q: i64 = if q == "max" {
                    -1
                } else {
                    q.parse()
                        .ok()
                        .filter(|q| *q >= 1000)
                        .ok_or_else(|| bad("quota must be 'max' or at least 1000"))?
                };
                let p: Option<u64> = match it.next() {
                    Some(p) => Some(
                        p.parse()
                            .ok()
                            .filter(|p| (1000..=1_000_000).contains(p))
                            .ok_or_else(|| bad("period must be between 1000 and 1000000"))?,
                    ),
                    None => None,
                };
                let (dir, _) = self.need("cpu", "unified cpu.max")?;
                if let Some(p) = p {
                    plan.push((dir.join("cpu.cfs_period_us"), p.to_string()));
                }
                plan.push((dir.join("cpu.cfs_quota_us"), q.to_string()));
            }
            "memory.max" => {
                let m = if v == "max" {
                    "-1".to_string()
                } else {
                    v.parse::<u64>()
                        .map_err(|_| bad("memory.max must be 'max' or a byte count"))?
                        .to_string()
                };
                let (dir, _) = self.need("memory", "unified memory.max")?;
                plan.push((dir.join("memory.limit_in_bytes"), m));
            }
            "pids.max" => {
                if v != "max" && v.parse::<u64>().is_err() {
                    return Err(bad("pids.max must be 'max' or a number"));
                }
                let (dir, _) = self.need("pids", "unified pids.max")?;
                plan.push((dir.join("pids.max"), v.to_string()));
            }
            "cpuset.cpus" | "cpuset.mems" => {
                resources::check_cpuset_list("unified", v)?;
                let (dir, _) = self.need("cpuset", key)?;
                plan.push((dir.join(key), v.to_string()));
            }
            _ => return Err(bad("no cgroup v1 equivalent on this host")),
        }
        Ok(())
    }

    /// Every `cgroup.procs` file a new process must join (one per hierarchy).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs().map(|(_, d)| d.join("cgroup.procs")).collect()
    }

    /// Move `pid` into this cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), Error> {
        if pid <= 0 {
            return Err(invalid("pid", pid, "must be positive"));
        }
        for f in self.procs_files() {
            write_file(&f, &pid.to_string())?;
        }
        Ok(())
    }

    /// Pids in this cgroup and its children, in any hierarchy, sorted and deduplicated.
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        let mut all = BTreeSet::new();
        for (_, dir) in self.dirs() {
            for d in walk_leaves_first(&dir)? {
                all.extend(read_pids(&d.join("cgroup.procs"))?);
            }
        }
        Ok(all.into_iter().collect())
    }

    /// Usage statistics. Controllers that are not mounted are `None`/empty.
    pub fn stats(&self) -> Result<Stats, Error> {
        if !self.exists() {
            return Err(Error::NotFound {
                path: self.path.clone(),
            });
        }
        let timestamp_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let cpu = match self.dir("cpuacct") {
            Some((acct, false)) => {
                let cpu = self.dir("cpu").filter(|(_, u)| !u).map(|(d, _)| d);
                stats::cpu_v1(&acct, cpu.as_deref())?
            }
            _ => match self.unified_dir() {
                Some(d) if self.manager.version == CgroupVersion::V2 => stats::cpu_v2(&d)?,
                _ => None,
            },
        };
        let memory = match self.dir("memory") {
            Some((d, true)) => stats::memory_v2(&d)?,
            Some((d, false)) => stats::memory_v1(&d)?,
            None => None,
        };
        let pids = match self.dir("pids") {
            Some((d, _)) => stats::pids(&d)?,
            None => None,
        };
        let hugetlb = match self.dir("hugetlb") {
            Some((d, unified)) => stats::hugetlb(&d, unified)?,
            None => Default::default(),
        };
        let io = match (self.dir("io"), self.dir("blkio")) {
            (Some((d, true)), _) => stats::io_v2(&d)?,
            (_, Some((d, false))) => stats::io_v1(&d)?,
            _ => None,
        };
        Ok(Stats {
            timestamp_ns,
            cpu,
            memory,
            pids,
            hugetlb,
            io,
        })
    }

    /// OOM kills recorded for this cgroup (v1 `memory.oom_control`, v2 `memory.events`).
    pub fn oom_kill_count(&self) -> Result<u64, Error> {
        let (dir, unified) = self.need("memory", "oom kill count")?;
        let file = if unified {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        stats::oom_kill(&dir.join(file))
    }

    fn freeze(&self, frozen: bool) -> Result<bool, Error> {
        if let Some((dir, false)) = self.dir("freezer") {
            let state = dir.join("freezer.state");
            if state.is_file() {
                let want = if frozen { "FROZEN" } else { "THAWED" };
                write_file(&state, want)?;
                if frozen {
                    let until = Instant::now() + Duration::from_millis(500);
                    while Instant::now() < until {
                        let s = stats::read_opt(&state)?.unwrap_or_default();
                        if s.trim() == want {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                return Ok(true);
            }
        }
        if self.manager.version == CgroupVersion::V2 {
            if let Some(dir) = self.unified_dir() {
                let f = dir.join("cgroup.freeze");
                if f.is_file() {
                    write_file(&f, if frozen { "1" } else { "0" })?;
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Kill every process of this cgroup and its children: `cgroup.kill` where available,
    /// otherwise freeze, SIGKILL each pid, thaw; repeated until empty (at most 10 s).
    /// Never signals pid 1 or the calling process.
    pub fn kill_all(&self) -> Result<(), Error> {
        let start = Instant::now();
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        loop {
            let pids: Vec<i32> = self
                .pids()?
                .into_iter()
                .filter(|p| *p > 1 && *p != me)
                .collect();
            if pids.is_empty() {
                return Ok(());
            }
            if start.elapsed() > KILL_TIMEOUT {
                return Err(Error::KillTimeout {
                    path: self.path.clone(),
                    pids,
                    secs: KILL_TIMEOUT.as_secs(),
                });
            }
            if let Some(dir) = self.unified_dir() {
                let kill = dir.join("cgroup.kill");
                if kill.is_file() {
                    match write_file(&kill, "1") {
                        Ok(()) => {}
                        Err(Error::Write { source, .. })
                            if source.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            let frozen = self.freeze(true)?;
            let mut failed = None;
            for pid in &pids {
                if let Err(e) = sigkill(*pid) {
                    failed.get_or_insert(e);
                }
            }
            if frozen {
                self.freeze(false)?;
            }
            if let Some(e) = failed {
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Remove the cgroup and its children in every hierarchy, leaves first. A busy directory
    /// is retried for up to 2 s; a missing one counts as removed.
    pub fn delete(&self) -> Result<(), Error> {
        for (_, dir) in self.dirs() {
            for d in walk_leaves_first(&dir)? {
                remove_dir(&d)?;
            }
        }
        Ok(())
    }
}

fn remove_dir(dir: &Path) -> Result<(), Error> {
    let start = Instant::now();
    loop {
        let err = match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => e,
        };
        match err.raw_os_error() {
            Some(libc::EBUSY) if start.elapsed() < DELETE_RETRY => {
                std::thread::sleep(Duration::from_millis(10));
            }
            // cgroupfs never says ENOTEMPTY for its own files: this is a plain directory
            // (a test's fake hierarchy). Remove the plain files once and retry.
            Some(libc::ENOTEMPTY) if start.elapsed() < DELETE_RETRY => {
                let entries = std::fs::read_dir(dir).map_err(io_err("read directory", dir))?;
                for entry in entries.flatten() {
                    if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
            _ => return Err(io_err("remove cgroup directory", dir)(err)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
