//! Named network namespaces (bind-mounted nsfs files) and work inside them.
//!
//! Every operation that has to *enter* a namespace runs on a short-lived helper thread, so the
//! daemon's own threads (tokio workers included) never change their network namespace.

use std::fs::{File, OpenOptions};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::Error;

/// A network namespace kept alive by a bind mount at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetNs {
    /// The nsfs bind mount (e.g. `/run/outrigger/netns/<name>`), usable as `CNI_NETNS`.
    pub path: PathBuf,
}

/// Checks that `value` can be used as a single path component.
pub(crate) fn check_component(what: &'static str, value: &str) -> Result<(), Error> {
    let reason = if value.is_empty() {
        Some("must not be empty")
    } else if value == "." || value == ".." {
        Some("must not be . or ..")
    } else if value.contains('/') || value.contains('\0') {
        Some("must not contain '/' or NUL")
    } else if value.len() > 200 {
        Some("longer than 200 bytes")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            what,
            value: value.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Runs `f` on a fresh thread and returns its result; a panic becomes [`Error::Thread`].
fn on_helper_thread<T, F>(path: &Path, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    let handle = std::thread::Builder::new()
        .name("outrigger-netns".into())
        .spawn(f)
        .map_err(|e| Error::Thread {
            path: path.to_path_buf(),
            reason: format!("spawning: {e}"),
        })?;
    handle.join().map_err(|_| Error::Thread {
        path: path.to_path_buf(),
        reason: "helper thread panicked".into(),
    })?
}

/// Creates a named network namespace file `dir/name`: a helper thread unshares `CLONE_NEWNET`
/// and bind-mounts `/proc/thread-self/ns/net` onto the file, then ends. `lo` is left down (the
/// CNI loopback plugin brings it up during [`crate::Cni::setup`]).
pub fn create_netns(dir: &Path, name: &str) -> Result<NetNs, Error> {
    check_component("netns name", name)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))?;
    let path = dir.join(name);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io("creating netns file", &path, e))?;
    let target = path.clone();
    let result = on_helper_thread(&path, move || {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|source| Error::Netns {
            op: "unshare(CLONE_NEWNET)",
            path: target.clone(),
            source,
        })?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|source| Error::Netns {
            op: "bind-mounting /proc/thread-self/ns/net",
            path: target.clone(),
            source,
        })
    });
    match result {
        Ok(()) => Ok(NetNs { path }),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Unmounts (`MNT_DETACH`) and removes a netns file. A missing file, or a file that is not
/// mounted, is not an error.
pub fn remove_netns(path: &Path) -> Result<(), Error> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::ENOENT) | Err(nix::Error::EINVAL) => {}
        Err(source) => {
            return Err(Error::Netns {
                op: "umount2(MNT_DETACH)",
                path: path.to_path_buf(),
                source,
            });
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing netns file", path, e)),
    }
}

/// Runs `f` on a helper thread that has joined the network namespace `netns`; the thread
/// ends afterwards. Sockets created by `f` stay in that namespace.
pub fn run_in_netns<T, F>(netns: &Path, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file = File::open(netns).map_err(|e| Error::io("opening netns", netns, e))?;
    let path = netns.to_path_buf();
    on_helper_thread(netns, move || {
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| Error::Netns {
            op: "setns(CLONE_NEWNET)",
            path,
            source,
        })?;
        Ok(f())
    })
}

/// Connects to `127.0.0.1:port`, then `[::1]:port`, inside the network namespace `netns`
/// (for port-forward). The returned socket keeps its namespace.
pub fn connect_in_netns(netns: &Path, port: u16, timeout: Duration) -> Result<TcpStream, Error> {
    let result = run_in_netns(netns, move || {
        let mut errors = Vec::new();
        for ip in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            let addr = SocketAddr::new(ip, port);
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => return Ok(stream),
                Err(e) => errors.push(format!("{addr}: {e}")),
            }
        }
        Err(errors.join("; "))
    })?;
    result.map_err(|reason| Error::Connect {
        netns: netns.to_path_buf(),
        port,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_names_are_checked() {
        assert!(check_component("x", "abc-123").is_ok());
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            let err = check_component("netns name", bad).unwrap_err();
            assert!(err.to_string().contains("invalid netns name"), "{err}");
        }
        assert!(check_component("x", &"a".repeat(201)).is_err());
    }

    #[test]
    fn create_rejects_bad_name_without_touching_dir() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("netns");
        assert!(matches!(
            create_netns(&sub, "../x"),
            Err(Error::InvalidName { .. })
        ));
        assert!(!sub.exists());
    }

    #[test]
    fn remove_missing_or_unmounted_is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        remove_netns(&missing).unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"").unwrap();
        // Not a mount point: umount2 gives EINVAL (or EPERM when not root).
        match remove_netns(&plain) {
            Ok(()) => assert!(!plain.exists()),
            Err(Error::Netns { source, .. }) => assert_eq!(source, nix::Error::EPERM),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn run_in_missing_netns_fails_cleanly() {
        let err = connect_in_netns(Path::new("/nonexistent/netns"), 80, Duration::from_secs(1))
            .unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }
}
