//! A small SPDY/3.1 client written with the crate's codec, driving exec and
//! port-forward on the server with a fake runtime.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use outrigger_streaming::PortForwardRequest;
use outrigger_streaming::spdy::frame::{
    FLAG_FIN, Frame, HeaderCompressor, HeaderDecompressor, encode_frame, read_frame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Client {
    tcp: TcpStream,
    comp: HeaderCompressor,
    dec: HeaderDecompressor,
}

/// POST with an upgrade; returns the raw response head and (on 101) a client.
async fn upgrade(url: &str, versions: &[&str]) -> (String, Option<Client>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut tcp = TcpStream::connect(host).await.unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n"
    );
    for v in versions {
        req.push_str(&format!("X-Stream-Protocol-Version: {v}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    // Read the response head byte by byte so no SPDY bytes are swallowed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if tcp.read(&mut b).await.unwrap() == 0 {
            break;
        }
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let client = head.starts_with("HTTP/1.1 101").then(|| Client {
        tcp,
        comp: HeaderCompressor::new(),
        dec: HeaderDecompressor::new(),
    });
    (head, client)
}

impl Client {
    async fn send(&mut self, f: Frame) {
        let b = encode_frame(&f, &mut self.comp).unwrap();
        self.tcp.write_all(&b).await.unwrap();
    }
    async fn open(&mut self, id: u32, headers: &[(&str, &str)], fin: bool) {
        self.send(Frame::SynStream {
            stream_id: id,
            associated_id: 0,
            priority: 0,
            flags: if fin { FLAG_FIN } else { 0 },
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        })
        .await;
    }
    async fn data(&mut self, id: u32, data: &[u8], fin: bool) {
        self.send(Frame::Data {
            stream_id: id,
            flags: if fin { FLAG_FIN } else { 0 },
            data: data.to_vec(),
        })
        .await;
    }
    /// Read frames until every stream in `ids` got FIN; returns their data
    /// and the ids that got SYN_REPLY.
    async fn collect(&mut self, ids: &[u32]) -> (BTreeMap<u32, Vec<u8>>, Vec<u32>) {
        let mut data = BTreeMap::<u32, Vec<u8>>::new();
        let mut replies = Vec::new();
        let mut open: Vec<u32> = ids.to_vec();
        let fut = async {
            while !open.is_empty() {
                match read_frame(&mut self.tcp, &mut self.dec).await.unwrap() {
                    Some(Frame::SynReply { stream_id, .. }) => replies.push(stream_id),
                    Some(Frame::Data {
                        stream_id,
                        flags,
                        data: d,
                    }) => {
                        data.entry(stream_id).or_default().extend_from_slice(&d);
                        if flags & FLAG_FIN != 0 {
                            open.retain(|i| *i != stream_id);
                        }
                    }
                    Some(other) => panic!("unexpected frame {other:?}"),
                    None => panic!("connection closed with streams {open:?} still open"),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), fut)
            .await
            .expect("timed out reading frames");
        (data, replies)
    }
}

#[tokio::test]
async fn spdy_v4_exec_stdin_stdout_stderr_status() {
    let (srv, _rt) = common::start().await;
    let url = srv.exec_url(common::exec_req(&["echo-stdin", "4"], true, false));
    let (head, c) = upgrade(&url, &["v4.channel.k8s.io", "v3.channel.k8s.io"]).await;
    assert!(
        head.to_ascii_lowercase()
            .contains("x-stream-protocol-version: v4.channel.k8s.io"),
        "{head}"
    );
    let mut c = c.unwrap();
    c.open(1, &[("streamType", "error")], true).await;
    c.open(3, &[("streamType", "stdin")], false).await;
    c.open(5, &[("streamType", "stdout")], false).await;
    c.open(7, &[("streamType", "stderr")], false).await;
    c.data(3, b"spdy says hi", true).await;
    c.send(Frame::Ping { id: 1 }).await;
    let mut data = BTreeMap::<u32, Vec<u8>>::new();
    let mut replies = Vec::new();
    let mut open = vec![1u32, 5, 7];
    let mut pong = false;
    let fut = async {
        while !open.is_empty() || !pong {
            match read_frame(&mut c.tcp, &mut c.dec).await.unwrap().unwrap() {
                Frame::SynReply { stream_id, .. } => replies.push(stream_id),
                Frame::Ping { id } => {
                    assert_eq!(id, 1);
                    pong = true;
                }
                Frame::Data {
                    stream_id,
                    flags,
                    data: d,
                } => {
                    data.entry(stream_id).or_default().extend_from_slice(&d);
                    if flags & FLAG_FIN != 0 {
                        open.retain(|i| *i != stream_id);
                    }
                }
                other => panic!("unexpected frame {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap();
    replies.sort();
    assert_eq!(replies, vec![1, 3, 5, 7]);
    assert_eq!(data[&5], b"spdy says hi");
    assert_eq!(data[&7], b"err:4");
    let status: serde_json::Value = serde_json::from_slice(&data[&1]).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "4");
}

#[tokio::test]
async fn spdy_v2_exec_error_is_plain_text() {
    let (srv, _rt) = common::start().await;
    let url = srv.exec_url(common::exec_req(&["print", "out", "2"], false, false));
    let (_, c) = upgrade(&url, &["v2.channel.k8s.io"]).await;
    let mut c = c.unwrap();
    c.open(1, &[("streamtype", "error")], true).await;
    c.open(3, &[("streamtype", "stdout")], false).await;
    c.open(5, &[("streamtype", "stderr")], false).await;
    let (data, _) = c.collect(&[1, 3, 5]).await;
    assert_eq!(data[&3], b"out");
    assert_eq!(
        String::from_utf8_lossy(&data[&1]),
        "command terminated with non-zero exit code: exit status 2"
    );
}

#[tokio::test]
async fn spdy_unsupported_protocol_is_forbidden() {
    let (srv, _rt) = common::start().await;
    let url = srv.exec_url(common::exec_req(&["print", "x", "0"], false, false));
    let (head, c) = upgrade(&url, &["v9.channel.k8s.io"]).await;
    assert!(c.is_none());
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
}

#[tokio::test]
async fn spdy_port_forward_pairs_streams_by_request_id() {
    let (srv, rt) = common::start().await;
    let echo = common::echo_server().await;
    let port = echo.port().to_string();
    let url = srv.port_forward_url(PortForwardRequest {
        pod_sandbox_id: "sb".into(),
        ports: vec![echo.port()],
    });
    let (head, c) = upgrade(&url, &["portforward.k8s.io"]).await;
    assert!(head.contains("portforward.k8s.io"), "{head}");
    let mut c = c.unwrap();
    // two concurrent requests, error stream first as client-go does
    for (rid, err_id, data_id) in [("0", 1u32, 3u32), ("1", 5, 7)] {
        c.open(
            err_id,
            &[("streamtype", "error"), ("port", &port), ("requestid", rid)],
            true,
        )
        .await;
        c.open(
            data_id,
            &[("streamtype", "data"), ("port", &port), ("requestid", rid)],
            false,
        )
        .await;
    }
    c.data(3, b"first", true).await;
    c.data(7, b"second", true).await;
    let (data, _) = c.collect(&[1, 3, 5, 7]).await;
    assert_eq!(data[&3], b"first");
    assert_eq!(data[&7], b"second");
    assert!(data.get(&1).is_none_or(|d| d.is_empty()));
    assert_eq!(rt.forwarded.lock().unwrap().len(), 2);

    // a port that was not requested: the error stream says so
    c.open(
        9,
        &[("streamtype", "error"), ("port", "1"), ("requestid", "2")],
        true,
    )
    .await;
    c.open(
        11,
        &[("streamtype", "data"), ("port", "1"), ("requestid", "2")],
        false,
    )
    .await;
    let (data, _) = c.collect(&[9, 11]).await;
    let msg = String::from_utf8_lossy(&data[&9]).into_owned();
    assert!(msg.contains("port 1 was not requested"), "{msg}");
}
