//! Root integration tests on the real kernel: an idmapped bind mount shows the mapped owners,
//! and a recursively read-only mount makes its submounts read-only too.
#![allow(clippy::unwrap_used)]

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

fn root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: needs root");
    false
}

/// Unmounts its paths (lazily, innermost first) when dropped, even if the test failed.
struct Unmount(Vec<PathBuf>);

impl Drop for Unmount {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = umount2(p, MntFlags::MNT_DETACH);
        }
    }
}

/// A user namespace mapping 0..65536 to `host..host+65536`, held by a child we kill on drop.
struct UserNs {
    child: std::process::Child,
    fd: OwnedFd,
}

impl Drop for UserNs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn userns(host: u32) -> UserNs {
    let child = std::process::Command::new("unshare")
        .args(["--user", "sleep", "60"])
        .spawn()
        .expect("unshare --user");
    let pid = child.id();
    let ns = format!("/proc/{pid}/ns/user");
    // wait until the child has unshared
    for _ in 0..200 {
        let mine = std::fs::read_link("/proc/self/ns/user").unwrap();
        if std::fs::read_link(&ns).is_ok_and(|t| t != mine) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::fs::write(format!("/proc/{pid}/uid_map"), format!("0 {host} 65536")).unwrap();
    std::fs::write(format!("/proc/{pid}/gid_map"), format!("0 {host} 65536")).unwrap();
    let fd = OwnedFd::from(std::fs::File::open(&ns).unwrap());
    UserNs { child, fd }
}

fn idmapped_bind_shows_mapped_owners(dir: &Path) {
    let src = dir.join("src");
    let dst = dir.join("dst");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::write(src.join("root-file"), b"x").unwrap();
    std::fs::write(src.join("user-file"), b"y").unwrap();
    nix::unistd::chown(&src.join("user-file"), Some(1000.into()), Some(1001.into())).unwrap();
    let ns = userns(200_000);
    let _guard = Unmount(vec![dst.clone()]);
    outrigger_mountapi::idmapped_bind(&src, &dst, ns.fd.as_fd(), false).unwrap();
    let m = std::fs::metadata(dst.join("root-file")).unwrap();
    assert_eq!((m.uid(), m.gid()), (200_000, 200_000));
    let m = std::fs::metadata(dst.join("user-file")).unwrap();
    assert_eq!((m.uid(), m.gid()), (201_000, 201_001));
    // the source is unchanged
    assert_eq!(std::fs::metadata(src.join("root-file")).unwrap().uid(), 0);
    println!("ok idmapped_bind_shows_mapped_owners");
}

fn recursively_readonly_covers_submounts(dir: &Path) {
    let top = dir.join("rro");
    let sub = top.join("tmpfs");
    std::fs::create_dir_all(&top).unwrap();
    let mut guard = Unmount(vec![top.clone()]);
    mount(
        Some("tmpfs"),
        &top,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    std::fs::create_dir_all(&sub).unwrap();
    guard.0.push(sub.clone());
    mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    std::fs::write(sub.join("before"), b"ok").unwrap();
    outrigger_mountapi::make_recursively_readonly(&top).unwrap();
    for p in [top.join("f"), sub.join("f")] {
        let e = std::fs::write(&p, b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{}", p.display());
    }
    assert_eq!(std::fs::read(sub.join("before")).unwrap(), b"ok");
    println!("ok recursively_readonly_covers_submounts");
}

fn errors_are_reported() {
    let e = outrigger_mountapi::make_recursively_readonly(Path::new("/nonexistent/x")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/x"), "{e}");
    println!("ok errors_are_reported");
}

fn main() {
    errors_are_reported();
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // a private mount namespace is not needed: every mount is undone by its guard
    idmapped_bind_shows_mapped_owners(tmp.path());
    recursively_readonly_covers_submounts(tmp.path());
}
