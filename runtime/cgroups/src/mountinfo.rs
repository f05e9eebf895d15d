//! Finding the cgroup hierarchies in `/proc/self/mountinfo`.

use std::path::{Path, PathBuf};

use crate::Error;

/// One mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    /// Where it is mounted (already re-rooted under the manager's root prefix).
    pub mount: PathBuf,
    /// Controllers bound to it; v1 named hierarchies appear as `name=<x>`.
    pub controllers: Vec<String>,
    /// True for the cgroup2 (unified) hierarchy.
    pub unified: bool,
}

/// Super options of a v1 cgroup mount that are not controllers.
fn is_v1_option(opt: &str) -> bool {
    matches!(
        opt,
        "rw" | "ro"
            | "noprefix"
            | "clone_children"
            | "xattr"
            | "cpuset_v2_mode"
            | "favordynmods"
            | "nofavordynmods"
    ) || (opt.contains('=') && !opt.starts_with("name="))
}

/// Undo mountinfo's octal escapes (`\040` for space, etc.).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Re-root an absolute mount point under `root_prefix`.
fn reroot(root_prefix: &Path, mount_point: &str) -> PathBuf {
    let rel = mount_point.trim_start_matches('/');
    if rel.is_empty() {
        root_prefix.to_path_buf()
    } else {
        root_prefix.join(rel)
    }
}

/// Parse mountinfo text into cgroup hierarchies. v1 hierarchies come first, in mount order,
/// deduplicated by controller set; at most one unified hierarchy is kept (the first).
/// The unified hierarchy's controllers are read from `<mount>/cgroup.controllers`
/// (missing file: no controllers).
pub(crate) fn parse(mountinfo: &str, root_prefix: &Path) -> Result<Vec<Hierarchy>, Error> {
    let mut v1: Vec<Hierarchy> = Vec::new();
    let mut v2: Option<Hierarchy> = None;
    for line in mountinfo.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((pre, post)) = line.split_once(" - ") else {
            return Err(Error::Mountinfo {
                line: line.to_string(),
                reason: "no ' - ' separator".to_string(),
            });
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            return Err(Error::Mountinfo {
                line: line.to_string(),
                reason: "too few fields".to_string(),
            });
        }
        let fstype = post[0];
        let mount_point = unescape(pre[4]);
        match fstype {
            "cgroup" => {
                let mut controllers: Vec<String> = post[2]
                    .split(',')
                    .filter(|o| !o.is_empty() && !is_v1_option(o))
                    .map(str::to_string)
                    .collect();
                controllers.sort();
                if controllers.is_empty() || v1.iter().any(|h| h.controllers == controllers) {
                    continue;
                }
                v1.push(Hierarchy {
                    mount: reroot(root_prefix, &mount_point),
                    controllers,
                    unified: false,
                });
            }
            "cgroup2" if v2.is_none() => {
                let mount = reroot(root_prefix, &mount_point);
                let controllers = match std::fs::read_to_string(mount.join("cgroup.controllers")) {
                    Ok(s) => s.split_whitespace().map(str::to_string).collect(),
                    Err(_) => Vec::new(),
                };
                v2 = Some(Hierarchy {
                    mount,
                    controllers,
                    unified: true,
                });
            }
            _ => {}
        }
    }
    if let Some(u) = v2 {
        v1.push(u);
    }
    Ok(v1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/trail\"), r"/trail\");
    }

    #[test]
    fn v1_options_are_not_controllers() {
        assert!(is_v1_option("rw"));
        assert!(is_v1_option("release_agent=/x"));
        assert!(!is_v1_option("name=systemd"));
        assert!(!is_v1_option("cpu"));
    }

    #[test]
    fn bad_line_is_an_error() {
        let err = parse("1 2 3", Path::new("/")).unwrap_err();
        assert!(matches!(err, Error::Mountinfo { .. }), "{err}");
    }

    #[test]
    fn comounted_and_duplicates() {
        let mi = "\
1 0 0:1 / /c rw - cgroup cgroup rw,cpuacct,cpu
2 0 0:1 / /other/c rw - cgroup cgroup rw,cpu,cpuacct
3 0 0:2 / /s rw - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
";
        let h = parse(mi, Path::new("/root")).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(h[0].mount, PathBuf::from("/root/c"));
        assert_eq!(h[1].controllers, vec!["name=systemd"]);
    }
}
