//! Translation of CRI requests (`PodSandboxConfig`, `ContainerConfig`) into OCI runtime specs.
//!
//! Everything here is a pure function of its inputs, except reading the image's `/etc/passwd`
//! and `/etc/group` (always resolved inside the rootfs, symlinks included) and what goes
//! through the small [`HostAccess`] trait (host path resolution, device nodes, seccomp profile
//! files), so that the rules are unit-tested on temp dirs.
//!
//! The rules follow what containerd and CRI-O do and what critest checks. AppArmor and SELinux
//! fields are ignored: neither LSM exists on the machines we target.
#![deny(unsafe_code)]
#![allow(dead_code)] // wired into the daemon piece by piece

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

use oci_spec::OciSpecError;
use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDevice,
    LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxResourcesBuilder, LinuxSeccomp, Mount, MountBuilder, ProcessBuilder,
    RootBuilder, Spec, SpecBuilder, User, UserBuilder,
};
use outrigger_cri_proto::{
    ContainerConfig, DnsConfig, IdMapping, LinuxContainerSecurityContext, Mount as CriMount,
    MountPropagation, NamespaceMode, NamespaceOption, PodSandboxConfig, SecurityProfile, Signal,
    SupplementalGroupsPolicy, security_profile::ProfileType,
};

/// OCI version written into every spec.
pub const OCI_VERSION: &str = "1.2.0";

/// The oom_score_adj of the pod's namespace holder (as the kubelet expects of the pause process).
pub const SANDBOX_OOM_SCORE_ADJ: i32 = -998;

/// Capabilities a container gets when the security context does not change them.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Every capability Linux 6.x knows (CAP_CHOWN = 0 .. CAP_CHECKPOINT_RESTORE = 40).
pub const ALL_CAPABILITIES: [Capability; 41] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// Paths masked in non-privileged containers when the security context names none.
pub const DEFAULT_MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths made read-only in non-privileged containers when the security context names none.
pub const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The PATH a container gets when neither the image nor the config sets one.
pub fn default_env_path() -> &'static str {
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

/// Errors turning a CRI request into an OCI spec. All of them are the caller's fault
/// (InvalidArgument / NotFound in gRPC terms) except [`SpecError::Build`].
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Neither the config nor the image gives a command.
    #[error(
        "no command specified: the container config has no command/args and the image no entrypoint/cmd"
    )]
    NoCommand,
    /// A field of the request has a value we cannot use.
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        /// The CRI field, e.g. `security_context.run_as_user`.
        field: &'static str,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A user name is not in the image's /etc/passwd.
    #[error("user {user:?} ({field}) not found in the image's /etc/passwd")]
    UserNotFound {
        /// Where the name came from.
        field: &'static str,
        /// The user name.
        user: String,
    },
    /// A group name is not in the image's /etc/group.
    #[error("group {group:?} ({field}) not found in the image's /etc/group")]
    GroupNotFound {
        /// Where the name came from.
        field: &'static str,
        /// The group name.
        group: String,
    },
    /// Reading /etc/passwd or /etc/group from the rootfs failed.
    #[error("failed to read {path} from the container rootfs: {source}")]
    UserDb {
        /// The file (inside the rootfs).
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A namespace the request asks to join is not known.
    #[error("{ns} namespace mode {mode} needs a namespace path, but none is known")]
    MissingNamespace {
        /// Namespace kind (network, pid, ipc, uts).
        ns: &'static str,
        /// The requested mode.
        mode: &'static str,
    },
    /// A feature we do not implement was requested.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An image volume mount was requested (the lead maps this to Unimplemented).
    #[error("image volume mounts are not supported (mount at {container_path:?})")]
    ImageVolumeUnsupported {
        /// Where the image was to be mounted.
        container_path: String,
    },
    /// A host path of a mount could not be resolved.
    #[error(
        "failed to resolve host path {host_path:?} of the mount at {container_path:?}: {source}"
    )]
    HostPath {
        /// The CRI host path.
        host_path: String,
        /// The CRI container path.
        container_path: String,
        /// The I/O error (NotFound when the host path does not exist).
        source: io::Error,
    },
    /// A host device could not be inspected.
    #[error("failed to get device {host_path:?} for {container_path:?}: {source}")]
    Device {
        /// The host path.
        host_path: String,
        /// The path in the container.
        container_path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A localhost seccomp profile could not be read.
    #[error("failed to read seccomp profile {path:?}: {source}")]
    SeccompRead {
        /// The profile path.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A localhost seccomp profile is not valid JSON of the expected shape.
    #[error("invalid seccomp profile {path:?}: {reason}")]
    SeccompParse {
        /// The profile path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A sysctl cannot be set.
    #[error("sysctl {name:?}: {reason}")]
    Sysctl {
        /// The sysctl key.
        name: String,
        /// Why not.
        reason: String,
    },
    /// oci-spec refused to build (should not happen).
    #[error("building the OCI spec: {0}")]
    Build(#[from] OciSpecError),
}

/// What the image config contributes to a container.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageInfo<'a> {
    /// Image `User` ("", "name", "uid", "uid:gid", "name:group").
    pub user: &'a str,
    /// Image `Env` (`KEY=value`).
    pub env: &'a [String],
    /// Image `Entrypoint`.
    pub entrypoint: &'a [String],
    /// Image `Cmd`.
    pub cmd: &'a [String],
    /// Image `WorkingDir`.
    pub working_dir: &'a str,
}

/// What a container needs to know about its pod.
#[derive(Debug, Clone, Default)]
pub struct SandboxInfo {
    /// Sandbox id.
    pub id: String,
    /// The pod's hostname (the node's when the pod uses the host network).
    pub hostname: String,
    /// The pod's network namespace; `None` = host network.
    pub netns: Option<PathBuf>,
    /// The pod's IPC namespace (`/proc/<holder>/ns/ipc`); `None` = host.
    pub ipc_ns: Option<PathBuf>,
    /// The pod's UTS namespace; `None` = host.
    pub uts_ns: Option<PathBuf>,
    /// The pod's PID namespace (used by containers in POD mode); `None` = none known.
    pub pid_ns: Option<PathBuf>,
    /// The pod's user namespace; `None` = host.
    pub user_ns: Option<PathBuf>,
    /// The pod's id mapping (from its config), when it has a user namespace.
    pub userns: Option<PodIdMap>,
    /// Holds `resolv.conf`, `hosts`, `hostname` and `shm` (a tmpfs mounted by the caller).
    pub sandbox_dir: PathBuf,
    /// The pod's config as the kubelet sent it.
    pub config: PodSandboxConfig,
}

/// Which seccomp filter the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeccompChoice {
    /// No filter.
    Unconfined,
    /// The runtime's default profile (built by the caller; `spec.linux.seccomp` is left empty).
    RuntimeDefault,
    /// A profile read from the node (also stored in `spec.linux.seccomp`).
    Localhost(LinuxSeccomp),
}

/// A device node on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    /// Its path on the host.
    pub path: PathBuf,
    /// Character (`C`) or block (`B`).
    pub typ: LinuxDeviceType,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Permission bits (`mode & 0o7777`).
    pub file_mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// The host I/O [`container_spec`] needs, behind a trait so the rules are testable.
pub trait HostAccess {
    /// Resolve a host path (symlinks followed); NotFound when it does not exist.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
    /// The device node at `path`, or every device node below it when it is a directory.
    fn devices(&self, path: &Path) -> io::Result<Vec<HostDevice>>;
    /// Read a whole text file (seccomp profiles).
    fn read_file(&self, path: &Path) -> io::Result<String>;
}

/// [`HostAccess`] on the real host file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealHost;

/// Directory names below /dev that are never passed through as devices (as runc does).
const SKIPPED_DEV_DIRS: [&str; 7] = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

/// Major number of a Linux `dev_t` (glibc's encoding, the same on every architecture).
pub fn dev_major(dev: u64) -> i64 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff_u64)) as i64
}

/// Minor number of a Linux `dev_t`.
pub fn dev_minor(dev: u64) -> i64 {
    ((dev & 0xff) | ((dev >> 12) & !0xff_u64)) as i64
}

fn device_from_metadata(path: &Path, md: &std::fs::Metadata) -> Option<HostDevice> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let ft = md.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return None;
    };
    Some(HostDevice {
        path: path.to_path_buf(),
        typ,
        major: dev_major(md.rdev()),
        minor: dev_minor(md.rdev()),
        file_mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
    })
}

fn walk_devices(dir: &Path, out: &mut Vec<HostDevice>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let md = match std::fs::symlink_metadata(&path) {
            Ok(md) => md,
            // Device nodes come and go (hotplug): skip what vanished.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if md.is_dir() {
            if !SKIPPED_DEV_DIRS.contains(&name.as_ref()) {
                walk_devices(&path, out)?;
            }
            continue;
        }
        if name == "console" || name == "ptmx" {
            continue;
        }
        if let Some(dev) = device_from_metadata(&path, &md) {
            out.push(dev);
        }
    }
    Ok(())
}

impl HostAccess for RealHost {
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }

    fn devices(&self, path: &Path) -> io::Result<Vec<HostDevice>> {
        let md = std::fs::metadata(path)?;
        if md.is_dir() {
            let mut out = Vec::new();
            walk_devices(path, &mut out)?;
            out.sort_by(|a, b| a.path.cmp(&b.path));
            return Ok(out);
        }
        match device_from_metadata(path, &md) {
            Some(dev) => Ok(vec![dev]),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a character or block device",
            )),
        }
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// Everything [`container_spec`] needs.
pub struct ContainerSpecInput<'a> {
    /// Container id.
    pub id: &'a str,
    /// The container config as the kubelet sent it.
    pub config: &'a ContainerConfig,
    /// The pod.
    pub sandbox: &'a SandboxInfo,
    /// What the image says.
    pub image: ImageInfo<'a>,
    /// The prepared rootfs (its /etc/passwd and /etc/group are read).
    pub rootfs: &'a Path,
    /// The pid namespace of the target container (TARGET mode), resolved by the caller.
    pub target_pid_ns: Option<PathBuf>,
    /// Host access (use [`RealHost`]).
    pub host: &'a dyn HostAccess,
}

/// The result of [`container_spec`].
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// The OCI spec for the container init.
    pub spec: Spec,
    /// The seccomp filter to install.
    pub seccomp: SeccompChoice,
    /// The stop signal the config asks for (`None` = SIGTERM, the runtime default).
    pub stop_signal: Option<i32>,
}

// ---------------------------------------------------------------------------------------------
// Commands, environment, DNS, hosts.

/// The container's argv by the Docker/Kubernetes rules: `command` replaces the image
/// entrypoint (and drops the image cmd), `args` replace the image cmd.
pub fn command(
    config_cmd: &[String],
    config_args: &[String],
    image: &ImageInfo,
) -> Result<Vec<String>, SpecError> {
    let mut argv: Vec<String> = if config_cmd.is_empty() {
        image.entrypoint.to_vec()
    } else {
        config_cmd.to_vec()
    };
    if !config_args.is_empty() {
        argv.extend_from_slice(config_args);
    } else if config_cmd.is_empty() {
        argv.extend_from_slice(image.cmd);
    }
    if argv.is_empty() || argv[0].is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(argv)
}

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// Merge environments: later entries replace earlier ones with the same key, in place.
fn merge_env(out: &mut Vec<String>, entries: impl IntoIterator<Item = String>) {
    for entry in entries {
        let key = env_key(&entry).to_string();
        match out.iter_mut().find(|e| env_key(e) == key) {
            Some(slot) => *slot = entry,
            None => out.push(entry),
        }
    }
}

/// The container environment: `HOSTNAME`, then the image's, then the config's (by key), plus
/// a default `PATH` and, with a tty, `TERM=xterm` when missing.
pub fn container_env(config: &ContainerConfig, image: &ImageInfo, hostname: &str) -> Vec<String> {
    let mut env = Vec::new();
    if !hostname.is_empty() {
        env.push(format!("HOSTNAME={hostname}"));
    }
    merge_env(&mut env, image.env.iter().cloned());
    merge_env(
        &mut env,
        config
            .envs
            .iter()
            .filter(|kv| !kv.key.is_empty())
            .map(|kv| format!("{}={}", kv.key, String::from_utf8_lossy(&kv.value))),
    );
    if !env.iter().any(|e| env_key(e) == "PATH") {
        env.push(format!("PATH={}", default_env_path()));
    }
    if config.tty && !env.iter().any(|e| env_key(e) == "TERM") {
        env.push("TERM=xterm".to_string());
    }
    env
}

/// The pod's resolv.conf: the host's file when the DNS config is absent or empty, otherwise
/// `search`, one `nameserver` per server, and `options`.
pub fn resolv_conf(dns: Option<&DnsConfig>, host_resolv: &str) -> String {
    let dns = match dns {
        Some(d) if !(d.servers.is_empty() && d.searches.is_empty() && d.options.is_empty()) => d,
        _ => return host_resolv.to_string(),
    };
    let mut out = String::new();
    if !dns.searches.is_empty() {
        out.push_str("search ");
        out.push_str(&dns.searches.join(" "));
        out.push('\n');
    }
    for server in &dns.servers {
        out.push_str("nameserver ");
        out.push_str(server);
        out.push('\n');
    }
    if !dns.options.is_empty() {
        out.push_str("options ");
        out.push_str(&dns.options.join(" "));
        out.push('\n');
    }
    out
}

/// The pod's /etc/hosts: the usual localhost lines plus one line per pod IP with the hostname.
pub fn hosts_file(hostname: &str, ips: &[IpAddr]) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\n\
         fe00::1\tip6-allnodes\n\
         fe00::2\tip6-allrouters\n",
    );
    if !hostname.is_empty() {
        for ip in ips {
            out.push_str(&format!("{ip}\t{hostname}\n"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Users and groups.

/// Resolve `unsafe_path` inside `root` as if `root` were `/`: symlinks (absolute or relative)
/// and `..` never leave it. Missing components are appended as they are.
pub fn secure_join(root: &Path, unsafe_path: &Path) -> io::Result<PathBuf> {
    let mut pending: Vec<std::ffi::OsString> = unsafe_path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut resolved: Vec<std::ffi::OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => pending.push(s.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => resolved.push(part),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

fn read_rootfs_file(rootfs: &Path, name: &str) -> Result<String, SpecError> {
    let err = |source| SpecError::UserDb {
        path: name.to_string(),
        source,
    };
    let path = secure_join(rootfs, Path::new(name)).map_err(err)?;
    match std::fs::read(&path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(err(e)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].trim().parse().ok()?,
                gid: f[3].trim().parse().ok()?,
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].trim().parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn id_from_i64(field: &'static str, v: i64) -> Result<u32, SpecError> {
    u32::try_from(v).map_err(|_| SpecError::Invalid {
        field,
        value: v.to_string(),
        reason: "must be between 0 and 4294967295".to_string(),
    })
}

/// The process user: uid, gid and additional gids (the primary gid first, then the groups of
/// /etc/group listing the user, then the supplemental groups; no duplicates).
///
/// Precedence: `run_as_user`, then `run_as_username`, then the image USER ("name", "uid",
/// "uid:gid", "name:group"). `run_as_group` (only allowed with one of the first two) replaces
/// the gid. A uid without a passwd entry gets gid 0.
pub fn resolve_user(
    rootfs: &Path,
    sc: Option<&LinuxContainerSecurityContext>,
    image_user: &str,
) -> Result<User, SpecError> {
    let passwd = parse_passwd(&read_rootfs_file(rootfs, "/etc/passwd")?);
    let groups = parse_group(&read_rootfs_file(rootfs, "/etc/group")?);

    let run_as_user = sc.and_then(|s| s.run_as_user.as_ref()).map(|v| v.value);
    let run_as_username = sc.map(|s| s.run_as_username.as_str()).unwrap_or("");
    let run_as_group = sc.and_then(|s| s.run_as_group.as_ref()).map(|v| v.value);

    if run_as_group.is_some() && run_as_user.is_none() && run_as_username.is_empty() {
        return Err(SpecError::Invalid {
            field: "security_context.run_as_group",
            value: run_as_group.unwrap_or_default().to_string(),
            reason: "run_as_group needs run_as_user or run_as_username".to_string(),
        });
    }

    // (uid, gid from the user spec if it named one, user name if known)
    let (uid, mut gid, name): (u32, Option<u32>, Option<String>) = if let Some(u) = run_as_user {
        let uid = id_from_i64("security_context.run_as_user", u)?;
        let entry = passwd.iter().find(|p| p.uid == uid);
        (uid, entry.map(|p| p.gid), entry.map(|p| p.name.clone()))
    } else if !run_as_username.is_empty() {
        let entry = passwd
            .iter()
            .find(|p| p.name == run_as_username)
            .ok_or_else(|| SpecError::UserNotFound {
                field: "security_context.run_as_username",
                user: run_as_username.to_string(),
            })?;
        (entry.uid, Some(entry.gid), Some(entry.name.clone()))
    } else {
        let (user_part, group_part) = match image_user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (image_user, None),
        };
        let (uid, pw_gid, name) = if user_part.is_empty() {
            let entry = passwd.iter().find(|p| p.uid == 0);
            (0, entry.map(|p| p.gid), entry.map(|p| p.name.clone()))
        } else if let Ok(uid) = user_part.parse::<u32>() {
            let entry = passwd.iter().find(|p| p.uid == uid);
            (uid, entry.map(|p| p.gid), entry.map(|p| p.name.clone()))
        } else {
            let entry = passwd.iter().find(|p| p.name == user_part).ok_or_else(|| {
                SpecError::UserNotFound {
                    field: "image config User",
                    user: user_part.to_string(),
                }
            })?;
            (entry.uid, Some(entry.gid), Some(entry.name.clone()))
        };
        let gid = match group_part {
            None | Some("") => pw_gid,
            Some(g) => Some(match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => {
                    groups
                        .iter()
                        .find(|e| e.name == g)
                        .ok_or_else(|| SpecError::GroupNotFound {
                            field: "image config User",
                            group: g.to_string(),
                        })?
                        .gid
                }
            }),
        };
        (uid, gid, name)
    };
    if let Some(g) = run_as_group {
        gid = Some(id_from_i64("security_context.run_as_group", g)?);
    }
    let gid = gid.unwrap_or(0);

    let strict =
        sc.is_some_and(|s| s.supplemental_groups_policy == SupplementalGroupsPolicy::Strict as i32);
    let mut additional = vec![gid];
    if !strict {
        if let Some(name) = &name {
            for g in &groups {
                if g.members.iter().any(|m| m == name) && !additional.contains(&g.gid) {
                    additional.push(g.gid);
                }
            }
        }
    }
    for &g in sc.map(|s| s.supplemental_groups.as_slice()).unwrap_or(&[]) {
        let g = id_from_i64("security_context.supplemental_groups", g)?;
        if !additional.contains(&g) {
            additional.push(g);
        }
    }
    let mut builder = UserBuilder::default()
        .uid(uid)
        .gid(gid)
        .additional_gids(additional);
    if let Some(name) = name {
        builder = builder.username(name);
    }
    Ok(builder.build()?)
}

// ---------------------------------------------------------------------------------------------
// Capabilities and seccomp.

fn parse_capability(field: &'static str, name: &str) -> Result<Capability, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    bare.parse::<Capability>().map_err(|_| SpecError::Invalid {
        field,
        value: name.to_string(),
        reason: "unknown capability".to_string(),
    })
}

fn is_all(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case("ALL")
}

/// The capability set of a container (containerd's rules): start from the defaults (all of
/// them when privileged), "ALL" in add gives every capability, "ALL" in drop clears the set,
/// then the named adds are added and the named drops removed. Returns (bounding = effective
/// = permitted, ambient = inheritable).
pub fn capability_sets(
    sc: Option<&LinuxContainerSecurityContext>,
) -> Result<(Capabilities, Capabilities), SpecError> {
    let privileged = sc.is_some_and(|s| s.privileged);
    let mut set: Capabilities = if privileged {
        ALL_CAPABILITIES.iter().copied().collect()
    } else {
        DEFAULT_CAPABILITIES.iter().copied().collect()
    };
    let mut ambient = Capabilities::new();
    let caps = match sc.and_then(|s| s.capabilities.as_ref()) {
        Some(c) if !privileged => c,
        _ => return Ok((set, ambient)),
    };
    if caps.add_capabilities.iter().any(|c| is_all(c)) {
        set = ALL_CAPABILITIES.iter().copied().collect();
    }
    if caps.drop_capabilities.iter().any(|c| is_all(c)) {
        set.clear();
    }
    for c in caps.add_capabilities.iter().filter(|c| !is_all(c)) {
        set.insert(parse_capability("capabilities.add_capabilities", c)?);
    }
    for c in caps.drop_capabilities.iter().filter(|c| !is_all(c)) {
        set.remove(&parse_capability("capabilities.drop_capabilities", c)?);
    }
    for c in &caps.add_ambient_capabilities {
        let cap = parse_capability("capabilities.add_ambient_capabilities", c)?;
        set.insert(cap);
        ambient.insert(cap);
    }
    Ok((set, ambient))
}

/// Turn a docker- or OCI-format profile into an OCI `LinuxSeccomp`. Rules with
/// `includes`/`excludes` conditions are dropped (the conservative choice: they only grant).
fn parse_seccomp_profile(path: &str, text: &str) -> Result<LinuxSeccomp, SpecError> {
    let bad = |reason: String| SpecError::SeccompParse {
        path: path.to_string(),
        reason,
    };
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| bad("the profile is not a JSON object".to_string()))?;
    if !obj.contains_key("defaultAction") {
        return Err(bad("missing defaultAction".to_string()));
    }
    obj.remove("archMap");
    if let Some(serde_json::Value::Array(rules)) = obj.get_mut("syscalls") {
        let mut kept = Vec::new();
        for mut rule in std::mem::take(rules) {
            let Some(r) = rule.as_object_mut() else {
                return Err(bad("a syscalls entry is not an object".to_string()));
            };
            let conditional = ["includes", "excludes"].iter().any(|k| {
                r.get(*k)
                    .and_then(|v| v.as_object())
                    .is_some_and(|o| !o.is_empty())
            });
            if conditional {
                continue;
            }
            r.remove("includes");
            r.remove("excludes");
            r.remove("comment");
            if let Some(name) = r.remove("name") {
                if !r.contains_key("names") {
                    r.insert("names".to_string(), serde_json::Value::Array(vec![name]));
                }
            }
            kept.push(rule);
        }
        *rules = kept;
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// Which seccomp filter a container gets. Privileged containers are always unconfined
/// (containerd); no profile means unconfined (the CRI default); Localhost reads the absolute
/// path in `localhost_ref` (a missing or invalid file is an error).
pub fn seccomp_choice(
    profile: Option<&SecurityProfile>,
    privileged: bool,
    read_file: &dyn Fn(&Path) -> io::Result<String>,
) -> Result<SeccompChoice, SpecError> {
    let Some(profile) = profile else {
        return Ok(SeccompChoice::Unconfined);
    };
    if privileged {
        return Ok(SeccompChoice::Unconfined);
    }
    match ProfileType::try_from(profile.profile_type) {
        Ok(ProfileType::RuntimeDefault) => Ok(SeccompChoice::RuntimeDefault),
        Ok(ProfileType::Unconfined) => Ok(SeccompChoice::Unconfined),
        Ok(ProfileType::Localhost) => {
            let path = profile.localhost_ref.as_str();
            if !path.starts_with('/') {
                return Err(SpecError::Invalid {
                    field: "seccomp.localhost_ref",
                    value: path.to_string(),
                    reason: "must be an absolute path to a seccomp profile".to_string(),
                });
            }
            let text = read_file(Path::new(path)).map_err(|source| SpecError::SeccompRead {
                path: path.to_string(),
                source,
            })?;
            Ok(SeccompChoice::Localhost(parse_seccomp_profile(
                path, &text,
            )?))
        }
        Err(_) => Err(SpecError::Invalid {
            field: "seccomp.profile_type",
            value: profile.profile_type.to_string(),
            reason: "unknown profile type".to_string(),
        }),
    }
}

/// The deprecated `seccomp_profile_path` string as a profile ("" = none).
fn legacy_seccomp_profile(path: &str) -> Result<Option<SecurityProfile>, SpecError> {
    let (typ, localhost_ref) = match path {
        "" => return Ok(None),
        "runtime/default" | "docker/default" => (ProfileType::RuntimeDefault, String::new()),
        "unconfined" => (ProfileType::Unconfined, String::new()),
        p => match p.strip_prefix("localhost/") {
            Some(rest) => (ProfileType::Localhost, rest.to_string()),
            None => {
                return Err(SpecError::Invalid {
                    field: "security_context.seccomp_profile_path",
                    value: p.to_string(),
                    reason: "expected runtime/default, unconfined or localhost/<path>".to_string(),
                });
            }
        },
    };
    Ok(Some(SecurityProfile {
        profile_type: typ as i32,
        localhost_ref,
    }))
}

// ---------------------------------------------------------------------------------------------
// Namespaces and sysctls.

fn mode_name(mode: NamespaceMode) -> &'static str {
    match mode {
        NamespaceMode::Pod => "POD",
        NamespaceMode::Container => "CONTAINER",
        NamespaceMode::Node => "NODE",
        NamespaceMode::Target => "TARGET",
    }
}

fn ns(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace, SpecError> {
    let mut b = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(p) = path {
        b = b.path(p.to_path_buf());
    }
    Ok(b.build()?)
}

fn join(
    typ: LinuxNamespaceType,
    name: &'static str,
    mode: NamespaceMode,
    path: Option<&PathBuf>,
) -> Result<LinuxNamespace, SpecError> {
    match path {
        Some(p) => ns(typ, Some(p)),
        None => Err(SpecError::MissingNamespace {
            ns: name,
            mode: mode_name(mode),
        }),
    }
}

fn mode_of(v: i32, field: &'static str) -> Result<NamespaceMode, SpecError> {
    NamespaceMode::try_from(v).map_err(|_| SpecError::Invalid {
        field,
        value: v.to_string(),
        reason: "unknown namespace mode".to_string(),
    })
}

/// A pod's user namespace mapping: container ids `0..length` are host ids
/// `host_id..host_id+length` (one range each for uids and gids, as the kubelet sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodIdMap {
    /// Host uid of the container's uid 0.
    pub uid_host: u32,
    /// Number of uids mapped.
    pub uid_len: u32,
    /// Host gid of the container's gid 0.
    pub gid_host: u32,
    /// Number of gids mapped.
    pub gid_len: u32,
}

impl std::fmt::Display for PodIdMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "uids 0-{} on host {}, gids 0-{} on host {}",
            self.uid_len.saturating_sub(1),
            self.uid_host,
            self.gid_len.saturating_sub(1),
            self.gid_host
        )
    }
}

/// A pod's user namespace in words, for error messages.
fn userns_text(m: Option<&PodIdMap>) -> String {
    m.map_or_else(|| "the host's".to_string(), |m| format!("its own ({m})"))
}

impl PodIdMap {
    fn oci(&self) -> Result<(Vec<LinuxIdMapping>, Vec<LinuxIdMapping>), SpecError> {
        let m = |host: u32, len: u32| -> Result<Vec<LinuxIdMapping>, SpecError> {
            Ok(vec![
                LinuxIdMappingBuilder::default()
                    .container_id(0u32)
                    .host_id(host)
                    .size(len)
                    .build()?,
            ])
        };
        Ok((
            m(self.uid_host, self.uid_len)?,
            m(self.gid_host, self.gid_len)?,
        ))
    }
}

fn one_range(maps: &[IdMapping], field: &'static str) -> Result<(u32, u32), SpecError> {
    let bad = |value: String, reason: &str| SpecError::Invalid {
        field,
        value,
        reason: reason.to_string(),
    };
    let [m] = maps else {
        return Err(bad(
            format!("{} mappings", maps.len()),
            "exactly one mapping is supported",
        ));
    };
    let text = format!("{} {} {}", m.container_id, m.host_id, m.length);
    if m.container_id != 0 {
        return Err(bad(text, "the mapping must start at container id 0"));
    }
    if m.length == 0 || u64::from(m.host_id) + u64::from(m.length) > u64::from(u32::MAX) {
        return Err(bad(
            text,
            "the length must be positive and the host range within 32 bits",
        ));
    }
    if m.host_id == 0 {
        return Err(bad(
            text,
            "mapping the container's root to the host's root gives no isolation",
        ));
    }
    Ok((m.host_id, m.length))
}

/// The user namespace a pod asks for: `None` for the host's (NODE), the mapping for POD;
/// CONTAINER and TARGET are refused, as are mappings with NODE.
pub fn pod_user_mappings(opts: &NamespaceOption) -> Result<Option<PodIdMap>, SpecError> {
    let Some(u) = &opts.userns_options else {
        return Ok(None);
    };
    match mode_of(u.mode, "namespace_options.userns_options.mode")? {
        NamespaceMode::Node if u.uids.is_empty() && u.gids.is_empty() => Ok(None),
        NamespaceMode::Node => Err(SpecError::Invalid {
            field: "namespace_options.userns_options",
            value: format!("{} uid and {} gid mappings", u.uids.len(), u.gids.len()),
            reason: "mode NODE takes no mappings".to_string(),
        }),
        NamespaceMode::Pod => {
            let (uid_host, uid_len) = one_range(&u.uids, "namespace_options.userns_options.uids")?;
            let (gid_host, gid_len) = one_range(&u.gids, "namespace_options.userns_options.gids")?;
            Ok(Some(PodIdMap {
                uid_host,
                uid_len,
                gid_host,
                gid_len,
            }))
        }
        other => Err(SpecError::Unsupported(format!(
            "user namespace mode {} (only NODE and POD are supported)",
            mode_name(other)
        ))),
    }
}

/// The namespace kind a sysctl belongs to, or `None` when it is not namespaced.
pub fn sysctl_namespace(name: &str) -> Option<LinuxNamespaceType> {
    const IPC: [&str; 7] = [
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
        "kernel.msgmax",
        "kernel.msgmnb",
    ];
    if IPC.contains(&name) || name == "kernel.msgmni" || name.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if name.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if name == "kernel.hostname" || name == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

/// Check pod sysctls: each must be namespaced, and its namespace must not be the host's.
pub fn validate_sysctls(
    sysctls: &HashMap<String, String>,
    host_network: bool,
    host_ipc: bool,
) -> Result<HashMap<String, String>, SpecError> {
    let mut out = HashMap::new();
    for (name, value) in sysctls {
        let host = match sysctl_namespace(name) {
            None => {
                return Err(SpecError::Sysctl {
                    name: name.clone(),
                    reason: "not a namespaced sysctl; it would change the whole node".to_string(),
                });
            }
            Some(LinuxNamespaceType::Network) | Some(LinuxNamespaceType::Uts) => {
                host_network.then_some("the pod uses the host network (and UTS) namespace")
            }
            Some(_) => host_ipc.then_some("the pod uses the host IPC namespace"),
        };
        if let Some(reason) = host {
            return Err(SpecError::Sysctl {
                name: name.clone(),
                reason: format!("cannot be set: {reason}"),
            });
        }
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}

fn sandbox_ns_options(sandbox: &PodSandboxConfig) -> Option<&NamespaceOption> {
    sandbox
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.as_ref())
}

/// The OCI spec of a pod's namespace holder: new IPC, UTS and PID namespaces unless NODE, the
/// pod network namespace joined (or the host's), hostname, sysctls, no rootfs (`root.path`
/// "/", no mounts), no capabilities, oom_score_adj -998. `process.args` is a placeholder
/// (`["pause"]`) for the caller to replace.
pub fn sandbox_spec(sandbox: &SandboxInfo) -> Result<Spec, SpecError> {
    let default_opts = NamespaceOption::default();
    let opts = sandbox_ns_options(&sandbox.config).unwrap_or(&default_opts);
    let userns = pod_user_mappings(opts)?;
    let net = mode_of(opts.network, "namespace_options.network")?;
    let pid = mode_of(opts.pid, "namespace_options.pid")?;
    let ipc = mode_of(opts.ipc, "namespace_options.ipc")?;
    let host_net = net == NamespaceMode::Node;
    let host_ipc = ipc == NamespaceMode::Node;

    let mut namespaces = Vec::new();
    if !host_net {
        namespaces.push(join(
            LinuxNamespaceType::Network,
            "network",
            net,
            sandbox.netns.as_ref(),
        )?);
        namespaces.push(ns(LinuxNamespaceType::Uts, None)?);
    }
    if !host_ipc {
        namespaces.push(ns(LinuxNamespaceType::Ipc, None)?);
    }
    if pid != NamespaceMode::Node {
        namespaces.push(ns(LinuxNamespaceType::Pid, None)?);
    }
    if userns.is_some() {
        namespaces.push(ns(LinuxNamespaceType::User, None)?);
    }

    let lsc = sandbox
        .config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref());
    let uid = match lsc.and_then(|s| s.run_as_user.as_ref()) {
        Some(v) => id_from_i64("linux.security_context.run_as_user", v.value)?,
        None => 0,
    };
    let gid = match lsc.and_then(|s| s.run_as_group.as_ref()) {
        Some(v) => id_from_i64("linux.security_context.run_as_group", v.value)?,
        None => 0,
    };
    let sysctls = match sandbox.config.linux.as_ref() {
        Some(l) => validate_sysctls(&l.sysctls, host_net, host_ipc)?,
        None => HashMap::new(),
    };

    let empty = Capabilities::new();
    let caps = LinuxCapabilitiesBuilder::default()
        .bounding(empty.clone())
        .effective(empty.clone())
        .permitted(empty.clone())
        .inheritable(empty.clone())
        .ambient(empty)
        .build()?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(UserBuilder::default().uid(uid).gid(gid).build()?)
        .args(vec!["pause".to_string()])
        .env(vec![format!("PATH={}", default_env_path())])
        .cwd("/")
        .capabilities(caps)
        .no_new_privileges(true)
        .oom_score_adj(SANDBOX_OOM_SCORE_ADJ)
        .build()?;
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .sysctl(sysctls);
    if let Some(m) = &userns {
        let (uids, gids) = m.oci()?;
        linux = linux.uid_mappings(uids).gid_mappings(gids);
    }
    let linux = linux.build()?;
    let mut spec = SpecBuilder::default()
        .version(OCI_VERSION)
        .root(RootBuilder::default().path("/").build()?)
        .mounts(Vec::<Mount>::new())
        .process(process)
        .linux(linux);
    let hostname = if sandbox.hostname.is_empty() {
        &sandbox.config.hostname
    } else {
        &sandbox.hostname
    };
    if !host_net && !hostname.is_empty() {
        spec = spec.hostname(hostname.clone());
    }
    let mut spec = spec.build()?;
    clear_builder_defaults(&mut spec, host_net || hostname.is_empty());
    if let Some(linux) = spec.linux_mut().as_mut() {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
        linux.set_resources(None);
    }
    Ok(spec)
}

// ---------------------------------------------------------------------------------------------
// Mounts and devices.

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount, SpecError> {
    Ok(MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()?)
}

fn bind(dest: &str, source: &Path, options: Vec<String>) -> Result<Mount, SpecError> {
    Ok(MountBuilder::default()
        .destination(dest)
        .typ("bind")
        .source(source.to_path_buf())
        .options(options)
        .build()?)
}

/// The mounts every container gets (before the CRI mounts).
fn default_mounts(privileged: bool) -> Result<Vec<Mount>, SpecError> {
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &[
                "nosuid",
                "noexec",
                "nodev",
                if privileged { "rw" } else { "ro" },
            ],
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &[
                "nosuid",
                "noexec",
                "nodev",
                "relatime",
                if privileged { "rw" } else { "ro" },
            ],
        )?,
    ])
}

fn propagation_option(p: i32) -> Result<&'static str, SpecError> {
    match MountPropagation::try_from(p) {
        Ok(MountPropagation::PropagationPrivate) => Ok("rprivate"),
        Ok(MountPropagation::PropagationHostToContainer) => Ok("rslave"),
        Ok(MountPropagation::PropagationBidirectional) => Ok("rshared"),
        Err(_) => Err(SpecError::Invalid {
            field: "mounts.propagation",
            value: p.to_string(),
            reason: "unknown mount propagation".to_string(),
        }),
    }
}

fn cri_mount(
    m: &CriMount,
    host: &dyn HostAccess,
    userns: Option<&PodIdMap>,
) -> Result<Mount, SpecError> {
    if m.image.is_some() && m.host_path.is_empty() {
        return Err(SpecError::ImageVolumeUnsupported {
            container_path: m.container_path.clone(),
        });
    }
    if !m.container_path.starts_with('/') {
        return Err(SpecError::Invalid {
            field: "mounts.container_path",
            value: m.container_path.clone(),
            reason: "must be an absolute path".to_string(),
        });
    }
    if m.recursive_read_only {
        if !m.readonly {
            return Err(SpecError::Invalid {
                field: "mounts.recursive_read_only",
                value: m.container_path.clone(),
                reason: "a recursive read-only mount must also be readonly".to_string(),
            });
        }
        if MountPropagation::try_from(m.propagation) != Ok(MountPropagation::PropagationPrivate) {
            return Err(SpecError::Invalid {
                field: "mounts.recursive_read_only",
                value: m.container_path.clone(),
                reason: "a recursive read-only mount needs private propagation (mounts \
                         propagated later could not be made read-only)"
                    .to_string(),
            });
        }
    }
    let idmap = !m.uid_mappings.is_empty() || !m.gid_mappings.is_empty();
    if idmap {
        let pod = userns.ok_or_else(|| SpecError::Invalid {
            field: "mounts.uid_mappings",
            value: m.container_path.clone(),
            reason: "an idmapped mount needs a pod user namespace".to_string(),
        })?;
        let uids = one_range(&m.uid_mappings, "mounts.uid_mappings")?;
        let gids = one_range(&m.gid_mappings, "mounts.gid_mappings")?;
        if uids != (pod.uid_host, pod.uid_len) || gids != (pod.gid_host, pod.gid_len) {
            return Err(SpecError::Invalid {
                field: "mounts.uid_mappings",
                value: m.container_path.clone(),
                reason: "idmapped mounts must use the pod's user namespace mapping".to_string(),
            });
        }
    }
    if m.host_path.is_empty() {
        return Err(SpecError::Invalid {
            field: "mounts.host_path",
            value: String::new(),
            reason: format!("empty host path for the mount at {:?}", m.container_path),
        });
    }
    let source = host
        .canonicalize(Path::new(&m.host_path))
        .map_err(|source| SpecError::HostPath {
            host_path: m.host_path.clone(),
            container_path: m.container_path.clone(),
            source,
        })?;
    let mut options = vec![
        "rbind".to_string(),
        propagation_option(m.propagation)?.to_string(),
        if m.recursive_read_only {
            "rro"
        } else if m.readonly {
            "ro"
        } else {
            "rw"
        }
        .to_string(),
    ];
    if idmap {
        options.push("ridmap".to_string());
    }
    options.extend(m.mount_options.iter().cloned());
    bind(
        &clean_container_path(&m.container_path).to_string_lossy(),
        &source,
        options,
    )
}

fn clean_container_path(p: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn parse_permissions(container_path: &str, perms: &str) -> Result<String, SpecError> {
    if perms.is_empty() {
        return Ok("rwm".to_string());
    }
    if perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        Ok(perms.to_string())
    } else {
        Err(SpecError::Invalid {
            field: "devices.permissions",
            value: perms.to_string(),
            reason: format!("only r, w and m are allowed (device {container_path:?})"),
        })
    }
}

fn oci_device(dev: &HostDevice, container_path: PathBuf) -> Result<LinuxDevice, SpecError> {
    Ok(LinuxDeviceBuilder::default()
        .path(container_path)
        .typ(dev.typ)
        .major(dev.major)
        .minor(dev.minor)
        .file_mode(dev.file_mode & 0o777)
        .uid(dev.uid)
        .gid(dev.gid)
        .build()?)
}

fn cgroup_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Result<LinuxDeviceCgroup, SpecError> {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access.to_string());
    if let Some(t) = typ {
        b = b.typ(t);
    }
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    Ok(b.build()?)
}

/// The device cgroup rules every non-privileged container gets: deny all, then the standard
/// nodes (null, zero, full, tty, random, urandom, ptmx, pts/*) and mknod of any node.
fn default_device_rules() -> Result<Vec<LinuxDeviceCgroup>, SpecError> {
    use LinuxDeviceType::{B, C};
    Ok(vec![
        cgroup_rule(false, None, None, None, "rwm")?,
        cgroup_rule(true, Some(C), None, None, "m")?,
        cgroup_rule(true, Some(B), None, None, "m")?,
        cgroup_rule(true, Some(C), Some(1), Some(3), "rwm")?,
        cgroup_rule(true, Some(C), Some(1), Some(5), "rwm")?,
        cgroup_rule(true, Some(C), Some(1), Some(7), "rwm")?,
        cgroup_rule(true, Some(C), Some(1), Some(8), "rwm")?,
        cgroup_rule(true, Some(C), Some(1), Some(9), "rwm")?,
        cgroup_rule(true, Some(C), Some(5), Some(0), "rwm")?,
        cgroup_rule(true, Some(C), Some(5), Some(2), "rwm")?,
        cgroup_rule(true, Some(C), Some(136), None, "rwm")?,
    ])
}

// ---------------------------------------------------------------------------------------------
// The container spec.

/// oci-spec's builders fill every field left unset with its `Default`, which is a sample
/// container (hostname "youki", RLIMIT_NOFILE 1024, TERM, ...). Clear what we never set.
fn clear_builder_defaults(spec: &mut Spec, clear_hostname: bool) {
    if clear_hostname {
        spec.set_hostname(None);
    }
    spec.set_domainname(None);
    spec.set_hooks(None);
    if let Some(p) = spec.process_mut().as_mut() {
        p.set_rlimits(None);
        p.set_apparmor_profile(None);
        p.set_selinux_label(None);
        p.set_console_size(None);
    }
    if let Some(linux) = spec.linux_mut().as_mut() {
        let userns = linux
            .namespaces()
            .as_ref()
            .is_some_and(|n| n.iter().any(|n| n.typ() == LinuxNamespaceType::User));
        if !userns {
            // the builder's defaults map the host's root: only a user namespace takes maps
            linux.set_uid_mappings(None);
            linux.set_gid_mappings(None);
        }
        linux.set_mount_label(None);
    }
}

fn signal_number(v: i32) -> Result<Option<i32>, SpecError> {
    let sig = Signal::try_from(v).map_err(|_| SpecError::Invalid {
        field: "stop_signal",
        value: v.to_string(),
        reason: "unknown signal".to_string(),
    })?;
    let n = match sig {
        Signal::RuntimeDefault => return Ok(None),
        Signal::Sigabrt | Signal::Sigiot => 6,
        Signal::Sigalrm => 14,
        Signal::Sigbus => 7,
        Signal::Sigchld | Signal::Sigcld => 17,
        Signal::Sigcont => 18,
        Signal::Sigfpe => 8,
        Signal::Sighup => 1,
        Signal::Sigill => 4,
        Signal::Sigint => 2,
        Signal::Sigio | Signal::Sigpoll => 29,
        Signal::Sigkill => 9,
        Signal::Sigpipe => 13,
        Signal::Sigprof => 27,
        Signal::Sigpwr => 30,
        Signal::Sigquit => 3,
        Signal::Sigsegv => 11,
        Signal::Sigstkflt => 16,
        Signal::Sigstop => 19,
        Signal::Sigsys => 31,
        Signal::Sigterm => 15,
        Signal::Sigtrap => 5,
        Signal::Sigtstp => 20,
        Signal::Sigttin => 21,
        Signal::Sigttou => 22,
        Signal::Sigurg => 23,
        Signal::Sigusr1 => 10,
        Signal::Sigusr2 => 12,
        Signal::Sigvtalrm => 26,
        Signal::Sigwinch => 28,
        Signal::Sigxcpu => 24,
        Signal::Sigxfsz => 25,
        // SIGRTMIN (glibc: 34) .. SIGRTMIN+15, SIGRTMAX-14 .. SIGRTMAX (64): enum value - 1.
        _ => v - 1,
    };
    Ok(Some(n))
}

/// Build the OCI spec of a container (see the module docs for the rules).
pub fn container_spec(input: &ContainerSpecInput) -> Result<ContainerSpec, SpecError> {
    let config = input.config;
    let sandbox = input.sandbox;
    let sc = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref());
    let privileged = sc.is_some_and(|s| s.privileged);
    if privileged {
        let pod_privileged = sandbox
            .config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .is_some_and(|s| s.privileged);
        if !pod_privileged {
            return Err(SpecError::Invalid {
                field: "security_context.privileged",
                value: "true".to_string(),
                reason: "a privileged container needs a privileged pod sandbox".to_string(),
            });
        }
    }

    // Namespaces: the container's options, else the pod's.
    let default_opts = NamespaceOption::default();
    let opts = sc
        .and_then(|s| s.namespace_options.as_ref())
        .or_else(|| sandbox_ns_options(&sandbox.config))
        .unwrap_or(&default_opts);
    // a container that names no user namespace is in its pod's
    let userns = match opts.userns_options {
        None => sandbox.userns,
        Some(_) => pod_user_mappings(opts)?,
    };
    if userns != sandbox.userns {
        return Err(SpecError::Invalid {
            field: "namespace_options.userns_options",
            value: userns_text(userns.as_ref()),
            reason: format!(
                "a container must use its pod's user namespace, which is {}",
                userns_text(sandbox.userns.as_ref())
            ),
        });
    }
    let net = mode_of(opts.network, "namespace_options.network")?;
    let pid = mode_of(opts.pid, "namespace_options.pid")?;
    let ipc = mode_of(opts.ipc, "namespace_options.ipc")?;
    let mut namespaces = vec![ns(LinuxNamespaceType::Mount, None)?];
    match net {
        NamespaceMode::Node => {}
        NamespaceMode::Pod => namespaces.push(join(
            LinuxNamespaceType::Network,
            "network",
            net,
            sandbox.netns.as_ref(),
        )?),
        NamespaceMode::Container => namespaces.push(ns(LinuxNamespaceType::Network, None)?),
        NamespaceMode::Target => {
            return Err(SpecError::Unsupported(
                "network namespace mode TARGET".to_string(),
            ));
        }
    }
    if net != NamespaceMode::Node {
        namespaces.push(join(
            LinuxNamespaceType::Uts,
            "uts",
            NamespaceMode::Pod,
            sandbox.uts_ns.as_ref(),
        )?);
    }
    match ipc {
        NamespaceMode::Node => {}
        NamespaceMode::Pod => namespaces.push(join(
            LinuxNamespaceType::Ipc,
            "ipc",
            ipc,
            sandbox.ipc_ns.as_ref(),
        )?),
        NamespaceMode::Container => namespaces.push(ns(LinuxNamespaceType::Ipc, None)?),
        NamespaceMode::Target => {
            return Err(SpecError::Unsupported(
                "ipc namespace mode TARGET".to_string(),
            ));
        }
    }
    match pid {
        NamespaceMode::Node => {}
        NamespaceMode::Pod => namespaces.push(join(
            LinuxNamespaceType::Pid,
            "pid",
            pid,
            sandbox.pid_ns.as_ref(),
        )?),
        NamespaceMode::Container => namespaces.push(ns(LinuxNamespaceType::Pid, None)?),
        NamespaceMode::Target => namespaces.push(join(
            LinuxNamespaceType::Pid,
            "pid",
            pid,
            input.target_pid_ns.as_ref(),
        )?),
    }
    if userns.is_some() {
        namespaces.push(join(
            LinuxNamespaceType::User,
            "user",
            NamespaceMode::Pod,
            sandbox.user_ns.as_ref(),
        )?);
    }
    if !privileged {
        // its own cgroup is the root of what the container sees
        namespaces.push(ns(LinuxNamespaceType::Cgroup, None)?);
    }

    // Process.
    let args = command(&config.command, &config.args, &input.image)?;
    let hostname = &sandbox.hostname;
    let env = container_env(config, &input.image, hostname);
    let cwd = if !config.working_dir.is_empty() {
        config.working_dir.as_str()
    } else if !input.image.working_dir.is_empty() {
        input.image.working_dir
    } else {
        "/"
    };
    let cwd = clean_container_path(cwd);
    let user = resolve_user(input.rootfs, sc, input.image.user)?;
    let (caps, ambient) = capability_sets(sc)?;
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(ambient.clone())
        .ambient(ambient)
        .build()?;
    let mut process = ProcessBuilder::default()
        .terminal(config.tty)
        .user(user)
        .args(args)
        .env(env)
        .cwd(cwd)
        .capabilities(capabilities)
        .no_new_privileges(sc.is_some_and(|s| s.no_new_privs));
    if let Some(res) = config.linux.as_ref().and_then(|l| l.resources.as_ref()) {
        let adj = res.oom_score_adj;
        if !(-1000..=1000).contains(&adj) {
            return Err(SpecError::Invalid {
                field: "resources.oom_score_adj",
                value: adj.to_string(),
                reason: "must be between -1000 and 1000".to_string(),
            });
        }
        process = process.oom_score_adj(adj as i32);
    }

    // Seccomp.
    let legacy;
    let profile = match sc.and_then(|s| s.seccomp.as_ref()) {
        Some(p) => Some(p),
        None => {
            #[allow(deprecated)] // the kubelet still fills it for old pods
            let path = sc.map_or("", |s| s.seccomp_profile_path.as_str());
            legacy = legacy_seccomp_profile(path)?;
            legacy.as_ref()
        }
    };
    let seccomp = seccomp_choice(profile, privileged, &|p| input.host.read_file(p))?;

    // Mounts: defaults, then the sandbox files, then the CRI mounts (parents before children).
    let readonly_root = sc.is_some_and(|s| s.readonly_rootfs);
    let mut cri_mounts = Vec::new();
    for m in &config.mounts {
        cri_mounts.push(cri_mount(m, input.host, userns.as_ref())?);
    }
    let mut rootfs_propagation: Option<&str> = None;
    for m in &cri_mounts {
        let opts = m.options().as_deref().unwrap_or(&[]);
        if opts.iter().any(|o| o == "rshared") {
            rootfs_propagation = Some("rshared");
        } else if opts.iter().any(|o| o == "rslave") && rootfs_propagation.is_none() {
            rootfs_propagation = Some("rslave");
        }
    }
    let taken: HashSet<PathBuf> = cri_mounts
        .iter()
        .map(|m| clean_container_path(&m.destination().to_string_lossy()))
        .collect();
    let mut mounts: Vec<Mount> = default_mounts(privileged)?
        .into_iter()
        .filter(|m| !taken.contains(m.destination()))
        .collect();
    let file_opts = |ro: bool| -> Vec<String> {
        vec![
            "rbind".to_string(),
            "rprivate".to_string(),
            if ro { "ro" } else { "rw" }.to_string(),
        ]
    };
    let dir = &sandbox.sandbox_dir;
    let shm_source = if ipc == NamespaceMode::Node {
        PathBuf::from("/dev/shm")
    } else {
        dir.join("shm")
    };
    let mut shm_opts = file_opts(false);
    shm_opts.extend(["nosuid", "nodev", "noexec"].map(String::from));
    let sandbox_files = [
        (
            "/etc/hostname",
            dir.join("hostname"),
            file_opts(readonly_root),
        ),
        ("/etc/hosts", dir.join("hosts"), file_opts(readonly_root)),
        (
            "/etc/resolv.conf",
            dir.join("resolv.conf"),
            file_opts(readonly_root),
        ),
        ("/dev/shm", shm_source, shm_opts),
    ];
    for (dest, source, opts) in sandbox_files {
        if !taken.contains(Path::new(dest)) {
            mounts.push(bind(dest, &source, opts)?);
        }
    }
    cri_mounts.sort_by_key(|m| m.destination().components().count());
    mounts.extend(cri_mounts);

    // Devices.
    let mut devices = Vec::new();
    let mut device_rules = if privileged {
        vec![cgroup_rule(true, None, None, None, "rwm")?]
    } else {
        default_device_rules()?
    };
    if privileged {
        let host_devs =
            input
                .host
                .devices(Path::new("/dev"))
                .map_err(|source| SpecError::Device {
                    host_path: "/dev".to_string(),
                    container_path: "/dev".to_string(),
                    source,
                })?;
        for d in &host_devs {
            devices.push(oci_device(d, d.path.clone())?);
        }
    }
    for d in &config.devices {
        let err = |source| SpecError::Device {
            host_path: d.host_path.clone(),
            container_path: d.container_path.clone(),
            source,
        };
        if !d.container_path.starts_with('/') {
            return Err(SpecError::Invalid {
                field: "devices.container_path",
                value: d.container_path.clone(),
                reason: "must be an absolute path".to_string(),
            });
        }
        let access = parse_permissions(&d.container_path, &d.permissions)?;
        let host_path = Path::new(&d.host_path);
        let found = input.host.devices(host_path).map_err(err)?;
        for dev in &found {
            // A directory maps each node below it to the same place below container_path.
            let rel = dev.path.strip_prefix(host_path).unwrap_or(Path::new(""));
            let dest = if rel.as_os_str().is_empty() {
                clean_container_path(&d.container_path)
            } else {
                clean_container_path(&d.container_path).join(rel)
            };
            devices.retain(|existing: &LinuxDevice| existing.path() != &dest);
            devices.push(oci_device(dev, dest)?);
            if !privileged {
                device_rules.push(cgroup_rule(
                    true,
                    Some(dev.typ),
                    Some(dev.major),
                    Some(dev.minor),
                    &access,
                )?);
            }
        }
    }

    // Linux section.
    let (masked, readonly): (Vec<String>, Vec<String>) = if privileged {
        (Vec::new(), Vec::new())
    } else {
        let given = |v: Option<&Vec<String>>, default: &[&str]| match v {
            Some(v) if !v.is_empty() => v.clone(),
            _ => default.iter().map(|s| s.to_string()).collect(),
        };
        (
            given(sc.map(|s| &s.masked_paths), &DEFAULT_MASKED_PATHS),
            given(sc.map(|s| &s.readonly_paths), &DEFAULT_READONLY_PATHS),
        )
    };
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(masked)
        .readonly_paths(readonly)
        .devices(devices)
        .resources(
            LinuxResourcesBuilder::default()
                .devices(device_rules)
                .build()?,
        );
    if let Some(p) = rootfs_propagation {
        linux = linux.rootfs_propagation(p);
    }
    if let Some(m) = &userns {
        let (uids, gids) = m.oci()?;
        linux = linux.uid_mappings(uids).gid_mappings(gids);
    }
    if let SeccompChoice::Localhost(profile) = &seccomp {
        linux = linux.seccomp(profile.clone());
    }

    let mut annotations: BTreeMap<String, String> = BTreeMap::new();
    annotations.insert(
        "io.kubernetes.cri.container-type".into(),
        "container".into(),
    );
    annotations.insert("io.kubernetes.cri.sandbox-id".into(), sandbox.id.clone());
    annotations.insert(
        "io.kubernetes.cri.container-id".into(),
        input.id.to_string(),
    );

    let mut spec = SpecBuilder::default()
        .version(OCI_VERSION)
        .root(
            RootBuilder::default()
                .path(input.rootfs.to_path_buf())
                .readonly(readonly_root)
                .build()?,
        )
        .mounts(mounts)
        .process(process.build()?)
        .annotations(annotations.into_iter().collect::<HashMap<_, _>>())
        .linux(linux.build()?)
        .build()?;
    clear_builder_defaults(&mut spec, true);
    Ok(ContainerSpec {
        spec,
        seccomp,
        stop_signal: signal_number(config.stop_signal)?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use outrigger_cri_proto::{
        Capability as CriCaps, ContainerMetadata, Device, Int64Value, KeyValue,
        LinuxContainerConfig, LinuxContainerResources, LinuxPodSandboxConfig,
        LinuxSandboxSecurityContext, UserNamespace,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A temp directory removed on drop (no tempfile dependency needed).
    struct TempDir(PathBuf);
    impl TempDir {
        fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "outrigger-spec-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn write(&self, rel: &str, text: &str) {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        nobody:x:65534:65534:nobody:/:/bin/false\n\
        alice:x:1000:1000::/home/alice:/bin/sh\n\
        bob:x:1001:1001::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
        wheel:x:10:alice,bob\n\
        alice:x:1000:\n\
        bob:x:1001:\n\
        staff:x:50:alice\n\
        image-group:x:50000:bob\n";

    fn rootfs() -> TempDir {
        let t = TempDir::new();
        t.write("etc/passwd", PASSWD);
        t.write("etc/group", GROUP);
        t
    }

    #[derive(Default)]
    struct FakeHost {
        links: HashMap<PathBuf, PathBuf>,
        devices: HashMap<PathBuf, Vec<HostDevice>>,
        files: HashMap<PathBuf, String>,
    }
    impl HostAccess for FakeHost {
        fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
            self.links
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file or directory"))
        }
        fn devices(&self, path: &Path) -> io::Result<Vec<HostDevice>> {
            self.devices
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such device"))
        }
        fn read_file(&self, path: &Path) -> io::Result<String> {
            self.files
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file or directory"))
        }
    }

    fn dev(path: &str, major: i64, minor: i64) -> HostDevice {
        HostDevice {
            path: path.into(),
            typ: LinuxDeviceType::C,
            major,
            minor,
            file_mode: 0o666,
            uid: 0,
            gid: 0,
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn sandbox(privileged: bool, ns: Option<NamespaceOption>) -> SandboxInfo {
        let userns = ns
            .as_ref()
            .and_then(|n| pod_user_mappings(n).ok().flatten());
        SandboxInfo {
            id: "sb1".into(),
            hostname: "podhost".into(),
            netns: Some("/run/netns/pod1".into()),
            ipc_ns: Some("/proc/42/ns/ipc".into()),
            uts_ns: Some("/proc/42/ns/uts".into()),
            pid_ns: Some("/proc/42/ns/pid".into()),
            user_ns: userns.map(|_| "/proc/42/ns/user".into()),
            userns,
            sandbox_dir: "/run/outrigger/sb1".into(),
            config: PodSandboxConfig {
                hostname: "podhost".into(),
                linux: Some(LinuxPodSandboxConfig {
                    security_context: Some(LinuxSandboxSecurityContext {
                        privileged,
                        namespace_options: ns,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        }
    }

    fn config(sc: LinuxContainerSecurityContext) -> ContainerConfig {
        ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: "c".into(),
                attempt: 0,
            }),
            command: strings(&["/bin/sh", "-c"]),
            args: strings(&["sleep 1000"]),
            linux: Some(LinuxContainerConfig {
                resources: Some(LinuxContainerResources {
                    oom_score_adj: 1000,
                    ..Default::default()
                }),
                security_context: Some(sc),
            }),
            ..Default::default()
        }
    }

    const NO_STRINGS: &[String] = &[];

    fn build(
        cfg: &ContainerConfig,
        sb: &SandboxInfo,
        host: &FakeHost,
        root: &TempDir,
    ) -> Result<ContainerSpec, SpecError> {
        container_spec(&ContainerSpecInput {
            id: "c1",
            config: cfg,
            sandbox: sb,
            image: ImageInfo {
                user: "",
                env: NO_STRINGS,
                entrypoint: NO_STRINGS,
                cmd: NO_STRINGS,
                working_dir: "",
            },
            rootfs: &root.0,
            target_pid_ns: Some("/proc/77/ns/pid".into()),
            host,
        })
    }

    fn namespaces(spec: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
        spec.linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| (n.typ(), n.path().clone()))
            .collect()
    }

    fn mount_of<'a>(spec: &'a Spec, dest: &str) -> Option<&'a Mount> {
        spec.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new(dest))
    }

    fn effective(spec: &Spec) -> Capabilities {
        spec.process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap()
            .effective()
            .clone()
            .unwrap()
    }

    // --- command ------------------------------------------------------------------------

    #[test]
    fn command_rules() {
        let ep = strings(&["/entry"]);
        let cmd = strings(&["default-arg"]);
        let image = ImageInfo {
            entrypoint: &ep,
            cmd: &cmd,
            ..Default::default()
        };
        assert_eq!(
            command(&[], &[], &image).unwrap(),
            strings(&["/entry", "default-arg"])
        );
        assert_eq!(
            command(&[], &strings(&["x"]), &image).unwrap(),
            strings(&["/entry", "x"])
        );
        assert_eq!(
            command(&strings(&["/bin/true"]), &[], &image).unwrap(),
            strings(&["/bin/true"]),
            "command drops the image cmd"
        );
        assert_eq!(
            command(&strings(&["/bin/echo"]), &strings(&["hi"]), &image).unwrap(),
            strings(&["/bin/echo", "hi"])
        );
        let cmd_only = ImageInfo {
            cmd: &cmd,
            ..Default::default()
        };
        assert_eq!(
            command(&[], &strings(&["/bin/ls"]), &cmd_only).unwrap(),
            strings(&["/bin/ls"])
        );
    }

    #[test]
    fn command_empty_is_an_error() {
        let err = command(&[], &[], &ImageInfo::default()).unwrap_err();
        assert!(matches!(err, SpecError::NoCommand));
        assert!(err.to_string().contains("no command specified"));
    }

    // --- env, dns, hosts ------------------------------------------------------------------

    #[test]
    fn env_merges_by_key_and_adds_defaults() {
        let image_env = strings(&["A=1", "B=2"]);
        let image = ImageInfo {
            env: &image_env,
            ..Default::default()
        };
        let cfg = ContainerConfig {
            envs: vec![KeyValue {
                key: "B".into(),
                value: b"3".to_vec(),
            }],
            tty: true,
            ..Default::default()
        };
        let env = container_env(&cfg, &image, "h1");
        assert_eq!(
            env,
            vec![
                "HOSTNAME=h1".to_string(),
                "A=1".into(),
                "B=3".into(),
                format!("PATH={}", default_env_path()),
                "TERM=xterm".into()
            ]
        );
        let with_path = strings(&["PATH=/x"]);
        let image = ImageInfo {
            env: &with_path,
            ..Default::default()
        };
        let env = container_env(&ContainerConfig::default(), &image, "");
        assert_eq!(env, strings(&["PATH=/x"]));
    }

    #[test]
    fn resolv_conf_from_dns_config() {
        let dns = DnsConfig {
            servers: strings(&["10.10.10.10"]),
            searches: strings(&["google.com"]),
            options: strings(&["ndots:8"]),
        };
        let text = resolv_conf(Some(&dns), "nameserver 1.1.1.1\n");
        assert!(text.lines().any(|l| l == "nameserver 10.10.10.10"));
        assert!(text.lines().any(|l| l == "search google.com"));
        assert!(text.lines().any(|l| l == "options ndots:8"));
        assert!(!text.contains("1.1.1.1"));
    }

    #[test]
    fn resolv_conf_without_dns_config_is_the_hosts() {
        assert_eq!(
            resolv_conf(None, "nameserver 1.1.1.1\n"),
            "nameserver 1.1.1.1\n"
        );
        assert_eq!(
            resolv_conf(Some(&DnsConfig::default()), "nameserver 9.9.9.9\n"),
            "nameserver 9.9.9.9\n"
        );
    }

    #[test]
    fn hosts_file_lists_pod_ips() {
        let ips: Vec<IpAddr> = vec!["10.88.0.5".parse().unwrap(), "fd00::5".parse().unwrap()];
        let text = hosts_file("web-0", &ips);
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(text.contains("10.88.0.5\tweb-0\n"));
        assert!(text.contains("fd00::5\tweb-0\n"));
    }

    // --- users ----------------------------------------------------------------------------

    fn sc_user(
        uid: Option<i64>,
        name: &str,
        gid: Option<i64>,
        supp: &[i64],
    ) -> LinuxContainerSecurityContext {
        LinuxContainerSecurityContext {
            run_as_user: uid.map(|value| Int64Value { value }),
            run_as_username: name.into(),
            run_as_group: gid.map(|value| Int64Value { value }),
            supplemental_groups: supp.to_vec(),
            ..Default::default()
        }
    }

    fn ids(u: &User) -> (u32, u32, Vec<u32>) {
        (
            u.uid(),
            u.gid(),
            u.additional_gids().clone().unwrap_or_default(),
        )
    }

    #[test]
    fn run_as_user_takes_gid_and_groups_from_the_image() {
        let r = rootfs();
        let u = resolve_user(&r.0, Some(&sc_user(Some(1000), "", None, &[])), "").unwrap();
        assert_eq!(ids(&u), (1000, 1000, vec![1000, 10, 50]));
        assert_eq!(u.username().as_deref(), Some("alice"));
    }

    #[test]
    fn run_as_user_unknown_gets_gid_zero() {
        let r = rootfs();
        let u = resolve_user(&r.0, Some(&sc_user(Some(4242), "", None, &[])), "").unwrap();
        assert_eq!(ids(&u), (4242, 0, vec![0]));
    }

    #[test]
    fn run_as_group_and_supplemental_groups() {
        let r = rootfs();
        let u = resolve_user(
            &r.0,
            Some(&sc_user(Some(1001), "", Some(3000), &[4000])),
            "",
        )
        .unwrap();
        // primary, image-defined groups of bob (wheel, image-group), then supplemental
        assert_eq!(ids(&u), (1001, 3000, vec![3000, 10, 50000, 4000]));
    }

    #[test]
    fn strict_supplemental_groups_ignore_etc_group() {
        let r = rootfs();
        let mut sc = sc_user(Some(1001), "", Some(3000), &[4000]);
        sc.supplemental_groups_policy = SupplementalGroupsPolicy::Strict as i32;
        let u = resolve_user(&r.0, Some(&sc), "").unwrap();
        assert_eq!(ids(&u), (1001, 3000, vec![3000, 4000]));
    }

    #[test]
    fn run_as_username() {
        let r = rootfs();
        let u = resolve_user(&r.0, Some(&sc_user(None, "bob", None, &[])), "").unwrap();
        assert_eq!(ids(&u).0, 1001);
        assert_eq!(ids(&u).1, 1001);
        let err = resolve_user(&r.0, Some(&sc_user(None, "mallory", None, &[])), "").unwrap_err();
        assert!(matches!(err, SpecError::UserNotFound { .. }));
        assert!(err.to_string().contains("mallory"));
    }

    #[test]
    fn run_as_group_without_user_is_an_error() {
        let r = rootfs();
        let err = resolve_user(&r.0, Some(&sc_user(None, "", Some(5), &[])), "alice").unwrap_err();
        assert!(err.to_string().contains("run_as_group"), "{err}");
    }

    #[test]
    fn negative_uid_is_an_error() {
        let r = rootfs();
        let err = resolve_user(&r.0, Some(&sc_user(Some(-1), "", None, &[])), "").unwrap_err();
        assert!(err.to_string().contains("run_as_user"), "{err}");
    }

    #[test]
    fn image_user_forms() {
        let r = rootfs();
        let get = |s: &str| resolve_user(&r.0, None, s).map(|u| (u.uid(), u.gid()));
        assert_eq!(get("").unwrap(), (0, 0));
        assert_eq!(get("alice").unwrap(), (1000, 1000));
        assert_eq!(get("1001").unwrap(), (1001, 1001));
        assert_eq!(get("777").unwrap(), (777, 0));
        assert_eq!(get("777:888").unwrap(), (777, 888));
        assert_eq!(get("alice:staff").unwrap(), (1000, 50));
        assert_eq!(get("bob:10").unwrap(), (1001, 10));
        assert!(matches!(get("carol"), Err(SpecError::UserNotFound { .. })));
        assert!(matches!(
            get("alice:nogroup"),
            Err(SpecError::GroupNotFound { .. })
        ));
    }

    #[test]
    fn missing_passwd_allows_numeric_users_only() {
        let r = TempDir::new();
        assert_eq!(
            ids(&resolve_user(&r.0, None, "123:45").unwrap()),
            (123, 45, vec![45])
        );
        assert!(resolve_user(&r.0, None, "alice").is_err());
    }

    #[test]
    fn passwd_symlink_cannot_escape_the_rootfs() {
        let outside = TempDir::new();
        outside.write("passwd", "evil:x:0:0::/:/bin/sh\n");
        let r = TempDir::new();
        r.write("inner/passwd", "good:x:5:6::/:/bin/sh\n");
        std::fs::create_dir_all(r.0.join("etc")).unwrap();
        // An absolute link pointing at the outside file's host path resolves inside the rootfs.
        std::os::unix::fs::symlink(outside.0.join("passwd"), r.0.join("etc/passwd")).unwrap();
        assert!(resolve_user(&r.0, None, "evil").is_err());
        std::fs::remove_file(r.0.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("../../../../inner/passwd", r.0.join("etc/passwd")).unwrap();
        assert_eq!(resolve_user(&r.0, None, "good").unwrap().uid(), 5);
    }

    #[test]
    fn secure_join_clamps_dotdot_and_absolute_links() {
        let r = TempDir::new();
        std::fs::create_dir_all(r.0.join("a")).unwrap();
        std::os::unix::fs::symlink("/b", r.0.join("a/link")).unwrap();
        assert_eq!(
            secure_join(&r.0, Path::new("/../../etc/x")).unwrap(),
            r.0.join("etc/x")
        );
        assert_eq!(
            secure_join(&r.0, Path::new("/a/link/c")).unwrap(),
            r.0.join("b/c")
        );
    }

    // --- capabilities ---------------------------------------------------------------------

    fn caps(add: &[&str], drop: &[&str], ambient: &[&str]) -> LinuxContainerSecurityContext {
        LinuxContainerSecurityContext {
            capabilities: Some(CriCaps {
                add_capabilities: strings(add),
                drop_capabilities: strings(drop),
                add_ambient_capabilities: strings(ambient),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn default_capabilities() {
        let (set, amb) = capability_sets(None).unwrap();
        assert_eq!(set.len(), 14);
        assert!(set.contains(&Capability::AuditWrite));
        assert!(!set.contains(&Capability::SysAdmin));
        assert!(amb.is_empty());
    }

    #[test]
    fn add_and_drop_with_or_without_prefix() {
        let (set, _) = capability_sets(Some(&caps(
            &["SYS_ADMIN", "cap_net_admin"],
            &["CAP_CHOWN", "kill"],
            &[],
        )))
        .unwrap();
        assert!(set.contains(&Capability::SysAdmin));
        assert!(set.contains(&Capability::NetAdmin));
        assert!(!set.contains(&Capability::Chown));
        assert!(!set.contains(&Capability::Kill));
        assert_eq!(set.len(), 14);
    }

    #[test]
    fn add_all_and_drop_all() {
        let (set, _) = capability_sets(Some(&caps(&["ALL"], &["CHOWN"], &[]))).unwrap();
        assert_eq!(set.len(), ALL_CAPABILITIES.len() - 1);
        assert!(!set.contains(&Capability::Chown));
        let (set, _) = capability_sets(Some(&caps(&["NET_RAW"], &["ALL"], &[]))).unwrap();
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            vec![Capability::NetRaw]
        );
        let (set, _) = capability_sets(Some(&caps(&[], &["all"], &[]))).unwrap();
        assert!(set.is_empty());
    }

    #[test]
    fn ambient_capabilities_go_everywhere() {
        let (set, amb) =
            capability_sets(Some(&caps(&[], &["ALL"], &["NET_BIND_SERVICE"]))).unwrap();
        assert!(set.contains(&Capability::NetBindService));
        assert_eq!(
            amb.into_iter().collect::<Vec<_>>(),
            vec![Capability::NetBindService]
        );
    }

    #[test]
    fn unknown_capability_is_an_error() {
        let err = capability_sets(Some(&caps(&["FLY"], &[], &[]))).unwrap_err();
        assert!(err.to_string().contains("FLY"), "{err}");
        assert!(err.to_string().contains("add_capabilities"), "{err}");
    }

    // --- seccomp --------------------------------------------------------------------------

    fn profile(t: ProfileType, r: &str) -> SecurityProfile {
        SecurityProfile {
            profile_type: t as i32,
            localhost_ref: r.into(),
        }
    }

    fn read_fixture(p: &Path) -> io::Result<String> {
        match p.to_str() {
            Some("/profiles/oci.json") => Ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_S390X"],"syscalls":[{"names":["sethostname"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#.into()),
            Some("/profiles/docker.json") => Ok(r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":[]}],"syscalls":[{"name":"read","action":"SCMP_ACT_ALLOW","args":[]},{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]},"excludes":{}}]}"#.into()),
            Some("/profiles/bad.json") => Ok("{not json".into()),
            Some("/profiles/noaction.json") => Ok(r#"{"syscalls":[]}"#.into()),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such file or directory")),
        }
    }

    #[test]
    fn seccomp_simple_choices() {
        assert_eq!(
            seccomp_choice(None, false, &read_fixture).unwrap(),
            SeccompChoice::Unconfined
        );
        let rd = profile(ProfileType::RuntimeDefault, "");
        assert_eq!(
            seccomp_choice(Some(&rd), false, &read_fixture).unwrap(),
            SeccompChoice::RuntimeDefault
        );
        assert_eq!(
            seccomp_choice(Some(&rd), true, &read_fixture).unwrap(),
            SeccompChoice::Unconfined
        );
        let un = profile(ProfileType::Unconfined, "");
        assert_eq!(
            seccomp_choice(Some(&un), false, &read_fixture).unwrap(),
            SeccompChoice::Unconfined
        );
    }

    #[test]
    fn seccomp_localhost_oci_profile() {
        let p = profile(ProfileType::Localhost, "/profiles/oci.json");
        let SeccompChoice::Localhost(s) = seccomp_choice(Some(&p), false, &read_fixture).unwrap()
        else {
            panic!("expected a localhost profile");
        };
        assert_eq!(
            s.default_action(),
            oci_spec::runtime::LinuxSeccompAction::ScmpActAllow
        );
        let rules = s.syscalls().clone().unwrap();
        assert_eq!(rules[0].names(), &strings(&["sethostname"]));
        assert_eq!(rules[0].errno_ret(), Some(1));
        assert_eq!(s.architectures().as_ref().map(|a| a.len()), Some(2));
    }

    #[test]
    fn seccomp_localhost_docker_profile() {
        let p = profile(ProfileType::Localhost, "/profiles/docker.json");
        let SeccompChoice::Localhost(s) = seccomp_choice(Some(&p), false, &read_fixture).unwrap()
        else {
            panic!("expected a localhost profile");
        };
        let rules = s.syscalls().clone().unwrap();
        assert_eq!(rules.len(), 1, "the conditional mount rule is dropped");
        assert_eq!(rules[0].names(), &strings(&["read"]));
    }

    #[test]
    fn seccomp_bad_localhost_profiles() {
        let missing = profile(ProfileType::Localhost, "/profiles/missing.json");
        let err = seccomp_choice(Some(&missing), false, &read_fixture).unwrap_err();
        assert!(matches!(err, SpecError::SeccompRead { .. }));
        assert!(err.to_string().contains("/profiles/missing.json"));
        let bad = profile(ProfileType::Localhost, "/profiles/bad.json");
        assert!(matches!(
            seccomp_choice(Some(&bad), false, &read_fixture),
            Err(SpecError::SeccompParse { .. })
        ));
        let noaction = profile(ProfileType::Localhost, "/profiles/noaction.json");
        let err = seccomp_choice(Some(&noaction), false, &read_fixture).unwrap_err();
        assert!(err.to_string().contains("defaultAction"), "{err}");
        let relative = profile(ProfileType::Localhost, "profiles/oci.json");
        assert!(matches!(
            seccomp_choice(Some(&relative), false, &read_fixture),
            Err(SpecError::Invalid { .. })
        ));
    }

    #[test]
    fn legacy_seccomp_paths() {
        assert!(legacy_seccomp_profile("").unwrap().is_none());
        let p = legacy_seccomp_profile("localhost//profiles/oci.json")
            .unwrap()
            .unwrap();
        assert_eq!(p.profile_type, ProfileType::Localhost as i32);
        assert_eq!(p.localhost_ref, "/profiles/oci.json");
        assert_eq!(
            legacy_seccomp_profile("runtime/default")
                .unwrap()
                .unwrap()
                .profile_type,
            ProfileType::RuntimeDefault as i32
        );
        assert!(legacy_seccomp_profile("whatever").is_err());
    }

    // --- sysctls and the sandbox spec -----------------------------------------------------

    #[test]
    fn sysctls_must_be_namespaced_and_not_host() {
        let m = |k: &str| HashMap::from([(k.to_string(), "1".to_string())]);
        assert!(validate_sysctls(&m("net.ipv4.ip_forward"), false, false).is_ok());
        assert!(validate_sysctls(&m("kernel.shm_rmid_forced"), false, false).is_ok());
        let err = validate_sysctls(&m("net.ipv4.ip_forward"), true, false).unwrap_err();
        assert!(
            err.to_string().contains("net.ipv4.ip_forward")
                && err.to_string().contains("host network"),
            "{err}"
        );
        assert!(validate_sysctls(&m("kernel.msgmax"), false, true).is_err());
        let err = validate_sysctls(&m("vm.swappiness"), false, false).unwrap_err();
        assert!(err.to_string().contains("not a namespaced sysctl"), "{err}");
    }

    #[test]
    fn sandbox_spec_pod_namespaces() {
        let mut sb = sandbox(false, None);
        if let Some(l) = sb.config.linux.as_mut() {
            l.sysctls.insert("net.core.somaxconn".into(), "1024".into());
        }
        let spec = sandbox_spec(&sb).unwrap();
        assert_eq!(
            namespaces(&spec),
            vec![
                (
                    LinuxNamespaceType::Network,
                    Some(PathBuf::from("/run/netns/pod1"))
                ),
                (LinuxNamespaceType::Uts, None),
                (LinuxNamespaceType::Ipc, None),
                (LinuxNamespaceType::Pid, None),
            ]
        );
        assert_eq!(spec.hostname().as_deref(), Some("podhost"));
        assert_eq!(spec.root().as_ref().unwrap().path(), Path::new("/"));
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.oom_score_adj(), Some(-998));
        assert_eq!(
            spec.linux()
                .as_ref()
                .unwrap()
                .sysctl()
                .as_ref()
                .unwrap()
                .get("net.core.somaxconn")
                .map(String::as_str),
            Some("1024")
        );
    }

    #[test]
    fn sandbox_spec_host_namespaces() {
        let sb = sandbox(
            false,
            Some(NamespaceOption {
                network: NamespaceMode::Node as i32,
                pid: NamespaceMode::Node as i32,
                ipc: NamespaceMode::Node as i32,
                ..Default::default()
            }),
        );
        let spec = sandbox_spec(&sb).unwrap();
        assert!(namespaces(&spec).is_empty());
        assert_eq!(spec.hostname(), &None);
    }

    fn userns_opts(mode: NamespaceMode, uids: &[(u32, u32, u32)]) -> NamespaceOption {
        let maps: Vec<IdMapping> = uids
            .iter()
            .map(|&(container_id, host_id, length)| IdMapping {
                container_id,
                host_id,
                length,
            })
            .collect();
        NamespaceOption {
            userns_options: Some(UserNamespace {
                mode: mode as i32,
                uids: maps.clone(),
                gids: maps,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn user_namespace_options_are_checked() {
        use NamespaceMode::*;
        let ok = pod_user_mappings(&userns_opts(Pod, &[(0, 1000, 100000)])).unwrap();
        assert_eq!(
            ok,
            Some(PodIdMap {
                uid_host: 1000,
                uid_len: 100000,
                gid_host: 1000,
                gid_len: 100000
            })
        );
        assert_eq!(pod_user_mappings(&userns_opts(Node, &[])).unwrap(), None);
        assert_eq!(
            pod_user_mappings(&NamespaceOption::default()).unwrap(),
            None
        );
        for (opts, want) in [
            (
                userns_opts(Pod, &[(0, 1000, 100000), (0, 2000, 100000)]),
                "exactly one mapping",
            ),
            (userns_opts(Pod, &[(1, 1000, 100000)]), "container id 0"),
            (userns_opts(Pod, &[]), "exactly one mapping"),
            (userns_opts(Pod, &[(0, 1000, 0)]), "length must be positive"),
            (userns_opts(Pod, &[(0, u32::MAX - 5, 10)]), "within 32 bits"),
            (userns_opts(Pod, &[(0, 0, 65536)]), "no isolation"),
            (
                userns_opts(Node, &[(0, 1000, 10)]),
                "mode NODE takes no mappings",
            ),
            (userns_opts(Container, &[]), "mode CONTAINER"),
            (userns_opts(Target, &[]), "mode TARGET"),
        ] {
            let err = pod_user_mappings(&opts).unwrap_err();
            assert!(err.to_string().contains(want), "{err} (want {want})");
        }
    }

    #[test]
    fn user_namespace_pod_and_container_specs() {
        let opts = userns_opts(NamespaceMode::Pod, &[(0, 1000, 100000)]);
        let sb = sandbox(false, Some(opts.clone()));
        let spec = sandbox_spec(&sb).unwrap();
        assert!(namespaces(&spec).contains(&(LinuxNamespaceType::User, None)));
        let linux = spec.linux().as_ref().unwrap();
        let m = &linux.uid_mappings().as_ref().unwrap()[0];
        assert_eq!((m.container_id(), m.host_id(), m.size()), (0, 1000, 100000));
        assert_eq!(linux.gid_mappings().as_ref().unwrap().len(), 1);

        // a container joins the pod's user namespace; an idmapped volume needs its mapping
        let r = rootfs();
        let host = FakeHost {
            links: HashMap::from([(PathBuf::from("/vol"), PathBuf::from("/vol"))]),
            ..Default::default()
        };
        let vol = |host_id: u32| CriMount {
            container_path: "/data".into(),
            host_path: "/vol".into(),
            uid_mappings: vec![IdMapping {
                container_id: 0,
                host_id,
                length: 100000,
            }],
            gid_mappings: vec![IdMapping {
                container_id: 0,
                host_id,
                length: 100000,
            }],
            ..Default::default()
        };
        let mut cfg = with_mounts(vec![vol(1000)]);
        let spec = build(&cfg, &sb, &host, &r).unwrap().spec;
        assert!(namespaces(&spec).contains(&(
            LinuxNamespaceType::User,
            Some(PathBuf::from("/proc/42/ns/user"))
        )));
        let m = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/data"))
            .unwrap();
        assert!(
            m.options()
                .as_ref()
                .unwrap()
                .contains(&"ridmap".to_string())
        );
        cfg.mounts = vec![vol(5000)];
        let err = build(&cfg, &sb, &host, &r).unwrap_err();
        assert!(
            err.to_string().contains("pod's user namespace mapping"),
            "{err}"
        );
        // idmapped mounts need a pod user namespace
        cfg.mounts = vec![vol(1000)];
        let err = build(&cfg, &sandbox(false, None), &host, &r).unwrap_err();
        assert!(
            err.to_string().contains("needs a pod user namespace"),
            "{err}"
        );
        // a container cannot leave its pod's user namespace
        let mut cfg = with_mounts(vec![]);
        cfg.linux
            .as_mut()
            .unwrap()
            .security_context
            .as_mut()
            .unwrap()
            .namespace_options = Some(userns_opts(NamespaceMode::Node, &[]));
        let err = build(&cfg, &sb, &host, &r).unwrap_err();
        assert!(
            err.to_string().contains("its pod's user namespace"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("its own (uids 0-99999 on host 1000, gids 0-99999 on host 1000)"),
            "{err}"
        );
    }

    #[test]
    fn sandbox_spec_pod_network_needs_a_netns() {
        let mut sb = sandbox(false, None);
        sb.netns = None;
        let err = sandbox_spec(&sb).unwrap_err();
        assert!(
            err.to_string().contains("network namespace mode POD"),
            "{err}"
        );
    }

    // --- the container spec ---------------------------------------------------------------

    #[test]
    fn default_container_spec() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let cfg = config(LinuxContainerSecurityContext::default());
        let out = build(&cfg, &sb, &FakeHost::default(), &r).unwrap();
        let spec = &out.spec;
        assert_eq!(out.seccomp, SeccompChoice::Unconfined);
        assert_eq!(out.stop_signal, None);
        assert_eq!(
            namespaces(spec),
            vec![
                (LinuxNamespaceType::Mount, None),
                (
                    LinuxNamespaceType::Network,
                    Some(PathBuf::from("/run/netns/pod1"))
                ),
                (
                    LinuxNamespaceType::Uts,
                    Some(PathBuf::from("/proc/42/ns/uts"))
                ),
                (
                    LinuxNamespaceType::Ipc,
                    Some(PathBuf::from("/proc/42/ns/ipc"))
                ),
                (
                    LinuxNamespaceType::Pid,
                    Some(PathBuf::from("/proc/42/ns/pid"))
                ),
                (LinuxNamespaceType::Cgroup, None),
            ]
        );
        let p = spec.process().as_ref().unwrap();
        assert_eq!(
            p.args().as_ref().unwrap(),
            &strings(&["/bin/sh", "-c", "sleep 1000"])
        );
        assert_eq!(p.cwd(), Path::new("/"));
        assert_eq!(p.oom_score_adj(), Some(1000));
        assert_eq!(p.no_new_privileges(), Some(false));
        assert_eq!(p.user().uid(), 0);
        assert_eq!(effective(spec).len(), 14);
        let root = spec.root().as_ref().unwrap();
        assert_eq!(root.path(), &r.0);
        assert_eq!(root.readonly(), Some(false));
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(
            linux.masked_paths().as_ref().unwrap().len(),
            DEFAULT_MASKED_PATHS.len()
        );
        assert!(
            linux
                .readonly_paths()
                .as_ref()
                .unwrap()
                .contains(&"/proc/sys".to_string())
        );
        assert!(linux.seccomp().is_none());
        let sys = mount_of(spec, "/sys").unwrap();
        assert!(sys.options().as_ref().unwrap().contains(&"ro".to_string()));
        for dest in [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/mqueue",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/etc/hostname",
        ] {
            assert!(mount_of(spec, dest).is_some(), "missing {dest}");
        }
        let shm = mount_of(spec, "/dev/shm").unwrap();
        assert_eq!(
            shm.source().as_deref(),
            Some(Path::new("/run/outrigger/sb1/shm"))
        );
        assert_eq!(
            mount_of(spec, "/etc/resolv.conf")
                .unwrap()
                .source()
                .as_deref(),
            Some(Path::new("/run/outrigger/sb1/resolv.conf"))
        );
        let rules = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap();
        assert!(!rules[0].allow(), "device rules start with deny all");
        let env = p.env().as_ref().unwrap();
        assert!(env.contains(&"HOSTNAME=podhost".to_string()));
    }

    #[test]
    fn host_namespaces() {
        let r = rootfs();
        let opts = NamespaceOption {
            network: NamespaceMode::Node as i32,
            pid: NamespaceMode::Node as i32,
            ipc: NamespaceMode::Node as i32,
            ..Default::default()
        };
        let sb = sandbox(false, Some(opts.clone()));
        let cfg = config(LinuxContainerSecurityContext {
            namespace_options: Some(opts),
            ..Default::default()
        });
        let spec = build(&cfg, &sb, &FakeHost::default(), &r).unwrap().spec;
        assert_eq!(
            namespaces(&spec),
            vec![
                (LinuxNamespaceType::Mount, None),
                (LinuxNamespaceType::Cgroup, None)
            ]
        );
        assert_eq!(
            mount_of(&spec, "/dev/shm").unwrap().source().as_deref(),
            Some(Path::new("/dev/shm"))
        );
    }

    #[test]
    fn pid_container_and_target() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let pid_ns = |mode: NamespaceMode| {
            let cfg = config(LinuxContainerSecurityContext {
                namespace_options: Some(NamespaceOption {
                    pid: mode as i32,
                    target_id: "other".into(),
                    ..Default::default()
                }),
                ..Default::default()
            });
            let spec = build(&cfg, &sb, &FakeHost::default(), &r).unwrap().spec;
            namespaces(&spec)
                .into_iter()
                .find(|(t, _)| *t == LinuxNamespaceType::Pid)
        };
        assert_eq!(
            pid_ns(NamespaceMode::Container),
            Some((LinuxNamespaceType::Pid, None))
        );
        assert_eq!(
            pid_ns(NamespaceMode::Target),
            Some((
                LinuxNamespaceType::Pid,
                Some(PathBuf::from("/proc/77/ns/pid"))
            ))
        );
        assert_eq!(pid_ns(NamespaceMode::Node), None);
    }

    #[test]
    fn readonly_rootfs_and_no_new_privs_and_user() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let mut sc = sc_user(Some(1000), "", None, &[]);
        sc.readonly_rootfs = true;
        sc.no_new_privs = true;
        let spec = build(&config(sc), &sb, &FakeHost::default(), &r)
            .unwrap()
            .spec;
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
        let hosts = mount_of(&spec, "/etc/hosts").unwrap();
        assert!(
            hosts
                .options()
                .as_ref()
                .unwrap()
                .contains(&"ro".to_string())
        );
    }

    #[test]
    fn privileged_container() {
        let r = rootfs();
        let sb = sandbox(true, None);
        let host = FakeHost {
            devices: HashMap::from([(
                PathBuf::from("/dev"),
                vec![dev("/dev/null", 1, 3), dev("/dev/kmsg", 1, 11)],
            )]),
            ..Default::default()
        };
        let sc = LinuxContainerSecurityContext {
            privileged: true,
            seccomp: Some(profile(ProfileType::RuntimeDefault, "")),
            ..caps(&[], &["ALL"], &[])
        };
        let out = build(&config(sc), &sb, &host, &r).unwrap();
        let spec = &out.spec;
        assert_eq!(out.seccomp, SeccompChoice::Unconfined);
        assert_eq!(effective(spec).len(), ALL_CAPABILITIES.len());
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.masked_paths().as_ref().unwrap().is_empty());
        assert!(linux.readonly_paths().as_ref().unwrap().is_empty());
        assert_eq!(linux.devices().as_ref().unwrap().len(), 2);
        let rules = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap();
        assert_eq!(rules.len(), 1);
        assert!(rules[0].allow());
        let sys = mount_of(spec, "/sys").unwrap();
        assert!(sys.options().as_ref().unwrap().contains(&"rw".to_string()));
    }

    #[test]
    fn privileged_container_needs_privileged_pod() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let sc = LinuxContainerSecurityContext {
            privileged: true,
            ..Default::default()
        };
        let err = build(&config(sc), &sb, &FakeHost::default(), &r).unwrap_err();
        assert!(err.to_string().contains("privileged"), "{err}");
    }

    #[test]
    fn capabilities_reach_the_spec() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let spec = build(
            &config(caps(&["SYS_ADMIN"], &["NET_RAW"], &[])),
            &sb,
            &FakeHost::default(),
            &r,
        )
        .unwrap()
        .spec;
        let eff = effective(&spec);
        assert!(eff.contains(&Capability::SysAdmin));
        assert!(!eff.contains(&Capability::NetRaw));
    }

    #[test]
    fn given_masked_and_readonly_paths_replace_defaults() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let sc = LinuxContainerSecurityContext {
            masked_paths: strings(&["/proc/x"]),
            readonly_paths: strings(&["/proc/y"]),
            ..Default::default()
        };
        let spec = build(&config(sc), &sb, &FakeHost::default(), &r)
            .unwrap()
            .spec;
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(
            linux.masked_paths().as_ref().unwrap(),
            &strings(&["/proc/x"])
        );
        assert_eq!(
            linux.readonly_paths().as_ref().unwrap(),
            &strings(&["/proc/y"])
        );
    }

    fn with_mounts(mounts: Vec<CriMount>) -> ContainerConfig {
        let mut cfg = config(LinuxContainerSecurityContext::default());
        cfg.mounts = mounts;
        cfg
    }

    #[test]
    fn cri_mounts_resolve_symlinks_and_set_propagation() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let host = FakeHost {
            links: HashMap::from([
                (PathBuf::from("/data/link"), PathBuf::from("/data/real")),
                (
                    PathBuf::from("/var/lib/k/etc-hosts"),
                    PathBuf::from("/var/lib/k/etc-hosts"),
                ),
            ]),
            ..Default::default()
        };
        let cfg = with_mounts(vec![
            CriMount {
                container_path: "/vol//sub/".into(),
                host_path: "/data/link".into(),
                readonly: true,
                propagation: MountPropagation::PropagationHostToContainer as i32,
                ..Default::default()
            },
            CriMount {
                container_path: "/etc/hosts".into(),
                host_path: "/var/lib/k/etc-hosts".into(),
                ..Default::default()
            },
        ]);
        let spec = build(&cfg, &sb, &host, &r).unwrap().spec;
        let vol = mount_of(&spec, "/vol/sub").unwrap();
        assert_eq!(
            vol.destination().to_str(),
            Some("/vol/sub"),
            "destinations are cleaned"
        );
        assert_eq!(vol.source().as_deref(), Some(Path::new("/data/real")));
        assert_eq!(vol.typ().as_deref(), Some("bind"));
        assert_eq!(
            vol.options().as_ref().unwrap(),
            &strings(&["rbind", "rslave", "ro"])
        );
        let hosts: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|m| m.destination() == Path::new("/etc/hosts"))
            .collect();
        assert_eq!(hosts.len(), 1, "the kubelet's /etc/hosts replaces ours");
        assert_eq!(
            hosts[0].source().as_deref(),
            Some(Path::new("/var/lib/k/etc-hosts"))
        );
        assert_eq!(
            spec.linux()
                .as_ref()
                .unwrap()
                .rootfs_propagation()
                .as_deref(),
            Some("rslave")
        );
        // CRI mounts come after the defaults and the sandbox files.
        let dests: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().clone())
            .collect();
        let pos = |d: &str| dests.iter().position(|x| x == Path::new(d)).unwrap();
        assert!(pos("/vol/sub") > pos("/dev/shm") && pos("/vol/sub") > pos("/sys"));
    }

    #[test]
    fn bidirectional_mount_makes_rootfs_rshared() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let host = FakeHost {
            links: HashMap::from([(PathBuf::from("/mnt"), PathBuf::from("/mnt"))]),
            ..Default::default()
        };
        let cfg = with_mounts(vec![CriMount {
            container_path: "/mnt".into(),
            host_path: "/mnt".into(),
            propagation: MountPropagation::PropagationBidirectional as i32,
            ..Default::default()
        }]);
        let spec = build(&cfg, &sb, &host, &r).unwrap().spec;
        assert_eq!(
            spec.linux()
                .as_ref()
                .unwrap()
                .rootfs_propagation()
                .as_deref(),
            Some("rshared")
        );
        assert!(
            mount_of(&spec, "/mnt")
                .unwrap()
                .options()
                .as_ref()
                .unwrap()
                .contains(&"rshared".to_string())
        );
    }

    #[test]
    fn bad_cri_mounts() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let host = FakeHost::default();
        let missing = with_mounts(vec![CriMount {
            container_path: "/x".into(),
            host_path: "/does/not/exist".into(),
            ..Default::default()
        }]);
        let err = build(&missing, &sb, &host, &r).unwrap_err();
        assert!(
            err.to_string().contains("/does/not/exist") && err.to_string().contains("no such file"),
            "{err}"
        );
        let rro = |readonly: bool, propagation: MountPropagation| {
            with_mounts(vec![CriMount {
                container_path: "/x".into(),
                host_path: "/y".into(),
                readonly,
                recursive_read_only: true,
                propagation: propagation as i32,
                ..Default::default()
            }])
        };
        for bad in [
            rro(false, MountPropagation::PropagationPrivate),
            rro(true, MountPropagation::PropagationHostToContainer),
            rro(true, MountPropagation::PropagationBidirectional),
        ] {
            let err = build(&bad, &sb, &host, &r).unwrap_err();
            assert!(
                matches!(&err, SpecError::Invalid { field, .. } if *field == "mounts.recursive_read_only"),
                "{err}"
            );
        }
        let host_y = FakeHost {
            links: HashMap::from([(PathBuf::from("/y"), PathBuf::from("/y"))]),
            ..Default::default()
        };
        let spec = build(
            &rro(true, MountPropagation::PropagationPrivate),
            &sb,
            &host_y,
            &r,
        )
        .unwrap()
        .spec;
        let m = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/x"))
            .unwrap();
        assert_eq!(
            m.options().as_ref().unwrap(),
            &strings(&["rbind", "rprivate", "rro"])
        );
        let image = with_mounts(vec![CriMount {
            container_path: "/img".into(),
            image: Some(Default::default()),
            ..Default::default()
        }]);
        assert!(matches!(
            build(&image, &sb, &host, &r),
            Err(SpecError::ImageVolumeUnsupported { .. })
        ));
        let relative = with_mounts(vec![CriMount {
            container_path: "x".into(),
            host_path: "/y".into(),
            ..Default::default()
        }]);
        assert!(matches!(
            build(&relative, &sb, &host, &r),
            Err(SpecError::Invalid { .. })
        ));
    }

    #[test]
    fn config_devices() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let host = FakeHost {
            devices: HashMap::from([(PathBuf::from("/dev/fuse"), vec![dev("/dev/fuse", 10, 229)])]),
            ..Default::default()
        };
        let mut cfg = config(LinuxContainerSecurityContext::default());
        cfg.devices = vec![Device {
            container_path: "/dev/myfuse".into(),
            host_path: "/dev/fuse".into(),
            permissions: "rw".into(),
        }];
        let spec = build(&cfg, &sb, &host, &r).unwrap().spec;
        let linux = spec.linux().as_ref().unwrap();
        let d = &linux.devices().as_ref().unwrap()[0];
        assert_eq!(
            (d.path().as_path(), d.major(), d.minor()),
            (Path::new("/dev/myfuse"), 10, 229)
        );
        let rule = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(
            (
                rule.allow(),
                rule.major(),
                rule.minor(),
                rule.access().as_deref()
            ),
            (true, Some(10), Some(229), Some("rw"))
        );
        cfg.devices[0].permissions = "rwx".into();
        assert!(
            build(&cfg, &sb, &host, &r)
                .unwrap_err()
                .to_string()
                .contains("rwx")
        );
        cfg.devices[0].permissions = "r".into();
        cfg.devices[0].host_path = "/dev/nope".into();
        assert!(matches!(
            build(&cfg, &sb, &host, &r),
            Err(SpecError::Device { .. })
        ));
    }

    #[test]
    fn working_dir_stop_signal_tty() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let mut cfg = config(LinuxContainerSecurityContext::default());
        cfg.working_dir = "/srv/app".into();
        cfg.stop_signal = Signal::Sigquit as i32;
        cfg.tty = true;
        let out = build(&cfg, &sb, &FakeHost::default(), &r).unwrap();
        let p = out.spec.process().as_ref().unwrap();
        assert_eq!(p.cwd(), Path::new("/srv/app"));
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(out.stop_signal, Some(3));
        assert_eq!(signal_number(Signal::Sigrtmin as i32).unwrap(), Some(34));
        assert_eq!(signal_number(Signal::Sigrtmax as i32).unwrap(), Some(64));
        assert_eq!(
            signal_number(Signal::Sigrtmaxminus1 as i32).unwrap(),
            Some(63)
        );
    }

    #[test]
    fn seccomp_localhost_reaches_the_spec_and_bad_one_fails() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let host = FakeHost {
            files: HashMap::from([(
                PathBuf::from("/p.json"),
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}"#.to_string(),
            )]),
            ..Default::default()
        };
        let sc = |path: &str| LinuxContainerSecurityContext {
            seccomp: Some(profile(ProfileType::Localhost, path)),
            ..Default::default()
        };
        let out = build(&config(sc("/p.json")), &sb, &host, &r).unwrap();
        assert!(matches!(out.seccomp, SeccompChoice::Localhost(_)));
        assert!(out.spec.linux().as_ref().unwrap().seccomp().is_some());
        assert!(matches!(
            build(&config(sc("/missing.json")), &sb, &host, &r),
            Err(SpecError::SeccompRead { .. })
        ));
    }

    #[test]
    fn missing_pod_namespace_is_an_error() {
        let r = rootfs();
        let mut sb = sandbox(false, None);
        sb.ipc_ns = None;
        let err = build(&config(Default::default()), &sb, &FakeHost::default(), &r).unwrap_err();
        assert!(err.to_string().contains("ipc namespace mode POD"), "{err}");
    }

    #[test]
    fn oom_score_adj_out_of_range() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let mut cfg = config(Default::default());
        if let Some(res) = cfg.linux.as_mut().and_then(|l| l.resources.as_mut()) {
            res.oom_score_adj = 5000;
        }
        let err = build(&cfg, &sb, &FakeHost::default(), &r).unwrap_err();
        assert!(err.to_string().contains("oom_score_adj"), "{err}");
    }

    #[test]
    fn spec_serialises_to_oci_json() {
        let r = rootfs();
        let sb = sandbox(false, None);
        let spec = build(&config(Default::default()), &sb, &FakeHost::default(), &r)
            .unwrap()
            .spec;
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["ociVersion"], OCI_VERSION);
        assert_eq!(
            json["process"]["capabilities"]["bounding"]
                .as_array()
                .map(|a| a.len()),
            Some(14)
        );
        assert_eq!(json["linux"]["namespaces"][0]["type"], "mount");
        println!("{}", serde_json::to_string_pretty(&json).unwrap());
        let text = json.to_string();
        assert!(
            !text.contains("youki") && !text.contains("rlimits") && !text.contains("TERM="),
            "{text}"
        );
        let sb = sandbox_spec(&sb).unwrap();
        let text = serde_json::to_string(&sb).unwrap();
        assert!(
            !text.contains("youki") && !text.contains("rlimits") && !text.contains("maskedPaths"),
            "{text}"
        );
        assert!(!text.contains("\"mounts\":[{"), "{text}");
    }

    // --- host access ----------------------------------------------------------------------

    #[test]
    fn real_host_walks_dev_without_pts() {
        let devs = RealHost.devices(Path::new("/dev")).unwrap();
        assert!(devs.iter().any(|d| d.path == Path::new("/dev/null")));
        assert!(devs.iter().all(|d| !d.path.starts_with("/dev/pts")
            && d.path != Path::new("/dev/console")
            && d.path != Path::new("/dev/ptmx")));
    }

    #[test]
    fn dev_t_decoding() {
        assert_eq!((dev_major(0x0103), dev_minor(0x0103)), (1, 3));
        // major 259, minor 65536 in glibc's encoding
        let dev: u64 = (0x103 << 8) | (0x1_0000 << 12);
        assert_eq!((dev_major(dev), dev_minor(dev)), (259, 65536));
    }

    #[test]
    fn real_host_reads_dev_null() {
        let devs = RealHost.devices(Path::new("/dev/null")).unwrap();
        assert_eq!(devs.len(), 1);
        assert_eq!(
            (devs[0].typ, devs[0].major, devs[0].minor),
            (LinuxDeviceType::C, 1, 3)
        );
        assert!(
            RealHost.devices(Path::new("/etc/hostname")).is_err()
                || !Path::new("/etc/hostname").exists()
        );
    }
}
