//! `ListMetricDescriptors` / `ListPodSandboxMetrics`: cAdvisor-named metrics per pod and
//! container, read from our cgroups (the kubelet uses them with the PodAndContainerStatsFromCRI
//! feature instead of cAdvisor).

use outrigger_cri_proto as cri;

use crate::runtime::Runtime;
use crate::state::{ContainerState, Sandbox};

/// (name, help, counter?)
const METRICS: [(&str, &str, bool); 5] = [
    ("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in nanoseconds.", true),
    ("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", false),
    ("container_memory_working_set_bytes", "Current working set in bytes.", false),
    ("container_memory_rss", "Size of RSS in bytes.", false),
    ("container_processes", "Number of processes running inside the container.", false),
];

pub fn descriptors() -> Vec<cri::MetricDescriptor> {
    METRICS
        .iter()
        .map(|(name, help, _)| cri::MetricDescriptor {
            name: (*name).to_string(),
            help: (*help).to_string(),
            label_keys: vec!["id".to_string(), "name".to_string()],
        })
        .collect()
}

fn metrics_of(rt: &Runtime, cgroup: &str, label_id: &str, label_name: &str) -> Vec<cri::Metric> {
    let Ok(cg) = rt.cgroups.cgroup(cgroup) else {
        return Vec::new();
    };
    let Ok(st) = cg.stats() else {
        return Vec::new();
    };
    let mut values: Vec<(usize, Option<u64>)> = Vec::new();
    values.push((0, st.cpu.as_ref().map(|c| c.usage_ns)));
    values.push((1, st.memory.as_ref().map(|m| m.usage_bytes)));
    values.push((2, st.memory.as_ref().map(|m| m.working_set_bytes)));
    values.push((3, st.memory.as_ref().map(|m| m.rss_bytes)));
    values.push((4, st.pids.as_ref().map(|p| p.current)));
    values
        .into_iter()
        .filter_map(|(i, v)| {
            let (name, _, counter) = METRICS[i];
            v.map(|value| cri::Metric {
                name: name.to_string(),
                timestamp: st.timestamp_ns,
                metric_type: if counter { cri::MetricType::Counter } else { cri::MetricType::Gauge } as i32,
                label_values: vec![label_id.to_string(), label_name.to_string()],
                value: Some(cri::UInt64Value { value }),
            })
        })
        .collect()
}

pub fn pod_metrics(rt: &Runtime, sb: &Sandbox) -> cri::PodSandboxMetrics {
    let d = sb.snapshot();
    let pod_name = sb.config.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_default();
    let container_metrics = rt
        .store
        .containers_of(&d.id)
        .iter()
        .filter(|c| c.snapshot().state == ContainerState::Running)
        .map(|c| {
            let cd = c.snapshot();
            let name = c.config.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_default();
            cri::ContainerMetrics {
                container_id: cd.id.clone(),
                metrics: metrics_of(rt, &cd.cgroup, &cd.cgroup, &name),
            }
        })
        .collect();
    cri::PodSandboxMetrics {
        pod_sandbox_id: d.id.clone(),
        metrics: metrics_of(rt, &d.pod_cgroup, &d.pod_cgroup, &pod_name),
        container_metrics,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn descriptors_name_every_metric_once() {
        let d = super::descriptors();
        assert_eq!(d.len(), 5);
        assert!(d.iter().any(|m| m.name == "container_memory_working_set_bytes"));
        assert!(d.iter().all(|m| m.label_keys == ["id", "name"]));
    }
}
