//! Outrigger's router: serves OpenShift Routes on a stock Kubernetes cluster.
//!
//! - [`watch`]: reflectors on Routes, Services, EndpointSlices and Namespaces; every change
//!   rebuilds admission and the routing table (`outrigger-route-table`, pure) and swaps the table
//!   atomically.
//! - [`proxy`]: the per-request phases (match, TLS policy, allowlist, endpoint pick, upstream
//!   call, response headers, WebSocket tunnels).
//! - [`server`]: HTTP and HTTPS listeners, SNI peek and passthrough splice, TLS termination with
//!   per-route or default certificates, graceful drain.
//! - [`status`]: `status.ingress[]` writes, by the leader of the router name only.
//! - [`limit`]: per-source rate and concurrency limits from the `rate-limit-connections` annotations.
//! - [`metrics`], [`config`]; [`testing`]: a small backend for tests and the e2e image.

pub mod config;
pub mod limit;
pub mod metrics;
pub mod proxy;
pub mod server;
pub mod status;
pub mod testing;
pub mod tunnel;
pub mod watch;
