//! The new mount API calls (`open_tree`, `move_mount`, `mount_setattr`, Linux 5.12+) used for
//! idmapped mounts (image layers and volumes of pods in a user namespace) and recursively
//! read-only mounts. Thin, safe wrappers: each returns the errno with the call's name.
#![deny(unsafe_code)]

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `MOUNT_ATTR_RDONLY`.
pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
/// `MOUNT_ATTR_IDMAP`.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// A failed call: which one, on what, and the errno.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {errno}", path.display())]
pub struct Error {
    /// The call (`open_tree`, `mount_setattr`, `move_mount`).
    pub op: &'static str,
    /// The path concerned.
    pub path: std::path::PathBuf,
    /// The errno.
    pub errno: nix::Error,
}

fn err(op: &'static str, path: &Path, errno: nix::Error) -> Error {
    Error {
        op,
        path: path.to_path_buf(),
        errno,
    }
}

fn cpath(op: &'static str, p: &Path) -> Result<CString, Error> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| err(op, p, nix::Error::EINVAL))
}

/// `struct mount_attr` of the kernel (four u64 in native byte order).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached copy of the mount at `path` (`open_tree(OPEN_TREE_CLONE)`), with its submounts
/// when `recursive`. It is not attached anywhere until [`attach`]; dropping it unmounts it.
#[allow(unsafe_code)]
pub fn clone_tree(path: &Path, recursive: bool) -> Result<OwnedFd, Error> {
    let c = cpath("open_tree", path)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: open_tree reads the NUL-terminated path and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(err("open_tree", path, nix::Error::last()));
    }
    let fd = i32::try_from(fd).map_err(|_| err("open_tree", path, nix::Error::EBADF))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `mount_setattr` on the mount `tree` (a descriptor from [`clone_tree`] or an `O_PATH` open
/// of a mount point), recursively when `recursive`: sets `set` (with `userns` for
/// [`MOUNT_ATTR_IDMAP`]). `what` names the mount in errors.
#[allow(unsafe_code)]
pub fn set_attr(
    tree: BorrowedFd<'_>,
    what: &Path,
    set: u64,
    userns: Option<BorrowedFd<'_>>,
    recursive: bool,
) -> Result<(), Error> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.map_or(0, |u| u.as_raw_fd() as u64),
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is an empty C string; attr is a live struct of the size we pass.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(err("mount_setattr", what, nix::Error::last()));
    }
    Ok(())
}

/// Attach the detached mount `tree` at `target` (`move_mount`).
#[allow(unsafe_code)]
pub fn attach(tree: BorrowedFd<'_>, target: &Path) -> Result<(), Error> {
    let c = cpath("move_mount", target)?;
    // SAFETY: both paths are NUL-terminated; the descriptors are valid for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            c.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(err("move_mount", target, nix::Error::last()));
    }
    Ok(())
}

/// Mount a copy of `source` at `target` with its ids mapped through the user namespace
/// `userns` (ids stored on disk are shown as the namespace maps them), recursively when
/// `recursive`.
pub fn idmapped_bind(
    source: &Path,
    target: &Path,
    userns: BorrowedFd<'_>,
    recursive: bool,
) -> Result<(), Error> {
    let tree = clone_tree(source, recursive)?;
    set_attr(
        std::os::fd::AsFd::as_fd(&tree),
        source,
        MOUNT_ATTR_IDMAP,
        Some(userns),
        recursive,
    )?;
    attach(std::os::fd::AsFd::as_fd(&tree), target)
}

/// Make the mount at `target` and every mount below it read-only.
pub fn make_recursively_readonly(target: &Path) -> Result<(), Error> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(target)
        .map_err(|e| {
            err(
                "open",
                target,
                nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        })?;
    set_attr(
        std::os::fd::AsFd::as_fd(&f),
        target,
        MOUNT_ATTR_RDONLY,
        None,
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_attr_matches_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<MountAttr>(), 32); // MOUNT_ATTR_SIZE_VER0
    }

    #[test]
    fn errors_name_the_call_and_path() {
        let e = clone_tree(Path::new("/nonexistent/outrigger"), false).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("open_tree /nonexistent/outrigger: "), "{s}");
        let e = cpath("move_mount", Path::new("a\0b")).unwrap_err();
        assert_eq!(e.errno, nix::Error::EINVAL);
    }
}
