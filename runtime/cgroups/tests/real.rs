//! Integration test on this host's real cgroup hierarchies. Needs root; skips otherwise.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use outrigger_cgroups::{Cgroup, CgroupManager, CgroupVersion, Resources};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Cleans up even when an assertion fails: kills the child, then the cgroup tree, and
/// restores the unified root's subtree_control if we were the ones enabling controllers.
struct Guard {
    pod: Cgroup,
    child: Option<Child>,
    subtree_control: Option<(PathBuf, String)>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.pod.kill_all();
        if let Err(e) = self.pod.delete() {
            eprintln!("cleanup of {} failed: {e}", self.pod.path());
        }
        if let Some((path, before)) = &self.subtree_control {
            let now = std::fs::read_to_string(path).unwrap_or_default();
            for c in now.split_whitespace() {
                if !before.split_whitespace().any(|b| b == c) {
                    // Best effort: someone else may have started using it meanwhile.
                    let _ = std::fs::write(path, format!("-{c}"));
                }
            }
        }
    }
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn real_hierarchy_lifecycle() {
    if !is_root() {
        eprintln!("SKIP real_hierarchy_lifecycle: needs root");
        return;
    }
    let m = match CgroupManager::detect() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("SKIP real_hierarchy_lifecycle: no cgroups here: {e}");
            return;
        }
    };
    let ctl = m.controllers();
    let mount_of = |c: &str| ctl.iter().find(|(n, _)| n == c).map(|(_, p)| p.clone());
    let unified_root = if m.version() == CgroupVersion::V2 {
        mount_of("memory")
    } else {
        mount_of("hugetlb").filter(|_| m.hybrid())
    };
    let name = format!("/outrigger-cgtest-{}", std::process::id());
    let pod = m.cgroup(&name).unwrap();
    let mut guard = Guard {
        pod: pod.clone(),
        child: None,
        subtree_control: unified_root.as_ref().map(|r| {
            let p = r.join("cgroup.subtree_control");
            let before = std::fs::read_to_string(&p).unwrap_or_default();
            (p, before)
        }),
    };
    let c1 = m.cgroup(&format!("{name}/c1")).unwrap();
    c1.create().unwrap();
    assert!(c1.exists() && pod.exists());

    let mut r = Resources {
        cpu_period: Some(100_000),
        cpu_quota: Some(50_000),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0".into()),
        memory_limit_bytes: Some(64 << 20),
        memory_swap_limit_bytes: Some(64 << 20),
        pids_limit: Some(64),
        ..Resources::default()
    };
    let hugetlb_2mb = std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").is_dir();
    if hugetlb_2mb && mount_of("hugetlb").is_some() {
        r.hugepage_limits.push(("2MB".into(), 4 << 20));
    }
    c1.apply(&r).unwrap();
    let rel = format!("{}/c1", name.trim_start_matches('/'));
    let file = |c: &str, f: &str| mount_of(c).unwrap().join(&rel).join(f);
    if m.version() == CgroupVersion::V1 {
        assert_eq!(read(file("memory", "memory.limit_in_bytes")), "67108864");
        assert_eq!(read(file("cpu", "cpu.cfs_quota_us")), "50000");
        assert_eq!(read(file("cpu", "cpu.shares")), "512");
    } else {
        assert_eq!(read(file("memory", "memory.max")), "67108864");
        assert_eq!(read(file("cpu", "cpu.max")), "50000 100000");
    }
    assert_eq!(read(file("pids", "pids.max")), "64");
    assert_eq!(read(file("cpuset", "cpuset.cpus")), "0");
    if !r.hugepage_limits.is_empty() {
        let unified = m.hybrid() || m.version() == CgroupVersion::V2;
        let f = if unified {
            "hugetlb.2MB.max"
        } else {
            "hugetlb.2MB.limit_in_bytes"
        };
        assert_eq!(read(file("hugetlb", f)), (4u64 << 20).to_string());
    }
    // Invalid input is refused and leaves the limit alone.
    assert!(
        c1.apply(&Resources {
            memory_limit_bytes: Some(32 << 20),
            cpuset_cpus: Some("0-".into()),
            ..Resources::default()
        })
        .is_err()
    );
    if m.version() == CgroupVersion::V1 {
        assert_eq!(read(file("memory", "memory.limit_in_bytes")), "67108864");
    }

    // A shell that joins, then allocates and burns a little CPU inside the cgroup.
    let child = Command::new("sh")
        .arg("-c")
        .arg("sleep 0.3; x=$(head -c 3000000 /dev/zero | tr '\\0' a); exec sleep 100")
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    guard.child = Some(child);
    c1.add_process(pid).unwrap();
    assert!(c1.pids().unwrap().contains(&pid));
    assert!(pod.pids().unwrap().contains(&pid), "pids() is recursive");
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(proc_cgroup.contains(&format!("{name}/c1")), "{proc_cgroup}");
    std::thread::sleep(Duration::from_millis(1200));

    let s = c1.stats().unwrap();
    let mem = s.memory.unwrap();
    assert!(mem.usage_bytes > 0, "{mem:?}");
    assert!(mem.working_set_bytes <= mem.usage_bytes);
    assert_eq!(mem.limit_bytes, Some(64 << 20));
    assert!(s.cpu.unwrap().usage_ns > 0);
    let p = s.pids.unwrap();
    assert!(p.current >= 1);
    assert_eq!(p.limit, Some(64));
    assert_eq!(c1.oom_kill_count().unwrap(), 0);

    // Kill from the pod level (recursive), reap, delete.
    pod.kill_all().unwrap();
    let status = guard.child.as_mut().unwrap().wait().unwrap();
    guard.child = None;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(pod.pids().unwrap().is_empty());
    pod.delete().unwrap();
    assert!(!pod.exists());
    for (c, mount) in &ctl {
        assert!(
            !mount.join(name.trim_start_matches('/')).exists(),
            "{c}: {name} left behind in {}",
            mount.display()
        );
    }
    pod.delete().unwrap();
}

#[test]
fn real_oom_kill_is_counted() {
    if !is_root() {
        eprintln!("SKIP real_oom_kill_is_counted: needs root");
        return;
    }
    let Ok(m) = CgroupManager::detect() else {
        eprintln!("SKIP real_oom_kill_is_counted: no cgroups here");
        return;
    };
    let name = format!("/outrigger-cgtest-oom-{}", std::process::id());
    let cg = m.cgroup(&name).unwrap();
    let mut guard = Guard {
        pod: cg.clone(),
        child: None,
        subtree_control: None,
    };
    cg.create().unwrap();
    cg.apply(&Resources {
        memory_limit_bytes: Some(16 << 20),
        memory_swap_limit_bytes: Some(16 << 20),
        ..Resources::default()
    })
    .unwrap();
    assert_eq!(cg.oom_kill_count().unwrap(), 0);
    // The shell joins, then grows a variable far past the limit.
    let child = Command::new("sh")
        .arg("-c")
        .arg("sleep 0.3; x=$(head -c 200000000 /dev/zero | tr '\\0' a); sleep 100")
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    guard.child = Some(child);
    cg.add_process(pid).unwrap();
    let mut count = 0;
    for _ in 0..100 {
        count = cg.oom_kill_count().unwrap();
        if count > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(count >= 1, "no OOM kill recorded");
    cg.kill_all().unwrap();
    if let Some(mut c) = guard.child.take() {
        let _ = c.wait();
    }
    cg.delete().unwrap();
    assert!(!cg.exists());
}
