//! The `haproxy.router.openshift.io/*` and `router.openshift.io/*` annotations the router
//! honours, parsed into [`RouteOptions`]. A malformed value is ignored (the default applies, as
//! in OpenShift's router) and reported as an [`AnnotationProblem`], which the router surfaces in
//! the route's `Admitted` condition message.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// `haproxy.router.openshift.io/timeout`: server timeout.
pub const TIMEOUT: &str = "haproxy.router.openshift.io/timeout";
/// `haproxy.router.openshift.io/timeout-tunnel`: WebSocket / passthrough idle timeout.
pub const TIMEOUT_TUNNEL: &str = "haproxy.router.openshift.io/timeout-tunnel";
/// `haproxy.router.openshift.io/balance`: load-balancing algorithm.
pub const BALANCE: &str = "haproxy.router.openshift.io/balance";
/// `haproxy.router.openshift.io/ip_allowlist`: allowed source addresses.
pub const IP_ALLOWLIST: &str = "haproxy.router.openshift.io/ip_allowlist";
/// Legacy spelling of [`IP_ALLOWLIST`].
pub const IP_WHITELIST: &str = "haproxy.router.openshift.io/ip_whitelist";
/// `haproxy.router.openshift.io/rate-limit-connections`: enables the limits below.
pub const RATE_LIMIT: &str = "haproxy.router.openshift.io/rate-limit-connections";
/// Maximum concurrent connections per source address.
pub const RATE_LIMIT_CONCURRENT_TCP: &str =
    "haproxy.router.openshift.io/rate-limit-connections.concurrent-tcp";
/// New connections per source address per 3 s.
pub const RATE_LIMIT_RATE_TCP: &str = "haproxy.router.openshift.io/rate-limit-connections.rate-tcp";
/// Requests per source address per 10 s.
pub const RATE_LIMIT_RATE_HTTP: &str =
    "haproxy.router.openshift.io/rate-limit-connections.rate-http";
/// `haproxy.router.openshift.io/disable_cookies`: no sticky-session cookie.
pub const DISABLE_COOKIES: &str = "haproxy.router.openshift.io/disable_cookies";
/// `router.openshift.io/cookie_name`: name of the sticky cookie.
pub const COOKIE_NAME: &str = "router.openshift.io/cookie_name";
/// `router.openshift.io/cookie-same-site`: SameSite of the sticky cookie.
pub const COOKIE_SAME_SITE: &str = "router.openshift.io/cookie-same-site";
/// `haproxy.router.openshift.io/hsts_header`: Strict-Transport-Security value.
pub const HSTS_HEADER: &str = "haproxy.router.openshift.io/hsts_header";
/// `haproxy.router.openshift.io/rewrite-target`: replacement for the matched path prefix.
pub const REWRITE_TARGET: &str = "haproxy.router.openshift.io/rewrite-target";
/// `haproxy.router.openshift.io/set-forwarded-headers`: X-Forwarded-* policy.
pub const SET_FORWARDED_HEADERS: &str = "haproxy.router.openshift.io/set-forwarded-headers";
/// `route.openshift.io/allow-non-dns-compliant-host`: allow host labels longer than 63.
pub const ALLOW_NON_DNS_COMPLIANT_HOST: &str = "route.openshift.io/allow-non-dns-compliant-host";

/// The router's default server timeout (OpenShift's `ROUTER_DEFAULT_SERVER_TIMEOUT`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The router's default tunnel timeout (OpenShift's `ROUTER_DEFAULT_TUNNEL_TIMEOUT`).
pub const DEFAULT_TUNNEL_TIMEOUT: Duration = Duration::from_secs(3600);

/// Load-balancing algorithm among the endpoints of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    /// Rotate through endpoints.
    RoundRobin,
    /// The endpoint with the fewest requests in flight.
    LeastConn,
    /// Hash of the client address.
    Source,
    /// Uniformly random.
    Random,
}

/// What to do with `X-Forwarded-*` / `Forwarded` request headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ForwardedHeaders {
    /// Append the router's values to those sent by the client (default).
    #[default]
    Append,
    /// Replace the client's values.
    Replace,
    /// Neither add nor remove them.
    Never,
    /// Add them only when the client sent none.
    IfNone,
}

/// SameSite attribute of the sticky-session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SameSite {
    /// `Lax`.
    Lax,
    /// `Strict`.
    Strict,
    /// `None` (OpenShift's default).
    #[default]
    None,
}

impl SameSite {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// Per-source-address limits (`rate-limit-connections.*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RateLimit {
    /// Maximum concurrent connections per source address.
    pub concurrent_tcp: Option<u32>,
    /// Maximum new connections per source address per 3 s.
    pub rate_tcp: Option<u32>,
    /// Maximum requests per source address per 10 s.
    pub rate_http: Option<u32>,
}

/// An IPv4/IPv6 network in CIDR form (a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `10.0.0.0/8`, `192.168.1.1`, `fd00::/8`.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { addr, prefix })
    }

    /// Whether `ip` is inside the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The options of one route, from its annotations.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteOptions {
    /// Time to wait for the backend (server timeout).
    pub timeout: Duration,
    /// Idle timeout of upgraded (WebSocket) and passthrough connections.
    pub tunnel_timeout: Duration,
    /// Explicit algorithm; `None` means OpenShift's default (see [`RouteOptions::balance_for`]).
    pub balance: Option<Balance>,
    /// Allowed source networks; `None` allows everyone.
    pub ip_allowlist: Option<Vec<IpNet>>,
    /// Per-source limits, when `rate-limit-connections` is `"true"`.
    pub rate_limit: Option<RateLimit>,
    /// Strict-Transport-Security value for TLS responses.
    pub hsts: Option<String>,
    /// No sticky-session cookie.
    pub disable_cookies: bool,
    /// Name of the sticky cookie; `None` means a name derived from the route.
    pub cookie_name: Option<String>,
    /// SameSite of the sticky cookie.
    pub cookie_same_site: SameSite,
    /// Replacement for the matched `spec.path` prefix.
    pub rewrite_target: Option<String>,
    /// X-Forwarded-* policy.
    pub forwarded_headers: ForwardedHeaders,
}

impl Default for RouteOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            tunnel_timeout: DEFAULT_TUNNEL_TIMEOUT,
            balance: None,
            ip_allowlist: None,
            rate_limit: None,
            hsts: None,
            disable_cookies: false,
            cookie_name: None,
            cookie_same_site: SameSite::None,
            rewrite_target: None,
            forwarded_headers: ForwardedHeaders::Append,
        }
    }
}

impl RouteOptions {
    /// The algorithm in effect: the annotation, else OpenShift's default — `roundrobin` with more
    /// than one active backend service, `source` for passthrough, else `random`.
    pub fn balance_for(&self, active_services: usize, passthrough: bool) -> Balance {
        self.balance.unwrap_or(if active_services > 1 {
            Balance::RoundRobin
        } else if passthrough {
            Balance::Source
        } else {
            Balance::Random
        })
    }
}

/// An annotation whose value was ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnotationProblem {
    /// Annotation key.
    pub key: String,
    /// The value found.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for AnnotationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?} ignored: {}", self.key, self.value, self.reason)
    }
}

/// Parses an HAProxy time: a number with an optional unit `us`, `ms`, `s`, `m`, `h`, `d`
/// (no unit means milliseconds).
pub fn parse_haproxy_time(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let d = match unit {
        "us" => Duration::from_micros(n),
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86_400)?),
        _ => return None,
    };
    Some(d)
}

/// Checks an HSTS value: `max-age=N` is required; `includeSubDomains` and `preload` optional;
/// directives separated by `;` (case-insensitive, spaces allowed).
fn valid_hsts(v: &str) -> bool {
    let mut max_age = false;
    for d in v.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let lower = d.to_ascii_lowercase();
        if let Some(n) = lower.strip_prefix("max-age") {
            let n = n.trim_start().strip_prefix('=').map(str::trim);
            let n = n.map(|n| n.trim_matches('"'));
            if max_age || !n.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            {
                return false;
            }
            max_age = true;
        } else if lower != "includesubdomains" && lower != "preload" {
            return false;
        }
    }
    max_age
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" | "" => Some(false),
        _ => None,
    }
}

/// Reads the options from a route's annotations.
pub fn parse(annotations: &BTreeMap<String, String>) -> (RouteOptions, Vec<AnnotationProblem>) {
    let mut o = RouteOptions::default();
    let mut problems = Vec::new();
    let mut bad = |key: &str, value: &str, reason: &str| {
        problems.push(AnnotationProblem {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        });
    };
    let get = |k: &str| annotations.get(k).map(String::as_str);

    if let Some(v) = get(TIMEOUT) {
        match parse_haproxy_time(v) {
            Some(d) if !d.is_zero() => o.timeout = d,
            _ => bad(TIMEOUT, v, "not an HAProxy time such as 5s, 2m or 500ms"),
        }
    }
    if let Some(v) = get(TIMEOUT_TUNNEL) {
        match parse_haproxy_time(v) {
            Some(d) if !d.is_zero() => o.tunnel_timeout = d,
            _ => bad(
                TIMEOUT_TUNNEL,
                v,
                "not an HAProxy time such as 5s, 2m or 500ms",
            ),
        }
    }
    if let Some(v) = get(BALANCE) {
        o.balance = match v.trim() {
            "roundrobin" => Some(Balance::RoundRobin),
            "leastconn" => Some(Balance::LeastConn),
            "source" => Some(Balance::Source),
            "random" => Some(Balance::Random),
            _ => {
                bad(
                    BALANCE,
                    v,
                    "must be one of roundrobin, leastconn, source, random",
                );
                None
            }
        };
    }
    let allow = get(IP_ALLOWLIST)
        .map(|v| (IP_ALLOWLIST, v))
        .or_else(|| get(IP_WHITELIST).map(|v| (IP_WHITELIST, v)));
    if let Some((key, v)) = allow {
        let nets: Option<Vec<IpNet>> = v.split_whitespace().map(IpNet::parse).collect();
        match nets {
            Some(n) if !n.is_empty() => o.ip_allowlist = Some(n),
            Some(_) => {}
            None => bad(
                key,
                v,
                "must be space-separated IP addresses or CIDR networks",
            ),
        }
    }
    if let Some(v) = get(RATE_LIMIT) {
        match parse_bool(v) {
            Some(true) => {
                let mut rl = RateLimit::default();
                for (key, slot) in [
                    (RATE_LIMIT_CONCURRENT_TCP, &mut rl.concurrent_tcp),
                    (RATE_LIMIT_RATE_TCP, &mut rl.rate_tcp),
                    (RATE_LIMIT_RATE_HTTP, &mut rl.rate_http),
                ] {
                    if let Some(v) = get(key) {
                        match v.trim().parse::<u32>() {
                            Ok(n) if n > 0 => *slot = Some(n),
                            _ => bad(key, v, "must be a positive integer"),
                        }
                    }
                }
                o.rate_limit = Some(rl);
            }
            Some(false) => {}
            None => bad(RATE_LIMIT, v, "must be \"true\" or \"false\""),
        }
    }
    if let Some(v) = get(HSTS_HEADER) {
        if valid_hsts(v) {
            o.hsts = Some(v.trim().to_string());
        } else {
            bad(
                HSTS_HEADER,
                v,
                "must be max-age=<seconds> optionally followed by ;includeSubDomains and ;preload",
            );
        }
    }
    if let Some(v) = get(DISABLE_COOKIES) {
        match parse_bool(v) {
            Some(b) => o.disable_cookies = b,
            None => bad(DISABLE_COOKIES, v, "must be \"true\" or \"false\""),
        }
    }
    if let Some(v) = get(COOKIE_NAME) {
        let ok = !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            o.cookie_name = Some(v.to_string());
        } else {
            bad(
                COOKIE_NAME,
                v,
                "must be a non-empty cookie name of letters, digits, '-', '_' or '.'",
            );
        }
    }
    if let Some(v) = get(COOKIE_SAME_SITE) {
        o.cookie_same_site = match v.trim() {
            "Lax" => SameSite::Lax,
            "Strict" => SameSite::Strict,
            "None" => SameSite::None,
            _ => {
                bad(COOKIE_SAME_SITE, v, "must be one of Lax, Strict, None");
                SameSite::None
            }
        };
    }
    if let Some(v) = get(REWRITE_TARGET) {
        if v.starts_with('/') && !v.contains(char::is_whitespace) {
            o.rewrite_target = Some(v.to_string());
        } else {
            bad(
                REWRITE_TARGET,
                v,
                "must be a path starting with / and without spaces",
            );
        }
    }
    if let Some(v) = get(SET_FORWARDED_HEADERS) {
        o.forwarded_headers = match v.trim() {
            "append" => ForwardedHeaders::Append,
            "replace" => ForwardedHeaders::Replace,
            "never" => ForwardedHeaders::Never,
            "if-none" => ForwardedHeaders::IfNone,
            _ => {
                bad(
                    SET_FORWARDED_HEADERS,
                    v,
                    "must be one of append, replace, never, if-none",
                );
                ForwardedHeaders::Append
            }
        };
    }
    (o, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_annotations() {
        let (o, p) = parse(&BTreeMap::new());
        assert_eq!(o, RouteOptions::default());
        assert!(p.is_empty());
        assert_eq!(o.balance_for(1, false), Balance::Random);
        assert_eq!(o.balance_for(2, false), Balance::RoundRobin);
        assert_eq!(o.balance_for(1, true), Balance::Source);
    }

    #[test]
    fn haproxy_times() {
        assert_eq!(parse_haproxy_time("5s"), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_haproxy_time("500ms"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_haproxy_time("250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_haproxy_time("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_haproxy_time("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_haproxy_time("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_haproxy_time("10us"), Some(Duration::from_micros(10)));
        assert_eq!(parse_haproxy_time("5 s"), None);
        assert_eq!(parse_haproxy_time("s"), None);
        assert_eq!(parse_haproxy_time("-1s"), None);
        assert_eq!(parse_haproxy_time("99999999999999999999d"), None);
    }

    #[test]
    fn every_option_parses() {
        let (o, p) = parse(&ann(&[
            (TIMEOUT, "5s"),
            (TIMEOUT_TUNNEL, "1h"),
            (BALANCE, "leastconn"),
            (IP_ALLOWLIST, "10.0.0.0/8 192.168.1.7 fd00::/8"),
            (RATE_LIMIT, "true"),
            (RATE_LIMIT_CONCURRENT_TCP, "10"),
            (RATE_LIMIT_RATE_HTTP, "100"),
            (HSTS_HEADER, "max-age=31536000;includeSubDomains;preload"),
            (DISABLE_COOKIES, "true"),
            (COOKIE_NAME, "my_cookie"),
            (COOKIE_SAME_SITE, "Strict"),
            (REWRITE_TARGET, "/"),
            (SET_FORWARDED_HEADERS, "never"),
        ]));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(o.timeout, Duration::from_secs(5));
        assert_eq!(o.tunnel_timeout, Duration::from_secs(3600));
        assert_eq!(o.balance, Some(Balance::LeastConn));
        let nets = o.ip_allowlist.expect("allowlist");
        assert!(
            nets.iter()
                .any(|n| n.contains("10.1.2.3".parse().expect("ip")))
        );
        assert!(
            nets.iter()
                .any(|n| n.contains("192.168.1.7".parse().expect("ip")))
        );
        assert!(
            !nets
                .iter()
                .any(|n| n.contains("192.168.1.8".parse().expect("ip")))
        );
        assert!(
            nets.iter()
                .any(|n| n.contains("fd00::1".parse().expect("ip")))
        );
        assert!(
            nets.iter()
                .any(|n| n.contains("::ffff:10.0.0.1".parse().expect("ip")))
        );
        assert_eq!(
            o.rate_limit,
            Some(RateLimit {
                concurrent_tcp: Some(10),
                rate_tcp: None,
                rate_http: Some(100)
            })
        );
        assert_eq!(
            o.hsts.as_deref(),
            Some("max-age=31536000;includeSubDomains;preload")
        );
        assert!(o.disable_cookies);
        assert_eq!(o.cookie_name.as_deref(), Some("my_cookie"));
        assert_eq!(o.cookie_same_site, SameSite::Strict);
        assert_eq!(o.rewrite_target.as_deref(), Some("/"));
        assert_eq!(o.forwarded_headers, ForwardedHeaders::Never);
    }

    #[test]
    fn legacy_whitelist_key() {
        let (o, p) = parse(&ann(&[(IP_WHITELIST, "127.0.0.1")]));
        assert!(p.is_empty());
        assert!(o.ip_allowlist.is_some());
    }

    #[test]
    fn malformed_values_are_reported_and_defaults_kept() {
        let (o, p) = parse(&ann(&[
            (TIMEOUT, "soon"),
            (BALANCE, "fastest"),
            (IP_ALLOWLIST, "10.0.0.0/33 1.2.3.4"),
            (RATE_LIMIT, "yes"),
            (HSTS_HEADER, "includeSubDomains"),
            (DISABLE_COOKIES, "maybe"),
            (COOKIE_NAME, "a b"),
            (COOKIE_SAME_SITE, "lax"),
            (REWRITE_TARGET, "relative"),
            (SET_FORWARDED_HEADERS, "sometimes"),
        ]));
        assert_eq!(o, RouteOptions::default());
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        for k in [
            TIMEOUT,
            BALANCE,
            IP_ALLOWLIST,
            RATE_LIMIT,
            HSTS_HEADER,
            DISABLE_COOKIES,
            COOKIE_NAME,
            COOKIE_SAME_SITE,
            REWRITE_TARGET,
            SET_FORWARDED_HEADERS,
        ] {
            assert!(keys.contains(&k), "{k} not reported: {keys:?}");
        }
        assert!(p[0].to_string().contains("ignored"));
    }

    #[test]
    fn rate_limit_values_must_be_positive() {
        let (o, p) = parse(&ann(&[(RATE_LIMIT, "true"), (RATE_LIMIT_RATE_TCP, "0")]));
        assert_eq!(o.rate_limit, Some(RateLimit::default()));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn hsts_forms() {
        assert!(valid_hsts("max-age=0"));
        assert!(valid_hsts(" max-age = \"100\" ; preload"));
        assert!(!valid_hsts("max-age=1;max-age=2"));
        assert!(!valid_hsts("max-age=abc"));
        assert!(!valid_hsts("max-age=1;bogus"));
    }
}
