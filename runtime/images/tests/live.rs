//! Manual check against a real registry through a hosts.toml directory, e.g. the local
//! cluster's: `OUTRIGGER_IMAGES_HOSTS_DIR=/var/lib/outrigger-cluster/containerd/certs.d
//! OUTRIGGER_IMAGES_PULL=docker.io/library/busybox:1.36 cargo test -p outrigger-images --test live`.
//! Skips itself when the variables are not set. Read-only use of the hosts dir; the store lives
//! in a temp dir.
#![allow(clippy::unwrap_used)]

use outrigger_images::{ImageStore, RegistryConfig, unmount_rootfs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_pull() {
    let (Ok(hosts), Ok(reference)) = (
        std::env::var("OUTRIGGER_IMAGES_HOSTS_DIR"),
        std::env::var("OUTRIGGER_IMAGES_PULL"),
    ) else {
        eprintln!("skipping: set OUTRIGGER_IMAGES_HOSTS_DIR and OUTRIGGER_IMAGES_PULL");
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let cfg = RegistryConfig::load(std::path::Path::new(&hosts)).unwrap();
    let store = ImageStore::open(root.path(), cfg).unwrap();
    let t = std::time::Instant::now();
    let img = store.pull(&reference, None).await.unwrap();
    eprintln!("pulled {reference} in {:?}: {img:#?}", t.elapsed());
    assert!(img.id.starts_with("sha256:"));
    if nix::unistd::geteuid().is_root() {
        let cdir = tempfile::tempdir().unwrap();
        let rootfs = store.mount_rootfs(&img.id, cdir.path()).unwrap();
        let n = std::fs::read_dir(&rootfs).unwrap().count();
        eprintln!("rootfs has {n} top-level entries");
        unmount_rootfs(cdir.path()).unwrap();
        assert!(n > 0);
    }
    store.remove(&img.id).unwrap();
}
