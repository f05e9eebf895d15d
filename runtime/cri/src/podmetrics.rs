//! `ListMetricDescriptors` / `ListPodSandboxMetrics`: the cAdvisor container metrics, per pod
//! and per running container, read from our cgroups, `/proc` and the runtime's filesystem (the
//! kubelet exports them on `/metrics/cadvisor` with the PodAndContainerStatsFromCRI feature
//! instead of asking cAdvisor).
//!
//! Names, units, types and extra labels follow cAdvisor. CRI values are `uint64`, so metrics
//! in seconds are whole seconds (rounded down). Every metric carries the labels
//! [`BASE_LABELS`]; a metric whose source is missing on this host is left out, never faked.
//! Unlimited limits (`max`, or the v1 "infinite" value) are reported as 0, as cAdvisor does
//! on cgroup v2 ("infinity if value is zero").

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use outrigger_cri_proto as cri;

use crate::runtime::Runtime;
use crate::state::{ContainerState, Sandbox};

/// Labels of every metric, in this order: cgroup path, runtime object ID, image, pod
/// namespace, pod name, container name (empty for the pod's own cgroup).
pub const BASE_LABELS: [&str; 6] = ["id", "name", "image", "namespace", "pod", "container"];

/// One metric family: name, help, counter (else gauge), labels after [`BASE_LABELS`].
struct Def {
    name: &'static str,
    help: &'static str,
    counter: bool,
    extra: &'static [&'static str],
}

const fn def(
    name: &'static str,
    help: &'static str,
    counter: bool,
    extra: &'static [&'static str],
) -> Def {
    Def {
        name,
        help,
        counter,
        extra,
    }
}

const NONE: &[&str] = &[];
const NET: &[&str] = &["interface"];
const DEV: &[&str] = &["device"];

#[rustfmt::skip]
const DEFS: &[Def] = &[
    // cpu
    def("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", true, &["cpu"]),
    def("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", true, NONE),
    def("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", true, NONE),
    def("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", true, NONE),
    def("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", true, NONE),
    def("container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", true, NONE),
    // memory
    def("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", false, NONE),
    def("container_memory_working_set_bytes", "Current working set in bytes.", false, NONE),
    def("container_memory_rss", "Size of RSS in bytes.", false, NONE),
    def("container_memory_cache", "Number of bytes of page cache memory.", false, NONE),
    def("container_memory_mapped_file", "Size of memory mapped files in bytes.", false, NONE),
    def("container_memory_swap", "Container swap usage in bytes.", false, NONE),
    def("container_memory_kernel_usage", "Size of kernel memory allocated in bytes.", false, NONE),
    def("container_memory_failcnt", "Number of memory usage hits limits.", true, NONE),
    def("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes.", false, NONE),
    def("container_memory_failures_total", "Cumulative count of memory allocation failures.", true, &["failure_type", "scope"]),
    def("container_oom_events_total", "Count of out of memory events observed for the container.", true, NONE),
    // spec
    def("container_spec_cpu_period", "CPU period of the container.", false, NONE),
    def("container_spec_cpu_quota", "CPU quota of the container.", false, NONE),
    def("container_spec_cpu_shares", "CPU share of the container.", false, NONE),
    def("container_spec_memory_limit_bytes", "Memory limit for the container (0: unlimited).", false, NONE),
    def("container_spec_memory_reservation_limit_bytes", "Memory reservation limit for the container (0: none).", false, NONE),
    def("container_spec_memory_swap_limit_bytes", "Memory swap limit for the container (0: unlimited).", false, NONE),
    def("container_start_time_seconds", "Start time of the container since unix epoch in seconds.", false, NONE),
    def("container_last_seen", "Last time a container was seen by the exporter.", false, NONE),
    // processes
    def("container_processes", "Number of processes running inside the container.", false, NONE),
    def("container_threads", "Number of threads running inside the container.", false, NONE),
    def("container_threads_max", "Maximum number of threads allowed inside the container, infinity if value is zero.", false, NONE),
    def("container_file_descriptors", "Number of open file descriptors for the container.", false, NONE),
    def("container_sockets", "Number of open sockets for the container.", false, NONE),
    // filesystem (writable layer and the filesystem holding it)
    def("container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", false, DEV),
    def("container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", false, DEV),
    def("container_fs_inodes_total", "Number of Inodes.", false, DEV),
    def("container_fs_inodes_free", "Number of available Inodes.", false, DEV),
    // block I/O
    def("container_fs_reads_bytes_total", "Cumulative count of bytes read.", true, DEV),
    def("container_fs_reads_total", "Cumulative count of reads completed.", true, DEV),
    def("container_fs_writes_bytes_total", "Cumulative count of bytes written.", true, DEV),
    def("container_fs_writes_total", "Cumulative count of writes completed.", true, DEV),
    def("container_blkio_device_usage_total", "Blkio device bytes usage.", true, &["device", "major", "minor", "operation"]),
    // network (the pod's network namespace)
    def("container_network_receive_bytes_total", "Cumulative count of bytes received.", true, NET),
    def("container_network_receive_packets_total", "Cumulative count of packets received.", true, NET),
    def("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.", true, NET),
    def("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", true, NET),
    def("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", true, NET),
    def("container_network_transmit_packets_total", "Cumulative count of packets transmitted.", true, NET),
    def("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.", true, NET),
    def("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", true, NET),
];

/// Every metric we may report.
pub fn descriptors() -> Vec<cri::MetricDescriptor> {
    DEFS.iter()
        .map(|d| cri::MetricDescriptor {
            name: d.name.to_string(),
            help: d.help.to_string(),
            label_keys: BASE_LABELS
                .iter()
                .chain(d.extra)
                .map(|s| (*s).to_string())
                .collect(),
        })
        .collect()
}

/// One value of a metric, with the values of its extra labels.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: &'static str,
    extra: Vec<String>,
    value: u64,
}

fn s(name: &'static str, value: u64) -> Sample {
    Sample {
        name,
        extra: Vec::new(),
        value,
    }
}

fn sx(name: &'static str, extra: &[&str], value: u64) -> Sample {
    Sample {
        name,
        extra: extra.iter().map(|e| (*e).to_string()).collect(),
        value,
    }
}

fn to_metrics(samples: Vec<Sample>, base: &[String; 6], timestamp: i64) -> Vec<cri::Metric> {
    samples
        .into_iter()
        .filter_map(|smp| {
            let d = DEFS.iter().find(|d| d.name == smp.name)?;
            if d.extra.len() != smp.extra.len() {
                return None;
            }
            let metric_type = if d.counter {
                cri::MetricType::Counter
            } else {
                cri::MetricType::Gauge
            };
            Some(cri::Metric {
                name: smp.name.to_string(),
                timestamp,
                metric_type: metric_type as i32,
                label_values: base.iter().cloned().chain(smp.extra).collect(),
                value: Some(cri::UInt64Value { value: smp.value }),
            })
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// parsers (pure)

/// `key value` lines (memory.stat, cpu.stat, memory.events); bad lines are skipped.
fn parse_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// A single number; `None` for anything else.
fn parse_num(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// A limit file: `Some(0)` for unlimited (`max`, `-1`, or ≥ 2^62 on v1), else the value.
fn parse_limit(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" || t == "-1" {
        return Some(0);
    }
    let v: u64 = t.parse().ok()?;
    Some(if v >= 1 << 62 { 0 } else { v })
}

/// v2 `cpu.max` (`<quota|max> <period>`): (quota, period), quota `None` when unlimited.
fn parse_cpu_max(text: &str) -> Option<(Option<u64>, u64)> {
    let mut it = text.split_whitespace();
    let q = it.next()?;
    let period = it.next()?.parse().ok()?;
    let quota = if q == "max" {
        None
    } else {
        Some(q.parse().ok()?)
    };
    Some((quota, period))
}

/// Per-device block I/O counters: (major, minor) → operation → value.
type DevOps = BTreeMap<(u32, u32), BTreeMap<String, u64>>;

/// v1 `blkio.throttle.io_service_bytes[_recursive]` / `io_serviced`: `MAJ:MIN Op value`
/// lines plus a `Total value` line (ignored).
fn parse_blkio_v1(text: &str) -> DevOps {
    let mut out = DevOps::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 3 {
            continue;
        }
        let (Some(dev), Ok(v)) = (parse_dev(f[0]), f[2].parse::<u64>()) else {
            continue;
        };
        out.entry(dev).or_default().insert(f[1].to_string(), v);
    }
    out
}

/// v2 `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..`.
fn parse_io_stat(text: &str) -> DevOps {
    let mut out = DevOps::new();
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let Some(dev) = it.next().and_then(parse_dev) else {
            continue;
        };
        let e = out.entry(dev).or_default();
        for kv in it {
            if let Some((k, v)) = kv.split_once('=') {
                if let Ok(v) = v.parse() {
                    e.insert(k.to_string(), v);
                }
            }
        }
    }
    out
}

fn parse_dev(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// `DEVNAME=` of a `/sys/dev/block/M:m/uevent` file, as `/dev/<name>`.
fn parse_uevent_devname(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .map(|n| format!("/dev/{}", n.trim()))
}

/// One interface of `/proc/<pid>/net/dev`.
#[derive(Debug, Clone, Default, PartialEq)]
struct NetDev {
    name: String,
    rx_bytes: u64,
    rx_packets: u64,
    rx_errors: u64,
    rx_dropped: u64,
    tx_bytes: u64,
    tx_packets: u64,
    tx_errors: u64,
    tx_dropped: u64,
}

/// Interfaces of a `net/dev` file, without `lo`; malformed lines are skipped.
fn parse_net_dev(text: &str) -> Vec<NetDev> {
    text.lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            if name.is_empty() || name == "lo" || name.contains(' ') {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?;
            if v.len() < 16 {
                return None;
            }
            Some(NetDev {
                name: name.to_string(),
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            })
        })
        .collect()
}

/// Source device of the mount holding `path` (longest mount point that contains it).
fn mount_source(mountinfo: &str, path: &Path) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for l in mountinfo.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        let (Some(mp), Some(src)) = (f.get(4), f.get(sep + 2)) else {
            continue;
        };
        let mp = mp.replace("\\040", " ");
        if !path.starts_with(&mp) {
            continue;
        }
        let depth = Path::new(&mp).components().count();
        if best.as_ref().is_none_or(|(d, _)| depth >= *d) {
            best = Some((depth, (*src).to_string()));
        }
    }
    best.map(|(_, s)| s)
}

// ------------------------------------------------------------------------------------------
// collectors

/// The files of one cgroup: controller name → its directory.
struct CgFiles {
    dirs: HashMap<String, PathBuf>,
}

impl CgFiles {
    fn new(controllers: Vec<(String, PathBuf)>, cgroup: &str) -> Self {
        let rel = cgroup.trim_start_matches('/');
        let mut dirs = HashMap::new();
        for (c, mount) in controllers {
            dirs.entry(c).or_insert_with(|| mount.join(rel));
        }
        Self { dirs }
    }

    fn read(&self, controller: &str, file: &str) -> Option<String> {
        std::fs::read_to_string(self.dirs.get(controller)?.join(file)).ok()
    }

    fn num(&self, controller: &str, file: &str) -> Option<u64> {
        parse_num(&self.read(controller, file)?)
    }

    fn limit(&self, controller: &str, file: &str) -> Option<u64> {
        parse_limit(&self.read(controller, file)?)
    }
}

/// Whole seconds of a nanosecond count.
fn secs(ns: u64) -> u64 {
    ns / 1_000_000_000
}

/// Metrics read from a cgroup's files (cpu, memory, spec, block I/O), plus the crate's
/// parsed [`outrigger_cgroups::Stats`] when available.
fn cgroup_samples(
    f: &CgFiles,
    st: Option<&outrigger_cgroups::Stats>,
    dev_name: &dyn Fn(u32, u32) -> String,
) -> Vec<Sample> {
    let mut out = Vec::new();
    if let Some(c) = st.and_then(|s| s.cpu.as_ref()) {
        out.push(sx(
            "container_cpu_usage_seconds_total",
            &["total"],
            secs(c.usage_ns),
        ));
        let opt = [
            ("container_cpu_user_seconds_total", c.user_ns.map(secs)),
            ("container_cpu_system_seconds_total", c.system_ns.map(secs)),
            ("container_cpu_cfs_periods_total", c.nr_periods),
            ("container_cpu_cfs_throttled_periods_total", c.nr_throttled),
            (
                "container_cpu_cfs_throttled_seconds_total",
                c.throttled_ns.map(secs),
            ),
        ];
        out.extend(opt.into_iter().filter_map(|(n, v)| v.map(|v| s(n, v))));
    }
    let memory_stat = f.read("memory", "memory.stat").map(|t| parse_keyed(&t));
    let v1_memory = f.read("memory", "memory.usage_in_bytes").is_some();
    if let Some(m) = st.and_then(|s| s.memory.as_ref()) {
        out.push(s("container_memory_usage_bytes", m.usage_bytes));
        out.push(s("container_memory_working_set_bytes", m.working_set_bytes));
        out.push(s("container_memory_rss", m.rss_bytes));
        if let Some(v) = m.swap_usage_bytes {
            out.push(s("container_memory_swap", v));
        }
    }
    if let Some(ms) = &memory_stat {
        let key = |v1: &str, v2: &str| ms.get(if v1_memory { v1 } else { v2 }).copied();
        if let Some(v) = key("total_cache", "file") {
            out.push(s("container_memory_cache", v));
        }
        if let Some(v) = key("total_mapped_file", "file_mapped") {
            out.push(s("container_memory_mapped_file", v));
        }
        for (ty, local) in [("pgfault", "pgfault"), ("pgmajfault", "pgmajfault")] {
            let hier = if v1_memory {
                format!("total_{local}")
            } else {
                local.to_string()
            };
            if let Some(v) = ms.get(local) {
                out.push(sx(
                    "container_memory_failures_total",
                    &[ty, "container"],
                    *v,
                ));
            }
            if let Some(v) = ms.get(&hier) {
                out.push(sx(
                    "container_memory_failures_total",
                    &[ty, "hierarchy"],
                    *v,
                ));
            }
        }
        if !v1_memory {
            let kernel = ms.get("kernel").copied().or_else(|| {
                let stack = ms.get("kernel_stack")?;
                Some(stack + ms.get("slab").copied().unwrap_or(0))
            });
            if let Some(v) = kernel {
                out.push(s("container_memory_kernel_usage", v));
            }
        }
    }
    if v1_memory {
        let opt = [
            (
                "container_memory_kernel_usage",
                f.num("memory", "memory.kmem.usage_in_bytes"),
            ),
            (
                "container_memory_failcnt",
                f.num("memory", "memory.failcnt"),
            ),
            (
                "container_memory_max_usage_bytes",
                f.num("memory", "memory.max_usage_in_bytes"),
            ),
            (
                "container_spec_memory_limit_bytes",
                f.limit("memory", "memory.limit_in_bytes"),
            ),
            (
                "container_spec_memory_reservation_limit_bytes",
                f.limit("memory", "memory.soft_limit_in_bytes"),
            ),
            (
                "container_spec_memory_swap_limit_bytes",
                f.limit("memory", "memory.memsw.limit_in_bytes"),
            ),
        ];
        out.extend(opt.into_iter().filter_map(|(n, v)| v.map(|v| s(n, v))));
    } else {
        let failcnt = f
            .read("memory", "memory.events")
            .and_then(|t| parse_keyed(&t).get("max").copied());
        let opt = [
            ("container_memory_failcnt", failcnt),
            (
                "container_memory_max_usage_bytes",
                f.num("memory", "memory.peak"),
            ),
            (
                "container_spec_memory_limit_bytes",
                f.limit("memory", "memory.max"),
            ),
            (
                "container_spec_memory_reservation_limit_bytes",
                f.limit("memory", "memory.low"),
            ),
            (
                "container_spec_memory_swap_limit_bytes",
                f.limit("memory", "memory.swap.max"),
            ),
        ];
        out.extend(opt.into_iter().filter_map(|(n, v)| v.map(|v| s(n, v))));
    }
    // cpu spec
    if let Some(period) = f.num("cpu", "cpu.cfs_period_us") {
        out.push(s("container_spec_cpu_period", period));
        let quota = f
            .read("cpu", "cpu.cfs_quota_us")
            .and_then(|t| t.trim().parse::<i64>().ok());
        if let Some(q) = quota.and_then(|q| u64::try_from(q).ok()) {
            out.push(s("container_spec_cpu_quota", q));
        }
        if let Some(v) = f.num("cpu", "cpu.shares") {
            out.push(s("container_spec_cpu_shares", v));
        }
    } else if let Some((quota, period)) = f.read("cpu", "cpu.max").and_then(|t| parse_cpu_max(&t)) {
        out.push(s("container_spec_cpu_period", period));
        if let Some(q) = quota {
            out.push(s("container_spec_cpu_quota", q));
        }
        if let Some(w) = f.num("cpu", "cpu.weight") {
            out.push(s(
                "container_spec_cpu_shares",
                outrigger_cgroups::weight_to_shares(w),
            ));
        }
    }
    if let Some(p) = st.and_then(|s| s.pids.as_ref()) {
        out.push(s("container_threads_max", p.limit.unwrap_or(0)));
    }
    out.extend(blkio_samples(f, dev_name));
    out
}

fn blkio_samples(f: &CgFiles, dev_name: &dyn Fn(u32, u32) -> String) -> Vec<Sample> {
    let read_v1 = |base: &str| {
        f.read("blkio", &format!("{base}_recursive"))
            .or_else(|| f.read("blkio", base))
            .map(|t| parse_blkio_v1(&t))
    };
    // (bytes, ios) per device, with (read, write) keys of each format
    let (bytes, ios, keys) = match (
        read_v1("blkio.throttle.io_service_bytes"),
        read_v1("blkio.throttle.io_serviced"),
    ) {
        (Some(b), Some(i)) => (b, i, [("Read", "Write"), ("Read", "Write")]),
        _ => match f.read("io", "io.stat") {
            Some(t) => {
                let all = parse_io_stat(&t);
                (all.clone(), all, [("rbytes", "wbytes"), ("rios", "wios")])
            }
            None => return Vec::new(),
        },
    };
    let mut out = Vec::new();
    for ((maj, min), ops) in &bytes {
        let dev = dev_name(*maj, *min);
        if let Some(v) = ops.get(keys[0].0) {
            out.push(sx("container_fs_reads_bytes_total", &[&dev], *v));
        }
        if let Some(v) = ops.get(keys[0].1) {
            out.push(sx("container_fs_writes_bytes_total", &[&dev], *v));
        }
        let (ma, mi) = (maj.to_string(), min.to_string());
        for (op, v) in ops {
            out.push(sx(
                "container_blkio_device_usage_total",
                &[&dev, &ma, &mi, op],
                *v,
            ));
        }
    }
    for ((maj, min), ops) in &ios {
        let dev = dev_name(*maj, *min);
        if let Some(v) = ops.get(keys[1].0) {
            out.push(sx("container_fs_reads_total", &[&dev], *v));
        }
        if let Some(v) = ops.get(keys[1].1) {
            out.push(sx("container_fs_writes_total", &[&dev], *v));
        }
    }
    out
}

/// `/dev/<name>` of a block device, or `MAJ:MIN` when sysfs does not name it.
fn block_dev_name(maj: u32, min: u32) -> String {
    std::fs::read_to_string(format!("/sys/dev/block/{maj}:{min}/uevent"))
        .ok()
        .and_then(|t| parse_uevent_devname(&t))
        .unwrap_or_else(|| format!("{maj}:{min}"))
}

/// Process, thread, fd and socket counts of `pids`, read under `proc_root` (`/proc`).
/// Processes that vanish meanwhile are skipped.
fn process_samples(proc_root: &Path, pids: &[i32]) -> Vec<Sample> {
    let (mut threads, mut fds, mut sockets) = (0u64, 0u64, 0u64);
    for pid in pids {
        let dir = proc_root.join(pid.to_string());
        if let Ok(rd) = std::fs::read_dir(dir.join("task")) {
            threads += rd.count() as u64;
        }
        let Ok(rd) = std::fs::read_dir(dir.join("fd")) else {
            continue;
        };
        for e in rd.flatten() {
            fds += 1;
            let is_socket = std::fs::read_link(e.path())
                .map(|t| t.to_string_lossy().starts_with("socket:"))
                .unwrap_or(false);
            if is_socket {
                sockets += 1;
            }
        }
    }
    vec![
        s("container_processes", pids.len() as u64),
        s("container_threads", threads),
        s("container_file_descriptors", fds),
        s("container_sockets", sockets),
    ]
}

fn net_samples(devs: &[NetDev]) -> Vec<Sample> {
    let mut out = Vec::new();
    for d in devs {
        let i = [d.name.as_str()];
        out.push(sx("container_network_receive_bytes_total", &i, d.rx_bytes));
        out.push(sx(
            "container_network_receive_packets_total",
            &i,
            d.rx_packets,
        ));
        out.push(sx(
            "container_network_receive_packets_dropped_total",
            &i,
            d.rx_dropped,
        ));
        out.push(sx(
            "container_network_receive_errors_total",
            &i,
            d.rx_errors,
        ));
        out.push(sx("container_network_transmit_bytes_total", &i, d.tx_bytes));
        out.push(sx(
            "container_network_transmit_packets_total",
            &i,
            d.tx_packets,
        ));
        out.push(sx(
            "container_network_transmit_packets_dropped_total",
            &i,
            d.tx_dropped,
        ));
        out.push(sx(
            "container_network_transmit_errors_total",
            &i,
            d.tx_errors,
        ));
    }
    out
}

/// The filesystem holding the runtime root: (device, size bytes, inodes, free inodes).
fn root_fs(root: &Path) -> Option<(String, u64, u64, u64)> {
    let st = nix::sys::statvfs::statvfs(root).ok()?;
    let device = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|m| mount_source(&m, root))
        .unwrap_or_else(|| root.display().to_string());
    let size = st.blocks().saturating_mul(st.fragment_size());
    Some((device, size, st.files(), st.files_free()))
}

/// Everything about one cgroup (pod or container).
fn cgroup_metrics(rt: &Runtime, cgroup: &str) -> Vec<Sample> {
    let Ok(cg) = rt.cgroups.cgroup(cgroup) else {
        return Vec::new();
    };
    if !cg.exists() {
        return Vec::new();
    }
    let files = CgFiles::new(rt.cgroups.controllers(), cgroup);
    let st = cg.stats().ok();
    let mut out = cgroup_samples(&files, st.as_ref(), &block_dev_name);
    if let Ok(n) = cg.oom_kill_count() {
        out.push(s("container_oom_events_total", n));
    }
    if let Ok(pids) = cg.pids() {
        out.extend(process_samples(Path::new("/proc"), &pids));
    }
    out
}

fn now_s() -> u64 {
    u64::try_from(crate::procs::now_ns()).unwrap_or(0) / 1_000_000_000
}

/// Metrics of a pod sandbox: its pod cgroup and network namespace, and each running container.
pub fn pod_metrics(rt: &Runtime, sb: &Sandbox) -> cri::PodSandboxMetrics {
    let d = sb.snapshot();
    let (namespace, pod) = sb
        .config
        .metadata
        .as_ref()
        .map(|m| (m.namespace.clone(), m.name.clone()))
        .unwrap_or_default();
    let now = now_s();
    let ts = crate::procs::now_ns();

    let mut samples = cgroup_metrics(rt, &d.pod_cgroup);
    samples.push(s("container_last_seen", now));
    samples.push(s(
        "container_start_time_seconds",
        u64::try_from(d.created_at).unwrap_or(0) / 1_000_000_000,
    ));
    // Network counters only for pods with their own network namespace, read through the
    // pause process (checked against its start time so a recycled pid is never used).
    if d.netns.is_some() && crate::procs::alive(d.pause_pid, d.pause_start_time) {
        if let Ok(t) = std::fs::read_to_string(format!("/proc/{}/net/dev", d.pause_pid)) {
            samples.extend(net_samples(&parse_net_dev(&t)));
        }
    }
    let base = [
        d.pod_cgroup.clone(),
        d.id.clone(),
        String::new(),
        namespace.clone(),
        pod.clone(),
        String::new(),
    ];
    let metrics = to_metrics(samples, &base, ts);

    let fs = root_fs(&rt.cfg.root);
    let container_metrics = rt
        .store
        .containers_of(&d.id)
        .iter()
        .filter(|c| c.snapshot().state == ContainerState::Running)
        .map(|c| {
            let cd = c.snapshot();
            let name = c
                .config
                .metadata
                .as_ref()
                .map(|m| m.name.clone())
                .unwrap_or_default();
            let mut samples = cgroup_metrics(rt, &cd.cgroup);
            samples.push(s("container_last_seen", now));
            samples.push(s(
                "container_start_time_seconds",
                u64::try_from(cd.started_at).unwrap_or(0) / 1_000_000_000,
            ));
            if let Some((dev, size, inodes, free)) = &fs {
                let dv = [dev.as_str()];
                if let Ok((bytes, _)) = outrigger_images::writable_usage(&c.dir) {
                    samples.push(sx("container_fs_usage_bytes", &dv, bytes));
                }
                samples.push(sx("container_fs_limit_bytes", &dv, *size));
                samples.push(sx("container_fs_inodes_total", &dv, *inodes));
                samples.push(sx("container_fs_inodes_free", &dv, *free));
            }
            let base = [
                cd.cgroup.clone(),
                cd.id.clone(),
                cd.image_name.clone(),
                namespace.clone(),
                pod.clone(),
                name,
            ];
            cri::ContainerMetrics {
                container_id: cd.id.clone(),
                metrics: to_metrics(samples, &base, ts),
            }
        })
        .collect();
    cri::PodSandboxMetrics {
        pod_sandbox_id: d.id.clone(),
        metrics,
        container_metrics,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn names(v: &[Sample]) -> Vec<&str> {
        v.iter().map(|x| x.name).collect()
    }

    #[test]
    fn descriptors_are_unique_and_labelled() {
        let d = descriptors();
        assert_eq!(d.len(), DEFS.len());
        let mut n: Vec<&str> = d.iter().map(|m| m.name.as_str()).collect();
        n.sort_unstable();
        n.dedup();
        assert_eq!(n.len(), d.len());
        assert!(
            d.iter()
                .all(|m| !m.help.is_empty() && m.label_keys[..6] == BASE_LABELS)
        );
        let net = d
            .iter()
            .find(|m| m.name == "container_network_receive_bytes_total")
            .unwrap();
        assert_eq!(net.label_keys.last().unwrap(), "interface");
    }

    #[test]
    fn keyed_and_limits() {
        let m = parse_keyed("cache 14594048\nrss 4210688\nbogus\nx y\n");
        assert_eq!(m.get("cache"), Some(&14594048));
        assert_eq!(m.len(), 2);
        assert_eq!(parse_limit("9223372036854771712\n"), Some(0));
        assert_eq!(parse_limit("max\n"), Some(0));
        assert_eq!(parse_limit("67108864\n"), Some(67108864));
        assert_eq!(parse_limit("junk"), None);
        assert_eq!(parse_cpu_max("20000 100000\n"), Some((Some(20000), 100000)));
        assert_eq!(parse_cpu_max("max 100000\n"), Some((None, 100000)));
        assert_eq!(parse_cpu_max("max"), None);
    }

    #[test]
    fn blkio_formats() {
        let v1 = parse_blkio_v1(
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\nTotal 12288\n",
        );
        assert_eq!(v1[&(8, 0)]["Read"], 4096);
        assert_eq!(v1[&(8, 0)]["Write"], 8192);
        assert_eq!(v1.len(), 1);
        let v2 =
            parse_io_stat("253:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\nbad line\n");
        assert_eq!(v2[&(253, 0)]["wbytes"], 20);
        assert_eq!(v2[&(253, 0)]["rios"], 1);
        assert_eq!(
            parse_uevent_devname("MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n").as_deref(),
            Some("/dev/sda")
        );
        assert_eq!(parse_uevent_devname("MAJOR=8\n"), None);
    }

    #[test]
    fn net_dev_skips_lo_and_junk() {
        let t = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    5000      50    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n  bad0: 1 2 3\n";
        let d = parse_net_dev(t);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "eth0");
        assert_eq!(
            (
                d[0].rx_bytes,
                d[0].rx_packets,
                d[0].rx_errors,
                d[0].rx_dropped
            ),
            (5000, 50, 1, 2)
        );
        assert_eq!(
            (
                d[0].tx_bytes,
                d[0].tx_packets,
                d[0].tx_errors,
                d[0].tx_dropped
            ),
            (3000, 30, 3, 4)
        );
        let smp = net_samples(&d);
        assert_eq!(smp.len(), 8);
        assert!(smp.iter().all(|x| x.extra == ["eth0"]));
    }

    #[test]
    fn mount_source_picks_longest_mount() {
        let mi = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n30 22 0:40 / /var/lib rw - xfs /dev/vdb rw\n31 22 0:41 / /var/lib/x\\040y rw - tmpfs tmpfs rw\n";
        assert_eq!(
            mount_source(mi, Path::new("/var/lib/outrigger")).as_deref(),
            Some("/dev/vdb")
        );
        assert_eq!(
            mount_source(mi, Path::new("/var/libx")).as_deref(),
            Some("/dev/sda1")
        );
        assert_eq!(
            mount_source(mi, Path::new("/var/lib/x y/z")).as_deref(),
            Some("tmpfs")
        );
        assert_eq!(mount_source("garbage\n", Path::new("/")), None);
    }

    fn write(dir: &Path, file: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn v1_cgroup_files() {
        let t = tempfile::tempdir().unwrap();
        let mem = t.path().join("memory/pod/c");
        let cpu = t.path().join("cpu/pod/c");
        let blk = t.path().join("blkio/pod/c");
        write(&mem, "memory.usage_in_bytes", "1000\n");
        write(
            &mem,
            "memory.stat",
            "cache 10\nmapped_file 5\npgfault 7\npgmajfault 1\ntotal_cache 11\ntotal_mapped_file 6\ntotal_pgfault 70\ntotal_pgmajfault 3\n",
        );
        write(&mem, "memory.kmem.usage_in_bytes", "4096\n");
        write(&mem, "memory.failcnt", "2\n");
        write(&mem, "memory.max_usage_in_bytes", "2000\n");
        write(&mem, "memory.limit_in_bytes", "67108864\n");
        write(&mem, "memory.soft_limit_in_bytes", "9223372036854771712\n");
        write(&mem, "memory.memsw.limit_in_bytes", "67108864\n");
        write(&cpu, "cpu.cfs_period_us", "100000\n");
        write(&cpu, "cpu.cfs_quota_us", "20000\n");
        write(&cpu, "cpu.shares", "1024\n");
        write(
            &blk,
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 512\nTotal 4608\n",
        );
        write(
            &blk,
            "blkio.throttle.io_serviced_recursive",
            "8:0 Read 2\n8:0 Write 1\nTotal 3\n",
        );
        let ctl = ["memory", "cpu", "blkio"]
            .map(|c| (c.to_string(), t.path().join(c)))
            .to_vec();
        let f = CgFiles::new(ctl, "/pod/c");
        let st = outrigger_cgroups::Stats {
            cpu: Some(outrigger_cgroups::CpuStats {
                usage_ns: 3_500_000_000,
                user_ns: Some(2_000_000_000),
                system_ns: Some(1_000_000_000),
                nr_periods: Some(9),
                nr_throttled: Some(4),
                throttled_ns: Some(1_200_000_000),
            }),
            pids: Some(outrigger_cgroups::PidsStats {
                current: 1,
                limit: None,
            }),
            ..Default::default()
        };
        let out = cgroup_samples(&f, Some(&st), &|a, b| format!("dev{a}:{b}"));
        let get = |n: &str, extra: &[&str]| {
            out.iter()
                .find(|x| x.name == n && x.extra == extra)
                .map(|x| x.value)
        };
        assert_eq!(
            get("container_cpu_usage_seconds_total", &["total"]),
            Some(3)
        );
        assert_eq!(
            get("container_cpu_cfs_throttled_seconds_total", &[]),
            Some(1)
        );
        assert_eq!(
            get("container_cpu_cfs_throttled_periods_total", &[]),
            Some(4)
        );
        assert_eq!(get("container_memory_cache", &[]), Some(11));
        assert_eq!(get("container_memory_mapped_file", &[]), Some(6));
        assert_eq!(
            get("container_memory_failures_total", &["pgfault", "container"]),
            Some(7)
        );
        assert_eq!(
            get("container_memory_failures_total", &["pgfault", "hierarchy"]),
            Some(70)
        );
        assert_eq!(get("container_memory_kernel_usage", &[]), Some(4096));
        assert_eq!(get("container_memory_failcnt", &[]), Some(2));
        assert_eq!(get("container_memory_max_usage_bytes", &[]), Some(2000));
        assert_eq!(
            get("container_spec_memory_limit_bytes", &[]),
            Some(67108864)
        );
        assert_eq!(
            get("container_spec_memory_reservation_limit_bytes", &[]),
            Some(0)
        );
        assert_eq!(
            get("container_spec_memory_swap_limit_bytes", &[]),
            Some(67108864)
        );
        assert_eq!(get("container_spec_cpu_period", &[]), Some(100000));
        assert_eq!(get("container_spec_cpu_quota", &[]), Some(20000));
        assert_eq!(get("container_spec_cpu_shares", &[]), Some(1024));
        assert_eq!(get("container_threads_max", &[]), Some(0));
        assert_eq!(
            get("container_fs_reads_bytes_total", &["dev8:0"]),
            Some(4096)
        );
        assert_eq!(get("container_fs_writes_total", &["dev8:0"]), Some(1));
        assert_eq!(
            get(
                "container_blkio_device_usage_total",
                &["dev8:0", "8", "0", "Write"]
            ),
            Some(512)
        );
        // every sample names a descriptor with the same number of labels
        for x in &out {
            let d = DEFS.iter().find(|d| d.name == x.name).unwrap();
            assert_eq!(d.extra.len(), x.extra.len(), "{}", x.name);
        }
        let base: [String; 6] = Default::default();
        assert_eq!(to_metrics(out.clone(), &base, 1).len(), out.len());
    }

    #[test]
    fn v2_cgroup_files() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("pod/c");
        write(
            &d,
            "memory.stat",
            "file 30\nfile_mapped 3\nkernel 64\npgfault 5\npgmajfault 0\n",
        );
        write(
            &d,
            "memory.events",
            "low 0\nhigh 0\nmax 6\noom 0\noom_kill 0\n",
        );
        write(&d, "memory.peak", "999\n");
        write(&d, "memory.max", "max\n");
        write(&d, "cpu.max", "max 100000\n");
        write(&d, "cpu.weight", "100\n");
        write(
            &d,
            "io.stat",
            "8:16 rbytes=100 wbytes=200 rios=3 wios=4 dbytes=0 dios=0\n",
        );
        let ctl = ["memory", "cpu", "io"]
            .map(|c| (c.to_string(), t.path().to_path_buf()))
            .to_vec();
        let out = cgroup_samples(&CgFiles::new(ctl, "pod/c"), None, &|a, b| {
            format!("{a}:{b}")
        });
        let get = |n: &str, extra: &[&str]| {
            out.iter()
                .find(|x| x.name == n && x.extra == extra)
                .map(|x| x.value)
        };
        assert_eq!(get("container_memory_cache", &[]), Some(30));
        assert_eq!(get("container_memory_kernel_usage", &[]), Some(64));
        assert_eq!(get("container_memory_failcnt", &[]), Some(6));
        assert_eq!(get("container_memory_max_usage_bytes", &[]), Some(999));
        assert_eq!(get("container_spec_memory_limit_bytes", &[]), Some(0));
        assert_eq!(get("container_spec_cpu_period", &[]), Some(100000));
        assert_eq!(get("container_spec_cpu_quota", &[]), None);
        assert_eq!(
            get("container_spec_cpu_shares", &[]),
            Some(outrigger_cgroups::weight_to_shares(100))
        );
        assert_eq!(get("container_fs_writes_bytes_total", &["8:16"]), Some(200));
        assert_eq!(get("container_fs_reads_total", &["8:16"]), Some(3));
        assert!(!names(&out).contains(&"container_cpu_usage_seconds_total"));
    }

    #[test]
    fn process_counts_from_a_fake_proc() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("42");
        for task in ["42", "43"] {
            std::fs::create_dir_all(p.join("task").join(task)).unwrap();
        }
        std::fs::create_dir_all(p.join("fd")).unwrap();
        std::os::unix::fs::symlink("/dev/null", p.join("fd/0")).unwrap();
        std::os::unix::fs::symlink("socket:[1234]", p.join("fd/1")).unwrap();
        std::os::unix::fs::symlink("pipe:[99]", p.join("fd/2")).unwrap();
        // pid 7 vanished: counted as a process, contributes nothing else
        let out = process_samples(t.path(), &[42, 7]);
        let get = |n: &str| out.iter().find(|x| x.name == n).map(|x| x.value);
        assert_eq!(get("container_processes"), Some(2));
        assert_eq!(get("container_threads"), Some(2));
        assert_eq!(get("container_file_descriptors"), Some(3));
        assert_eq!(get("container_sockets"), Some(1));
    }
}
