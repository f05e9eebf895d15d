//! WebSocket exec/attach/port-forward against the server with a fake runtime.

#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::{SinkExt, StreamExt};
use outrigger_streaming::{AttachRequest, PortForwardRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, protocol: &str) -> Ws {
    let ws_url = url.replacen("http://", "ws://", 1);
    let mut req = ws_url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        protocol
    );
    ws
}

/// Read until the server closes; returns per-channel payloads.
async fn drain(ws: &mut Ws) -> std::collections::BTreeMap<u8, Vec<u8>> {
    let mut out = std::collections::BTreeMap::<u8, Vec<u8>>::new();
    let fut = async {
        while let Some(m) = ws.next().await {
            match m.unwrap() {
                Message::Binary(b) => {
                    let (ch, rest) = b.split_first().unwrap();
                    out.entry(*ch).or_default().extend_from_slice(rest);
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), fut)
        .await
        .expect("server did not close the websocket");
    out
}

/// Read until the server closes a base64 protocol connection: every data
/// message must be TEXT, `'0' + channel` then base64. Returns per-channel
/// payloads and each channel's message count.
async fn drain_base64(
    ws: &mut Ws,
) -> (
    std::collections::BTreeMap<u8, Vec<u8>>,
    std::collections::BTreeMap<u8, usize>,
) {
    let mut out = std::collections::BTreeMap::<u8, Vec<u8>>::new();
    let mut counts = std::collections::BTreeMap::<u8, usize>::new();
    let fut = async {
        while let Some(m) = ws.next().await {
            match m.unwrap() {
                Message::Text(t) => {
                    let (ch, rest) = t.as_bytes().split_first().unwrap();
                    assert!(ch.is_ascii_digit(), "channel char {ch} in {t:?}");
                    let ch = ch - b'0';
                    out.entry(ch)
                        .or_default()
                        .extend_from_slice(&B64.decode(rest).unwrap());
                    *counts.entry(ch).or_default() += 1;
                }
                Message::Binary(b) => panic!("binary message {b:?} on a base64 protocol"),
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), fut)
        .await
        .expect("server did not close the websocket");
    (out, counts)
}

#[tokio::test]
async fn v4_base64_exec_text_frames_stdin_stdout_and_json_status() {
    let (srv, _rt) = common::start().await;
    let url = srv.exec_url(common::exec_req(&["echo-line", "7"], true, false));
    let mut ws = connect(&url, "v4.base64.channel.k8s.io").await;
    // The ready signal: an empty message on stdout, i.e. the text "1".
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first, Message::Text("1".into()));
    // Garbage is dropped without killing the session.
    ws.send(Message::Text("0***".into())).await.unwrap();
    ws.send(Message::Text("".into())).await.unwrap();
    // stdin in two pieces: "hello " and "base64\n".
    ws.send(Message::Text(format!("0{}", B64.encode("hello ")).into()))
        .await
        .unwrap();
    ws.send(Message::Text("0YmFzZTY0Cg==".into()))
        .await
        .unwrap();
    let (ch, _) = drain_base64(&mut ws).await;
    assert_eq!(ch.get(&1).unwrap(), b"hello base64\n");
    let status: serde_json::Value = serde_json::from_slice(ch.get(&3).unwrap()).unwrap();
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "7");
}

#[tokio::test]
async fn v4_base64_exec_success_status() {
    let (srv, _rt) = common::start().await;
    let url = srv.exec_url(common::exec_req(&["print", "ok", "0"], false, false));
    let mut ws = connect(&url, "v4.base64.channel.k8s.io").await;
    let (ch, counts) = drain_base64(&mut ws).await;
    assert_eq!(ch.get(&1).unwrap(), b"ok");
    // the empty ready message plus the data
    assert!(counts[&1] >= 2, "{counts:?}");
    let status: serde_json::Value = serde_json::from_slice(ch.get(&3).unwrap()).unwrap();
    assert_eq!(status["status"], "Success");
}

#[tokio::test]
async fn v1_base64_exec_errors_are_plain_text() {
    let (srv, _rt) = common::start().await;
    let url = srv.exec_url(common::exec_req(&["print", "x", "2"], false, false));
    let mut ws = connect(&url, "base64.channel.k8s.io").await;
    let (ch, _) = drain_base64(&mut ws).await;
    assert_eq!(ch.get(&1).unwrap(), b"x");
    let err = String::from_utf8(ch.get(&3).cloned().unwrap_or_default()).unwrap();
    assert!(!err.starts_with('{'), "v1 error must not be JSON: {err}");
    assert!(err.contains('2'), "{err}");

    // A client preferring base64 gets it even when the server also has v5.
    let url = srv.exec_url(common::exec_req(&["print", "y", "0"], false, false));
    let ws_url = url.replacen("http://", "ws://", 1);
    let mut req = ws_url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "base64.channel.k8s.io, v5.channel.k8s.io".parse().unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "base64.channel.k8s.io"
    );
    let (ch, _) = drain_base64(&mut ws).await;
    assert_eq!(ch.get(&1).unwrap(), b"y");
}

#[tokio::test]
async fn v4_base64_port_forward_sends_port_prefix_as_text() {
    let (srv, rt) = common::start().await;
    let echo = common::echo_server().await;
    let port = echo.port();
    let url = srv.port_forward_url(PortForwardRequest {
        pod_sandbox_id: "sb1".into(),
        ports: vec![],
    });
    let mut ws = connect(&format!("{url}?port={port}"), "v4.base64.channel.k8s.io").await;
    let le = B64.encode(port.to_le_bytes());
    let mut firsts = Vec::new();
    while firsts.len() < 2 {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(t) => firsts.push(t.to_string()),
            other => panic!("unexpected {other:?}"),
        }
    }
    firsts.sort();
    assert_eq!(firsts, vec![format!("0{le}"), format!("1{le}")]);
    ws.send(Message::Text(format!("0{}", B64.encode("ping")).into()))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        rt.forwarded.lock().unwrap().as_slice(),
        &[("sb1".to_string(), port)]
    );
    ws.close(None).await.unwrap();

    // Like the kubelet, port-forward has no v1 base64 variant.
    let url = srv.port_forward_url(PortForwardRequest {
        pod_sandbox_id: "sb1".into(),
        ports: vec![],
    });
    let ws_url = format!("{url}?port={port}").replacen("http://", "ws://", 1);
    let mut req = ws_url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "base64.channel.k8s.io".parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 400)
        }
        other => panic!("base64.channel.k8s.io port-forward was not refused: {other:?}"),
    }

    // 41 ports need channel 81, which base64 framing cannot name.
    let url = srv.port_forward_url(PortForwardRequest {
        pod_sandbox_id: "sb1".into(),
        ports: vec![],
    });
    let ports: Vec<String> = (1..=41).map(|p| format!("port={p}")).collect();
    let ws_url = format!("{url}?{}", ports.join("&")).replacen("http://", "ws://", 1);
    let mut req = ws_url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v4.base64.channel.k8s.io".parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 400)
        }
        other => panic!("41 ports over base64 were not refused: {other:?}"),
    }
}

#[tokio::test]
async fn v5_exec_with_stdin_stdout_stderr_and_exit_code() {
    let (srv, _rt) = common::start().await;
    let url = srv.exec_url(common::exec_req(&["echo-stdin", "3"], true, false));
    let mut ws = connect(&url, "v5.channel.k8s.io").await;
    ws.send(Message::Binary(b"\x00hello ws".to_vec().into()))
        .await
        .unwrap();
    ws.send(Message::Binary(vec![255, 0].into())).await.unwrap();
    let ch = drain(&mut ws).await;
    assert_eq!(ch.get(&1).unwrap(), b"hello ws");
    // v5 close signals for stdout (1), stderr (2) and error (3) arrive on 255.
    let closes = ch.get(&255).unwrap();
    for c in [1u8, 2, 3] {
        assert!(closes.contains(&c), "no close for channel {c}: {closes:?}");
    }
    assert_eq!(ch.get(&2).unwrap(), b"err:3");
    let status: serde_json::Value = serde_json::from_slice(ch.get(&3).unwrap()).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
}

#[tokio::test]
async fn v4_exec_success_and_runtime_error() {
    let (srv, _rt) = common::start().await;
    let url = srv.exec_url(common::exec_req(&["print", "hi there", "0"], false, false));
    let mut ws = connect(&url, "v4.channel.k8s.io").await;
    let ch = drain(&mut ws).await;
    assert_eq!(ch.get(&1).unwrap(), b"hi there");
    assert!(!ch.contains_key(&255), "v4 has no close signal");
    let status: serde_json::Value = serde_json::from_slice(ch.get(&3).unwrap()).unwrap();
    assert_eq!(status["status"], "Success");

    let url = srv.exec_url(common::exec_req(
        &["fail", "no such container"],
        false,
        false,
    ));
    let mut ws = connect(&url, "v4.channel.k8s.io").await;
    let ch = drain(&mut ws).await;
    let status: serde_json::Value = serde_json::from_slice(ch.get(&3).unwrap()).unwrap();
    assert_eq!(status["status"], "Failure");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("no such container")
    );
}

#[tokio::test]
async fn v5_attach() {
    let (srv, _rt) = common::start().await;
    let url = srv.attach_url(AttachRequest {
        container_id: "c".into(),
        tty: false,
        stdin: true,
        stdout: true,
        stderr: false,
    });
    let mut ws = connect(&url, "v5.channel.k8s.io").await;
    ws.send(Message::Binary(b"\x00abc".to_vec().into()))
        .await
        .unwrap();
    ws.send(Message::Binary(vec![255, 0].into())).await.unwrap();
    let ch = drain(&mut ws).await;
    assert_eq!(ch.get(&1).unwrap(), b"attached:abc");
    let status: serde_json::Value = serde_json::from_slice(ch.get(&3).unwrap()).unwrap();
    assert_eq!(status["status"], "Success");
}

#[tokio::test]
async fn channel_port_forward_sends_port_prefix_and_forwards() {
    let (srv, rt) = common::start().await;
    let echo = common::echo_server().await;
    let port = echo.port();
    let url = srv.port_forward_url(PortForwardRequest {
        pod_sandbox_id: "sb1".into(),
        ports: vec![],
    });
    let mut ws = connect(&format!("{url}?port={port}"), "v4.channel.k8s.io").await;
    // first message on data (0) and error (1) channels: the port, little-endian
    let le = port.to_le_bytes();
    let mut firsts = Vec::new();
    while firsts.len() < 2 {
        if let Message::Binary(b) = ws.next().await.unwrap().unwrap() {
            firsts.push(b.to_vec());
        }
    }
    firsts.sort();
    assert_eq!(firsts, vec![vec![0, le[0], le[1]], vec![1, le[0], le[1]]]);
    ws.send(Message::Binary(b"\x00ping".to_vec().into()))
        .await
        .unwrap();
    // The echo server answers after EOF; the channel protocol has no
    // half-close, so just check nothing failed and the runtime was called.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        rt.forwarded.lock().unwrap().as_slice(),
        &[("sb1".to_string(), port)]
    );
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn unknown_and_reused_tokens_get_404() {
    let (srv, _rt) = common::start().await;
    let url = srv.exec_url(common::exec_req(&["print", "x", "0"], false, false));
    let path = url
        .split_once(&srv.local_addr().to_string())
        .unwrap()
        .1
        .to_string();
    // first use consumes the token
    let mut ws = connect(&url, "v4.channel.k8s.io").await;
    drain(&mut ws).await;
    for p in [path.as_str(), "/exec/doesnotexist", "/nothing/here"] {
        let mut c = tokio::net::TcpStream::connect(srv.local_addr())
            .await
            .unwrap();
        c.write_all(format!("GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 404"), "{p}: {resp}");
    }
}

#[tokio::test]
async fn client_going_away_cancels_the_runtime_call() {
    let (srv, rt) = common::start().await;
    let url = srv.exec_url(common::exec_req(&["hang"], false, false));
    let ws = connect(&url, "v5.channel.k8s.io").await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!rt.hang_cancelled.load(std::sync::atomic::Ordering::SeqCst));
    drop(ws);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !rt.hang_cancelled.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "exec was not cancelled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
