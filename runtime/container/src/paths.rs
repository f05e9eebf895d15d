//! Path handling inside a rootfs: resolving a container path the way the kernel would if the
//! rootfs were `/` (so symlinks in an image can't lead outside it), and `$PATH` lookup.

use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Most symlinks followed while resolving one path (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// Resolves `path` (a path inside the container) to a host path under `root`, following
/// symlinks component by component with `root` acting as `/`: `..` never climbs above
/// `root` and absolute link targets restart at `root`. Components that don't exist are
/// kept literally (so the result can be created). The result always starts with `root`.
pub fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf> {
    let mut todo: VecDeque<OsString> = components(path);
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0usize;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            done.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&done);
        candidate.push(&c);
        let meta = match std::fs::symlink_metadata(&candidate) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                done.push(c);
                continue;
            }
            Err(e) => return Err(Error::io("inspecting", candidate, e)),
        };
        if !meta.file_type().is_symlink() {
            done.push(c);
            continue;
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(Error::SymlinkLoop {
                path: path.to_path_buf(),
                root: root.to_path_buf(),
            });
        }
        let target = std::fs::read_link(&candidate)
            .map_err(|e| Error::io("reading symlink", &candidate, e))?;
        if target.is_absolute() {
            done.clear();
        }
        for t in components(&target).into_iter().rev() {
            todo.push_front(t);
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&done);
    Ok(out)
}

/// The normal and `..` components of a path (root and `.` dropped).
fn components(p: &Path) -> VecDeque<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// The value of `PATH` in an OCI env list, or the usual default.
pub fn path_env(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
}

/// Finds the executable `name` as the container would: names with a `/` are used as they are
/// (relative to `cwd`), others are searched in `path`'s directories. `root` is the container's
/// root on the host (`/` after pivot_root). Returns the path inside the container.
pub fn find_executable(root: &Path, name: &str, path: &str, cwd: &Path) -> Result<PathBuf> {
    if name.is_empty() {
        return Err(Error::NoArgs);
    }
    let is_exec = |p: &Path| -> Result<bool> {
        let host = resolve_in_root(root, p)?;
        Ok(std::fs::metadata(host)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false))
    };
    if name.contains('/') {
        let p = cwd.join(name);
        if is_exec(&p)? {
            return Ok(PathBuf::from(name));
        }
        return Err(Error::Spec(format!(
            "exec: {name:?}: no such executable file in the container"
        )));
    }
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = cwd.join(dir).join(name);
        if is_exec(&p)? {
            return Ok(p);
        }
    }
    Err(Error::NotFound(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        std::fs::write(r.join("etc/hosts"), "x").unwrap();
        // evil links pointing outside
        symlink("/etc", r.join("abs")).unwrap();
        symlink("../../../../../tmp", r.join("up")).unwrap();
        symlink("usr/bin", r.join("bin")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();
        symlink("/abs/hosts", r.join("etc/chain")).unwrap();
        d
    }

    #[test]
    fn absolute_links_stay_inside_the_root() {
        let d = rootfs();
        let r = d.path();
        assert_eq!(
            resolve_in_root(r, Path::new("/abs/passwd")).unwrap(),
            r.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("/etc/chain")).unwrap(),
            r.join("etc/hosts")
        );
    }

    #[test]
    fn dotdot_cannot_climb_out() {
        let d = rootfs();
        let r = d.path();
        assert_eq!(
            resolve_in_root(r, Path::new("/up/x")).unwrap(),
            r.join("tmp/x")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("/../../etc/./hosts")).unwrap(),
            r.join("etc/hosts")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("relative/../etc")).unwrap(),
            r.join("etc")
        );
    }

    #[test]
    fn relative_links_and_missing_components() {
        let d = rootfs();
        let r = d.path();
        assert_eq!(
            resolve_in_root(r, Path::new("/bin/sh")).unwrap(),
            r.join("usr/bin/sh")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("/new/dir/x")).unwrap(),
            r.join("new/dir/x")
        );
        assert_eq!(resolve_in_root(r, Path::new("/")).unwrap(), r.to_path_buf());
    }

    #[test]
    fn symlink_loops_are_an_error() {
        let d = rootfs();
        let e = resolve_in_root(d.path(), Path::new("/loop1/x")).unwrap_err();
        assert!(matches!(e, Error::SymlinkLoop { .. }), "{e}");
    }

    #[test]
    fn path_lookup() {
        let d = rootfs();
        let r = d.path();
        let exe = r.join("usr/bin/tool");
        std::fs::write(&exe, "#!").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(r.join("usr/bin/data"), "").unwrap();
        let cwd = Path::new("/");
        assert_eq!(
            find_executable(r, "tool", "/nope:/bin", cwd).unwrap(),
            PathBuf::from("/bin/tool")
        );
        assert_eq!(
            find_executable(r, "/usr/bin/tool", "", cwd).unwrap(),
            PathBuf::from("/usr/bin/tool")
        );
        let e = find_executable(r, "data", "/usr/bin", cwd).unwrap_err();
        assert_eq!(
            e.to_string(),
            "exec: \"data\": executable file not found in $PATH"
        );
        assert!(find_executable(r, "./missing", "/bin", cwd).is_err());
        assert!(matches!(
            find_executable(r, "", "/bin", cwd),
            Err(Error::NoArgs)
        ));
        assert_eq!(path_env(&["A=1".into(), "PATH=/x".into()]), "/x");
        assert!(path_env(&[]).contains("/usr/bin"));
    }
}
