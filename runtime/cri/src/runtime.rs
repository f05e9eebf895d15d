//! The runtime's operations on pod sandboxes and containers, independent of gRPC.
//!
//! Layout on disk (`--root`, default /var/lib/outrigger-cri):
//! `images/` (image store), `sandboxes/<id>/` (config.pb, state.json, resolv.conf, hosts,
//! hostname, shm/, pause bundle files), `containers/<id>/` (config.pb, state.json, init.json,
//! monitor.json, pid, exit.json, start.fifo, upper/work/rootfs). Run-time files that need short
//! paths (attach sockets, netns files) live under `--state-dir` (default /run/outrigger-cri).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nix::sys::signal::Signal;
use outrigger_cgroups::{Cgroup, CgroupManager};
use outrigger_container::InitConfig;
use outrigger_cri_proto as cri;
use outrigger_images::ImageStore;
use outrigger_monitor::{ExitStatus, MonitorConfig};
use outrigger_network::{Cni, PodNetwork, PortMapping};
use prost::Message;

use crate::error::{CriError, Ctx, Result};
use crate::procs;
use crate::resources;
use crate::spec;
use crate::state::{
    self, Container, ContainerData, ContainerState, Sandbox, SandboxData, SandboxState, Store,
};

/// Daemon configuration (from the command line).
#[derive(Clone, Debug)]
pub struct Config {
    pub root: PathBuf,
    pub state_dir: PathBuf,
    pub registry_config: Option<PathBuf>,
    pub cni_conf_dir: PathBuf,
    pub cni_bin_dirs: Vec<PathBuf>,
    /// Parent cgroup for pods whose config names none (critest, crictl).
    pub default_cgroup_parent: String,
    /// This binary (re-executed for `monitor`, `init` and `enter`).
    pub exe: PathBuf,
    pub host_resolv_conf: PathBuf,
}

pub struct Runtime {
    pub cfg: Config,
    pub store: Store,
    pub images: Arc<ImageStore>,
    pub cni: Cni,
    pub cgroups: CgroupManager,
    pub stream: OnceLock<outrigger_streaming::StreamServer>,
    /// Last CPU sample per cgroup path, for `usage_nano_cores`.
    cpu_samples: Mutex<HashMap<String, (i64, u64)>>,
}

const STOP_WAIT_AFTER_KILL: Duration = Duration::from_secs(10);
const MONITOR_TIMEOUT: Duration = Duration::from_secs(60);

impl Runtime {
    pub fn new(cfg: Config) -> Result<Self> {
        for d in [
            cfg.root.join("sandboxes"),
            cfg.root.join("containers"),
            cfg.root.join("images"),
            cfg.state_dir.join("netns"),
            cfg.state_dir.join("attach"),
        ] {
            fs::create_dir_all(&d).ctx(|| format!("creating {}", d.display()))?;
        }
        let registry = match &cfg.registry_config {
            Some(d) => outrigger_images::RegistryConfig::load(d)
                .map_err(|e| CriError::invalid(format!("registry config {}: {e}", d.display())))?,
            None => outrigger_images::RegistryConfig::empty(),
        };
        let images = ImageStore::open(&cfg.root.join("images"), registry)
            .map_err(|e| CriError::internal(format!("opening the image store: {e}")))?;
        let cni = Cni::new(
            &cfg.cni_conf_dir,
            cfg.cni_bin_dirs.clone(),
            &cfg.root.join("cni-cache"),
        );
        let cgroups = CgroupManager::detect()
            .map_err(|e| CriError::internal(format!("detecting cgroups: {e}")))?;
        let rt = Runtime {
            cfg,
            store: Store::default(),
            images: Arc::new(images),
            cni,
            cgroups,
            stream: OnceLock::new(),
            cpu_samples: Mutex::new(HashMap::new()),
        };
        rt.recover();
        Ok(rt)
    }

    /// Reloads the records of a previous daemon; running pods keep running (their monitors
    /// and pause processes never depended on us).
    fn recover(&self) {
        for (s, _) in state::load_sandboxes(&self.cfg.root.join("sandboxes")) {
            let d = s.snapshot();
            let name = state::sandbox_name(&s.config);
            let _ = self.store.reserve_name(&name, &d.id);
            if d.state == SandboxState::Ready && !procs::alive(d.pause_pid, d.pause_start_time) {
                let _ = s.update(|d| d.state = SandboxState::NotReady);
            }
            self.store.insert_sandbox(Arc::new(s));
        }
        for c in state::load_containers(&self.cfg.root.join("containers")) {
            let c = Arc::new(c);
            let d = c.snapshot();
            if let Some(sb) = self.store.sandbox(&d.sandbox_id) {
                let _ = self
                    .store
                    .reserve_name(&state::container_name(&sb.config, &c.config), &d.id);
            }
            self.store.insert_container(c.clone());
            self.refresh(&c);
        }
        tracing::info!(
            sandboxes = self.store.all_sandboxes().len(),
            containers = self.store.all_containers().len(),
            "state recovered"
        );
    }

    fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.cfg.root.join("sandboxes").join(id)
    }
    fn container_dir(&self, id: &str) -> PathBuf {
        self.cfg.root.join("containers").join(id)
    }
    fn attach_socket(&self, id: &str) -> PathBuf {
        self.cfg.state_dir.join("attach").join(format!("{id}.sock"))
    }
    fn cgroup(&self, path: &str) -> Result<Cgroup> {
        self.cgroups
            .cgroup(path)
            .map_err(|e| CriError::invalid(format!("cgroup {path:?}: {e}")))
    }

    pub fn get_sandbox(&self, id: &str) -> Result<Arc<Sandbox>> {
        self.store
            .find_sandbox(id)
            .ok_or_else(|| CriError::not_found(format!("pod sandbox {id:?} not found")))
    }
    pub fn get_container(&self, id: &str) -> Result<Arc<Container>> {
        let c = self
            .store
            .find_container(id)
            .ok_or_else(|| CriError::not_found(format!("container {id:?} not found")))?;
        self.refresh(&c);
        Ok(c)
    }

    // ---------------------------------------------------------------------------------------
    // sandboxes

    pub async fn run_pod_sandbox(
        &self,
        config: cri::PodSandboxConfig,
        handler: String,
    ) -> Result<String> {
        let meta = config
            .metadata
            .clone()
            .ok_or_else(|| CriError::invalid("pod sandbox config has no metadata"))?;
        if meta.name.is_empty() {
            return Err(CriError::invalid("pod sandbox metadata.name is empty"));
        }
        let id = procs::new_id()?;
        let name = state::sandbox_name(&config);
        if let Err(holder) = self.store.reserve_name(&name, &id) {
            return Err(CriError::new(
                crate::error::Category::AlreadyExists,
                format!("pod sandbox name {name:?} is reserved for {holder}"),
            ));
        }
        match self.create_sandbox(&id, config, handler).await {
            Ok(()) => Ok(id),
            Err(e) => {
                self.store.release_name(&name);
                Err(e.context(format!(
                    "running pod sandbox {}/{}",
                    meta.namespace, meta.name
                )))
            }
        }
    }

    async fn create_sandbox(
        &self,
        id: &str,
        config: cri::PodSandboxConfig,
        handler: String,
    ) -> Result<()> {
        let dir = self.sandbox_dir(id);
        fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        let mut guard = Cleanup::new();
        {
            let d = dir.clone();
            guard.push(move || {
                let _ = nix::mount::umount2(&d.join("shm"), nix::mount::MntFlags::MNT_DETACH);
                let _ = fs::remove_dir_all(&d);
            });
        }
        let linux = config.linux.clone().unwrap_or_default();
        let ns = linux
            .security_context
            .as_ref()
            .and_then(|s| s.namespace_options.clone())
            .unwrap_or_default();
        let host_net = ns.network == cri::NamespaceMode::Node as i32;
        let host_ipc = ns.ipc == cri::NamespaceMode::Node as i32;
        let userns = spec::pod_user_mappings(&ns).map_err(spec_error)?;

        // files shared by the pod's containers
        let host_resolv = fs::read_to_string(&self.cfg.host_resolv_conf).unwrap_or_default();
        fs::write(
            dir.join("resolv.conf"),
            spec::resolv_conf(config.dns_config.as_ref(), &host_resolv),
        )?;
        let hostname = if config.hostname.is_empty() {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default()
        } else {
            config.hostname.clone()
        };
        fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
        let mut shm_mounted = false;
        if !host_ipc {
            let shm = dir.join("shm");
            fs::create_dir_all(&shm)?;
            nix::mount::mount(
                Some("shm"),
                &shm,
                Some("tmpfs"),
                nix::mount::MsFlags::MS_NOSUID
                    | nix::mount::MsFlags::MS_NODEV
                    | nix::mount::MsFlags::MS_NOEXEC,
                Some("mode=1777,size=65536k"),
            )
            .ctx(|| format!("mounting the pod's /dev/shm at {}", shm.display()))?;
            shm_mounted = true;
        }

        // network
        let mut netns = None;
        let mut ips: Vec<String> = Vec::new();
        if !host_net {
            let ns = outrigger_network::create_netns(&self.cfg.state_dir.join("netns"), id)
                .map_err(|e| CriError::internal(format!("creating the network namespace: {e}")))?;
            let path = ns.path.clone();
            {
                let p = path.clone();
                guard.push(move || {
                    let _ = outrigger_network::remove_netns(&p);
                });
            }
            let pod = self.pod_network(id, &config, &path);
            let status = self
                .cni
                .setup(&pod)
                .await
                .map_err(|e| CriError::internal(format!("setting up the pod network: {e}")))?;
            {
                // undo CNI ADD if a later step fails
                let cni_pod = pod.clone();
                let handle = tokio::runtime::Handle::current();
                let cni = self.cni.clone();
                guard.push(move || {
                    let _ = std::thread::spawn(move || {
                        let _ = handle.block_on(cni.teardown(&cni_pod));
                    })
                    .join();
                });
            }
            ips = status.ips.iter().map(|ip| ip.to_string()).collect();
            netns = Some(path);
        }
        fs::write(
            dir.join("hosts"),
            spec::hosts_file(
                &hostname,
                &ips.iter()
                    .filter_map(|s| s.parse().ok())
                    .collect::<Vec<_>>(),
            ),
        )?;
        if let Some(m) = &userns {
            // the pod's files belong to its root
            for f in ["hostname", "resolv.conf", "hosts"] {
                let p = dir.join(f);
                nix::unistd::chown(&p, Some(m.uid_host.into()), Some(m.gid_host.into()))
                    .ctx(|| format!("chown {}", p.display()))?;
            }
        }

        // cgroups: the pod's (the kubelet's parent, or ours) and the pause process's below it
        let (pod_cgroup, owns) = if linux.cgroup_parent.is_empty() {
            (
                format!(
                    "{}/{id}",
                    self.cfg.default_cgroup_parent.trim_end_matches('/')
                ),
                true,
            )
        } else {
            (linux.cgroup_parent.clone(), false)
        };
        let pod_cg = self.cgroup(&pod_cgroup)?;
        pod_cg
            .create()
            .map_err(|e| CriError::internal(format!("creating cgroup {pod_cgroup}: {e}")))?;
        if owns {
            let cg = pod_cg.clone();
            guard.push(move || {
                let _ = cg.kill_all();
                let _ = cg.delete();
            });
        }
        let pause_cg = self.cgroup(&format!("{pod_cgroup}/{id}"))?;
        pause_cg
            .create()
            .map_err(|e| CriError::internal(format!("creating the sandbox cgroup: {e}")))?;
        {
            let cg = pause_cg.clone();
            guard.push(move || {
                let _ = cg.kill_all();
                let _ = cg.delete();
            });
        }

        // the pause process holding the pod's namespaces
        let info = spec::SandboxInfo {
            id: id.to_string(),
            hostname: hostname.clone(),
            netns: netns.clone(),
            ipc_ns: None,
            uts_ns: None,
            pid_ns: None,
            user_ns: None,
            userns,
            sandbox_dir: dir.clone(),
            config: config.clone(),
        };
        let oci = spec::sandbox_spec(&info).map_err(|e| CriError::invalid(e.to_string()))?;
        let init = InitConfig {
            spec: oci,
            cgroup_procs: pause_cg.procs_files(),
            start_fifo: None,
            pause: true,
            pid_file: dir.join("pause.pid"),
        };
        let created = self
            .start_monitor(&dir, id, init, None, false, false, false)
            .await
            .map_err(|e| e.context("starting the pod's pause process"))?;
        let pause_start = procs::start_time(created.container_pid).unwrap_or(0);

        let data = SandboxData {
            id: id.to_string(),
            state: SandboxState::Ready,
            created_at: procs::now_ns(),
            netns,
            ips,
            pause_pid: created.container_pid,
            pause_start_time: pause_start,
            pod_cgroup,
            owns_pod_cgroup: owns,
            runtime_handler: handler,
            shm_mounted,
        };
        state::write_atomic(&dir.join("config.pb"), &config.encode_to_vec())?;
        state::write_json(&dir.join("state.json"), &data)?;
        self.store.insert_sandbox(Arc::new(Sandbox {
            dir,
            config,
            data: Mutex::new(data),
            op: tokio::sync::Mutex::new(()),
        }));
        guard.disarm();
        Ok(())
    }

    fn pod_network(&self, id: &str, config: &cri::PodSandboxConfig, netns: &Path) -> PodNetwork {
        let m = config.metadata.clone().unwrap_or_default();
        PodNetwork {
            id: id.to_string(),
            netns: netns.to_path_buf(),
            ifname: "eth0".to_string(),
            pod_name: m.name,
            pod_namespace: m.namespace,
            pod_uid: m.uid,
            port_mappings: config
                .port_mappings
                .iter()
                .filter(|p| p.host_port > 0)
                .map(|p| PortMapping {
                    host_port: u16::try_from(p.host_port).unwrap_or(0),
                    container_port: u16::try_from(p.container_port).unwrap_or(0),
                    protocol: match cri::Protocol::try_from(p.protocol) {
                        Ok(cri::Protocol::Udp) => "udp",
                        Ok(cri::Protocol::Sctp) => "sctp",
                        _ => "tcp",
                    }
                    .to_string(),
                    host_ip: p.host_ip.clone(),
                })
                .collect(),
        }
    }

    /// Spawns a monitor for a bundle dir and waits until its init reports the process created.
    #[allow(clippy::too_many_arguments)]
    async fn start_monitor(
        &self,
        dir: &Path,
        id: &str,
        init: InitConfig,
        log_path: Option<PathBuf>,
        tty: bool,
        stdin: bool,
        stdin_once: bool,
    ) -> Result<outrigger_monitor::Created> {
        let init_path = dir.join("init.json");
        state::write_json(&init_path, &init)?;
        let _ = fs::remove_file(dir.join("exit.json"));
        let mon = MonitorConfig {
            id: id.to_string(),
            command: vec![
                self.cfg.exe.display().to_string(),
                "init".to_string(),
                init_path.display().to_string(),
            ],
            pid_file: init.pid_file.clone(),
            exit_file: dir.join("exit.json"),
            monitor_pid_file: dir.join("monitor.pid"),
            log_path,
            attach_socket: self.attach_socket(id),
            tty,
            stdin,
            stdin_once,
            log_max_line: 16 * 1024,
        };
        let mon_path = dir.join("monitor.json");
        state::write_json(&mon_path, &mon)?;
        let argv = vec![
            self.cfg.exe.display().to_string(),
            "monitor".to_string(),
            mon_path.display().to_string(),
        ];
        tokio::task::spawn_blocking(move || {
            outrigger_monitor::spawn_monitor(&argv, &mon, MONITOR_TIMEOUT)
        })
        .await
        .map_err(|e| CriError::internal(format!("monitor task: {e}")))?
        .map_err(|e| CriError::internal(e.to_string()))
    }

    pub async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let Some(sb) = self.store.find_sandbox(id) else {
            // stopping a sandbox that is gone is not an error (kubelet retries after restarts)
            return Ok(());
        };
        let _op = sb.op.lock().await;
        let sid = sb.snapshot().id;
        for c in self.store.containers_of(&sid) {
            self.stop_container_inner(&c, 0).await?;
        }
        let d = sb.snapshot();
        if procs::alive(d.pause_pid, d.pause_start_time) {
            procs::signal(d.pause_pid, d.pause_start_time, Signal::SIGKILL);
            wait_until(Duration::from_secs(5), || {
                !procs::alive(d.pause_pid, d.pause_start_time)
            })
            .await;
        }
        if let Some(netns) = &d.netns {
            let pod = self.pod_network(&sid, &sb.config, netns);
            self.cni
                .teardown(&pod)
                .await
                .map_err(|e| CriError::internal(format!("tearing down the pod network: {e}")))?;
            outrigger_network::remove_netns(netns)
                .map_err(|e| CriError::internal(format!("removing the network namespace: {e}")))?;
        }
        if d.shm_mounted {
            let shm = sb.dir.join("shm");
            match nix::mount::umount2(&shm, nix::mount::MntFlags::MNT_DETACH) {
                Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
                Err(e) => {
                    return Err(CriError::internal(format!(
                        "unmounting {}: {e}",
                        shm.display()
                    )));
                }
            }
        }
        sb.update(|d| {
            d.state = SandboxState::NotReady;
            d.shm_mounted = false;
        })?;
        Ok(())
    }

    pub async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let Some(sb) = self.store.find_sandbox(id) else {
            return Ok(());
        };
        self.stop_pod_sandbox(id).await?;
        let _op = sb.op.lock().await;
        let d = sb.snapshot();
        for c in self.store.containers_of(&d.id) {
            self.remove_container_inner(&c).await?;
        }
        let pause_cg = self.cgroup(&format!("{}/{}", d.pod_cgroup, d.id))?;
        let _ = pause_cg.kill_all();
        pause_cg
            .delete()
            .map_err(|e| CriError::internal(format!("removing the sandbox cgroup: {e}")))?;
        if d.owns_pod_cgroup {
            let cg = self.cgroup(&d.pod_cgroup)?;
            let _ = cg.kill_all();
            cg.delete()
                .map_err(|e| CriError::internal(format!("removing the pod cgroup: {e}")))?;
        }
        let _ = fs::remove_file(self.attach_socket(&d.id));
        fs::remove_dir_all(&sb.dir).ctx(|| format!("removing {}", sb.dir.display()))?;
        self.store.remove_sandbox(&d.id);
        Ok(())
    }

    pub fn sandbox_status(&self, sb: &Sandbox) -> cri::PodSandboxStatus {
        let mut d = sb.snapshot();
        if d.state == SandboxState::Ready && !procs::alive(d.pause_pid, d.pause_start_time) {
            let _ = sb.update(|x| x.state = SandboxState::NotReady);
            d.state = SandboxState::NotReady;
        }
        let linux = sb.config.linux.clone().unwrap_or_default();
        let ns = linux
            .security_context
            .as_ref()
            .and_then(|s| s.namespace_options.clone());
        cri::PodSandboxStatus {
            id: d.id.clone(),
            metadata: sb.config.metadata.clone(),
            state: sandbox_state(d.state) as i32,
            created_at: d.created_at,
            network: Some(cri::PodSandboxNetworkStatus {
                ip: d.ips.first().cloned().unwrap_or_default(),
                additional_ips: d
                    .ips
                    .iter()
                    .skip(1)
                    .map(|ip| cri::PodIp { ip: ip.clone() })
                    .collect(),
            }),
            linux: Some(cri::LinuxPodSandboxStatus {
                namespaces: Some(cri::Namespace { options: ns }),
            }),
            labels: sb.config.labels.clone(),
            annotations: sb.config.annotations.clone(),
            runtime_handler: d.runtime_handler,
        }
    }

    // ---------------------------------------------------------------------------------------
    // containers

    pub async fn create_container(
        &self,
        sandbox_id: &str,
        config: cri::ContainerConfig,
        sandbox_config: Option<cri::PodSandboxConfig>,
    ) -> Result<String> {
        let sb = self.get_sandbox(sandbox_id)?;
        let sd = sb.snapshot();
        if sd.state != SandboxState::Ready {
            return Err(CriError::precondition(format!(
                "pod sandbox {} is not ready",
                sd.id
            )));
        }
        let meta = config
            .metadata
            .clone()
            .ok_or_else(|| CriError::invalid("container config has no metadata"))?;
        if meta.name.is_empty() {
            return Err(CriError::invalid("container metadata.name is empty"));
        }
        let image_name = config
            .image
            .as_ref()
            .map(|i| i.image.clone())
            .unwrap_or_default();
        if image_name.is_empty() {
            return Err(CriError::invalid("container config has no image"));
        }
        let image = self.images.get(&image_name).ok_or_else(|| {
            CriError::not_found(format!("image {image_name:?} not found: pull it first"))
        })?;
        let id = procs::new_id()?;
        let sandbox_config = sandbox_config.unwrap_or_else(|| sb.config.clone());
        let name = state::container_name(&sb.config, &config);
        if let Err(holder) = self.store.reserve_name(&name, &id) {
            return Err(CriError::new(
                crate::error::Category::AlreadyExists,
                format!("container name {name:?} is reserved for {holder}"),
            ));
        }
        match self
            .create_container_inner(&id, &sb, &sd, config, sandbox_config, image)
            .await
        {
            Ok(()) => Ok(id),
            Err(e) => {
                self.store.release_name(&name);
                Err(e.context(format!("creating container {:?}", meta.name)))
            }
        }
    }

    async fn create_container_inner(
        &self,
        id: &str,
        sb: &Sandbox,
        sd: &SandboxData,
        mut config: cri::ContainerConfig,
        sandbox_config: cri::PodSandboxConfig,
        image: outrigger_images::Image,
    ) -> Result<()> {
        let dir = self.container_dir(id);
        fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        let mut guard = Cleanup::new();
        {
            let d = dir.clone();
            guard.push(move || {
                let _ = unmount_image_volumes(&d);
                let _ = outrigger_images::unmount_rootfs(&d);
                let _ = fs::remove_dir_all(&d);
            });
        }
        // the config the spec is built from: image volumes become bind mounts of their rootfs
        let mut spec_config = config.clone();
        let pause = format!("/proc/{}/ns", sd.pause_pid);
        // the pod's namespace was made from the config it was created with
        let sandbox_ns = sb
            .config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.clone())
            .unwrap_or_default();
        let userns = spec::pod_user_mappings(&sandbox_ns).map_err(spec_error)?;
        let user_ns = userns.map(|_| PathBuf::from(format!("{pause}/user")));
        let rootfs = {
            let userns_file = match &user_ns {
                Some(p) => Some(
                    fs::File::open(p)
                        .ctx(|| format!("opening the pod's user namespace {}", p.display()))?,
                ),
                None => None,
            };
            let idmap = match (&userns_file, &userns) {
                (Some(f), Some(m)) => Some(outrigger_images::IdMappedRoot {
                    userns: std::os::fd::AsFd::as_fd(f),
                    root_uid: m.uid_host,
                    root_gid: m.gid_host,
                }),
                _ => None,
            };
            let rootfs = self
                .images
                .mount_rootfs_mapped(&image.id, &dir, idmap)
                .map_err(|e| CriError::internal(format!("preparing the root filesystem: {e}")))?;
            self.mount_image_volumes(&dir, &mut config, &mut spec_config, idmap)?;
            rootfs
        };

        let linux = config.linux.clone().unwrap_or_default();
        let sc = linux.security_context.clone().unwrap_or_default();
        let info = spec::SandboxInfo {
            id: sd.id.clone(),
            hostname: fs::read_to_string(sb.dir.join("hostname"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            netns: sd.netns.clone(),
            ipc_ns: Some(PathBuf::from(format!("{pause}/ipc"))),
            uts_ns: Some(PathBuf::from(format!("{pause}/uts"))),
            pid_ns: Some(PathBuf::from(format!("{pause}/pid"))),
            user_ns,
            userns,
            sandbox_dir: sb.dir.clone(),
            config: sandbox_config,
        };
        let target_pid_ns = match sc.namespace_options.as_ref() {
            Some(ns) if ns.pid == cri::NamespaceMode::Target as i32 => {
                let t = self
                    .get_container(&ns.target_id)
                    .map_err(|e| e.context("pid namespace target"))?;
                let td = t.snapshot();
                if td.state != ContainerState::Running && td.state != ContainerState::Created {
                    return Err(CriError::precondition(format!(
                        "pid namespace target container {} is not running",
                        td.id
                    )));
                }
                Some(PathBuf::from(format!("/proc/{}/ns/pid", td.pid)))
            }
            _ => None,
        };
        let built = {
            let input = spec::ContainerSpecInput {
                id,
                config: &spec_config,
                sandbox: &info,
                image: spec::ImageInfo {
                    user: &image.config.user,
                    env: &image.config.env,
                    entrypoint: &image.config.entrypoint,
                    cmd: &image.config.cmd,
                    working_dir: &image.config.working_dir,
                },
                rootfs: &rootfs,
                target_pid_ns,
                host: &spec::RealHost,
            };
            spec::container_spec(&input).map_err(spec_error)?
        };
        let mut oci = built.spec;
        let seccomp = match built.seccomp {
            spec::SeccompChoice::Unconfined => None,
            spec::SeccompChoice::RuntimeDefault => {
                Some(outrigger_container::runtime_default_seccomp())
            }
            spec::SeccompChoice::Localhost(p) => Some(p),
        };
        if let Some(l) = oci.linux_mut() {
            l.set_seccomp(seccomp);
        }
        let (uid, gid, groups) = oci
            .process()
            .as_ref()
            .map(|p| {
                let u = p.user();
                (
                    i64::from(u.uid()),
                    i64::from(u.gid()),
                    u.additional_gids()
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .map(i64::from)
                        .collect::<Vec<_>>(),
                )
            })
            .unwrap_or((0, 0, Vec::new()));

        // cgroup
        let cg_path = format!("{}/{id}", sd.pod_cgroup);
        let cg = self.cgroup(&cg_path)?;
        let res = resources::from_cri(linux.resources.as_ref())?;
        cg.create()
            .map_err(|e| CriError::internal(format!("creating cgroup {cg_path}: {e}")))?;
        {
            let cg = cg.clone();
            guard.push(move || {
                let _ = cg.kill_all();
                let _ = cg.delete();
            });
        }
        cg.apply(&res)
            .map_err(|e| CriError::invalid(format!("container resources: {e}")))?;
        self.apply_device_rules(&cg_path, &oci)?;

        let log_path = {
            let dir = &sb.config.log_directory;
            if dir.is_empty() || config.log_path.is_empty() {
                None
            } else {
                Some(Path::new(dir).join(&config.log_path))
            }
        };
        let fifo = dir.join("start.fifo");
        let _ = fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .ctx(|| format!("creating {}", fifo.display()))?;
        let init = InitConfig {
            spec: oci,
            cgroup_procs: cg.procs_files(),
            start_fifo: Some(fifo),
            pause: false,
            pid_file: dir.join("pid"),
        };
        let stop_signal = procs::parse_signal(&image.config.stop_signal).unwrap_or(15);
        let created = self
            .start_monitor(
                &dir,
                id,
                init,
                log_path.clone(),
                config.tty,
                config.stdin,
                config.stdin_once,
            )
            .await?;
        let resources = linux.resources.as_ref().map(|r| r.encode_to_vec());
        let data = ContainerData {
            id: id.to_string(),
            sandbox_id: sd.id.clone(),
            state: ContainerState::Created,
            created_at: procs::now_ns(),
            started_at: 0,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            image_name: config
                .image
                .as_ref()
                .map(|i| i.image.clone())
                .unwrap_or_default(),
            image_id: image.id.clone(),
            image_ref: image
                .repo_digests
                .first()
                .cloned()
                .unwrap_or_else(|| image.id.clone()),
            pid: created.container_pid,
            pid_start_time: procs::start_time(created.container_pid).unwrap_or(0),
            monitor_pid: created.monitor_pid,
            monitor_start_time: procs::start_time(created.monitor_pid).unwrap_or(0),
            cgroup: cg_path,
            log_path: log_path
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            stop_signal,
            resources,
            uid,
            gid,
            supplemental_groups: groups,
        };
        state::write_atomic(&dir.join("config.pb"), &config.encode_to_vec())?;
        state::write_json(&dir.join("state.json"), &data)?;
        self.store.insert_container(Arc::new(Container {
            dir,
            config,
            data: Mutex::new(data),
            op: tokio::sync::Mutex::new(()),
        }));
        guard.disarm();
        Ok(())
    }

    pub async fn start_container(&self, id: &str) -> Result<()> {
        let c = self.get_container(id)?;
        let _op = c.op.lock().await;
        let d = c.snapshot();
        if d.state != ContainerState::Created {
            return Err(CriError::precondition(format!(
                "container {} is {:?}, not created",
                d.id, d.state
            )));
        }
        let fifo = c.dir.join("start.fifo");
        let f2 = fifo.clone();
        // Opening the FIFO for reading releases the init blocked in open(O_WRONLY); it then
        // execs, which closes its end: POLLHUP (reported only once a writer existed) or a byte
        // tells us it went through. If the init died, no writer ever comes: bounded wait.
        let res = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
            use std::os::fd::AsFd;
            use std::os::unix::fs::OpenOptionsExt;
            let f = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(&f2)?;
            let mut fds = [nix::poll::PollFd::new(
                f.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(10_000u16)) {
                Ok(0) => Ok(false),
                Ok(_) => Ok(fds[0].revents().is_some_and(|r| {
                    r.intersects(nix::poll::PollFlags::POLLHUP | nix::poll::PollFlags::POLLIN)
                })),
                Err(e) => Err(std::io::Error::from(e)),
            }
        })
        .await
        .map_err(|e| CriError::internal(e.to_string()))?
        .ctx(|| format!("starting container {}", d.id))?;
        let _ = fs::remove_file(&fifo);
        if !res {
            self.refresh(&c);
            return Err(CriError::internal(format!(
                "container {} did not start: its init process is gone ({})",
                d.id,
                c.snapshot().message
            )));
        }
        c.update(|d| {
            d.state = ContainerState::Running;
            d.started_at = procs::now_ns();
        })?;
        Ok(())
    }

    /// Re-reads the exit file of a created or running container.
    pub fn refresh(&self, c: &Container) {
        let d = c.snapshot();
        if d.state != ContainerState::Running && d.state != ContainerState::Created {
            return;
        }
        let exit: Option<ExitStatus> = state::read_json(&c.dir.join("exit.json")).ok();
        let exit = match exit {
            Some(e) => e,
            None => {
                if procs::alive(d.monitor_pid, d.monitor_start_time)
                    || procs::alive(d.pid, d.pid_start_time)
                {
                    return;
                }
                // neither an exit record nor a process: the monitor was killed
                ExitStatus {
                    exit_code: 255,
                    signal: None,
                    finished_at_ns: procs::now_ns(),
                    error: Some("the container's monitor process disappeared".to_string()),
                }
            }
        };
        let oom = self
            .cgroup(&d.cgroup)
            .ok()
            .and_then(|cg| cg.oom_kill_count().ok())
            .unwrap_or(0)
            > 0;
        let _ = c.update(|d| {
            d.state = ContainerState::Exited;
            d.exit_code = exit.exit_code;
            d.finished_at = exit.finished_at_ns;
            if d.started_at == 0 {
                d.started_at = exit.finished_at_ns;
            }
            d.reason = if oom && (exit.signal == Some(9) || exit.exit_code == 137) {
                "OOMKilled".to_string()
            } else if exit.exit_code == 0 {
                "Completed".to_string()
            } else {
                "Error".to_string()
            };
            d.message = exit.error.clone().unwrap_or_default();
        });
    }

    pub async fn stop_container(&self, id: &str, timeout: i64) -> Result<()> {
        // stopping a container that is gone is not an error (CRI idempotence)
        let Some(c) = self.store.find_container(id) else {
            return Ok(());
        };
        let _op = c.op.lock().await;
        self.stop_container_inner(&c, timeout).await
    }

    async fn stop_container_inner(&self, c: &Container, timeout: i64) -> Result<()> {
        self.refresh(c);
        let d = c.snapshot();
        match d.state {
            ContainerState::Exited | ContainerState::Unknown => return Ok(()),
            ContainerState::Created => {
                // never started: kill the waiting init and record the exit
                let _ = self.cgroup(&d.cgroup).map(|cg| cg.kill_all());
                procs::signal(d.pid, d.pid_start_time, Signal::SIGKILL);
            }
            ContainerState::Running => {
                if timeout > 0 {
                    let sig = Signal::try_from(d.stop_signal).unwrap_or(Signal::SIGTERM);
                    procs::signal(d.pid, d.pid_start_time, sig);
                    let dir = c.dir.clone();
                    let t = Duration::from_secs(u64::try_from(timeout).unwrap_or(0));
                    wait_until(t, || dir.join("exit.json").exists()).await;
                }
                if !c.dir.join("exit.json").exists() {
                    procs::signal(d.pid, d.pid_start_time, Signal::SIGKILL);
                    if let Ok(cg) = self.cgroup(&d.cgroup) {
                        let _ = cg.kill_all();
                    }
                }
            }
        }
        let dir = c.dir.clone();
        let (pid, st, mpid, mst) = (d.pid, d.pid_start_time, d.monitor_pid, d.monitor_start_time);
        wait_until(STOP_WAIT_AFTER_KILL, || {
            dir.join("exit.json").exists() || (!procs::alive(pid, st) && !procs::alive(mpid, mst))
        })
        .await;
        self.refresh(c);
        if matches!(
            c.snapshot().state,
            ContainerState::Created | ContainerState::Running
        ) {
            return Err(CriError::internal(format!(
                "container {} did not stop within {}s of SIGKILL",
                d.id,
                STOP_WAIT_AFTER_KILL.as_secs()
            )));
        }
        Ok(())
    }

    pub async fn remove_container(&self, id: &str) -> Result<()> {
        let Some(c) = self.store.find_container(id) else {
            return Ok(());
        };
        self.remove_container_inner(&c).await
    }

    async fn remove_container_inner(&self, c: &Container) -> Result<()> {
        let _op = c.op.lock().await;
        self.stop_container_inner(c, 0).await?;
        let d = c.snapshot();
        if let Ok(cg) = self.cgroup(&d.cgroup) {
            let _ = cg.kill_all();
            cg.delete()
                .map_err(|e| CriError::internal(format!("removing cgroup {}: {e}", d.cgroup)))?;
        }
        unmount_image_volumes(&c.dir)
            .map_err(|e| CriError::internal(format!("unmounting image volumes: {e}")))?;
        outrigger_images::unmount_rootfs(&c.dir)
            .map_err(|e| CriError::internal(format!("removing the root filesystem: {e}")))?;
        let _ = fs::remove_file(self.attach_socket(&d.id));
        fs::remove_dir_all(&c.dir).ctx(|| format!("removing {}", c.dir.display()))?;
        self.store.remove_container(&d.id);
        self.cpu_samples_forget(&d.cgroup);
        Ok(())
    }

    pub fn container_status(&self, c: &Container) -> cri::ContainerStatus {
        let d = c.snapshot();
        let resources = d
            .resources
            .as_ref()
            .and_then(|b| cri::LinuxContainerResources::decode(b.as_slice()).ok());
        cri::ContainerStatus {
            id: d.id.clone(),
            metadata: c.config.metadata.clone(),
            state: container_state(d.state) as i32,
            created_at: d.created_at,
            started_at: d.started_at,
            finished_at: d.finished_at,
            exit_code: d.exit_code,
            image: Some(cri::ImageSpec {
                image: d.image_name.clone(),
                annotations: c
                    .config
                    .image
                    .as_ref()
                    .map(|i| i.annotations.clone())
                    .unwrap_or_default(),
                user_specified_image: c
                    .config
                    .image
                    .as_ref()
                    .map(|i| i.user_specified_image.clone())
                    .unwrap_or_default(),
                runtime_handler: String::new(),
                image_ref: d.image_ref.clone(),
            }),
            image_ref: d.image_ref.clone(),
            reason: d.reason.clone(),
            message: d.message.clone(),
            labels: c.config.labels.clone(),
            annotations: c.config.annotations.clone(),
            mounts: c.config.mounts.clone(),
            log_path: d.log_path.clone(),
            resources: resources.map(|r| cri::ContainerResources {
                linux: Some(r),
                windows: None,
            }),
            image_id: d.image_id.clone(),
            user: Some(cri::ContainerUser {
                linux: Some(cri::LinuxContainerUser {
                    uid: d.uid,
                    gid: d.gid,
                    supplemental_groups: d.supplemental_groups.clone(),
                }),
            }),
            stop_signal: 0,
        }
    }

    pub async fn update_container_resources(
        &self,
        id: &str,
        r: Option<cri::LinuxContainerResources>,
    ) -> Result<()> {
        let c = self.get_container(id)?;
        let _op = c.op.lock().await;
        let d = c.snapshot();
        if d.state == ContainerState::Exited {
            return Err(CriError::precondition(format!(
                "container {} has exited",
                d.id
            )));
        }
        let res = resources::from_cri(r.as_ref())?;
        self.cgroup(&d.cgroup)?
            .apply(&res)
            .map_err(|e| CriError::invalid(format!("container resources: {e}")))?;
        c.update(|d| d.resources = r.as_ref().map(|r| r.encode_to_vec()))?;
        Ok(())
    }

    pub async fn reopen_container_log(&self, id: &str) -> Result<()> {
        let c = self.get_container(id)?;
        let d = c.snapshot();
        if d.state != ContainerState::Running {
            return Err(CriError::precondition(format!(
                "container {} is not running",
                d.id
            )));
        }
        if d.log_path.is_empty() {
            return Ok(());
        }
        if !procs::signal(d.monitor_pid, d.monitor_start_time, Signal::SIGUSR1) {
            return Err(CriError::internal(format!(
                "the monitor of container {} is gone",
                d.id
            )));
        }
        let p = PathBuf::from(&d.log_path);
        if !wait_until(Duration::from_secs(5), || p.exists()).await {
            return Err(CriError::internal(format!(
                "log file {} was not reopened",
                d.log_path
            )));
        }
        Ok(())
    }

    /// The configuration for running a command inside a container (exec).
    pub fn enter_config(
        &self,
        c: &Container,
        cmd: Vec<String>,
        tty: bool,
    ) -> Result<outrigger_container::EnterConfig> {
        let d = c.snapshot();
        if d.state != ContainerState::Running {
            return Err(CriError::precondition(format!(
                "container {} is not running",
                d.id
            )));
        }
        if cmd.is_empty() {
            return Err(CriError::invalid("exec: the command is empty"));
        }
        let init: InitConfig =
            state::read_json(&c.dir.join("init.json")).map_err(CriError::internal)?;
        let mut process = init
            .spec
            .process()
            .clone()
            .ok_or_else(|| CriError::internal("container has no process spec"))?;
        process.set_args(Some(cmd));
        process.set_terminal(Some(tty));
        let seccomp = init.spec.linux().as_ref().and_then(|l| l.seccomp().clone());
        Ok(outrigger_container::EnterConfig {
            target_pid: d.pid,
            process,
            cgroup_procs: self.cgroup(&d.cgroup)?.procs_files(),
            seccomp,
        })
    }

    /// Writes an enter config to a temp file in the container dir; returns the path.
    pub fn write_enter_config(
        &self,
        c: &Container,
        cfg: &outrigger_container::EnterConfig,
    ) -> Result<PathBuf> {
        let p = c.dir.join(format!("exec-{}.json", &procs::new_id()?[..16]));
        state::write_json(&p, cfg)?;
        Ok(p)
    }

    // ---------------------------------------------------------------------------------------
    // stats

    pub fn container_stats(&self, c: &Container) -> cri::ContainerStats {
        let d = c.snapshot();
        let now = procs::now_ns();
        let mut out = cri::ContainerStats {
            attributes: Some(cri::ContainerAttributes {
                id: d.id.clone(),
                metadata: c.config.metadata.clone(),
                labels: c.config.labels.clone(),
                annotations: c.config.annotations.clone(),
            }),
            ..Default::default()
        };
        if let Ok(cg) = self.cgroup(&d.cgroup) {
            if let Ok(st) = cg.stats() {
                let (cpu, mem) = self.convert_stats(&d.cgroup, &st);
                out.cpu = cpu;
                out.memory = mem;
                if let Some(m) = &st.memory {
                    out.swap = Some(cri::SwapUsage {
                        timestamp: now,
                        swap_available_bytes: None,
                        swap_usage_bytes: m.swap_usage_bytes.map(|v| cri::UInt64Value { value: v }),
                    });
                }
            }
        }
        let (bytes, inodes) = outrigger_images::writable_usage(&c.dir).unwrap_or((0, 0));
        out.writable_layer = Some(cri::FilesystemUsage {
            timestamp: now,
            fs_id: Some(cri::FilesystemIdentifier {
                mountpoint: self.cfg.root.join("containers").display().to_string(),
            }),
            used_bytes: Some(cri::UInt64Value { value: bytes }),
            inodes_used: Some(cri::UInt64Value { value: inodes }),
        });
        out
    }

    pub fn sandbox_stats(&self, sb: &Sandbox) -> cri::PodSandboxStats {
        let d = sb.snapshot();
        let mut linux = cri::LinuxPodSandboxStats::default();
        if let Ok(cg) = self.cgroup(&d.pod_cgroup) {
            if let Ok(st) = cg.stats() {
                let (cpu, mem) = self.convert_stats(&d.pod_cgroup, &st);
                linux.cpu = cpu;
                linux.memory = mem;
                if let Some(p) = &st.pids {
                    linux.process = Some(cri::ProcessUsage {
                        timestamp: st.timestamp_ns,
                        process_count: Some(cri::UInt64Value { value: p.current }),
                    });
                }
            }
        }
        linux.containers = self
            .store
            .containers_of(&d.id)
            .iter()
            .filter(|c| c.snapshot().state == ContainerState::Running)
            .map(|c| self.container_stats(c))
            .collect();
        cri::PodSandboxStats {
            attributes: Some(cri::PodSandboxAttributes {
                id: d.id.clone(),
                metadata: sb.config.metadata.clone(),
                labels: sb.config.labels.clone(),
                annotations: sb.config.annotations.clone(),
            }),
            linux: Some(linux),
            windows: None,
        }
    }

    fn convert_stats(
        &self,
        key: &str,
        st: &outrigger_cgroups::Stats,
    ) -> (Option<cri::CpuUsage>, Option<cri::MemoryUsage>) {
        let ts = st.timestamp_ns;
        let cpu = st.cpu.as_ref().map(|c| {
            let mut samples = state::lock(&self.cpu_samples);
            let nano_cores = samples.get(key).and_then(|(t0, u0)| {
                let dt = ts.checked_sub(*t0)?;
                if dt <= 0 || c.usage_ns < *u0 {
                    return None;
                }
                let du = c.usage_ns - u0;
                Some((u128::from(du) * 1_000_000_000 / dt as u128) as u64)
            });
            samples.insert(key.to_string(), (ts, c.usage_ns));
            cri::CpuUsage {
                timestamp: ts,
                usage_core_nano_seconds: Some(cri::UInt64Value { value: c.usage_ns }),
                usage_nano_cores: nano_cores.map(|v| cri::UInt64Value { value: v }),
                psi: None,
            }
        });
        let mem = st.memory.as_ref().map(|m| cri::MemoryUsage {
            timestamp: ts,
            working_set_bytes: Some(cri::UInt64Value {
                value: m.working_set_bytes,
            }),
            available_bytes: m.limit_bytes.map(|l| cri::UInt64Value {
                value: l.saturating_sub(m.working_set_bytes),
            }),
            usage_bytes: Some(cri::UInt64Value {
                value: m.usage_bytes,
            }),
            rss_bytes: Some(cri::UInt64Value { value: m.rss_bytes }),
            page_faults: Some(cri::UInt64Value {
                value: m.page_faults,
            }),
            major_page_faults: Some(cri::UInt64Value {
                value: m.major_page_faults,
            }),
            psi: None,
        });
        (cpu, mem)
    }

    /// The device rules of the spec's `linux.resources.devices`, in order: the v1 devices
    /// cgroup (a new one inherits its parent's "allow all"), or on cgroup v2 an eBPF program.
    fn apply_device_rules(&self, cg_path: &str, oci: &oci_spec::runtime::Spec) -> Result<()> {
        let Some(rules) = oci
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.devices().clone())
        else {
            return Ok(());
        };
        let Some((_, mount)) = self
            .cgroups
            .controllers()
            .into_iter()
            .find(|(c, _)| c == "devices")
        else {
            // cgroup v2: an eBPF program on the container's cgroup
            let Some(unified) = self.cgroups.unified_mount() else {
                return Ok(());
            };
            let dir = unified.join(cg_path.trim_start_matches('/'));
            let rules: Vec<outrigger_cgroups::DeviceRule> = rules
                .iter()
                .map(|r| outrigger_cgroups::DeviceRule {
                    allow: r.allow(),
                    kind: match r.typ() {
                        Some(oci_spec::runtime::LinuxDeviceType::C) => {
                            outrigger_cgroups::DeviceKind::Char
                        }
                        Some(oci_spec::runtime::LinuxDeviceType::B) => {
                            outrigger_cgroups::DeviceKind::Block
                        }
                        _ => outrigger_cgroups::DeviceKind::All,
                    },
                    major: r.major(),
                    minor: r.minor(),
                    access: r.access().clone().unwrap_or_else(|| "rwm".to_string()),
                })
                .collect();
            return outrigger_cgroups::apply_device_rules_v2(&dir, &rules)
                .map_err(|e| CriError::invalid(format!("device rules: {e}")));
        };
        let dir = mount.join(cg_path.trim_start_matches('/'));
        for r in rules {
            let typ = match r.typ() {
                Some(oci_spec::runtime::LinuxDeviceType::C) => "c",
                Some(oci_spec::runtime::LinuxDeviceType::B) => "b",
                _ => "a",
            };
            let num = |n: Option<i64>| n.map(|v| v.to_string()).unwrap_or_else(|| "*".to_string());
            let entry = if typ == "a" && r.major().is_none() && r.minor().is_none() {
                "a".to_string()
            } else {
                format!(
                    "{typ} {}:{} {}",
                    num(r.major()),
                    num(r.minor()),
                    r.access().clone().unwrap_or_else(|| "rwm".to_string())
                )
            };
            let file = if r.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            fs::write(dir.join(file), &entry)
                .map_err(|e| CriError::invalid(format!("device rule {entry:?} ({file}): {e}")))?;
        }
        Ok(())
    }

    /// Image volumes (CRI mounts naming an image): each image's rootfs is mounted at
    /// `dir/imgvol/<n>` and `spec_config`'s mount becomes a bind of it (or of its
    /// `image_sub_path`); `config` (what ContainerStatus reports) gets the image's ref.
    fn mount_image_volumes(
        &self,
        dir: &Path,
        config: &mut cri::ContainerConfig,
        spec_config: &mut cri::ContainerConfig,
        idmap: Option<outrigger_images::IdMappedRoot<'_>>,
    ) -> Result<()> {
        for (n, m) in spec_config.mounts.iter_mut().enumerate() {
            let Some(img) = m.image.clone() else {
                continue;
            };
            if !m.host_path.is_empty() {
                continue;
            }
            let at = &m.container_path;
            if !m.readonly {
                return Err(CriError::invalid(format!(
                    "image volume {:?} at {at:?}: image volumes are read-only (set readonly)",
                    img.image
                )));
            }
            let vimg = self.images.get(&img.image).ok_or_else(|| {
                CriError::not_found(format!(
                    "image volume {:?} at {at:?}: image not found: pull it first",
                    img.image
                ))
            })?;
            let vdir = dir.join("imgvol").join(n.to_string());
            let root = self
                .images
                .mount_rootfs_mapped(&vimg.id, &vdir, idmap)
                .map_err(|e| CriError::internal(format!("image volume at {at:?}: {e}")))?;
            let source = image_sub_path(&root, &m.image_sub_path).map_err(|reason| {
                CriError::invalid(format!(
                    "image volume {:?} at {at:?}: image_sub_path {:?} {reason}",
                    img.image, m.image_sub_path
                ))
            })?;
            m.host_path = source.display().to_string();
            m.image = None;
            if let Some(i) = config.mounts.get_mut(n).and_then(|m| m.image.as_mut()) {
                i.image_ref = vimg.id.clone();
            }
        }
        Ok(())
    }

    fn cpu_samples_forget(&self, key: &str) {
        state::lock(&self.cpu_samples).remove(key);
    }
}

/// The directory `sub` names inside an image volume's `root`: relative, without `..`, and
/// still inside `root` once symlinks are resolved; it must exist.
fn image_sub_path(root: &Path, sub: &str) -> std::result::Result<PathBuf, &'static str> {
    if sub.is_empty() {
        return Ok(root.to_path_buf());
    }
    let rel = Path::new(sub);
    if rel.is_absolute()
        || rel.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
    {
        return Err("must be a relative path without \"..\"");
    }
    let root = fs::canonicalize(root).map_err(|_| "cannot be resolved")?;
    let full = fs::canonicalize(root.join(rel)).map_err(|_| "does not exist in the image")?;
    if !full.starts_with(&root) {
        return Err("leaves the image through a symlink");
    }
    Ok(full)
}

/// Unmounts and removes the image volumes of a container dir (`imgvol/<n>`). Idempotent.
fn unmount_image_volumes(dir: &Path) -> std::result::Result<(), outrigger_images::Error> {
    let base = dir.join("imgvol");
    let Ok(entries) = fs::read_dir(&base) else {
        return Ok(());
    };
    for e in entries.flatten() {
        outrigger_images::unmount_rootfs(&e.path())?;
        let _ = fs::remove_dir(e.path());
    }
    let _ = fs::remove_dir(&base);
    Ok(())
}

/// Maps spec errors to CRI codes: unsupported features are `Unimplemented` (critest then skips
/// its image-volume specs), a missing host path is `NotFound`, the rest `InvalidArgument`.
fn spec_error(e: spec::SpecError) -> CriError {
    match &e {
        spec::SpecError::ImageVolumeUnsupported { .. } => {
            CriError::new(crate::error::Category::Unimplemented, e.to_string())
        }
        spec::SpecError::HostPath { source, .. }
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            CriError::not_found(e.to_string())
        }
        _ => CriError::invalid(e.to_string()),
    }
}

pub fn sandbox_state(s: SandboxState) -> cri::PodSandboxState {
    match s {
        SandboxState::Ready => cri::PodSandboxState::SandboxReady,
        SandboxState::NotReady => cri::PodSandboxState::SandboxNotready,
    }
}

pub fn container_state(s: ContainerState) -> cri::ContainerState {
    match s {
        ContainerState::Created => cri::ContainerState::ContainerCreated,
        ContainerState::Running => cri::ContainerState::ContainerRunning,
        ContainerState::Exited => cri::ContainerState::ContainerExited,
        ContainerState::Unknown => cri::ContainerState::ContainerUnknown,
    }
}

/// Polls `f` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub async fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Undo steps run in reverse order unless disarmed: a failed create leaves nothing behind.
struct Cleanup(Vec<Box<dyn FnOnce() + Send>>);

impl Cleanup {
    fn new() -> Self {
        Cleanup(Vec::new())
    }
    fn push(&mut self, f: impl FnOnce() + Send + 'static) {
        self.0.push(Box::new(f));
    }
    fn disarm(&mut self) {
        self.0.clear();
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        while let Some(f) = self.0.pop() {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_sub_paths_stay_inside_the_image() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("rootfs");
        fs::create_dir_all(root.join("etc/ssl")).unwrap();
        std::os::unix::fs::symlink("/", root.join("escape")).unwrap();
        std::os::unix::fs::symlink("etc/ssl", root.join("certs")).unwrap();
        let canon = fs::canonicalize(&root).unwrap();
        assert_eq!(image_sub_path(&root, "").unwrap(), root);
        assert_eq!(image_sub_path(&root, "etc").unwrap(), canon.join("etc"));
        assert_eq!(
            image_sub_path(&root, "certs").unwrap(),
            canon.join("etc/ssl")
        );
        assert!(
            image_sub_path(&root, "missing")
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(
            image_sub_path(&root, "../x")
                .unwrap_err()
                .contains("without")
        );
        assert!(
            image_sub_path(&root, "/etc")
                .unwrap_err()
                .contains("relative")
        );
        assert!(
            image_sub_path(&root, "escape")
                .unwrap_err()
                .contains("symlink")
        );
    }

    #[test]
    fn unmounting_image_volumes_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        unmount_image_volumes(d.path()).unwrap();
        fs::create_dir_all(d.path().join("imgvol/0/upper")).unwrap();
        unmount_image_volumes(d.path()).unwrap();
        assert!(!d.path().join("imgvol").exists());
    }
}
