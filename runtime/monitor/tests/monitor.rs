//! End-to-end tests of the monitor: `spawn_monitor` runs the test-only binary
//! `outrigger-monitor-test` (which calls `monitor_main`) with a shell script standing in for the
//! container init. They need no root: no namespaces, mounts or cgroups are involved.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use outrigger_monitor::attach::{self, ServerFrame};
use outrigger_monitor::{Created, Error, ExitStatus, MonitorConfig, spawn_monitor};

const BIN: &str = env!("CARGO_BIN_EXE_outrigger-monitor-test");
const TIMEOUT: Duration = Duration::from_secs(10);

/// Kills every process it knows of when dropped, so a failing test leaves nothing behind.
struct Setup {
    dir: tempfile::TempDir,
    cfg: MonitorConfig,
    cfg_path: PathBuf,
    pids: Vec<i32>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        // Container first (the monitor then exits by itself), then the monitor.
        for &pid in self.pids.iter().rev() {
            if alive(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// True while the process exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => match s.rfind(')') {
            Some(i) => !matches!(s[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => false,
        },
        Err(_) => false,
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn setup(script: &str, tty: bool, stdin: bool, stdin_once: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pid_file = d.join("pid");
    let script = script.replace("PIDFILE", &pid_file.display().to_string());
    let cfg = MonitorConfig {
        id: "c1".into(),
        command: vec!["/bin/sh".into(), "-c".into(), script],
        pid_file,
        exit_file: d.join("exit"),
        monitor_pid_file: d.join("monitor.pid"),
        log_path: Some(d.join("0.log")),
        attach_socket: d.join("attach"),
        tty,
        stdin,
        stdin_once,
        log_max_line: 16 * 1024,
    };
    let cfg_path = d.join("monitor.json");
    cfg.write(&cfg_path).unwrap();
    Setup {
        dir,
        cfg,
        cfg_path,
        pids: Vec::new(),
    }
}

impl Setup {
    fn spawn(&mut self) -> Result<Created, Error> {
        let argv = vec![BIN.to_string(), self.cfg_path.display().to_string()];
        let r = spawn_monitor(&argv, &self.cfg, TIMEOUT);
        if let Ok(pid) = std::fs::read_to_string(&self.cfg.monitor_pid_file) {
            if let Ok(pid) = pid.trim().parse() {
                self.pids.push(pid);
            }
        }
        if let Ok(c) = &r {
            self.pids.push(c.container_pid);
        }
        r
    }

    fn wait_exit(&self) -> ExitStatus {
        wait_until("the exit file", || self.cfg.exit_file.exists());
        ExitStatus::load(&self.cfg.exit_file).unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.cfg.log_path.as_ref().unwrap()).unwrap_or_default()
    }

    /// Waits for the monitor and container to be gone and the socket removed.
    fn assert_cleaned_up(&self) {
        for &pid in &self.pids {
            wait_until(&format!("process {pid} to end"), || !alive(pid));
        }
        wait_until("the attach socket to be removed", || {
            !self.cfg.attach_socket.exists()
        });
    }
}

fn check_record(line: &str) -> (&str, &str, &str) {
    // <timestamp> <stream> <F|P> <content>
    let mut it = line.splitn(4, ' ');
    let ts = it.next().unwrap();
    let stream = it.next().unwrap();
    let tag = it.next().unwrap();
    let content = it.next().unwrap_or("");
    assert_eq!(ts.len(), "2016-10-06T00:17:09.669794202Z".len(), "{line}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{line}");
    assert!(stream == "stdout" || stream == "stderr", "{line}");
    assert!(tag == "F" || tag == "P", "{line}");
    (stream, tag, content)
}

#[test]
fn exit_code_and_cri_log() {
    let mut s = setup(
        "(echo hi; echo err >&2; printf tail; exit 3) & echo $! > PIDFILE",
        false,
        false,
        false,
    );
    let c = s.spawn().unwrap();
    assert!(c.container_pid > 0 && c.monitor_pid > 0);
    assert_ne!(c.monitor_pid, std::process::id() as i32);
    let st = s.wait_exit();
    assert_eq!(st.exit_code, 3);
    assert_eq!(st.signal, None);
    assert_eq!(st.error, None);
    assert!(st.finished_at_ns > 1_700_000_000_000_000_000);
    s.assert_cleaned_up();
    let log = s.log();
    let recs: Vec<_> = log.lines().map(check_record).collect();
    assert!(recs.contains(&("stdout", "F", "hi")), "{log}");
    assert!(recs.contains(&("stderr", "F", "err")), "{log}");
    assert!(recs.contains(&("stdout", "P", "tail")), "{log}");
}

#[test]
fn killed_by_signal_and_monitor_rss() {
    let mut s = setup("sleep 100 & echo $! > PIDFILE", false, false, false);
    let c = s.spawn().unwrap();
    // The monitor is detached: its own session, not our child.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", c.monitor_pid)).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let (ppid, sid): (i32, i32) = (fields[1].parse().unwrap(), fields[3].parse().unwrap());
    assert_ne!(ppid, std::process::id() as i32);
    assert_eq!(sid, c.monitor_pid, "monitor must lead its own session");
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.monitor_pid)).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap()
        .to_string();
    println!("monitor {rss}");
    let kb: u64 = rss.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(kb < 16 * 1024, "monitor RSS {kb} kB");
    // Only the report pipe is gone; fds 0-2 are /dev/null plus the monitor's own.
    let fds = std::fs::read_dir(format!("/proc/{}/fd", c.monitor_pid))
        .unwrap()
        .count();
    assert!(fds <= 12, "monitor holds {fds} fds");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.container_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let st = s.wait_exit();
    assert_eq!((st.exit_code, st.signal), (137, Some(9)));
    s.assert_cleaned_up();
}

#[test]
fn init_failure_is_reported() {
    let mut s = setup(
        "echo 'boom: no such image' >&2; exit 1",
        false,
        false,
        false,
    );
    let e = s.spawn().unwrap_err();
    assert!(
        matches!(&e, Error::InitFailed(m) if m == "boom: no such image"),
        "{e}"
    );
    let st = s.wait_exit();
    assert_eq!(st.exit_code, 1);
    assert_eq!(st.error.as_deref(), Some("boom: no such image"));
    s.assert_cleaned_up();
}

#[test]
fn missing_log_dir_is_an_error() {
    let mut s = setup("sleep 100 & echo $! > PIDFILE", false, false, false);
    s.cfg.log_path = Some(s.dir.path().join("nodir/0.log"));
    s.cfg.write(&s.cfg_path).unwrap();
    let e = s.spawn().unwrap_err();
    assert!(e.to_string().contains("nodir"), "{e}");
    assert!(!s.cfg.pid_file.exists(), "init must not have run");
    s.assert_cleaned_up();
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn read_until(stream: &mut tokio::net::UnixStream, want: &str) -> String {
    let mut got = String::new();
    while !got.contains(want) {
        match tokio::time::timeout(TIMEOUT, attach::read_frame(stream)).await {
            Ok(Ok(Some(ServerFrame::Stdout(d)))) => got.push_str(&String::from_utf8_lossy(&d)),
            Ok(Ok(Some(f))) => panic!("unexpected frame {f:?} (have {got:?})"),
            other => panic!("no {want:?} (have {got:?}): {other:?}"),
        }
    }
    got
}

#[test]
fn attach_stdin_log_reopen_and_close() {
    let mut s = setup(
        "exec 3<&0; cat <&3 3<&- & echo $! > PIDFILE",
        false,
        true,
        false,
    );
    let c = s.spawn().unwrap();
    let log_path = s.cfg.log_path.clone().unwrap();
    rt().block_on(async {
        let mut a = attach::connect(&s.cfg.attach_socket).await.unwrap();
        let mut b = attach::connect(&s.cfg.attach_socket).await.unwrap();
        // let the monitor accept both before output flows
        tokio::time::sleep(Duration::from_millis(100)).await;
        attach::write_stdin(&mut a, b"one\n").await.unwrap();
        assert!(read_until(&mut a, "one\n").await.contains("one"));
        assert!(read_until(&mut b, "one\n").await.contains("one"));
        wait_until("'one' in the log", || s.log().contains("stdout F one"));

        // kubelet-style rotation: rename, SIGUSR1, wait for the new file
        let rotated = s.dir.path().join("0.log.rotated");
        std::fs::rename(&log_path, &rotated).unwrap();
        outrigger_monitor::reopen_log(c.monitor_pid, &log_path, TIMEOUT).unwrap();
        attach::write_stdin(&mut b, b"two\n").await.unwrap();
        read_until(&mut a, "two\n").await;
        wait_until("'two' in the new log", || s.log().contains("stdout F two"));
        let old = std::fs::read_to_string(&rotated).unwrap();
        assert!(
            old.contains("stdout F one") && !old.contains("two"),
            "{old}"
        );
        assert!(!s.log().contains("one"));

        // closing stdin ends cat; clients get the exit frame, then EOF
        attach::write_close_stdin(&mut a).await.unwrap();
        let f = tokio::time::timeout(TIMEOUT, attach::read_frame(&mut a))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f, Some(ServerFrame::Exit(0)));
        let f = tokio::time::timeout(TIMEOUT, attach::read_frame(&mut a))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f, None);
    });
    assert_eq!(s.wait_exit().exit_code, 0);
    s.assert_cleaned_up();
}

#[test]
fn stdin_once_closes_when_first_writer_detaches() {
    let mut s = setup(
        "exec 3<&0; (cat <&3 3<&-; exit 5) & echo $! > PIDFILE",
        false,
        true,
        true,
    );
    s.spawn().unwrap();
    rt().block_on(async {
        // a client without stdin comes and goes: stdin stays open
        let b = attach::connect(&s.cfg.attach_socket).await.unwrap();
        drop(b);
        let mut a = attach::connect(&s.cfg.attach_socket).await.unwrap();
        attach::write_stdin(&mut a, b"x\n").await.unwrap();
        read_until(&mut a, "x\n").await;
        drop(a);
    });
    assert_eq!(s.wait_exit().exit_code, 5);
    assert!(s.log().contains("stdout F x"));
    s.assert_cleaned_up();
}

#[test]
fn stdin_once_with_a_declared_but_silent_client() {
    let mut s = setup(
        "exec 3<&0; (cat <&3 3<&-; exit 6) & echo $! > PIDFILE",
        false,
        true,
        true,
    );
    s.spawn().unwrap();
    rt().block_on(async {
        let mut a = attach::connect(&s.cfg.attach_socket).await.unwrap();
        attach::declare_stdin(&mut a).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(a);
    });
    assert_eq!(s.wait_exit().exit_code, 6);
    s.assert_cleaned_up();
}

#[test]
fn tty_output_and_resize() {
    let mut s = setup(
        "exec 3<&0; (if [ -t 1 ] && [ \"$OUTRIGGER_TTY\" = 1 ]; then echo istty; fi; \
         read l <&3; stty size <&3; exit 0) & echo $! > PIDFILE",
        true,
        true,
        false,
    );
    s.spawn().unwrap();
    rt().block_on(async {
        let mut a = attach::connect(&s.cfg.attach_socket).await.unwrap();
        attach::write_resize(&mut a, 100, 42).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        attach::write_stdin(&mut a, b"go\n").await.unwrap();
        read_until(&mut a, "42 100").await;
    });
    assert_eq!(s.wait_exit().exit_code, 0);
    s.assert_cleaned_up();
    let log = s.log();
    // tty output is stdout, with the pty's CR before each newline
    assert!(log.contains("stdout F istty\r\n"), "{log}");
    assert!(log.contains("stdout F 42 100\r\n"), "{log}");
    assert!(!log.contains("stderr"), "{log}");
}

#[test]
fn stale_socket_is_replaced() {
    let mut s = setup("(exit 0) & echo $! > PIDFILE", false, false, false);
    std::fs::write(&s.cfg.attach_socket, b"stale").unwrap();
    s.spawn().unwrap();
    assert_eq!(s.wait_exit().exit_code, 0);
    s.assert_cleaned_up();
}

/// Pids whose parent is `ppid` (zombies included).
fn children_of(ppid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(i) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[i + 1..].split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(ppid) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn orphans_are_reaped_and_ignored() {
    // The inner subshell leaves `sleep 0.5` behind; it is reparented to the monitor (child
    // subreaper), which reaps it and keeps waiting for the container itself.
    let mut s = setup(
        "( (sleep 0.5 &) ; sleep 1.5; echo done; exit 4) & echo $! > PIDFILE",
        false,
        false,
        false,
    );
    let c = s.spawn().unwrap();
    wait_until("the orphan to be reparented to the monitor", || {
        children_of(c.monitor_pid).len() == 2
    });
    wait_until("the orphan to be reaped", || {
        children_of(c.monitor_pid) == vec![c.container_pid]
    });
    assert!(!s.cfg.exit_file.exists(), "the container is still running");
    let st = s.wait_exit();
    assert_eq!(st.exit_code, 4);
    assert!(s.log().contains("stdout F done"));
    s.assert_cleaned_up();
}
