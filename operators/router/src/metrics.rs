//! Router metrics, with bounded labels: the route label is `<namespace>/<name>` of an admitted
//! route (or `none` when no route matched), codes are classes (`2xx`…), error kinds are a fixed
//! set ([`UpstreamError::kind`](crate::proxy::UpstreamError::kind)).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of request counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `<namespace>/<name>` or `none`.
    pub route: String,
    /// `1xx` … `5xx`.
    pub code: &'static str,
}

/// Labels of per-route series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// `<namespace>/<name>` or `none`.
    pub route: String,
}

/// Labels of upstream errors.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// `<namespace>/<name>`.
    pub route: String,
    /// Error kind.
    pub kind: &'static str,
}

/// Labels of status writes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok`, `conflict` or `error`.
    pub result: &'static str,
}

/// Every metric of the router.
#[derive(Clone)]
pub struct Metrics {
    /// Requests answered, by route and code class.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency until response headers, by route.
    pub latency: Family<RouteLabels, Histogram>,
    /// Failures talking to backends, by route and kind.
    pub upstream_errors: Family<ErrorLabels, Counter>,
    /// Routes in the current table.
    pub routes: Gauge,
    /// Table rebuilds.
    pub rebuilds: Counter,
    /// Status writes by result.
    pub status_writes: Family<ResultLabels, Counter>,
    /// Open client connections (HTTP, HTTPS and passthrough).
    pub connections: Gauge,
}

impl Metrics {
    /// Registers everything under `outrigger_router_`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new([
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    10.0, 30.0,
                ])
            }),
            upstream_errors: Family::default(),
            routes: Gauge::default(),
            rebuilds: Counter::default(),
            status_writes: Family::default(),
            connections: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("outrigger_router");
        r.register(
            "requests",
            "Requests answered, by route and status class",
            m.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time to response headers, by route",
            m.latency.clone(),
        );
        r.register(
            "upstream_errors",
            "Failures talking to backends, by route and kind",
            m.upstream_errors.clone(),
        );
        r.register("routes", "Routes in the routing table", m.routes.clone());
        r.register(
            "table_rebuilds",
            "Routing table rebuilds",
            m.rebuilds.clone(),
        );
        r.register(
            "status_writes",
            "Route status writes, by result",
            m.status_writes.clone(),
        );
        r.register(
            "connections",
            "Open client connections",
            m.connections.clone(),
        );
        m
    }
}

impl Metrics {
    /// Drops the series of a route that left the table, so labels stay bounded by the routes
    /// that exist.
    pub fn forget_route(&self, route: &str) {
        for code in ["1xx", "2xx", "3xx", "4xx", "5xx", "tcp"] {
            self.requests.remove(&RequestLabels {
                route: route.to_string(),
                code,
            });
        }
        self.latency.remove(&RouteLabels {
            route: route.to_string(),
        });
        for kind in crate::proxy::UPSTREAM_ERROR_KINDS {
            self.upstream_errors.remove(&ErrorLabels {
                route: route.to_string(),
                kind,
            });
        }
    }
}

/// The series of one route, resolved once per table rebuild so a request records without
/// building label sets.
#[derive(Clone)]
pub struct RouteMetrics {
    classes: [Counter; 5],
    latency: Histogram,
}

impl RouteMetrics {
    /// Counts a response and its latency.
    pub fn record(&self, status: u16, seconds: f64) {
        let i = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            _ => 4,
        };
        self.classes[i].inc();
        self.latency.observe(seconds);
    }
}

impl Metrics {
    /// The series of `route` (created when missing).
    pub fn for_route(&self, route: &str) -> RouteMetrics {
        let class = |code| {
            self.requests
                .get_or_create(&RequestLabels {
                    route: route.to_string(),
                    code,
                })
                .clone()
        };
        RouteMetrics {
            classes: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            latency: self
                .latency
                .get_or_create(&RouteLabels {
                    route: route.to_string(),
                })
                .clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgotten_routes_leave_no_series() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        let route = "ns/r".to_string();
        m.requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                code: "2xx",
            })
            .inc();
        m.latency
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(0.1);
        m.upstream_errors
            .get_or_create(&ErrorLabels {
                route: route.clone(),
                kind: "timeout",
            })
            .inc();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(text.contains("ns/r"));
        m.forget_route(&route);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(!text.contains("ns/r"), "{text}");
    }
}

#[cfg(test)]
mod route_metrics_tests {
    use super::*;

    #[test]
    fn cached_handles_record_into_the_families() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        let h = m.for_route("ns/r");
        h.record(204, 0.002);
        h.record(503, 0.001);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(
            text.contains(r#"outrigger_router_requests_total{route="ns/r",code="2xx"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"outrigger_router_requests_total{route="ns/r",code="5xx"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"outrigger_router_request_duration_seconds_count{route="ns/r"} 2"#),
            "{text}"
        );
    }
}
