//! CNI results and error objects.

use std::net::IpAddr;
use std::process::ExitStatus;

use serde_json::Value;

use crate::Error;

/// Parses a plugin's ADD stdout into a JSON result, checking that it is an object.
pub(crate) fn parse_result(plugin: &str, stdout: &[u8]) -> Result<Value, Error> {
    let bad = |reason: String| Error::BadResult {
        plugin: plugin.to_string(),
        reason,
    };
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Err(bad("empty output".into()));
    }
    let value: Value = serde_json::from_slice(stdout)
        .map_err(|e| bad(format!("not JSON ({e}): {}", snippet(stdout))))?;
    if !value.is_object() {
        return Err(bad(format!("not a JSON object: {}", snippet(stdout))));
    }
    Ok(value)
}

/// The IP addresses of a result (CNI 0.3.0 - 1.0.0 `ips[].address`, or 0.1/0.2 `ip4.ip` /
/// `ip6.ip`), IPv4 first, otherwise in result order.
pub(crate) fn result_ips(plugin: &str, result: &Value) -> Result<Vec<IpAddr>, Error> {
    let bad = |reason: String| Error::BadResult {
        plugin: plugin.to_string(),
        reason,
    };
    let version = result
        .get("cniVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut cidrs: Vec<&str> = Vec::new();
    if version.starts_with("0.1.") || version.starts_with("0.2.") {
        for key in ["ip4", "ip6"] {
            if let Some(ip) = result.get(key) {
                match ip.get("ip").and_then(Value::as_str) {
                    Some(s) => cidrs.push(s),
                    None => return Err(bad(format!("\"{key}\" has no string \"ip\": {ip}"))),
                }
            }
        }
    } else {
        match result.get("ips") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match item.get("address").and_then(Value::as_str) {
                        Some(s) => cidrs.push(s),
                        None => {
                            return Err(bad(format!("ips[{i}] has no string \"address\": {item}")));
                        }
                    }
                }
            }
            Some(other) => return Err(bad(format!("\"ips\" is not an array: {other}"))),
        }
    }
    let mut ips = Vec::with_capacity(cidrs.len());
    for cidr in cidrs {
        let addr = cidr.split_once('/').map_or(cidr, |(a, _)| a);
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| bad(format!("invalid IP address {cidr:?}")))?;
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips.sort_by_key(|ip| !ip.is_ipv4());
    Ok(ips)
}

/// Turns a failed plugin run into [`Error::Plugin`]: the CNI error object on stdout if there
/// is one, else stderr / the exit status.
pub(crate) fn plugin_error(
    plugin: &str,
    command: &'static str,
    status: ExitStatus,
    stdout: &[u8],
    stderr: &[u8],
) -> Error {
    let obj = serde_json::from_slice::<Value>(stdout)
        .ok()
        .filter(|v| v.get("code").is_some() || v.get("msg").is_some());
    let stderr_text = String::from_utf8_lossy(stderr).trim().to_string();
    match obj {
        Some(v) => Error::Plugin {
            plugin: plugin.to_string(),
            command,
            code: v.get("code").and_then(Value::as_u64).unwrap_or(0),
            msg: v
                .get("msg")
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .to_string(),
            details: v
                .get("details")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or(stderr_text),
        },
        None => {
            let out = String::from_utf8_lossy(stdout).trim().to_string();
            let msg = [stderr_text, out]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            Error::Plugin {
                plugin: plugin.to_string(),
                command,
                code: 0,
                msg: if msg.is_empty() {
                    format!("{status} with no output")
                } else {
                    format!("{status}: {msg}")
                },
                details: String::new(),
            }
        }
    }
}

fn snippet(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn parses_v1_result_ipv4_first() {
        let out = br#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/x"}],
          "ips":[{"interface":0,"address":"fd00::5/64"},{"interface":0,"address":"10.233.7.2/24","gateway":"10.233.7.1"}],
          "routes":[{"dst":"0.0.0.0/0"}],"dns":{}}"#;
        let v = parse_result("bridge", out).unwrap();
        let ips = result_ips("bridge", &v).unwrap();
        assert_eq!(
            ips,
            vec![
                "10.233.7.2".parse::<IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
    }

    #[test]
    fn parses_v040_result() {
        let out = br#"{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.0.9/16","gateway":"10.1.0.1","interface":2}]}"#;
        let v = parse_result("bridge", out).unwrap();
        assert_eq!(
            result_ips("bridge", &v).unwrap(),
            vec!["10.1.0.9".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn parses_v020_result() {
        let v = serde_json::json!({"cniVersion":"0.2.0","ip4":{"ip":"10.9.0.3/24"},"ip6":{"ip":"fd01::3/64"}});
        assert_eq!(result_ips("x", &v).unwrap().len(), 2);
    }

    #[test]
    fn result_without_ips_is_empty_and_bad_ips_fail() {
        let v = parse_result("loopback", br#"{"cniVersion":"1.0.0","interfaces":[]}"#).unwrap();
        assert!(result_ips("loopback", &v).unwrap().is_empty());
        let bad = serde_json::json!({"cniVersion":"1.0.0","ips":[{"address":"300.1.1.1/24"}]});
        let err = result_ips("bridge", &bad).unwrap_err();
        assert!(err.to_string().contains("300.1.1.1/24"), "{err}");
        let bad = serde_json::json!({"cniVersion":"1.0.0","ips":[{"gateway":"1.1.1.1"}]});
        assert!(result_ips("bridge", &bad).is_err());
    }

    #[test]
    fn rejects_non_results() {
        for out in [&b""[..], b"  \n", b"hello", b"[1,2]"] {
            let err = parse_result("bridge", out).unwrap_err();
            assert!(err.to_string().contains("CNI plugin bridge"), "{err}");
        }
    }

    #[test]
    fn parses_cni_error_object() {
        let out =
            br#"{"cniVersion":"1.0.0","code":7,"msg":"failed to allocate","details":"range full"}"#;
        let err = plugin_error("bridge", "ADD", ExitStatus::from_raw(1 << 8), out, b"");
        match &err {
            Error::Plugin {
                plugin,
                code,
                msg,
                details,
                ..
            } => {
                assert_eq!(plugin, "bridge");
                assert_eq!(*code, 7);
                assert_eq!(msg, "failed to allocate");
                assert_eq!(details, "range full");
            }
            other => panic!("{other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("bridge ADD failed (code 7): failed to allocate (range full)"),
            "{text}"
        );
    }

    #[test]
    fn falls_back_to_stderr_and_status() {
        let err = plugin_error(
            "portmap",
            "DEL",
            ExitStatus::from_raw(2 << 8),
            b"",
            b"iptables: not found\n",
        );
        let text = err.to_string();
        assert!(text.contains("portmap DEL failed (code 0)"), "{text}");
        assert!(text.contains("iptables: not found"), "{text}");
        let err = plugin_error("x", "ADD", ExitStatus::from_raw(9), b"", b"");
        assert!(err.to_string().contains("no output"), "{err}");
    }
}
