//! CRI `LinuxContainerResources` → the cgroup crate's `Resources` (0 / empty = unset).

use outrigger_cgroups::Resources;
use outrigger_cri_proto::LinuxContainerResources;

use crate::error::{CriError, Result};

/// Converts the kubelet's resources; negative values that have no meaning are rejected with a
/// message naming the field (the cgroup crate validates the rest before writing anything).
pub fn from_cri(r: Option<&LinuxContainerResources>) -> Result<Resources> {
    let Some(r) = r else {
        return Ok(Resources::default());
    };
    let pos_u64 = |name: &str, v: i64| -> Result<Option<u64>> {
        match v {
            0 => Ok(None),
            v if v > 0 => Ok(Some(v as u64)),
            v => Err(CriError::invalid(format!(
                "resources.{name} must not be negative, got {v}"
            ))),
        }
    };
    let mut out = Resources {
        cpu_period: pos_u64("cpu_period", r.cpu_period)?,
        cpu_quota: if r.cpu_quota == 0 {
            None
        } else {
            Some(r.cpu_quota)
        },
        cpu_shares: pos_u64("cpu_shares", r.cpu_shares)?,
        cpuset_cpus: non_empty(&r.cpuset_cpus),
        cpuset_mems: non_empty(&r.cpuset_mems),
        memory_limit_bytes: match r.memory_limit_in_bytes {
            0 => None,
            v if v > 0 => Some(v),
            v => {
                return Err(CriError::invalid(format!(
                    "resources.memory_limit_in_bytes must not be negative, got {v}"
                )));
            }
        },
        memory_swap_limit_bytes: if r.memory_swap_limit_in_bytes == 0 {
            None
        } else {
            Some(r.memory_swap_limit_in_bytes)
        },
        ..Default::default()
    };
    for h in &r.hugepage_limits {
        out.hugepage_limits.push((h.page_size.clone(), h.limit));
    }
    for (k, v) in &r.unified {
        out.unified.insert(k.clone(), v.clone());
    }
    Ok(out)
}

fn non_empty(s: &str) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_unset_and_negatives_are_named() {
        let r = LinuxContainerResources {
            cpu_shares: 512,
            cpu_quota: -1,
            memory_limit_in_bytes: 64 << 20,
            cpuset_cpus: "0".into(),
            ..Default::default()
        };
        let out = from_cri(Some(&r)).unwrap();
        assert_eq!(out.cpu_shares, Some(512));
        assert_eq!(out.cpu_quota, Some(-1));
        assert_eq!(out.cpu_period, None);
        assert_eq!(out.memory_limit_bytes, Some(64 << 20));
        assert_eq!(out.cpuset_cpus.as_deref(), Some("0"));
        let bad = LinuxContainerResources {
            memory_limit_in_bytes: -5,
            ..Default::default()
        };
        let e = from_cri(Some(&bad)).unwrap_err();
        assert!(e.message.contains("memory_limit_in_bytes"), "{}", e.message);
        assert_eq!(from_cri(None).unwrap(), Resources::default());
    }
}
