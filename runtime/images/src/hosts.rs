//! Registry host configuration: containerd's `hosts.toml` directory tree
//! (`<dir>/<host>/hosts.toml`, `<dir>/_default/hosts.toml`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::Error;

/// What a host may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Fetch blobs and manifests by digest.
    pub pull: bool,
    /// Resolve tags to manifests.
    pub resolve: bool,
}

/// One place to try for a registry: its API root URL and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryHost {
    /// API root, ending without '/': requests are `<api_root>/<repo>/manifests/<ref>`.
    pub api_root: String,
    /// Allowed uses.
    pub capabilities: Capabilities,
    /// Accept any TLS certificate.
    pub skip_verify: bool,
    /// Extra CA certificate files (PEM).
    pub ca: Vec<PathBuf>,
}

/// Parsed hosts.toml of one registry (or the `_default`).
#[derive(Debug, Clone, Default)]
struct HostsFile {
    server: Option<String>,
    server_override_path: bool,
    server_caps: Option<Capabilities>,
    server_skip_verify: bool,
    server_ca: Vec<PathBuf>,
    hosts: Vec<RegistryHost>,
}

/// The registry configuration: which hosts serve which registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    files: HashMap<String, HostsFile>,
}

const ALL: Capabilities = Capabilities {
    pull: true,
    resolve: true,
};

fn parse_caps(v: &toml::Value, path: &Path) -> Result<Capabilities, Error> {
    let arr = v.as_array().ok_or_else(|| Error::RegistryConfig {
        path: path.to_path_buf(),
        reason: format!("capabilities must be a list of strings, got {v}"),
    })?;
    let mut c = Capabilities::default();
    for x in arr {
        match x.as_str() {
            Some("pull") => c.pull = true,
            Some("resolve") => c.resolve = true,
            Some("push") => {}
            _ => {
                return Err(Error::RegistryConfig {
                    path: path.to_path_buf(),
                    reason: format!("unknown capability {x}"),
                });
            }
        }
    }
    Ok(c)
}

fn parse_ca(v: Option<&toml::Value>, dir: &Path) -> Vec<PathBuf> {
    let list: Vec<&str> = match v {
        Some(toml::Value::String(s)) => vec![s.as_str()],
        Some(toml::Value::Array(a)) => a.iter().filter_map(|x| x.as_str()).collect(),
        _ => vec![],
    };
    list.into_iter()
        .map(|s| {
            let p = PathBuf::from(s);
            if p.is_absolute() { p } else { dir.join(p) }
        })
        .collect()
}

/// Turn a host URL into the API root (containerd rules: empty path → `/v2`; without
/// override_path a path not ending in `/v2` gets `/v2` appended).
pub fn api_root(url: &str, override_path: bool) -> Result<String, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} has no scheme (want http:// or https://)"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("{url:?}: scheme {scheme:?} is not http or https"));
    }
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() {
        "/v2".to_string()
    } else if !override_path && !path.ends_with("/v2") {
        format!("{path}/v2")
    } else {
        path.to_string()
    };
    Ok(format!("{scheme}://{host}{path}"))
}

fn parse_file(text: &str, path: &Path) -> Result<HostsFile, Error> {
    let err = |reason: String| Error::RegistryConfig {
        path: path.to_path_buf(),
        reason,
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| err(e.to_string()))?;
    let mut f = HostsFile::default();
    if let Some(v) = table.get("server") {
        let s = v
            .as_str()
            .ok_or_else(|| err(format!("server must be a string, got {v}")))?;
        f.server = Some(s.to_string());
    }
    f.server_override_path = table
        .get("override_path")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if let Some(v) = table.get("capabilities") {
        f.server_caps = Some(parse_caps(v, path)?);
    }
    f.server_skip_verify = table
        .get("skip_verify")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    f.server_ca = parse_ca(table.get("ca"), dir);
    if let Some(hosts) = table.get("host") {
        let hosts = hosts
            .as_table()
            .ok_or_else(|| err("[host] must be a table of tables".to_string()))?;
        for (url, h) in hosts {
            let h = h
                .as_table()
                .ok_or_else(|| err(format!("[host.{url:?}] must be a table")))?;
            let override_path = h
                .get("override_path")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let api_root = api_root(url, override_path).map_err(err)?;
            let capabilities = match h.get("capabilities") {
                Some(v) => parse_caps(v, path)?,
                None => ALL,
            };
            f.hosts.push(RegistryHost {
                api_root,
                capabilities,
                skip_verify: h
                    .get("skip_verify")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                ca: parse_ca(h.get("ca"), dir),
            });
        }
    }
    if let Some(s) = &f.server {
        api_root(s, f.server_override_path).map_err(err)?;
    }
    Ok(f)
}

impl RegistryConfig {
    /// No configuration: every registry is reached at `https://<host>/v2`.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Read `<hosts_dir>/*/hosts.toml`. A missing directory gives the empty config.
    pub fn load(hosts_dir: &Path) -> Result<Self, Error> {
        let mut cfg = Self::default();
        let rd = match std::fs::read_dir(hosts_dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cfg),
            Err(e) => return Err(Error::io("read directory", hosts_dir, e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| Error::io("read directory", hosts_dir, e))?;
            let file = ent.path().join("hosts.toml");
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => continue,
                Err(e) => return Err(Error::io("read", &file, e)),
            };
            let name = ent.file_name().to_string_lossy().into_owned();
            cfg.files.insert(name, parse_file(&text, &file)?);
        }
        Ok(cfg)
    }

    /// Parse one hosts.toml text for `registry` (for tests and callers with inline config).
    pub fn add_hosts_toml(&mut self, registry: &str, text: &str) -> Result<(), Error> {
        let f = parse_file(text, Path::new(&format!("{registry}/hosts.toml")))?;
        self.files.insert(registry.to_string(), f);
        Ok(())
    }

    /// The hosts to try for `registry` (a reference domain), in order: the `[host]` tables, then
    /// the `server` (or the default upstream when no server is set).
    pub fn hosts_for(&self, registry: &str) -> Vec<RegistryHost> {
        let file = self
            .files
            .get(registry)
            .or_else(|| self.files.get("_default"));
        let upstream = default_upstream(registry);
        let Some(f) = file else {
            return vec![upstream];
        };
        let mut out = f.hosts.clone();
        match &f.server {
            Some(s) => {
                // parse_file validated it; fall back to the upstream if not.
                if let Ok(root) = api_root(s, f.server_override_path) {
                    out.push(RegistryHost {
                        api_root: root,
                        capabilities: f.server_caps.unwrap_or(ALL),
                        skip_verify: f.server_skip_verify,
                        ca: f.server_ca.clone(),
                    });
                }
            }
            None => out.push(upstream),
        }
        out
    }
}

fn default_upstream(registry: &str) -> RegistryHost {
    let host = if registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    };
    RegistryHost {
        api_root: format!("https://{host}/v2"),
        capabilities: ALL,
        skip_verify: false,
        ca: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_root_rules() {
        assert_eq!(api_root("https://r.io", false).unwrap(), "https://r.io/v2");
        assert_eq!(api_root("https://r.io/", true).unwrap(), "https://r.io/v2");
        assert_eq!(
            api_root("http://h:5000/v2/gcr.io", true).unwrap(),
            "http://h:5000/v2/gcr.io"
        );
        assert_eq!(
            api_root("http://h:5000/mirror", false).unwrap(),
            "http://h:5000/mirror/v2"
        );
        assert_eq!(
            api_root("http://h:5000/v2", false).unwrap(),
            "http://h:5000/v2"
        );
        assert!(api_root("ftp://h", false).is_err());
        assert!(api_root("h:5000", false).is_err());
    }

    #[test]
    fn cluster_layout() {
        let dir = tempfile::tempdir().unwrap();
        let g = dir.path().join("gcr.io");
        std::fs::create_dir(&g).unwrap();
        std::fs::write(
            g.join("hosts.toml"),
            "server = \"http://10.1.2.3:5000/v2/gcr.io\"\noverride_path = true\ncapabilities = [\"pull\", \"resolve\"]\ndial_timeout = \"3s\"\n",
        )
        .unwrap();
        let l = dir.path().join("10.1.2.3:5000");
        std::fs::create_dir(&l).unwrap();
        std::fs::write(
            l.join("hosts.toml"),
            "server = \"http://10.1.2.3:5000\"\n[host.\"http://10.1.2.3:5000\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n  skip_verify = true\n",
        )
        .unwrap();
        let cfg = RegistryConfig::load(dir.path()).unwrap();
        let h = cfg.hosts_for("gcr.io");
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].api_root, "http://10.1.2.3:5000/v2/gcr.io");
        assert_eq!(
            format!(
                "{}/{}/manifests/{}",
                h[0].api_root, "k8s-staging-cri-tools/test-image-tag", "test"
            ),
            "http://10.1.2.3:5000/v2/gcr.io/k8s-staging-cri-tools/test-image-tag/manifests/test"
        );
        let h = cfg.hosts_for("10.1.2.3:5000");
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].api_root, "http://10.1.2.3:5000/v2");
        assert!(h[0].skip_verify);
        assert_eq!(h[1].api_root, "http://10.1.2.3:5000/v2");
        // unconfigured registries go to the upstream over https
        let h = cfg.hosts_for("docker.io");
        assert_eq!(h, vec![default_upstream("docker.io")]);
        assert_eq!(h[0].api_root, "https://registry-1.docker.io/v2");
    }

    #[test]
    fn mirrors_in_order_then_upstream_and_default() {
        let mut cfg = RegistryConfig::empty();
        cfg.add_hosts_toml(
            "_default",
            "[host.\"https://m2.example/x\"]\ncapabilities = [\"pull\"]\nca = \"ca.pem\"\n[host.\"http://m1.example\"]\n",
        )
        .unwrap();
        let h = cfg.hosts_for("quay.io");
        let roots: Vec<_> = h.iter().map(|h| h.api_root.as_str()).collect();
        assert_eq!(
            roots,
            [
                "https://m2.example/x/v2",
                "http://m1.example/v2",
                "https://quay.io/v2"
            ]
        );
        assert_eq!(
            h[0].capabilities,
            Capabilities {
                pull: true,
                resolve: false
            }
        );
        assert_eq!(h[0].ca, vec![PathBuf::from("_default/ca.pem")]);
        assert_eq!(h[1].capabilities, ALL);
    }

    #[test]
    fn bad_files() {
        let mut cfg = RegistryConfig::empty();
        assert!(cfg.add_hosts_toml("a", "server = 3").is_err());
        assert!(cfg.add_hosts_toml("a", "server = \"nohost\"").is_err());
        assert!(cfg.add_hosts_toml("a", "capabilities = [\"fly\"]").is_err());
        assert!(cfg.add_hosts_toml("a", "[[[").is_err());
    }
}
