//! Exec, attach and port-forward: `ExecSync` directly, and the streaming server's callbacks
//! for the URLs returned by `Exec`, `Attach` and `PortForward`.
//!
//! A command runs in a container through `outrigger-cri enter <config>`: that process joins the
//! container's namespaces and cgroup, applies its user, capabilities and seccomp profile, and
//! forks the command; its exit code is the command's.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use outrigger_cri_proto as cri;
use outrigger_streaming::{AttachRequest, BoxFuture, ExecRequest, StreamIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{CriError, Result};
use crate::runtime::Runtime;

/// Most output ExecSync returns per stream (the kubelet's own cap is 16 MiB).
const EXEC_SYNC_MAX_OUTPUT: usize = 16 << 20;

/// `enter` in a process group of its own (so a timeout kills it and its command together);
/// tty execs instead become session leaders (see `set_controlling_tty`).
fn enter_command(rt: &Runtime, config: &std::path::Path, tty: bool) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(&rt.cfg.exe);
    cmd.arg("enter").arg(config).kill_on_drop(true);
    if !tty {
        cmd.process_group(0);
    }
    cmd
}

/// Kills the whole process group of an `enter` (it and the command it forked).
fn kill_group(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

pub async fn exec_sync(
    rt: &Runtime,
    container_id: &str,
    cmd: Vec<String>,
    timeout: Option<Duration>,
) -> Result<cri::ExecSyncResponse> {
    let c = rt.get_container(container_id)?;
    let cfg = rt.enter_config(&c, cmd, false)?;
    let path = rt.write_enter_config(&c, &cfg)?;
    let _rm = RemoveOnDrop(path.clone());
    let mut child = enter_command(rt, &path, false)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CriError::internal(format!("exec: spawning the enter process: {e}")))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let read_all = async {
        let mut o = Vec::new();
        let mut e = Vec::new();
        let ro = async {
            if let Some(s) = out.as_mut() {
                let _ = s
                    .take(EXEC_SYNC_MAX_OUTPUT as u64)
                    .read_to_end(&mut o)
                    .await;
            }
        };
        let re = async {
            if let Some(s) = err.as_mut() {
                let _ = s
                    .take(EXEC_SYNC_MAX_OUTPUT as u64)
                    .read_to_end(&mut e)
                    .await;
            }
        };
        tokio::join!(ro, re);
        (o, e)
    };
    let work = async {
        let (o, e) = read_all.await;
        (o, e, child.wait().await)
    };
    let outcome = match timeout {
        Some(t) => tokio::time::timeout(t, work).await.ok(),
        None => Some(work.await),
    };
    let Some((stdout, stderr, status)) = outcome else {
        // `enter` turns SIGTERM into SIGKILL for the command and reaps it: nothing is left
        // behind in the container. SIGKILL to the group if it does not end in time.
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            kill_group(&child);
            let _ = child.wait().await;
        }
        return Err(CriError::new(
            crate::error::Category::DeadlineExceeded,
            format!(
                "command {:?} timed out after {}s",
                cfg.process.args().clone().unwrap_or_default(),
                timeout.map(|t| t.as_secs()).unwrap_or(0)
            ),
        ));
    };
    let status = status.map_err(|e| CriError::internal(format!("exec: waiting: {e}")))?;
    Ok(cri::ExecSyncResponse {
        stdout,
        stderr,
        exit_code: exit_code(status),
    })
}

fn exit_code(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => 255,
    }
}

struct RemoveOnDrop(std::path::PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The streaming server's view of the runtime.
pub struct Streamer(pub Arc<Runtime>);

impl outrigger_streaming::Runtime for Streamer {
    fn exec(
        &self,
        req: ExecRequest,
        io: StreamIo,
    ) -> BoxFuture<'_, std::result::Result<i32, String>> {
        Box::pin(async move { self.exec_stream(req, io).await.map_err(|e| e.message) })
    }

    fn attach(
        &self,
        req: AttachRequest,
        io: StreamIo,
    ) -> BoxFuture<'_, std::result::Result<(), String>> {
        Box::pin(async move {
            crate::attach::attach(&self.0, req, io)
                .await
                .map_err(|e| e.message)
        })
    }

    fn port_forward(
        &self,
        pod_sandbox_id: String,
        port: u16,
        stream: tokio::io::DuplexStream,
    ) -> BoxFuture<'_, std::result::Result<(), String>> {
        Box::pin(async move {
            self.port_forward_stream(&pod_sandbox_id, port, stream)
                .await
                .map_err(|e| e.message)
        })
    }
}

impl Streamer {
    async fn exec_stream(&self, req: ExecRequest, io: StreamIo) -> Result<i32> {
        let rt = &self.0;
        let c = rt.get_container(&req.container_id)?;
        let cfg = rt.enter_config(&c, req.cmd.clone(), req.tty)?;
        let path = rt.write_enter_config(&c, &cfg)?;
        let _rm = RemoveOnDrop(path.clone());
        if req.tty {
            return self.exec_tty(&path, io).await;
        }
        let mut cmd = enter_command(rt, &path, false);
        cmd.stdin(if io.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(if io.stdout.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(if io.stderr.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd
            .spawn()
            .map_err(|e| CriError::internal(format!("exec: spawning the enter process: {e}")))?;
        let StreamIo {
            stdin,
            stdout,
            stderr,
            ..
        } = io;
        let cin = child.stdin.take();
        let cout = child.stdout.take();
        let cerr = child.stderr.take();
        // stdin runs on its own: the command may end before the client closes stdin
        if let (Some(mut from), Some(mut to)) = (stdin, cin) {
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from, &mut to).await;
                let _ = to.shutdown().await;
            });
        }
        let o = async {
            if let (Some(mut from), Some(mut to)) = (cout, stdout) {
                let _ = tokio::io::copy(&mut from, &mut to).await;
                let _ = to.flush().await;
            }
        };
        let e = async {
            if let (Some(mut from), Some(mut to)) = (cerr, stderr) {
                let _ = tokio::io::copy(&mut from, &mut to).await;
                let _ = to.flush().await;
            }
        };
        tokio::join!(o, e);
        let status = child.wait().await;
        kill_group(&child);
        let status = status.map_err(|e| CriError::internal(format!("exec: waiting: {e}")))?;
        Ok(exit_code(status))
    }

    async fn exec_tty(&self, path: &std::path::Path, io: StreamIo) -> Result<i32> {
        let pty = nix::pty::openpty(None, None)
            .map_err(|e| CriError::internal(format!("exec: openpty: {e}")))?;
        let master: OwnedFd = pty.master;
        let slave: OwnedFd = pty.slave;
        let mut cmd = enter_command(&self.0, path, true);
        let s_in = slave.try_clone()?;
        let s_out = slave.try_clone()?;
        cmd.stdin(Stdio::from(s_in))
            .stdout(Stdio::from(s_out))
            .stderr(Stdio::from(slave));
        set_controlling_tty(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| CriError::internal(format!("exec: spawning the enter process: {e}")))?;
        drop(cmd);
        let StreamIo {
            stdin,
            stdout,
            resize,
            ..
        } = io;
        if let Some(mut rx) = resize {
            let m = master.try_clone()?;
            tokio::spawn(async move {
                while let Some(sz) = rx.recv().await {
                    set_winsize(&m, sz.width, sz.height);
                }
            });
        }
        let reader = tokio::fs::File::from_std(std::fs::File::from(master.try_clone()?));
        let writer = tokio::fs::File::from_std(std::fs::File::from(master));
        if let Some(mut from) = stdin {
            let mut to = writer;
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from, &mut to).await;
            });
        }
        let out = async move {
            if let Some(mut to) = stdout {
                let mut from = reader;
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match from.read(&mut buf).await {
                        Ok(0) | Err(_) => break, // EIO once the last slave fd closes
                        Ok(n) => {
                            if to.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            let _ = to.flush().await;
                        }
                    }
                }
            }
        };
        let (status, _) = tokio::join!(
            child.wait(),
            tokio::time::timeout(Duration::from_secs(3600 * 24), out)
        );
        kill_group(&child);
        let status = status.map_err(|e| CriError::internal(format!("exec: waiting: {e}")))?;
        Ok(exit_code(status))
    }

    async fn port_forward_stream(
        &self,
        sandbox_id: &str,
        port: u16,
        mut stream: tokio::io::DuplexStream,
    ) -> Result<()> {
        let sb = self.0.get_sandbox(sandbox_id)?;
        let d = sb.snapshot();
        let mut tcp = match &d.netns {
            Some(ns) => {
                let ns = ns.clone();
                let std_stream = tokio::task::spawn_blocking(move || {
                    outrigger_network::connect_in_netns(&ns, port, Duration::from_secs(5))
                })
                .await
                .map_err(|e| CriError::internal(e.to_string()))?
                .map_err(|e| CriError::internal(format!("port-forward to port {port}: {e}")))?;
                std_stream.set_nonblocking(true)?;
                tokio::net::TcpStream::from_std(std_stream)?
            }
            None => tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| {
                    CriError::internal(format!("port-forward to 127.0.0.1:{port}: {e}"))
                })?,
        };
        let _ = tokio::io::copy_bidirectional(&mut stream, &mut tcp).await;
        Ok(())
    }
}

/// Makes the child a session leader with the pty (its stdin) as controlling terminal.
#[allow(unsafe_code)]
fn set_controlling_tty(cmd: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec and calls only setsid(2) and
    // ioctl(2), which are async-signal-safe; it touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// TIOCSWINSZ on the pty master.
#[allow(unsafe_code)]
pub fn set_winsize(fd: &OwnedFd, width: u16, height: u16) {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `fd` is an open pty master for the duration of the call and `ws` a valid winsize.
    unsafe {
        libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ as _, &ws);
    }
}
