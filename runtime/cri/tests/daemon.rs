//! End-to-end tests of the daemon through its gRPC API, on this machine: real pods, containers,
//! CNI bridge, cgroups and overlay mounts. Images come from the local cluster's registry through
//! its mirror config (`hack/cluster up`); without it the tests skip, unless
//! OUTRIGGER_E2E_REQUIRED=1 (CI), where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outrigger_cri_proto as cri;
use outrigger_cri_proto::image_service_client::ImageServiceClient;
use outrigger_cri_proto::runtime_service_client::RuntimeServiceClient;
use tonic::transport::Channel;

const MIRRORS: &str = "/var/lib/outrigger-cluster/containerd/certs.d";
const IMAGE: &str = "docker.io/library/busybox:1.36";

struct Daemon {
    child: Option<Child>,
    work: PathBuf,
    socket: PathBuf,
    args: Vec<String>,
    cgroup_parent: String,
    bridge: String,
}

fn skip(why: &str) -> bool {
    if std::env::var("OUTRIGGER_E2E_REQUIRED").as_deref() == Ok("1") {
        panic!("required end-to-end test cannot run: {why}");
    }
    eprintln!("skipping: {why}");
    true
}

impl Daemon {
    fn start(name: &str, subnet: &str) -> Option<Daemon> {
        if !nix::unistd::geteuid().is_root() {
            skip("not root");
            return None;
        }
        if !Path::new(MIRRORS).is_dir() {
            skip("no local registry mirror config (run hack/cluster up)");
            return None;
        }
        let work = PathBuf::from(format!("/var/lib/outrigger-cri-test-{name}"));
        let _ = std::fs::remove_dir_all(&work);
        let run = PathBuf::from(format!("/run/ocri-test-{name}"));
        std::fs::create_dir_all(work.join("cni")).unwrap();
        let bridge = format!("ot{}", &name[..name.len().min(10)]);
        std::fs::write(
            work.join("cni/10-test.conflist"),
            format!(
                r#"{{"cniVersion":"1.0.0","name":"outrigger-test-{name}","plugins":[
                {{"type":"bridge","bridge":"{bridge}","isGateway":true,"ipMasq":false,
                  "ipam":{{"type":"host-local","dataDir":"{}","ranges":[[{{"subnet":"{subnet}"}}]]}}}},
                {{"type":"portmap","capabilities":{{"portMappings":true}}}}]}}"#,
                work.join("ipam").display()
            ),
        )
        .unwrap();
        let cgroup_parent = format!("/outrigger-test-{name}");
        let socket = run.join("cri.sock");
        let args = vec![
            "--listen".to_string(),
            format!("unix://{}", socket.display()),
            "--root".into(),
            work.join("root").display().to_string(),
            "--state-dir".into(),
            run.join("state").display().to_string(),
            "--registry-config".into(),
            MIRRORS.into(),
            "--cni-conf-dir".into(),
            work.join("cni").display().to_string(),
            "--cni-bin-dir".into(),
            "/usr/lib/cni".into(),
            "--cgroup-parent".into(),
            cgroup_parent.clone(),
            "--admin-address".into(),
            String::new(),
        ];
        let mut d = Daemon {
            child: None,
            work,
            socket,
            args,
            cgroup_parent,
            bridge,
        };
        d.spawn();
        Some(d)
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.work.join("daemon.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_outrigger-cri"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t0 = Instant::now();
        while !self.socket.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "daemon did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the daemon process only (pods keep running).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.work.join("daemon.log")).unwrap_or_default()
    }

    async fn clients(&self) -> (RuntimeServiceClient<Channel>, ImageServiceClient<Channel>) {
        let path = self.socket.clone();
        let ch = tonic::transport::Endpoint::try_from("http://[::]:50051")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_| {
                let p = path.clone();
                async move {
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                        tokio::net::UnixStream::connect(p).await?,
                    ))
                }
            }))
            .await
            .unwrap();
        (
            RuntimeServiceClient::new(ch.clone()),
            ImageServiceClient::new(ch),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        // anything a failed test left: processes in our cgroups, mounts, bridge
        for h in cgroup_dirs(&self.cgroup_parent) {
            for procs in walk(&h, "cgroup.procs") {
                for pid in std::fs::read_to_string(procs).unwrap_or_default().lines() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| {
                m.starts_with(&*self.work.to_string_lossy()) || m.starts_with("/run/ocri-test-")
            })
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
        for h in cgroup_dirs(&self.cgroup_parent) {
            let mut dirs = walk_dirs(&h);
            dirs.sort_by_key(|d| std::cmp::Reverse(d.as_os_str().len()));
            for d in dirs {
                let _ = std::fs::remove_dir(d);
            }
        }
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.work);
        if let Some(run) = self.socket.parent() {
            let _ = std::fs::remove_dir_all(run);
        }
    }
}

fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            let p = e.path().join(parent.trim_start_matches('/'));
            if p.is_dir() {
                out.push(p);
            }
        }
    }
    out
}

fn walk_dirs(d: &Path) -> Vec<PathBuf> {
    let mut out = vec![d.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(walk_dirs(&e.path()));
            }
        }
    }
    out
}

fn walk(d: &Path, name: &str) -> Vec<PathBuf> {
    walk_dirs(d)
        .into_iter()
        .map(|p| p.join(name))
        .filter(|p| p.exists())
        .collect()
}

fn pod_config(name: &str, log_dir: &Path) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "test".into(),
            attempt: 0,
        }),
        hostname: format!("{name}-host"),
        log_directory: log_dir.display().to_string(),
        dns_config: Some(cri::DnsConfig {
            servers: vec!["10.10.10.10".into()],
            searches: vec!["example.test".into()],
            options: vec!["ndots:8".into()],
        }),
        labels: HashMap::from([("app".to_string(), name.to_string())]),
        linux: Some(cri::LinuxPodSandboxConfig::default()),
        ..Default::default()
    }
}

fn container_config(name: &str, cmd: &[&str]) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: IMAGE.into(),
            ..Default::default()
        }),
        command: cmd.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}.log"),
        linux: Some(cri::LinuxContainerConfig::default()),
        ..Default::default()
    }
}

async fn wait_state(
    rt: &mut RuntimeServiceClient<Channel>,
    id: &str,
    want: cri::ContainerState,
) -> cri::ContainerStatus {
    let t0 = Instant::now();
    loop {
        let st = rt
            .container_status(cri::ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
            .await
            .unwrap()
            .into_inner()
            .status
            .unwrap();
        if st.state == want as i32 {
            return st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "container {id} never reached {want:?}: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn container_count(rt: &mut RuntimeServiceClient<Channel>) -> usize {
    rt.list_containers(cri::ListContainersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .containers
        .len()
}

async fn exec(
    rt: &mut RuntimeServiceClient<Channel>,
    id: &str,
    cmd: &[&str],
) -> cri::ExecSyncResponse {
    rt.exec_sync(cri::ExecSyncRequest {
        container_id: id.into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        timeout: 10,
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_lifecycle_logs_exec_limits_and_restart() {
    let Some(mut d) = Daemon::start("life", "10.90.1.0/24") else {
        return;
    };
    let (mut rt, mut img) = d.clients().await;

    let v = rt
        .version(cri::VersionRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.runtime_name, "outrigger");
    let st = rt
        .status(cri::StatusRequest::default())
        .await
        .unwrap()
        .into_inner();
    let conds = st.status.unwrap().conditions;
    assert!(conds.iter().all(|c| c.status), "{conds:?}");
    let rc = rt
        .runtime_config(cri::RuntimeConfigRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rc.linux.unwrap().cgroup_driver,
        cri::CgroupDriver::Cgroupfs as i32
    );

    // image
    let pulled = img
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: IMAGE.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("pull: {e}\n{}", d.log()))
        .into_inner();
    assert!(
        pulled.image_ref.starts_with("sha256:"),
        "{}",
        pulled.image_ref
    );
    let status = img
        .image_status(cri::ImageStatusRequest {
            image: Some(cri::ImageSpec {
                image: IMAGE.into(),
                ..Default::default()
            }),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.image.unwrap().id, pulled.image_ref);

    // pod
    let logs = d.work.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let pod = rt
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(pod_config("life", &logs)),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("run pod: {e}\n{}", d.log()))
        .into_inner()
        .pod_sandbox_id;
    let ps = rt
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert_eq!(ps.state, cri::PodSandboxState::SandboxReady as i32);
    let ip = ps.network.unwrap().ip;
    assert!(ip.starts_with("10.90.1."), "pod ip {ip}");

    // a long-running container with a memory limit
    let mut cfg = container_config(
        "web",
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo hello; echo oops >&2; while true; do sleep 0.2; done",
        ],
    );
    cfg.linux = Some(cri::LinuxContainerConfig {
        resources: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            cpu_shares: 256,
            ..Default::default()
        }),
        // what the kubelet sends unless shareProcessNamespace: a pid namespace of its own
        security_context: Some(cri::LinuxContainerSecurityContext {
            namespace_options: Some(cri::NamespaceOption {
                pid: cri::NamespaceMode::Container as i32,
                ..Default::default()
            }),
            ..Default::default()
        }),
    });
    let sandbox_config = pod_config("life", &logs);
    let cid = rt
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(cfg),
            sandbox_config: Some(sandbox_config.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("create: {e}\n{}", d.log()))
        .into_inner()
        .container_id;
    wait_state(&mut rt, &cid, cri::ContainerState::ContainerCreated).await;
    rt.start_container(cri::StartContainerRequest {
        container_id: cid.clone(),
    })
    .await
    .unwrap_or_else(|e| panic!("start: {e}\n{}", d.log()));
    wait_state(&mut rt, &cid, cri::ContainerState::ContainerRunning).await;

    // log in the CRI format
    let log_file = logs.join("web.log");
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log_file).unwrap_or_default();
        if text.contains(" stdout F hello") && text.contains(" stderr F oops") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "log: {text:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // exec: hostname, DNS config, exit codes, pid namespace of its own
    let out = exec(&mut rt, &cid, &["hostname"]).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "life-host");
    let out = exec(&mut rt, &cid, &["cat", "/etc/resolv.conf"]).await;
    let resolv = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        resolv.contains("nameserver 10.10.10.10") && resolv.contains("ndots:8"),
        "{resolv}"
    );
    let out = exec(&mut rt, &cid, &["sh", "-c", "echo e >&2; exit 3"]).await;
    assert_eq!(out.exit_code, 3);
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "e");
    let out = exec(&mut rt, &cid, &["cat", "/proc/1/cmdline"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("sh"),
        "{:?}",
        out
    );

    // the memory limit is in the container's cgroup
    let limit_files: Vec<PathBuf> = cgroup_dirs(&d.cgroup_parent)
        .into_iter()
        .flat_map(|h| walk(&h, "memory.limit_in_bytes"))
        .filter(|p| p.to_string_lossy().contains(&cid))
        .collect();
    assert_eq!(limit_files.len(), 1, "{limit_files:?}");
    assert_eq!(
        std::fs::read_to_string(&limit_files[0]).unwrap().trim(),
        (64u64 << 20).to_string()
    );
    let stats = rt
        .container_stats(cri::ContainerStatsRequest {
            container_id: cid.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .stats
        .unwrap();
    assert!(stats.memory.unwrap().working_set_bytes.is_some());
    assert!(stats.cpu.unwrap().usage_core_nano_seconds.is_some());

    // a container that exits 7
    let short = rt
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config("short", &["sh", "-c", "exit 7"])),
            sandbox_config: Some(sandbox_config.clone()),
        })
        .await
        .unwrap()
        .into_inner()
        .container_id;
    rt.start_container(cri::StartContainerRequest {
        container_id: short.clone(),
    })
    .await
    .unwrap();
    let st = wait_state(&mut rt, &short, cri::ContainerState::ContainerExited).await;
    assert_eq!(st.exit_code, 7);
    assert_eq!(st.reason, "Error");

    // bad input: a missing image, an invalid cpuset, a missing seccomp profile, a writable
    // image volume; nothing is left of them
    let before = container_count(&mut rt).await;
    let mut missing_image = container_config("bad", &["true"]);
    missing_image.image = Some(cri::ImageSpec {
        image: "example.invalid/nope:1".into(),
        ..Default::default()
    });
    let mut bad_cpuset = container_config("badcpu", &["true"]);
    bad_cpuset.linux = Some(cri::LinuxContainerConfig {
        resources: Some(cri::LinuxContainerResources {
            cpuset_cpus: "0-".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut bad_seccomp = container_config("badseccomp", &["true"]);
    bad_seccomp.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            seccomp: Some(cri::SecurityProfile {
                profile_type: cri::security_profile::ProfileType::Localhost as i32,
                localhost_ref: "/nonexistent/profile.json".into(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut writable_image_volume = container_config("badimgvol", &["true"]);
    writable_image_volume.mounts = vec![cri::Mount {
        container_path: "/img".into(),
        image: Some(cri::ImageSpec {
            image: IMAGE.into(),
            ..Default::default()
        }),
        readonly: false,
        ..Default::default()
    }];
    for (config, code, says) in [
        (
            missing_image,
            tonic::Code::NotFound,
            "example.invalid/nope:1",
        ),
        (bad_cpuset, tonic::Code::InvalidArgument, "0-"),
        (
            bad_seccomp,
            tonic::Code::InvalidArgument,
            "/nonexistent/profile.json",
        ),
        (
            writable_image_volume,
            tonic::Code::InvalidArgument,
            "image volumes are read-only",
        ),
    ] {
        let e = rt
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: pod.clone(),
                config: Some(config),
                sandbox_config: Some(sandbox_config.clone()),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{e}");
        assert!(e.message().contains(says), "{e} (want {says:?})");
    }
    let after = container_count(&mut rt).await;
    assert_eq!(before, after);
    let dirs: usize = std::fs::read_dir(d.work.join("root/containers"))
        .unwrap()
        .count();
    assert_eq!(dirs, 2, "only the two real containers have dirs");

    // restart the daemon: the running container and its exec keep working
    d.stop();
    d.spawn();
    let (mut rt, _img) = d.clients().await;
    let st = wait_state(&mut rt, &cid, cri::ContainerState::ContainerRunning).await;
    assert_eq!(st.exit_code, 0);
    let out = exec(&mut rt, &cid, &["echo", "still here"]).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "still here");
    let st = wait_state(&mut rt, &short, cri::ContainerState::ContainerExited).await;
    assert_eq!(st.exit_code, 7);

    // stop with a grace period: the container's TERM trap runs (pid 1 ignores signals it has no
    // handler for, so without the trap this would take the SIGKILL after the grace period)
    rt.stop_container(cri::StopContainerRequest {
        container_id: cid.clone(),
        timeout: 5,
    })
    .await
    .unwrap();
    let st = wait_state(&mut rt, &cid, cri::ContainerState::ContainerExited).await;
    assert_eq!(st.exit_code, 42);

    // tear down: nothing of the pod remains
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await
    .unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await
    .unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&*d.work.to_string_lossy()),
        "mounts left: {mounts}"
    );
    for h in cgroup_dirs(&d.cgroup_parent) {
        let left: Vec<PathBuf> = walk_dirs(&h).into_iter().skip(1).collect();
        assert!(left.is_empty(), "cgroups left: {left:?}");
    }
    let list = rt
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(list.items.is_empty());
}
