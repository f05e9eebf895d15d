//! What every Outrigger operator binary shares.
//!
//! - [`telemetry`]: structured `tracing` logs (plain or JSON), filtered by `RUST_LOG`.
//! - [`admin`]: the `/metrics`, `/healthz` and `/readyz` HTTP endpoints.
//! - [`metrics`]: reconcile counters and durations with bounded labels.
//! - [`error`]: the [`error::ErrorCategory`] trait — a stable PascalCase category per error that
//!   becomes a condition reason, an Event reason and a metric label — and the requeue policy.
//! - [`conditions`]: setting status conditions the Kubernetes way.
//! - [`leader`]: leader election on a `coordination.k8s.io` Lease.

pub mod admin;
pub mod conditions;
pub mod error;
pub mod leader;
pub mod metrics;
pub mod telemetry;
