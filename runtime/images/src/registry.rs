//! A small OCI distribution client: manifests and blobs over HTTP(S), with anonymous, basic and
//! bearer-token auth, trying each configured host in turn.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::hosts::{RegistryConfig, RegistryHost};
use crate::reference::Reference;
use crate::{Auth, Error};

/// Media types we accept for manifests, most preferred first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

const MAX_MANIFEST: usize = 4 << 20;

/// What kind of fetch, for host capability filtering.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A manifest by tag.
    Resolve,
    /// A manifest by digest or a blob.
    Pull,
}

/// Credentials decoded from an [`Auth`].
#[derive(Clone, Default)]
struct Creds {
    basic: Option<(String, String)>,
    bearer: Option<String>,
}

fn creds(auth: Option<&Auth>) -> Creds {
    let Some(a) = auth else {
        return Creds::default();
    };
    let mut c = Creds::default();
    if !a.registry_token.is_empty() {
        c.bearer = Some(a.registry_token.clone());
    }
    if !a.username.is_empty() {
        c.basic = Some((a.username.clone(), a.password.clone()));
    } else if !a.auth.is_empty() {
        if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(a.auth.trim()) {
            if let Ok(s) = String::from_utf8(raw) {
                if let Some((u, p)) = s.split_once(':') {
                    c.basic = Some((u.to_string(), p.to_string()));
                }
            }
        }
    }
    c
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub scheme: String,
    pub params: HashMap<String, String>,
}

/// Parse `Bearer realm="..",service="..",scope="a:b:pull,push"`.
pub(crate) fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = match h.find(' ') {
        Some(i) => (&h[..i], &h[i + 1..]),
        None => (h, ""),
    };
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            return None;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => val.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => val.push(c),
                    None => return None,
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), val);
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if another provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The registry client shared by all pulls.
pub(crate) struct Client {
    config: RegistryConfig,
    clients: Mutex<HashMap<(bool, Vec<PathBuf>), reqwest::Client>>,
    /// Bearer tokens by "api_root|scope".
    tokens: Mutex<HashMap<String, String>>,
}

fn http_err(url: &str, reason: impl std::fmt::Display) -> Error {
    Error::Http {
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

impl Client {
    pub(crate) fn new(config: RegistryConfig) -> Self {
        install_crypto_provider();
        Client {
            config,
            clients: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn http(&self, host: &RegistryHost) -> Result<reqwest::Client, Error> {
        let key = (host.skip_verify, host.ca.clone());
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            // a stalled transfer fails instead of hanging the pull forever
            .read_timeout(std::time::Duration::from_secs(60))
            .user_agent("outrigger-cri/0.1");
        if host.skip_verify {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        for ca in &host.ca {
            let pem = std::fs::read(ca).map_err(|e| Error::io("read CA certificate", ca, e))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| Error::RegistryConfig {
                    path: ca.clone(),
                    reason: format!("bad PEM CA certificate: {e}"),
                })?;
            b = b.tls_certs_merge(certs);
        }
        let c = b
            .build()
            .map_err(|e| http_err(&host.api_root, format!("building HTTP client: {e}")))?;
        map.insert(key, c.clone());
        Ok(c)
    }

    /// GET `<api_root>/<repo>/<suffix>` on each host in turn; returns the first success.
    async fn get_any(
        &self,
        r: &Reference,
        kind: Kind,
        suffix: &str,
        accept: Option<&str>,
        auth: Option<&Auth>,
        what: &str,
    ) -> Result<reqwest::Response, Error> {
        let hosts = self.config.hosts_for(&r.domain);
        let mut errors = vec![];
        for h in hosts.iter().filter(|h| match kind {
            Kind::Resolve => h.capabilities.resolve,
            Kind::Pull => h.capabilities.pull,
        }) {
            let url = format!("{}/{}/{}", h.api_root, r.path, suffix);
            match self.get(h, &url, &r.path, accept, auth).await {
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    tracing::debug!(%url, error = %e, "registry host failed");
                    errors.push(e.to_string());
                }
            }
        }
        if errors.is_empty() {
            errors.push(format!(
                "no configured host of {} may be used for this",
                r.domain
            ));
        }
        Err(Error::AllHostsFailed {
            what: what.to_string(),
            reference: r.to_string(),
            errors,
        })
    }

    async fn get(
        &self,
        host: &RegistryHost,
        url: &str,
        repo: &str,
        accept: Option<&str>,
        auth: Option<&Auth>,
    ) -> Result<reqwest::Response, Error> {
        let http = self.http(host)?;
        let c = creds(auth);
        let scope = format!("repository:{repo}:pull");
        let token_key = format!("{}|{}", host.api_root, scope);
        let cached = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&token_key)
            .cloned();
        let build = |bearer: Option<&str>, basic: Option<&(String, String)>| {
            let mut rq = http.get(url);
            if let Some(a) = accept {
                rq = rq.header(reqwest::header::ACCEPT, a);
            }
            if let Some(t) = bearer {
                rq = rq.bearer_auth(t);
            } else if let Some((u, p)) = basic {
                rq = rq.basic_auth(u, Some(p));
            }
            rq
        };
        let first_bearer = cached.as_deref().or(c.bearer.as_deref());
        let resp = build(first_bearer, None)
            .send()
            .await
            .map_err(|e| http_err(url, e))?;
        let resp = if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            let header = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let ch = parse_challenge(&header).ok_or_else(|| Error::Unauthorized {
                registry: url.to_string(),
                reason: format!("401 with unusable WWW-Authenticate {header:?}"),
            })?;
            match ch.scheme.as_str() {
                "bearer" => {
                    let token = self.fetch_token(&http, &ch, &scope, &c, url).await?;
                    self.tokens
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(token_key, token.clone());
                    build(Some(&token), None)
                        .send()
                        .await
                        .map_err(|e| http_err(url, e))?
                }
                "basic" => {
                    let Some(b) = c.basic.as_ref() else {
                        return Err(Error::Unauthorized {
                            registry: url.to_string(),
                            reason: "basic auth required and no credentials given".to_string(),
                        });
                    };
                    build(None, Some(b))
                        .send()
                        .await
                        .map_err(|e| http_err(url, e))?
                }
                other => {
                    return Err(Error::Unauthorized {
                        registry: url.to_string(),
                        reason: format!("unsupported auth scheme {other:?}"),
                    });
                }
            }
        } else {
            resp
        };
        let st = resp.status();
        if st == reqwest::StatusCode::UNAUTHORIZED || st == reqwest::StatusCode::FORBIDDEN {
            return Err(Error::Unauthorized {
                registry: url.to_string(),
                reason: format!("HTTP {st}"),
            });
        }
        if !st.is_success() {
            return Err(http_err(url, format!("HTTP {st}")));
        }
        Ok(resp)
    }

    async fn fetch_token(
        &self,
        http: &reqwest::Client,
        ch: &Challenge,
        scope: &str,
        c: &Creds,
        url: &str,
    ) -> Result<String, Error> {
        let realm = ch.params.get("realm").ok_or_else(|| Error::Unauthorized {
            registry: url.to_string(),
            reason: "bearer challenge without realm".to_string(),
        })?;
        let mut turl = reqwest::Url::parse(realm).map_err(|e| Error::Unauthorized {
            registry: url.to_string(),
            reason: format!("bad token realm {realm:?}: {e}"),
        })?;
        {
            let mut q = turl.query_pairs_mut();
            if let Some(s) = ch.params.get("service") {
                q.append_pair("service", s);
            }
            q.append_pair(
                "scope",
                ch.params.get("scope").map(String::as_str).unwrap_or(scope),
            );
        }
        let mut rq = http.get(turl.clone());
        if let Some((u, p)) = &c.basic {
            rq = rq.basic_auth(u, Some(p));
        }
        let resp = rq.send().await.map_err(|e| http_err(turl.as_str(), e))?;
        if !resp.status().is_success() {
            return Err(Error::Unauthorized {
                registry: url.to_string(),
                reason: format!("token endpoint {turl} answered HTTP {}", resp.status()),
            });
        }
        let body = resp.bytes().await.map_err(|e| http_err(turl.as_str(), e))?;
        #[derive(serde::Deserialize)]
        struct Tok {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Tok = serde_json::from_slice(&body).map_err(|e| Error::Unauthorized {
            registry: url.to_string(),
            reason: format!("token endpoint {turl} sent bad JSON: {e}"),
        })?;
        t.token
            .filter(|s| !s.is_empty())
            .or(t.access_token)
            .ok_or_else(|| Error::Unauthorized {
                registry: url.to_string(),
                reason: format!("token endpoint {turl} sent no token"),
            })
    }

    /// Fetch a manifest by tag or digest from hosts allowed `kind` (containerd: the image's own
    /// reference is resolved, the platform manifest of an index is pulled). Returns (media type,
    /// body, sha256 digest of body). When `expected` is given the body must hash to it.
    pub(crate) async fn manifest(
        &self,
        r: &Reference,
        reference: &str,
        kind: Kind,
        expected: Option<&str>,
        auth: Option<&Auth>,
    ) -> Result<(String, Vec<u8>, String), Error> {
        let suffix = format!("manifests/{reference}");
        let mut resp = self
            .get_any(r, kind, &suffix, Some(MANIFEST_ACCEPT), auth, "manifest")
            .await?;
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let url = resp.url().to_string();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| http_err(&url, e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_MANIFEST {
                return Err(http_err(
                    &url,
                    format!("manifest larger than {MAX_MANIFEST} bytes"),
                ));
            }
        }
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        if let Some(e) = expected {
            if e != digest {
                return Err(Error::DigestMismatch {
                    what: format!("manifest {url}"),
                    expected: e.to_string(),
                    actual: digest,
                });
            }
        }
        Ok((ct, body, digest))
    }

    /// Download blob `digest` into `dest` (via a temp file next to it), verifying size and digest.
    pub(crate) async fn blob_to_file(
        &self,
        r: &Reference,
        digest: &str,
        size: Option<u64>,
        dest: &Path,
        auth: Option<&Auth>,
    ) -> Result<(), Error> {
        let mut resp = self
            .get_any(
                r,
                Kind::Pull,
                &format!("blobs/{digest}"),
                None,
                auth,
                "blob",
            )
            .await?;
        let url = resp.url().to_string();
        let tmp = tmp_path(dest);
        let mut f = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| Error::io("create", &tmp, e))?;
        let guard = RemoveOnDrop(tmp.clone());
        let mut h = Sha256::new();
        let mut n: u64 = 0;
        while let Some(chunk) = resp.chunk().await.map_err(|e| http_err(&url, e))? {
            h.update(&chunk);
            n += chunk.len() as u64;
            if let Some(s) = size {
                if n > s {
                    return Err(Error::DigestMismatch {
                        what: format!("blob {url} (longer than its descriptor's {s} bytes)"),
                        expected: digest.to_string(),
                        actual: "<too long>".to_string(),
                    });
                }
            }
            f.write_all(&chunk)
                .await
                .map_err(|e| Error::io("write", &tmp, e))?;
        }
        f.sync_all()
            .await
            .map_err(|e| Error::io("fsync", &tmp, e))?;
        drop(f);
        let actual = format!("sha256:{}", hex::encode(h.finalize()));
        if actual != digest {
            return Err(Error::DigestMismatch {
                what: format!("blob {url}"),
                expected: digest.to_string(),
                actual,
            });
        }
        tokio::fs::rename(&tmp, dest)
            .await
            .map_err(|e| Error::io("rename", &tmp, e))?;
        std::mem::forget(guard);
        Ok(())
    }
}

/// A unique temporary name next to `p`.
pub(crate) fn tmp_path(p: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let name = p
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        name
    ))
}

/// Removes a file when dropped (unless forgotten).
pub(crate) struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parsing() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:library/busybox:pull,push");
        let c = parse_challenge(r#"Basic realm="x""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
    }

    #[test]
    fn creds_from_auth_field() {
        let a = Auth {
            auth: base64::engine::general_purpose::STANDARD.encode("bob:s3:cret"),
            ..Default::default()
        };
        let c = creds(Some(&a));
        assert_eq!(c.basic, Some(("bob".to_string(), "s3:cret".to_string())));
        let a = Auth {
            registry_token: "tok".into(),
            ..Default::default()
        };
        assert_eq!(creds(Some(&a)).bearer.as_deref(), Some("tok"));
        assert!(creds(None).basic.is_none());
    }
}
