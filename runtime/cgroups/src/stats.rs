//! Usage statistics read from cgroup files.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Error;

/// A snapshot of a cgroup's usage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// When the snapshot was taken (ns since the Unix epoch).
    pub timestamp_ns: i64,
    /// CPU usage, if the cpu/cpuacct controllers are available.
    pub cpu: Option<CpuStats>,
    /// Memory usage, if the memory controller is available.
    pub memory: Option<MemoryStats>,
    /// Pids usage, if the pids controller is available.
    pub pids: Option<PidsStats>,
    /// Hugetlb usage per page size (`2MB` etc.).
    pub hugetlb: BTreeMap<String, HugetlbStats>,
    /// Block I/O totals, if available.
    pub io: Option<IoStats>,
}

/// CPU usage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CpuStats {
    /// Total CPU time consumed (ns).
    pub usage_ns: u64,
    /// User-mode CPU time (ns).
    pub user_ns: Option<u64>,
    /// Kernel-mode CPU time (ns).
    pub system_ns: Option<u64>,
    /// CFS periods elapsed.
    pub nr_periods: Option<u64>,
    /// CFS periods in which the cgroup was throttled.
    pub nr_throttled: Option<u64>,
    /// Total time throttled (ns).
    pub throttled_ns: Option<u64>,
}

/// Memory usage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryStats {
    /// Current usage (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    pub usage_bytes: u64,
    /// usage - inactive_file, floored at 0 (what cadvisor and the kubelet call working set).
    pub working_set_bytes: u64,
    /// Anonymous memory (v1 total_rss, v2 anon).
    pub rss_bytes: u64,
    /// Page faults.
    pub page_faults: u64,
    /// Major page faults.
    pub major_page_faults: u64,
    /// Limit, `None` when unlimited.
    pub limit_bytes: Option<u64>,
    /// Swap in use, when swap accounting is available.
    pub swap_usage_bytes: Option<u64>,
}

/// Pids usage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PidsStats {
    /// Number of tasks.
    pub current: u64,
    /// Limit, `None` when unlimited.
    pub limit: Option<u64>,
}

/// Hugetlb usage of one page size.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HugetlbStats {
    /// Bytes in use.
    pub usage_bytes: u64,
    /// Peak bytes in use (v1 only).
    pub max_usage_bytes: Option<u64>,
}

/// Block I/O totals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IoStats {
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
}

/// Values at or above this are the kernel's "unlimited" on v1 (PAGE_COUNTER_MAX rounded).
const V1_UNLIMITED: u64 = 1 << 62;

pub(crate) fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Read a file if it exists: `Ok(None)` when it does not.
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn parse_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Parse a file holding a single unsigned number.
pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64, Error> {
    let t = text.trim();
    t.parse()
        .map_err(|_| parse_err(path, format!("expected a number, found {t:?}")))
}

/// Parse a single number or `max` (`None`).
pub(crate) fn parse_u64_or_max(path: &Path, text: &str) -> Result<Option<u64>, Error> {
    if text.trim() == "max" {
        return Ok(None);
    }
    parse_u64(path, text).map(Some)
}

/// Parse a flat keyed file (`key value` per line).
pub(crate) fn parse_keyed(path: &Path, text: &str) -> Result<BTreeMap<String, u64>, Error> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        let v: u64 = v
            .parse()
            .map_err(|_| parse_err(path, format!("value of {k:?} is not a number: {v:?}")))?;
        out.insert(k.to_string(), v);
    }
    Ok(out)
}

fn keyed_file(path: &Path) -> Result<Option<BTreeMap<String, u64>>, Error> {
    match read_opt(path)? {
        Some(t) => parse_keyed(path, &t).map(Some),
        None => Ok(None),
    }
}

fn num_file(path: &Path) -> Result<Option<u64>, Error> {
    match read_opt(path)? {
        Some(t) => parse_u64(path, &t).map(Some),
        None => Ok(None),
    }
}

fn limit_file(path: &Path) -> Result<Option<u64>, Error> {
    match read_opt(path)? {
        Some(t) => Ok(parse_u64_or_max(path, &t)?.filter(|v| *v < V1_UNLIMITED)),
        None => Ok(None),
    }
}

/// v1 CPU stats from the cpuacct dir and (optionally) the cpu dir.
pub(crate) fn cpu_v1(cpuacct: &Path, cpu: Option<&Path>) -> Result<Option<CpuStats>, Error> {
    let Some(usage_ns) = num_file(&cpuacct.join("cpuacct.usage"))? else {
        return Ok(None);
    };
    let mut s = CpuStats {
        usage_ns,
        ..CpuStats::default()
    };
    s.user_ns = num_file(&cpuacct.join("cpuacct.usage_user"))?;
    s.system_ns = num_file(&cpuacct.join("cpuacct.usage_sys"))?;
    if s.user_ns.is_none() || s.system_ns.is_none() {
        // cpuacct.stat is in USER_HZ ticks (100 per second on Linux).
        if let Some(m) = keyed_file(&cpuacct.join("cpuacct.stat"))? {
            s.user_ns = m.get("user").map(|t| t.saturating_mul(10_000_000));
            s.system_ns = m.get("system").map(|t| t.saturating_mul(10_000_000));
        }
    }
    if let Some(cpu) = cpu {
        if let Some(m) = keyed_file(&cpu.join("cpu.stat"))? {
            s.nr_periods = m.get("nr_periods").copied();
            s.nr_throttled = m.get("nr_throttled").copied();
            s.throttled_ns = m.get("throttled_time").copied();
        }
    }
    Ok(Some(s))
}

/// v2 CPU stats from `cpu.stat` (present in every v2 cgroup).
pub(crate) fn cpu_v2(dir: &Path) -> Result<Option<CpuStats>, Error> {
    let path = dir.join("cpu.stat");
    let Some(m) = keyed_file(&path)? else {
        return Ok(None);
    };
    let Some(usage) = m.get("usage_usec") else {
        return Err(parse_err(&path, "no usage_usec line"));
    };
    let us = |k: &str| m.get(k).map(|v| v.saturating_mul(1000));
    Ok(Some(CpuStats {
        usage_ns: usage.saturating_mul(1000),
        user_ns: us("user_usec"),
        system_ns: us("system_usec"),
        nr_periods: m.get("nr_periods").copied(),
        nr_throttled: m.get("nr_throttled").copied(),
        throttled_ns: us("throttled_usec"),
    }))
}

/// v1 memory stats.
pub(crate) fn memory_v1(dir: &Path) -> Result<Option<MemoryStats>, Error> {
    let Some(usage) = num_file(&dir.join("memory.usage_in_bytes"))? else {
        return Ok(None);
    };
    let stat_path = dir.join("memory.stat");
    let m = keyed_file(&stat_path)?.unwrap_or_default();
    let get = |hier: &str, local: &str| m.get(hier).or_else(|| m.get(local)).copied();
    let inactive_file = get("total_inactive_file", "inactive_file").unwrap_or(0);
    let swap_usage = num_file(&dir.join("memory.memsw.usage_in_bytes"))?
        .map(|memsw| memsw.saturating_sub(usage));
    Ok(Some(MemoryStats {
        usage_bytes: usage,
        working_set_bytes: usage.saturating_sub(inactive_file),
        rss_bytes: get("total_rss", "rss").unwrap_or(0),
        page_faults: get("total_pgfault", "pgfault").unwrap_or(0),
        major_page_faults: get("total_pgmajfault", "pgmajfault").unwrap_or(0),
        limit_bytes: limit_file(&dir.join("memory.limit_in_bytes"))?,
        swap_usage_bytes: swap_usage,
    }))
}

/// v2 memory stats.
pub(crate) fn memory_v2(dir: &Path) -> Result<Option<MemoryStats>, Error> {
    let Some(usage) = num_file(&dir.join("memory.current"))? else {
        return Ok(None);
    };
    let m = keyed_file(&dir.join("memory.stat"))?.unwrap_or_default();
    let get = |k: &str| m.get(k).copied().unwrap_or(0);
    Ok(Some(MemoryStats {
        usage_bytes: usage,
        working_set_bytes: usage.saturating_sub(get("inactive_file")),
        rss_bytes: get("anon"),
        page_faults: get("pgfault"),
        major_page_faults: get("pgmajfault"),
        limit_bytes: limit_file(&dir.join("memory.max"))?,
        swap_usage_bytes: num_file(&dir.join("memory.swap.current"))?,
    }))
}

/// Pids stats (same files on v1 and v2).
pub(crate) fn pids(dir: &Path) -> Result<Option<PidsStats>, Error> {
    let Some(current) = num_file(&dir.join("pids.current"))? else {
        return Ok(None);
    };
    Ok(Some(PidsStats {
        current,
        limit: limit_file(&dir.join("pids.max"))?,
    }))
}

/// Hugetlb stats: every `hugetlb.<size>.usage_in_bytes` (v1) or `hugetlb.<size>.current` (v2).
pub(crate) fn hugetlb(dir: &Path, v2: bool) -> Result<BTreeMap<String, HugetlbStats>, Error> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(Error::Io {
                op: "read directory",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let suffix = if v2 { ".current" } else { ".usage_in_bytes" };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|r| r.strip_suffix(suffix))
        else {
            continue;
        };
        if size.contains('.') {
            continue; // e.g. hugetlb.2MB.rsvd.current
        }
        let usage = parse_u64(&entry.path(), &read(&entry.path())?)?;
        let max_usage = if v2 {
            None
        } else {
            num_file(&dir.join(format!("hugetlb.{size}.max_usage_in_bytes")))?
        };
        out.insert(
            size.to_string(),
            HugetlbStats {
                usage_bytes: usage,
                max_usage_bytes: max_usage,
            },
        );
    }
    Ok(out)
}

/// v1 blkio totals from `blkio.throttle.io_service_bytes_recursive` (or the non-recursive file).
pub(crate) fn io_v1(dir: &Path) -> Result<Option<IoStats>, Error> {
    let mut text = None;
    for f in [
        "blkio.throttle.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes",
    ] {
        if let Some(t) = read_opt(&dir.join(f))? {
            text = Some(t);
            break;
        }
    }
    let Some(text) = text else {
        return Ok(None);
    };
    let mut s = IoStats::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            continue; // "Total N" line
        }
        let v: u64 = f[2].parse().unwrap_or(0);
        match f[1] {
            "Read" => s.read_bytes = s.read_bytes.saturating_add(v),
            "Write" => s.write_bytes = s.write_bytes.saturating_add(v),
            _ => {}
        }
    }
    Ok(Some(s))
}

/// v2 io totals from `io.stat` (`MAJ:MIN rbytes=.. wbytes=.. ...`).
pub(crate) fn io_v2(dir: &Path) -> Result<Option<IoStats>, Error> {
    let Some(text) = read_opt(&dir.join("io.stat"))? else {
        return Ok(None);
    };
    let mut s = IoStats::default();
    for line in text.lines() {
        for kv in line.split_whitespace().skip(1) {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v: u64 = v.parse().unwrap_or(0);
            match k {
                "rbytes" => s.read_bytes = s.read_bytes.saturating_add(v),
                "wbytes" => s.write_bytes = s.write_bytes.saturating_add(v),
                _ => {}
            }
        }
    }
    Ok(Some(s))
}

/// The `oom_kill` counter of a keyed file (v1 memory.oom_control, v2 memory.events).
pub(crate) fn oom_kill(path: &Path) -> Result<u64, Error> {
    let m = parse_keyed(path, &read(path)?)?;
    Ok(m.get("oom_kill").copied().unwrap_or(0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn v1_stats_parse() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(d, "cpuacct.usage", "123456789\n");
        write(d, "cpuacct.stat", "user 5\nsystem 7\n");
        write(
            d,
            "cpu.stat",
            "nr_periods 10\nnr_throttled 2\nthrottled_time 3000\n",
        );
        let c = cpu_v1(d, Some(d)).unwrap().unwrap();
        assert_eq!(c.usage_ns, 123_456_789);
        assert_eq!(c.user_ns, Some(50_000_000));
        assert_eq!(c.system_ns, Some(70_000_000));
        assert_eq!(c.nr_throttled, Some(2));
        assert_eq!(c.throttled_ns, Some(3000));
        write(d, "cpuacct.usage_user", "11\n");
        write(d, "cpuacct.usage_sys", "22\n");
        let c = cpu_v1(d, None).unwrap().unwrap();
        assert_eq!(
            (c.user_ns, c.system_ns, c.nr_periods),
            (Some(11), Some(22), None)
        );

        write(d, "memory.usage_in_bytes", "1000000\n");
        write(d, "memory.memsw.usage_in_bytes", "1500000\n");
        write(d, "memory.limit_in_bytes", "9223372036854771712\n");
        write(
            d,
            "memory.stat",
            "cache 5\nrss 1\ninactive_file 3\ntotal_rss 4096\ntotal_inactive_file 200000\ntotal_pgfault 9\ntotal_pgmajfault 1\n",
        );
        let m = memory_v1(d).unwrap().unwrap();
        assert_eq!(m.usage_bytes, 1_000_000);
        assert_eq!(m.working_set_bytes, 800_000);
        assert_eq!(m.rss_bytes, 4096);
        assert_eq!((m.page_faults, m.major_page_faults), (9, 1));
        assert_eq!(m.limit_bytes, None);
        assert_eq!(m.swap_usage_bytes, Some(500_000));
        write(d, "memory.limit_in_bytes", "67108864\n");
        write(d, "memory.stat", "total_inactive_file 5000000\n");
        let m = memory_v1(d).unwrap().unwrap();
        assert_eq!(m.limit_bytes, Some(67_108_864));
        assert_eq!(m.working_set_bytes, 0, "floored at 0");

        write(d, "hugetlb.2MB.usage_in_bytes", "2097152\n");
        write(d, "hugetlb.2MB.max_usage_in_bytes", "4194304\n");
        let h = hugetlb(d, false).unwrap();
        assert_eq!(h["2MB"].usage_bytes, 2_097_152);
        assert_eq!(h["2MB"].max_usage_bytes, Some(4_194_304));

        write(
            d,
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 100\n8:0 Write 50\n8:16 Read 1\n8:0 Total 150\nTotal 151\n",
        );
        let io = io_v1(d).unwrap().unwrap();
        assert_eq!((io.read_bytes, io.write_bytes), (101, 50));
    }

    #[test]
    fn v2_stats_parse() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(
            d,
            "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\n",
        );
        let c = cpu_v2(d).unwrap().unwrap();
        assert_eq!(c.usage_ns, 1_500_000);
        assert_eq!(c.user_ns, Some(1_000_000));
        assert_eq!(c.throttled_ns, Some(20_000));
        write(d, "memory.current", "4096000\n");
        write(d, "memory.max", "max\n");
        write(d, "memory.swap.current", "0\n");
        write(
            d,
            "memory.stat",
            "anon 1024\ninactive_file 96000\npgfault 3\npgmajfault 0\n",
        );
        let m = memory_v2(d).unwrap().unwrap();
        assert_eq!(m.working_set_bytes, 4_000_000);
        assert_eq!(m.rss_bytes, 1024);
        assert_eq!(m.limit_bytes, None);
        assert_eq!(m.swap_usage_bytes, Some(0));
        write(d, "pids.current", "3\n");
        write(d, "pids.max", "100\n");
        assert_eq!(
            pids(d).unwrap(),
            Some(PidsStats {
                current: 3,
                limit: Some(100)
            })
        );
        write(d, "hugetlb.1GB.current", "0\n");
        write(d, "hugetlb.1GB.rsvd.current", "0\n");
        let h = hugetlb(d, true).unwrap();
        assert_eq!(h.keys().collect::<Vec<_>>(), vec!["1GB"]);
        write(
            d,
            "io.stat",
            "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n",
        );
        let io = io_v2(d).unwrap().unwrap();
        assert_eq!((io.read_bytes, io.write_bytes), (11, 22));
        write(
            d,
            "memory.events",
            "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n",
        );
        assert_eq!(oom_kill(&d.join("memory.events")).unwrap(), 1);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(d, "cpu.stat", "usage_usec lots\n");
        assert!(matches!(cpu_v2(d), Err(Error::Parse { .. })));
        write(d, "memory.current", "-1\n");
        assert!(memory_v2(d).is_err());
        write(d, "cpu.stat", "user_usec 1\n");
        assert!(cpu_v2(d).is_err());
    }
}
