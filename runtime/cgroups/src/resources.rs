//! Resource limits as the CRI gives them, their validation and unit conversions.

use std::collections::BTreeMap;

use crate::Error;

/// Limits for one cgroup, with the values of the CRI `LinuxContainerResources`.
/// `None` and `0` both mean "leave unset" unless a field says otherwise.
#[derive(Default, Clone, Debug, PartialEq)]
pub struct Resources {
    /// CFS period in microseconds (1000..=1000000).
    pub cpu_period: Option<u64>,
    /// CFS quota in microseconds; `-1` means unlimited, otherwise at least 1000.
    pub cpu_quota: Option<i64>,
    /// CPU shares (2..=262144); converted to `cpu.weight` on v2.
    pub cpu_shares: Option<u64>,
    /// cpuset CPU list such as `0-1,3`; empty means unset.
    pub cpuset_cpus: Option<String>,
    /// cpuset memory-node list such as `0`; empty means unset.
    pub cpuset_mems: Option<String>,
    /// Memory limit in bytes; `-1` means unlimited.
    pub memory_limit_bytes: Option<i64>,
    /// Memory + swap limit in bytes (CRI semantics: includes memory); `-1` means unlimited.
    pub memory_swap_limit_bytes: Option<i64>,
    /// Hugepage limits: (page size such as `2MB` or `1GB`, limit in bytes).
    pub hugepage_limits: Vec<(String, u64)>,
    /// Maximum number of pids; `-1` means unlimited.
    pub pids_limit: Option<i64>,
    /// Block I/O weight (10..=1000); converted to `io.weight` on v2.
    pub blkio_weight: Option<u16>,
    /// CRI `unified` map: raw cgroup v2 file name -> value. On v1 only keys with a v1
    /// equivalent are accepted.
    pub unified: BTreeMap<String, String>,
}

pub(crate) fn invalid(field: &str, value: impl ToString, reason: impl Into<String>) -> Error {
    Error::InvalidValue {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// `Some(v)` with `v != 0`, else `None`.
pub(crate) fn set_u64(v: Option<u64>) -> Option<u64> {
    v.filter(|v| *v != 0)
}

/// `Some(v)` with `v != 0`, else `None`.
pub(crate) fn set_i64(v: Option<i64>) -> Option<i64> {
    v.filter(|v| *v != 0)
}

/// A non-empty trimmed string, else `None`.
pub(crate) fn set_str(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Check a cpuset list (`0-3,5,7-8`).
pub(crate) fn check_cpuset_list(field: &str, value: &str) -> Result<(), Error> {
    for part in value.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (part, part),
        };
        let lo: u32 = lo.trim().parse().map_err(|_| {
            invalid(
                field,
                value,
                format!("{part:?} is not a number or a range N-M"),
            )
        })?;
        let hi: u32 = hi.trim().parse().map_err(|_| {
            invalid(
                field,
                value,
                format!("{part:?} is not a number or a range N-M"),
            )
        })?;
        if lo > hi {
            return Err(invalid(field, value, format!("range {part:?} is reversed")));
        }
    }
    Ok(())
}

/// Check a hugepage size as the kernel names it in `hugetlb.<size>.*` (e.g. `2MB`, `1GB`, `64KB`).
pub(crate) fn check_page_size(size: &str) -> Result<(), Error> {
    let digits_end = size
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(size.len());
    let (num, unit) = size.split_at(digits_end);
    let ok_num = num.parse::<u64>().map(|n| n > 0).unwrap_or(false);
    if !ok_num || !matches!(unit, "KB" | "MB" | "GB") {
        return Err(invalid(
            "hugepage_limits.page_size",
            size,
            "expected a size such as 2MB, 1GB or 64KB",
        ));
    }
    Ok(())
}

/// Check a blkio weight (10..=1000).
pub(crate) fn check_blkio_weight(w: u16) -> Result<(), Error> {
    if !(10..=1000).contains(&w) {
        return Err(invalid("blkio_weight", w, "must be between 10 and 1000"));
    }
    Ok(())
}

/// v1 cpu.shares -> v2 cpu.weight, as runc/crun/kubelet convert it.
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// v2 cpu.weight -> v1 cpu.shares (inverse of [`shares_to_weight`]).
pub fn weight_to_shares(weight: u64) -> u64 {
    let w = weight.clamp(1, 10_000);
    2 + ((w - 1) * 262_142) / 9999
}

/// blkio weight (10..=1000) -> io.weight (1..=10000).
pub fn blkio_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + ((w - 10) * 9999) / 990
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cpuset_lists() {
        assert!(check_cpuset_list("cpuset_cpus", "0").is_ok());
        assert!(check_cpuset_list("cpuset_cpus", "0-3,5,7-8").is_ok());
        for bad in ["0-", "-1", "a", "3-1", "0,,1", "1-2-3"] {
            let err = check_cpuset_list("cpuset_cpus", bad).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("cpuset_cpus") && msg.contains(bad), "{msg}");
        }
    }

    #[test]
    fn page_sizes() {
        for ok in ["2MB", "1GB", "64KB"] {
            assert!(check_page_size(ok).is_ok(), "{ok}");
        }
        for bad in ["2M", "MB", "0MB", "2mb", "", "2 MB"] {
            assert!(check_page_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(10_000), 262_144);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 1 + (490 * 9999) / 990);
    }

    #[test]
    fn blkio_range() {
        assert!(check_blkio_weight(10).is_ok());
        assert!(check_blkio_weight(9).is_err());
        assert!(check_blkio_weight(1001).is_err());
    }
}
