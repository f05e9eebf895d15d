//! Reconcile metrics with bounded labels: the controller name and the error category.

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

/// Label set naming a controller.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// Controller name, e.g. `deploymentconfig`.
    pub controller: String,
}

/// Label set of a failed reconcile.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Controller name.
    pub controller: String,
    /// Error category (see [`crate::error::ErrorCategory`]).
    pub category: String,
}

/// Counters and a duration histogram for reconciles.
#[derive(Clone)]
pub struct ReconcileMetrics {
    runs: Family<ControllerLabels, Counter>,
    failures: Family<ErrorLabels, Counter>,
    duration: Family<ControllerLabels, Histogram>,
}

impl ReconcileMetrics {
    /// Create and register the metrics `reconcile`, `reconcile_errors` and
    /// `reconcile_duration_seconds` in `registry`. Binaries create their registry with
    /// `Registry::with_prefix("outrigger")`, giving `outrigger_reconcile_total` and so on.
    pub fn register(registry: &mut Registry) -> Self {
        let runs = Family::<ControllerLabels, Counter>::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        let duration = Family::<ControllerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        registry.register("reconcile", "Reconciles run", runs.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by error category",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        ReconcileMetrics {
            runs,
            failures,
            duration,
        }
    }

    /// Record one reconcile of `controller` that took `took`, failing with `category` if any.
    pub fn record(&self, controller: &str, took: Duration, category: Option<&str>) {
        let labels = ControllerLabels {
            controller: controller.to_owned(),
        };
        self.runs.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if let Some(category) = category {
            self.failures
                .get_or_create(&ErrorLabels {
                    controller: controller.to_owned(),
                    category: category.to_owned(),
                })
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_category() {
        let mut registry = Registry::with_prefix("outrigger");
        let m = ReconcileMetrics::register(&mut registry);
        m.record("dc", Duration::from_millis(1), None);
        m.record("dc", Duration::from_millis(1), Some("InvalidStrategy"));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(
            text.contains("outrigger_reconcile_total{controller=\"dc\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "outrigger_reconcile_errors_total{controller=\"dc\",category=\"InvalidStrategy\"} 1"
            ),
            "{text}"
        );
    }
}
