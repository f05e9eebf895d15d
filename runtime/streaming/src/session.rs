//! Transport-independent session logic: running exec/attach with the
//! client's pipes, writing the final status, decoding resize events, and
//! SPDY port-forward stream pairing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use crate::spdy::conn::Connection;
use crate::spdy::frame::header;
use crate::status::Status;
use crate::{AttachRequest, ExecRequest, Runtime, StreamIo, TerminalSize};

/// How long the client gets to open its streams.
pub(crate) const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long we wait for output to drain and the client to hang up at the end.
pub(crate) const FINISH_GRACE: Duration = Duration::from_secs(10);

/// The client's pipes for one exec/attach, whatever the transport.
#[derive(Default)]
pub(crate) struct ExecPipes {
    pub stdin: Option<DuplexStream>,
    pub stdout: Option<DuplexStream>,
    pub stderr: Option<DuplexStream>,
    pub error: Option<DuplexStream>,
    pub resize: Option<DuplexStream>,
    /// Write the JSON status (v4+) rather than a plain-text error.
    pub json_status: bool,
}

impl ExecPipes {
    fn into_io(self) -> (StreamIo, Option<DuplexStream>, bool) {
        let resize = self.resize.map(spawn_resize_decoder);
        let io = StreamIo {
            stdin: self
                .stdin
                .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
            stdout: self
                .stdout
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>),
            stderr: self
                .stderr
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>),
            resize,
        };
        (io, self.error, self.json_status)
    }
}

/// Which streams a request expects (tty drops stderr, as the kubelet does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl Wanted {
    pub fn exec(r: &ExecRequest) -> Self {
        Self {
            stdin: r.stdin,
            stdout: r.stdout,
            stderr: r.stderr && !r.tty,
            tty: r.tty,
        }
    }
    pub fn attach(r: &AttachRequest) -> Self {
        Self {
            stdin: r.stdin,
            stdout: r.stdout,
            stderr: r.stderr && !r.tty,
            tty: r.tty,
        }
    }
}

async fn write_status(error: Option<DuplexStream>, json: bool, status: &Status) {
    let Some(mut e) = error else { return };
    let bytes = if json {
        status.to_json()
    } else if status.is_success() {
        Vec::new()
    } else {
        status.message().as_bytes().to_vec()
    };
    if !bytes.is_empty() {
        let _ = e.write_all(&bytes).await;
    }
    let _ = e.shutdown().await;
}

/// Run an exec and report its outcome on the error stream.
pub(crate) async fn run_exec(rt: Arc<dyn Runtime>, req: ExecRequest, pipes: ExecPipes) {
    let (io, error, json) = pipes.into_io();
    let res = rt.exec(req, io).await;
    write_status(error, json, &Status::from_exec(&res)).await;
}

/// Run an attach and report its outcome on the error stream.
pub(crate) async fn run_attach(rt: Arc<dyn Runtime>, req: AttachRequest, pipes: ExecPipes) {
    let (io, error, json) = pipes.into_io();
    let status = match rt.attach(req, io).await {
        Ok(()) => Status::success(),
        Err(e) => Status::internal_error(&format!("error attaching to container: {e}")),
    };
    write_status(error, json, &status).await;
}

/// Decode `{"Width":..,"Height":..}` objects (concatenated or one per line).
pub(crate) fn spawn_resize_decoder(mut pipe: DuplexStream) -> mpsc::Receiver<TerminalSize> {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = match pipe.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            let (sizes, used) = decode_sizes(&buf);
            buf.drain(..used);
            for s in sizes {
                if tx.send(s).await.is_err() {
                    return;
                }
            }
            if buf.len() > 64 * 1024 {
                // Garbage that never parses: give up on resizing.
                return;
            }
        }
    });
    rx
}

#[derive(serde::Deserialize)]
struct WireSize {
    #[serde(rename = "Width", alias = "width", default)]
    width: u16,
    #[serde(rename = "Height", alias = "height", default)]
    height: u16,
}

/// Parse the complete JSON objects at the start of `buf`; returns them and
/// how many bytes they used. A malformed object is skipped up to its end.
pub(crate) fn decode_sizes(buf: &[u8]) -> (Vec<TerminalSize>, usize) {
    let mut out = Vec::new();
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<WireSize>();
    let mut used = 0;
    loop {
        match it.next() {
            Some(Ok(s)) => {
                used = it.byte_offset();
                out.push(TerminalSize {
                    width: s.width,
                    height: s.height,
                });
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(_)) => {
                // skip to after the next newline, if any, else wait for more
                if let Some(p) = buf[used..].iter().position(|b| *b == b'\n') {
                    let (more, u) = decode_sizes(&buf[used + p + 1..]);
                    out.extend(more);
                    used = used + p + 1 + u;
                }
                break;
            }
            None => {
                used = it.byte_offset();
                break;
            }
        }
    }
    (out, used)
}

/// Wait for the SPDY streams an exec/attach needs (error, and stdin, stdout,
/// stderr, resize as requested) within the creation timeout.
pub(crate) async fn collect_spdy_streams(
    conn: &mut Connection,
    wanted: Wanted,
    protocol: &str,
) -> Result<ExecPipes, String> {
    let resize_supported = matches!(protocol, "v4.channel.k8s.io" | "v3.channel.k8s.io");
    let mut expected =
        1 + usize::from(wanted.stdin) + usize::from(wanted.stdout) + usize::from(wanted.stderr);
    if wanted.tty && resize_supported {
        expected += 1;
    }
    let mut pipes = ExecPipes {
        json_status: protocol == "v4.channel.k8s.io",
        ..Default::default()
    };
    let mut received = 0;
    let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
    while received < expected {
        let s = match tokio::time::timeout_at(deadline, conn.next_stream()).await {
            Err(_) => return Err("timed out waiting for client to create streams".into()),
            Ok(None) => return Err("connection closed before all streams were created".into()),
            Ok(Some(s)) => s,
        };
        let kind = header(&s.headers, "streamtype").unwrap_or("").to_string();
        let slot = match kind.as_str() {
            "error" => &mut pipes.error,
            "stdin" => &mut pipes.stdin,
            "stdout" => &mut pipes.stdout,
            "stderr" => &mut pipes.stderr,
            "resize" => &mut pipes.resize,
            other => {
                tracing::warn!(stream_type = other, "unexpected stream type; ignoring");
                continue;
            }
        };
        *slot = Some(s.io);
        received += 1;
    }
    if protocol == "channel.k8s.io" || protocol.is_empty() {
        // v1 closes stdin straight away, like the kubelet.
        pipes.stdin = None;
    }
    Ok(pipes)
}

struct Pair {
    data: Option<(u16, DuplexStream)>,
    error: Option<DuplexStream>,
    deadline: tokio::time::Instant,
}

/// Drop pairs whose partner stream did not arrive in time, telling the
/// client on the error stream when there is one (as the kubelet does).
async fn expire_pairs(pairs: &mut HashMap<String, Pair>, now: tokio::time::Instant) {
    let expired: Vec<String> = pairs
        .iter()
        .filter(|(_, p)| p.deadline <= now)
        .map(|(k, _)| k.clone())
        .collect();
    for id in expired {
        if let Some(p) = pairs.remove(&id) {
            if let Some(mut e) = p.error {
                let msg =
                    format!("timed out waiting for the data stream of port-forward request {id}");
                tracing::warn!("{msg}");
                let _ = e.write_all(msg.as_bytes()).await;
                let _ = e.shutdown().await;
            }
        }
    }
}

/// Serve SPDY port-forward streams until the client hangs up: each
/// (error, data) pair sharing a `requestid` becomes one `port_forward` call.
pub(crate) async fn serve_spdy_port_forward(
    rt: Arc<dyn Runtime>,
    sandbox: String,
    allowed: Vec<u16>,
    mut conn: Connection,
) {
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut tasks = Vec::new();
    loop {
        let next_deadline = pairs.values().map(|p| p.deadline).min();
        let s = match next_deadline {
            Some(d) => match tokio::time::timeout_at(d, conn.next_stream()).await {
                Ok(s) => s,
                Err(_) => {
                    expire_pairs(&mut pairs, tokio::time::Instant::now()).await;
                    continue;
                }
            },
            None => conn.next_stream().await,
        };
        let Some(s) = s else { break };
        let kind = header(&s.headers, "streamtype").unwrap_or("").to_string();
        let port_str = header(&s.headers, "port").unwrap_or("").to_string();
        let request_id = match header(&s.headers, "requestid") {
            Some(r) if !r.is_empty() => r.to_string(),
            _ => match kind.as_str() {
                "error" => s.id.to_string(),
                _ => s.id.saturating_sub(2).to_string(),
            },
        };
        let port = match port_str.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                tracing::warn!(port = %port_str, "port-forward stream with a bad port header");
                conn.reset(s.id).await;
                continue;
            }
        };
        let entry = pairs.entry(request_id.clone()).or_insert(Pair {
            data: None,
            error: None,
            deadline: tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT,
        });
        match kind.as_str() {
            "error" => entry.error = Some(s.io),
            "data" => entry.data = Some((port, s.io)),
            other => {
                tracing::warn!(stream_type = other, "invalid port-forward stream type");
                conn.reset(s.id).await;
                continue;
            }
        }
        if entry.data.is_some() && entry.error.is_some() {
            let Some(Pair {
                data: Some((port, data)),
                error: Some(error),
                ..
            }) = pairs.remove(&request_id)
            else {
                continue;
            };
            tasks.retain(|t: &tokio::task::JoinHandle<()>| !t.is_finished());
            tasks.push(tokio::spawn(forward_one(
                rt.clone(),
                sandbox.clone(),
                allowed.clone(),
                port,
                data,
                error,
            )));
        }
    }
    for t in tasks {
        let _ = tokio::time::timeout(FINISH_GRACE, t).await;
    }
    conn.finish(FINISH_GRACE).await;
}

/// One forwarded connection; errors go to the error stream as text.
pub(crate) async fn forward_one(
    rt: Arc<dyn Runtime>,
    sandbox: String,
    allowed: Vec<u16>,
    port: u16,
    data: DuplexStream,
    mut error: DuplexStream,
) {
    let res = if !allowed.is_empty() && !allowed.contains(&port) {
        drop(data);
        Err(format!(
            "port {port} was not requested for this port-forward session (allowed: {allowed:?})"
        ))
    } else {
        rt.port_forward(sandbox.clone(), port, data).await
    };
    if let Err(e) = res {
        let msg = format!("error forwarding port {port} to pod {sandbox}: {e}");
        tracing::warn!("{msg}");
        let _ = error.write_all(msg.as_bytes()).await;
    }
    let _ = error.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_objects_concatenated_and_split() {
        let (s, used) = decode_sizes(br#"{"Width":80,"Height":24}{"Width":100,"Height":30}"#);
        assert_eq!(
            s,
            vec![
                TerminalSize {
                    width: 80,
                    height: 24
                },
                TerminalSize {
                    width: 100,
                    height: 30
                }
            ]
        );
        assert_eq!(used, 49);
        let buf = b"{\"Width\":1,\"Height\":2}\n{\"Wid";
        let (s, used) = decode_sizes(buf);
        assert_eq!(s.len(), 1);
        assert_eq!(used, 22);
        assert_eq!(&buf[used..], b"\n{\"Wid");
    }

    #[test]
    fn wanted_drops_stderr_with_tty() {
        let r = ExecRequest {
            container_id: "c".into(),
            cmd: vec![],
            tty: true,
            stdin: true,
            stdout: true,
            stderr: true,
        };
        let w = Wanted::exec(&r);
        assert!(!w.stderr && w.stdout && w.stdin && w.tty);
    }

    #[tokio::test]
    async fn v1_status_is_plain_text_and_success_is_empty() {
        let (a, mut b) = tokio::io::duplex(1024);
        write_status(Some(a), false, &Status::from_exec(&Ok(2))).await;
        let mut s = String::new();
        b.read_to_string(&mut s).await.unwrap();
        assert_eq!(
            s,
            "command terminated with non-zero exit code: exit status 2"
        );
        let (a, mut b) = tokio::io::duplex(1024);
        write_status(Some(a), false, &Status::success()).await;
        let mut s = String::new();
        b.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "");
    }

    #[tokio::test]
    async fn incomplete_port_forward_pair_expires_with_message() {
        let (e, mut client) = tokio::io::duplex(1024);
        let now = tokio::time::Instant::now();
        let mut pairs = HashMap::new();
        pairs.insert(
            "7".to_string(),
            Pair {
                data: None,
                error: Some(e),
                deadline: now,
            },
        );
        let (_keep, d2) = tokio::io::duplex(16);
        pairs.insert(
            "8".to_string(),
            Pair {
                data: Some((80, d2)),
                error: None,
                deadline: now + Duration::from_secs(30),
            },
        );
        expire_pairs(&mut pairs, now).await;
        assert!(!pairs.contains_key("7"));
        assert!(pairs.contains_key("8"));
        let mut s = String::new();
        client.read_to_string(&mut s).await.unwrap();
        assert!(s.contains("request 7"), "{s}");
    }

    #[test]
    fn malformed_resize_line_is_skipped() {
        let (s, used) = decode_sizes(b"{bad}\n{\"Width\":3,\"Height\":4}");
        assert_eq!(
            s,
            vec![TerminalSize {
                width: 3,
                height: 4
            }]
        );
        assert_eq!(used, 28);
    }

    #[tokio::test]
    async fn resize_decoder_delivers_events() {
        let (mut a, b) = tokio::io::duplex(1024);
        let mut rx = spawn_resize_decoder(b);
        a.write_all(b"{\"Width\":5,").await.unwrap();
        a.write_all(b"\"Height\":6}\n").await.unwrap();
        assert_eq!(
            rx.recv().await,
            Some(TerminalSize {
                width: 5,
                height: 6
            })
        );
        drop(a);
        assert_eq!(rx.recv().await, None);
    }
}
