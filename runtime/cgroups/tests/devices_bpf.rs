//! Root test on the real kernel: a cgroup-device eBPF program attached to a scratch cgroup v2
//! directory allows /dev/zero and denies /dev/null to a process in that cgroup, and a re-apply
//! leaves exactly one program of ours. Skips itself (with a printed reason) when there is no
//! cgroup2 mount, we are not allowed to create a cgroup there, or bpf() is missing/forbidden.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use outrigger_cgroups::{
    DeviceKind, DeviceRule, Error, apply_device_rules_v2, attached_device_programs,
};

/// Env var telling a re-executed copy of this test binary to act as the probe process.
const CHILD_ENV: &str = "OUTRIGGER_DEVTEST_PROCS";

// Child exit codes.
const OK: i32 = 0;
const JOIN_FAILED: i32 = 10;
const ZERO_FAILED: i32 = 11;
const NULL_OPENED: i32 = 12;
const NULL_WRONG_ERRNO: i32 = 13;

fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        pre.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// Removes the scratch cgroup, moving any leftover process to the mount's root first.
struct CgroupGuard {
    dir: PathBuf,
    root: PathBuf,
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in procs.split_whitespace() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
        }
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            eprintln!("cannot remove {}: {e}", self.dir.display());
        }
    }
}

fn rule(allow: bool, kind: DeviceKind, major: Option<i64>, minor: Option<i64>) -> DeviceRule {
    DeviceRule {
        allow,
        kind,
        major,
        minor,
        access: "rwm".to_string(),
    }
}

/// Runs the probe in a fresh process inside the cgroup; returns its exit code.
fn probe(dir: &Path) -> i32 {
    let exe = std::env::current_exe().unwrap();
    let status = Command::new(exe)
        .args(["--exact", "probe_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.join("cgroup.procs"))
        .status()
        .unwrap();
    status.code().unwrap_or(-1)
}

/// Not a test on its own: does nothing unless re-executed by `bpf_device_filter_on_cgroup2`.
#[test]
fn probe_child() {
    let Some(procs) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let code = (|| {
        if std::fs::write(&procs, std::process::id().to_string()).is_err() {
            return JOIN_FAILED;
        }
        if std::fs::File::open("/dev/zero").is_err() {
            return ZERO_FAILED;
        }
        match std::fs::File::open("/dev/null") {
            Ok(_) => NULL_OPENED,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => OK,
            Err(_) => NULL_WRONG_ERRNO,
        }
    })();
    std::process::exit(code);
}

fn skippable(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => matches!(
            source.raw_os_error(),
            Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::EOPNOTSUPP)
        ),
        _ => false,
    }
}

#[test]
fn bpf_device_filter_on_cgroup2() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let Some(root) = cgroup2_mount() else {
        eprintln!("SKIP: no cgroup2 mount in /proc/self/mountinfo");
        return;
    };
    let dir = root.join(format!("outrigger-devtest-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir(&dir) {
        eprintln!("SKIP: cannot create {}: {e}", dir.display());
        return;
    }
    let _guard = CgroupGuard {
        dir: dir.clone(),
        root: root.clone(),
    };
    assert_eq!(
        attached_device_programs(&dir).unwrap_or_default(),
        Vec::<u32>::new()
    );

    let rules = vec![
        rule(false, DeviceKind::All, None, None),
        rule(true, DeviceKind::Char, Some(1), Some(5)),
        rule(false, DeviceKind::Char, Some(1), Some(3)),
    ];
    match apply_device_rules_v2(&dir, &rules) {
        Ok(()) => {}
        Err(e) if skippable(&e) => {
            eprintln!("SKIP: bpf() not usable here: {e}");
            return;
        }
        Err(e) => panic!("apply failed: {e}"),
    }
    let first = attached_device_programs(&dir).unwrap();
    assert_eq!(
        first.len(),
        1,
        "one program after the first apply: {first:?}"
    );
    assert_eq!(probe(&dir), OK, "child saw the wrong device access");

    // Re-apply (UpdateContainerResources): still exactly one program of ours, a new one.
    let rules2 = vec![
        rule(false, DeviceKind::All, None, None),
        rule(true, DeviceKind::Char, Some(1), None),
        rule(false, DeviceKind::Char, Some(1), Some(3)),
    ];
    apply_device_rules_v2(&dir, &rules2).unwrap();
    let second = attached_device_programs(&dir).unwrap();
    assert_eq!(
        second.len(),
        1,
        "one program after the re-apply: {second:?}"
    );
    assert_ne!(first, second, "the old program was replaced");
    assert_eq!(
        probe(&dir),
        OK,
        "child saw the wrong device access after re-apply"
    );

    // Invalid rules are rejected before anything changes.
    let bad = vec![DeviceRule {
        access: "x".to_string(),
        ..rule(true, DeviceKind::Char, Some(1), Some(3))
    }];
    assert!(matches!(
        apply_device_rules_v2(&dir, &bad),
        Err(Error::InvalidValue { .. })
    ));
    assert_eq!(attached_device_programs(&dir).unwrap(), second);
}
