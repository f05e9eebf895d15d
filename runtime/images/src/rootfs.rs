//! Overlayfs container root filesystems and disk usage.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::Error;
use crate::store::MARKER;

/// Largest overlay option string the kernel takes (one page).
const MAX_OPTIONS: usize = 4095;

/// Is `p` the root of a mount (its device differs from its parent's)?
fn is_mountpoint(p: &Path) -> bool {
    let (Ok(a), Some(parent)) = (fs::symlink_metadata(p), p.parent()) else {
        return false;
    };
    match fs::symlink_metadata(parent) {
        Ok(b) => a.dev() != b.dev() || a.ino() == b.ino(),
        Err(_) => false,
    }
}

/// Build the overlay mount option string. `dirs` are layer dir names relative to the layers
/// dir, top first; with none, `empty_lower` is used.
pub(crate) fn overlay_options(
    dirs: &[String],
    empty_lower: &Path,
    upper: &Path,
    work: &Path,
) -> Result<String, Error> {
    for p in [empty_lower, upper, work] {
        let s = p.to_string_lossy();
        if s.contains(',') || s.contains(':') {
            return Err(Error::io(
                "mount overlay",
                p,
                io::Error::new(io::ErrorKind::InvalidInput, "path contains ',' or ':'"),
            ));
        }
    }
    let lower = if dirs.is_empty() {
        empty_lower.to_string_lossy().into_owned()
    } else {
        dirs.join(":")
    };
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower,
        upper.display(),
        work.display()
    );
    if opts.len() > MAX_OPTIONS {
        return Err(Error::io(
            "mount overlay",
            upper,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "overlay options are {} bytes, more than one page ({} layers)",
                    opts.len(),
                    dirs.len()
                ),
            ),
        ));
    }
    Ok(opts)
}

/// The id mapping of a rootfs for a container in a user namespace: the image layers are
/// seen through idmapped mounts of that namespace, and the writable layer's root belongs to
/// the host ids of the container's root.
#[derive(Clone, Copy, Debug)]
pub struct IdMappedRoot<'a> {
    /// The container's user namespace.
    pub userns: BorrowedFd<'a>,
    /// Host uid of the container's uid 0.
    pub root_uid: u32,
    /// Host gid of the container's gid 0.
    pub root_gid: u32,
}

/// Idmapped copies of the layer dirs at `container_dir/lower/<n>`; returns their names
/// relative to `container_dir`, in the order given.
fn idmapped_lowers(
    layers_dir: &Path,
    dirs: &[String],
    container_dir: &Path,
    userns: BorrowedFd<'_>,
) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let name = format!("lower/{i}");
        let target = container_dir.join(&name);
        fs::create_dir_all(&target).map_err(|e| Error::io("create directory", &target, e))?;
        outrigger_mountapi::idmapped_bind(&layers_dir.join(d), &target, userns, false).map_err(
            |e| Error::Mount {
                op: "idmapped mount of an image layer at",
                path: target.clone(),
                source: e.errno,
            },
        )?;
        out.push(name);
    }
    Ok(out)
}

/// Detach and remove `container_dir/lower/*` (the idmapped layer mounts: overlay keeps its
/// own references to them once mounted).
fn drop_idmapped_lowers(container_dir: &Path) -> Result<(), Error> {
    let lower = container_dir.join("lower");
    let entries = match fs::read_dir(&lower) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read directory", &lower, e)),
    };
    for ent in entries.flatten() {
        // a bind of the same filesystem: the device number cannot tell it is a mount
        let p = ent.path();
        match umount2(&p, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => {
                return Err(Error::Mount {
                    op: "detach idmapped layer",
                    path: p,
                    source: e,
                });
            }
        }
    }
    remove_any(&lower)
}

/// Mount overlay at `container_dir/rootfs` with the given layer dirs (names under `layers_dir`,
/// top first), idmapped when `idmap` is given. The mount runs in a helper thread with its own
/// cwd (unshare CLONE_FS + chdir to `layers_dir`, or `container_dir` for idmapped layers) so
/// the lowerdir list is short relative names.
pub(crate) fn mount_overlay(
    layers_dir: &Path,
    dirs: &[String],
    container_dir: &Path,
    idmap: Option<IdMappedRoot<'_>>,
) -> Result<PathBuf, Error> {
    let upper = container_dir.join("upper");
    let work = container_dir.join("work");
    let rootfs = container_dir.join("rootfs");
    let empty = container_dir.join("lower-empty");
    for d in [&upper, &work, &rootfs] {
        fs::create_dir_all(d).map_err(|e| Error::io("create directory", d, e))?;
    }
    if is_mountpoint(&rootfs) {
        return Ok(rootfs);
    }
    if dirs.is_empty() {
        fs::create_dir_all(&empty).map_err(|e| Error::io("create directory", &empty, e))?;
    }
    let upper = fs::canonicalize(&upper).map_err(|e| Error::io("resolve", &upper, e))?;
    let work = fs::canonicalize(&work).map_err(|e| Error::io("resolve", &work, e))?;
    let empty_abs = if dirs.is_empty() {
        fs::canonicalize(&empty).map_err(|e| Error::io("resolve", &empty, e))?
    } else {
        empty
    };
    let (dirs, cwd) = match idmap {
        None => (dirs.to_vec(), layers_dir.to_path_buf()),
        Some(m) => {
            nix::unistd::chown(&upper, Some(m.root_uid.into()), Some(m.root_gid.into())).map_err(
                |e| Error::Mount {
                    op: "chown the writable layer for",
                    path: upper.clone(),
                    source: e,
                },
            )?;
            let lowers = idmapped_lowers(layers_dir, dirs, container_dir, m.userns);
            match lowers {
                Ok(l) => (l, container_dir.to_path_buf()),
                Err(e) => {
                    let _ = drop_idmapped_lowers(container_dir);
                    return Err(e);
                }
            }
        }
    };
    let opts = overlay_options(&dirs, &empty_abs, &upper, &work)?;
    let target = rootfs.clone();
    let layers_dir = cwd;
    let res = std::thread::scope(|s| {
        s.spawn(|| -> Result<(), Error> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS).map_err(|e| Error::Mount {
                op: "unshare(CLONE_FS) for",
                path: target.clone(),
                source: e,
            })?;
            nix::unistd::chdir(&layers_dir).map_err(|e| Error::Mount {
                op: "chdir to layers dir for",
                path: layers_dir.clone(),
                source: e,
            })?;
            mount(
                Some("overlay"),
                &target,
                Some("overlay"),
                MsFlags::empty(),
                Some(opts.as_str()),
            )
            .map_err(|e| Error::Mount {
                op: "mount overlay",
                path: target.clone(),
                source: e,
            })
        })
        .join()
        .unwrap_or_else(|_| {
            Err(Error::Mount {
                op: "mount overlay (helper thread panicked)",
                path: target.clone(),
                source: nix::Error::EIO,
            })
        })
    });
    if idmap.is_some() {
        let dropped = drop_idmapped_lowers(container_dir);
        if res.is_ok() {
            dropped?;
        }
    }
    res.map(|()| rootfs)
}

fn remove_any(p: &Path) -> Result<(), Error> {
    let r = match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", p, e)),
    }
}

/// Unmount `container_dir/rootfs` (lazily if busy) and remove the rootfs, upper and work dirs.
/// Idempotent; leaves `container_dir` itself.
pub fn unmount_rootfs(container_dir: &Path) -> Result<(), Error> {
    let rootfs = container_dir.join("rootfs");
    if is_mountpoint(&rootfs) {
        match umount2(&rootfs, MntFlags::empty()) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(nix::Error::EBUSY) => {
                umount2(&rootfs, MntFlags::MNT_DETACH).map_err(|e| Error::Mount {
                    op: "lazy umount",
                    path: rootfs.clone(),
                    source: e,
                })?
            }
            Err(e) => {
                return Err(Error::Mount {
                    op: "umount",
                    path: rootfs,
                    source: e,
                });
            }
        }
    }
    drop_idmapped_lowers(container_dir)?;
    if is_mountpoint(&rootfs) {
        return Err(Error::Mount {
            op: "umount (still mounted)",
            path: rootfs,
            source: nix::Error::EBUSY,
        });
    }
    match fs::remove_dir(&rootfs) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", &rootfs, e)),
    }
    for d in ["upper", "work", "lower-empty", MARKER] {
        remove_any(&container_dir.join(d))?;
    }
    Ok(())
}

/// Bytes (allocated blocks) and inodes under `path`, each inode counted once, not crossing
/// into other filesystems. A missing path is (0, 0).
pub(crate) fn disk_usage(path: &Path) -> Result<(u64, u64), Error> {
    let top = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(Error::io("lstat", path, e)),
    };
    let dev = top.dev();
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let (mut bytes, mut inodes) = (0u64, 0u64);
    let mut stack = vec![(path.to_path_buf(), top)];
    while let Some((p, m)) = stack.pop() {
        if seen.insert((m.dev(), m.ino())) {
            bytes += m.blocks() * 512;
            inodes += 1;
        }
        if m.is_dir() && m.dev() == dev {
            let rd = match fs::read_dir(&p) {
                Ok(rd) => rd,
                // entries may vanish while we walk (containers write)
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("read directory", &p, e)),
            };
            for ent in rd.flatten() {
                if let Ok(md) = ent.metadata() {
                    stack.push((ent.path(), md));
                }
            }
        }
    }
    Ok((bytes, inodes))
}

/// Bytes and inodes used by the container's writable layer (`container_dir/upper`).
pub fn writable_usage(container_dir: &Path) -> Result<(u64, u64), Error> {
    disk_usage(&container_dir.join("upper"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = overlay_options(
            &["aaaa".into(), "bbbb".into()],
            Path::new("/c/lower-empty"),
            Path::new("/c/upper"),
            Path::new("/c/work"),
        )
        .unwrap();
        assert_eq!(o, "lowerdir=aaaa:bbbb,upperdir=/c/upper,workdir=/c/work");
        let o = overlay_options(
            &[],
            Path::new("/c/lower-empty"),
            Path::new("/c/upper"),
            Path::new("/c/work"),
        )
        .unwrap();
        assert!(o.starts_with("lowerdir=/c/lower-empty,"));
        let many: Vec<String> = (0..300).map(|i| format!("{i:016x}")).collect();
        assert!(overlay_options(&many, Path::new("/e"), Path::new("/u"), Path::new("/w")).is_err());
        assert!(
            overlay_options(&[], Path::new("/e"), Path::new("/a:b/u"), Path::new("/w")).is_err()
        );
    }

    #[test]
    fn usage_counts_hardlinks_once() {
        let d = tempfile::tempdir().unwrap();
        let u = d.path().join("upper");
        fs::create_dir(&u).unwrap();
        fs::write(u.join("a"), vec![1u8; 10000]).unwrap();
        fs::hard_link(u.join("a"), u.join("b")).unwrap();
        fs::create_dir(u.join("sub")).unwrap();
        let (bytes, inodes) = writable_usage(d.path()).unwrap();
        assert_eq!(inodes, 3); // upper, a(=b), sub
        assert!(bytes >= 10000, "bytes {bytes}");
        assert_eq!(writable_usage(&d.path().join("missing")).unwrap(), (0, 0));
    }

    #[test]
    fn unmount_is_idempotent_without_mount() {
        let d = tempfile::tempdir().unwrap();
        for s in ["upper/x", "work", "rootfs"] {
            fs::create_dir_all(d.path().join(s)).unwrap();
        }
        fs::write(d.path().join(MARKER), b"{}").unwrap();
        unmount_rootfs(d.path()).unwrap();
        unmount_rootfs(d.path()).unwrap();
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
