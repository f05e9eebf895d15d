//! Image pull specs (`[registry/][namespace/]name[:tag][@digest]`), parsed the way OpenShift's
//! `DockerImageReference` and the Docker CLI read them.
//!
//! - The first path component is a registry when it contains `.` or `:` or is `localhost`;
//!   otherwise the image is on Docker Hub (`docker.io`).
//! - On Docker Hub a one-component name lives in `library` (`busybox` = `docker.io/library/busybox`).
//! - Everything between registry and the last component is the namespace (it may contain `/`).
//! - A reference without tag or digest means tag `latest` when pulled.

use std::fmt;

use crate::error::Error;

/// Docker Hub's registry name as written in pull specs.
pub const DOCKER_HUB: &str = "docker.io";
/// Host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// Namespace of Docker Hub's official images.
pub const DOCKER_HUB_LIBRARY: &str = "library";

/// A parsed image pull spec. Fields hold what was written; the `*_or_default` accessors and
/// [`ImageReference::normalized`] fill in Docker Hub's defaults.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ImageReference {
    /// Registry host (with port), empty when not written.
    pub registry: String,
    /// Path between registry and name (may contain `/`), empty when not written.
    pub namespace: String,
    /// Last path component.
    pub name: String,
    /// Tag, empty when not written.
    pub tag: String,
    /// Digest (`sha256:<hex>`), empty when not written.
    pub digest: String,
}

fn is_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`, the distribution spec's path component.
fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let Some(first) = bytes.first() else {
        return false;
    };
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(first) || !bytes.last().is_some_and(alnum) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(&b) {
            i += 1;
            continue;
        }
        // separators: '.', '_', '__', or any run of '-'
        let start = i;
        while i < bytes.len() && !alnum(&bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let mut chars = t.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    t.len() <= 128
        && (first.is_ascii_alphanumeric() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

/// `<algorithm>:<hex>` with a known algorithm and hex of the right length.
pub fn valid_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        // an IPv6 literal is `[..]` with an optional port
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (r, None),
    };
    if let Some(p) = port
        && (p.is_empty() || p.parse::<u16>().is_err())
    {
        return false;
    }
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
}

impl ImageReference {
    /// Parses a pull spec. Errors name what is wrong, for the tag's ImportFailed condition.
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::MalformedReference {
            reference: spec.to_owned(),
            reason: why.to_owned(),
        };
        if spec.is_empty() {
            return Err(bad("the reference is empty"));
        }
        if spec.len() > 4096 {
            return Err(bad("the reference is longer than 4096 characters"));
        }
        if spec.chars().any(|c| c.is_whitespace()) {
            return Err(bad("the reference contains white space"));
        }
        let (rest, digest) = match spec.split_once('@') {
            Some((r, d)) => {
                if !valid_digest(d) {
                    return Err(bad(&format!(
                        "{d:?} is not a digest (sha256:<64 hex digits>)"
                    )));
                }
                (r, d)
            }
            None => (spec, ""),
        };
        let mut parts: Vec<&str> = rest.split('/').collect();
        let registry = if parts.len() > 1 && parts.first().is_some_and(|p| is_registry(p)) {
            let r = parts.remove(0);
            if !valid_registry(r) {
                return Err(bad(&format!("{r:?} is not a registry host[:port]")));
            }
            r
        } else {
            ""
        };
        let last = parts.pop().unwrap_or_default();
        let (name, tag) = match last.split_once(':') {
            Some((n, t)) => {
                if !valid_tag(t) {
                    return Err(bad(&format!("{t:?} is not a valid tag")));
                }
                (n, t)
            }
            None => (last, ""),
        };
        for c in parts.iter().chain(std::iter::once(&name)) {
            if !valid_component(c) {
                return Err(bad(&format!(
                    "repository path component {c:?} must be lowercase letters and digits separated by '.', '_', '__' or '-'"
                )));
            }
        }
        Ok(ImageReference {
            registry: registry.to_owned(),
            namespace: parts.join("/"),
            name: name.to_owned(),
            tag: tag.to_owned(),
            digest: digest.to_owned(),
        })
    }

    /// The registry, `docker.io` when none was written.
    pub fn registry_or_default(&self) -> &str {
        if self.registry.is_empty() {
            DOCKER_HUB
        } else {
            &self.registry
        }
    }

    /// Whether the image is on Docker Hub (written or implied).
    pub fn is_docker_hub(&self) -> bool {
        matches!(
            self.registry_or_default(),
            DOCKER_HUB | "index.docker.io" | DOCKER_HUB_API_HOST
        )
    }

    /// The repository path inside the registry: `namespace/name`, with `library/` added for
    /// one-component Docker Hub names.
    pub fn repository(&self) -> String {
        if self.namespace.is_empty() {
            if self.is_docker_hub() {
                format!("{DOCKER_HUB_LIBRARY}/{}", self.name)
            } else {
                self.name.clone()
            }
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    /// The tag, `latest` when neither tag nor digest was written, empty for digest-only specs.
    pub fn tag_or_default(&self) -> &str {
        if self.tag.is_empty() && self.digest.is_empty() {
            outrigger_api::image::DEFAULT_TAG
        } else {
            &self.tag
        }
    }

    /// The fully qualified form: registry and namespace filled in, tag `latest` if nothing
    /// pins the image.
    pub fn normalized(&self) -> ImageReference {
        let repo = self.repository();
        let (namespace, name) = match repo.rsplit_once('/') {
            Some((ns, n)) => (ns.to_owned(), n.to_owned()),
            None => (String::new(), repo),
        };
        ImageReference {
            registry: self.registry_or_default().to_owned(),
            namespace,
            name,
            tag: self.tag_or_default().to_owned(),
            digest: self.digest.clone(),
        }
    }

    /// `registry/repository` of the normalized form, the base of digest pull specs.
    pub fn repository_location(&self) -> String {
        format!("{}/{}", self.registry_or_default(), self.repository())
    }

    /// The most specific pull spec for an image of this repository with `digest`:
    /// `registry/repository@digest` (what imports record as `dockerImageReference`).
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}@{digest}", self.repository_location())
    }

    /// The host to talk to for the registry API (Docker Hub's API host differs from its name).
    pub fn api_host(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_API_HOST
        } else {
            self.registry_or_default()
        }
    }
}

impl fmt::Display for ImageReference {
    /// The reference as written (no defaults added).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.registry.is_empty() {
            write!(f, "{}/", self.registry)?;
        }
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        f.write_str(&self.name)?;
        if !self.tag.is_empty() {
            write!(f, ":{}", self.tag)?;
        }
        if !self.digest.is_empty() {
            write!(f, "@{}", self.digest)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn p(s: &str) -> ImageReference {
        ImageReference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_defaults() {
        let r = p("busybox");
        assert_eq!(r.registry, "");
        assert_eq!(r.namespace, "");
        assert_eq!(r.name, "busybox");
        assert_eq!(r.registry_or_default(), "docker.io");
        assert_eq!(r.repository(), "library/busybox");
        assert_eq!(r.tag_or_default(), "latest");
        assert_eq!(
            r.normalized().to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(
            p("openshift/hello-openshift").normalized().to_string(),
            "docker.io/openshift/hello-openshift:latest"
        );
        assert_eq!(p("docker.io/busybox:1.36").repository(), "library/busybox");
        assert_eq!(p("index.docker.io/busybox").repository(), "library/busybox");
    }

    #[test]
    fn registries_namespaces_tags_digests() {
        let r = p("quay.io/openshift/origin-cli:4.16");
        assert_eq!(
            (
                r.registry.as_str(),
                r.namespace.as_str(),
                r.name.as_str(),
                r.tag.as_str()
            ),
            ("quay.io", "openshift", "origin-cli", "4.16")
        );
        let r = p(&format!("10.0.0.1:5000/a/b/c:v1@{D}"));
        assert_eq!(r.registry, "10.0.0.1:5000");
        assert_eq!(r.namespace, "a/b");
        assert_eq!(r.name, "c");
        assert_eq!(r.tag, "v1");
        assert_eq!(r.digest, D);
        assert_eq!(r.tag_or_default(), "v1");
        assert_eq!(r.to_string(), format!("10.0.0.1:5000/a/b/c:v1@{D}"));
        let r = p(&format!("localhost/app@{D}"));
        assert_eq!(r.registry, "localhost");
        assert_eq!(r.tag_or_default(), "");
        assert_eq!(r.repository(), "app");
        assert_eq!(r.with_digest(D), format!("localhost/app@{D}"));
        assert_eq!(
            p("busybox:1.36").with_digest(D),
            format!("docker.io/library/busybox@{D}")
        );
        // a first component without '.' or ':' is a namespace, not a registry
        let r = p("myorg/app");
        assert_eq!(r.registry, "");
        assert_eq!(r.namespace, "myorg");
        // registry with port and no namespace
        let r = p("127.0.0.1:5000/app:dev");
        assert_eq!(r.repository_location(), "127.0.0.1:5000/app");
        assert_eq!(r.api_host(), "127.0.0.1:5000");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "UPPER/case",
            "app:",
            "app@sha256:00",
            "app@md5:0123",
            "a//b",
            "app:bad tag",
            "-app",
            "app-",
            "app:.tag",
            "host:port/app",
            "reg.io:99999/app",
            "a/b/",
            "app..x",
        ] {
            let err = ImageReference::parse(bad).expect_err(bad);
            assert!(
                matches!(err, Error::MalformedReference { .. }),
                "{bad}: {err}"
            );
        }
        let err = ImageReference::parse("Foo").expect_err("uppercase");
        assert!(err.to_string().contains("lowercase"), "{err}");
    }

    #[test]
    fn accepts_separators() {
        for ok in ["a_b", "a__b", "a---b", "a.b", "x/y-z/w_1.2:tag_-.1", "a:_x"] {
            p(ok);
        }
        assert!(valid_digest(D));
        assert!(!valid_digest("sha256:ABCDEF"));
    }
}
