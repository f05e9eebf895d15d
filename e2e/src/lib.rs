//! End-to-end tests against the local cluster (placeholder until the harness lands).
