//! WebSocket transports: the Kubernetes channel protocols (`channel.k8s.io`,
//! `v4.channel.k8s.io`, `v5.channel.k8s.io`: each binary message's first byte
//! is the channel) and the SPDY-over-WebSocket tunnel used by client-go's
//! port-forward (`SPDY/3.1+portforward.k8s.io`: binary messages carry raw
//! SPDY bytes).
//!
//! The base64 variants (`base64.channel.k8s.io`, `v4.base64.channel.k8s.io`)
//! carry the same channels in TEXT messages: the first character is
//! `'0' + channel`, the rest is the payload in standard base64 with padding
//! (see [`encode_base64_channel`] and [`decode_base64_channel`]).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
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
/// Channel protocol v4 in base64 text messages (JSON status on the error channel).
pub const PROTOCOL_V4_BASE64: &str = "v4.base64.channel.k8s.io";
/// The original channel protocol in base64 text messages (plain-text errors).
pub const PROTOCOL_V1_BASE64: &str = "base64.channel.k8s.io";
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

/// The highest channel a base64 message can name: `'0' + channel` must stay
/// ASCII so the text message is valid UTF-8.
pub const MAX_BASE64_CHANNEL: u8 = 0x7f - b'0';

/// How channel messages are framed on the WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// Binary messages, first byte the channel (`channel.k8s.io`, `v4.`, `v5.`).
    #[default]
    Binary,
    /// Text messages, first character `'0' + channel`, payload in base64
    /// (`base64.channel.k8s.io`, `v4.base64.channel.k8s.io`).
    Base64,
}

impl Codec {
    /// The codec a negotiated WebSocket subprotocol uses.
    pub fn for_protocol(protocol: &str) -> Self {
        if protocol == PROTOCOL_V4_BASE64 || protocol == PROTOCOL_V1_BASE64 {
            Codec::Base64
        } else {
            Codec::Binary
        }
    }

    /// The message carrying `data` on `channel`, or `None` if this codec
    /// cannot name the channel.
    pub fn encode(self, channel: u8, data: &[u8]) -> Option<Message> {
        match self {
            Codec::Binary => Some(Message::Binary(encode_channel(channel, data).into())),
            Codec::Base64 => encode_base64_channel(channel, data).map(|t| Message::Text(t.into())),
        }
    }
}

/// A client message the base64 codec could not decode (the message is dropped,
/// as the kubelet does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base64FrameError {
    /// The message had no channel character.
    #[error("empty base64 channel message (no channel character)")]
    Empty,
    /// The first character is below `'0'`, so it names no channel.
    #[error(
        "base64 channel message starts with {0:?}, which is not a channel character ('0' + channel)"
    )]
    BadChannel(char),
    /// The payload is not valid standard base64 with padding.
    #[error("base64 channel message for channel {channel} has an invalid payload: {reason}")]
    BadPayload {
        /// The channel named by the first character.
        channel: u8,
        /// Why decoding failed.
        reason: String,
    },
}

/// Standard alphabet, padding required; like Go's `base64.StdEncoding`,
/// non-zero trailing bits are tolerated.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Encode `data` on `channel` as a base64 text message: `'0' + channel`
/// followed by standard base64 with padding. `None` when `channel` exceeds
/// [`MAX_BASE64_CHANNEL`].
pub fn encode_base64_channel(channel: u8, data: &[u8]) -> Option<String> {
    if channel > MAX_BASE64_CHANNEL {
        return None;
    }
    let mut s = String::with_capacity(1 + data.len().div_ceil(3) * 4);
    s.push(char::from(b'0' + channel));
    BASE64.encode_string(data, &mut s);
    Some(s)
}

/// Decode a base64 channel message (text or binary) into channel and payload.
/// Line breaks inside the payload are ignored, as Go's decoder does.
pub fn decode_base64_channel(msg: &[u8]) -> Result<(u8, Vec<u8>), Base64FrameError> {
    let (&first, rest) = msg.split_first().ok_or(Base64FrameError::Empty)?;
    let channel = first
        .checked_sub(b'0')
        .ok_or(Base64FrameError::BadChannel(char::from(first)))?;
    let decoded = if rest.contains(&b'\n') || rest.contains(&b'\r') {
        let cleaned: Vec<u8> = rest
            .iter()
            .copied()
            .filter(|b| *b != b'\n' && *b != b'\r')
            .collect();
        BASE64.decode(cleaned)
    } else {
        BASE64.decode(rest)
    };
    decoded
        .map(|payload| (channel, payload))
        .map_err(|e| Base64FrameError::BadPayload {
            channel,
            reason: e.to_string(),
        })
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
    /// Server → client pumps (waited for by `finish`).
    pumps: Vec<JoinHandle<()>>,
    /// Client → server pumps: pointless once the session is over.
    in_pumps: Vec<JoinHandle<()>>,
    reader_done: watch::Receiver<bool>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl WsMux {
    /// Start multiplexing `ws` with binary framing; returns the mux and one
    /// pipe per channel.
    pub fn start<S>(
        ws: WebSocketStream<S>,
        specs: &[ChannelSpec],
        v5: bool,
    ) -> (Self, HashMap<u8, DuplexStream>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::start_with_codec(ws, specs, v5, Codec::Binary)
    }

    /// Start multiplexing `ws` with the given framing; returns the mux and
    /// one pipe per channel. Client messages the codec cannot decode (empty,
    /// bad channel character, invalid base64) are dropped; v5 close signals
    /// are only understood with [`Codec::Binary`].
    pub fn start_with_codec<S>(
        ws: WebSocketStream<S>,
        specs: &[ChannelSpec],
        v5: bool,
        codec: Codec,
    ) -> (Self, HashMap<u8, DuplexStream>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let v5 = v5 && codec == Codec::Binary;
        let (sink, stream) = ws.split();
        let (out_tx, out_rx) = mpsc::channel::<Message>(64);
        let (done_tx, done_rx) = watch::channel(false);
        let writer = tokio::spawn(ws_write_loop(sink, out_rx));
        let mut pipes = HashMap::new();
        let mut inputs = HashMap::new();
        let mut pumps = Vec::new();
        let mut in_pumps = Vec::new();
        for spec in specs {
            let (app, internal) = tokio::io::duplex(PIPE_BUFFER);
            let (irx, itx) = tokio::io::split(internal);
            if matches!(spec.dir, Direction::In | Direction::Both) {
                let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
                inputs.insert(spec.channel, tx);
                in_pumps.push(tokio::spawn(pump_in(rx, itx)));
            }
            if matches!(spec.dir, Direction::Out | Direction::Both) {
                pumps.push(tokio::spawn(pump_out(
                    irx,
                    out_tx.clone(),
                    spec.channel,
                    spec.initial.clone(),
                    v5,
                    codec,
                )));
            }
            pipes.insert(spec.channel, app);
        }
        let reader = tokio::spawn(ws_read_loop(stream, inputs, v5, codec, done_tx));
        (
            Self {
                out: out_tx,
                pumps,
                in_pumps,
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
    /// and wait (up to `grace` again) for the client's close. Input still
    /// arriving (e.g. stdin the client never closed) is not waited for.
    pub async fn finish(mut self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        for h in self.pumps.drain(..) {
            let _ = tokio::time::timeout_at(deadline, h).await;
        }
        let _ = self.out.send(Message::Close(Some(normal_close()))).await;
        let mut done = self.reader_done.clone();
        let _ = tokio::time::timeout(grace, done.wait_for(|d| *d)).await;
    }
}

impl Drop for WsMux {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
        for h in self.pumps.iter().chain(&self.in_pumps) {
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
    codec: Codec,
    done: watch::Sender<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(msg) = stream.next().await {
        let data = match (msg, codec) {
            (Ok(Message::Binary(b)), _) => b,
            // Go's websocket server reads text and binary messages alike.
            (Ok(Message::Text(t)), Codec::Base64) => bytes::Bytes::from(t),
            (Ok(Message::Close(_)) | Err(_), _) => break,
            (Ok(_), _) => continue,
        };
        let decoded;
        let (ch, payload) = match codec {
            Codec::Binary => match decode_channel(&data) {
                Some(d) => d,
                None => continue,
            },
            Codec::Base64 => match decode_base64_channel(&data) {
                Ok((ch, p)) => {
                    decoded = p;
                    (ch, &decoded[..])
                }
                Err(e) => {
                    tracing::debug!(error = %e, "dropping undecodable websocket message");
                    continue;
                }
            },
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
    codec: Codec,
) {
    if let Some(first) = initial {
        let Some(m) = codec.encode(channel, &first) else {
            tracing::warn!(channel, "channel cannot be named in base64 framing");
            return;
        };
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
                let Some(m) = codec.encode(channel, &buf[..n]) else {
                    tracing::warn!(channel, "channel cannot be named in base64 framing");
                    return;
                };
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
    fn base64_framing_round_trip() {
        // The example from the Kubernetes docs: "\n" on stdout is "1Cg==".
        assert_eq!(encode_base64_channel(1, b"\n").unwrap(), "1Cg==");
        assert_eq!(encode_base64_channel(3, b"").unwrap(), "3");
        assert_eq!(encode_base64_channel(0, b"foo\n").unwrap(), "0Zm9vCg==");
        for (ch, data) in [
            (0u8, &b"hello"[..]),
            (1, b""),
            (2, b"\x00\xff binary \x80"),
            (9, b"ab"),
            (10, b"abc"),
            (MAX_BASE64_CHANNEL, b"last"),
        ] {
            let enc = encode_base64_channel(ch, data).unwrap();
            assert!(enc.is_ascii(), "{enc:?}");
            assert_eq!(
                decode_base64_channel(enc.as_bytes()).unwrap(),
                (ch, data.to_vec())
            );
        }
        let big: Vec<u8> = (0..=255u8).cycle().take(MAX_CHUNK).collect();
        let enc = encode_base64_channel(4, &big).unwrap();
        assert_eq!(decode_base64_channel(enc.as_bytes()).unwrap(), (4, big));
        assert_eq!(encode_base64_channel(MAX_BASE64_CHANNEL + 1, b"x"), None);
        assert_eq!(encode_base64_channel(255, b"x"), None);
        // Line breaks are ignored, as by Go's decoder.
        assert_eq!(
            decode_base64_channel(b"0Zm9v\r\nCg==").unwrap(),
            (0, b"foo\n".to_vec())
        );
    }

    #[test]
    fn base64_framing_bad_input() {
        assert_eq!(decode_base64_channel(b""), Err(Base64FrameError::Empty));
        assert_eq!(
            decode_base64_channel(b"/Zm9v"),
            Err(Base64FrameError::BadChannel('/'))
        );
        assert_eq!(
            decode_base64_channel(b" Zm9v"),
            Err(Base64FrameError::BadChannel(' '))
        );
        for bad in [&b"0Zm9"[..], b"0Zm9vCg", b"0!!!!", b"1Cg=", b"2Zm9v="] {
            match decode_base64_channel(bad) {
                Err(Base64FrameError::BadPayload { channel, reason }) => {
                    assert_eq!(channel, bad[0] - b'0');
                    assert!(!reason.is_empty());
                }
                other => panic!("{bad:?} decoded as {other:?}"),
            }
        }
        // A letter names a high channel (the mux drops unknown channels).
        assert_eq!(decode_base64_channel(b"A").unwrap(), (17, Vec::new()));
        let msg = decode_base64_channel(b"0%%").unwrap_err().to_string();
        assert!(msg.contains("channel 0"), "{msg}");
    }

    #[test]
    fn codec_per_protocol() {
        assert_eq!(Codec::for_protocol(PROTOCOL_V4_BASE64), Codec::Base64);
        assert_eq!(Codec::for_protocol(PROTOCOL_V1_BASE64), Codec::Base64);
        for p in [
            PROTOCOL_V5,
            PROTOCOL_V4,
            PROTOCOL_V1,
            PROTOCOL_PORTFORWARD,
            "",
        ] {
            assert_eq!(Codec::for_protocol(p), Codec::Binary, "{p}");
        }
        assert_eq!(
            Codec::Base64.encode(1, b"hi"),
            Some(Message::Text("1aGk=".into()))
        );
        assert_eq!(
            Codec::Binary.encode(1, b"hi"),
            Some(Message::Binary(vec![1, b'h', b'i'].into()))
        );
        assert_eq!(Codec::Base64.encode(200, b"hi"), None);
    }

    #[tokio::test]
    async fn base64_mux_decodes_text_drops_bad_frames_and_encodes_output() {
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
        // v5 is ignored with base64 framing: no close signals are sent.
        let (mux, mut pipes) = WsMux::start_with_codec(server, &specs, true, Codec::Base64);
        let mut stdin = pipes.remove(&0).unwrap();
        let mut stdout = pipes.remove(&1).unwrap();
        for m in [
            Message::Text("0YWI=".into()),             // "ab"
            Message::Text("".into()),                  // empty: dropped
            Message::Text("0!!not base64".into()),     // invalid: dropped
            Message::Text("/YWI=".into()),             // bad channel char: dropped
            Message::Text("7YWI=".into()),             // unknown channel: dropped
            Message::Binary(b"0Yw==".to_vec().into()), // binary is decoded too: "c"
            Message::Binary(vec![0, b'x'].into()),     // raw binary framing: invalid base64
        ] {
            client.send(m).await.unwrap();
        }
        stdout.write_all(b"out").await.unwrap();
        drop(stdout);
        let mut msgs = Vec::new();
        while msgs.len() < 2 {
            match client.next().await.unwrap().unwrap() {
                Message::Text(t) => msgs.push(t.to_string()),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(msgs, vec!["1".to_string(), "1b3V0".to_string()]);
        let mut got = [0u8; 3];
        stdin.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abc");
        // The client closing ends stdin with nothing else delivered.
        client.send(Message::Close(None)).await.unwrap();
        let mut rest = Vec::new();
        stdin.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "{rest:?}");
        tokio::time::timeout(Duration::from_secs(5), mux.closed())
            .await
            .unwrap();
        mux.finish(Duration::from_secs(2)).await;
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
