//! Mounts: OCI mount options to mount(2) flags, and the mount work of container setup
//! (rootfs bind, OCI mounts, /dev, pivot_root, masked and read-only paths).

use crate::error::{Error, Result};
use crate::paths::resolve_in_root;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// mount(2) arguments derived from an OCI mount's options.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount call.
    pub flags: MsFlags,
    /// Propagation changes applied afterwards, in order.
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific options, comma separated (the `data` argument).
    pub data: String,
    /// A bind mount (`bind` or `rbind`).
    pub bind: bool,
    /// A recursive bind mount (`rbind`).
    pub recursive: bool,
    /// Map the ids of the bind mount through the container's user namespace (`idmap`,
    /// `ridmap` for every submount too).
    pub idmap: bool,
    /// Make the mount and every mount below it read-only (`rro`).
    pub recursive_readonly: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            bind: false,
            recursive: false,
            idmap: false,
            recursive_readonly: false,
        }
    }
}

/// Parses OCI mount option strings. Unknown options go to `data` (they are the filesystem's).
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => {
                o.bind = true;
                continue;
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                continue;
            }
            "tmpcopyup" => continue,
            "idmap" | "ridmap" => {
                o.idmap = true;
                continue;
            }
            "rro" => {
                o.recursive_readonly = true;
                (MsFlags::MS_RDONLY, MsFlags::empty())
            }
            other => {
                if let Some(p) = propagation_flags(other) {
                    o.propagation.push(p);
                } else {
                    data.push(other);
                }
                continue;
            }
        };
        o.flags.insert(set);
        o.flags.remove(clear);
    }
    o.data = data.join(",");
    o
}

/// The flags for a propagation keyword (`private`, `rslave`, ...).
pub fn propagation_flags(s: &str) -> Option<MsFlags> {
    Some(match s {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

fn sys_mount(
    src: Option<&Path>,
    dst: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(src, dst, fstype, flags, data).map_err(|e| {
        Error::sys(
            format!(
                "mount {} on {} (type {}, flags {:?}, data {:?})",
                src.map(|s| s.display().to_string())
                    .unwrap_or_else(|| "none".into()),
                dst.display(),
                fstype.unwrap_or("none"),
                flags,
                data.unwrap_or("")
            ),
            e,
        )
    })
}

/// Creates `p` as a directory (with parents) unless something exists there.
fn ensure_dir(p: &Path) -> Result<()> {
    if p.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(p).map_err(|e| Error::io("creating directory", p, e))
}

/// Creates `p` as an empty file (parents as directories) unless something exists there.
fn ensure_file(p: &Path) -> Result<()> {
    if p.exists() {
        return Ok(());
    }
    if let Some(parent) = p.parent() {
        ensure_dir(parent)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p)
        .map(drop)
        .map_err(|e| Error::io("creating mount point", p, e))
}

/// Sets the propagation of `/` (recursively) before the rootfs is prepared: the configured
/// mode, or rslave, and never shared (pivot_root refuses shared parents; shared is applied
/// after the pivot by [`finish_propagation`]).
pub fn prepare_root_propagation(rootfs_propagation: Option<&str>) -> Result<()> {
    let flags = rootfs_propagation
        .and_then(propagation_flags)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    sys_mount(None, Path::new("/"), None, flags | MsFlags::MS_REC, None)
}

/// With a shared root (bidirectional mounts asked for), the mounts pivot_root looks at must
/// not be shared: the mount holding the rootfs and the namespace's root mount become private
/// (only those two, not their children, so shared bind sources keep their peer groups).
pub fn private_pivot_parents(rootfs_propagation: Option<&str>, rootfs: &Path) -> Result<()> {
    let shared = rootfs_propagation
        .and_then(propagation_flags)
        .is_some_and(|f| f.contains(MsFlags::MS_SHARED));
    if !shared {
        return Ok(());
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("reading mountinfo", Path::new("/proc/self/mountinfo"), e))?;
    if let Some(mp) = containing_mount(&info, rootfs) {
        sys_mount(None, Path::new(&mp), None, MsFlags::MS_PRIVATE, None)?;
    }
    sys_mount(None, Path::new("/"), None, MsFlags::MS_PRIVATE, None)
}

/// The mount point (field 5 of mountinfo) that contains `path`: the longest prefix.
pub fn containing_mount(mountinfo: &str, path: &Path) -> Option<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.len())
        .map(str::to_string)
}

/// Applies a shared rootfs propagation after pivot_root.
pub fn finish_propagation(rootfs_propagation: Option<&str>) -> Result<()> {
    match rootfs_propagation.and_then(propagation_flags) {
        Some(f) if f.contains(MsFlags::MS_SHARED) => sys_mount(None, Path::new("/"), None, f, None),
        _ => Ok(()),
    }
}

/// Bind-mounts the rootfs onto itself so that it is a mount point (pivot_root needs one).
pub fn bind_rootfs(rootfs: &Path) -> Result<()> {
    sys_mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
}

/// Performs one OCI mount with its destination resolved inside `rootfs`. `userns` is the
/// container's user namespace, for `idmap` bind mounts.
pub fn mount_one(rootfs: &Path, m: &Mount, userns: Option<BorrowedFd<'_>>) -> Result<()> {
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = resolve_in_root(rootfs, m.destination())?;
    let data = if opts.data.is_empty() {
        None
    } else {
        Some(opts.data.as_str())
    };
    if opts.bind || typ == "bind" {
        let src = m.source().as_deref().ok_or_else(|| {
            Error::Spec(format!(
                "bind mount on {} has no source",
                m.destination().display()
            ))
        })?;
        let meta = std::fs::metadata(src)
            .map_err(|e| Error::io("inspecting bind mount source", src, e))?;
        if meta.is_dir() {
            ensure_dir(&dest)?;
        } else {
            ensure_file(&dest)?;
        }
        if opts.idmap {
            let userns = userns.ok_or_else(|| {
                Error::Spec(format!(
                    "idmapped mount on {} without a user namespace",
                    m.destination().display()
                ))
            })?;
            outrigger_mountapi::idmapped_bind(src, &dest, userns, opts.recursive).map_err(|e| {
                Error::sys(
                    format!("idmapped bind: {} {}", e.op, e.path.display()),
                    e.errno,
                )
            })?;
        } else {
            let mut flags = MsFlags::MS_BIND;
            if opts.recursive {
                flags |= MsFlags::MS_REC;
            }
            sys_mount(Some(src), &dest, None, flags, data)?;
        }
        let extra = opts.flags - MsFlags::MS_REMOUNT;
        if !extra.is_empty() {
            // bind mounts take their flags from a remount
            sys_mount(
                None,
                &dest,
                None,
                extra | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None,
            )?;
        }
    } else if typ == "cgroup" || typ == "cgroup2" {
        ensure_dir(&dest)?;
        mount_cgroups(&dest, opts.flags)?;
    } else {
        ensure_dir(&dest)?;
        let src = m.source().as_deref().unwrap_or(Path::new(typ));
        let t = if typ.is_empty() { None } else { Some(typ) };
        sys_mount(Some(src), &dest, t, opts.flags, data)?;
    }
    for p in &opts.propagation {
        sys_mount(None, &dest, None, *p, None)?;
    }
    if opts.recursive_readonly {
        outrigger_mountapi::make_recursively_readonly(&dest).map_err(|e| {
            Error::sys(
                format!("recursive read-only: {} {}", e.op, e.path.display()),
                e.errno,
            )
        })?;
    }
    Ok(())
}

/// A cgroup mount for the container: a tmpfs holding each of the host's cgroup hierarchies
/// mounted afresh (in a cgroup namespace the container sees its own cgroup as the root).
fn mount_cgroups(dest: &Path, flags: MsFlags) -> Result<()> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("reading", "/proc/self/mountinfo", e))?;
    let hier = cgroup_hierarchies(&mountinfo);
    let base = flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    if hier.len() == 1 && hier[0].1 == "cgroup2" && hier[0].0 == "/sys/fs/cgroup" {
        return sys_mount(
            Some(Path::new("cgroup2")),
            dest,
            Some("cgroup2"),
            flags,
            None,
        );
    }
    sys_mount(
        Some(Path::new("tmpfs")),
        dest,
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )?;
    for (mountpoint, fstype, opts) in hier {
        let name = Path::new(&mountpoint)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        if name.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&name);
        ensure_dir(&target)?;
        let data = if fstype == "cgroup" {
            Some(opts.as_str())
        } else {
            None
        };
        sys_mount(
            Some(Path::new("cgroup")),
            &target,
            Some(&fstype),
            flags,
            data,
        )?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        sys_mount(
            None,
            dest,
            None,
            base | MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT,
            Some("mode=755"),
        )?;
    }
    Ok(())
}

/// (mount point, fstype, subsystem options) of the cgroup hierarchies under /sys/fs/cgroup
/// in a mountinfo text. For cgroup v1 the options are the controllers (`cpu`, `name=systemd`).
pub fn cgroup_hierarchies(mountinfo: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mountpoint = match left.split(' ').nth(4) {
            Some(m) => m.to_string(),
            None => continue,
        };
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or("");
        let _source = r.next();
        let super_opts = r.next().unwrap_or("");
        if (fstype != "cgroup" && fstype != "cgroup2") || !mountpoint.starts_with("/sys/fs/cgroup")
        {
            continue;
        }
        let opts: Vec<&str> = super_opts
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"))
            .collect();
        out.push((mountpoint, fstype.to_string(), opts.join(",")));
    }
    out
}

/// The devices every container gets in its /dev.
pub fn default_devices() -> Vec<(&'static str, u64, u64)> {
    vec![
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
}

/// A device node to create.
struct DevNode<'a> {
    path: &'a Path,
    kind: nix::sys::stat::SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// Creates one device node under `rootfs` (mknod, or a bind mount of the host's node when
/// mknod is not allowed).
fn create_device(rootfs: &Path, d: &DevNode<'_>) -> Result<()> {
    use nix::sys::stat::{Mode, makedev, mknod};
    let (path, mode) = (d.path, d.mode);
    let dest = resolve_in_root(rootfs, path)?;
    if let Some(parent) = dest.parent() {
        ensure_dir(parent)?;
    }
    if dest.exists() {
        return Ok(());
    }
    match mknod(
        &dest,
        d.kind,
        Mode::from_bits_truncate(mode & 0o7777),
        makedev(d.major, d.minor),
    ) {
        Ok(()) => {
            // mknod's mode is filtered by the umask
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode & 0o7777))
                .map_err(|e| Error::io("chmod", &dest, e))?;
            nix::unistd::chown(&dest, Some(d.uid.into()), Some(d.gid.into()))
                .map_err(|e| Error::sys(format!("chown {}", dest.display()), e))
        }
        Err(nix::Error::EPERM) => {
            ensure_file(&dest)?;
            sys_mount(Some(path), &dest, None, MsFlags::MS_BIND, None)
        }
        Err(e) => Err(Error::sys(format!("mknod {}", dest.display()), e)),
    }
}

/// Populates a fresh /dev: default devices, the spec's devices, the standard symlinks and
/// /dev/ptmx pointing at the devpts instance.
pub fn populate_dev(rootfs: &Path, devices: &[LinuxDevice]) -> Result<()> {
    use nix::sys::stat::SFlag;
    for (p, maj, min) in default_devices() {
        let node = DevNode {
            path: Path::new(p),
            kind: SFlag::S_IFCHR,
            major: maj,
            minor: min,
            mode: 0o666,
            uid: 0,
            gid: 0,
        };
        create_device(rootfs, &node)?;
    }
    for d in devices {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Spec(format!(
                    "device {} has type \"a\"",
                    d.path().display()
                )));
            }
        };
        let major = u64::try_from(d.major()).map_err(|_| {
            Error::Spec(format!(
                "device {}: bad major {}",
                d.path().display(),
                d.major()
            ))
        })?;
        let minor = u64::try_from(d.minor()).map_err(|_| {
            Error::Spec(format!(
                "device {}: bad minor {}",
                d.path().display(),
                d.minor()
            ))
        })?;
        let node = DevNode {
            path: d.path(),
            kind,
            major,
            minor,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        create_device(rootfs, &node)?;
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        let dest = resolve_in_root(rootfs, Path::new(link))?;
        if dest.symlink_metadata().is_ok() {
            if link != "/dev/ptmx" {
                continue;
            }
            // a ptmx node (e.g. from the image) must give way to the devpts one
            std::fs::remove_file(&dest).map_err(|e| Error::io("removing", &dest, e))?;
        }
        symlink(target, &dest).map_err(|e| Error::io("creating symlink", &dest, e))?;
    }
    Ok(())
}

/// Makes `rootfs` the root: pivot `.` onto `.`, then lazily detaches the old root.
pub fn pivot_root(rootfs: &Path) -> Result<()> {
    // A descriptor of the old root: after pivot_root(".", ".") a plain "." names the new root
    // for mount(2) (only umount2 walks up the mounts stacked there), so without it the
    // rslave below would hit the container's own mounts and cut bidirectional propagation.
    use std::os::unix::fs::OpenOptionsExt;
    let old_root = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open("/")
        .map_err(|e| Error::io("opening the old root", Path::new("/"), e))?;
    nix::unistd::chdir(rootfs).map_err(|e| Error::sys(format!("chdir {}", rootfs.display()), e))?;
    nix::unistd::pivot_root(".", ".")
        .map_err(|e| Error::sys(format!("pivot_root {}", rootfs.display()), e))?;
    nix::unistd::fchdir(&old_root).map_err(|e| Error::sys("fchdir to the old root", e))?;
    drop(old_root);
    // keep the detach from propagating to the host
    sys_mount(
        None,
        Path::new("."),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
    )?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("umount2 old root", e))?;
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir /", e))
}

/// Hides a path: /dev/null over files, a read-only empty tmpfs over directories. Missing
/// paths are skipped.
pub fn mask_path(p: &Path) -> Result<()> {
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("inspecting masked path", p, e)),
    };
    if meta.is_dir() {
        sys_mount(
            Some(Path::new("tmpfs")),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        )
    } else {
        sys_mount(
            Some(Path::new("/dev/null")),
            p,
            None,
            MsFlags::MS_BIND,
            None,
        )
    }
}

/// Makes a path read-only (a recursive bind onto itself remounted read-only). Missing paths
/// are skipped.
pub fn readonly_path(p: &Path) -> Result<()> {
    if std::fs::symlink_metadata(p).is_err() {
        return Ok(());
    }
    sys_mount(Some(p), p, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC;
    sys_mount(
        None,
        p,
        None,
        flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )
    .or_else(|_| sys_mount(None, p, None, flags, None))
}

/// Remounts `/` read-only.
pub fn readonly_root() -> Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    sys_mount(None, Path::new("/"), None, flags, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> MountOptions {
        parse_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_and_data() {
        let o = opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind);
        let o = opts(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    }

    #[test]
    fn later_options_override_earlier() {
        assert_eq!(opts(&["ro", "rw"]).flags, MsFlags::empty());
        assert_eq!(
            opts(&["rw", "ro", "nodev", "dev"]).flags,
            MsFlags::MS_RDONLY
        );
    }

    #[test]
    fn idmap_and_recursive_readonly() {
        let o = opts(&["rbind", "idmap", "rro"]);
        assert!(o.bind && o.recursive && o.idmap && o.recursive_readonly);
        assert_eq!(o.flags, MsFlags::MS_RDONLY);
        assert_eq!(o.data, "");
        let o = opts(&["bind", "ridmap"]);
        assert!(o.idmap && !o.recursive_readonly);
    }

    #[test]
    fn bind_and_propagation() {
        let o = opts(&["rbind", "ro", "rslave"]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.flags, MsFlags::MS_RDONLY);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        let info = "22 1 8:1 / / rw shared:1 - ext4 /dev/vda rw\n\
                    40 22 0:40 / /var/lib/x/rootfs rw - overlay overlay rw\n\
                    41 22 0:41 / /var/lib/xy rw - tmpfs tmpfs rw\n";
        assert_eq!(
            containing_mount(info, Path::new("/var/lib/x/rootfs")).as_deref(),
            Some("/var/lib/x/rootfs")
        );
        assert_eq!(
            containing_mount(info, Path::new("/var/lib/x")).as_deref(),
            Some("/")
        );
        assert!(o.data.is_empty());
        let o = opts(&["bind", "private"]);
        assert!(o.bind && !o.recursive);
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE]);
        assert_eq!(
            propagation_flags("rshared"),
            Some(MsFlags::MS_SHARED | MsFlags::MS_REC)
        );
        assert_eq!(propagation_flags("bogus"), None);
    }

    #[test]
    fn cgroup_hierarchies_from_mountinfo() {
        let mi = "\
25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
34 25 0:29 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
40 25 0:35 / /sys/fs/cgroup/cpu rw,nosuid shared:17 - cgroup cgroup rw,cpu
99 25 0:36 / /other rw - cgroup cgroup rw,memory
";
        let h = cgroup_hierarchies(mi);
        assert_eq!(
            h,
            vec![
                (
                    "/sys/fs/cgroup/unified".into(),
                    "cgroup2".into(),
                    "nsdelegate".into()
                ),
                (
                    "/sys/fs/cgroup/systemd".into(),
                    "cgroup".into(),
                    "xattr,name=systemd".into()
                ),
                ("/sys/fs/cgroup/cpu".into(), "cgroup".into(), "cpu".into()),
            ]
        );
    }
}
