//! Manifest, index and image config documents (only the fields we use).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Error;

/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker manifest list media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A content descriptor.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// Platform of an index entry.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub(crate) struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// A manifest or an index: which one it is is decided by [`Doc::kind`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Doc {
    #[serde(default)]
    pub schema_version: Option<u32>,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
}

/// What a fetched document is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DocKind {
    Index,
    Manifest,
}

impl Doc {
    /// Parse and classify by the content type (falling back to the body's mediaType / shape).
    pub(crate) fn parse(
        body: &[u8],
        content_type: &str,
        reference: &str,
    ) -> Result<(Doc, DocKind), Error> {
        let bad = |reason: String| Error::InvalidManifest {
            what: "manifest".to_string(),
            reference: reference.to_string(),
            reason,
        };
        let d: Doc = serde_json::from_slice(body).map_err(|e| bad(format!("bad JSON: {e}")))?;
        let mt = d.media_type.clone().unwrap_or_default();
        let kind = if [OCI_INDEX, DOCKER_LIST].contains(&content_type)
            || [OCI_INDEX, DOCKER_LIST].contains(&mt.as_str())
        {
            DocKind::Index
        } else if [OCI_MANIFEST, DOCKER_MANIFEST].contains(&content_type)
            || [OCI_MANIFEST, DOCKER_MANIFEST].contains(&mt.as_str())
        {
            DocKind::Manifest
        } else if d.manifests.is_some() {
            DocKind::Index
        } else if d.config.is_some() && d.layers.is_some() {
            DocKind::Manifest
        } else {
            return Err(bad(format!(
                "unsupported manifest type {content_type:?}/{mt:?} (schema {:?}; want OCI or Docker schema 2)",
                d.schema_version
            )));
        };
        match kind {
            DocKind::Index if d.manifests.is_none() => {
                Err(bad("index without manifests".to_string()))
            }
            DocKind::Manifest if d.config.is_none() => {
                Err(bad("manifest without config".to_string()))
            }
            _ => Ok((d, kind)),
        }
    }
}

/// The OCI architecture name of a Rust `std::env::consts::ARCH`.
pub fn oci_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => {
            if cfg!(target_endian = "little") {
                "ppc64le"
            } else {
                "ppc64"
            }
        }
        "loongarch64" => "loong64",
        other => other, // s390x, riscv64, arm, mips64 ...
    }
}

/// Pick linux/`arch` from an index's entries (arm64 prefers variant v8 or none).
pub(crate) fn select_platform<'a>(
    manifests: &'a [Descriptor],
    arch: &str,
    reference: &str,
) -> Result<&'a Descriptor, Error> {
    let matching: Vec<&Descriptor> = manifests
        .iter()
        .filter(|m| {
            m.platform
                .as_ref()
                .map(|p| p.os == "linux" && p.architecture == arch)
                .unwrap_or(false)
        })
        .collect();
    let best = matching
        .iter()
        .find(|m| {
            let v = m
                .platform
                .as_ref()
                .and_then(|p| p.variant.as_deref())
                .unwrap_or("");
            arch != "arm64" || v.is_empty() || v == "v8"
        })
        .or(matching.first());
    best.copied().ok_or_else(|| Error::NoMatchingPlatform {
        reference: reference.to_string(),
        arch: arch.to_string(),
        available: manifests
            .iter()
            .map(|m| match &m.platform {
                Some(p) => match &p.variant {
                    Some(v) => format!("{}/{}/{}", p.os, p.architecture, v),
                    None => format!("{}/{}", p.os, p.architecture),
                },
                None => "unknown".to_string(),
            })
            .collect(),
    })
}

/// The parts of an image config the CRI needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `USER`.
    pub user: String,
    /// `ENV` as `K=V`.
    pub env: Vec<String>,
    /// `ENTRYPOINT`.
    pub entrypoint: Vec<String>,
    /// `CMD`.
    pub cmd: Vec<String>,
    /// `WORKDIR`.
    pub working_dir: String,
    /// `STOPSIGNAL`.
    pub stop_signal: String,
    /// `LABEL`s.
    pub labels: BTreeMap<String, String>,
    /// `VOLUME` paths.
    pub volumes: Vec<String>,
}

impl ImageConfig {
    /// The image user as CRI `ImageStatus` reports it (containerd's rule): a numeric user gives
    /// `(Some(uid), "")`, a name gives `(None, name)`; a `:group` suffix is dropped.
    pub fn user_for_status(&self) -> (Option<i64>, String) {
        let user = self.user.split(':').next().unwrap_or("");
        if user.is_empty() {
            return (None, String::new());
        }
        match user.parse::<i64>() {
            Ok(uid) => (Some(uid), String::new()),
            Err(_) => (None, user.to_string()),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawRun {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    stop_signal: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    volumes: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    config: Option<RawRun>,
    rootfs: RawRootfs,
}

/// Parse an image config blob: the CRI-relevant fields and the layer diff_ids.
pub(crate) fn parse_config(
    body: &[u8],
    reference: &str,
) -> Result<(ImageConfig, Vec<String>), Error> {
    let c: RawConfig = serde_json::from_slice(body).map_err(|e| Error::InvalidManifest {
        what: "image config".to_string(),
        reference: reference.to_string(),
        reason: format!("bad JSON: {e}"),
    })?;
    for d in &c.rootfs.diff_ids {
        crate::reference::validate_digest(d)?;
    }
    let r = c.config.unwrap_or_default();
    Ok((
        ImageConfig {
            user: r.user.unwrap_or_default(),
            env: r.env.unwrap_or_default(),
            entrypoint: r.entrypoint.unwrap_or_default(),
            cmd: r.cmd.unwrap_or_default(),
            working_dir: r.working_dir.unwrap_or_default(),
            stop_signal: r.stop_signal.unwrap_or_default(),
            labels: r.labels.unwrap_or_default(),
            volumes: r
                .volumes
                .map(|v| v.into_keys().collect())
                .unwrap_or_default(),
        },
        c.rootfs.diff_ids,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>, d: char) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", d.to_string().repeat(64)),
            size: 1,
            platform: Some(Platform {
                os: "linux".into(),
                architecture: arch.into(),
                variant: variant.map(Into::into),
            }),
        }
    }

    #[test]
    fn arch_mapping() {
        assert_eq!(oci_arch("x86_64"), "amd64");
        assert_eq!(oci_arch("s390x"), "s390x");
        assert_eq!(oci_arch("aarch64"), "arm64");
    }

    #[test]
    fn platform_selection() {
        let list = vec![
            entry("amd64", None, 'a'),
            entry("arm64", Some("v7"), 'b'),
            entry("arm64", Some("v8"), 'c'),
            entry("s390x", None, 'd'),
        ];
        assert!(
            select_platform(&list, "amd64", "r")
                .unwrap()
                .digest
                .ends_with('a')
        );
        assert!(
            select_platform(&list, "s390x", "r")
                .unwrap()
                .digest
                .ends_with('d')
        );
        assert!(
            select_platform(&list, "arm64", "r")
                .unwrap()
                .digest
                .ends_with('c')
        );
        match select_platform(&list, "riscv64", "r") {
            Err(Error::NoMatchingPlatform {
                arch, available, ..
            }) => {
                assert_eq!(arch, "riscv64");
                assert!(available.contains(&"linux/arm64/v8".to_string()));
            }
            other => panic!("want NoMatchingPlatform, got {other:?}"),
        }
        // non-linux entries never match
        let mut w = entry("amd64", None, 'e');
        w.platform.as_mut().unwrap().os = "windows".into();
        assert!(select_platform(&[w], "amd64", "r").is_err());
    }

    #[test]
    fn doc_kinds() {
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(Doc::parse(idx, "", "r").unwrap().1, DocKind::Index);
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"digest":"sha256:x","size":1},"layers":[]}"#;
        assert_eq!(
            Doc::parse(m, "text/plain", "r").unwrap().1,
            DocKind::Manifest
        );
        assert!(Doc::parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, "", "r").is_err());
        assert!(Doc::parse(b"not json", OCI_MANIFEST, "r").is_err());
    }

    #[test]
    fn user_for_status() {
        let u = |s: &str| {
            ImageConfig {
                user: s.into(),
                ..Default::default()
            }
            .user_for_status()
        };
        assert_eq!(u(""), (None, String::new()));
        assert_eq!(u("1002"), (Some(1002), String::new()));
        assert_eq!(u("1003:group"), (Some(1003), String::new()));
        assert_eq!(u("www-data"), (None, "www-data".to_string()));
        assert_eq!(u("www-data:group"), (None, "www-data".to_string()));
    }

    #[test]
    fn config_fields() {
        let c = br#"{"architecture":"amd64","config":{"User":"1002","Env":["PATH=/bin"],"Cmd":["sh"],"WorkingDir":"/w","StopSignal":"SIGINT","Labels":{"a":"b"},"Volumes":{"/data":{}}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let (cfg, ids) = parse_config(c, "r").unwrap();
        assert_eq!(cfg.user, "1002");
        assert_eq!(cfg.env, vec!["PATH=/bin"]);
        assert_eq!(cfg.cmd, vec!["sh"]);
        assert!(cfg.entrypoint.is_empty());
        assert_eq!(cfg.working_dir, "/w");
        assert_eq!(cfg.stop_signal, "SIGINT");
        assert_eq!(cfg.labels["a"], "b");
        assert_eq!(cfg.volumes, vec!["/data"]);
        assert!(ids.is_empty());
        assert!(parse_config(br#"{"rootfs":{"diff_ids":["md5:x"]}}"#, "r").is_err());
    }
}
