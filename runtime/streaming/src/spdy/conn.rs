//! Server side of a SPDY/3.1 session over any byte stream.
//!
//! The peer (client-go's spdystream) opens every stream; we answer each
//! SYN_STREAM with an empty SYN_REPLY at once (as the kubelet does for
//! streams it accepts) and hand the stream to the handler as a
//! [`tokio::io::DuplexStream`]: reading gives the peer's data (EOF on its FIN
//! or RST), writing sends data frames, and dropping or shutting down sends FIN.
//! Like spdystream we do no flow control (WINDOW_UPDATE is ignored).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::frame::{
    FLAG_FIN, Frame, HeaderCompressor, HeaderDecompressor, Headers, encode_frame, read_frame,
};

/// Largest data frame payload we send.
const MAX_DATA_CHUNK: usize = 32 * 1024;
/// Buffer of each stream's in-memory pipe.
const PIPE_BUFFER: usize = 64 * 1024;
/// RST_STREAM status REFUSED_STREAM.
const REFUSED_STREAM: u32 = 3;

/// A stream the peer opened.
pub struct IncomingStream {
    /// Stream id.
    pub id: u32,
    /// Headers of the SYN_STREAM (lower-case names).
    pub headers: Headers,
    /// Data pipe: read the peer's data, write ours; drop to half-close.
    pub io: DuplexStream,
}

impl std::fmt::Debug for IncomingStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingStream")
            .field("id", &self.id)
            .field("headers", &self.headers)
            .finish()
    }
}

enum Out {
    Frame(Frame),
    Flush(oneshot::Sender<()>),
}

/// A running server-side SPDY session.
pub struct Connection {
    out: mpsc::Sender<Out>,
    incoming: mpsc::Receiver<IncomingStream>,
    pumps: Arc<Mutex<Vec<JoinHandle<()>>>>,
    reader_done: watch::Receiver<bool>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Connection {
    /// Start serving a SPDY session on `io` (the upgraded HTTP connection).
    pub fn start<T>(io: T) -> Self
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(io);
        let (out_tx, out_rx) = mpsc::channel::<Out>(64);
        let (in_tx, in_rx) = mpsc::channel::<IncomingStream>(16);
        let (done_tx, done_rx) = watch::channel(false);
        let pumps = Arc::new(Mutex::new(Vec::new()));
        let writer = tokio::spawn(write_loop(wr, out_rx));
        let reader = tokio::spawn(read_loop(rd, out_tx.clone(), in_tx, pumps.clone(), done_tx));
        Self {
            out: out_tx,
            incoming: in_rx,
            pumps,
            reader_done: done_rx,
            reader,
            writer,
        }
    }

    /// The next stream the peer opens; `None` once the session ended.
    pub async fn next_stream(&mut self) -> Option<IncomingStream> {
        self.incoming.recv().await
    }

    /// Resolves once the peer has gone (connection closed, GOAWAY or close frame).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut done = self.reader_done.clone();
        async move {
            let _ = done.wait_for(|d| *d).await;
        }
    }

    /// Reset a stream (RST_STREAM with status CANCEL).
    pub async fn reset(&self, stream_id: u32) {
        let _ = self
            .out
            .send(Out::Frame(Frame::RstStream {
                stream_id,
                status: 5,
            }))
            .await;
    }

    /// Finish the session: wait (up to `grace`) for every stream's outgoing
    /// data and FIN to be written, then for the peer to close the connection.
    pub async fn finish(mut self, grace: Duration) {
        self.incoming.close();
        let deadline = tokio::time::Instant::now() + grace;
        let handles: Vec<JoinHandle<()>> = match self.pumps.lock() {
            Ok(mut v) => v.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for h in handles {
            let _ = tokio::time::timeout_at(deadline, h).await;
        }
        let (ack_tx, ack_rx) = oneshot::channel();
        if self.out.send(Out::Flush(ack_tx)).await.is_ok() {
            let _ = tokio::time::timeout_at(deadline, ack_rx).await;
        }
        let mut done = self.reader_done.clone();
        let _ = tokio::time::timeout_at(deadline, done.wait_for(|d| *d)).await;
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
        if let Ok(v) = self.pumps.lock() {
            for h in v.iter() {
                h.abort();
            }
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Out>) {
    let mut comp = HeaderCompressor::new();
    while let Some(item) = rx.recv().await {
        match item {
            Out::Frame(f) => {
                let bytes = match encode_frame(&f, &mut comp) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot encode SPDY frame");
                        continue;
                    }
                };
                if let Err(e) = wr.write_all(&bytes).await {
                    tracing::debug!(error = %e, "SPDY connection write failed");
                    return;
                }
                if rx.is_empty() && wr.flush().await.is_err() {
                    return;
                }
            }
            Out::Flush(ack) => {
                let _ = wr.flush().await;
                let _ = ack.send(());
            }
        }
    }
    let _ = wr.flush().await;
}

async fn read_loop<R: AsyncRead + Unpin + Send + 'static>(
    mut rd: R,
    out: mpsc::Sender<Out>,
    incoming: mpsc::Sender<IncomingStream>,
    pumps: Arc<Mutex<Vec<JoinHandle<()>>>>,
    done: watch::Sender<bool>,
) {
    let mut dec = HeaderDecompressor::new();
    let mut streams: HashMap<u32, mpsc::UnboundedSender<Vec<u8>>> = HashMap::new();
    loop {
        let frame = match read_frame(&mut rd, &mut dec).await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "SPDY connection read ended");
                break;
            }
        };
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => {
                if streams.contains_key(&stream_id) {
                    let _ = out
                        .send(Out::Frame(Frame::RstStream {
                            stream_id,
                            status: 9, // STREAM_IN_USE
                        }))
                        .await;
                    continue;
                }
                let (app, internal) = tokio::io::duplex(PIPE_BUFFER);
                let (irx, itx) = tokio::io::split(internal);
                let (data_tx, data_rx) = mpsc::unbounded_channel();
                // The reply goes out before any data the handler writes.
                let reply = Frame::SynReply {
                    stream_id,
                    flags: 0,
                    headers: Vec::new(),
                };
                if out.send(Out::Frame(reply)).await.is_err() {
                    break;
                }
                let h_in = tokio::spawn(pump_in(data_rx, itx));
                let h_out = tokio::spawn(pump_out(irx, out.clone(), stream_id));
                if let Ok(mut v) = pumps.lock() {
                    v.retain(|h| !h.is_finished());
                    v.push(h_in);
                    v.push(h_out);
                }
                if flags & FLAG_FIN == 0 {
                    streams.insert(stream_id, data_tx);
                }
                let stream = IncomingStream {
                    id: stream_id,
                    headers,
                    io: app,
                };
                if incoming.send(stream).await.is_err() {
                    streams.remove(&stream_id);
                    let _ = out
                        .send(Out::Frame(Frame::RstStream {
                            stream_id,
                            status: REFUSED_STREAM,
                        }))
                        .await;
                }
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                if let Some(tx) = streams.get(&stream_id) {
                    if !data.is_empty() && tx.send(data).is_err() {
                        // The handler stopped reading; drop further data.
                    }
                    if flags & FLAG_FIN != 0 {
                        streams.remove(&stream_id);
                    }
                }
            }
            Frame::RstStream { stream_id, .. } => {
                streams.remove(&stream_id);
            }
            Frame::Headers {
                stream_id, flags, ..
            } => {
                if flags & FLAG_FIN != 0 {
                    streams.remove(&stream_id);
                }
            }
            Frame::Ping { id } => {
                if out.send(Out::Frame(Frame::Ping { id })).await.is_err() {
                    break;
                }
            }
            Frame::GoAway { .. } => break,
            Frame::SynReply { .. }
            | Frame::Settings { .. }
            | Frame::WindowUpdate { .. }
            | Frame::Unknown { .. } => {}
        }
    }
    // EOF to every open stream.
    streams.clear();
    let _ = done.send(true);
}

/// Peer data → the handler's end of the pipe; EOF when the peer half-closes.
async fn pump_in<W: AsyncWrite + Unpin>(mut rx: mpsc::UnboundedReceiver<Vec<u8>>, mut w: W) {
    while let Some(chunk) = rx.recv().await {
        if w.write_all(&chunk).await.is_err() {
            // Handler dropped its end: discard the rest.
            while rx.recv().await.is_some() {}
            return;
        }
    }
    let _ = w.shutdown().await;
}

/// Handler writes → data frames; FIN when the handler's end is closed.
async fn pump_out<R: AsyncRead + Unpin>(mut r: R, out: mpsc::Sender<Out>, stream_id: u32) {
    let mut buf = vec![0u8; MAX_DATA_CHUNK];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = out
                    .send(Out::Frame(Frame::Data {
                        stream_id,
                        flags: FLAG_FIN,
                        data: Vec::new(),
                    }))
                    .await;
                return;
            }
            Ok(n) => {
                let f = Frame::Data {
                    stream_id,
                    flags: 0,
                    data: buf[..n].to_vec(),
                };
                if out.send(Out::Frame(f)).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spdy::frame::header;

    async fn send<W: AsyncWrite + Unpin>(w: &mut W, c: &mut HeaderCompressor, f: Frame) {
        w.write_all(&encode_frame(&f, c).unwrap()).await.unwrap();
    }

    #[tokio::test]
    async fn stream_open_reply_data_fin_and_ping() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let mut conn = Connection::start(server);
        let (mut crd, mut cwr) = tokio::io::split(client);
        let mut c = HeaderCompressor::new();
        let mut d = HeaderDecompressor::new();
        send(
            &mut cwr,
            &mut c,
            Frame::SynStream {
                stream_id: 1,
                associated_id: 0,
                priority: 0,
                flags: 0,
                headers: vec![("streamtype".into(), "stdin".into())],
            },
        )
        .await;
        let mut s = conn.next_stream().await.unwrap();
        assert_eq!(s.id, 1);
        assert_eq!(header(&s.headers, "streamtype"), Some("stdin"));
        let reply = read_frame(&mut crd, &mut d).await.unwrap().unwrap();
        assert!(matches!(reply, Frame::SynReply { stream_id: 1, .. }));

        send(
            &mut cwr,
            &mut c,
            Frame::Data {
                stream_id: 1,
                flags: FLAG_FIN,
                data: b"abc".to_vec(),
            },
        )
        .await;
        let mut got = Vec::new();
        s.io.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"abc");

        s.io.write_all(b"xyz").await.unwrap();
        drop(s);
        let f = read_frame(&mut crd, &mut d).await.unwrap().unwrap();
        assert_eq!(
            f,
            Frame::Data {
                stream_id: 1,
                flags: 0,
                data: b"xyz".to_vec()
            }
        );
        let f = read_frame(&mut crd, &mut d).await.unwrap().unwrap();
        assert_eq!(
            f,
            Frame::Data {
                stream_id: 1,
                flags: FLAG_FIN,
                data: vec![]
            }
        );

        send(&mut cwr, &mut c, Frame::Ping { id: 7 }).await;
        let f = read_frame(&mut crd, &mut d).await.unwrap().unwrap();
        assert_eq!(f, Frame::Ping { id: 7 });

        send(
            &mut cwr,
            &mut c,
            Frame::GoAway {
                last_good_stream_id: 0,
                status: 0,
            },
        )
        .await;
        assert!(conn.next_stream().await.is_none());
        conn.finish(Duration::from_secs(2)).await;
    }
}
