//! Unit tests on fake hierarchies in temp dirs.

use super::*;
use std::fs;
use tempfile::TempDir;

const HOST: &str = include_str!("../tests/fixtures/mountinfo-host.txt");
const V2: &str = include_str!("../tests/fixtures/mountinfo-v2.txt");

const V1_MOUNTS: [&str; 9] = [
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
];

fn put(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

fn get(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

/// This machine's layout: v1 controllers apart, cgroup2 with only hugetlb.
fn host() -> (TempDir, CgroupManager) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("sys/fs/cgroup");
    for m in V1_MOUNTS.iter().chain(["unified"].iter()) {
        fs::create_dir_all(root.join(m)).unwrap();
    }
    put(&root.join("cpuset/cpuset.cpus"), "0-1\n");
    put(&root.join("cpuset/cpuset.mems"), "0\n");
    put(&root.join("unified/cgroup.controllers"), "hugetlb\n");
    put(&root.join("unified/cgroup.subtree_control"), "\n");
    let m = CgroupManager::from_mountinfo(HOST, t.path()).unwrap();
    (t, m)
}

/// A v2-only host.
fn v2host() -> (TempDir, CgroupManager) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("sys/fs/cgroup");
    fs::create_dir_all(&root).unwrap();
    put(
        &root.join("cgroup.controllers"),
        "cpuset cpu io memory hugetlb pids\n",
    );
    put(&root.join("cgroup.subtree_control"), "\n");
    let m = CgroupManager::from_mountinfo(V2, t.path()).unwrap();
    (t, m)
}

fn cg_root(t: &TempDir) -> PathBuf {
    t.path().join("sys/fs/cgroup")
}

fn is_invalid(r: Result<(), Error>, field: &str) {
    match r {
        Err(Error::InvalidValue { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected InvalidValue for {field}, got {other:?}"),
    }
}

#[test]
fn handles_are_send_sync_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<CgroupManager>();
    check::<Cgroup>();
}

#[test]
fn detects_this_hosts_hybrid_layout() {
    let (t, m) = host();
    assert_eq!(m.version(), CgroupVersion::V1);
    assert!(m.hybrid());
    let ctl = m.controllers();
    let find = |c: &str| ctl.iter().find(|(n, _)| n == c).map(|(_, p)| p.clone());
    let root = cg_root(&t);
    assert_eq!(find("cpu"), Some(root.join("cpu")));
    assert_eq!(find("cpuacct"), Some(root.join("cpuacct")));
    assert_eq!(find("hugetlb"), Some(root.join("unified")));
    assert_eq!(find("name=systemd"), Some(root.join("systemd")));
    assert_eq!(ctl.len(), 10);
}

#[test]
fn detects_v2_only() {
    let (_t, m) = v2host();
    assert_eq!(m.version(), CgroupVersion::V2);
    assert!(!m.hybrid());
    assert_eq!(m.controllers().len(), 6);
}

#[test]
fn no_cgroups_is_an_error() {
    let r = CgroupManager::from_mountinfo("1 0 0:1 / / rw - ext4 /dev/x rw\n", Path::new("/"));
    assert!(matches!(r, Err(Error::NoCgroups)));
}

#[test]
fn paths_are_validated() {
    let (_t, m) = host();
    for bad in ["", "/", "a//b", "/a/../b", "/a/./b", "/a/", ".."] {
        assert!(
            matches!(m.cgroup(bad), Err(Error::InvalidPath { .. })),
            "{bad:?} accepted"
        );
    }
    assert_eq!(m.cgroup("a/b").unwrap().path(), "/a/b");
    assert_eq!(
        m.cgroup("/kubepods/burstable/pod1").unwrap().path(),
        "/kubepods/burstable/pod1"
    );
    assert_eq!(m.cgroup_under("", "sb1").unwrap().path(), "/outrigger/sb1");
    assert_eq!(m.cgroup_under("/kp/", "sb1").unwrap().path(), "/kp/sb1");
    assert!(m.cgroup_under("/kp", "a/b").is_err());
    assert!(m.cgroup_under("/kp", "..").is_err());
}

#[test]
fn create_on_hybrid_host() {
    let (t, m) = host();
    let root = cg_root(&t);
    let cg = m.cgroup("/outrigger/pod1/c1").unwrap();
    assert!(!cg.exists());
    cg.create().unwrap();
    assert!(cg.exists());
    for mnt in V1_MOUNTS.iter().chain(["unified"].iter()) {
        assert!(root.join(mnt).join("outrigger/pod1/c1").is_dir(), "{mnt}");
    }
    for lvl in ["outrigger", "outrigger/pod1", "outrigger/pod1/c1"] {
        assert_eq!(
            get(&root.join("cpuset").join(lvl).join("cpuset.cpus")),
            "0-1"
        );
        assert_eq!(get(&root.join("cpuset").join(lvl).join("cpuset.mems")), "0");
    }
    // hugetlb enabled down to the parent in the unified hierarchy, not in the leaf.
    for lvl in ["", "outrigger", "outrigger/pod1"] {
        let f = root
            .join("unified")
            .join(lvl)
            .join("cgroup.subtree_control");
        assert_eq!(get(&f), "+hugetlb", "{lvl}");
    }
    assert!(
        !root
            .join("unified/outrigger/pod1/c1/cgroup.subtree_control")
            .exists()
    );
    // A second create is fine, and existing cpusets are kept.
    put(&root.join("cpuset/outrigger/pod1/c1/cpuset.cpus"), "1");
    cg.create().unwrap();
    assert_eq!(get(&root.join("cpuset/outrigger/pod1/c1/cpuset.cpus")), "1");
    let procs = cg.procs_files();
    assert_eq!(procs.len(), 10);
    assert!(procs.contains(&root.join("memory/outrigger/pod1/c1/cgroup.procs")));
    assert!(procs.contains(&root.join("unified/outrigger/pod1/c1/cgroup.procs")));
}

#[test]
fn apply_v1_writes_files() {
    let (t, m) = host();
    let root = cg_root(&t);
    let cg = m.cgroup("/outrigger/p/c").unwrap();
    cg.create().unwrap();
    let r = Resources {
        cpu_period: Some(100_000),
        cpu_quota: Some(50_000),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0".into()),
        cpuset_mems: Some("0".into()),
        memory_limit_bytes: Some(64 << 20),
        pids_limit: Some(-1),
        ..Resources::default()
    };
    cg.apply(&r).unwrap();
    let f = |c: &str, n: &str| get(&root.join(c).join("outrigger/p/c").join(n));
    assert_eq!(f("cpu", "cpu.shares"), "512");
    assert_eq!(f("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(f("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(f("cpuset", "cpuset.cpus"), "0");
    assert_eq!(f("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(f("pids", "pids.max"), "max");
    // No memsw file (swap accounting off): no file created for it.
    assert!(
        !root
            .join("memory/outrigger/p/c/memory.memsw.limit_in_bytes")
            .exists()
    );
    // Period is planned before quota.
    let plan = cg.plan(&r).unwrap();
    let pos = |n: &str| plan.iter().position(|(p, _)| p.ends_with(n)).unwrap();
    assert!(pos("cpu.cfs_period_us") < pos("cpu.cfs_quota_us"));
    // Unset values (0 / None / empty) write nothing.
    let (t2, m2) = host();
    let cg2 = m2.cgroup("/x").unwrap();
    cg2.create().unwrap();
    let zero = Resources {
        cpu_period: Some(0),
        cpu_quota: Some(0),
        cpu_shares: Some(0),
        cpuset_cpus: Some(String::new()),
        memory_limit_bytes: Some(0),
        pids_limit: Some(0),
        blkio_weight: Some(0),
        ..Resources::default()
    };
    assert!(cg2.plan(&zero).unwrap().is_empty());
    drop(t2);
}

#[test]
fn memsw_order_depends_on_direction() {
    let (t, m) = host();
    let dir = cg_root(&t).join("memory/c");
    let cg = m.cgroup("/c").unwrap();
    cg.create().unwrap();
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    let r = Resources {
        memory_limit_bytes: Some(100 << 20),
        memory_swap_limit_bytes: Some(200 << 20),
        ..Resources::default()
    };
    let names = |plan: Plan| -> Vec<String> {
        plan.iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    // Lowering from unlimited: memory first.
    put(&memsw, "9223372036854771712\n");
    assert_eq!(
        names(cg.plan(&r).unwrap()),
        vec!["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    );
    // Raising above the current memsw: memsw first.
    put(&memsw, &format!("{}\n", 150 << 20));
    assert_eq!(
        names(cg.plan(&r).unwrap()),
        vec!["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    );
    cg.apply(&r).unwrap();
    assert_eq!(get(&memsw), (200u64 << 20).to_string());
}

#[test]
fn invalid_values_are_rejected_and_nothing_written() {
    let (t, m) = host();
    let cg = m.cgroup("/c").unwrap();
    cg.create().unwrap();
    let mem = cg_root(&t).join("memory/c/memory.limit_in_bytes");
    let base = Resources {
        memory_limit_bytes: Some(64 << 20),
        ..Resources::default()
    };
    let cases: Vec<(Resources, &str)> = vec![
        (
            Resources {
                cpuset_cpus: Some("0-".into()),
                ..base.clone()
            },
            "cpuset_cpus",
        ),
        (
            Resources {
                cpuset_mems: Some("x".into()),
                ..base.clone()
            },
            "cpuset_mems",
        ),
        (
            Resources {
                cpu_quota: Some(500),
                ..base.clone()
            },
            "cpu_quota",
        ),
        (
            Resources {
                cpu_quota: Some(-5),
                ..base.clone()
            },
            "cpu_quota",
        ),
        (
            Resources {
                cpu_period: Some(999),
                ..base.clone()
            },
            "cpu_period",
        ),
        (
            Resources {
                cpu_shares: Some(1),
                ..base.clone()
            },
            "cpu_shares",
        ),
        (
            Resources {
                memory_limit_bytes: Some(-2),
                ..base.clone()
            },
            "memory_limit_bytes",
        ),
        (
            Resources {
                memory_swap_limit_bytes: Some(1 << 20),
                ..base.clone()
            },
            "memory_swap_limit_bytes",
        ),
        (
            Resources {
                pids_limit: Some(-3),
                ..base.clone()
            },
            "pids_limit",
        ),
        (
            Resources {
                blkio_weight: Some(5),
                ..base.clone()
            },
            "blkio_weight",
        ),
        (
            Resources {
                hugepage_limits: vec![("3MB".into(), 0)],
                ..base.clone()
            },
            "hugepage_limits.page_size",
        ),
        (
            Resources {
                hugepage_limits: vec![("2 MB".into(), 0)],
                ..base.clone()
            },
            "hugepage_limits.page_size",
        ),
        (
            Resources {
                unified: [("memory.high".to_string(), "1".to_string())].into(),
                ..base.clone()
            },
            "unified",
        ),
        (
            Resources {
                unified: [("../x".to_string(), "1".to_string())].into(),
                ..base.clone()
            },
            "unified",
        ),
    ];
    for (r, field) in cases {
        is_invalid(cg.apply(&r), field);
        assert!(!mem.exists(), "{field}: memory limit written despite error");
    }
    let e = cg
        .apply(&Resources {
            cpu_quota: Some(10),
            ..Resources::default()
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("cpu_quota") && e.contains("10"), "{e}");
}

#[test]
fn hugepages_go_to_unified_on_hybrid() {
    let (t, m) = host();
    let cg = m.cgroup("/c").unwrap();
    cg.create().unwrap();
    let f = cg_root(&t).join("unified/c/hugetlb.2MB.max");
    put(&f, "max\n");
    cg.apply(&Resources {
        hugepage_limits: vec![("2MB".into(), 4 << 20)],
        ..Resources::default()
    })
    .unwrap();
    assert_eq!(get(&f), (4u64 << 20).to_string());
    is_invalid(
        cg.apply(&Resources {
            hugepage_limits: vec![("1GB".into(), 0)],
            ..Resources::default()
        }),
        "hugepage_limits.page_size",
    );
}

#[test]
fn blkio_weight_v1() {
    let (t, m) = host();
    let cg = m.cgroup("/c").unwrap();
    cg.create().unwrap();
    let r = Resources {
        blkio_weight: Some(300),
        ..Resources::default()
    };
    assert!(matches!(cg.apply(&r), Err(Error::Unsupported { .. })));
    let bfq = cg_root(&t).join("blkio/c/blkio.bfq.weight");
    put(&bfq, "100\n");
    cg.apply(&r).unwrap();
    assert_eq!(get(&bfq), "300");
}

#[test]
fn unified_keys_map_to_v1() {
    let (t, m) = host();
    let cg = m.cgroup("/c").unwrap();
    cg.create().unwrap();
    let r = Resources {
        unified: [
            ("cpu.weight".to_string(), "10000".to_string()),
            ("cpu.max".to_string(), "max 50000".to_string()),
            ("memory.max".to_string(), "max".to_string()),
            ("pids.max".to_string(), "20".to_string()),
        ]
        .into(),
        ..Resources::default()
    };
    cg.apply(&r).unwrap();
    let root = cg_root(&t);
    assert_eq!(get(&root.join("cpu/c/cpu.shares")), "262144");
    assert_eq!(get(&root.join("cpu/c/cpu.cfs_quota_us")), "-1");
    assert_eq!(get(&root.join("cpu/c/cpu.cfs_period_us")), "50000");
    assert_eq!(get(&root.join("memory/c/memory.limit_in_bytes")), "-1");
    assert_eq!(get(&root.join("pids/c/pids.max")), "20");
    // hugetlb keys go raw to the unified hierarchy.
    cg.apply(&Resources {
        unified: [("hugetlb.2MB.max".to_string(), "0".to_string())].into(),
        ..Resources::default()
    })
    .unwrap();
    assert_eq!(get(&root.join("unified/c/hugetlb.2MB.max")), "0");
    is_invalid(
        cg.apply(&Resources {
            unified: [("cpu.max".to_string(), "10 100000".to_string())].into(),
            ..Resources::default()
        }),
        "unified",
    );
}

#[test]
fn v2_create_and_apply() {
    let (t, m) = v2host();
    let root = cg_root(&t);
    let cg = m.cgroup("/outrigger/p/c").unwrap();
    cg.create().unwrap();
    assert_eq!(
        cg.procs_files(),
        vec![root.join("outrigger/p/c/cgroup.procs")]
    );
    for lvl in ["", "outrigger", "outrigger/p"] {
        assert_eq!(
            get(&root.join(lvl).join("cgroup.subtree_control")),
            "+cpuset +cpu +io +memory +hugetlb +pids",
            "{lvl}"
        );
    }
    let dir = root.join("outrigger/p/c");
    put(&dir.join("memory.swap.max"), "max\n");
    put(&dir.join("hugetlb.2MB.max"), "max\n");
    let r = Resources {
        cpu_period: Some(100_000),
        cpu_quota: Some(50_000),
        cpu_shares: Some(1024),
        cpuset_cpus: Some("0-1".into()),
        cpuset_mems: None,
        memory_limit_bytes: Some(100 << 20),
        memory_swap_limit_bytes: Some(150 << 20),
        hugepage_limits: vec![("2MB".into(), 2 << 20)],
        pids_limit: Some(50),
        blkio_weight: Some(500),
        unified: [("memory.high".to_string(), "90000000".to_string())].into(),
    };
    cg.apply(&r).unwrap();
    assert_eq!(get(&dir.join("cpu.weight")), "39");
    assert_eq!(get(&dir.join("cpu.max")), "50000 100000");
    assert_eq!(get(&dir.join("cpuset.cpus")), "0-1");
    assert_eq!(get(&dir.join("memory.max")), (100u64 << 20).to_string());
    assert_eq!(get(&dir.join("memory.swap.max")), (50u64 << 20).to_string());
    assert_eq!(get(&dir.join("hugetlb.2MB.max")), (2u64 << 20).to_string());
    assert_eq!(get(&dir.join("pids.max")), "50");
    assert_eq!(
        get(&dir.join("io.weight")),
        format!("default {}", blkio_to_io_weight(500))
    );
    assert_eq!(get(&dir.join("memory.high")), "90000000");
    // Quota alone keeps the current period; -1 means max.
    put(&dir.join("cpu.max"), "max 200000\n");
    cg.apply(&Resources {
        cpu_quota: Some(20_000),
        ..Resources::default()
    })
    .unwrap();
    assert_eq!(get(&dir.join("cpu.max")), "20000 200000");
    cg.apply(&Resources {
        cpu_quota: Some(-1),
        memory_limit_bytes: Some(-1),
        pids_limit: Some(-1),
        ..Resources::default()
    })
    .unwrap();
    assert_eq!(get(&dir.join("cpu.max")), "max 200000");
    assert_eq!(get(&dir.join("memory.max")), "max");
    assert_eq!(get(&dir.join("pids.max")), "max");
    // Swap without memory cannot be converted on v2.
    is_invalid(
        cg.apply(&Resources {
            memory_swap_limit_bytes: Some(1 << 30),
            ..Resources::default()
        }),
        "memory_swap_limit_bytes",
    );
    // Unknown controller in the unified map.
    is_invalid(
        cg.apply(&Resources {
            unified: [("rdma.max".to_string(), "x".to_string())].into(),
            ..Resources::default()
        }),
        "unified",
    );
    is_invalid(
        cg.apply(&Resources {
            unified: [("cgroup.procs".to_string(), "1".to_string())].into(),
            ..Resources::default()
        }),
        "unified",
    );
}

#[test]
fn pids_are_recursive_and_delete_removes_everything() {
    let (t, m) = host();
    let root = cg_root(&t);
    let pod = m.cgroup("/outrigger/pod").unwrap();
    let c1 = m.cgroup("/outrigger/pod/c1").unwrap();
    let c2 = m.cgroup("/outrigger/pod/c2").unwrap();
    c1.create().unwrap();
    c2.create().unwrap();
    put(&root.join("memory/outrigger/pod/cgroup.procs"), "10\n");
    put(
        &root.join("memory/outrigger/pod/c1/cgroup.procs"),
        "12\n11\n",
    );
    put(&root.join("cpu/outrigger/pod/c2/cgroup.procs"), "11\n13\n");
    assert_eq!(pod.pids().unwrap(), vec![10, 11, 12, 13]);
    assert_eq!(c1.pids().unwrap(), vec![11, 12]);
    put(&root.join("pids/outrigger/pod/c1/cgroup.procs"), "x\n");
    assert!(matches!(c1.pids(), Err(Error::Parse { .. })));
    pod.delete().unwrap();
    for mnt in V1_MOUNTS.iter().chain(["unified"].iter()) {
        assert!(!root.join(mnt).join("outrigger/pod").exists(), "{mnt}");
        assert!(
            root.join(mnt).join("outrigger").is_dir(),
            "{mnt}: parent kept"
        );
    }
    assert!(!pod.exists());
    pod.delete().unwrap();
    assert_eq!(pod.pids().unwrap(), Vec::<i32>::new());
}

#[test]
fn add_process_writes_every_procs_file() {
    let (_t, m) = host();
    let cg = m.cgroup("/c").unwrap();
    cg.create().unwrap();
    cg.add_process(4242).unwrap();
    for f in cg.procs_files() {
        assert_eq!(get(&f), "4242");
    }
    is_invalid(cg.add_process(0), "pid");
    is_invalid(cg.add_process(-1), "pid");
}

#[test]
fn kill_all_never_signals_init_or_self() {
    let (t, m) = host();
    let cg = m.cgroup("/c").unwrap();
    cg.create().unwrap();
    let me = std::process::id().to_string();
    put(
        &cg_root(&t).join("memory/c/cgroup.procs"),
        &format!("1\n{me}\n"),
    );
    cg.kill_all().unwrap();
}

#[test]
fn oom_counts() {
    let (t, m) = host();
    let cg = m.cgroup("/c").unwrap();
    cg.create().unwrap();
    put(
        &cg_root(&t).join("memory/c/memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
    );
    assert_eq!(cg.oom_kill_count().unwrap(), 3);
    let (t2, m2) = v2host();
    let cg2 = m2.cgroup("/c").unwrap();
    cg2.create().unwrap();
    put(
        &cg_root(&t2).join("c/memory.events"),
        "low 0\nhigh 0\nmax 1\noom 1\noom_kill 2\n",
    );
    assert_eq!(cg2.oom_kill_count().unwrap(), 2);
}

#[test]
fn stats_on_fake_hosts() {
    let (t, m) = host();
    let cg = m.cgroup("/c").unwrap();
    assert!(matches!(cg.stats(), Err(Error::NotFound { .. })));
    cg.create().unwrap();
    let root = cg_root(&t);
    put(&root.join("cpuacct/c/cpuacct.usage"), "5000\n");
    put(
        &root.join("cpu/c/cpu.stat"),
        "nr_periods 1\nnr_throttled 0\nthrottled_time 0\n",
    );
    put(&root.join("memory/c/memory.usage_in_bytes"), "4096\n");
    put(
        &root.join("memory/c/memory.stat"),
        "total_inactive_file 1024\n",
    );
    put(&root.join("pids/c/pids.current"), "2\n");
    put(&root.join("pids/c/pids.max"), "max\n");
    put(&root.join("unified/c/hugetlb.2MB.current"), "0\n");
    let s = cg.stats().unwrap();
    assert!(s.timestamp_ns > 0);
    let cpu = s.cpu.unwrap();
    assert_eq!((cpu.usage_ns, cpu.nr_periods), (5000, Some(1)));
    assert_eq!(s.memory.unwrap().working_set_bytes, 3072);
    assert_eq!(
        s.pids,
        Some(PidsStats {
            current: 2,
            limit: None
        })
    );
    assert_eq!(s.hugetlb["2MB"].usage_bytes, 0);
    assert_eq!(s.io, None);

    let (t2, m2) = v2host();
    let cg2 = m2.cgroup("/c").unwrap();
    cg2.create().unwrap();
    let d = cg_root(&t2).join("c");
    put(
        &d.join("cpu.stat"),
        "usage_usec 7\nuser_usec 4\nsystem_usec 3\n",
    );
    put(&d.join("memory.current"), "100\n");
    let s = cg2.stats().unwrap();
    assert_eq!(s.cpu.unwrap().usage_ns, 7000);
    assert_eq!(s.memory.unwrap().usage_bytes, 100);
    assert_eq!(s.pids, None);
}
