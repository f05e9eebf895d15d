//! The per-container monitor of the Outrigger CRI runtime (the role conmon plays for CRI-O).
//!
//! One small, long-lived, single-threaded process per container: it is the parent (child
//! subreaper) of the container process, owns its stdio, writes the CRI log, serves attach clients
//! on a unix socket ([`frame`] documents the protocol, [`attach`] is the daemon's client) and
//! records the exit status in a file, so containers, logs and exit codes survive restarts of the
//! daemon.
//!
//! The daemon calls [`spawn_monitor`] with argv `[daemon exe, "monitor", <monitor.json>]`; that
//! hidden subcommand calls [`monitor_main`], which forks (the direct child exits at once, so the
//! monitor is not the daemon's child), runs `config.command` (the container init), and reports one
//! JSON line on its stdout pipe: `{"container_pid":N,"monitor_pid":M}` or `{"error":"..."}`.
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod attach;
pub mod frame;
pub mod logfmt;
mod monitor;
mod sys;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Environment variable set (to `1`) for `command` in tty mode: the init must then call
/// `setsid()` and `ioctl(0, TIOCSCTTY, 0)` so the pty slave (its fds 0, 1, 2) becomes the
/// container's controlling terminal.
pub const TTY_ENV: &str = "OUTRIGGER_TTY";

fn default_max_line() -> usize {
    logfmt::DEFAULT_MAX_LINE
}

/// What the monitor of one container does; the daemon writes it as JSON (see
/// [`MonitorConfig::write`]) and passes the path to the `monitor` subcommand.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MonitorConfig {
    /// Container id (for messages).
    pub id: String,
    /// argv of the init (absolute path first).
    pub command: Vec<String>,
    /// Written by the init: host pid of the container process.
    pub pid_file: PathBuf,
    /// [`ExitStatus`] JSON, written atomically by the monitor when the container ends.
    pub exit_file: PathBuf,
    /// The monitor writes its own pid here.
    pub monitor_pid_file: PathBuf,
    /// CRI log file; its directory must exist (the kubelet creates it).
    #[serde(default)]
    pub log_path: Option<PathBuf>,
    /// Unix socket for attach clients.
    pub attach_socket: PathBuf,
    /// Give the container a pty.
    #[serde(default)]
    pub tty: bool,
    /// Give the container a stdin (fed by attach clients).
    #[serde(default)]
    pub stdin: bool,
    /// Close the container's stdin when the first client that wrote to it detaches.
    #[serde(default)]
    pub stdin_once: bool,
    /// Longer lines are split into partial (`P`) records; default 16 KiB.
    #[serde(default = "default_max_line")]
    pub log_max_line: usize,
}

impl MonitorConfig {
    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let data = std::fs::read(path).map_err(|source| Error::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&data).map_err(|source| Error::ParseConfig {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the config as JSON (atomically: temp file + rename).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let data = serde_json::to_vec_pretty(self).map_err(|source| Error::ParseConfig {
            path: path.to_path_buf(),
            source,
        })?;
        write_atomic(path, &data)
    }
}

/// How the container ended; written as JSON to `exit_file`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ExitStatus {
    /// Exit code, or 128 + signal number when killed by a signal.
    pub exit_code: i32,
    /// The signal that killed the container, if any.
    pub signal: Option<i32>,
    /// When the monitor saw the exit, nanoseconds since the UNIX epoch.
    pub finished_at_ns: i64,
    /// Set when the container never started (init failed) or the monitor failed.
    pub error: Option<String>,
}

impl ExitStatus {
    /// Reads an exit file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let data = std::fs::read(path).map_err(|source| Error::ReadExitFile {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&data).map_err(|source| Error::ParseExitFile {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The monitor's report: the container is running.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Created {
    /// The monitor's pid (not a child of the daemon).
    pub monitor_pid: i32,
    /// The container process's host pid.
    pub container_pid: i32,
}

/// Errors of the monitor and of [`spawn_monitor`].
#[derive(Debug, Error)]
pub enum Error {
    /// The config file could not be read.
    #[error("reading monitor config {path}: {source}")]
    ReadConfig {
        /// Config path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The config file is not valid JSON for [`MonitorConfig`].
    #[error("parsing monitor config {path}: {source}")]
    ParseConfig {
        /// Config path.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
    /// `command` is empty.
    #[error("monitor config for container {id}: command is empty")]
    EmptyCommand {
        /// Container id.
        id: String,
    },
    /// Writing a file (pid file, exit file, config) failed.
    #[error("writing {path}: {source}")]
    WriteFile {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A syscall the monitor needs failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was attempted.
        what: &'static str,
        /// Cause.
        source: std::io::Error,
    },
    /// The log file could not be opened (its directory must exist).
    #[error("opening container log {path}: {source}")]
    OpenLog {
        /// Log path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The attach socket could not be created.
    #[error("binding attach socket {path}: {source}")]
    BindSocket {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A program could not be started.
    #[error("starting {program}: {source}")]
    Spawn {
        /// argv\[0\].
        program: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The container did not start: the init failed (the message is its stderr, trimmed) or
    /// the monitor could not set up (log file, socket, pty, ...).
    #[error("container did not start: {0}")]
    InitFailed(String),
    /// The init succeeded but its pid file is unreadable.
    #[error("reading container pid file {path}: {source}")]
    ReadPidFile {
        /// Pid file path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The pid file does not hold a positive pid.
    #[error("container pid file {path} holds {content:?}, not a pid")]
    BadPidFile {
        /// Pid file path.
        path: PathBuf,
        /// What it holds.
        content: String,
    },
    /// The container process was not reparented to the monitor.
    #[error("container process {0} is not a child of the monitor (did init exit before it?)")]
    NotChild(i32),
    /// The exit file could not be read.
    #[error("reading exit file {path}: {source}")]
    ReadExitFile {
        /// Exit file path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The exit file is not valid [`ExitStatus`] JSON.
    #[error("parsing exit file {path}: {source}")]
    ParseExitFile {
        /// Exit file path.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
    /// [`reopen_log`] got a pid that cannot be a monitor's.
    #[error("monitor pid {0} is not a valid pid")]
    BadMonitorPid(i32),
    /// The monitor did not recreate the log file in time.
    #[error("container log {path} was not reopened within {timeout:?}")]
    ReopenTimeout {
        /// Log path.
        path: PathBuf,
        /// The limit.
        timeout: Duration,
    },
    /// [`spawn_monitor`] got an empty argv.
    #[error("monitor argv is empty")]
    EmptyArgv,
    /// The monitor's launcher process failed without reporting.
    #[error("monitor for container {id} exited with {status} without a report")]
    MonitorExited {
        /// Container id.
        id: String,
        /// Its wait status.
        status: String,
    },
    /// The monitor closed its report pipe without a report.
    #[error("monitor for container {id} closed its report pipe without a report")]
    NoReport {
        /// Container id.
        id: String,
    },
    /// The monitor's report is not valid.
    #[error("monitor for container {id} sent a bad report {line:?}")]
    BadReport {
        /// Container id.
        id: String,
        /// The line received.
        line: String,
    },
    /// The monitor did not report in time.
    #[error("monitor for container {id} did not report within {timeout:?}")]
    Timeout {
        /// Container id.
        id: String,
        /// The limit.
        timeout: Duration,
    },
}

/// Writes `data` to `path` atomically (a temp file in the same directory, then rename).
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let werr = |source| Error::WriteFile {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::create(&tmp).map_err(werr)?;
    f.write_all(data).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(werr)
}

/// Entry point of the `monitor <monitor.json>` subcommand. Call it from a plain `fn main`
/// BEFORE any threads or async runtime exist (it forks). Returns the process exit code: the
/// launcher returns 0 at once after the fork; the monitor itself returns when the container
/// has ended (0) or failed to start (1).
pub fn monitor_main(config: &Path) -> i32 {
    monitor::main(config)
}

/// Asks the monitor `monitor_pid` to reopen the container log (SIGUSR1; CRI
/// ReopenContainerLog, after the kubelet renamed the file) and waits up to `timeout` for the new
/// `log_path` to exist. The caller must know `monitor_pid` is still this container's monitor
/// (e.g. its exit file does not exist yet).
pub fn reopen_log(monitor_pid: i32, log_path: &Path, timeout: Duration) -> Result<(), Error> {
    use nix::sys::signal::{Signal, kill};
    if monitor_pid <= 0 {
        return Err(Error::BadMonitorPid(monitor_pid));
    }
    kill(nix::unistd::Pid::from_raw(monitor_pid), Signal::SIGUSR1).map_err(|e| Error::Sys {
        what: "signalling the monitor (SIGUSR1)",
        source: e.into(),
    })?;
    let deadline = Instant::now() + timeout;
    while !log_path.exists() {
        if Instant::now() >= deadline {
            return Err(Error::ReopenTimeout {
                path: log_path.to_path_buf(),
                timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Report {
    container_pid: Option<i32>,
    monitor_pid: Option<i32>,
    error: Option<String>,
}

/// Called by the daemon: runs `argv` (e.g. `[daemon exe, "monitor", path]`; the config must
/// already be written at `path`, see [`MonitorConfig::write`]), reaps the launcher (which exits
/// as soon as the detached monitor has forked), and waits up to `timeout` for the monitor's
/// report. Blocking: call it from `spawn_blocking` in async code.
pub fn spawn_monitor(
    argv: &[String],
    config: &MonitorConfig,
    timeout: Duration,
) -> Result<Created, Error> {
    let deadline = Instant::now() + timeout;
    let (prog, args) = argv.split_first().ok_or(Error::EmptyArgv)?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: prog.clone(),
            source,
        })?;
    let Some(mut out) = child.stdout.take() else {
        return Err(Error::NoReport {
            id: config.id.clone(),
        });
    };
    let status = child.wait().map_err(|source| Error::Sys {
        what: "waiting for the monitor launcher",
        source,
    })?;

    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if line.contains(&b'\n') {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout {
                id: config.id.clone(),
                timeout,
            });
        }
        let ms = PollTimeout::try_from(left.as_millis().max(1)).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(Error::Sys {
                    what: "polling the monitor's report pipe",
                    source: e.into(),
                });
            }
        }
        match out.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => line.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(Error::Sys {
                    what: "reading the monitor's report pipe",
                    source,
                });
            }
        }
    }
    let text = String::from_utf8_lossy(&line);
    let text = text.trim();
    if text.is_empty() {
        if !status.success() {
            return Err(Error::MonitorExited {
                id: config.id.clone(),
                status: status.to_string(),
            });
        }
        return Err(Error::NoReport {
            id: config.id.clone(),
        });
    }
    let bad = || Error::BadReport {
        id: config.id.clone(),
        line: text.to_string(),
    };
    let report: Report = serde_json::from_str(text).map_err(|_| bad())?;
    if let Some(msg) = report.error {
        return Err(Error::InitFailed(msg));
    }
    match (report.container_pid, report.monitor_pid) {
        (Some(c), Some(m)) if c > 0 && m > 0 => Ok(Created {
            monitor_pid: m,
            container_pid: c,
        }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_defaults_and_round_trip() {
        let json = r#"{"id":"c1","command":["/init","x"],"pid_file":"/r/pid",
            "exit_file":"/r/exit","monitor_pid_file":"/r/mpid","attach_socket":"/r/attach"}"#;
        let c: MonitorConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.log_max_line, 16 * 1024);
        assert!(!c.tty && !c.stdin && !c.stdin_once);
        assert_eq!(c.log_path, None);
        assert_eq!(c.command, vec!["/init".to_string(), "x".to_string()]);

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("monitor.json");
        let mut c2 = c.clone();
        c2.tty = true;
        c2.log_path = Some(dir.path().join("0.log"));
        c2.write(&p).unwrap();
        assert_eq!(MonitorConfig::load(&p).unwrap(), c2);
        assert!(!dir.path().join("monitor.json.tmp").exists());
    }

    #[test]
    fn config_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.json");
        std::fs::write(&p, b"{\"id\": 3}").unwrap();
        let e = MonitorConfig::load(&p).unwrap_err();
        assert!(matches!(e, Error::ParseConfig { .. }));
        assert!(e.to_string().contains("bad.json"), "{e}");
        let e = MonitorConfig::load(&dir.path().join("missing.json")).unwrap_err();
        assert!(matches!(e, Error::ReadConfig { .. }));
    }

    #[test]
    fn exit_status_json() {
        let s = ExitStatus {
            exit_code: 137,
            signal: Some(9),
            finished_at_ns: 5,
            error: None,
        };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(
            j,
            r#"{"exit_code":137,"signal":9,"finished_at_ns":5,"error":null}"#
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("exit");
        write_atomic(&p, j.as_bytes()).unwrap();
        assert_eq!(ExitStatus::load(&p).unwrap(), s);
    }

    #[test]
    fn spawn_monitor_reports() {
        let cfg: MonitorConfig = serde_json::from_str(
            r#"{"id":"c1","command":["/x"],"pid_file":"/p","exit_file":"/e",
            "monitor_pid_file":"/m","attach_socket":"/a"}"#,
        )
        .unwrap();
        let sh = |script: &str| vec!["/bin/sh".to_string(), "-c".to_string(), script.to_string()];
        let t = Duration::from_secs(5);
        let ok = spawn_monitor(
            &sh(r#"echo '{"container_pid":7,"monitor_pid":8}'"#),
            &cfg,
            t,
        );
        assert_eq!(
            ok.unwrap(),
            Created {
                monitor_pid: 8,
                container_pid: 7
            }
        );
        let e = spawn_monitor(&sh(r#"echo '{"error":"no such file"}'"#), &cfg, t).unwrap_err();
        assert!(
            matches!(&e, Error::InitFailed(m) if m == "no such file"),
            "{e}"
        );
        let e = spawn_monitor(&sh("exit 2"), &cfg, t).unwrap_err();
        assert!(matches!(e, Error::MonitorExited { .. }), "{e}");
        let e = spawn_monitor(&sh("echo garbage"), &cfg, t).unwrap_err();
        assert!(matches!(e, Error::BadReport { .. }), "{e}");
        // the launcher exits at once but a detached child keeps the pipe open, silent
        let e =
            spawn_monitor(&sh("sleep 1 & exit 0"), &cfg, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e}");
        assert!(matches!(spawn_monitor(&[], &cfg, t), Err(Error::EmptyArgv)));
    }
}
