//! Small helpers about host processes, IDs and time.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (the CRI's timestamps).
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A new random 64-hex-digit ID (like containerd's).
pub fn new_id() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks after boot), parsed after the
/// command name's closing parenthesis (the name itself may hold spaces and parentheses).
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // after ")" come fields 3.. ; start time is field 22 → index 19 of the rest
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Start time of a live process, `None` when it is gone.
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&s)
}

/// Whether `pid` is still the process that had `start` as its start time (and not a zombie).
pub fn alive(pid: i32, start: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state_zombie = s
        .rfind(')')
        .and_then(|i| s[i + 1..].split_whitespace().next())
        .is_some_and(|st| st == "Z" || st == "X");
    !state_zombie && parse_start_time(&s) == Some(start)
}

/// Sends `sig` to `pid` if it is still the same process.
pub fn signal(pid: i32, start: u64, sig: nix::sys::signal::Signal) -> bool {
    if !alive(pid, start) {
        return false;
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).is_ok()
}

/// Parses a signal given as a number or a name (`SIGTERM`, `TERM`, `RTMIN+3` not supported).
pub fn parse_signal(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).ok().map(|x| x as i32);
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|x| x as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_survives_odd_command_names() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(parse_start_time(stat), Some(123456));
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn own_process_is_alive_and_signals_parse() {
        let me = std::process::id() as i32;
        let st = start_time(me).unwrap();
        assert!(alive(me, st));
        assert!(!alive(me, st + 1));
        assert_eq!(parse_signal("SIGTERM"), Some(15));
        assert_eq!(parse_signal("kill"), Some(9));
        assert_eq!(parse_signal("2"), Some(2));
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(new_id().unwrap().len(), 64);
    }
}
