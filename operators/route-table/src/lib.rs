//! The decision logic of Outrigger's router, with no I/O: which Routes a router admits (and
//! why it rejects the others), and the routing table the data plane consults per request.
//!
//! The flow, all synchronous and pure:
//! 1. [`admission::admit`] takes every Route the router sees, the namespaces' labels and an
//!    [`admission::AdmissionConfig`] (router name, domain, shard selectors, namespace ownership,
//!    wildcard policy) and returns one [`admission::Decision`] per route, following OpenShift's
//!    router: oldest claim on a host wins (creation timestamp, then UID), namespace ownership of
//!    a host, wildcard routes, `HostAlreadyClaimed` and the other reasons of its `Admitted`
//!    condition.
//! 2. [`table::RouteTable::build`] turns the admitted routes plus the ready endpoints of their
//!    Services into a table: host (exact, then wildcard) and longest path match, weighted
//!    backends (`to` + `alternateBackends`, weight 0 = no traffic), TLS mode and certificates,
//!    and the options read from `haproxy.router.openshift.io/*` annotations
//!    ([`annotations::RouteOptions`]); malformed values are reported, never panicked on.
//! 3. The proxy asks [`table::RouteTable::lookup`] for a request's route and
//!    [`table::RouteEntry::pick`] for an endpoint.
//!
//! Pattern: linkerd2-proxy's `http/route` crate (pure matching) — the proxy lives in
//! `outrigger-router`.

pub mod admission;
pub mod annotations;
pub mod headers;
pub mod host;
pub mod selector;
pub mod sni;
pub mod table;
pub mod tls;

use std::fmt;

/// Namespace and name of a Route (or Service).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// A key from namespace and name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}
