//! Per-(sandbox, network) cache of what ADD used and returned, so DEL works after restarts.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;
use crate::netns::check_component;

const KIND: &str = "outriggerCniCacheV1";

/// One cache entry: `<cache_dir>/<sandbox id>/<network name>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CacheEntry {
    pub kind: String,
    pub container_id: String,
    pub network_name: String,
    pub if_name: String,
    pub netns: String,
    pub cni_args: String,
    /// The config list exactly as used for ADD.
    pub config: Value,
    /// Runtime (capability) arguments given to ADD.
    pub runtime_args: Map<String, Value>,
    /// The final ADD result.
    pub result: Value,
}

impl CacheEntry {
    pub(crate) fn kind() -> String {
        KIND.to_string()
    }
}

pub(crate) fn entry_path(cache_dir: &Path, id: &str, network: &str) -> Result<PathBuf, Error> {
    check_component("sandbox id", id)?;
    check_component("network name", network)?;
    Ok(cache_dir.join(id).join(format!("{network}.json")))
}

/// Writes an entry atomically (temp file, fsync, rename).
pub(crate) fn write(cache_dir: &Path, entry: &CacheEntry) -> Result<PathBuf, Error> {
    let path = entry_path(cache_dir, &entry.container_id, &entry.network_name)?;
    let dir = cache_dir.join(&entry.container_id);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating cache directory", &dir, e))?;
    let bytes = serde_json::to_vec_pretty(entry).map_err(|e| Error::BadCache {
        path: path.clone(),
        reason: format!("serialising: {e}"),
    })?;
    let tmp = dir.join(format!(".{}.json.tmp", entry.network_name));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("writing CNI cache", &path, e));
    }
    Ok(path)
}

/// Reads every entry cached for sandbox `id` (any network), sorted by file name.
pub(crate) fn read_all(cache_dir: &Path, id: &str) -> Result<Vec<(PathBuf, CacheEntry)>, Error> {
    check_component("sandbox id", id)?;
    let dir = cache_dir.join(id);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("reading cache directory", &dir, e)),
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = std::fs::read(&path).map_err(|e| Error::io("reading CNI cache", &path, e))?;
        let entry: CacheEntry = serde_json::from_slice(&bytes).map_err(|e| Error::BadCache {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if entry.kind != KIND || entry.container_id != id {
            return Err(Error::BadCache {
                path,
                reason: format!(
                    "kind {:?} / container id {:?} do not match {KIND:?} / {id:?}",
                    entry.kind, entry.container_id
                ),
            });
        }
        out.push((path, entry));
    }
    Ok(out)
}

/// Removes one entry file, and the sandbox's cache directory once it is empty.
pub(crate) fn remove(cache_dir: &Path, id: &str, path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("removing CNI cache", path, e)),
    }
    // Fails (harmlessly) while other networks' entries remain.
    let _ = std::fs::remove_dir(cache_dir.join(id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(id: &str, net: &str) -> CacheEntry {
        let mut rt = Map::new();
        rt.insert(
            "portMappings".into(),
            json!([{"hostPort": 1, "containerPort": 2}]),
        );
        CacheEntry {
            kind: CacheEntry::kind(),
            container_id: id.into(),
            network_name: net.into(),
            if_name: "eth0".into(),
            netns: "/run/outrigger/netns/x".into(),
            cni_args: "IgnoreUnknown=1".into(),
            config: json!({"cniVersion":"1.0.0","name":net,"plugins":[{"type":"bridge"}]}),
            runtime_args: rt,
            result: json!({"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}]}),
        }
    }

    #[test]
    fn round_trip_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_all(dir.path(), "abc").unwrap().is_empty());
        let a = entry("abc", "net-a");
        let b = entry("abc", "net-b");
        let pa = write(dir.path(), &a).unwrap();
        write(dir.path(), &b).unwrap();
        // overwrite is fine (atomic rename)
        write(dir.path(), &a).unwrap();
        let all = read_all(dir.path(), "abc").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].1, a);
        assert_eq!(all[1].1, b);
        assert_eq!(all[0].0, pa);
        // no temp files left behind
        let names: Vec<_> = std::fs::read_dir(dir.path().join("abc"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2);
        remove(dir.path(), "abc", &all[0].0).unwrap();
        remove(dir.path(), "abc", &all[1].0).unwrap();
        assert!(!dir.path().join("abc").exists());
        remove(dir.path(), "abc", &all[1].0).unwrap();
    }

    #[test]
    fn corrupt_or_foreign_entries_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("abc")).unwrap();
        std::fs::write(dir.path().join("abc/n.json"), "{").unwrap();
        assert!(matches!(
            read_all(dir.path(), "abc"),
            Err(Error::BadCache { .. })
        ));
        let other = entry("zzz", "n");
        std::fs::write(
            dir.path().join("abc/n.json"),
            serde_json::to_vec(&other).unwrap(),
        )
        .unwrap();
        let err = read_all(dir.path(), "abc").unwrap_err();
        assert!(err.to_string().contains("zzz"), "{err}");
    }

    #[test]
    fn ids_cannot_escape_cache_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert!(entry_path(dir.path(), "../x", "n").is_err());
        assert!(entry_path(dir.path(), "x", "a/b").is_err());
        assert!(read_all(dir.path(), "..").is_err());
    }
}
