//! Per-RPC request counts and latency histograms in the Prometheus text format, served on the
//! admin address's `/metrics` (labels are bounded: RPC names and error categories).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Hist {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The daemon's metrics.
#[derive(Default)]
pub struct Metrics {
    rpcs: Mutex<BTreeMap<(&'static str, &'static str), Hist>>,
}

impl Metrics {
    /// Records one finished RPC.
    pub fn observe(&self, rpc: &'static str, code: &'static str, took: Duration) {
        let secs = took.as_secs_f64();
        let mut m = crate::state::lock(&self.rpcs);
        let h = m.entry((rpc, code)).or_default();
        h.count += 1;
        h.sum += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
    }

    /// Renders everything plus the given gauges (name, help, value).
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP outrigger_cri_request_duration_seconds CRI request latency by RPC and result."
        );
        let _ = writeln!(
            out,
            "# TYPE outrigger_cri_request_duration_seconds histogram"
        );
        let m = crate::state::lock(&self.rpcs);
        for ((rpc, code), h) in m.iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "outrigger_cri_request_duration_seconds_bucket{{rpc=\"{rpc}\",code=\"{code}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "outrigger_cri_request_duration_seconds_bucket{{rpc=\"{rpc}\",code=\"{code}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "outrigger_cri_request_duration_seconds_sum{{rpc=\"{rpc}\",code=\"{code}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "outrigger_cri_request_duration_seconds_count{{rpc=\"{rpc}\",code=\"{code}\"}} {}",
                h.count
            );
        }
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_cumulatively() {
        let m = Metrics::default();
        m.observe("Version", "OK", Duration::from_millis(3));
        m.observe("Version", "OK", Duration::from_millis(300));
        let text = m.render(&[("outrigger_cri_pods", "Pods.", 2.0)]);
        assert!(
            text.contains("rpc=\"Version\",code=\"OK\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("rpc=\"Version\",code=\"OK\",le=\"0.5\"} 2"),
            "{text}"
        );
        assert!(text.contains(
            "outrigger_cri_request_duration_seconds_count{rpc=\"Version\",code=\"OK\"} 2"
        ));
        assert!(text.contains("outrigger_cri_pods 2"));
    }
}
