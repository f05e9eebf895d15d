//! Root integration tests: real containers from a busybox rootfs (x86_64, root only; they
//! skip themselves otherwise). `harness = false`: `init`/`enter` must run in a
//! single-threaded process, so this binary doubles as the helper (`container init <json>`).
#![allow(clippy::unwrap_used)]

use outrigger_container::{EnterConfig, InitConfig, enter_main, init_main};
use serde_json::json;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("init") => std::process::exit(init_main(Path::new(&args[2]))),
        Some("enter") => std::process::exit(enter_main(Path::new(&args[2]))),
        _ => {}
    }
    if let Some(reason) = skip_reason() {
        println!("container integration tests skipped: {reason}");
        return;
    }
    // the container processes are our grandchildren: become their reaper
    // SAFETY: prctl with integer arguments only.
    #[allow(unsafe_code)]
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    };
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
    let tests: &[(&str, fn())] = &[
        ("basic_container", basic_container),
        ("non_root_user", non_root_user),
        ("seccomp_blocks_sethostname", seccomp_blocks_sethostname),
        (
            "runtime_default_seccomp_runs_busybox",
            runtime_default_seccomp_runs_busybox,
        ),
        (
            "start_fifo_blocks_until_opened",
            start_fifo_blocks_until_opened,
        ),
        (
            "missing_executable_fails_at_create",
            missing_executable_fails_at_create,
        ),
        ("enter_runs_inside", enter_runs_inside),
        ("pause_container", pause_container),
        ("cgroup_mount", cgroup_mount),
        ("user_namespace", user_namespace),
        (
            "tty_mode_takes_controlling_terminal",
            tty_mode_takes_controlling_terminal,
        ),
    ];
    let mut failed = Vec::new();
    for (name, f) in tests {
        if filter.as_deref().is_some_and(|flt| !name.contains(flt)) {
            continue;
        }
        print!("test {name} ... ");
        match std::panic::catch_unwind(f) {
            Ok(()) => println!("ok"),
            Err(_) => {
                println!("FAILED");
                failed.push(*name);
            }
        }
    }
    if !failed.is_empty() {
        println!("failed: {failed:?}");
        std::process::exit(1);
    }
    println!("test result: ok");
}

fn skip_reason() -> Option<String> {
    if !cfg!(target_arch = "x86_64") {
        return Some("not x86_64".into());
    }
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not root".into());
    }
    if !Path::new("/bin/busybox").exists() {
        return Some("/bin/busybox is missing".into());
    }
    // namespaces must work (they don't under qemu-user with clone flags; unshare is our path)
    let ok = Command::new("unshare")
        .args(["--pid", "--mount", "--uts", "--fork", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Some("unshare(1) of pid/mount/uts namespaces failed".into());
    }
    None
}

/// Kills and reaps a container process when a test ends, even on failure.
struct Reap(i32);

impl Drop for Reap {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
    }
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "secretdir"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        for applet in [
            "sh", "echo", "hostname", "cat", "sleep", "grep", "id", "touch", "wc", "top", "ls",
            "test",
        ] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        std::fs::write(root.join("etc/secret"), "top secret").unwrap();
        std::fs::write(root.join("secretdir/f"), "x").unwrap();
        Fixture { dir }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    fn spec(&self, args: &[&str], hostname: &str) -> serde_json::Value {
        let caps = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]);
        json!({
            "ociVersion": "1.0.2",
            "root": {"path": self.rootfs(), "readonly": true},
            "hostname": hostname,
            "process": {
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/bin", "HOME=/"],
                "cwd": "/",
                "noNewPrivileges": true,
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                "oomScoreAdj": -998,
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1024}]
            },
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"}],
                "maskedPaths": ["/etc/secret", "/secretdir", "/proc/kcore", "/nonexistent"],
                "readonlyPaths": ["/proc/sys"]
            }
        })
    }

    fn write_init(&self, spec: serde_json::Value, fifo: Option<PathBuf>, pause: bool) -> PathBuf {
        let cfg = InitConfig {
            spec: serde_json::from_value(spec).unwrap(),
            cgroup_procs: Vec::new(),
            start_fifo: fifo,
            pause,
            pid_file: self.dir.path().join("pid"),
        };
        let p = self.dir.path().join("init.json");
        std::fs::write(&p, serde_json::to_vec(&cfg).unwrap()).unwrap();
        p
    }

    /// Runs `init`; returns its exit status, stdout file and stderr text.
    fn init(&self, config: &Path) -> (i32, PathBuf, String) {
        let out = self.dir.path().join("out");
        let err = self.dir.path().join("err");
        let status = Command::new(std::env::current_exe().unwrap())
            .arg("init")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        (
            status.code().unwrap_or(-1),
            out,
            std::fs::read_to_string(&err).unwrap(),
        )
    }

    /// Runs `outrigger-cri enter` for `args` in the container `pid` (as root, no seccomp):
    /// exit code, stdout, stderr.
    fn enter(&self, pid: i32, args: &[&str]) -> (i32, String, String) {
        let spec = self.spec(args, "");
        let ec = EnterConfig {
            target_pid: pid,
            process: serde_json::from_value(spec["process"].clone()).unwrap(),
            cgroup_procs: Vec::new(),
            seccomp: None,
        };
        let p = self.dir.path().join("enter.json");
        std::fs::write(&p, serde_json::to_vec(&ec).unwrap()).unwrap();
        let o = Command::new(std::env::current_exe().unwrap())
            .arg("enter")
            .arg(&p)
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn pid(&self) -> i32 {
        std::fs::read_to_string(self.dir.path().join("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

/// Waits for a (reparented) container process; returns its exit code.
fn wait_exit(pid: i32) -> i32 {
    use nix::sys::wait::{WaitStatus, waitpid};
    match waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap() {
        WaitStatus::Exited(_, c) => c,
        WaitStatus::Signaled(_, s, _) => 128 + s as i32,
        other => panic!("unexpected wait status {other:?}"),
    }
}

/// Runs a container to completion: (exit code, stdout).
fn run(fx: &Fixture, spec: serde_json::Value) -> (i32, String) {
    let cfg = fx.write_init(spec, None, false);
    let (code, out, err) = fx.init(&cfg);
    assert_eq!(code, 0, "init failed: {err}");
    let pid = fx.pid();
    let guard = Reap(pid);
    let rc = wait_exit(pid);
    std::mem::forget(guard);
    (rc, std::fs::read_to_string(out).unwrap())
}

fn basic_container() {
    let fx = Fixture::new();
    let script = "echo pid=$$; hostname; test -e /proc/self/status && echo proc=yes; \
        touch /x 2>/dev/null && echo root=rw || echo root=ro; touch /tmp/y && echo tmp=rw; \
        echo secret=$(cat /etc/secret | wc -c); echo dir=$(ls /secretdir | wc -l); \
        echo kcore=$(cat /proc/kcore | wc -c); \
        echo 1 > /proc/sys/kernel/shm_rmid_forced 2>/dev/null && echo sys=rw || echo sys=ro; \
        grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status; \
        echo nofile=$(ulimit -n); echo oom=$(cat /proc/self/oom_score_adj); \
        test -c /dev/null && echo devnull=yes; test -L /dev/ptmx && echo ptmx=link; exit 7";
    let (rc, out) = run(&fx, fx.spec(&["sh", "-c", script], "ctr-basic"));
    assert_eq!(rc, 7, "exit code passes through");
    for want in [
        "pid=1\n",
        "ctr-basic\n",
        "proc=yes\n",
        "root=ro\n",
        "tmp=rw\n",
        "secret=0\n",
        "dir=0\n",
        "kcore=0\n",
        "sys=ro\n",
        "CapEff:\t0000000020000420\n",
        "CapBnd:\t0000000020000420\n",
        "Seccomp:\t0\n",
        "NoNewPrivs:\t1\n",
        "nofile=1024\n",
        "devnull=yes\n",
        "ptmx=link\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in output:\n{out}");
    }
    // -998 is below our current value; without CAP_SYS_RESOURCE it is clamped, not fatal
    let ours: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let has_sys_resource = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|m| m & (1 << 24) != 0);
    let want = if has_sys_resource {
        -998
    } else {
        ours.max(-998)
    };
    assert!(
        out.contains(&format!("oom={want}\n")),
        "want oom={want}:\n{out}"
    );
}

fn non_root_user() {
    let fx = Fixture::new();
    let mut spec = fx.spec(
        &[
            "sh",
            "-c",
            "id -u; id -g; id -G; grep CapEff /proc/self/status",
        ],
        "u",
    );
    spec["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [1002]});
    // a non-root process keeps across exec only its ambient capabilities
    spec["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
    spec["process"]["capabilities"]["ambient"] = json!(["CAP_KILL"]);
    let (rc, out) = run(&fx, spec);
    assert_eq!(rc, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000", "{out}");
    assert_eq!(lines[1], "1001", "{out}");
    assert!(lines[2].contains("1002"), "{out}");
    assert_eq!(lines[3], "CapEff:\t0000000000000020", "{out}");
}

fn seccomp_blocks_sethostname() {
    let fx = Fixture::new();
    let mut spec = fx.spec(
        &[
            "sh",
            "-c",
            "hostname blocked; echo rc=$?; hostname; grep Seccomp: /proc/self/status",
        ],
        "orig",
    );
    spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]
    });
    // capability to set the hostname, so only seccomp can refuse it
    let caps = json!(["CAP_SYS_ADMIN"]);
    spec["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    let (rc, out) = run(&fx, spec);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("rc=1\n"), "{out}");
    assert!(out.contains("orig\n"), "{out}");
    assert!(out.contains("Seccomp:\t2\n"), "{out}");
}

fn runtime_default_seccomp_runs_busybox() {
    let fx = Fixture::new();
    let mut spec = fx.spec(&["sh", "-c", "echo hi; sleep 0; hostname; top -b -n 1 >/dev/null && echo top=ok; grep Seccomp: /proc/self/status"], "rd");
    spec["linux"]["seccomp"] =
        serde_json::to_value(outrigger_container::runtime_default_seccomp()).unwrap();
    spec["process"]["noNewPrivileges"] = json!(false);
    let (rc, out) = run(&fx, spec);
    assert_eq!(rc, 0, "{out}");
    for want in ["hi\n", "rd\n", "top=ok\n", "Seccomp:\t2\n"] {
        assert!(out.contains(want), "missing {want:?}:\n{out}");
    }
}

fn start_fifo_blocks_until_opened() {
    let fx = Fixture::new();
    let fifo = fx.dir.path().join("start.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let cfg = fx.write_init(
        fx.spec(&["echo", "started"], "f"),
        Some(fifo.clone()),
        false,
    );
    let (code, out, err) = fx.init(&cfg);
    assert_eq!(code, 0, "{err}");
    let pid = fx.pid();
    let guard = Reap(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "",
        "ran before start"
    );
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let _reader = std::fs::File::open(&fifo).unwrap();
    assert_eq!(wait_exit(pid), 0);
    std::mem::forget(guard);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "started\n");
}

fn missing_executable_fails_at_create() {
    let fx = Fixture::new();
    let cfg = fx.write_init(fx.spec(&["nosuchcmd"], "m"), None, false);
    let (code, _, err) = fx.init(&cfg);
    assert_eq!(code, 1);
    assert!(err.contains("executable file not found in $PATH"), "{err}");
}

fn enter_runs_inside() {
    let fx = Fixture::new();
    let cfg = fx.write_init(fx.spec(&["sleep", "30"], "ctr-enter"), None, false);
    let (code, _, err) = fx.init(&cfg);
    assert_eq!(code, 0, "{err}");
    let pid = fx.pid();
    let _guard = Reap(pid);
    let enter = |args: &[&str]| -> (i32, String) {
        let (code, out, err) = fx.enter(pid, args);
        (code, out + &err)
    };
    let (rc, out) = enter(&["hostname"]);
    assert_eq!((rc, out.as_str()), (0, "ctr-enter\n"));
    let (rc, out) = enter(&["sh", "-c", "cat /proc/1/cmdline; echo; exit 3"]);
    assert_eq!(rc, 3, "{out}");
    assert!(out.starts_with("sleep"), "{out}");
    let (rc, out) = enter(&["nosuchcmd"]);
    assert_eq!(rc, 127, "{out}");
    assert!(out.contains("executable file not found"), "{out}");
    let started = Instant::now();
    let (rc, _) = enter(&["sh", "-c", "kill -9 $$"]);
    assert_eq!(rc, 137);
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn pause_container() {
    let fx = Fixture::new();
    let mut spec = fx.spec(&["pause"], "pod-host");
    spec["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "80"});
    let cfg = fx.write_init(spec, None, true);
    let (code, _, err) = fx.init(&cfg);
    assert_eq!(code, 0, "{err}");
    let pid = fx.pid();
    let guard = Reap(pid);
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "pause");
    let uts = Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-u",
            "-n",
            "sh",
            "-c",
            "hostname; cat /proc/sys/net/ipv4/ip_unprivileged_port_start",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&uts.stdout), "pod-host\n80\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(wait_exit(pid), 0);
    std::mem::forget(guard);
}

fn cgroup_mount() {
    let fx = Fixture::new();
    let mut spec = fx.spec(
        &[
            "sh",
            "-c",
            "ls /sys/fs/cgroup; touch /sys/fs/cgroup/x 2>/dev/null || echo cg=ro; \
             grep -v ':/$' /proc/self/cgroup || echo all=root",
        ],
        "cg",
    );
    // in its own cgroup namespace the container's cgroup is the root it sees
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["ro", "nosuid", "noexec", "nodev"]
    }));
    // the container runs in a pids cgroup of ours: seen through its namespace, the root
    struct RmCgroup(PathBuf);
    impl Drop for RmCgroup {
        fn drop(&mut self) {
            for _ in 0..50 {
                if std::fs::remove_dir(&self.0).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let cg = PathBuf::from(format!(
        "/sys/fs/cgroup/pids/outrigger-cgtest-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&cg).unwrap();
    let _rm = RmCgroup(cg.clone());
    let cfg = InitConfig {
        spec: serde_json::from_value(spec).unwrap(),
        cgroup_procs: vec![cg.join("cgroup.procs")],
        start_fifo: None,
        pause: false,
        pid_file: fx.dir.path().join("pid"),
    };
    let path = fx.dir.path().join("init.json");
    std::fs::write(&path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let (code, outf, err) = fx.init(&path);
    assert_eq!(code, 0, "init failed: {err}");
    let rc = wait_exit(fx.pid());
    let out = std::fs::read_to_string(outf).unwrap();
    assert_eq!(rc, 0, "{out}");
    let host: Vec<String> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| Path::new("/sys/fs/cgroup").join(n).is_dir())
        .collect();
    for h in &host {
        assert!(
            out.lines().any(|l| l == h),
            "missing cgroup dir {h}:\n{out}"
        );
    }
    assert!(out.contains("cg=ro\n"), "{out}");
    assert!(out.contains("all=root\n"), "{out}");
}

/// A container in a new user namespace (0..65536 → 300000..): its root is uid 300000 on the
/// host, files of the (unmapped) rootfs show as the overflow id, an idmapped volume shows its
/// on-disk owners through the mapping, and `enter` joins the same namespace.
fn user_namespace() {
    let fx = Fixture::new();
    let vol = fx.dir.path().join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("root-owned"), "r").unwrap();
    std::fs::write(vol.join("user-owned"), "u").unwrap();
    nix::unistd::chown(&vol.join("user-owned"), Some(7.into()), Some(8.into())).unwrap();
    let script = "cat /proc/self/uid_map /proc/self/gid_map; echo uid=$(id -u); \
        echo bin=$(stat -c %u /bin/busybox); touch /tmp/f && echo tmp=$(stat -c %u:%g /tmp/f); \
        echo vol=$(stat -c %u:%g /vol/root-owned)/$(stat -c %u:%g /vol/user-owned); \
        touch /vol/new && echo volwrite=ok; sleep 30";
    let mut spec = fx.spec(&["sh", "-c", script], "userns");
    let ns = spec["linux"]["namespaces"].as_array_mut().unwrap();
    ns.push(json!({"type": "user"}));
    spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/vol", "type": "bind", "source": vol, "options": ["rbind", "idmap", "rw"]
    }));
    let cfg = fx.write_init(spec.clone(), None, false);
    let (code, out, err) = fx.init(&cfg);
    assert_eq!(code, 0, "init failed: {err}");
    let pid = fx.pid();
    let _guard = Reap(pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while Instant::now() < deadline && !text.contains("volwrite=") {
        std::thread::sleep(Duration::from_millis(50));
        text = std::fs::read_to_string(&out).unwrap();
    }
    let maps: Vec<Vec<&str>> = text
        .lines()
        .take(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(maps, vec![vec!["0", "300000", "65536"]; 2], "{text}");
    for want in [
        "uid=0\n",
        "bin=65534\n",
        "tmp=0:0\n",
        "vol=0:0/7:8\n",
        "volwrite=ok\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // seen from the host, the container's root is uid 300000; the new file on the volume is
    // stored on disk as the container's uid 0
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid_line.contains("300000"), "{uid_line}");
    assert_eq!(std::fs::metadata(vol.join("new")).unwrap().uid(), 0);
    // enter joins the user namespace last
    let (code, text, err) = fx.enter(pid, &["sh", "-c", "cat /proc/self/uid_map; id -u"]);
    assert_eq!(code, 0, "{text}{err}");
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words, ["0", "300000", "65536", "0"], "{text}");
    // a mapping that does not cover uid 0 of the process fails clearly at create
    spec["linux"]["uidMappings"] = json!([{"containerID": 1, "hostID": 300000, "size": 10}]);
    spec["mounts"].as_array_mut().unwrap().pop();
    let cfg = fx.write_init(spec, None, false);
    let (code, _, err) = fx.init(&cfg);
    assert_ne!(code, 0);
    assert!(err.contains("uid 0 is not mapped"), "{err}");
}

fn tty_mode_takes_controlling_terminal() {
    use std::io::Read;
    let fx = Fixture::new();
    let script = "read -r a b c d e f g rest < /proc/self/stat; echo sid=$f tty_nr=$g; test -t 1 && echo tty=yes";
    let cfg = fx.write_init(fx.spec(&["sh", "-c", script], "t"), None, false);
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = std::fs::File::from(pty.slave);
    let status = Command::new(std::env::current_exe().unwrap())
        .arg("init")
        .arg(&cfg)
        .env("OUTRIGGER_TTY", "1")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .status()
        .unwrap();
    assert!(status.success());
    let pid = fx.pid();
    let guard = Reap(pid);
    assert_eq!(wait_exit(pid), 0);
    std::mem::forget(guard);
    let mut master = std::fs::File::from(pty.master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // the slave is closed everywhere now: read until EIO
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains("sid=1 "),
        "the container's pid 1 leads its own session:\n{out}"
    );
    assert!(!out.contains("tty_nr=0"), "no controlling terminal:\n{out}");
    assert!(out.contains("tty=yes"), "{out}");
}
