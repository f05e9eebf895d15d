//! `enter_main`: runs a command inside a running container (CRI exec).

use crate::error::{Error, Result};
use crate::init::{fork, join_cgroups, read_json};
use crate::process::{Finish, finalize_and_exec};
use crate::seccomp;
use nix::sched::CloneFlags;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::ForkResult;
use oci_spec::runtime::{LinuxSeccomp, Process};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What `outrigger-cri enter` needs to run a command in a running container.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct EnterConfig {
    /// A process of the container: its namespaces (those differing from ours), root and
    /// cwd are joined.
    pub target_pid: i32,
    /// The command: args, env, cwd, user, capabilities, no_new_privileges. `terminal` is
    /// ignored (the caller set up stdio).
    pub process: Process,
    /// cgroup.procs files to join first.
    pub cgroup_procs: Vec<PathBuf>,
    /// The container's seccomp profile, if any.
    pub seccomp: Option<LinuxSeccomp>,
}

/// Namespace kinds in join order: mount after the others, user last (joined as the host's
/// root, the others need no capability in the container's user namespace).
const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("user", CloneFlags::CLONE_NEWUSER),
];

/// The namespaces of `target` (a /proc/<pid> directory) that differ from those of `me`
/// (a /proc/self directory), in join order.
pub fn differing_namespaces(me: &Path, target: &Path) -> Vec<(PathBuf, CloneFlags)> {
    let mut out = Vec::new();
    for (name, flag) in NAMESPACES {
        let t = target.join("ns").join(name);
        let Ok(theirs) = std::fs::read_link(&t) else {
            continue;
        };
        let ours = std::fs::read_link(me.join("ns").join(name)).ok();
        if ours.as_ref() != Some(&theirs) {
            out.push((t, *flag));
        }
    }
    out
}

/// The exit code for a wait status: the code, or 128 + the signal.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Runs `outrigger-cri enter <config>`: returns the command's exit code (128 + signal when it
/// was killed), or 126/127 when it could not be started (127: not found).
pub fn enter_main(config: &Path) -> i32 {
    match run(config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("outrigger enter: {e}");
            126
        }
    }
}

fn run(config: &Path) -> Result<i32> {
    let cfg: EnterConfig = read_json(config)?;
    let target = PathBuf::from(format!("/proc/{}", cfg.target_pid));
    let seccomp = match &cfg.seccomp {
        Some(p) => {
            let arch = seccomp::native_arch().ok_or_else(|| {
                Error::Seccomp("seccomp is not supported on this architecture".into())
            })?;
            Some(seccomp::compile_seccomp(p, arch)?)
        }
        None => None,
    };
    join_cgroups(&cfg.cgroup_procs)?;
    let joins = differing_namespaces(Path::new("/proc/self"), &target);
    let mut fds = Vec::new();
    for (path, flag) in joins {
        let f = std::fs::File::open(&path).map_err(|e| Error::io("opening namespace", &path, e))?;
        fds.push((f, flag, path));
    }
    let root_path = target.join("root");
    let root = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(&root_path)
        .map_err(|e| Error::io("opening container root", &root_path, e))?;
    let user = fds
        .iter()
        .position(|(_, flag, _)| *flag == CloneFlags::CLONE_NEWUSER)
        .map(|i| fds.remove(i));
    for (f, flag, path) in &fds {
        nix::sched::setns(f, *flag)
            .map_err(|e| Error::sys(format!("setns {}", path.display()), e))?;
    }
    drop(fds);
    nix::unistd::fchdir(&root).map_err(|e| Error::sys("fchdir to the container root", e))?;
    nix::unistd::chroot(".").map_err(|e| Error::sys("chroot to the container root", e))?;
    drop(root);
    if let Some((f, flag, path)) = user {
        nix::sched::setns(&f, flag)
            .map_err(|e| Error::sys(format!("setns {}", path.display()), e))?;
    }

    match fork()? {
        ForkResult::Child => {
            if cfg.process.terminal().unwrap_or(false) {
                crate::process::take_controlling_terminal();
            }
            let e = finalize_and_exec(&Finish {
                process: &cfg.process,
                seccomp: seccomp.as_deref(),
                oom_score_adj: None,
                die_with_parent: true,
            });
            eprintln!("outrigger enter: {e}");
            std::process::exit(if matches!(e, Error::NotFound(_)) {
                127
            } else {
                126
            });
        }
        ForkResult::Parent { child } => loop {
            forward_termination(child);
            match waitpid(child, None) {
                Ok(s) => {
                    if let Some(code) = exit_code(s) {
                        return Ok(code);
                    }
                }
                Err(nix::Error::EINTR) => {}
                Err(e) => return Err(Error::sys(format!("waitpid {child}"), e)),
            }
        },
    }
}

/// The command forked by `enter`, for the signal handler below.
static COMMAND_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn kill_command(_sig: libc::c_int) {
    let pid = COMMAND_PID.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and takes plain integers.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// SIGTERM/SIGINT/SIGHUP to `enter` (the runtime ending an exec, e.g. an ExecSync timeout)
/// become SIGKILL to the command, which `enter` then reaps and reports: killing `enter` itself
/// would leave the command to the container's pid 1, which may never reap it.
fn forward_termination(child: nix::unistd::Pid) {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    COMMAND_PID.store(child.as_raw(), std::sync::atomic::Ordering::Relaxed);
    let sa = SigAction::new(
        SigHandler::Handler(kill_command),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only loads an atomic and calls kill(2), both async-signal-safe.
        #[allow(unsafe_code)]
        let _ = unsafe { sigaction(sig, &sa) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn exit_codes() {
        let p = Pid::from_raw(5);
        assert_eq!(exit_code(WaitStatus::Exited(p, 3)), Some(3));
        assert_eq!(
            exit_code(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }

    #[test]
    fn namespaces_compared_by_link_target() {
        let d = tempfile::tempdir().unwrap();
        let mk = |dir: &str, links: &[(&str, &str)]| {
            let ns = d.path().join(dir).join("ns");
            std::fs::create_dir_all(&ns).unwrap();
            for (n, t) in links {
                std::os::unix::fs::symlink(t, ns.join(n)).unwrap();
            }
            d.path().join(dir)
        };
        let me = mk(
            "me",
            &[
                ("mnt", "mnt:[1]"),
                ("net", "net:[2]"),
                ("user", "user:[3]"),
                ("pid", "pid:[4]"),
            ],
        );
        let them = mk(
            "them",
            &[
                ("mnt", "mnt:[9]"),
                ("net", "net:[8]"),
                ("user", "user:[3]"),
                ("pid", "pid:[4]"),
            ],
        );
        let got = differing_namespaces(&me, &them);
        let flags: Vec<CloneFlags> = got.iter().map(|g| g.1).collect();
        assert_eq!(
            flags,
            vec![CloneFlags::CLONE_NEWNET, CloneFlags::CLONE_NEWNS]
        );
        assert_eq!(got[0].0, them.join("ns/net"));
    }

    #[test]
    fn self_has_no_differing_namespaces() {
        assert!(differing_namespaces(Path::new("/proc/self"), Path::new("/proc/self")).is_empty());
    }
}
