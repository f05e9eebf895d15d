//! Linux capabilities: names to numbers, and applying the OCI capability sets.

use crate::error::{Error, Result};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

/// Capability names in number order (linux/capability.h).
const NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The number of a capability name (`CAP_SYS_ADMIN` or `SYS_ADMIN`, any case).
pub fn cap_number(name: &str) -> Result<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES
        .iter()
        .position(|n| *n == full)
        .map(|i| i as u32)
        .ok_or_else(|| Error::Capability(name.to_string()))
}

/// The bit mask of a set of OCI capabilities.
pub fn mask(set: Option<&Capabilities>) -> Result<u64> {
    let mut m = 0u64;
    for c in set.into_iter().flatten() {
        m |= 1u64 << capability_number(c)?;
    }
    Ok(m)
}

fn capability_number(c: &Capability) -> Result<u32> {
    // oci-spec serializes capabilities by their kernel name ("CAP_CHOWN")
    let v = serde_json::to_value(c).map_err(|e| Error::Capability(format!("{c:?}: {e}")))?;
    let name = v
        .as_str()
        .ok_or_else(|| Error::Capability(format!("{c:?}")))?;
    cap_number(name)
}

/// The five OCI capability sets as bit masks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapMasks {
    /// Bounding set.
    pub bounding: u64,
    /// Effective set.
    pub effective: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Inheritable set.
    pub inheritable: u64,
    /// Ambient set.
    pub ambient: u64,
}

impl CapMasks {
    /// Converts the OCI sets; a missing `capabilities` means no capabilities at all.
    pub fn from_spec(c: Option<&LinuxCapabilities>) -> Result<Self> {
        let Some(c) = c else {
            return Ok(Self::default());
        };
        Ok(Self {
            bounding: mask(c.bounding().as_ref())?,
            effective: mask(c.effective().as_ref())?,
            permitted: mask(c.permitted().as_ref())?,
            inheritable: mask(c.inheritable().as_ref())?,
            ambient: mask(c.ambient().as_ref())?,
        })
    }
}

impl CapMasks {
    /// Every set intersected with `available` (the capabilities this process can still hold).
    pub fn limited_to(self, available: u64) -> Self {
        Self {
            bounding: self.bounding & available,
            effective: self.effective & available,
            permitted: self.permitted & available,
            inheritable: self.inheritable & available,
            ambient: self.ambient & available,
        }
    }
}

/// `CapBnd` of /proc/self/status: what a process started from here can ever have
/// (all bits when it can't be read).
pub fn current_bounding() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_cap_line(&s, "CapBnd:"))
        .unwrap_or(u64::MAX)
}

/// Parses a `CapXxx:\t<hex>` line of /proc/<pid>/status.
pub fn parse_cap_line(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    u64::from_str_radix(line[key.len()..].trim(), 16).ok()
}

/// The highest capability number the kernel knows (from /proc/sys/kernel/cap_last_cap).
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(NAMES.len() as u32 - 1)
}

/// Drops every capability not in `bounding` from the bounding set (needs CAP_SETPCAP).
#[allow(unsafe_code)]
pub fn drop_bounding(bounding: u64) -> Result<()> {
    for cap in 0..=last_cap().min(63) {
        if bounding & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            let e = nix::Error::last();
            if e != nix::Error::EINVAL {
                return Err(Error::sys(format!("prctl(PR_CAPBSET_DROP, {cap})"), e));
            }
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Sets the effective, permitted and inheritable sets of the calling thread.
#[allow(unsafe_code)]
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let lo = |m: u64| m as u32;
    let hi = |m: u64| (m >> 32) as u32;
    let data = [
        CapData {
            effective: lo(effective),
            permitted: lo(permitted),
            inheritable: lo(inheritable),
        },
        CapData {
            effective: hi(effective),
            permitted: hi(permitted),
            inheritable: hi(inheritable),
        },
    ];
    // SAFETY: header and a two-element data array of the v3 layout, both live for the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::sys(
            format!(
                "capset(effective {effective:#x}, permitted {permitted:#x}, inheritable {inheritable:#x})"
            ),
            nix::Error::last(),
        ))
    }
}

/// The ambient capabilities that can be raised: ambient caps must also be permitted and
/// inheritable (others are skipped, as runc does).
pub fn raisable_ambient(m: &CapMasks) -> u64 {
    m.ambient & m.permitted & m.inheritable
}

/// Clears the ambient set, then raises the capabilities in `ambient` (each must be permitted
/// and inheritable already).
#[allow(unsafe_code)]
pub fn set_ambient(ambient: u64) -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    for cap in 0..=last_cap().min(63) {
        if ambient & (1 << cap) == 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap as libc::c_ulong,
                0,
                0,
            )
        };
        if rc != 0 {
            let name = NAMES.get(cap as usize).copied().unwrap_or("?");
            return Err(Error::sys(
                format!("raising ambient capability {name}"),
                nix::Error::last(),
            ));
        }
    }
    Ok(())
}

/// Sets PR_SET_KEEPCAPS (keep permitted capabilities across setuid).
#[allow(unsafe_code)]
pub fn set_keepcaps(on: bool) -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::sys("prctl(PR_SET_KEEPCAPS)", nix::Error::last()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_to_numbers() {
        assert_eq!(cap_number("CAP_CHOWN").unwrap(), 0);
        assert_eq!(cap_number("CAP_SYS_ADMIN").unwrap(), 21);
        assert_eq!(cap_number("sys_admin").unwrap(), 21);
        assert_eq!(cap_number("CAP_CHECKPOINT_RESTORE").unwrap(), 40);
        let e = cap_number("CAP_FLY").unwrap_err();
        assert_eq!(e.to_string(), "unknown capability \"CAP_FLY\"");
    }

    #[test]
    fn oci_sets_to_masks() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL","CAP_NET_BIND_SERVICE","CAP_BPF"],"effective":["CAP_KILL"],
                "permitted":["CAP_KILL"]}"#,
        )
        .unwrap();
        let m = CapMasks::from_spec(Some(&c)).unwrap();
        assert_eq!(m.bounding, (1 << 5) | (1 << 10) | (1 << 39));
        assert_eq!(m.effective, 1 << 5);
        assert_eq!(m.permitted, 1 << 5);
        assert_eq!(m.inheritable, 0);
        assert_eq!(m.ambient, 0);
        assert_eq!(CapMasks::from_spec(None).unwrap(), CapMasks::default());
        let all = CapMasks {
            bounding: u64::MAX,
            effective: 0b111,
            permitted: 0b101,
            inheritable: 0,
            ambient: 0b1,
        };
        let l = all.limited_to(0b110);
        assert_eq!(
            (l.bounding, l.effective, l.permitted, l.ambient),
            (0b110, 0b110, 0b100, 0)
        );
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\n";
        assert_eq!(parse_cap_line(status, "CapBnd:"), Some(0x1fffeffffff));
        assert_eq!(parse_cap_line(status, "CapAmb:"), None);
        let m = CapMasks {
            ambient: 0b111,
            permitted: 0b011,
            inheritable: 0b110,
            ..m
        };
        assert_eq!(raisable_ambient(&m), 0b010);
    }
}
