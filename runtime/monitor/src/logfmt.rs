//! The CRI container log format the kubelet reads:
//! `<RFC3339Nano UTC timestamp> <stdout|stderr> <F|P> <content>\n`.
//!
//! Each chunk read from the container is cut into records: every complete line is a full (`F`)
//! record; a line longer than the maximum is cut into partial (`P`) pieces of at most that many
//! bytes followed by the remainder as `F`; bytes at the end of a chunk with no newline yet are a
//! `P` record (the kubelet joins `P` records with the next `F`), so the formatter keeps no state
//! between chunks and a prompt without a newline still shows up in the log at once.

use std::time::{SystemTime, UNIX_EPOCH};

/// Which output stream a record came from (tty output is always stdout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (and all tty output).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The name written in the log record.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Default maximum content bytes per record (16 KiB, as conmon and containerd use).
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;

/// Formats a UNIX time (seconds, nanoseconds) as RFC 3339 in UTC with nine fractional digits,
/// e.g. `2016-10-06T00:17:09.669794202Z`.
pub fn format_timestamp(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The current time as (seconds, nanoseconds) since the UNIX epoch.
pub fn now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => (0, 0),
    }
}

/// Nanoseconds since the UNIX epoch, now.
pub fn now_ns() -> i64 {
    let (s, n) = now();
    s.saturating_mul(1_000_000_000).saturating_add(i64::from(n))
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push_record(out: &mut Vec<u8>, ts: &str, stream: Stream, full: bool, content: &[u8]) {
    out.extend_from_slice(ts.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if full { b" F " } else { b" P " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// Appends the log records for one chunk of output to `out`, all stamped `ts`.
/// `max_line` (0 means [`DEFAULT_MAX_LINE`]) bounds the content of each record.
pub fn format_chunk(out: &mut Vec<u8>, ts: &str, stream: Stream, chunk: &[u8], max_line: usize) {
    let max = if max_line == 0 {
        DEFAULT_MAX_LINE
    } else {
        max_line
    };
    let mut rest = chunk;
    while !rest.is_empty() {
        let (line, full, consumed) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i <= max => (&rest[..i], true, i + 1),
            Some(_) => (&rest[..max], false, max),
            None if rest.len() > max => (&rest[..max], false, max),
            None => (rest, false, rest.len()),
        };
        push_record(out, ts, stream, full, line);
        rest = &rest[consumed..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "2016-10-06T00:17:09.669794202Z";

    fn fmt(chunk: &[u8], max: usize) -> String {
        let mut out = Vec::new();
        format_chunk(&mut out, TS, Stream::Stdout, chunk, max);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_timestamp(1_475_713_029, 669_794_202),
            "2016-10-06T00:17:09.669794202Z"
        );
        // leap day and end of year
        assert_eq!(
            format_timestamp(951_782_400, 5),
            "2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(
            format_timestamp(1_704_067_199, 999_999_999),
            "2023-12-31T23:59:59.999999999Z"
        );
        assert_eq!(format_timestamp(-1, 0), "1969-12-31T23:59:59.000000000Z");
        let (s, n) = now();
        assert!(s > 1_700_000_000);
        assert!(n < 1_000_000_000);
        assert_eq!(format_timestamp(s, n).len(), TS.len());
    }

    #[test]
    fn full_lines() {
        assert_eq!(
            fmt(b"hello\nworld\n", 0),
            format!("{TS} stdout F hello\n{TS} stdout F world\n")
        );
        assert_eq!(fmt(b"\n", 0), format!("{TS} stdout F \n"));
        assert_eq!(fmt(b"", 0), "");
    }

    #[test]
    fn trailing_partial() {
        assert_eq!(
            fmt(b"a\nprompt: ", 0),
            format!("{TS} stdout F a\n{TS} stdout P prompt: \n")
        );
    }

    #[test]
    fn long_lines_split() {
        assert_eq!(
            fmt(b"abcdefghij\n", 4),
            format!("{TS} stdout P abcd\n{TS} stdout P efgh\n{TS} stdout F ij\n")
        );
        // exactly max bytes before the newline is one full record
        assert_eq!(fmt(b"abcd\n", 4), format!("{TS} stdout F abcd\n"));
        // max+1 bytes then newline: one partial then an empty full record
        assert_eq!(
            fmt(b"abcde\n", 4),
            format!("{TS} stdout P abcd\n{TS} stdout F e\n")
        );
        assert_eq!(
            fmt(b"abcdefghi", 4),
            format!("{TS} stdout P abcd\n{TS} stdout P efgh\n{TS} stdout P i\n")
        );
    }

    #[test]
    fn stderr_name() {
        let mut out = Vec::new();
        format_chunk(&mut out, TS, Stream::Stderr, b"err\n", 0);
        assert_eq!(out, format!("{TS} stderr F err\n").into_bytes());
    }
}
