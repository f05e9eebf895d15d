//! The monitor process: one poll loop over a signalfd (SIGCHLD, SIGUSR1), the container's
//! output fds, its stdin, the attach listener and the attach clients.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::frame::{ClientFrame, Decoder, ServerFrame};
use crate::logfmt::{self, Stream};
use crate::{Error, ExitStatus, MonitorConfig, sys, write_atomic};

/// Output buffered for one slow client before it is disconnected.
const MAX_CLIENT_BACKLOG: usize = 4 * 1024 * 1024;
/// Stdin buffered for a container that does not read it; more is dropped.
const MAX_STDIN_BACKLOG: usize = 4 * 1024 * 1024;
/// Output kept while the init runs, for its error message.
const MAX_EARLY: usize = 64 * 1024;
/// Unknown reaped children remembered while the container pid is not known yet.
const MAX_REAPED: usize = 4096;

fn sys_err(what: &'static str) -> impl FnOnce(Errno) -> Error {
    move |e| Error::Sys {
        what,
        source: e.into(),
    }
}

/// The one-line report to the daemon, on the pipe that was our stdout.
struct Reporter(Option<File>);

impl Reporter {
    fn send(&mut self, v: serde_json::Value) {
        if let Some(mut f) = self.0.take() {
            let _ = writeln!(f, "{v}");
        }
    }
    fn error(&mut self, msg: &str) {
        self.send(serde_json::json!({ "error": msg }));
    }
}

pub(crate) fn main(config: &Path) -> i32 {
    match sys::fork() {
        Err(e) => {
            let msg = serde_json::json!({ "error": format!("monitor fork: {e}") });
            println!("{msg}");
            return 1;
        }
        Ok(sys::Forked::Parent) => std::process::exit(0),
        Ok(sys::Forked::Child) => {}
    }
    let _ = nix::unistd::setsid();
    // Keep the report pipe (our stdout) on a private close-on-exec fd; stdio becomes /dev/null.
    let report = match nix::unistd::dup(io::stdout()) {
        Ok(fd) => fd,
        Err(_) => return 1,
    };
    let _ = fcntl(&report, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    sys::close_other_fds(report.as_raw_fd());
    let mut reporter = Reporter(Some(File::from(report)));
    match run(config, &mut reporter) {
        Ok(code) => code,
        Err(e) => {
            reporter.error(&e.to_string());
            1
        }
    }
}

/// The CRI log file, reopened on SIGUSR1.
struct LogSink {
    path: Option<PathBuf>,
    file: Option<File>,
    max_line: usize,
    buf: Vec<u8>,
}

fn open_log(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| Error::OpenLog {
            path: path.to_path_buf(),
            source,
        })
}

impl LogSink {
    fn write(&mut self, stream: Stream, data: &[u8]) {
        let Some(f) = self.file.as_mut() else {
            return;
        };
        self.buf.clear();
        let (s, n) = logfmt::now();
        let ts = logfmt::format_timestamp(s, n);
        logfmt::format_chunk(&mut self.buf, &ts, stream, data, self.max_line);
        // A full disk must not stop the container: the record is lost, output still flows.
        let _ = f.write_all(&self.buf);
    }

    fn reopen(&mut self) {
        if let Some(p) = &self.path {
            if let Ok(f) = open_log(p) {
                self.file = Some(f);
            }
        }
    }
}

struct Client {
    stream: UnixStream,
    dec: Decoder,
    out: Vec<u8>,
    sent_stdin: bool,
    dead: bool,
}

impl Client {
    fn flush(&mut self) {
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
    }
}

/// The container's stdin: a pipe, or the pty master in tty mode.
struct StdinSink {
    fd: Option<OwnedFd>,
    tty: bool,
    pending: Vec<u8>,
    close_when_flushed: bool,
}

impl StdinSink {
    fn push(&mut self, data: &[u8]) {
        if self.fd.is_none() || self.close_when_flushed {
            return;
        }
        let room = MAX_STDIN_BACKLOG.saturating_sub(self.pending.len());
        self.pending
            .extend_from_slice(&data[..data.len().min(room)]);
        self.flush();
    }

    fn close(&mut self) {
        if self.fd.is_none() || self.close_when_flushed {
            return;
        }
        if self.tty {
            // A pty cannot be half-closed: send the EOF character instead.
            self.pending.push(0x04);
        }
        self.close_when_flushed = true;
        self.flush();
    }

    fn flush(&mut self) {
        let Some(fd) = self.fd.as_ref() else {
            return;
        };
        while !self.pending.is_empty() {
            match nix::unistd::write(fd, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => {}
                Err(_) => {
                    // The reader is gone (EPIPE) or the pty hung up.
                    self.pending.clear();
                    self.fd = None;
                    return;
                }
            }
        }
        if self.close_when_flushed {
            self.fd = None;
        }
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<(), Error> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(sys_err("fcntl F_GETFL"))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(sys_err("fcntl F_SETFL O_NONBLOCK"))?;
    Ok(())
}

fn exit_of(status: WaitStatus) -> Option<(i32, Option<i32>)> {
    match status {
        WaitStatus::Exited(_, code) => Some((code, None)),
        WaitStatus::Signaled(_, sig, _) => {
            let n = sig as i32;
            Some((128 + n, Some(n)))
        }
        _ => None,
    }
}

enum Phase {
    /// The init is running.
    Init(i32),
    /// The container process runs.
    Running(i32),
    /// The container ended.
    Exited(i32, Option<i32>),
}

struct Monitor {
    cfg: MonitorConfig,
    log: LogSink,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    stdin: StdinSink,
    /// A dup of the pty master, for TIOCSWINSZ.
    pty: Option<OwnedFd>,
    listener: UnixListener,
    clients: Vec<Client>,
    stdin_client_detached: bool,
    phase: Phase,
    reaped: HashMap<i32, WaitStatus>,
    early: Vec<u8>,
}

fn read_pid_file(path: &Path) -> Result<i32, Error> {
    let s = std::fs::read_to_string(path).map_err(|source| Error::ReadPidFile {
        path: path.to_path_buf(),
        source,
    })?;
    match s.trim().parse::<i32>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(Error::BadPidFile {
            path: path.to_path_buf(),
            content: s,
        }),
    }
}

fn run(path: &Path, reporter: &mut Reporter) -> Result<i32, Error> {
    let cfg = MonitorConfig::load(path)?;
    // Hold no directory of the daemon's busy; the init starts in / too.
    let _ = std::env::set_current_dir("/");
    let Some((prog, args)) = cfg.command.split_first() else {
        return Err(Error::EmptyCommand { id: cfg.id.clone() });
    };
    let my_pid = std::process::id() as i32;
    write_atomic(&cfg.monitor_pid_file, format!("{my_pid}\n").as_bytes())?;
    nix::sys::prctl::set_child_subreaper(true).map_err(sys_err("prctl(PR_SET_CHILD_SUBREAPER)"))?;

    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.add(Signal::SIGUSR1);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(sys_err("blocking SIGCHLD and SIGUSR1"))?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(sys_err("signalfd"))?;

    let log_file = match &cfg.log_path {
        Some(p) => Some(open_log(p)?),
        None => None,
    };

    match std::fs::remove_file(&cfg.attach_socket) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::BindSocket {
                path: cfg.attach_socket.clone(),
                source,
            });
        }
    }
    let bind_err = |source| Error::BindSocket {
        path: cfg.attach_socket.clone(),
        source,
    };
    let listener = UnixListener::bind(&cfg.attach_socket).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;

    let mut cmd = Command::new(prog);
    cmd.args(args);
    let (out, err, stdin_fd, pty);
    if cfg.tty {
        let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
            .map_err(sys_err("posix_openpt"))?;
        nix::pty::grantpt(&master).map_err(sys_err("grantpt"))?;
        nix::pty::unlockpt(&master).map_err(sys_err("unlockpt"))?;
        let name = nix::pty::ptsname_r(&master).map_err(sys_err("ptsname_r"))?;
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&name)
            .map_err(|source| Error::Sys {
                what: "opening the pty slave",
                source,
            })?;
        let dup = |f: &File| {
            f.try_clone().map_err(|source| Error::Sys {
                what: "duplicating the pty slave",
                source,
            })
        };
        cmd.stdin(Stdio::from(dup(&slave)?))
            .stdout(Stdio::from(dup(&slave)?))
            .stderr(Stdio::from(slave))
            .env(crate::TTY_ENV, "1");
        let master: OwnedFd = master.into();
        set_nonblocking(master.as_fd())?;
        let dupm = || nix::unistd::dup(&master).map_err(sys_err("duplicating the pty master"));
        stdin_fd = if cfg.stdin { Some(dupm()?) } else { None };
        pty = Some(dupm()?);
        out = Some(master);
        err = None;
    } else {
        cmd.stdin(if cfg.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        (out, err, stdin_fd, pty) = (None, None, None, None);
    }
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        program: prog.clone(),
        source,
    })?;
    // Our copies of the slave are gone with `cmd`: the master sees EIO once the container's are.
    drop(cmd);
    let init_pid = child.id() as i32;
    let (out, err, stdin_fd) = if cfg.tty {
        (out, err, stdin_fd)
    } else {
        (
            child.stdout.take().map(OwnedFd::from),
            child.stderr.take().map(OwnedFd::from),
            child.stdin.take().map(OwnedFd::from),
        )
    };
    for fd in [&out, &err, &stdin_fd].into_iter().flatten() {
        set_nonblocking(fd.as_fd())?;
    }
    drop(child); // not waited through std: the loop reaps every child with waitpid

    let mut m = Monitor {
        log: LogSink {
            path: cfg.log_path.clone(),
            file: log_file,
            max_line: cfg.log_max_line,
            buf: Vec::new(),
        },
        out,
        err,
        stdin: StdinSink {
            fd: stdin_fd,
            tty: cfg.tty,
            pending: Vec::new(),
            close_when_flushed: false,
        },
        pty,
        listener,
        clients: Vec::new(),
        stdin_client_detached: false,
        phase: Phase::Init(init_pid),
        reaped: HashMap::new(),
        early: Vec::new(),
        cfg,
    };
    let r = m.event_loop(&sigfd, reporter, my_pid);
    if let Err(e) = &r {
        m.abandon(e);
    }
    let _ = std::fs::remove_file(&m.cfg.attach_socket);
    r
}

impl Monitor {
    fn event_loop(
        &mut self,
        sigfd: &SignalFd,
        reporter: &mut Reporter,
        my_pid: i32,
    ) -> Result<i32, Error> {
        loop {
            let revents = self.poll_once(sigfd)?;
            let mut i = 0;
            let mut next = || {
                let r = revents.get(i).copied().unwrap_or(PollFlags::empty());
                i += 1;
                r
            };
            let sig_ev = next();
            let lis_ev = next();
            let out_ev = if self.out.is_some() {
                next()
            } else {
                PollFlags::empty()
            };
            let err_ev = if self.err.is_some() {
                next()
            } else {
                PollFlags::empty()
            };
            let in_ev = if self.stdin_wants_poll() {
                next()
            } else {
                PollFlags::empty()
            };
            let client_evs: Vec<PollFlags> = (0..self.clients.len()).map(|_| next()).collect();

            let readable = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
            if out_ev.intersects(readable) {
                self.read_output(Stream::Stdout, false);
            }
            if err_ev.intersects(readable) {
                self.read_output(Stream::Stderr, false);
            }
            if !in_ev.is_empty() {
                self.stdin.flush();
            }
            for (c, ev) in self.clients.iter_mut().zip(client_evs) {
                if ev.contains(PollFlags::POLLOUT) {
                    c.flush();
                }
            }
            self.read_clients();
            if !lis_ev.is_empty() {
                self.accept_clients();
            }
            self.drop_dead_clients();
            if !sig_ev.is_empty() {
                if let Some(code) = self.handle_signals(sigfd, reporter, my_pid)? {
                    return Ok(code);
                }
            }
            if let Phase::Exited(code, signal) = self.phase {
                self.finish(code, signal)?;
                return Ok(0);
            }
        }
    }

    fn stdin_wants_poll(&self) -> bool {
        self.stdin.fd.is_some() && !self.stdin.pending.is_empty()
    }

    fn poll_once(&self, sigfd: &SignalFd) -> Result<Vec<PollFlags>, Error> {
        let mut fds = vec![
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
        ];
        for fd in [&self.out, &self.err].into_iter().flatten() {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        if self.stdin_wants_poll() {
            if let Some(fd) = &self.stdin.fd {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
            }
        }
        for c in &self.clients {
            let mut ev = PollFlags::POLLIN;
            if !c.out.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(c.stream.as_fd(), ev));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => return Ok(vec![PollFlags::empty(); fds.len()]),
            Err(e) => return Err(sys_err("poll")(e)),
        }
        Ok(fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect())
    }

    /// Reads one chunk (or, when `drain`, everything available) from an output fd.
    fn read_output(&mut self, stream: Stream, drain: bool) {
        let mut buf = [0u8; 32 * 1024];
        loop {
            let fd = match stream {
                Stream::Stdout => self.out.as_ref(),
                Stream::Stderr => self.err.as_ref(),
            };
            let Some(fd) = fd else { return };
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) | Err(Errno::EIO) => {
                    // EOF (EIO: every pty slave fd is closed).
                    match stream {
                        Stream::Stdout => self.out = None,
                        Stream::Stderr => self.err = None,
                    }
                    return;
                }
                Ok(n) => self.output(stream, &buf[..n]),
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => continue,
                Err(_) => {
                    match stream {
                        Stream::Stdout => self.out = None,
                        Stream::Stderr => self.err = None,
                    }
                    return;
                }
            }
            if !drain {
                return;
            }
        }
    }

    fn output(&mut self, stream: Stream, data: &[u8]) {
        self.log.write(stream, data);
        if matches!(self.phase, Phase::Init(_)) && (stream == Stream::Stderr || self.cfg.tty) {
            let room = MAX_EARLY.saturating_sub(self.early.len());
            self.early.extend_from_slice(&data[..data.len().min(room)]);
        }
        if self.clients.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(data.len() + 5);
        match stream {
            Stream::Stdout => ServerFrame::Stdout(data.to_vec()),
            Stream::Stderr => ServerFrame::Stderr(data.to_vec()),
        }
        .encode(&mut frame);
        for c in &mut self.clients {
            if c.out.len() + frame.len() > MAX_CLIENT_BACKLOG {
                c.dead = true;
                continue;
            }
            c.out.extend_from_slice(&frame);
            c.flush();
        }
    }

    fn accept_clients(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.clients.push(Client {
                        stream,
                        dec: Decoder::default(),
                        out: Vec::new(),
                        sent_stdin: false,
                        dead: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    fn read_clients(&mut self) {
        let mut buf = [0u8; 32 * 1024];
        let mut frames = Vec::new();
        for c in &mut self.clients {
            if c.dead {
                continue;
            }
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        c.dead = true;
                        break;
                    }
                    Ok(n) => c.dec.push(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        c.dead = true;
                        break;
                    }
                }
            }
            loop {
                match c.dec.next_raw() {
                    Ok(Some((kind, data))) => match ClientFrame::from_raw(kind, data) {
                        Ok(f) => {
                            if matches!(f, ClientFrame::Stdin(_)) {
                                c.sent_stdin = true;
                            }
                            frames.push(f);
                        }
                        Err(_) => {
                            c.dead = true;
                            break;
                        }
                    },
                    Ok(None) => break,
                    Err(_) => {
                        c.dead = true;
                        break;
                    }
                }
            }
        }
        for f in frames {
            match f {
                ClientFrame::Stdin(d) => self.stdin.push(&d),
                ClientFrame::CloseStdin => self.stdin.close(),
                ClientFrame::Resize { cols, rows } => {
                    if let Some(p) = &self.pty {
                        let _ = sys::set_winsize(p.as_fd(), cols, rows);
                    }
                }
            }
        }
    }

    fn drop_dead_clients(&mut self) {
        let mut close_stdin = false;
        self.clients.retain(|c| {
            if c.dead && c.sent_stdin {
                close_stdin = true;
            }
            !c.dead
        });
        if close_stdin && self.cfg.stdin_once && !self.stdin_client_detached {
            self.stdin_client_detached = true;
            self.stdin.close();
        }
    }

    fn drain(&mut self) {
        self.read_output(Stream::Stdout, true);
        self.read_output(Stream::Stderr, true);
    }

    /// Handles pending signals; `Some(code)` when the monitor must stop now.
    fn handle_signals(
        &mut self,
        sigfd: &SignalFd,
        reporter: &mut Reporter,
        my_pid: i32,
    ) -> Result<Option<i32>, Error> {
        let mut child = false;
        loop {
            match sigfd.read_signal() {
                Ok(Some(info)) => {
                    if info.ssi_signo == Signal::SIGUSR1 as u32 {
                        self.log.reopen();
                    } else if info.ssi_signo == Signal::SIGCHLD as u32 {
                        child = true;
                    }
                }
                Ok(None) => break,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(sys_err("reading the signalfd")(e)),
            }
        }
        if child {
            return self.reap(reporter, my_pid);
        }
        Ok(None)
    }

    fn reap(&mut self, reporter: &mut Reporter, my_pid: i32) -> Result<Option<i32>, Error> {
        loop {
            let st = match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(None),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(sys_err("waitpid")(e)),
                Ok(st) => st,
            };
            let Some(pid) = st.pid().map(|p| p.as_raw()) else {
                continue;
            };
            let Some((code, signal)) = exit_of(st) else {
                continue;
            };
            match self.phase {
                Phase::Init(init) if pid == init => {
                    if let Some(code) = self.init_exited(code, signal, reporter, my_pid)? {
                        return Ok(Some(code));
                    }
                }
                Phase::Init(_) if self.reaped.len() < MAX_REAPED => {
                    self.reaped.insert(pid, st);
                }
                Phase::Running(c) if pid == c => self.phase = Phase::Exited(code, signal),
                _ => {} // an orphan of the container: ignored
            }
        }
    }

    /// The init ended: report to the daemon. `Some(1)` when the container failed to start.
    fn init_exited(
        &mut self,
        code: i32,
        signal: Option<i32>,
        reporter: &mut Reporter,
        my_pid: i32,
    ) -> Result<Option<i32>, Error> {
        self.drain();
        let started = if code == 0 && signal.is_none() {
            self.container_pid()
        } else {
            let msg = String::from_utf8_lossy(&self.early).trim().to_string();
            Err(Error::InitFailed(if msg.is_empty() {
                match signal {
                    Some(s) => format!("init killed by signal {s}"),
                    None => format!("init exited with status {code}"),
                }
            } else {
                msg
            }))
        };
        self.early = Vec::new();
        match started {
            Ok(pid) => {
                reporter.send(serde_json::json!({ "container_pid": pid, "monitor_pid": my_pid }));
                if !matches!(self.phase, Phase::Exited(..)) {
                    self.phase = Phase::Running(pid);
                }
                self.reaped = HashMap::new();
                Ok(None)
            }
            Err(e) => {
                let msg = match &e {
                    Error::InitFailed(m) => m.clone(),
                    other => other.to_string(),
                };
                reporter.error(&msg);
                let status = ExitStatus {
                    exit_code: if code == 0 { 1 } else { code },
                    signal,
                    finished_at_ns: logfmt::now_ns(),
                    error: Some(msg),
                };
                let _ = self.write_exit(&status);
                Ok(Some(1))
            }
        }
    }

    /// Reads the container pid and checks it is (or was) our child.
    fn container_pid(&mut self) -> Result<i32, Error> {
        let pid = read_pid_file(&self.cfg.pid_file)?;
        if let Some(st) = self.reaped.remove(&pid) {
            if let Some((c, s)) = exit_of(st) {
                self.phase = Phase::Exited(c, s);
            }
            return Ok(pid);
        }
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => Ok(pid),
            Ok(st) => {
                if let Some((c, s)) = exit_of(st) {
                    self.phase = Phase::Exited(c, s);
                }
                Ok(pid)
            }
            Err(_) => Err(Error::NotChild(pid)),
        }
    }

    fn write_exit(&self, status: &ExitStatus) -> Result<(), Error> {
        let data = serde_json::to_vec(status).map_err(|source| Error::ParseExitFile {
            path: self.cfg.exit_file.clone(),
            source,
        })?;
        write_atomic(&self.cfg.exit_file, &data)
    }

    /// The monitor cannot go on while the container runs: kill the container rather than leave
    /// it unwatched, and record why in the exit file.
    fn abandon(&mut self, e: &Error) {
        let Phase::Running(pid) = self.phase else {
            return;
        };
        let pid = Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let (code, signal) = match waitpid(pid, None) {
            Ok(st) => exit_of(st).unwrap_or((137, Some(9))),
            Err(_) => (137, Some(9)),
        };
        let _ = self.write_exit(&ExitStatus {
            exit_code: code,
            signal,
            finished_at_ns: logfmt::now_ns(),
            error: Some(format!("monitor failed, container killed: {e}")),
        });
    }

    /// The container ended: drain its output, record the exit, tell the clients.
    fn finish(&mut self, code: i32, signal: Option<i32>) -> Result<(), Error> {
        self.drain();
        let status = ExitStatus {
            exit_code: code,
            signal,
            finished_at_ns: logfmt::now_ns(),
            error: None,
        };
        self.write_exit(&status)?;
        let mut frame = Vec::new();
        ServerFrame::Exit(code).encode(&mut frame);
        for c in &mut self.clients {
            c.out.extend_from_slice(&frame);
            if c.stream.set_nonblocking(false).is_ok()
                && c.stream
                    .set_write_timeout(Some(Duration::from_secs(1)))
                    .is_ok()
            {
                let _ = c.stream.write_all(&c.out);
            }
        }
        self.clients.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_from_wait_status() {
        let p = Pid::from_raw(5);
        assert_eq!(exit_of(WaitStatus::Exited(p, 3)), Some((3, None)));
        assert_eq!(
            exit_of(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            Some((137, Some(9)))
        );
        assert_eq!(exit_of(WaitStatus::StillAlive), None);
    }

    #[test]
    fn pid_file_parsing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pid");
        std::fs::write(&p, "1234\n").unwrap();
        assert_eq!(read_pid_file(&p).unwrap(), 1234);
        std::fs::write(&p, "-3").unwrap();
        assert!(matches!(read_pid_file(&p), Err(Error::BadPidFile { .. })));
        std::fs::write(&p, "abc").unwrap();
        let e = read_pid_file(&p).unwrap_err();
        assert!(e.to_string().contains("\"abc\""), "{e}");
        assert!(matches!(
            read_pid_file(&d.path().join("none")),
            Err(Error::ReadPidFile { .. })
        ));
    }

    #[test]
    fn stdin_sink_writes_and_closes_a_pipe() {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let mut s = StdinSink {
            fd: Some(w),
            tty: false,
            pending: Vec::new(),
            close_when_flushed: false,
        };
        s.push(b"abc");
        s.close();
        assert!(s.fd.is_none());
        s.push(b"ignored");
        let mut got = String::new();
        File::from(r).read_to_string(&mut got).unwrap();
        assert_eq!(got, "abc");
    }

    #[test]
    fn log_sink_formats_and_reopens() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("0.log");
        let mut l = LogSink {
            path: Some(p.clone()),
            file: Some(open_log(&p).unwrap()),
            max_line: 0,
            buf: Vec::new(),
        };
        l.write(Stream::Stderr, b"one\n");
        std::fs::rename(&p, d.path().join("0.log.1")).unwrap();
        l.reopen();
        l.write(Stream::Stdout, b"two\n");
        let old = std::fs::read_to_string(d.path().join("0.log.1")).unwrap();
        let new = std::fs::read_to_string(&p).unwrap();
        assert!(old.ends_with(" stderr F one\n"), "{old}");
        assert!(new.ends_with(" stdout F two\n"), "{new}");
        assert_eq!(new.lines().count(), 1);
        let e = open_log(&d.path().join("nodir/0.log")).unwrap_err();
        assert!(e.to_string().contains("nodir"), "{e}");
    }
}
