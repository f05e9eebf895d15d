//! Prints `Effective uid: N` like the upstream e2e `nonewprivs` image's helper.
//!
//! Installed setuid root: started as uid 1000 it prints 0, unless the container runs with
//! `no_new_privs`, which makes execve ignore the setuid bit (then it prints 1000). The
//! effective uid comes from the `Uid:` line of /proc/self/status (real, effective, saved,
//! filesystem), so no libc binding is needed.

use std::process::ExitCode;

/// The effective uid from the text of /proc/self/status, if it has a well-formed `Uid:` line.
fn effective_uid(status: &str) -> Option<u32> {
    let ids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    ids.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> ExitCode {
    let status = match std::fs::read_to_string("/proc/self/status") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("nonewprivs: reading /proc/self/status: {e}");
            return ExitCode::FAILURE;
        }
    };
    match effective_uid(&status) {
        Some(uid) => {
            println!("Effective uid: {uid}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("nonewprivs: no well-formed Uid: line in /proc/self/status");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::effective_uid;

    #[test]
    fn takes_the_second_field_of_the_uid_line() {
        let s =
            "Name:\tnonewprivs\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(s), Some(0));
    }

    #[test]
    fn rejects_missing_or_malformed_lines() {
        assert_eq!(effective_uid("Name:\tx\n"), None);
        assert_eq!(effective_uid("Uid:\t1000\n"), None);
        assert_eq!(effective_uid("Uid:\t1000\tabc\t0\t0\n"), None);
    }
}
