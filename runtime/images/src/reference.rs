//! Image reference normalisation with the docker CLI / containerd rules.

use std::fmt;

use crate::Error;

/// The default registry of short names.
pub const DEFAULT_DOMAIN: &str = "docker.io";

/// A fully qualified image reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (with port), e.g. `docker.io`, `10.0.0.1:5000`.
    pub domain: String,
    /// Repository path inside the registry, e.g. `library/busybox`.
    pub path: String,
    /// Tag, if any (`latest` is filled in when neither tag nor digest is given).
    pub tag: Option<String>,
    /// Digest (`sha256:<hex>`), if any.
    pub digest: Option<String>,
}

impl Reference {
    /// `domain/path`, the repository name.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `domain/path:tag` when tagged.
    pub fn repo_tag(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{}", self.name(), t))
    }

    /// The tag or digest to ask the registry's manifests endpoint for (digest wins).
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.clone(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Check a `sha256:<64 lowercase hex>` digest.
pub fn validate_digest(d: &str) -> Result<(), Error> {
    match d.strip_prefix("sha256:") {
        Some(h)
            if h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(())
        }
        _ => Err(Error::InvalidDigest(d.to_string())),
    }
}

fn bad(reference: &str, reason: impl Into<String>) -> Error {
    Error::InvalidReference {
        reference: reference.to_string(),
        reason: reason.into(),
    }
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+ separated by '.', '_', '__' or '-'+
    if c.is_empty() {
        return false;
    }
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    b.iter()
        .all(|&x| alnum(x) || x == b'.' || x == b'_' || x == b'-')
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

/// Normalise a reference the way the docker CLI and containerd do:
/// `busybox` → `docker.io/library/busybox:latest`, `name@sha256:..`, `name:tag@sha256:..`.
pub fn normalize_reference(s: &str) -> Result<Reference, Error> {
    if s.is_empty() {
        return Err(bad(s, "empty"));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => {
            validate_digest(d).map_err(|_| bad(s, format!("bad digest {d:?}")))?;
            (r, Some(d.to_string()))
        }
        None => (s, None),
    };
    // The tag is after the last ':' that follows the last '/'.
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let t = &rest[last_slash + i + 1..];
            if !valid_tag(t) {
                return Err(bad(s, format!("bad tag {t:?}")));
            }
            (&rest[..last_slash + i], Some(t.to_string()))
        }
        None => (rest, None),
    };
    let (domain, path) = match name.split_once('/') {
        Some((d, p)) if d.contains('.') || d.contains(':') || d == "localhost" => {
            (d.to_string(), p.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain.is_empty()
        || !domain.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || b == b'.'
                || b == b'-'
                || b == b':'
                || b == b'['
                || b == b']'
        })
    {
        return Err(bad(s, format!("bad registry host {domain:?}")));
    }
    let domain = if domain == "index.docker.io" {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    if path.is_empty() || !path.split('/').all(valid_path_component) {
        return Err(bad(
            s,
            format!("bad repository path {path:?} (lowercase letters, digits and separators only)"),
        ));
    }
    if name.len() > 255 {
        return Err(bad(s, "repository name longer than 255 characters"));
    }
    let tag = if tag.is_none() && digest.is_none() {
        Some("latest".to_string())
    } else {
        tag
    };
    Ok(Reference {
        domain,
        path,
        tag,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:9700f9a2f5bf2c45f2f605a0bd3bce7cf37420ec9d3ed50ac2758413308766bf";

    fn n(s: &str) -> String {
        normalize_reference(s).unwrap().to_string()
    }

    #[test]
    fn short_names() {
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(n("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            n("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
    }

    #[test]
    fn qualified_names() {
        assert_eq!(
            n("gcr.io/k8s-staging-cri-tools/test-image-tag:test"),
            "gcr.io/k8s-staging-cri-tools/test-image-tag:test"
        );
        assert_eq!(n("localhost/foo"), "localhost/foo:latest");
        assert_eq!(n("10.0.0.1:5000/a/b"), "10.0.0.1:5000/a/b:latest");
        let r = normalize_reference("10.0.0.1:5000/a/b:v1").unwrap();
        assert_eq!(r.domain, "10.0.0.1:5000");
        assert_eq!(r.path, "a/b");
        assert_eq!(r.tag.as_deref(), Some("v1"));
    }

    #[test]
    fn digests() {
        let r = normalize_reference(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.manifest_ref(), D);
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));
        let r = normalize_reference(&format!("busybox:1.36@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1.36"));
        assert_eq!(r.manifest_ref(), D);
        assert_eq!(r.repo_tag().unwrap(), "docker.io/library/busybox:1.36");
    }

    #[test]
    fn rejects_bad() {
        for s in [
            "",
            "Busybox",
            "busybox@sha256:abc",
            "a//b",
            "busybox:",
            "busybox:-x",
            "-a/b",
        ] {
            assert!(normalize_reference(s).is_err(), "{s} accepted");
        }
    }
}
