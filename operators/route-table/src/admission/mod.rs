//! Which routes a router admits, following OpenShift's router (`openshift/router`
//! `pkg/router/controller/unique_host.go`, `host_admitter.go`, extended validation):
//!
//! - sharding: a route is considered only when its labels match the route selector and its
//!   namespace's labels match the namespace selector; others get no status entry at all;
//! - host: `spec.host`, else `<spec.subdomain>.<domain>`, else the generated
//!   `<name>-<namespace>.<domain>`; none of these → `NoHostValue`; not a DNS subdomain →
//!   `InvalidHost`;
//! - wildcard (`Subdomain`) routes only when allowed, else `RouteNotAdmitted`;
//! - certificates and TLS settings must be usable, else `ExtendedValidationFailed`;
//! - claims, oldest first (creation timestamp, then UID): a host+path is served by its oldest
//!   route; with strict namespace ownership (the default) the oldest route on a host also makes
//!   its namespace the owner of the host, and a wildcard route and a plain route of different
//!   namespaces under the same domain block each other. Losers get `HostAlreadyClaimed`.
//!   Everything is recomputed from all routes, so deleting an owner re-admits the next oldest.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use outrigger_api::route::{Route, generated_host};
use rustls::crypto::CryptoProvider;

use crate::ObjectKey;
use crate::annotations::{self, AnnotationProblem, RouteOptions};
use crate::headers::{self, HeaderActions};
use crate::host::{self, normalize_route_path, validate_host, wildcard_domain};
use crate::selector::Selector;
use crate::tls::{self, RouteTls, Termination};

/// Condition type written by routers.
pub const CONDITION_ADMITTED: &str = "Admitted";

/// Whether routes of different namespaces may share a host (with different paths).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NamespaceOwnership {
    /// The oldest route's namespace owns the host (OpenShift's default).
    #[default]
    Strict,
    /// Only host+path uniqueness applies across namespaces
    /// (`ROUTER_DISABLE_NAMESPACE_OWNERSHIP_CHECK=true`).
    InterNamespaceAllowed,
}

/// How this router admits routes.
#[derive(Clone, Debug)]
pub struct AdmissionConfig {
    /// Router (shard) name written to `status.ingress[].routerName`.
    pub router_name: String,
    /// Domain for generated hosts and `spec.subdomain` (`ROUTER_DOMAIN`); `None` = no generation.
    pub domain: Option<String>,
    /// Routes considered (`ROUTE_LABELS`).
    pub route_selector: Selector,
    /// Namespaces considered (`NAMESPACE_LABELS`).
    pub namespace_selector: Selector,
    /// Namespace ownership of hosts.
    pub namespace_ownership: NamespaceOwnership,
    /// Whether `wildcardPolicy: Subdomain` routes are admitted (`ROUTER_ALLOW_WILDCARD_ROUTES`).
    pub allow_wildcards: bool,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            router_name: "default".into(),
            domain: None,
            route_selector: Selector::everything(),
            namespace_selector: Selector::everything(),
            namespace_ownership: NamespaceOwnership::Strict,
            allow_wildcards: false,
        }
    }
}

/// Reason of `Admitted=False`, as OpenShift's router spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No host and nothing to generate one from.
    NoHostValue,
    /// The host is not a valid DNS subdomain.
    InvalidHost,
    /// An older route holds the host (or host+path, or the wildcard domain).
    HostAlreadyClaimed,
    /// The router's policy refuses the route (e.g. wildcards not allowed).
    RouteNotAdmitted,
    /// Certificates or TLS settings are unusable.
    ExtendedValidationFailed,
}

impl Reason {
    /// The reason string of the condition.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoHostValue => "NoHostValue",
            Reason::InvalidHost => "InvalidHost",
            Reason::HostAlreadyClaimed => "HostAlreadyClaimed",
            Reason::RouteNotAdmitted => "RouteNotAdmitted",
            Reason::ExtendedValidationFailed => "ExtendedValidationFailed",
        }
    }
}

/// This router's decision on one route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Not in this router's shard: the router neither serves it nor writes status for it.
    NotSelected,
    /// Served under `host`.
    Admitted {
        /// The host served.
        host: String,
        /// Whether the route's `Subdomain` wildcard was admitted.
        wildcard: bool,
        /// Ignored annotation values, for the condition message.
        problems: Vec<String>,
    },
    /// Not served.
    Rejected {
        /// The host the route asked for, when it had one.
        host: Option<String>,
        /// Why.
        reason: Reason,
        /// Details for people.
        message: String,
    },
}

/// A backend reference of an admitted route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendRef {
    /// Service name (in the route's namespace).
    pub service: String,
    /// Relative weight (0..=256; 0 = no traffic).
    pub weight: u32,
}

/// An admitted route, ready for the table.
#[derive(Clone, Debug)]
pub struct AdmittedRoute {
    /// Namespace/name.
    pub key: ObjectKey,
    /// Host served (lower case).
    pub host: String,
    /// Normalised path (`""` = every path).
    pub path: String,
    /// Whether the route also serves `*.<domain of host>`.
    pub wildcard: bool,
    /// TLS, if any.
    pub tls: Option<RouteTls>,
    /// `to` followed by `alternateBackends`.
    pub backends: Vec<BackendRef>,
    /// `spec.port.targetPort`.
    pub target_port: Option<IntOrString>,
    /// Annotation options.
    pub options: RouteOptions,
    /// `spec.httpHeaders` actions.
    pub headers: HeaderActions,
}

/// The result of [`admit`].
#[derive(Clone, Debug, Default)]
pub struct Admission {
    /// One decision per route seen.
    pub decisions: BTreeMap<ObjectKey, Decision>,
    /// The admitted routes, oldest first.
    pub admitted: Vec<AdmittedRoute>,
}

struct Candidate<'a> {
    route: &'a Route,
    key: ObjectKey,
    host: String,
    path: String,
    wildcard: bool,
    tls: Option<RouteTls>,
    options: RouteOptions,
    headers: HeaderActions,
    problems: Vec<AnnotationProblem>,
}

fn reject(host: Option<String>, reason: Reason, message: String) -> Decision {
    Decision::Rejected {
        host,
        reason,
        message,
    }
}

/// Age order: creation timestamp, then UID (lower wins), then namespace/name for determinism.
fn age_key(r: &Route) -> (Option<&Time>, &str, Option<&str>, Option<&str>) {
    (
        r.metadata.creation_timestamp.as_ref(),
        r.metadata.uid.as_deref().unwrap_or(""),
        r.metadata.namespace.as_deref(),
        r.metadata.name.as_deref(),
    )
}

/// The host a route asks this router for, or why it has none.
fn route_host(cfg: &AdmissionConfig, key: &ObjectKey, route: &Route) -> Result<String, Decision> {
    let spec = &route.spec;
    let non_empty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let wildcard = spec.wildcard_policy.as_deref() == Some("Subdomain");
    let host = if let Some(h) = non_empty(&spec.host) {
        h.to_ascii_lowercase()
    } else if let (Some(sub), Some(domain)) = (non_empty(&spec.subdomain), cfg.domain.as_deref()) {
        format!("{}.{}", sub.to_ascii_lowercase(), domain)
    } else if let (Some(domain), false) = (cfg.domain.as_deref(), wildcard) {
        generated_host(&key.name, &key.namespace, domain).to_ascii_lowercase()
    } else {
        return Err(reject(
            None,
            Reason::NoHostValue,
            "no host value was defined for the route".into(),
        ));
    };
    let annotations = route.metadata.annotations.as_ref();
    let allow_long = annotations
        .and_then(|a| a.get(annotations::ALLOW_NON_DNS_COMPLIANT_HOST))
        .is_some_and(|v| v == "true");
    if let Err(e) = validate_host(&host, allow_long) {
        return Err(reject(
            Some(host),
            Reason::InvalidHost,
            format!("host name validation errors: {e}"),
        ));
    }
    Ok(host)
}

fn candidate<'a>(
    cfg: &AdmissionConfig,
    route: &'a Route,
    key: ObjectKey,
    provider: &CryptoProvider,
) -> Result<Candidate<'a>, Decision> {
    let host = route_host(cfg, &key, route)?;
    let wildcard = route.spec.wildcard_policy.as_deref() == Some("Subdomain");
    if wildcard && !cfg.allow_wildcards {
        return Err(reject(
            Some(host),
            Reason::RouteNotAdmitted,
            "wildcard routes are not allowed".into(),
        ));
    }
    if wildcard && wildcard_domain(&host).is_none() {
        return Err(reject(
            Some(host.clone()),
            Reason::RouteNotAdmitted,
            format!("host {host} has no parent domain for a Subdomain wildcard"),
        ));
    }
    let tls = match &route.spec.tls {
        None => None,
        Some(t) => match tls::prepare(t, provider) {
            Ok(t) => Some(t),
            Err(e) => {
                return Err(reject(
                    Some(host),
                    Reason::ExtendedValidationFailed,
                    e.to_string(),
                ));
            }
        },
    };
    let path = normalize_route_path(route.spec.path.as_deref());
    if !path.is_empty()
        && tls
            .as_ref()
            .is_some_and(|t| t.termination == Termination::Passthrough)
    {
        return Err(reject(
            Some(host),
            Reason::ExtendedValidationFailed,
            "passthrough termination does not support paths".into(),
        ));
    }
    let headers = match headers::parse(route.spec.http_headers.as_ref()) {
        Ok(h) => h,
        Err(e) => {
            return Err(reject(
                Some(host),
                Reason::ExtendedValidationFailed,
                format!("spec.httpHeaders: {e}"),
            ));
        }
    };
    let ann = route.metadata.annotations.clone().unwrap_or_default();
    let (options, problems) = annotations::parse(&ann);
    Ok(Candidate {
        route,
        key,
        host,
        path,
        wildcard,
        tls,
        options,
        headers,
        problems,
    })
}

fn backends(route: &Route) -> Vec<BackendRef> {
    let weight = |w: Option<i32>| u32::try_from(w.unwrap_or(100).clamp(0, 256)).unwrap_or(0);
    std::iter::once(&route.spec.to)
        .chain(route.spec.alternate_backends.iter().flatten())
        .map(|t| BackendRef {
            service: t.name.clone(),
            weight: weight(t.weight),
        })
        .collect()
}

#[derive(Default)]
struct Claims {
    /// host → (namespace, route name) of its oldest admitted route.
    host_owner: HashMap<String, (String, String)>,
    /// (host, path) → route name.
    host_path: HashMap<(String, String), ObjectKey>,
    /// domain → oldest admitted wildcard route claiming it.
    wildcard_owner: HashMap<String, ObjectKey>,
    /// domain → namespace → (route, host): the oldest plain route per namespace under it.
    plain_under: HashMap<String, BTreeMap<String, (ObjectKey, String)>>,
}

impl Claims {
    fn check(&self, cfg: &AdmissionConfig, c: &Candidate<'_>) -> Result<(), String> {
        if let Some(older) = self.host_path.get(&(c.host.clone(), c.path.clone())) {
            if older.namespace == c.key.namespace
                || cfg.namespace_ownership == NamespaceOwnership::InterNamespaceAllowed
            {
                return Err(format!(
                    "route {} already exposes {} and is older",
                    older.name, c.host
                ));
            }
            return Err(format!(
                "a route in another namespace holds {} and is older than {}",
                c.host, c.key.name
            ));
        }
        if cfg.namespace_ownership == NamespaceOwnership::InterNamespaceAllowed {
            return Ok(());
        }
        if let Some((ns, _)) = self.host_owner.get(&c.host)
            && *ns != c.key.namespace
        {
            return Err(format!(
                "a route in another namespace holds {} and is older than {}",
                c.host, c.key.name
            ));
        }
        let Some(domain) = wildcard_domain(&c.host) else {
            return Ok(());
        };
        if let Some(w) = self.wildcard_owner.get(domain)
            && w.namespace != c.key.namespace
        {
            return Err(format!("wildcard route {w} is blocking {}", c.host));
        }
        if c.wildcard
            && let Some(other) = self.plain_under.get(domain)
            && let Some((ns_key, host)) = other
                .iter()
                .find(|(ns, _)| **ns != c.key.namespace)
                .map(|(_, (k, h))| (k, h))
        {
            return Err(format!(
                "route {ns_key} has host {host}, blocking *.{domain}"
            ));
        }
        Ok(())
    }

    fn claim(&mut self, c: &Candidate<'_>) {
        self.host_owner
            .entry(c.host.clone())
            .or_insert_with(|| (c.key.namespace.clone(), c.key.name.clone()));
        self.host_path
            .insert((c.host.clone(), c.path.clone()), c.key.clone());
        if let Some(domain) = wildcard_domain(&c.host) {
            if c.wildcard {
                self.wildcard_owner
                    .entry(domain.to_string())
                    .or_insert_with(|| c.key.clone());
            }
            self.plain_under
                .entry(domain.to_string())
                .or_default()
                .entry(c.key.namespace.clone())
                .or_insert_with(|| (c.key.clone(), c.host.clone()));
        }
    }
}

/// Decides every route. `namespaces` maps namespace names to their labels (a namespace missing
/// from it only matters when a namespace selector is set: its routes are then not selected).
pub fn admit<'a>(
    cfg: &AdmissionConfig,
    routes: impl IntoIterator<Item = &'a Route>,
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
    provider: &CryptoProvider,
) -> Admission {
    let mut routes: Vec<&Route> = routes.into_iter().collect();
    routes.sort_by(|a, b| age_key(a).cmp(&age_key(b)));
    let mut out = Admission::default();
    let mut claims = Claims::default();
    let empty = BTreeMap::new();
    for route in routes {
        let (Some(ns), Some(name)) = (
            route.metadata.namespace.as_deref(),
            route.metadata.name.as_deref(),
        ) else {
            continue;
        };
        let key = ObjectKey::new(ns, name);
        let route_labels = route.metadata.labels.as_ref().unwrap_or(&empty);
        let ns_selected = cfg.namespace_selector.is_empty()
            || namespaces
                .get(ns)
                .is_some_and(|l| cfg.namespace_selector.matches(l));
        if !cfg.route_selector.matches(route_labels) || !ns_selected {
            out.decisions.insert(key, Decision::NotSelected);
            continue;
        }
        let c = match candidate(cfg, route, key.clone(), provider) {
            Ok(c) => c,
            Err(d) => {
                out.decisions.insert(key, d);
                continue;
            }
        };
        if let Err(message) = claims.check(cfg, &c) {
            out.decisions.insert(
                key,
                reject(Some(c.host), Reason::HostAlreadyClaimed, message),
            );
            continue;
        }
        claims.claim(&c);
        out.decisions.insert(
            key,
            Decision::Admitted {
                host: c.host.clone(),
                wildcard: c.wildcard,
                problems: c.problems.iter().map(ToString::to_string).collect(),
            },
        );
        out.admitted.push(AdmittedRoute {
            key: c.key,
            host: c.host,
            path: c.path,
            wildcard: c.wildcard,
            tls: c.tls,
            backends: backends(c.route),
            target_port: c.route.spec.port.as_ref().map(|p| p.target_port.clone()),
            options: c.options,
            headers: c.headers,
        });
    }
    out
}

/// Lower-case helper re-exported for callers that normalise request hosts.
pub use host::normalize_request_host;

#[cfg(test)]
mod tests;
