//! The last steps before exec, shared by init and enter: rlimits, oom_score_adj, user and
//! groups, capabilities, no_new_privs, seccomp, cwd, PATH lookup and execve.

use crate::caps::{self, CapMasks};
use crate::error::{Error, Result};
use crate::paths::{find_executable, path_env};
use crate::seccomp::{self, SockFilter};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{PosixRlimitType, Process};
use std::ffi::CString;
use std::path::Path;

/// The nix resource of an OCI rlimit type.
pub fn rlimit_resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// Without CAP_SYS_RESOURCE a hard limit can't be raised: clamp the wanted (soft, hard)
/// under the current hard limit.
pub fn clamp_rlimit(soft: u64, hard: u64, current_hard: u64) -> (u64, u64) {
    let hard = hard.min(current_hard);
    (soft.min(hard), hard)
}

/// Without CAP_SYS_RESOURCE oom_score_adj can't be lowered: the value to use when writing
/// `requested` failed and `current` is in force. Always within -1000..=1000.
pub fn clamp_oom_score_adj(requested: i32, current: i32) -> i32 {
    requested.max(current).clamp(-1000, 1000)
}

/// Applies the process's rlimits, clamping hard limits we may not raise.
pub fn apply_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().as_deref().unwrap_or(&[]) {
        let res = rlimit_resource(r.typ());
        match setrlimit(res, r.soft(), r.hard()) {
            Ok(()) => {}
            Err(nix::Error::EPERM) => {
                let (_, cur_hard) = getrlimit(res)
                    .map_err(|e| Error::sys(format!("getrlimit {:?}", r.typ()), e))?;
                let (s, h) = clamp_rlimit(r.soft(), r.hard(), cur_hard);
                setrlimit(res, s, h).map_err(|e| {
                    Error::sys(format!("setrlimit {:?} soft {s} hard {h}", r.typ()), e)
                })?;
            }
            Err(e) => {
                return Err(Error::sys(
                    format!(
                        "setrlimit {:?} soft {} hard {}",
                        r.typ(),
                        r.soft(),
                        r.hard()
                    ),
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// Writes oom_score_adj, keeping the current value when a lower one is refused.
pub fn apply_oom_score_adj(value: i32) -> Result<()> {
    let path = "/proc/self/oom_score_adj";
    if std::fs::write(path, value.to_string()).is_ok() {
        return Ok(());
    }
    let current: i32 = std::fs::read_to_string(path)
        .map_err(|e| Error::io("reading", path, e))?
        .trim()
        .parse()
        .map_err(|_| Error::Spec(format!("{path} does not hold a number")))?;
    let v = clamp_oom_score_adj(value, current);
    if v == current {
        return Ok(());
    }
    std::fs::write(path, v.to_string()).map_err(|e| Error::io("writing oom_score_adj to", path, e))
}

#[allow(unsafe_code)]
fn set_no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::sys("prctl(PR_SET_NO_NEW_PRIVS)", nix::Error::last()))
    }
}

#[allow(unsafe_code)]
fn set_parent_death_signal() {
    // SAFETY: prctl with integer arguments only. Best effort: failing only loses cleanup.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
}

/// Environment variable the monitor sets (to `1`) for the init in tty mode.
pub const TTY_ENV: &str = "OUTRIGGER_TTY";

/// Makes the terminal on stdin the controlling terminal of a new session (for tty mode),
/// when stdin is a terminal. Best effort: a caller may already have done it.
#[allow(unsafe_code)]
pub fn take_controlling_terminal() {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return;
    }
    let _ = nix::unistd::setsid();
    // SAFETY: TIOCSCTTY on fd 0 takes an integer argument (0: don't steal).
    unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
}

fn cstrings(v: &[String], what: &str) -> Result<Vec<CString>> {
    v.iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| Error::Spec(format!("{what} {s:?} contains a NUL byte")))
        })
        .collect()
}

/// Options of [`finalize_and_exec`].
pub struct Finish<'a> {
    /// The process to run.
    pub process: &'a Process,
    /// A compiled seccomp filter, if any.
    pub seccomp: Option<&'a [SockFilter]>,
    /// oom_score_adj to apply.
    pub oom_score_adj: Option<i32>,
    /// Kill the process when its parent dies (exec'd commands).
    pub die_with_parent: bool,
}

/// Becomes the container process: applies limits, credentials, capabilities and seccomp,
/// then execs. Returns only on failure.
pub fn finalize_and_exec(f: &Finish<'_>) -> Error {
    match finalize(f) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn finalize(f: &Finish<'_>) -> Result<std::convert::Infallible> {
    let p = f.process;
    let args = p.args().as_deref().unwrap_or(&[]);
    let Some(arg0) = args.first() else {
        return Err(Error::NoArgs);
    };
    let env = p.env().as_deref().unwrap_or(&[]);
    let cargs = cstrings(args, "argument")?;
    let cenv = cstrings(env, "environment variable")?;

    apply_rlimits(p)?;
    if let Some(v) = f.oom_score_adj {
        apply_oom_score_adj(v)?;
    }
    // no capabilities object: leave the capability sets alone (as runc does)
    // Capabilities we do not hold ourselves cannot be granted (this machine's root lacks
    // CAP_SYS_RESOURCE, for one): "privileged" and "add ALL" mean everything we have, as
    // containerd's WithAllCurrentCapabilities does.
    let masks = match p.capabilities() {
        Some(c) => Some(CapMasks::from_spec(Some(c))?.limited_to(crate::caps::current_bounding())),
        None => None,
    };
    let nnp = p.no_new_privileges().unwrap_or(false);
    // without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while we have it
    if let (Some(filter), false) = (f.seccomp, nnp) {
        seccomp::install(filter)?;
    }
    if let Some(m) = &masks {
        caps::drop_bounding(m.bounding)?;
    }
    let user = p.user();
    caps::set_keepcaps(true)?;
    let groups: Vec<Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).map_err(|e| Error::sys(format!("setgroups {groups:?}"), e))?;
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| Error::sys(format!("setresgid {gid}"), e))?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| Error::sys(format!("setresuid {uid}"), e))?;
    caps::set_keepcaps(false)?;
    if let Some(m) = &masks {
        caps::capset(m.effective, m.permitted, m.inheritable)?;
        caps::set_ambient(caps::raisable_ambient(m))?;
    }
    if let Some(mask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask & 0o777));
    }
    let cwd = if p.cwd().as_os_str().is_empty() {
        Path::new("/")
    } else {
        p.cwd().as_path()
    };
    nix::unistd::chdir(cwd)
        .map_err(|e| Error::sys(format!("chdir to cwd {}", cwd.display()), e))?;
    let exe = find_executable(Path::new("/"), arg0, path_env(env), cwd)?;
    let cexe = CString::new(exe.as_os_str().as_encoded_bytes()).map_err(|_| {
        Error::Spec(format!(
            "executable path {} contains a NUL byte",
            exe.display()
        ))
    })?;
    if f.die_with_parent {
        set_parent_death_signal();
    }
    if nnp {
        set_no_new_privs()?;
        if let Some(filter) = f.seccomp {
            seccomp::install(filter)?;
        }
    }
    match nix::unistd::execve(&cexe, &cargs, &cenv) {
        Ok(never) => match never {},
        Err(e) => Err(Error::sys(format!("exec {}", exe.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_score_adj_is_clamped_up_to_current() {
        assert_eq!(clamp_oom_score_adj(-999, -500), -500);
        assert_eq!(clamp_oom_score_adj(-997, 0), 0);
        assert_eq!(clamp_oom_score_adj(1000, 0), 1000);
        assert_eq!(clamp_oom_score_adj(5000, 0), 1000);
        assert_eq!(clamp_oom_score_adj(-2000, -1500), -1000);
    }

    #[test]
    fn rlimits_are_clamped_under_the_current_hard_limit() {
        assert_eq!(clamp_rlimit(1024, 1_048_576, 524_288), (1024, 524_288));
        assert_eq!(clamp_rlimit(1_048_576, 1_048_576, 4096), (4096, 4096));
        assert_eq!(clamp_rlimit(10, 20, 100), (10, 20));
    }

    #[test]
    fn rlimit_types_map() {
        assert_eq!(
            rlimit_resource(PosixRlimitType::RlimitNofile),
            Resource::RLIMIT_NOFILE
        );
        assert_eq!(
            rlimit_resource(PosixRlimitType::RlimitCore),
            Resource::RLIMIT_CORE
        );
    }
}
