//! Host names and paths: validation, the wildcard domain of a host, and OpenShift's path match
//! (`/foo` matches `/foo` and `/foo/...` but not `/foobar`; `/foo/` matches everything below it;
//! `/` or no path matches every path).

/// Why a host is not valid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostError {
    /// Longer than 253 characters.
    #[error("host must be no more than 253 characters")]
    TooLong,
    /// A label is empty, longer than 63 characters, or has characters outside `[a-z0-9-]`
    /// or starts/ends with `-`.
    #[error(
        "host label {0:?} must consist of lower case alphanumeric characters or '-', start and end with an alphanumeric character, and be at most 63 characters"
    )]
    InvalidLabel(String),
}

/// Validates a host as a DNS-1123 subdomain (OpenShift's `InvalidHost` check). `allow_long_labels`
/// is the `route.openshift.io/allow-non-dns-compliant-host: "true"` escape hatch.
pub fn validate_host(host: &str, allow_long_labels: bool) -> Result<(), HostError> {
    if host.len() > 253 {
        return Err(HostError::TooLong);
    }
    for label in host.split('.') {
        let ok_chars = !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok_chars || (label.len() > 63 && !allow_long_labels) {
            return Err(HostError::InvalidLabel(label.to_string()));
        }
    }
    Ok(())
}

/// The domain a `Subdomain` wildcard route on `host` claims (`www.example.com` → `example.com`),
/// and the domain a plain route's host lives under. `None` for a single-label host.
pub fn wildcard_domain(host: &str) -> Option<&str> {
    host.split_once('.')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
}

/// Normalises a request's `Host` (or `:authority`): lower case, without port and trailing dot.
pub fn normalize_request_host(host: &str) -> String {
    let h = if host.starts_with('[') {
        // IPv6 literal: keep the brackets, drop the port
        host.split_once(']').map_or(host, |(a, _)| a).to_string() + "]"
    } else {
        host.rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
            .to_string()
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// Normalises `spec.path`: `None`, empty and `/` all mean "every path" and become `""`.
pub fn normalize_route_path(path: Option<&str>) -> String {
    match path {
        None => String::new(),
        Some(p) if p.trim_end_matches('/').is_empty() => String::new(),
        Some(p) => p.to_string(),
    }
}

/// OpenShift's path rule for a normalised route path against a request path (no query).
pub fn path_matches(route_path: &str, request_path: &str) -> bool {
    if route_path.is_empty() {
        return true;
    }
    let Some(rest) = request_path.strip_prefix(route_path) else {
        return false;
    };
    route_path.ends_with('/') || rest.is_empty() || rest.starts_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert!(validate_host("a-b.example.com", false).is_ok());
        assert!(validate_host("Upper.example.com", false).is_err());
        assert!(validate_host("-a.example.com", false).is_err());
        assert!(validate_host("a..b", false).is_err());
        assert!(validate_host("a_b.example.com", false).is_err());
        let long = "a".repeat(64);
        assert_eq!(
            validate_host(&format!("{long}.example.com"), false),
            Err(HostError::InvalidLabel(long.clone()))
        );
        assert!(validate_host(&format!("{long}.example.com"), true).is_ok());
        assert_eq!(
            validate_host(&"a.".repeat(130), true),
            Err(HostError::TooLong)
        );
    }

    #[test]
    fn wildcard_domains() {
        assert_eq!(wildcard_domain("www.example.com"), Some("example.com"));
        assert_eq!(wildcard_domain("localhost"), None);
    }

    #[test]
    fn request_hosts() {
        assert_eq!(
            normalize_request_host("WWW.Example.com:8080"),
            "www.example.com"
        );
        assert_eq!(
            normalize_request_host("www.example.com."),
            "www.example.com"
        );
        assert_eq!(normalize_request_host("[::1]:80"), "[::1]");
    }

    #[test]
    fn paths() {
        assert_eq!(normalize_route_path(Some("/")), "");
        assert_eq!(normalize_route_path(None), "");
        assert!(path_matches("", "/anything"));
        assert!(path_matches("/foo", "/foo"));
        assert!(path_matches("/foo", "/foo/bar"));
        assert!(!path_matches("/foo", "/foobar"));
        assert!(!path_matches("/foo", "/"));
        assert!(path_matches("/foo/", "/foo/bar"));
        assert!(!path_matches("/foo/", "/foo"));
    }
}
