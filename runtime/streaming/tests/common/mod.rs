//! Shared fixtures: a fake Runtime and a TCP echo server.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;

use outrigger_streaming::{
    AttachRequest, BoxFuture, ExecRequest, Runtime, ServerConfig, StreamIo, StreamServer,
    TerminalSize,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Fake runtime. Exec commands:
/// * `echo-stdin <code>`: copy stdin to stdout, write `err:<code>` to stderr, exit <code>
/// * `echo-line <code>`: copy stdin up to and including the first newline to
///   stdout (for protocols without a stdin half-close), exit <code>
/// * `print <text> <code>`: write text to stdout, exit <code>
/// * `fail <msg>`: the runtime cannot run the command
/// * `hang`: never finishes (to test cancellation)
#[derive(Default)]
pub struct FakeRuntime {
    pub resizes: Mutex<Vec<TerminalSize>>,
    pub forwarded: Mutex<Vec<(String, u16)>>,
    /// Set when a `hang` exec's future was dropped (cancelled).
    pub hang_cancelled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

struct SetOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Runtime for FakeRuntime {
    fn exec(&self, req: ExecRequest, mut io: StreamIo) -> BoxFuture<'_, Result<i32, String>> {
        Box::pin(async move {
            if let Some(mut rx) = io.resize.take() {
                // Record the first resize event if one arrives quickly.
                if let Ok(Some(sz)) =
                    tokio::time::timeout(std::time::Duration::from_millis(500), rx.recv()).await
                {
                    self.resizes.lock().unwrap().push(sz);
                }
            }
            let arg = |i: usize| req.cmd.get(i).cloned().unwrap_or_default();
            match arg(0).as_str() {
                "echo-stdin" => {
                    let code: i32 = arg(1).parse().unwrap_or(0);
                    let mut data = Vec::new();
                    if let Some(mut i) = io.stdin.take() {
                        i.read_to_end(&mut data).await.map_err(|e| e.to_string())?;
                    }
                    if let Some(mut o) = io.stdout.take() {
                        o.write_all(&data).await.map_err(|e| e.to_string())?;
                        o.shutdown().await.map_err(|e| e.to_string())?;
                    }
                    if let Some(mut e) = io.stderr.take() {
                        e.write_all(format!("err:{code}").as_bytes())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(code)
                }
                "echo-line" => {
                    let code: i32 = arg(1).parse().unwrap_or(0);
                    let mut line = Vec::new();
                    if let Some(mut i) = io.stdin.take() {
                        let mut b = [0u8; 1];
                        while i.read(&mut b).await.map_err(|e| e.to_string())? == 1 {
                            line.push(b[0]);
                            if b[0] == b'\n' {
                                break;
                            }
                        }
                    }
                    if let Some(mut o) = io.stdout.take() {
                        o.write_all(&line).await.map_err(|e| e.to_string())?;
                    }
                    Ok(code)
                }
                "print" => {
                    if let Some(mut o) = io.stdout.take() {
                        o.write_all(arg(1).as_bytes())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(arg(2).parse().unwrap_or(0))
                }
                "fail" => Err(arg(1)),
                "hang" => {
                    let _guard = SetOnDrop(self.hang_cancelled.clone());
                    std::future::pending::<()>().await;
                    Ok(0)
                }
                other => Err(format!("unknown fake command {other:?}")),
            }
        })
    }

    fn attach(&self, _req: AttachRequest, mut io: StreamIo) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let mut data = Vec::new();
            if let Some(mut i) = io.stdin.take() {
                i.read_to_end(&mut data).await.map_err(|e| e.to_string())?;
            }
            if let Some(mut o) = io.stdout.take() {
                o.write_all(b"attached:").await.map_err(|e| e.to_string())?;
                o.write_all(&data).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }

    fn port_forward(
        &self,
        pod_sandbox_id: String,
        port: u16,
        stream: tokio::io::DuplexStream,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.forwarded
                .lock()
                .unwrap()
                .push((pod_sandbox_id.clone(), port));
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| format!("connect to port {port}: {e}"))?;
            let (mut tr, mut tw) = tcp.into_split();
            let (mut sr, mut sw) = tokio::io::split(stream);
            let up = async {
                let r = tokio::io::copy(&mut sr, &mut tw).await;
                let _ = tw.shutdown().await;
                r
            };
            let down = async {
                let r = tokio::io::copy(&mut tr, &mut sw).await;
                let _ = sw.shutdown().await;
                r
            };
            let (a, b) = tokio::join!(up, down);
            a.map_err(|e| e.to_string())?;
            b.map_err(|e| e.to_string())?;
            Ok(())
        })
    }
}

pub async fn start() -> (StreamServer, Arc<FakeRuntime>) {
    let rt = Arc::new(FakeRuntime::default());
    let srv = StreamServer::start(ServerConfig::default(), rt.clone())
        .await
        .unwrap();
    (srv, rt)
}

/// A TCP server that echoes everything back after the client half-closes.
pub async fn echo_server() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if c.read_to_end(&mut buf).await.is_ok() {
                    let _ = c.write_all(&buf).await;
                    let _ = c.shutdown().await;
                }
            });
        }
    });
    addr
}

pub fn exec_req(cmd: &[&str], stdin: bool, tty: bool) -> ExecRequest {
    ExecRequest {
        container_id: "ctr1".into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        tty,
        stdin,
        stdout: true,
        stderr: !tty,
    }
}
