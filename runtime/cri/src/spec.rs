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
    LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder,
    LinuxSeccomp, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder, User,
    UserBuilder,
};
use outrigger_cri_proto::{
    ContainerConfig, DnsConfig, LinuxContainerSecurityContext, Mount as CriMount,
    MountPropagation, NamespaceMode, NamespaceOption, PodSandboxConfig, SecurityProfile,
    Signal, SupplementalGroupsPolicy, security_profile::ProfileType,
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
    #[error("no command specified: the container config has no command/args and the image no entrypoint/cmd")]
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
    #[error("failed to resolve host path {host_path:?} of the mount at {container_path:?}: {source}")]
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

    let strict = sc.is_some_and(|s| {
        s.supplemental_groups_policy == SupplementalGroupsPolicy::Strict as i32
    });
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
            Ok(SeccompChoice::Localhost(parse_seccomp_profile(path, &text)?))
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

fn check_userns(opts: &NamespaceOption) -> Result<(), SpecError> {
    if let Some(u) = &opts.userns_options {
        let mode = mode_of(u.mode, "namespace_options.userns_options.mode")?;
        if mode != NamespaceMode::Node || !u.uids.is_empty() || !u.gids.is_empty() {
            return Err(SpecError::Unsupported(format!(
                "user namespaces (userns mode {}, {} uid and {} gid mappings): this runtime only runs in the host user namespace",
                mode_name(mode),
                u.uids.len(),
                u.gids.len()
            )));
        }
    }
    Ok(())
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
    check_userns(opts)?;
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
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .sysctl(sysctls)
        .build()?;
    let mut spec = SpecBuilder::default()
        .version(OCI_VERSION)
        .root(RootBuilder::default().path("/").build()?)
        .mounts(Vec::<Mount>::new())
        .process(process)
        .linux(linux);
    if !host_net && !sandbox.config.hostname.is_empty() {
        spec = spec.hostname(sandbox.config.hostname.clone());
    }
    Ok(spec.build()?)
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

fn cri_mount(m: &CriMount, host: &dyn HostAccess) -> Result<Mount, SpecError> {
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
        return Err(SpecError::Unsupported(format!(
            "recursive read-only mount at {:?}: this runtime does not advertise RecursiveReadOnlyMounts",
            m.container_path
        )));
    }
    if !m.uid_mappings.is_empty() || !m.gid_mappings.is_empty() {
        return Err(SpecError::Unsupported(format!(
            "idmapped mount at {:?}",
            m.container_path
        )));
    }
    if m.host_path.is_empty() {
        return Err(SpecError::Invalid {
            field: "mounts.host_path",
            value: String::new(),
            reason: format!("empty host path for the mount at {:?}", m.container_path),
        });
    }
    let source =
        host.canonicalize(Path::new(&m.host_path))
            .map_err(|source| SpecError::HostPath {
                host_path: m.host_path.clone(),
                container_path: m.container_path.clone(),
                source,
            })?;
    let mut options = vec![
        "rbind".to_string(),
        propagation_option(m.propagation)?.to_string(),
        if m.readonly { "ro" } else { "rw" }.to_string(),
    ];
    options.extend(m.mount_options.iter().cloned());
    bind(&m.container_path, &source, options)
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
    let sc = config.linux.as_ref().and_then(|l| l.security_context.as_ref());
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
    check_userns(opts)?;
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
        cri_mounts.push(cri_mount(m, input.host)?);
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
        ("/etc/hostname", dir.join("hostname"), file_opts(readonly_root)),
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
        .resources(LinuxResourcesBuilder::default().devices(device_rules).build()?);
    if let Some(p) = rootfs_propagation {
        linux = linux.rootfs_propagation(p);
    }
    if let SeccompChoice::Localhost(profile) = &seccomp {
        linux = linux.seccomp(profile.clone());
    }

    let mut annotations: BTreeMap<String, String> = BTreeMap::new();
    annotations.insert("io.kubernetes.cri.container-type".into(), "container".into());
    annotations.insert("io.kubernetes.cri.sandbox-id".into(), sandbox.id.clone());
    annotations.insert("io.kubernetes.cri.container-id".into(), input.id.to_string());

    let spec = SpecBuilder::default()
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
    Ok(ContainerSpec {
        spec,
        seccomp,
        stop_signal: signal_number(config.stop_signal)?,
    })
}
