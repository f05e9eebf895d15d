//! The image store: pulls, content store, metadata, queries and garbage collection.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::manifest::{
    Descriptor, Doc, DocKind, ImageConfig, oci_arch, parse_config, select_platform,
};
use crate::reference::{Reference, normalize_reference, validate_digest};
use crate::registry::{Client, Kind, tmp_path};
use crate::unpack::{UnpackOptions, unpack_layer};
use crate::{Auth, Error, RegistryConfig};

/// An image as the CRI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `sha256:<config digest>`.
    pub id: String,
    /// `name:tag` references pointing at it.
    pub repo_tags: Vec<String>,
    /// `name@sha256:<manifest digest>` references.
    pub repo_digests: Vec<String>,
    /// Size in bytes (config + compressed layers).
    pub size: u64,
    /// The config's CRI-relevant fields.
    pub config: ImageConfig,
    /// Never garbage collected by the kubelet.
    pub pinned: bool,
}

/// Filesystem usage of the image store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsUsage {
    /// The store root.
    pub mountpoint: PathBuf,
    /// Bytes allocated under it.
    pub used_bytes: u64,
    /// Inodes under it.
    pub inodes_used: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImageRecord {
    image: Image,
    /// diff_ids, bottom layer first.
    layers: Vec<String>,
    /// Every blob digest it uses (manifests, config, layers).
    blobs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LayerRecord {
    /// Directory name under `<root>/layers`.
    dir: String,
    /// Uncompressed size.
    size: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    images: BTreeMap<String, ImageRecord>,
    layers: BTreeMap<String, LayerRecord>,
}

/// The rootfs marker a mounted container dir holds (see `rootfs.rs`).
pub(crate) const MARKER: &str = ".outrigger-rootfs.json";

/// What `<root>/mounts/<key>.json` and `<container_dir>/.outrigger-rootfs.json` record.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct MountRecord {
    pub container_dir: PathBuf,
    pub layers: Vec<String>,
}

/// The image service state. `Send + Sync`; share it in an `Arc`.
pub struct ImageStore {
    root: PathBuf,
    client: Client,
    meta: Mutex<Meta>,
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    active_pulls: AtomicUsize,
}

/// Decrements the active pull count when a pull ends (even by error or cancellation).
struct PullGuard<'a>(&'a AtomicUsize);

impl Drop for PullGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Write `data` to `path` atomically (temp file, fsync, rename).
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), Error> {
    let tmp = tmp_path(path);
    let r = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("write", path, e));
    }
    Ok(())
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The layer directory name of a diff_id: 16 hex digits keep overlay options short.
fn layer_dir_name(diff_id: &str) -> String {
    hex_of(diff_id).chars().take(16).collect()
}

/// What a finished pull adds to the metadata.
struct NewImage {
    id: String,
    tag: Option<String>,
    repo_digest: String,
    blobs: Vec<String>,
    size: u64,
    config: ImageConfig,
    diff_ids: Vec<String>,
}

/// Record a pulled image: tags move (a tag is taken from any other image), digests and blobs
/// are merged into an existing record of the same id.
fn record_image(m: &mut Meta, n: NewImage) -> Image {
    if let Some(t) = &n.tag {
        for (oid, rec) in m.images.iter_mut() {
            if *oid != n.id {
                rec.image.repo_tags.retain(|x| x != t);
            }
        }
    }
    let rec = m.images.entry(n.id.clone()).or_insert_with(|| ImageRecord {
        image: Image {
            id: n.id.clone(),
            repo_tags: vec![],
            repo_digests: vec![],
            size: n.size,
            config: n.config,
            pinned: false,
        },
        layers: n.diff_ids,
        blobs: vec![],
    });
    if let Some(t) = n.tag {
        if !rec.image.repo_tags.contains(&t) {
            rec.image.repo_tags.push(t);
        }
    }
    if !rec.image.repo_digests.contains(&n.repo_digest) {
        rec.image.repo_digests.push(n.repo_digest);
    }
    for b in n.blobs {
        if !rec.blobs.contains(&b) {
            rec.blobs.push(b);
        }
    }
    rec.image.clone()
}

impl ImageStore {
    /// Open (creating) the store at `root`. Cleans leftovers of interrupted pulls and collects
    /// garbage.
    pub fn open(root: &Path, registry: RegistryConfig) -> Result<Self, Error> {
        for d in ["blobs/sha256", "layers", "mounts"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| Error::io("create directory", &p, e))?;
        }
        let mpath = root.join("metadata.json");
        let meta = match fs::read(&mpath) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Metadata {
                path: mpath.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(Error::io("read", &mpath, e)),
        };
        for d in ["blobs/sha256", "layers", "mounts"] {
            let p = root.join(d);
            for ent in fs::read_dir(&p)
                .map_err(|e| Error::io("read directory", &p, e))?
                .flatten()
            {
                if ent.file_name().to_string_lossy().starts_with(".tmp-") {
                    let path = ent.path();
                    let _ = if path.is_dir() {
                        fs::remove_dir_all(&path)
                    } else {
                        fs::remove_file(&path)
                    };
                }
            }
        }
        let s = ImageStore {
            root: root.to_path_buf(),
            client: Client::new(registry),
            meta: Mutex::new(meta),
            inflight: Mutex::new(HashMap::new()),
            active_pulls: AtomicUsize::new(0),
        };
        s.gc()?;
        Ok(s)
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> MutexGuard<'_, Meta> {
        self.meta.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, m: &Meta) -> Result<(), Error> {
        let path = self.root.join("metadata.json");
        let data = serde_json::to_vec_pretty(m).map_err(|e| Error::Metadata {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, &data)
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex_of(digest))
    }

    fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Make sure blob `d` is in the content store (downloading once even when asked concurrently).
    async fn ensure_blob(
        &self,
        r: &Reference,
        d: &Descriptor,
        auth: Option<&Auth>,
    ) -> Result<PathBuf, Error> {
        validate_digest(&d.digest)?;
        let path = self.blob_path(&d.digest);
        let lock = self.flight(&d.digest);
        let _g = lock.lock().await;
        if path.exists() {
            return Ok(path);
        }
        self.client
            .blob_to_file(r, &d.digest, (d.size > 0).then_some(d.size), &path, auth)
            .await?;
        Ok(path)
    }

    fn store_bytes(&self, digest: &str, data: &[u8]) -> Result<(), Error> {
        let path = self.blob_path(digest);
        if !path.exists() {
            write_atomic(&path, data)?;
        }
        Ok(())
    }

    /// Download and unpack one layer (once).
    async fn ensure_layer(
        &self,
        r: &Reference,
        d: &Descriptor,
        diff_id: &str,
        auth: Option<&Auth>,
    ) -> Result<(), Error> {
        let blob = self.ensure_blob(r, d, auth).await?;
        let lock = self.flight(&format!("layer:{diff_id}"));
        let _g = lock.lock().await;
        let dir = self.root.join("layers").join(layer_dir_name(diff_id));
        if self.lock().layers.contains_key(diff_id) && dir.is_dir() {
            return Ok(());
        }
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| Error::io("remove stale layer", &dir, e))?;
        }
        let (diff, layer, dir2) = (diff_id.to_string(), d.digest.clone(), dir.clone());
        let size = tokio::task::spawn_blocking(move || {
            unpack_layer(&blob, &dir2, &diff, &layer, UnpackOptions::default())
        })
        .await
        .map_err(|e| Error::Layer {
            layer: d.digest.clone(),
            reason: format!("unpack task failed: {e}"),
        })??;
        let mut m = self.lock();
        m.layers.insert(
            diff_id.to_string(),
            LayerRecord {
                dir: layer_dir_name(diff_id),
                size,
            },
        );
        self.save(&m)
    }

    /// Pull `reference` (normalised like the docker CLI) and record it. Returns the image.
    pub async fn pull(&self, reference: &str, auth: Option<&Auth>) -> Result<Image, Error> {
        {
            let _m = self.lock(); // see gc()
            self.active_pulls.fetch_add(1, Ordering::SeqCst);
        }
        let _pg = PullGuard(&self.active_pulls);
        let r = normalize_reference(reference)?;
        let rs = r.to_string();
        let (ct, body, top_digest) = self
            .client
            .manifest(
                &r,
                &r.manifest_ref(),
                Kind::Resolve,
                r.digest.as_deref(),
                auth,
            )
            .await?;
        let (mut doc, kind) = Doc::parse(&body, &ct, &rs)?;
        let mut blobs = vec![top_digest.clone()];
        self.store_bytes(&top_digest, &body)?;
        if kind == DocKind::Index {
            let arch = oci_arch(std::env::consts::ARCH);
            let list = doc.manifests.clone().unwrap_or_default();
            let chosen = select_platform(&list, arch, &rs)?;
            validate_digest(&chosen.digest)?;
            let (ct2, body2, d2) = self
                .client
                .manifest(&r, &chosen.digest, Kind::Pull, Some(&chosen.digest), auth)
                .await?;
            let (doc2, kind2) = Doc::parse(&body2, &ct2, &rs)?;
            if kind2 != DocKind::Manifest {
                return Err(Error::InvalidManifest {
                    what: "manifest".to_string(),
                    reference: rs,
                    reason: format!("index entry {d2} is itself an index"),
                });
            }
            self.store_bytes(&d2, &body2)?;
            blobs.push(d2);
            doc = doc2;
        }
        let bad = |reason: String| Error::InvalidManifest {
            what: "manifest".to_string(),
            reference: rs.clone(),
            reason,
        };
        let config_desc = doc
            .config
            .clone()
            .ok_or_else(|| bad("no config".to_string()))?;
        let layers = doc.layers.clone().unwrap_or_default();
        let config_path = self.ensure_blob(&r, &config_desc, auth).await?;
        let config_bytes =
            fs::read(&config_path).map_err(|e| Error::io("read", &config_path, e))?;
        let (config, diff_ids) = parse_config(&config_bytes, &rs)?;
        if diff_ids.len() != layers.len() {
            return Err(bad(format!(
                "{} layers but the config lists {} diff_ids",
                layers.len(),
                diff_ids.len()
            )));
        }
        futures::future::try_join_all(
            layers
                .iter()
                .zip(&diff_ids)
                .map(|(d, diff)| self.ensure_layer(&r, d, diff, auth)),
        )
        .await?;
        blobs.push(config_desc.digest.clone());
        blobs.extend(layers.iter().map(|l| l.digest.clone()));
        let id = config_desc.digest.clone();
        let size = config_desc.size + layers.iter().map(|l| l.size).sum::<u64>();
        let repo_digest = format!("{}@{}", r.name(), top_digest);
        let mut m = self.lock();
        let image = record_image(
            &mut m,
            NewImage {
                id,
                tag: r.repo_tag(),
                repo_digest,
                blobs,
                size,
                config,
                diff_ids,
            },
        );
        self.save(&m)?;
        tracing::info!(reference = %rs, id = %image.id, size = image.size, "pulled image");
        Ok(image)
    }

    /// All images.
    pub fn list(&self) -> Vec<Image> {
        self.lock()
            .images
            .values()
            .map(|r| r.image.clone())
            .collect()
    }

    fn find_id(m: &Meta, name_or_id: &str) -> Option<String> {
        let full = if name_or_id.len() == 64 && !name_or_id.contains(':') {
            format!("sha256:{name_or_id}")
        } else {
            name_or_id.to_string()
        };
        if m.images.contains_key(&full) {
            return Some(full);
        }
        let r = normalize_reference(name_or_id).ok()?;
        let want_digest = r.digest.as_ref().map(|d| format!("{}@{}", r.name(), d));
        let want_tag = r.repo_tag();
        m.images
            .values()
            .find(|rec| match &want_digest {
                Some(d) => rec.image.repo_digests.contains(d),
                None => want_tag
                    .as_ref()
                    .map(|t| rec.image.repo_tags.contains(t))
                    .unwrap_or(false),
            })
            .map(|rec| rec.image.id.clone())
    }

    /// Find an image by full id (`sha256:<hex>` or the bare hex), repo tag or repo digest.
    pub fn get(&self, name_or_id: &str) -> Option<Image> {
        let m = self.lock();
        Self::find_id(&m, name_or_id).and_then(|id| m.images.get(&id).map(|r| r.image.clone()))
    }

    /// The config of image `name_or_id`.
    pub fn config(&self, name_or_id: &str) -> Option<ImageConfig> {
        self.get(name_or_id).map(|i| i.config)
    }

    /// Mark images pinned (the kubelet never removes them); others become unpinned.
    pub fn set_pinned(&self, names: &[String]) -> Result<(), Error> {
        let mut m = self.lock();
        let ids: BTreeSet<String> = names.iter().filter_map(|n| Self::find_id(&m, n)).collect();
        for (id, rec) in m.images.iter_mut() {
            rec.image.pinned = ids.contains(id);
        }
        self.save(&m)
    }

    /// Remove the image (all its tags and digests) and collect unused blobs and layers.
    /// Removing a missing image is not an error.
    pub fn remove(&self, name_or_id: &str) -> Result<(), Error> {
        {
            let mut m = self.lock();
            let Some(id) = Self::find_id(&m, name_or_id) else {
                return Ok(());
            };
            m.images.remove(&id);
            self.save(&m)?;
            tracing::info!(image = name_or_id, %id, "removed image");
        }
        self.gc()
    }

    /// Layer diff_ids used by live rootfs mounts (stale mount records are deleted).
    fn live_mount_layers(&self) -> Result<BTreeSet<String>, Error> {
        let dir = self.root.join("mounts");
        let mut out = BTreeSet::new();
        for ent in fs::read_dir(&dir)
            .map_err(|e| Error::io("read directory", &dir, e))?
            .flatten()
        {
            let p = ent.path();
            let rec: Option<MountRecord> = fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            match rec {
                Some(rec) if rec.container_dir.join(MARKER).exists() => out.extend(rec.layers),
                _ => {
                    let _ = fs::remove_file(&p);
                }
            }
        }
        Ok(out)
    }

    /// Delete blobs and layer dirs no image or mounted rootfs uses. Skipped while pulls run.
    pub fn gc(&self) -> Result<(), Error> {
        // Under the metadata lock: pulls register themselves under it too, and mount_rootfs
        // writes its mount record under it, so neither races with the sweep.
        let mut m = self.lock();
        if self.active_pulls.load(Ordering::SeqCst) > 0 {
            return Ok(());
        }
        let live = self.live_mount_layers()?;
        let mut blobs: BTreeSet<String> = BTreeSet::new();
        let mut layers: BTreeSet<String> = live;
        for rec in m.images.values() {
            blobs.extend(rec.blobs.iter().map(|b| hex_of(b).to_string()));
            layers.extend(rec.layers.iter().cloned());
        }
        m.layers.retain(|k, _| layers.contains(k));
        let keep_dirs: BTreeSet<String> = m.layers.values().map(|l| l.dir.clone()).collect();
        self.save(&m)?;
        let bdir = self.root.join("blobs/sha256");
        for ent in fs::read_dir(&bdir)
            .map_err(|e| Error::io("read directory", &bdir, e))?
            .flatten()
        {
            let n = ent.file_name().to_string_lossy().into_owned();
            if !n.starts_with(".tmp-") && !blobs.contains(&n) {
                let _ = fs::remove_file(ent.path());
            }
        }
        let ldir = self.root.join("layers");
        for ent in fs::read_dir(&ldir)
            .map_err(|e| Error::io("read directory", &ldir, e))?
            .flatten()
        {
            let n = ent.file_name().to_string_lossy().into_owned();
            if !n.starts_with(".tmp-") && !keep_dirs.contains(&n) {
                let _ = fs::remove_dir_all(ent.path());
            }
        }
        Ok(())
    }

    /// Bytes and inodes used under the store root.
    pub fn fs_usage(&self) -> Result<FsUsage, Error> {
        let (used_bytes, inodes_used) = crate::rootfs::disk_usage(&self.root)?;
        Ok(FsUsage {
            mountpoint: self.root.clone(),
            used_bytes,
            inodes_used,
        })
    }

    /// Layer directory names of an image, top layer first, and its diff_ids.
    fn layer_dirs(m: &Meta, name_or_id: &str) -> Result<(Vec<String>, Vec<String>), Error> {
        let id =
            Self::find_id(m, name_or_id).ok_or_else(|| Error::NotFound(name_or_id.to_string()))?;
        let rec = m
            .images
            .get(&id)
            .ok_or_else(|| Error::NotFound(name_or_id.to_string()))?;
        let mut dirs = vec![];
        for d in rec.layers.iter().rev() {
            let l = m.layers.get(d).ok_or_else(|| Error::Layer {
                layer: d.clone(),
                reason: format!("image {id} lists a layer that is not unpacked"),
            })?;
            dirs.push(l.dir.clone());
        }
        Ok((dirs, rec.layers.clone()))
    }

    /// Mount the image's rootfs at `container_dir/rootfs` (overlay; upper and work dirs in
    /// `container_dir`). Idempotent. The layers stay until [`crate::unmount_rootfs`].
    pub fn mount_rootfs(&self, image: &str, container_dir: &Path) -> Result<PathBuf, Error> {
        self.mount_rootfs_mapped(image, container_dir, None)
    }

    /// [`Self::mount_rootfs`] for a container in a user namespace when `idmap` is given: the
    /// layers are seen through idmapped mounts, so their files belong to the container's ids.
    pub fn mount_rootfs_mapped(
        &self,
        image: &str,
        container_dir: &Path,
        idmap: Option<crate::IdMappedRoot<'_>>,
    ) -> Result<PathBuf, Error> {
        // Held until the mount record is written, so gc cannot sweep these layers meanwhile.
        let m = self.lock();
        let (dirs, diff_ids) = Self::layer_dirs(&m, image)?;
        let key = {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(
                container_dir.as_os_str().as_encoded_bytes(),
            ))
        };
        let rec = MountRecord {
            container_dir: container_dir.to_path_buf(),
            layers: diff_ids,
        };
        let data = serde_json::to_vec(&rec).map_err(|e| Error::Metadata {
            path: container_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        fs::create_dir_all(container_dir)
            .map_err(|e| Error::io("create directory", container_dir, e))?;
        // Marker first, so a concurrent gc never removes layers of a mount in progress.
        write_atomic(&container_dir.join(MARKER), &data)?;
        let record = self
            .root
            .join("mounts")
            .join(format!("{}.json", &key[..32]));
        let res = write_atomic(&record, &data);
        drop(m);
        let res = res.and_then(|()| {
            crate::rootfs::mount_overlay(&self.root.join("layers"), &dirs, container_dir, idmap)
        });
        if res.is_err() {
            // not mounted: the layers need not be kept for it
            let _ = fs::remove_file(container_dir.join(MARKER));
            let _ = fs::remove_file(&record);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: char, tags: &[&str]) -> ImageRecord {
        ImageRecord {
            image: Image {
                id: format!("sha256:{}", id.to_string().repeat(64)),
                repo_tags: tags.iter().map(|s| s.to_string()).collect(),
                repo_digests: vec![format!("docker.io/library/x@sha256:{}", "f".repeat(64))],
                size: 1,
                config: ImageConfig {
                    user: "1002".into(),
                    ..Default::default()
                },
                pinned: false,
            },
            layers: vec![],
            blobs: vec![],
        }
    }

    #[test]
    fn metadata_round_trip_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = ImageStore::open(dir.path(), RegistryConfig::empty()).unwrap();
            let mut m = s.lock();
            let r = rec('a', &["docker.io/library/busybox:latest"]);
            m.images.insert(r.image.id.clone(), r);
            s.save(&m).unwrap();
        }
        let s = ImageStore::open(dir.path(), RegistryConfig::empty()).unwrap();
        let id = format!("sha256:{}", "a".repeat(64));
        assert_eq!(s.list().len(), 1);
        assert_eq!(s.get(&id).unwrap().config.user, "1002");
        assert_eq!(s.get(&"a".repeat(64)).unwrap().id, id);
        assert_eq!(s.get("busybox").unwrap().id, id);
        assert_eq!(s.get("docker.io/library/busybox:latest").unwrap().id, id);
        assert_eq!(
            s.get(&format!("x@sha256:{}", "f".repeat(64))).unwrap().id,
            id
        );
        assert!(s.get("busybox:other").is_none());
        assert!(s.get("aaaa").is_none(), "prefixes are not ids");
        s.set_pinned(&["busybox".to_string()]).unwrap();
        assert!(s.get(&id).unwrap().pinned);
        s.remove("busybox").unwrap();
        assert!(s.list().is_empty());
        s.remove("busybox").unwrap(); // missing is fine
        // persisted
        let s = ImageStore::open(dir.path(), RegistryConfig::empty()).unwrap();
        assert!(s.list().is_empty());
    }

    fn new_image(id: char, tag: &str, digest: char) -> NewImage {
        NewImage {
            id: format!("sha256:{}", id.to_string().repeat(64)),
            tag: Some(tag.to_string()),
            repo_digest: format!(
                "docker.io/library/x@sha256:{}",
                digest.to_string().repeat(64)
            ),
            blobs: vec![format!("sha256:{}", id.to_string().repeat(64))],
            size: 5,
            config: ImageConfig::default(),
            diff_ids: vec![],
        }
    }

    #[test]
    fn tags_move_between_images() {
        let mut m = Meta::default();
        let a = record_image(&mut m, new_image('a', "docker.io/library/x:1", 'c'));
        assert_eq!(a.repo_tags, vec!["docker.io/library/x:1"]);
        record_image(&mut m, new_image('a', "docker.io/library/x:2", 'c'));
        let b = record_image(&mut m, new_image('b', "docker.io/library/x:1", 'd'));
        assert_eq!(b.repo_tags, vec!["docker.io/library/x:1"]);
        let a = &m.images[&format!("sha256:{}", "a".repeat(64))].image;
        assert_eq!(a.repo_tags, vec!["docker.io/library/x:2"], "x:1 moved to b");
        assert_eq!(a.repo_digests.len(), 1, "same digest not duplicated");
        // the old image stays listed even with no tags left
        record_image(&mut m, new_image('b', "docker.io/library/x:2", 'd'));
        let a = &m.images[&format!("sha256:{}", "a".repeat(64))].image;
        assert!(a.repo_tags.is_empty());
        assert_eq!(m.images.len(), 2);
    }

    #[test]
    fn store_and_pull_future_are_send() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path(), RegistryConfig::empty()).unwrap();
        send_sync(&s);
        send(s.pull("busybox", None)); // usable from tokio::spawn in the gRPC server
    }

    #[test]
    fn mount_of_unknown_image_leaves_no_marker() {
        let dir = tempfile::tempdir().unwrap();
        let cdir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path(), RegistryConfig::empty()).unwrap();
        let e = s.mount_rootfs("busybox", cdir.path()).unwrap_err();
        assert!(
            matches!(e, Error::NotFound(ref n) if n == "busybox"),
            "got {e}"
        );
        assert!(!cdir.path().join(MARKER).exists());
        assert_eq!(fs::read_dir(dir.path().join("mounts")).unwrap().count(), 0);
    }

    #[test]
    fn corrupt_metadata_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("metadata.json"), b"{not json").unwrap();
        assert!(matches!(
            ImageStore::open(dir.path(), RegistryConfig::empty()),
            Err(Error::Metadata { .. })
        ));
    }

    #[test]
    fn gc_removes_unreferenced_blobs_and_layers_and_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path(), RegistryConfig::empty()).unwrap();
        let keep = "1".repeat(64);
        let drop_ = "2".repeat(64);
        fs::write(dir.path().join("blobs/sha256").join(&keep), b"k").unwrap();
        fs::write(dir.path().join("blobs/sha256").join(&drop_), b"d").unwrap();
        fs::create_dir(dir.path().join("layers/1111111111111111")).unwrap();
        fs::create_dir(dir.path().join("layers/2222222222222222")).unwrap();
        {
            let mut m = s.lock();
            let mut r = rec('a', &[]);
            r.blobs = vec![format!("sha256:{keep}")];
            r.layers = vec![format!("sha256:{keep}")];
            m.images.insert(r.image.id.clone(), r);
            m.layers.insert(
                format!("sha256:{keep}"),
                LayerRecord {
                    dir: "1111111111111111".into(),
                    size: 1,
                },
            );
            m.layers.insert(
                format!("sha256:{drop_}"),
                LayerRecord {
                    dir: "2222222222222222".into(),
                    size: 1,
                },
            );
        }
        s.gc().unwrap();
        assert!(dir.path().join("blobs/sha256").join(&keep).exists());
        assert!(!dir.path().join("blobs/sha256").join(&drop_).exists());
        assert!(dir.path().join("layers/1111111111111111").exists());
        assert!(!dir.path().join("layers/2222222222222222").exists());
        // leftovers of a crashed pull vanish at open
        fs::write(dir.path().join("blobs/sha256/.tmp-1-2-x"), b"").unwrap();
        drop(s);
        let _s = ImageStore::open(dir.path(), RegistryConfig::empty()).unwrap();
        assert!(!dir.path().join("blobs/sha256/.tmp-1-2-x").exists());
    }

    #[test]
    fn live_mount_keeps_layers() {
        let dir = tempfile::tempdir().unwrap();
        let cdir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path(), RegistryConfig::empty()).unwrap();
        let l = format!("sha256:{}", "3".repeat(64));
        fs::create_dir(dir.path().join("layers/3333333333333333")).unwrap();
        s.lock().layers.insert(
            l.clone(),
            LayerRecord {
                dir: "3333333333333333".into(),
                size: 1,
            },
        );
        let rec = serde_json::to_vec(&MountRecord {
            container_dir: cdir.path().to_path_buf(),
            layers: vec![l],
        })
        .unwrap();
        fs::write(cdir.path().join(MARKER), &rec).unwrap();
        fs::write(dir.path().join("mounts/k.json"), &rec).unwrap();
        s.gc().unwrap();
        assert!(dir.path().join("layers/3333333333333333").exists());
        fs::remove_file(cdir.path().join(MARKER)).unwrap();
        s.gc().unwrap();
        assert!(!dir.path().join("layers/3333333333333333").exists());
        assert!(!dir.path().join("mounts/k.json").exists());
    }
}
