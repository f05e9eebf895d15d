//! `init_main`: builds the container process from an [`InitConfig`].

use crate::error::{Error, Result};
use crate::mounts;
use crate::paths::{find_executable, path_env};
use crate::process::{Finish, finalize_and_exec};
use crate::seccomp::{self, SockFilter};
use nix::sched::CloneFlags;
use nix::unistd::{ForkResult, Pid};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What `outrigger-cri init` needs to create one container (or a pod's pause process).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct InitConfig {
    /// The OCI spec. `root.path` is the already-mounted rootfs (host path). Namespaces with a
    /// path are joined, without one created; types not listed stay the host's.
    pub spec: Spec,
    /// cgroup.procs files our pid is written to first, before any namespace change.
    pub cgroup_procs: Vec<PathBuf>,
    /// Opened for writing after setup (blocks until the runtime opens it for reading:
    /// "start"), then the process execs. `None`: exec right away.
    pub start_fifo: Option<PathBuf>,
    /// Sandbox holder: after the namespaces, become a pause loop (pid 1 reaping zombies,
    /// exit 0 on SIGTERM/SIGINT); no rootfs is set up.
    pub pause: bool,
    /// Receives the container process's host pid once setup succeeded.
    pub pid_file: PathBuf,
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    serde_json::from_slice(&text).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Writes our pid into each cgroup.procs file.
pub(crate) fn join_cgroups(procs: &[PathBuf]) -> Result<()> {
    let pid = std::process::id().to_string();
    for p in procs {
        std::fs::write(p, &pid).map_err(|e| Error::io("joining cgroup via", p, e))?;
    }
    Ok(())
}

/// The clone flag of a namespace type.
pub fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// How the process gets its user namespace (joined last, after every mount is done as the
/// host's root, so the namespace owns nothing the setup needed).
#[derive(Debug, PartialEq, Eq)]
pub enum UserNs {
    /// Join the namespace at this path (a pod's, held by its pause process).
    Join(PathBuf),
    /// Create one with these `uid_map` and `gid_map` texts (lines `inside outside length`).
    Create {
        /// The uid_map text.
        uid_map: String,
        /// The gid_map text.
        gid_map: String,
    },
}

/// The namespace plan of a spec.
#[derive(Debug, PartialEq, Eq)]
pub struct NsPlan {
    /// Namespaces to join, in order (mount last).
    pub join: Vec<(CloneFlags, PathBuf)>,
    /// Namespaces to create (one unshare call).
    pub create: CloneFlags,
    /// The user namespace, when not the host's.
    pub user: Option<UserNs>,
}

impl Default for NsPlan {
    fn default() -> Self {
        Self {
            join: Vec::new(),
            create: CloneFlags::empty(),
            user: None,
        }
    }
}

impl NsPlan {
    /// Whether `flag` is created (rather than joined or the host's).
    pub fn creates(&self, flag: CloneFlags) -> bool {
        self.create.contains(flag)
    }
}

/// The `uid_map`/`gid_map` text of OCI id mappings; `what` names them in errors. Each range
/// must be non-empty and not overflow 32 bits, and ranges must not overlap on either side.
pub fn id_map_text(maps: &[LinuxIdMapping], what: &str) -> Result<String> {
    if maps.is_empty() {
        return Err(Error::Spec(format!(
            "a new user namespace needs {what} mappings"
        )));
    }
    if maps.len() > 340 {
        return Err(Error::Spec(format!(
            "{} {what} mappings: the kernel takes at most 340",
            maps.len()
        )));
    }
    let mut text = String::new();
    let mut ranges: Vec<(u64, u64, u64)> = Vec::new();
    for m in maps {
        let (inside, outside, len) = (
            u64::from(m.container_id()),
            u64::from(m.host_id()),
            u64::from(m.size()),
        );
        if len == 0 || inside + len > 1 << 32 || outside + len > 1 << 32 {
            return Err(Error::Spec(format!(
                "{what} mapping {inside} {outside} {len}: the range must be non-empty and within 32 bits"
            )));
        }
        for (i, o, l) in &ranges {
            if inside < i + l && *i < inside + len || outside < o + l && *o < outside + len {
                return Err(Error::Spec(format!(
                    "{what} mappings {i} {o} {l} and {inside} {outside} {len} overlap"
                )));
            }
        }
        ranges.push((inside, outside, len));
        text.push_str(&format!("{inside} {outside} {len}\n"));
    }
    Ok(text)
}

/// Splits a spec's namespaces into joins and creations, and the user namespace apart (a new
/// one takes the spec's `linux.uidMappings` and `linux.gidMappings`).
pub fn ns_plan(spec: &Spec) -> Result<NsPlan> {
    let mut plan = NsPlan::default();
    let linux = spec.linux().as_ref();
    let list = linux
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut joins: Vec<(u8, CloneFlags, PathBuf)> = Vec::new();
    for ns in list {
        let flag = ns_flag(ns.typ());
        match (ns.typ(), ns.path()) {
            (LinuxNamespaceType::User, Some(p)) => plan.user = Some(UserNs::Join(p.clone())),
            (LinuxNamespaceType::User, None) => {
                let uids = linux
                    .and_then(|l| l.uid_mappings().clone())
                    .unwrap_or_default();
                let gids = linux
                    .and_then(|l| l.gid_mappings().clone())
                    .unwrap_or_default();
                plan.user = Some(UserNs::Create {
                    uid_map: id_map_text(&uids, "uid")?,
                    gid_map: id_map_text(&gids, "gid")?,
                });
            }
            (t, Some(p)) => joins.push((u8::from(t == LinuxNamespaceType::Mount), flag, p.clone())),
            (_, None) => plan.create |= flag,
        }
    }
    joins.sort_by_key(|j| j.0);
    plan.join = joins.into_iter().map(|(_, f, p)| (f, p)).collect();
    Ok(plan)
}

/// Creates a user namespace with the given maps and returns a descriptor of it: a child
/// unshares it and waits while we (root in the parent namespace) write its maps.
fn create_userns(uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let pipe =
        || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e));
    let (ready_r, ready_w) = pipe()?;
    let (done_r, done_w) = pipe()?;
    match fork()? {
        ForkResult::Child => {
            drop(ready_r);
            drop(done_w);
            let ok = nix::sched::unshare(CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = nix::unistd::write(&ready_w, if ok { b"1" } else { b"0" });
            drop(ready_w);
            let mut b = [0u8; 1];
            // returns at EOF: the parent is done with our namespace
            let _ = nix::unistd::read(&done_r, &mut b);
            std::process::exit(0);
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(done_r);
            let res = (|| {
                let mut b = [0u8; 1];
                let n = nix::unistd::read(&ready_r, &mut b).map_err(|e| Error::sys("read", e))?;
                if n != 1 || b[0] != b'1' {
                    return Err(Error::Spec(
                        "cannot create a user namespace (unshare CLONE_NEWUSER failed)".into(),
                    ));
                }
                let proc = PathBuf::from(format!("/proc/{child}"));
                for (file, text) in [("uid_map", uid_map), ("gid_map", gid_map)] {
                    let p = proc.join(file);
                    std::fs::write(&p, text).map_err(|e| Error::io("writing", &p, e))?;
                }
                let ns = proc.join("ns/user");
                let f = std::fs::File::open(&ns).map_err(|e| Error::io("opening", &ns, e))?;
                Ok(OwnedFd::from(f))
            })();
            drop(done_w);
            let _ = nix::sys::wait::waitpid(child, None);
            res
        }
    }
}

/// Runs `outrigger-cri init <config>`. Returns the exit code of the intermediate process
/// (0 once the container process is set up and its pid written); the container process
/// itself never returns from here.
pub fn init_main(config: &Path) -> i32 {
    match run(config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("outrigger init: {e}");
            1
        }
    }
}

fn run(config: &Path) -> Result<i32> {
    let cfg: InitConfig = read_json(config)?;
    join_cgroups(&cfg.cgroup_procs)?;
    let plan = ns_plan(&cfg.spec)?;
    // open every namespace file before joining any (a mount namespace changes what paths mean)
    let mut fds = Vec::new();
    for (flag, path) in &plan.join {
        let fd = std::fs::File::open(path).map_err(|e| Error::io("opening namespace", path, e))?;
        fds.push((*flag, fd, path));
    }
    for (flag, fd, path) in &fds {
        nix::sched::setns(fd, *flag)
            .map_err(|e| Error::sys(format!("setns {}", path.display()), e))?;
    }
    drop(fds);
    let userns = match &plan.user {
        None => None,
        Some(UserNs::Join(p)) => Some(OwnedFd::from(
            std::fs::File::open(p).map_err(|e| Error::io("opening namespace", p, e))?,
        )),
        Some(UserNs::Create { uid_map, gid_map }) => Some(create_userns(uid_map, gid_map)?),
    };
    if !plan.create.is_empty() {
        nix::sched::unshare(plan.create)
            .map_err(|e| Error::sys(format!("unshare {:?}", plan.create), e))?;
    }
    // pivot_root in the child moves the root of every process of the mount namespace: keep
    // a descriptor of the pid file from here
    let mut pid_file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&cfg.pid_file)
        .map_err(|e| Error::io("creating pid file", &cfg.pid_file, e))?;
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))?;

    match fork()? {
        ForkResult::Child => {
            drop(rd);
            drop(pid_file);
            let code = child(&cfg, &plan, wr, userns);
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut msg = String::new();
            let _ = std::fs::File::from(rd).read_to_string(&mut msg);
            if msg == "ok" {
                pid_file
                    .write_all(child.as_raw().to_string().as_bytes())
                    .map_err(|e| Error::io("writing pid file", &cfg.pid_file, e))?;
                return Ok(0);
            }
            let _ = nix::sys::wait::waitpid(child, None);
            let msg = msg
                .strip_prefix("err:")
                .unwrap_or("the container process exited during setup");
            Err(Error::Child(msg.to_string()))
        }
    }
}

#[allow(unsafe_code)]
pub(crate) fn fork() -> Result<ForkResult> {
    // SAFETY: init and enter run in a fresh single-threaded process (the daemon re-executed
    // for this purpose), so the child may do anything the parent could.
    unsafe { nix::unistd::fork() }.map_err(|e| Error::sys("fork", e))
}

/// The container process: set up, report over `report`, then wait for start and exec (or
/// pause). Returns an exit code on failure.
fn child(cfg: &InitConfig, plan: &NsPlan, report: OwnedFd, userns: Option<OwnedFd>) -> i32 {
    let mut report = std::fs::File::from(report);
    let tty = std::env::var(crate::process::TTY_ENV).is_ok_and(|v| v == "1")
        || cfg
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
    if tty && !cfg.pause {
        crate::process::take_controlling_terminal();
    }
    let prepared = if cfg.pause {
        setup_pause(cfg, plan)
    } else {
        setup_container(cfg, plan, userns.as_ref().map(|u| u.as_fd()))
    };
    // the user namespace last: everything above was done as the host's root
    let prepared = prepared.and_then(|r| match &userns {
        Some(u) => {
            nix::sched::setns(u, CloneFlags::CLONE_NEWUSER)
                .map_err(|e| Error::sys("setns to the user namespace", e))?;
            check_ids_mapped(cfg)?;
            Ok(r)
        }
        None => Ok(r),
    });
    drop(userns);
    let ready = match prepared {
        Ok(r) => r,
        Err(e) => {
            let _ = report.write_all(format!("err:{e}").as_bytes());
            return 1;
        }
    };
    if report.write_all(b"ok").is_err() {
        return 1;
    }
    drop(report);
    if cfg.pause {
        return pause_loop();
    }
    if let Some(fifo) = &ready.fifo {
        // blocks until the runtime opens the FIFO for reading: that is "start"
        let via = format!("/proc/self/fd/{}", fifo.as_raw_fd());
        if let Err(e) = std::fs::OpenOptions::new().write(true).open(&via) {
            eprintln!("outrigger init: waiting for start on {via}: {e}");
            return 1;
        }
    }
    drop(ready.fifo);
    let Some(process) = cfg.spec.process().as_ref() else {
        eprintln!("outrigger init: the spec has no process");
        return 1;
    };
    let e = finalize_and_exec(&Finish {
        process,
        seccomp: ready.seccomp.as_deref(),
        oom_score_adj: process.oom_score_adj(),
        die_with_parent: false,
    });
    eprintln!("outrigger init: {e}");
    if matches!(e, Error::NotFound(_)) {
        127
    } else {
        126
    }
}

/// Whether `id` falls in one of the ranges of a `uid_map`/`gid_map` text (inside ids).
pub fn id_mapped(map: &str, id: u32) -> bool {
    map.lines().any(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        f.len() == 3 && f[0] <= u64::from(id) && u64::from(id) < f[0] + f[2]
    })
}

/// In a user namespace: the process's uid, gid and groups must be mapped, or it could not
/// take them (checked now, so CreateContainer fails rather than the start).
fn check_ids_mapped(cfg: &InitConfig) -> Result<()> {
    let Some(user) = cfg.spec.process().as_ref().map(|p| p.user()) else {
        return Ok(());
    };
    let read = |f: &str| {
        let p = Path::new("/proc/self").join(f);
        std::fs::read_to_string(&p).map_err(|e| Error::io("reading", p, e))
    };
    let (uids, gids) = (read("uid_map")?, read("gid_map")?);
    if !id_mapped(&uids, user.uid()) {
        return Err(Error::Spec(format!(
            "uid {} is not mapped in the user namespace (uid_map: {})",
            user.uid(),
            uids.split_whitespace().collect::<Vec<_>>().join(" ")
        )));
    }
    let groups = user.additional_gids().clone().unwrap_or_default();
    for g in std::iter::once(user.gid()).chain(groups) {
        if !id_mapped(&gids, g) {
            return Err(Error::Spec(format!(
                "gid {g} is not mapped in the user namespace (gid_map: {})",
                gids.split_whitespace().collect::<Vec<_>>().join(" ")
            )));
        }
    }
    Ok(())
}

/// What setup leaves for the start phase.
struct Ready {
    fifo: Option<OwnedFd>,
    seccomp: Option<Vec<SockFilter>>,
}

fn set_hostname_and_sysctls(spec: &Spec, plan: &NsPlan) -> Result<()> {
    if plan.creates(CloneFlags::CLONE_NEWUTS) {
        if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            nix::unistd::sethostname(h).map_err(|e| Error::sys(format!("sethostname {h:?}"), e))?;
        }
    }
    let sysctls = spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().clone())
        .unwrap_or_default();
    for (k, v) in sysctls {
        let path = sysctl_path(&k)?;
        std::fs::write(&path, v.as_bytes())
            .map_err(|e| Error::io("setting sysctl via", path, e))?;
    }
    Ok(())
}

/// The /proc/sys file of a sysctl name (`net.ipv4.ip_forward`).
pub fn sysctl_path(name: &str) -> Result<PathBuf> {
    if name.is_empty() || name.split(['.', '/']).any(|c| c.is_empty() || c == "..") {
        return Err(Error::Spec(format!("invalid sysctl name {name:?}")));
    }
    Ok(PathBuf::from("/proc/sys").join(name.replace('.', "/")))
}

#[allow(unsafe_code)]
fn set_name(name: &str) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes from `buf`.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

fn setup_pause(cfg: &InitConfig, plan: &NsPlan) -> Result<Ready> {
    set_name("pause");
    set_hostname_and_sysctls(&cfg.spec, plan)?;
    let _ = nix::unistd::chdir("/");
    Ok(Ready {
        fifo: None,
        seccomp: None,
    })
}

/// pid 1 of a pod: reap children, exit 0 on SIGTERM or SIGINT.
fn pause_loop() -> i32 {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    if sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).is_err() {
        return 1;
    }
    loop {
        match set.wait() {
            Ok(Signal::SIGTERM) | Ok(Signal::SIGINT) => return 0,
            Ok(_) => loop {
                match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => {}
                }
            },
            Err(_) => {}
        }
    }
}

fn setup_container(
    cfg: &InitConfig,
    plan: &NsPlan,
    userns: Option<BorrowedFd<'_>>,
) -> Result<Ready> {
    let spec = &cfg.spec;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::Spec("the spec has no root".into()))?;
    let rootfs = root.path();
    if !rootfs.is_absolute() {
        return Err(Error::Spec(format!(
            "root.path {} must be absolute",
            rootfs.display()
        )));
    }
    if !plan.creates(CloneFlags::CLONE_NEWNS) {
        return Err(Error::Spec(
            "a container needs a new mount namespace".into(),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Spec("the spec has no process".into()))?;
    let linux = spec.linux().clone().unwrap_or_default();
    let seccomp = match linux.seccomp() {
        Some(profile) => {
            let arch = seccomp::native_arch().ok_or_else(|| {
                Error::Seccomp("seccomp is not supported on this architecture".into())
            })?;
            Some(seccomp::compile_seccomp(profile, arch)?)
        }
        None => None,
    };
    let fifo = match &cfg.start_fifo {
        Some(p) => Some(OwnedFd::from(
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
                .open(p)
                .map_err(|e| Error::io("opening start fifo", p, e))?,
        )),
        None => None,
    };

    let propagation = linux.rootfs_propagation().as_deref();
    mounts::prepare_root_propagation(propagation)?;
    mounts::private_pivot_parents(propagation, rootfs)?;
    mounts::bind_rootfs(rootfs)?;
    let spec_mounts = spec.mounts().clone().unwrap_or_default();
    let mut dev_mounted = false;
    for m in &spec_mounts {
        mounts::mount_one(rootfs, m, userns).map_err(|e| match e {
            Error::Sys { op, source } => Error::sys(
                format!("{op} (mount {})", m.destination().display()),
                source,
            ),
            other => other,
        })?;
        if m.destination() == Path::new("/dev") {
            dev_mounted = true;
        }
    }
    if dev_mounted {
        mounts::populate_dev(rootfs, linux.devices().as_deref().unwrap_or(&[]))?;
    }
    mounts::pivot_root(rootfs)?;
    mounts::finish_propagation(propagation)?;
    set_hostname_and_sysctls(spec, plan)?;
    for p in linux.masked_paths().as_deref().unwrap_or(&[]) {
        mounts::mask_path(Path::new(p))?;
    }
    for p in linux.readonly_paths().as_deref().unwrap_or(&[]) {
        mounts::readonly_path(Path::new(p))?;
    }
    let cwd = process.cwd();
    if !cwd.as_os_str().is_empty() && !cwd.exists() {
        std::fs::create_dir_all(cwd).map_err(|e| Error::io("creating cwd", cwd, e))?;
    }
    if root.readonly().unwrap_or(false) {
        mounts::readonly_root()?;
    }
    // fail at create time, not start time, for a missing executable
    let arg0 = process
        .args()
        .as_deref()
        .and_then(|a| a.first())
        .ok_or(Error::NoArgs)?;
    let env = process.env().as_deref().unwrap_or(&[]);
    let cwd = if cwd.as_os_str().is_empty() {
        Path::new("/")
    } else {
        cwd.as_path()
    };
    find_executable(Path::new("/"), arg0, path_env(env), cwd)?;
    Ok(Ready { fifo, seccomp })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ns: &str) -> Spec {
        serde_json::from_str(&format!(
            r#"{{"ociVersion":"1.0.2","linux":{{"namespaces":{ns}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn namespace_plan_orders_joins_and_collects_creations() {
        let s = spec(
            r#"[{"type":"mount"},{"type":"network","path":"/run/netns/a"},{"type":"pid"},
                {"type":"user","path":"/proc/9/ns/user"},{"type":"uts","path":"/proc/9/ns/uts"}]"#,
        );
        let p = ns_plan(&s).unwrap();
        assert_eq!(p.create, CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID);
        let joined: Vec<CloneFlags> = p.join.iter().map(|j| j.0).collect();
        assert_eq!(
            joined,
            vec![CloneFlags::CLONE_NEWNET, CloneFlags::CLONE_NEWUTS]
        );
        assert_eq!(p.user, Some(UserNs::Join("/proc/9/ns/user".into())));
        assert!(p.creates(CloneFlags::CLONE_NEWNS));
        assert!(!p.creates(CloneFlags::CLONE_NEWUTS));
    }

    #[test]
    fn new_user_namespace_needs_mappings() {
        let e = ns_plan(&spec(r#"[{"type":"user"}]"#)).unwrap_err();
        assert!(e.to_string().contains("needs uid mappings"), "{e}");
        let s: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"user"},{"type":"ipc"}],
                "uidMappings":[{"containerID":0,"hostID":1000,"size":65536}],
                "gidMappings":[{"containerID":0,"hostID":2000,"size":10},
                               {"containerID":10,"hostID":5000,"size":5}]}}"#,
        )
        .unwrap();
        let p = ns_plan(&s).unwrap();
        assert_eq!(
            p.user,
            Some(UserNs::Create {
                uid_map: "0 1000 65536\n".into(),
                gid_map: "0 2000 10\n10 5000 5\n".into(),
            })
        );
        assert_eq!(p.create, CloneFlags::CLONE_NEWIPC);
    }

    #[test]
    fn mapped_ids() {
        let map = "         0     300000      65536\n     65536    5000          1\n";
        assert!(id_mapped(map, 0));
        assert!(id_mapped(map, 65535));
        assert!(id_mapped(map, 65536));
        assert!(!id_mapped(map, 65537));
        assert!(!id_mapped("", 0));
    }

    #[test]
    fn id_maps_are_checked() {
        let m = |c: u32, h: u32, n: u32| {
            oci_spec::runtime::LinuxIdMappingBuilder::default()
                .container_id(c)
                .host_id(h)
                .size(n)
                .build()
                .unwrap()
        };
        assert!(id_map_text(&[m(0, 1000, 0)], "uid").is_err());
        assert!(id_map_text(&[m(0, u32::MAX, 2)], "uid").is_err());
        let e = id_map_text(&[m(0, 1000, 100), m(50, 5000, 10)], "gid").unwrap_err();
        assert!(e.to_string().contains("overlap"), "{e}");
        let e = id_map_text(&[m(0, 1000, 100), m(200, 1050, 10)], "gid").unwrap_err();
        assert!(e.to_string().contains("overlap"), "{e}");
        assert_eq!(
            id_map_text(&[m(0, 1000, 100), m(100, 5000, 1)], "uid").unwrap(),
            "0 1000 100\n100 5000 1\n"
        );
    }

    #[test]
    fn sysctl_names() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            sysctl_path("kernel.shm_rmid_forced").unwrap(),
            PathBuf::from("/proc/sys/kernel/shm_rmid_forced")
        );
        assert!(sysctl_path("net..x").is_err());
        assert!(sysctl_path("../etc").is_err());
        assert!(sysctl_path("").is_err());
    }

    #[test]
    fn config_round_trips_and_bad_json_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        let cfg = InitConfig {
            spec: spec(r#"[{"type":"pid"}]"#),
            cgroup_procs: vec![PathBuf::from("/sys/fs/cgroup/pids/x/cgroup.procs")],
            start_fifo: None,
            pause: true,
            pid_file: d.path().join("pid"),
        };
        let p = d.path().join("init.json");
        std::fs::write(&p, serde_json::to_vec(&cfg).unwrap()).unwrap();
        let back: InitConfig = read_json(&p).unwrap();
        assert!(back.pause);
        assert_eq!(back.cgroup_procs, cfg.cgroup_procs);
        std::fs::write(&p, "{").unwrap();
        let e = read_json::<InitConfig>(&p).unwrap_err();
        assert!(e.to_string().contains("init.json"), "{e}");
        assert_eq!(init_main(&d.path().join("missing.json")), 1);
    }
}
