//! Importing a tag from a registry over the OCI distribution API (`oci-client`): resolve the
//! tag to a manifest digest, handle manifest lists (`Legacy`: one platform's manifest;
//! `PreserveOriginal`: the list itself), use pull-secret credentials (falling back to anonymous
//! when they are refused, as OpenShift does), allow plain HTTP for `insecure` tags, and bound
//! the number of imports in flight.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::reference::{DOCKER_HUB, ImageReference};
use crate::tags::{ImportMode, ImportRequest, Imported};

const ACCEPT: &[&str] = &[
    oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE,
    oci_client::manifest::IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    oci_client::manifest::OCI_IMAGE_MEDIA_TYPE,
    oci_client::manifest::IMAGE_MANIFEST_MEDIA_TYPE,
];

/// Registry credentials from a namespace's pull secrets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    entries: Vec<Credential>,
}

/// One registry login.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Registry host (normalised: no scheme, no path; Docker Hub as `docker.io`).
    pub registry: String,
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("registry", &self.registry)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `host:port/path` → `host:port`.
pub fn normalize_registry_key(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or_default().to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_owned()
        }
        _ => host,
    }
}

impl Credentials {
    /// Adds the logins of a pull secret: `data` is `.dockerconfigjson` (`{"auths": {...}}`)
    /// or, when `legacy`, `.dockercfg` (the `auths` map itself).
    pub fn add_docker_config(&mut self, data: &[u8], legacy: bool) -> Result<(), String> {
        let v: Value = serde_json::from_slice(data).map_err(|e| format!("not JSON: {e}"))?;
        let auths = if legacy { Some(&v) } else { v.get("auths") };
        let Some(auths) = auths.and_then(Value::as_object) else {
            return Err("no auths map".to_owned());
        };
        for (key, entry) in auths {
            let str_of = |f: &str| entry.get(f).and_then(Value::as_str).unwrap_or_default();
            let (mut username, mut password) =
                (str_of("username").to_owned(), str_of("password").to_owned());
            let auth = str_of("auth");
            if !auth.is_empty() {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth)
                    .map_err(|e| format!("{key}: auth is not base64: {e}"))?;
                let decoded =
                    String::from_utf8(decoded).map_err(|_| format!("{key}: auth is not UTF-8"))?;
                let (u, p) = decoded
                    .split_once(':')
                    .ok_or_else(|| format!("{key}: auth is not <user>:<password>"))?;
                username = u.to_owned();
                password = p.to_owned();
            }
            if username.is_empty() && password.is_empty() {
                continue;
            }
            self.entries.push(Credential {
                registry: normalize_registry_key(key),
                username,
                password,
            });
        }
        Ok(())
    }

    /// The login for `registry` (as written in a pull spec), if any.
    pub fn for_registry(&self, registry: &str) -> Option<&Credential> {
        let wanted = normalize_registry_key(registry);
        self.entries.iter().find(|c| c.registry == wanted)
    }

    /// Whether there are no logins.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Imports tags, at most `concurrency` at a time across all streams.
#[derive(Clone)]
pub struct Importer {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

/// A manifest list entry's platform, `os/arch[/variant]`.
fn platform_of(entry: &Value) -> Option<String> {
    let p = entry.get("platform")?;
    let os = p.get("os").and_then(Value::as_str)?;
    let arch = p.get("architecture").and_then(Value::as_str)?;
    Some(match p.get("variant").and_then(Value::as_str) {
        Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
        _ => format!("{os}/{arch}"),
    })
}

/// Whether a manifest is a list/index (by media type, or by having `manifests`).
pub fn is_index(manifest: &Value) -> bool {
    match manifest.get("mediaType").and_then(Value::as_str) {
        Some(oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE)
        | Some(oci_client::manifest::IMAGE_MANIFEST_LIST_MEDIA_TYPE) => true,
        Some(_) => false,
        None => manifest.get("manifests").is_some_and(Value::is_array),
    }
}

/// Legacy mode's choice in a manifest list: the entry for `os/arch`, else `linux/amd64`, else
/// the first entry with a real platform (attestations are `unknown/unknown`). Returns the
/// entry's digest and platform.
pub fn pick_platform(index: &Value, os: &str, arch: &str) -> Option<(String, String)> {
    let entries: Vec<(String, String)> = index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let digest = e.get("digest").and_then(Value::as_str)?.to_owned();
            Some((digest, platform_of(e).unwrap_or_default()))
        })
        .collect();
    fn matches(p: &str, want: &str) -> bool {
        p == want || p.starts_with(&format!("{want}/"))
    }
    let wanted = format!("{os}/{arch}");
    entries
        .iter()
        .find(|(_, p)| matches(p, &wanted))
        .or_else(|| entries.iter().find(|(_, p)| matches(p, "linux/amd64")))
        .or_else(|| {
            entries
                .iter()
                .find(|(_, p)| !p.is_empty() && !p.starts_with("unknown/"))
        })
        .cloned()
}

/// All platforms of a manifest list, in order, without attestation entries.
pub fn index_platforms(index: &Value) -> Vec<String> {
    index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(platform_of)
        .filter(|p| !p.starts_with("unknown/"))
        .collect()
}

fn classify(reference: &str, e: OciDistributionError) -> Error {
    let reference = reference.to_owned();
    match e {
        OciDistributionError::RegistryError { envelope, .. } => {
            let message = envelope
                .errors
                .iter()
                .map(|e| format!("{:?}: {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            let code = envelope.errors.first().map(|e| &e.code);
            match code {
                Some(
                    OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound
                    | OciErrorCode::BlobUnknown
                    | OciErrorCode::ManifestBlobUnknown,
                ) => Error::NotFound { reference, message },
                Some(OciErrorCode::Unauthorized | OciErrorCode::Denied) => {
                    Error::Unauthorized { reference, message }
                }
                _ => Error::Registry { reference, message },
            }
        }
        OciDistributionError::ServerError { code, message, .. } => {
            let message = format!("HTTP {code}: {}", message.trim());
            match code {
                404 => Error::NotFound { reference, message },
                401 | 403 => Error::Unauthorized { reference, message },
                _ => Error::Registry { reference, message },
            }
        }
        OciDistributionError::UnauthorizedError { url } => Error::Unauthorized {
            reference,
            message: format!("the registry refused access to {url}"),
        },
        OciDistributionError::AuthenticationFailure(m) => Error::Unauthorized {
            reference,
            message: m,
        },
        OciDistributionError::ImageManifestNotFoundError(m) => Error::NotFound {
            reference,
            message: m,
        },
        OciDistributionError::RequestError(e) => {
            // the full chain: reqwest's top-level text alone says only "error sending request"
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            Error::RegistryUnreachable { reference, message }
        }
        e @ (OciDistributionError::ManifestParsingError(_)
        | OciDistributionError::VersionedParsingError(_)
        | OciDistributionError::UnsupportedMediaTypeError(_)
        | OciDistributionError::UnsupportedSchemaVersionError(_)
        | OciDistributionError::ManifestEncodingError(_)
        | OciDistributionError::JsonError(_)) => Error::UnsupportedManifest {
            reference,
            message: e.to_string(),
        },
        e => Error::Registry {
            reference,
            message: e.to_string(),
        },
    }
}

fn client(http: bool, insecure: bool) -> Client {
    Client::new(oci_client::client::ClientConfig {
        protocol: if http {
            oci_client::client::ClientProtocol::Http
        } else {
            oci_client::client::ClientProtocol::Https
        },
        accept_invalid_certificates: insecure,
        platform_resolver: None,
        connect_timeout: Some(Duration::from_secs(10)),
        read_timeout: Some(Duration::from_secs(30)),
        user_agent: concat!("outrigger-imagestream/", env!("CARGO_PKG_VERSION")),
        ..oci_client::client::ClientConfig::default()
    })
}

fn oci_reference(r: &ImageReference, digest: Option<&str>) -> Reference {
    let registry = r.registry_or_default().to_owned();
    match digest.or(Some(r.digest.as_str()).filter(|d| !d.is_empty())) {
        Some(d) => Reference::with_digest(registry, r.repository(), d.to_owned()),
        None => Reference::with_tag(registry, r.repository(), r.tag_or_default().to_owned()),
    }
}

impl Importer {
    /// An importer running at most `concurrency` imports at once, each bounded by `timeout`.
    pub fn new(concurrency: usize, timeout: Duration) -> Self {
        Importer {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            timeout,
        }
    }

    /// Imports one tag: the resulting digest pull spec, or a classified error.
    pub async fn import(
        &self,
        req: &ImportRequest,
        credentials: &Credentials,
    ) -> Result<Imported, Error> {
        let parsed = ImageReference::parse(&req.from)?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::RegistryUnreachable {
                reference: req.from.clone(),
                message: "the importer is shutting down".to_owned(),
            })?;
        match tokio::time::timeout(self.timeout, self.import_inner(req, &parsed, credentials)).await
        {
            Ok(r) => r,
            Err(_) => Err(Error::RegistryUnreachable {
                reference: req.from.clone(),
                message: format!("no answer within {}s", self.timeout.as_secs()),
            }),
        }
    }

    async fn import_inner(
        &self,
        req: &ImportRequest,
        parsed: &ImageReference,
        credentials: &Credentials,
    ) -> Result<Imported, Error> {
        let auth = credentials
            .for_registry(parsed.registry_or_default())
            .map(|c| RegistryAuth::Basic(c.username.clone(), c.password.clone()));
        // insecure: HTTPS without certificate checks first, then plain HTTP (as OpenShift)
        let schemes: &[bool] = if req.insecure {
            &[false, true]
        } else {
            &[false]
        };
        let mut last = None;
        for &http in schemes {
            let c = client(http, req.insecure);
            let mut result = fetch(
                &c,
                req,
                parsed,
                auth.as_ref().unwrap_or(&RegistryAuth::Anonymous),
            )
            .await;
            if auth.is_some() && matches!(result, Err(Error::Unauthorized { .. })) {
                // refused credentials: try anonymously, as OpenShift's importer does
                let anon = fetch(
                    &client(http, req.insecure),
                    req,
                    parsed,
                    &RegistryAuth::Anonymous,
                )
                .await;
                if anon.is_ok() {
                    result = anon;
                }
            }
            match result {
                Err(e @ Error::RegistryUnreachable { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| Error::RegistryUnreachable {
            reference: req.from.clone(),
            message: "no scheme to try".to_owned(),
        }))
    }
}

async fn fetch(
    client: &Client,
    req: &ImportRequest,
    parsed: &ImageReference,
    auth: &RegistryAuth,
) -> Result<Imported, Error> {
    let reference = oci_reference(parsed, None);
    let (body, digest) = client
        .pull_manifest_raw(&reference, auth, ACCEPT)
        .await
        .map_err(|e| classify(&req.from, e))?;
    let manifest: Value =
        serde_json::from_slice(&body).map_err(|e| Error::UnsupportedManifest {
            reference: req.from.clone(),
            message: format!("the manifest is not JSON: {e}"),
        })?;
    if !is_index(&manifest) {
        return Ok(Imported {
            reference: parsed.with_digest(&digest),
            digest,
            platforms: None,
        });
    }
    match req.mode {
        ImportMode::PreserveOriginal => Ok(Imported {
            reference: parsed.with_digest(&digest),
            digest,
            platforms: Some(index_platforms(&manifest)),
        }),
        ImportMode::Legacy => {
            let (os, arch) = (&req.platform.0, &req.platform.1);
            let (child, platform) =
                pick_platform(&manifest, os, arch).ok_or_else(|| Error::NoMatchingPlatform {
                    reference: req.from.clone(),
                    platform: format!("{os}/{arch}"),
                })?;
            // fetch the child: it must exist and its digest is verified by the client
            let (_, child_digest) = client
                .pull_manifest_raw(&oci_reference(parsed, Some(&child)), auth, ACCEPT)
                .await
                .map_err(|e| classify(&req.from, e))?;
            Ok(Imported {
                reference: parsed.with_digest(&child_digest),
                digest: child_digest,
                platforms: Some(vec![platform]),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn index() -> Value {
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
                {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
                {"digest": "sha256:win", "platform": {"os": "windows", "architecture": "amd64"}},
            ]
        })
    }

    #[test]
    fn picks_platforms() {
        let i = index();
        assert!(is_index(&i));
        assert!(!is_index(
            &json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"})
        ));
        assert!(is_index(&json!({"schemaVersion": 2, "manifests": []})));
        assert_eq!(
            pick_platform(&i, "linux", "amd64"),
            Some(("sha256:amd".into(), "linux/amd64".into()))
        );
        assert_eq!(
            pick_platform(&i, "linux", "arm64"),
            Some(("sha256:arm".into(), "linux/arm64/v8".into()))
        );
        // unknown wanted platform: linux/amd64
        assert_eq!(
            pick_platform(&i, "linux", "s390x").map(|p| p.0),
            Some("sha256:amd".into())
        );
        // no linux/amd64: first real platform, never an attestation
        let only = json!({"manifests": [
            {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:ppc", "platform": {"os": "linux", "architecture": "ppc64le"}},
        ]});
        assert_eq!(
            pick_platform(&only, "linux", "amd64").map(|p| p.0),
            Some("sha256:ppc".into())
        );
        assert_eq!(
            pick_platform(&json!({"manifests": []}), "linux", "amd64"),
            None
        );
        assert_eq!(
            index_platforms(&i),
            vec!["linux/arm64/v8", "linux/amd64", "windows/amd64"]
        );
    }

    #[test]
    fn reads_pull_secrets() {
        let mut c = Credentials::default();
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:s3cr:et");
        let cfg = json!({"auths": {
            "https://index.docker.io/v1/": {"auth": auth},
            "quay.io": {"username": "u", "password": "p"},
            "empty.io": {},
        }});
        c.add_docker_config(cfg.to_string().as_bytes(), false)
            .expect("valid");
        let hub = c.for_registry("docker.io").expect("docker hub login");
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("bob", "s3cr:et")
        );
        assert_eq!(
            c.for_registry("quay.io").map(|c| c.username.as_str()),
            Some("u")
        );
        assert!(c.for_registry("empty.io").is_none());
        assert!(c.for_registry("other.io").is_none());
        let legacy = json!({"10.0.0.1:5000": {"username": "l", "password": "p"}});
        c.add_docker_config(legacy.to_string().as_bytes(), true)
            .expect("valid");
        assert_eq!(
            c.for_registry("10.0.0.1:5000").map(|c| c.username.as_str()),
            Some("l")
        );
        assert!(c.add_docker_config(b"{}", false).is_err());
        assert!(c.add_docker_config(b"nope", false).is_err());
        // passwords never show in Debug output
        assert!(!format!("{c:?}").contains("s3cr"));
        assert_eq!(
            normalize_registry_key("http://Reg.IO:5000/v2/"),
            "reg.io:5000"
        );
    }

    #[test]
    fn classifies_registry_errors() {
        let env: oci_client::errors::OciEnvelope = serde_json::from_value(
            json!({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}),
        )
        .expect("envelope");
        let e = classify(
            "r",
            OciDistributionError::RegistryError {
                envelope: env,
                url: "u".into(),
            },
        );
        assert_eq!(e.category(), "NotFound");
        assert!(e.to_string().contains("manifest unknown"), "{e}");
        let e = classify(
            "r",
            OciDistributionError::UnauthorizedError { url: "u".into() },
        );
        assert_eq!(e.category(), "Unauthorized");
        let e = classify(
            "r",
            OciDistributionError::ServerError {
                code: 500,
                url: "u".into(),
                message: "boom".into(),
            },
        );
        assert_eq!(e.category(), "RegistryError");
        let e = classify(
            "r",
            OciDistributionError::ServerError {
                code: 404,
                url: "u".into(),
                message: "".into(),
            },
        );
        assert_eq!(e.category(), "NotFound");
        let e = classify("r", OciDistributionError::UnsupportedSchemaVersionError(1));
        assert_eq!(e.category(), "UnsupportedManifest");
    }

    /// A registry that is not listening: the import fails as unreachable, quickly, on both
    /// schemes of an insecure tag.
    #[tokio::test]
    async fn unreachable_registry_is_classified() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let importer = Importer::new(2, Duration::from_secs(20));
        let req = ImportRequest {
            tag: "t".into(),
            from: format!("127.0.0.1:{port}/app:1"),
            insecure: true,
            mode: ImportMode::Legacy,
            generation: 1,
            platform: ("linux".into(), "amd64".into()),
        };
        let err = importer
            .import(&req, &Credentials::default())
            .await
            .expect_err("no registry");
        assert_eq!(err.category(), "RegistryUnreachable", "{err}");
        let bad = ImportRequest {
            from: "Bad Ref".into(),
            ..req
        };
        let err = importer
            .import(&bad, &Credentials::default())
            .await
            .expect_err("malformed");
        assert_eq!(err.category(), "InvalidImageReference");
    }
}
