//! WebSocket transports: the Kubernetes channel protocols (`channel.k8s.io`,
//! `v4.channel.k8s.io`, `v5.channel.k8s.io`: each binary message's first byte
//! is the channel) and the SPDY-over-WebSocket tunnel used by client-go's
//! port-forward (`SPDY/3.1+portforward.k8s.io`: binary messages carry raw
//! SPDY bytes).

use std::collections::HashMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Channel protocol v5 (adds the close signal).
pub const PROTOCOL_V5: &str = "v5.channel.k8s.io";
/// Channel protocol v4 (JSON status on the error channel).
pub const PROTOCOL_V4: &str = "v4.channel.k8s.io";
/// The original channel protocol (plain-text errors).
pub const PROTOCOL_V1: &str = "channel.k8s.io";
/// Port-forward over the channel protocol (kubelet's websocket port-forward).
pub const PROTOCOL_PORTFORWARD: &str = "portforward.k8s.io";
/// SPDY tunnelled through WebSocket (client-go `NewSPDYOverWebsocketDialer`).
pub const PROTOCOL_SPDY_TUNNEL_PORTFORWARD: &str = "SPDY/3.1+portforward.k8s.io";
/// The v5 close signal channel.
pub const CLOSE_CHANNEL: u8 = 255;

const PIPE_BUFFER: usize = 64 * 1024;
const MAX_CHUNK: usize = 32 * 1024;

fn normal_close() -> tokio_tungstenite::tungstenite::protocol::CloseFrame {
    tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "".into(),
    }
}

/// Prefix `data` with its channel byte.
pub fn encode_channel(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    v
}

/// Split a binary message into channel and payload; `None` for an empty message.
pub fn decode_channel(msg: &[u8]) -> Option<(u8, &[u8])> {
    let (&ch, rest) = msg.split_first()?;
    Some((ch, rest))
}

/// The v5 message closing `channel`.
pub fn close_message(channel: u8) -> Vec<u8> {
    vec![CLOSE_CHANNEL, channel]
}

/// Pick the first protocol the client offers that we support (client order,
/// like the kubelet). `Some("")` when the client offered none.
pub fn negotiate<'a>(offered: &[String], supported: &[&'a str]) -> Option<&'a str> {
    if offered.is_empty() {
        return Some("");
    }
    offered
        .iter()
        .find_map(|o| supported.iter().find(|s| **s == o.trim()).copied())
}

/// Direction of a channel as seen by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client → server (stdin, resize).
    In,
    /// Server → client (stdout, stderr, error).
    Out,
    /// Both (port-forward data).
    Both,
}

/// One channel to set up: number, direction and an optional first message.
#[derive(Debug, Clone)]
pub struct ChannelSpec {
    /// Channel number (first byte of each message).
    pub channel: u8,
    /// Direction.
    pub dir: Direction,
    /// Payload sent on this channel before anything else.
    pub initial: Option<Vec<u8>>,
}

/// A running channel multiplexer over one WebSocket.
pub struct WsMux {
    out: mpsc::Sender<Message>,
    pumps: Vec<JoinHandle<()>>,
    reader_done: watch::Receiver<bool>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl WsMux {
    /// Start multiplexing `ws`; returns the mux and one pipe per channel.
    pub fn start<S>(
        ws: WebSocketStream<S>,
        specs: &[ChannelSpec],
        v5: bool,
    ) -> (Self, HashMap<u8, DuplexStream>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sink, stream) = ws.split();
        let (out_tx, out_rx) = mpsc::channel::<Message>(64);
        let (done_tx, done_rx) = watch::channel(false);
        let writer = tokio::spawn(ws_write_loop(sink, out_rx));
        let mut pipes = HashMap::new();
        let mut inputs = HashMap::new();
        let mut pumps = Vec::new();
        for spec in specs {
            let (app, internal) = tokio::io::duplex(PIPE_BUFFER);
            let (irx, itx) = tokio::io::split(internal);
            if matches!(spec.dir, Direction::In | Direction::Both) {
                let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
                inputs.insert(spec.channel, tx);
                pumps.push(tokio::spawn(pump_in(rx, itx)));
            }
            if matches!(spec.dir, Direction::Out | Direction::Both) {
                pumps.push(tokio::spawn(pump_out(
                    irx,
                    out_tx.clone(),
                    spec.channel,
                    spec.initial.clone(),
                    v5,
                )));
            }
            pipes.insert(spec.channel, app);
        }
        let reader = tokio::spawn(ws_read_loop(stream, inputs, v5, done_tx));
        (
            Self {
                out: out_tx,
                pumps,
                reader_done: done_rx,
                reader,
                writer,
            },
            pipes,
        )
    }

    /// Resolves once the peer has gone (connection closed, GOAWAY or close frame).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut done = self.reader_done.clone();
        async move {
            let _ = done.wait_for(|d| *d).await;
        }
    }

    /// Wait (up to `grace`) for all output to be sent, close the WebSocket
    /// and wait for the client's close.
    pub async fn finish(mut self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        for h in self.pumps.drain(..) {
            let _ = tokio::time::timeout_at(deadline, h).await;
        }
        let _ = self.out.send(Message::Close(Some(normal_close()))).await;
        let mut done = self.reader_done.clone();
        let _ = tokio::time::timeout_at(deadline, done.wait_for(|d| *d)).await;
    }
}

impl Drop for WsMux {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
        for h in &self.pumps {
            h.abort();
        }
    }
}

async fn ws_write_loop<S>(
    mut sink: futures::stream::SplitSink<WebSocketStream<S>, Message>,
    mut rx: mpsc::Receiver<Message>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(m) = rx.recv().await {
        let closing = matches!(m, Message::Close(_));
        if sink.send(m).await.is_err() || closing {
            break;
        }
    }
    // Keep the sink alive (not closing the TCP write side) until the reader
    // has seen the client's close; dropping it here is fine: the upgraded
    // connection stays open while the read half lives.
}

async fn ws_read_loop<S>(
    mut stream: futures::stream::SplitStream<WebSocketStream<S>>,
    mut inputs: HashMap<u8, mpsc::UnboundedSender<Vec<u8>>>,
    v5: bool,
    done: watch::Sender<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(msg) = stream.next().await {
        let data = match msg {
            Ok(Message::Binary(b)) => b,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let Some((ch, payload)) = decode_channel(&data) else {
            continue;
        };
        if v5 && ch == CLOSE_CHANNEL {
            if let Some(&target) = payload.first() {
                inputs.remove(&target);
            }
            continue;
        }
        if let Some(tx) = inputs.get(&ch) {
            if !payload.is_empty() && tx.send(payload.to_vec()).is_err() {
                inputs.remove(&ch);
            }
        }
    }
    inputs.clear();
    let _ = done.send(true);
}

async fn pump_in<W: AsyncWrite + Unpin>(mut rx: mpsc::UnboundedReceiver<Vec<u8>>, mut w: W) {
    while let Some(chunk) = rx.recv().await {
        if w.write_all(&chunk).await.is_err() {
            while rx.recv().await.is_some() {}
            return;
        }
    }
    let _ = w.shutdown().await;
}

async fn pump_out<R: AsyncRead + Unpin>(
    mut r: R,
    out: mpsc::Sender<Message>,
    channel: u8,
    initial: Option<Vec<u8>>,
    v5: bool,
) {
    if let Some(first) = initial {
        let m = Message::Binary(encode_channel(channel, &first).into());
        if out.send(m).await.is_err() {
            return;
        }
    }
    let mut buf = vec![0u8; MAX_CHUNK];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => {
                if v5 {
                    let _ = out
                        .send(Message::Binary(close_message(channel).into()))
                        .await;
                }
                return;
            }
            Ok(n) => {
                let m = Message::Binary(encode_channel(channel, &buf[..n]).into());
                if out.send(m).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Turn a WebSocket carrying a byte stream in binary messages (the SPDY
/// tunnel) into a plain duplex pipe. Returns the pipe and the pump task.
pub fn tunnel<S>(ws: WebSocketStream<S>) -> (DuplexStream, JoinHandle<()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (app, internal) = tokio::io::duplex(PIPE_BUFFER);
    let task = tokio::spawn(async move {
        let (mut sink, mut stream) = ws.split();
        let (mut irx, mut itx) = tokio::io::split(internal);
        let up = async move {
            while let Some(msg) = stream.next().await {
                match msg {
                    Ok(Message::Binary(b)) => {
                        if itx.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            let _ = itx.shutdown().await;
        };
        let down = async move {
            let mut buf = vec![0u8; MAX_CHUNK];
            loop {
                match irx.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if sink
                            .send(Message::Binary(buf[..n].to_vec().into()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
            let _ = sink.send(Message::Close(Some(normal_close()))).await;
        };
        tokio::join!(up, down);
    });
    (app, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_framing() {
        assert_eq!(encode_channel(1, b"hi"), vec![1, b'h', b'i']);
        assert_eq!(decode_channel(&[2, b'x']), Some((2, &b"x"[..])));
        assert_eq!(decode_channel(&[3]), Some((3, &b""[..])));
        assert_eq!(decode_channel(&[]), None);
        assert_eq!(close_message(0), vec![255, 0]);
    }

    #[test]
    fn negotiation_follows_client_order() {
        let sup = [PROTOCOL_V5, PROTOCOL_V4, PROTOCOL_V1];
        let offered = vec!["v4.channel.k8s.io".to_string(), "v5.channel.k8s.io".into()];
        assert_eq!(negotiate(&offered, &sup), Some(PROTOCOL_V4));
        assert_eq!(negotiate(&["x".to_string()], &sup), None);
        assert_eq!(negotiate(&[], &sup), Some(""));
    }

    #[tokio::test]
    async fn mux_routes_channels_and_sends_v5_close() {
        use tokio_tungstenite::tungstenite::protocol::Role;
        let (a, b) = tokio::io::duplex(1 << 16);
        let server = WebSocketStream::from_raw_socket(a, Role::Server, None).await;
        let mut client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
        let specs = [
            ChannelSpec {
                channel: 0,
                dir: Direction::In,
                initial: None,
            },
            ChannelSpec {
                channel: 1,
                dir: Direction::Out,
                initial: Some(vec![]),
            },
        ];
        let (mux, mut pipes) = WsMux::start(server, &specs, true);
        let mut stdin = pipes.remove(&0).unwrap();
        let mut stdout = pipes.remove(&1).unwrap();
        client
            .send(Message::Binary(vec![0, b'a', b'b'].into()))
            .await
            .unwrap();
        client
            .send(Message::Binary(close_message(0).into()))
            .await
            .unwrap();
        let mut got = Vec::new();
        stdin.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ab");
        stdout.write_all(b"out").await.unwrap();
        drop(stdout);
        drop(stdin);
        let mut msgs = Vec::new();
        while msgs.len() < 3 {
            match client.next().await.unwrap().unwrap() {
                Message::Binary(b) => msgs.push(b.to_vec()),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(msgs, vec![vec![1], vec![1, b'o', b'u', b't'], vec![255, 1]]);
        let fin = tokio::spawn(mux.finish(Duration::from_secs(2)));
        assert!(matches!(
            client.next().await.unwrap().unwrap(),
            Message::Close(_)
        ));
        drop(client);
        fin.await.unwrap();
    }
}
