//! The routing table: admitted routes plus the ready endpoints of their Services, indexed by
//! host (exact first, then `Subdomain` wildcards) with longest-path-first matching, and the
//! weighted, per-algorithm choice of an endpoint.
//!
//! Weights follow OpenShift: a backend's share of requests is its weight over the sum of the
//! weights of backends that have ready endpoints; weight 0 sends nothing; a route whose backends
//! all have weight 0 or no endpoints has nothing to serve (the proxy answers 503).

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rustls::sign::CertifiedKey;

use crate::ObjectKey;
use crate::admission::AdmittedRoute;
use crate::annotations::{Balance, RouteOptions};
use crate::headers::HeaderActions;
use crate::host::{path_matches, wildcard_domain};
use crate::tls::{RouteTls, Termination};

/// A port of a Service, as in its spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// Port name (may be empty for single-port services).
    pub name: Option<String>,
    /// Service port number.
    pub port: i32,
    /// The pods' port it forwards to (number or container port name), when known.
    pub target_port: Option<IntOrString>,
}

/// A port of an endpoint (from an EndpointSlice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointPort {
    /// Name (the Service port's name).
    pub name: Option<String>,
    /// Port number on the pod.
    pub port: u16,
}

/// A ready endpoint address with its ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyEndpoint {
    /// Pod address.
    pub ip: IpAddr,
    /// Ports of the slice the address came from.
    pub ports: Vec<EndpointPort>,
}

/// What the router knows about one Service: its ports (if the Service exists) and its ready
/// endpoints (from all its EndpointSlices).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceEndpoints {
    /// `None` when the Service does not exist.
    pub service_ports: Option<Vec<ServicePort>>,
    /// Ready endpoints.
    pub endpoints: Vec<ReadyEndpoint>,
}

/// One endpoint in the table, with its in-flight counter (for `leastconn`).
#[derive(Debug)]
pub struct Endpoint {
    /// Address to connect to.
    pub addr: SocketAddr,
    /// Stable id used as the sticky-session cookie value.
    pub id: String,
    in_flight: AtomicU32,
}

impl Endpoint {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            id: format!("{:016x}", stable_hash(&addr)),
            in_flight: AtomicU32::new(0),
        }
    }

    /// Requests currently in flight to this endpoint.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// Marks a request in flight to an endpoint until dropped.
#[derive(Debug)]
pub struct InFlight(Arc<Endpoint>);

impl InFlight {
    /// The endpoint.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A backend Service of a route with its ready endpoints for the route's port.
#[derive(Debug)]
pub struct Backend {
    /// Service name.
    pub service: String,
    /// Relative weight.
    pub weight: u32,
    /// Ready endpoints (sorted).
    pub endpoints: Vec<Arc<Endpoint>>,
    /// Why there are no endpoints, when there are none.
    pub problem: Option<BackendProblem>,
    rr: AtomicUsize,
}

/// Why a backend has no endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendProblem {
    /// The Service does not exist.
    ServiceNotFound,
    /// The Service has no ready endpoints.
    NoReadyEndpoints,
    /// No endpoint port matches `spec.port.targetPort`.
    PortNotFound(String),
}

/// A route in the table.
#[derive(Debug)]
pub struct RouteEntry {
    /// Namespace/name.
    pub key: ObjectKey,
    /// Host.
    pub host: String,
    /// Normalised path.
    pub path: String,
    /// Also serves `*.<domain of host>`.
    pub wildcard: bool,
    /// TLS settings.
    pub tls: Option<RouteTls>,
    /// Annotation options.
    pub options: RouteOptions,
    /// `spec.httpHeaders` actions.
    pub headers: HeaderActions,
    /// Every backend, including those without endpoints or weight.
    pub backends: Vec<Backend>,
    /// Algorithm in effect.
    pub balance: Balance,
    /// Sum of the weights of backends that can take traffic.
    pub total_weight: u32,
    cookie: String,
}

impl RouteEntry {
    /// Termination, if TLS.
    pub fn termination(&self) -> Option<Termination> {
        self.tls.as_ref().map(|t| t.termination)
    }

    /// Whether any endpoint can take traffic.
    pub fn has_endpoints(&self) -> bool {
        self.total_weight > 0
    }

    /// Picks an endpoint. `random` is a fresh random number, `client` the source address,
    /// `sticky` the value of the route's session cookie, if the client sent one.
    pub fn pick(&self, random: u64, client: IpAddr, sticky: Option<&str>) -> Option<InFlight> {
        if self.total_weight == 0 {
            return None;
        }
        let live = || {
            self.backends
                .iter()
                .filter(|b| b.weight > 0 && !b.endpoints.is_empty())
        };
        if let Some(id) = sticky
            && let Some(ep) = live().flat_map(|b| b.endpoints.iter()).find(|e| e.id == id)
        {
            return Some(track(ep));
        }
        let source_hash = stable_hash(&client);
        let selector = if self.balance == Balance::Source {
            source_hash
        } else {
            random
        };
        let mut r = u32::try_from(selector % u64::from(self.total_weight)).unwrap_or(0);
        let backend = live().find(|b| {
            if r < b.weight {
                true
            } else {
                r -= b.weight;
                false
            }
        })?;
        let n = backend.endpoints.len();
        let idx = match self.balance {
            Balance::RoundRobin => backend.rr.fetch_add(1, Ordering::Relaxed) % n,
            Balance::Random => usize::try_from((random >> 32) % n as u64).unwrap_or(0),
            Balance::Source => usize::try_from((source_hash >> 32) % n as u64).unwrap_or(0),
            Balance::LeastConn => {
                let start = backend.rr.fetch_add(1, Ordering::Relaxed);
                (0..n)
                    .map(|i| (start + i) % n)
                    .min_by_key(|i| backend.endpoints[*i].in_flight())
                    .unwrap_or(0)
            }
        };
        backend.endpoints.get(idx).map(track)
    }

    /// Name of the sticky cookie: `router.openshift.io/cookie_name`, else a hash of the
    /// route's namespace/name (like OpenShift's generated cookie names).
    pub fn cookie_name(&self) -> &str {
        &self.cookie
    }
}

fn track(ep: &Arc<Endpoint>) -> InFlight {
    ep.in_flight.fetch_add(1, Ordering::Relaxed);
    InFlight(Arc::clone(ep))
}

/// FNV-1a over the `Hash` bytes: stable across runs (unlike `RandomState`).
fn stable_hash<T: Hash + ?Sized>(v: &T) -> u64 {
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 ^= u64::from(*b);
                self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    v.hash(&mut h);
    // final avalanche so low bits are usable for modulo
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

/// The endpoint port for a route's `targetPort`: by name or number, also accepting a Service
/// port number or the container port name a Service port targets; with no `targetPort`, the Service's first port (or the first endpoint
/// port when the Service's ports are unknown).
fn resolve_port(
    target: Option<&IntOrString>,
    svc: &ServiceEndpoints,
    ep: &ReadyEndpoint,
) -> Option<u16> {
    let by_name = |name: &str| {
        ep.ports
            .iter()
            .find(|p| p.name.as_deref().unwrap_or("") == name)
            .map(|p| p.port)
    };
    match target {
        None => match svc.service_ports.as_ref().and_then(|p| p.first()) {
            Some(first) => by_name(first.name.as_deref().unwrap_or(""))
                .or_else(|| ep.ports.first().map(|p| p.port)),
            None => ep.ports.first().map(|p| p.port),
        },
        // a Service port name (the endpoint port's name), else the container port name a
        // Service port targets
        Some(IntOrString::String(name)) => by_name(name).or_else(|| {
            let sp =
                svc.service_ports.as_ref()?.iter().find(|sp| {
                    sp.target_port.as_ref() == Some(&IntOrString::String(name.clone()))
                })?;
            by_name(sp.name.as_deref().unwrap_or(""))
        }),
        Some(IntOrString::Int(n)) => ep
            .ports
            .iter()
            .find(|p| i32::from(p.port) == *n)
            .map(|p| p.port)
            .or_else(|| {
                let sp = svc
                    .service_ports
                    .as_ref()?
                    .iter()
                    .find(|sp| sp.port == *n)?;
                by_name(sp.name.as_deref().unwrap_or(""))
            }),
    }
}

fn target_port_text(t: Option<&IntOrString>) -> String {
    match t {
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => String::new(),
    }
}

/// The table the data plane reads; built whole and swapped atomically by the router.
#[derive(Debug, Default)]
pub struct RouteTable {
    exact: HashMap<String, Vec<Arc<RouteEntry>>>,
    wildcard: HashMap<String, Vec<Arc<RouteEntry>>>,
    routes: usize,
}

impl RouteTable {
    /// Builds the table from admitted routes and the endpoints of the Services they name
    /// (keyed by namespace/service name).
    pub fn build(
        admitted: &[AdmittedRoute],
        services: &BTreeMap<ObjectKey, ServiceEndpoints>,
    ) -> Self {
        let mut table = RouteTable::default();
        let missing = ServiceEndpoints::default();
        for r in admitted {
            let backends: Vec<Backend> = r
                .backends
                .iter()
                .map(|b| {
                    let svc_key = ObjectKey::new(r.key.namespace.clone(), b.service.clone());
                    let svc = services.get(&svc_key);
                    let known = svc.is_some_and(|s| s.service_ports.is_some());
                    let svc = svc.unwrap_or(&missing);
                    let mut addrs: Vec<SocketAddr> = svc
                        .endpoints
                        .iter()
                        .filter_map(|ep| {
                            resolve_port(r.target_port.as_ref(), svc, ep)
                                .map(|p| SocketAddr::new(ep.ip, p))
                        })
                        .collect();
                    addrs.sort();
                    addrs.dedup();
                    let problem = if !known {
                        Some(BackendProblem::ServiceNotFound)
                    } else if svc.endpoints.is_empty() {
                        Some(BackendProblem::NoReadyEndpoints)
                    } else if addrs.is_empty() {
                        Some(BackendProblem::PortNotFound(target_port_text(
                            r.target_port.as_ref(),
                        )))
                    } else {
                        None
                    };
                    Backend {
                        service: b.service.clone(),
                        weight: b.weight,
                        endpoints: addrs
                            .into_iter()
                            .map(|a| Arc::new(Endpoint::new(a)))
                            .collect(),
                        problem,
                        rr: AtomicUsize::new(0),
                    }
                })
                .collect();
            let total_weight = backends
                .iter()
                .filter(|b| !b.endpoints.is_empty())
                .map(|b| b.weight)
                .sum();
            let active = backends
                .iter()
                .filter(|b| b.weight > 0 && !b.endpoints.is_empty())
                .count();
            let passthrough = r
                .tls
                .as_ref()
                .is_some_and(|t| t.termination == Termination::Passthrough);
            let entry = Arc::new(RouteEntry {
                key: r.key.clone(),
                host: r.host.clone(),
                path: r.path.clone(),
                wildcard: r.wildcard,
                tls: r.tls.clone(),
                options: r.options.clone(),
                headers: r.headers.clone(),
                cookie: r
                    .options
                    .cookie_name
                    .clone()
                    .unwrap_or_else(|| format!("{:032x}", u128::from(stable_hash(&r.key)))),
                balance: r.options.balance_for(active, passthrough),
                backends,
                total_weight,
            });
            table
                .exact
                .entry(r.host.clone())
                .or_default()
                .push(Arc::clone(&entry));
            if r.wildcard
                && let Some(domain) = wildcard_domain(&r.host)
            {
                table
                    .wildcard
                    .entry(domain.to_string())
                    .or_default()
                    .push(entry);
            }
            table.routes += 1;
        }
        for list in table.exact.values_mut().chain(table.wildcard.values_mut()) {
            // longest path first; admission order (oldest first) among equals
            list.sort_by_key(|e| std::cmp::Reverse(e.path.len()));
        }
        table
    }

    /// Number of routes in the table.
    pub fn len(&self) -> usize {
        self.routes
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.routes == 0
    }

    fn candidates(&self, host: &str) -> impl Iterator<Item = &Arc<RouteEntry>> {
        let exact = self.exact.get(host).into_iter().flatten();
        let wild = wildcard_domain(host)
            .and_then(|d| self.wildcard.get(d))
            .into_iter()
            .flatten();
        exact.chain(wild)
    }

    /// The route for a normalised request host and a request path (without query).
    pub fn lookup(&self, host: &str, path: &str) -> Option<&Arc<RouteEntry>> {
        let exact = self
            .exact
            .get(host)
            .and_then(|l| l.iter().find(|e| path_matches(&e.path, path)));
        exact.or_else(|| {
            let d = wildcard_domain(host)?;
            self.wildcard
                .get(d)?
                .iter()
                .find(|e| path_matches(&e.path, path))
        })
    }

    /// The passthrough route for a TLS server name.
    pub fn passthrough(&self, sni: &str) -> Option<&Arc<RouteEntry>> {
        self.candidates(sni)
            .find(|e| e.termination() == Some(Termination::Passthrough))
    }

    /// The route's own certificate for a TLS server name, if a terminating route on that host
    /// has one.
    pub fn certificate(&self, sni: &str) -> Option<Arc<CertifiedKey>> {
        self.candidates(sni)
            .filter_map(|e| e.tls.as_ref())
            .filter(|t| t.termination != Termination::Passthrough)
            .find_map(|t| t.certified_key.clone())
    }

    /// Every route (for metrics and debugging).
    pub fn entries(&self) -> impl Iterator<Item = &Arc<RouteEntry>> {
        self.exact.values().flatten()
    }
}

#[cfg(test)]
mod tests;
