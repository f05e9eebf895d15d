//! End to end: an in-process registry (bearer auth, manifest list, mirror path prefix) →
//! pull → list/get/remove → overlay rootfs → unmount → garbage collection. Needs root (mknod
//! whiteouts, chown, overlay mounts); skips itself otherwise.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use outrigger_images::{
    Error, ImageStore, RegistryConfig, oci_arch, unmount_rootfs, writable_usage,
};
use sha2::{Digest as _, Sha256};

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A tar of (path, contents or None for a directory).
fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(vec![]);
    for (path, body) in entries {
        let mut h = tar::Header::new_gnu();
        match body {
            Some(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                h.set_mode(0o755);
                b.append_data(&mut h, path, *data).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_mode(0o755);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

#[derive(Default)]
struct Registry {
    /// path → (content type, body)
    content: HashMap<String, (String, Vec<u8>)>,
    log: Vec<String>,
    /// Demand basic auth (bob:pw) instead of a bearer token.
    basic: bool,
}

type Shared = Arc<Mutex<Registry>>;

async fn handle(
    reg: Shared,
    addr: SocketAddr,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    let resp = |code: StatusCode, body: Vec<u8>| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = code;
        r
    };
    if path == "/token" {
        reg.lock()
            .unwrap()
            .log
            .push(format!("token?{}", req.uri().query().unwrap_or("")));
        return Ok(resp(StatusCode::OK, br#"{"token":"good-token"}"#.to_vec()));
    }
    let basic = reg.lock().unwrap().basic;
    let want = if basic {
        "Basic Ym9iOnB3"
    } else {
        "Bearer good-token"
    }; // bob:pw
    let authed = req
        .headers()
        .get("authorization")
        .map(|v| v == want)
        .unwrap_or(false);
    if !authed && basic {
        let mut r = resp(StatusCode::UNAUTHORIZED, b"{}".to_vec());
        r.headers_mut()
            .insert("www-authenticate", r#"Basic realm="test""#.parse().unwrap());
        return Ok(r);
    }
    if !authed {
        let mut r = resp(StatusCode::UNAUTHORIZED, b"{}".to_vec());
        r.headers_mut().insert(
            "www-authenticate",
            format!(r#"Bearer realm="http://{addr}/token",service="test-registry""#)
                .parse()
                .unwrap(),
        );
        return Ok(r);
    }
    let mut g = reg.lock().unwrap();
    g.log.push(path.clone());
    Ok(match g.content.get(&path) {
        Some((ct, body)) => {
            let mut r = resp(StatusCode::OK, body.clone());
            r.headers_mut().insert("content-type", ct.parse().unwrap());
            r
        }
        None => resp(StatusCode::NOT_FOUND, b"{\"errors\":[]}".to_vec()),
    })
}

async fn serve(reg: Shared) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let reg = reg.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(reg.clone(), addr, req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

/// A user namespace mapping 0..65536 to 400000.., held by a child killed on drop.
struct UserNs(std::process::Child, std::os::fd::OwnedFd);
impl Drop for UserNs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn userns() -> UserNs {
    let child = std::process::Command::new("unshare")
        .args(["--user", "sleep", "60"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let mine = std::fs::read_link("/proc/self/ns/user").unwrap();
    for _ in 0..200 {
        if std::fs::read_link(format!("/proc/{pid}/ns/user")).is_ok_and(|t| t != mine) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    for f in ["uid_map", "gid_map"] {
        std::fs::write(format!("/proc/{pid}/{f}"), "0 400000 65536").unwrap();
    }
    let fd = std::fs::File::open(format!("/proc/{pid}/ns/user")).unwrap();
    UserNs(child, fd.into())
}

/// The rootfs of a container in a user namespace: layer files show as the mapped ids, the
/// writable layer's root and copied-up files belong to the container's root, the layers on
/// disk are unchanged, and no idmapped layer mount is left in the mount table.
fn idmapped_rootfs(store: &ImageStore, image: &str) {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let ns = userns();
    let cdir = tempfile::tempdir().unwrap();
    let guard = MountGuard(cdir.path().to_path_buf());
    let map = outrigger_images::IdMappedRoot {
        userns: ns.1.as_fd(),
        root_uid: 400000,
        root_gid: 400000,
    };
    let rootfs = store
        .mount_rootfs_mapped(image, cdir.path(), Some(map))
        .unwrap();
    let hello = std::fs::metadata(rootfs.join("bin/hello")).unwrap();
    assert_eq!((hello.uid(), hello.gid()), (400000, 400000));
    assert_eq!(std::fs::metadata(&rootfs).unwrap().uid(), 400000);
    assert_eq!(std::fs::read(rootfs.join("bin/hello")).unwrap(), b"hello");
    assert!(!rootfs.join("etc/gone").exists());
    std::fs::write(rootfs.join("etc/added"), b"changed").unwrap();
    assert_eq!(
        std::fs::metadata(cdir.path().join("upper/etc/added"))
            .unwrap()
            .uid(),
        400000,
        "copy-up keeps the mapped owner"
    );
    assert!(!cdir.path().join("lower").exists());
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mi.contains(&cdir.path().join("lower").display().to_string()),
        "idmapped layer mounts left behind"
    );
    unmount_rootfs(cdir.path()).unwrap();
    assert!(!mounted(&rootfs));
    drop(guard);
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct MountGuard(PathBuf);
impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
        let _ = unmount_rootfs(&self.0);
    }
}

fn mounted(p: &Path) -> bool {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let s = p.to_string_lossy().into_owned();
    mi.lines().any(|l| l.split(' ').nth(4) == Some(s.as_str()))
}

struct Built {
    config: String,
    index: String,
    blobs: Vec<String>,
}

/// Put an image (two layers, the second whiting out a file of the first) under `repo` with
/// `tag`, as an index listing this node's arch plus a foreign one.
fn add_image(reg: &mut Registry, prefix: &str, repo: &str, tag: &str, marker: &[u8]) -> Built {
    add_image_typed(reg, prefix, repo, tag, marker, false)
}

/// [`add_image`] with Docker schema 2 media types when `docker`.
fn add_image_typed(
    reg: &mut Registry,
    prefix: &str,
    repo: &str,
    tag: &str,
    marker: &[u8],
    docker: bool,
) -> Built {
    let l1 = tar_of(&[
        ("bin", None),
        ("bin/hello", Some(marker)),
        ("etc", None),
        ("etc/gone", Some(b"x")),
    ]);
    let l2 = tar_of(&[("etc/.wh.gone", Some(b"")), ("etc/added", Some(b"y"))]);
    let (g1, g2) = (gzip(&l1), gzip(&l2));
    let config = format!(
        r#"{{"architecture":"{}","os":"linux","config":{{"User":"1002","Cmd":["/bin/hello"],"Env":["A=b"]}},"rootfs":{{"type":"layers","diff_ids":["{}","{}"]}}}}"#,
        oci_arch(std::env::consts::ARCH),
        sha(&l1),
        sha(&l2)
    );
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}},{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
        sha(config.as_bytes()),
        config.len(),
        sha(&g1),
        g1.len(),
        sha(&g2),
        g2.len()
    );
    let manifest = if docker {
        manifest
            .replace(
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
            )
            .replace(
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.docker.container.image.v1+json",
            )
            .replace(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            )
    } else {
        manifest
    };
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{}","size":1,"platform":{{"os":"linux","architecture":"mips64"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"{}"}}}}]}}"#,
        "0".repeat(64),
        sha(manifest.as_bytes()),
        manifest.len(),
        oci_arch(std::env::consts::ARCH)
    );
    let index = if docker {
        index
            .replace(
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            )
            .replace(
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
            )
    } else {
        index
    };
    let base = if prefix.is_empty() {
        format!("/v2/{repo}")
    } else {
        format!("/v2/{prefix}/{repo}")
    };
    let (idx_t, man_t) = if docker {
        (
            "application/vnd.docker.distribution.manifest.list.v2+json".to_string(),
            "application/vnd.docker.distribution.manifest.v2+json".to_string(),
        )
    } else {
        (
            "application/vnd.oci.image.index.v1+json".to_string(),
            "application/vnd.oci.image.manifest.v1+json".to_string(),
        )
    };

    let c = &mut reg.content;
    c.insert(
        format!("{base}/manifests/{tag}"),
        (idx_t.clone(), index.clone().into_bytes()),
    );
    c.insert(
        format!("{base}/manifests/{}", sha(index.as_bytes())),
        (idx_t, index.clone().into_bytes()),
    );
    c.insert(
        format!("{base}/manifests/{}", sha(manifest.as_bytes())),
        (man_t, manifest.clone().into_bytes()),
    );
    let mut blobs = vec![];
    for b in [config.as_bytes().to_vec(), g1, g2] {
        blobs.push(sha(&b));
        c.insert(
            format!("{base}/blobs/{}", sha(&b)),
            ("application/octet-stream".into(), b),
        );
    }
    Built {
        config: sha(config.as_bytes()),
        index: sha(index.as_bytes()),
        blobs,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_mount_remove() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: needs root (whiteout mknod, overlay mount)");
        return;
    }
    let reg: Shared = Arc::default();
    let addr = serve(reg.clone()).await;
    let repo = "k8s-staging-cri-tools/test-image-tag";
    let built = add_image(&mut reg.lock().unwrap(), "gcr.io", repo, "test", b"hello");

    // hosts.toml like hack/cluster writes it
    let hosts = tempfile::tempdir().unwrap();
    std::fs::create_dir(hosts.path().join("gcr.io")).unwrap();
    std::fs::write(
        hosts.path().join("gcr.io/hosts.toml"),
        format!("server = \"http://{addr}/v2/gcr.io\"\noverride_path = true\ncapabilities = [\"pull\", \"resolve\"]\n"),
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path(), RegistryConfig::load(hosts.path()).unwrap()).unwrap();

    // two concurrent pulls of the same image
    let name = format!("gcr.io/{repo}:test");
    let (a, b) = tokio::join!(store.pull(&name, None), store.pull(&name, None));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(a.id, built.config);
    assert_eq!(a.repo_tags, vec![name.clone()]);
    assert_eq!(
        a.repo_digests,
        vec![format!("gcr.io/{repo}@{}", built.index)]
    );
    assert_eq!(a.config.user, "1002");
    assert_eq!(a.config.cmd, vec!["/bin/hello"]);
    {
        let g = reg.lock().unwrap();
        assert!(
            g.log.contains(&format!("/v2/gcr.io/{repo}/manifests/test")),
            "log: {:?}",
            g.log
        );
        assert!(
            g.log
                .iter()
                .any(|l| l.starts_with("token?") && l.contains("scope=repository"))
        );
        for blob in &built.blobs {
            let n = g.log.iter().filter(|l| l.ends_with(blob.as_str())).count();
            assert_eq!(n, 1, "blob {blob} fetched {n} times");
        }
    }
    // queries
    assert_eq!(store.list().len(), 1);
    assert_eq!(store.get(&name).unwrap().id, a.id);
    assert_eq!(store.get(&a.id).unwrap().id, a.id);
    assert_eq!(
        store
            .get(&format!("gcr.io/{repo}@{}", built.index))
            .unwrap()
            .id,
        a.id
    );
    assert!(
        store
            .get("gcr.io/k8s-staging-cri-tools/test-image-tag:other")
            .is_none()
    );
    // pull by digest: same image, no new tag
    let c = store
        .pull(&format!("gcr.io/{repo}@{}", built.index), None)
        .await
        .unwrap();
    assert_eq!(c.id, a.id);
    assert_eq!(c.repo_tags, vec![name.clone()]);
    let u = store.fs_usage().unwrap();
    assert!(u.used_bytes > 0 && u.inodes_used > 5, "{u:?}");

    // rootfs
    let cdir = tempfile::tempdir().unwrap();
    let guard = MountGuard(cdir.path().to_path_buf());
    let rootfs = store.mount_rootfs(&a.id, cdir.path()).unwrap();
    assert_eq!(
        store.mount_rootfs(&a.id, cdir.path()).unwrap(),
        rootfs,
        "idempotent"
    );
    assert!(mounted(&rootfs));
    assert_eq!(std::fs::read(rootfs.join("bin/hello")).unwrap(), b"hello");
    assert_eq!(std::fs::read(rootfs.join("etc/added")).unwrap(), b"y");
    assert!(
        !rootfs.join("etc/gone").exists(),
        "whiteout hides the lower file"
    );
    std::fs::write(rootfs.join("written"), b"w").unwrap();
    assert_eq!(
        std::fs::read(cdir.path().join("upper/written")).unwrap(),
        b"w"
    );
    let (bytes, inodes) = writable_usage(cdir.path()).unwrap();
    assert!(bytes > 0 && inodes >= 2, "{bytes} {inodes}");
    idmapped_rootfs(&store, &a.id);

    // removal keeps layers of the mounted rootfs
    store.remove(&name).unwrap();
    assert!(store.list().is_empty());
    assert!(store.get(&a.id).is_none());
    assert_eq!(std::fs::read(rootfs.join("bin/hello")).unwrap(), b"hello");
    assert_eq!(
        std::fs::read_dir(root.path().join("layers"))
            .unwrap()
            .count(),
        2
    );
    unmount_rootfs(cdir.path()).unwrap();
    unmount_rootfs(cdir.path()).unwrap();
    assert!(!mounted(&rootfs));
    assert!(!rootfs.exists());
    drop(guard);
    store.gc().unwrap();
    assert_eq!(
        std::fs::read_dir(root.path().join("layers"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(root.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_content_is_rejected() {
    let reg: Shared = Arc::default();
    let addr = serve(reg.clone()).await;
    let built = add_image(&mut reg.lock().unwrap(), "", "corrupt", "v1", b"x");
    {
        let mut g = reg.lock().unwrap();
        // corrupt a layer blob: same path (its digest), other bytes
        let key = format!("/v2/corrupt/blobs/{}", built.blobs[1]);
        g.content.get_mut(&key).unwrap().1 = gzip(b"tampered");
        // an index with only a foreign platform
        let idx = br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1,"platform":{"os":"linux","architecture":"mips64"}}]}"#;
        g.content.insert(
            "/v2/nomatch/manifests/v1".into(),
            (
                "application/vnd.oci.image.index.v1+json".into(),
                idx.to_vec(),
            ),
        );
    }
    let root = tempfile::tempdir().unwrap();
    let mut cfg = RegistryConfig::empty();
    // a "localhost" registry served over plain http by explicit config, with an empty prefix
    cfg.add_hosts_toml(
        "localhost:5999",
        &format!("server = \"http://{addr}/v2/\"\noverride_path = true\n"),
    )
    .unwrap();
    let store = ImageStore::open(root.path(), cfg).unwrap();
    let e = store
        .pull("localhost:5999/corrupt:v1", None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "got {e}");
    assert!(
        !root
            .path()
            .join("blobs/sha256")
            .join(&built.blobs[1][7..])
            .exists()
    );
    let e = store
        .pull("localhost:5999/nomatch:v1", None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NoMatchingPlatform { .. }), "got {e}");
    let e = store
        .pull("localhost:5999/missing:v1", None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AllHostsFailed { .. }), "got {e}");
    assert!(e.to_string().contains("404"), "{e}");
    assert!(store.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_docker_media_types() {
    let reg: Shared = Arc::default();
    let addr = serve(reg.clone()).await;
    let built = {
        let mut g = reg.lock().unwrap();
        g.basic = true;
        add_image_typed(&mut g, "", "dock/er", "1", b"d", true)
    };
    let root = tempfile::tempdir().unwrap();
    let mut cfg = RegistryConfig::empty();
    // a dead pull-only mirror first: manifests skip it (no resolve), blobs fall back past it
    cfg.add_hosts_toml(
        "reg.example",
        &format!(
            "server = \"http://{addr}\"\n[host.\"http://127.0.0.1:9\"]\ncapabilities = [\"pull\"]\n"
        ),
    )
    .unwrap();
    let store = ImageStore::open(root.path(), cfg).unwrap();
    let e = store.pull("reg.example/dock/er:1", None).await.unwrap_err();
    assert!(matches!(e, Error::AllHostsFailed { .. }), "got {e}");
    assert!(e.to_string().contains("no credentials"), "{e}");
    assert!(
        !e.to_string().contains("127.0.0.1:9/"),
        "resolve-only request went to a pull-only host: {e}"
    );
    // the docker `auth` field (base64 user:password)
    let auth = outrigger_images::Auth {
        auth: "Ym9iOnB3".into(),
        ..Default::default()
    };
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping the unpack half: whiteouts need root");
        return;
    }
    let img = store
        .pull("reg.example/dock/er:1", Some(&auth))
        .await
        .unwrap();
    assert_eq!(img.id, built.config);
    assert_eq!(img.repo_tags, vec!["reg.example/dock/er:1"]);
    assert_eq!(
        img.repo_digests,
        vec![format!("reg.example/dock/er@{}", built.index)]
    );
}
