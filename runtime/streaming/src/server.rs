//! The HTTP/1.1 server: routes `/exec/<token>`, `/attach/<token>`,
//! `/portforward/<token>`, performs the SPDY or WebSocket upgrade and runs
//! the session in a task.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderMap, HeaderValue, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::cache::{RequestCache, TOKEN_TTL};
use crate::session::{
    self, ExecPipes, FINISH_GRACE, Wanted, collect_spdy_streams, serve_spdy_port_forward,
};
use crate::spdy::conn::Connection;
use crate::ws::{
    self, ChannelSpec, Codec, Direction, MAX_BASE64_CHANNEL, PROTOCOL_PORTFORWARD,
    PROTOCOL_SPDY_TUNNEL_PORTFORWARD, PROTOCOL_V1, PROTOCOL_V1_BASE64, PROTOCOL_V4,
    PROTOCOL_V4_BASE64, PROTOCOL_V5, WsMux,
};
use crate::{AttachRequest, ExecRequest, PortForwardRequest, Runtime};

/// SPDY exec/attach protocol versions, in our preference order.
pub const SPDY_EXEC_PROTOCOLS: [&str; 4] = [
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
/// WebSocket subprotocols for exec/attach (the client's order decides).
pub const WS_EXEC_PROTOCOLS: [&str; 5] = [
    PROTOCOL_V5,
    PROTOCOL_V4,
    PROTOCOL_V4_BASE64,
    PROTOCOL_V1,
    PROTOCOL_V1_BASE64,
];
/// WebSocket subprotocols for port-forward (the client's order decides); like
/// the kubelet, only the v4 base64 variant is accepted for port-forward.
pub const WS_PORTFORWARD_PROTOCOLS: [&str; 4] = [
    PROTOCOL_SPDY_TUNNEL_PORTFORWARD,
    PROTOCOL_V4,
    PROTOCOL_V4_BASE64,
    PROTOCOL_PORTFORWARD,
];
/// SPDY port-forward protocol version.
pub const SPDY_PORTFORWARD_PROTOCOL: &str = "portforward.k8s.io";

type Body = Full<Bytes>;

/// Where the streaming server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to bind (`127.0.0.1:0` by default).
    pub addr: SocketAddr,
    /// Base of the URLs handed out (default `http://<bound address>`).
    pub base_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            base_url: None,
        }
    }
}

struct Shared {
    runtime: Arc<dyn Runtime>,
    exec: RequestCache<ExecRequest>,
    attach: RequestCache<AttachRequest>,
    port_forward: RequestCache<PortForwardRequest>,
}

/// The running streaming server; dropping it stops accepting connections.
pub struct StreamServer {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    base_url: String,
    accept: JoinHandle<()>,
}

impl Drop for StreamServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl StreamServer {
    /// Bind `config.addr` and start serving.
    pub async fn start(config: ServerConfig, runtime: Arc<dyn Runtime>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.addr).await?;
        let local_addr = listener.local_addr()?;
        let base_url = config
            .base_url
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{local_addr}"));
        let shared = Arc::new(Shared {
            runtime,
            exec: RequestCache::new(TOKEN_TTL),
            attach: RequestCache::new(TOKEN_TTL),
            port_forward: RequestCache::new(TOKEN_TTL),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self {
            shared,
            local_addr,
            base_url,
            accept,
        })
    }

    /// Cache an exec request; the URL the client must connect to.
    pub fn exec_url(&self, req: ExecRequest) -> String {
        format!("{}/exec/{}", self.base_url, self.shared.exec.insert(req))
    }

    /// Cache an attach request; the URL the client must connect to.
    pub fn attach_url(&self, req: AttachRequest) -> String {
        format!(
            "{}/attach/{}",
            self.base_url,
            self.shared.attach.insert(req)
        )
    }

    /// Cache a port-forward request; the URL the client must connect to.
    pub fn port_forward_url(&self, req: PortForwardRequest) -> String {
        format!(
            "{}/portforward/{}",
            self.base_url,
            self.shared.port_forward.insert(req)
        )
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "streaming server accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(route(shared, req)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "streaming connection ended with error");
            }
        });
    }
}

fn text(code: StatusCode, msg: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(msg.into())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn header_has_token(h: &HeaderMap, name: hyper::header::HeaderName, token: &str) -> bool {
    h.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

fn header_list(h: &HeaderMap, name: &str) -> Vec<String> {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

enum Kind {
    Exec(ExecRequest),
    Attach(AttachRequest),
    PortForward(PortForwardRequest),
}

fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (what, token) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let kind = match what {
        "exec" => shared.exec.take(token).map(Kind::Exec),
        "attach" => shared.attach.take(token).map(Kind::Attach),
        "portforward" => shared.port_forward.take(token).map(Kind::PortForward),
        _ => return text(StatusCode::NOT_FOUND, format!("404 page not found: {path}")),
    };
    let Some(kind) = kind else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "unknown or expired {what} token {token:?} (tokens are single-use and valid for 60s)"
            ),
        );
    };
    if header_has_token(req.headers(), UPGRADE, "websocket") {
        upgrade_websocket(shared, req, kind)
    } else if header_has_token(req.headers(), UPGRADE, "SPDY/3.1") {
        upgrade_spdy(shared, req, kind)
    } else {
        text(
            StatusCode::BAD_REQUEST,
            "streaming requests need an HTTP upgrade to SPDY/3.1 or websocket",
        )
    }
}

fn switching(upgrade: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    r.headers_mut()
        .insert(UPGRADE, HeaderValue::from_static(upgrade));
    r
}

fn upgrade_spdy(shared: Arc<Shared>, mut req: Request<Incoming>, kind: Kind) -> Response<Body> {
    if !header_has_token(req.headers(), CONNECTION, "upgrade") {
        return text(StatusCode::BAD_REQUEST, "missing Connection: Upgrade");
    }
    let offered = header_list(req.headers(), "x-stream-protocol-version");
    let supported: &[&'static str] = match kind {
        Kind::PortForward(_) => &[SPDY_PORTFORWARD_PROTOCOL],
        _ => &SPDY_EXEC_PROTOCOLS,
    };
    let Some(protocol) = ws::negotiate(&offered, supported) else {
        let mut r = text(
            StatusCode::FORBIDDEN,
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports {supported:?}"
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&supported.join(", ")) {
            r.headers_mut()
                .insert("x-accepted-stream-protocol-versions", v);
        }
        return r;
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "SPDY upgrade failed");
                return;
            }
        };
        let conn = Connection::start(TokioIo::new(upgraded));
        run_spdy(shared, conn, kind, protocol).await;
    });
    let mut r = switching("SPDY/3.1");
    if !protocol.is_empty() {
        r.headers_mut().insert(
            "x-stream-protocol-version",
            HeaderValue::from_static(protocol),
        );
    }
    r
}

async fn run_spdy(shared: Arc<Shared>, mut conn: Connection, kind: Kind, protocol: &str) {
    let rt = shared.runtime.clone();
    match kind {
        Kind::PortForward(pf) => {
            serve_spdy_port_forward(rt, pf.pod_sandbox_id, pf.ports, conn).await;
        }
        Kind::Exec(req) => {
            match collect_spdy_streams(&mut conn, Wanted::exec(&req), protocol).await {
                Ok(pipes) => until_gone(conn.closed(), session::run_exec(rt, req, pipes)).await,
                Err(e) => tracing::warn!(error = %e, "exec stream setup failed"),
            }
            conn.finish(FINISH_GRACE).await;
        }
        Kind::Attach(req) => {
            match collect_spdy_streams(&mut conn, Wanted::attach(&req), protocol).await {
                Ok(pipes) => until_gone(conn.closed(), session::run_attach(rt, req, pipes)).await,
                Err(e) => tracing::warn!(error = %e, "attach stream setup failed"),
            }
            conn.finish(FINISH_GRACE).await;
        }
    }
}

/// Run `work` but drop it (cancelling the runtime call) once the client has
/// gone: nobody could receive its output or status any more.
async fn until_gone(
    gone: impl std::future::Future<Output = ()>,
    work: impl std::future::Future<Output = ()>,
) {
    tokio::select! {
        _ = work => {}
        _ = gone => tracing::debug!("streaming client went away; cancelling the session"),
    }
}

/// Ports from `port=` query parameters (repeated and/or comma-separated).
pub(crate) fn query_ports(query: Option<&str>) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for kv in query.unwrap_or("").split('&') {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        if k != "port" {
            continue;
        }
        for p in v.split("%2C").flat_map(|s| s.split(',')) {
            match p.trim().parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => return Err(format!("invalid port {p:?} in query")),
            }
        }
    }
    Ok(ports)
}

fn upgrade_websocket(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    kind: Kind,
) -> Response<Body> {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key header");
    };
    let offered = header_list(req.headers(), "sec-websocket-protocol");
    let supported: &[&'static str] = match kind {
        Kind::PortForward(_) => &WS_PORTFORWARD_PROTOCOLS,
        _ => &WS_EXEC_PROTOCOLS,
    };
    let Some(protocol) = ws::negotiate(&offered, supported) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "unable to negotiate websocket protocol: client offered {offered:?}, server supports {supported:?}"
            ),
        );
    };
    let query_ports = match &kind {
        Kind::PortForward(pf) if protocol != PROTOCOL_SPDY_TUNNEL_PORTFORWARD => {
            match query_ports(req.uri().query()) {
                Ok(p) if !p.is_empty() => p,
                Ok(_) if !pf.ports.is_empty() => pf.ports.clone(),
                Ok(_) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "port-forward over websocket needs at least one port= query parameter",
                    );
                }
                Err(e) => return text(StatusCode::BAD_REQUEST, e),
            }
        }
        _ => Vec::new(),
    };
    // Two channels per port; base64 framing names channels with one ASCII
    // character, binary framing with one byte.
    let channel_count = match Codec::for_protocol(protocol) {
        Codec::Base64 => usize::from(MAX_BASE64_CHANNEL) + 1,
        Codec::Binary => usize::from(u8::MAX) + 1,
    };
    let max_ports = channel_count / 2;
    if query_ports.len() > max_ports {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "too many ports ({}) for websocket protocol {protocol:?}: at most {max_ports}",
                query_ports.len(),
            ),
        );
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "websocket upgrade failed");
                return;
            }
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        run_websocket(shared, socket, kind, protocol, query_ports).await;
    });
    let mut r = switching("websocket");
    if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        r.headers_mut().insert("sec-websocket-accept", v);
    }
    if !protocol.is_empty() {
        r.headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
    }
    r
}

async fn run_websocket<S>(
    shared: Arc<Shared>,
    socket: WebSocketStream<S>,
    kind: Kind,
    protocol: &'static str,
    ports: Vec<u16>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let rt = shared.runtime.clone();
    let v5 = protocol == PROTOCOL_V5;
    let codec = Codec::for_protocol(protocol);
    match kind {
        Kind::PortForward(pf) if protocol == PROTOCOL_SPDY_TUNNEL_PORTFORWARD => {
            let (pipe, pump) = ws::tunnel(socket);
            let conn = Connection::start(pipe);
            serve_spdy_port_forward(rt, pf.pod_sandbox_id, pf.ports, conn).await;
            let _ = tokio::time::timeout(FINISH_GRACE, pump).await;
        }
        Kind::PortForward(pf) => {
            let mut specs = Vec::new();
            for (i, port) in ports.iter().enumerate() {
                let Ok(base) = u8::try_from(i * 2) else { break };
                let le = port.to_le_bytes().to_vec();
                specs.push(ChannelSpec {
                    channel: base,
                    dir: Direction::Both,
                    initial: Some(le.clone()),
                });
                specs.push(ChannelSpec {
                    channel: base + 1,
                    dir: Direction::Out,
                    initial: Some(le),
                });
            }
            let (mux, mut pipes) = WsMux::start_with_codec(socket, &specs, false, codec);
            let mut tasks = Vec::new();
            for (i, port) in ports.iter().enumerate() {
                let Ok(base) = u8::try_from(i * 2) else { break };
                let (Some(data), Some(error)) = (pipes.remove(&base), pipes.remove(&(base + 1)))
                else {
                    continue;
                };
                tasks.push(tokio::spawn(session::forward_one(
                    rt.clone(),
                    pf.pod_sandbox_id.clone(),
                    pf.ports.clone(),
                    *port,
                    data,
                    error,
                )));
            }
            for t in tasks {
                let _ = t.await;
            }
            mux.finish(FINISH_GRACE).await;
        }
        Kind::Exec(req) => {
            let (mux, pipes) = ws_exec_pipes(socket, Wanted::exec(&req), v5, protocol);
            until_gone(mux.closed(), session::run_exec(rt, req, pipes)).await;
            mux.finish(FINISH_GRACE).await;
        }
        Kind::Attach(req) => {
            let (mux, pipes) = ws_exec_pipes(socket, Wanted::attach(&req), v5, protocol);
            until_gone(mux.closed(), session::run_attach(rt, req, pipes)).await;
            mux.finish(FINISH_GRACE).await;
        }
    }
}

fn ws_exec_pipes<S>(
    socket: WebSocketStream<S>,
    w: Wanted,
    v5: bool,
    protocol: &str,
) -> (WsMux, ExecPipes)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // The kubelet sends one empty message first (on stdout, else stderr,
    // else error) to tell the client the streams are ready.
    let first = if w.stdout {
        1
    } else if w.stderr {
        2
    } else {
        3
    };
    let mut specs = Vec::new();
    let mut add = |channel: u8, dir: Direction| {
        specs.push(ChannelSpec {
            channel,
            dir,
            initial: (channel == first).then(Vec::new),
        })
    };
    if w.stdin {
        add(0, Direction::In);
    }
    if w.stdout {
        add(1, Direction::Out);
    }
    if w.stderr {
        add(2, Direction::Out);
    }
    add(3, Direction::Out);
    if w.tty {
        add(4, Direction::In);
    }
    let (mux, mut p) = WsMux::start_with_codec(socket, &specs, v5, Codec::for_protocol(protocol));
    let pipes = ExecPipes {
        stdin: p.remove(&0),
        stdout: p.remove(&1),
        stderr: p.remove(&2),
        error: p.remove(&3),
        resize: p.remove(&4),
        json_status: matches!(protocol, PROTOCOL_V4 | PROTOCOL_V4_BASE64 | PROTOCOL_V5),
    };
    (mux, pipes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_from_query() {
        assert_eq!(
            query_ports(Some("port=80&port=8080")).unwrap(),
            vec![80, 8080]
        );
        assert_eq!(query_ports(Some("a=b&port=1,2")).unwrap(), vec![1, 2]);
        assert_eq!(query_ports(None).unwrap(), Vec::<u16>::new());
        assert!(query_ports(Some("port=x")).is_err());
        assert!(query_ports(Some("port=0")).is_err());
    }

    #[test]
    fn header_token_matching() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(header_has_token(&h, CONNECTION, "upgrade"));
        assert!(!header_has_token(&h, CONNECTION, "close"));
        h.append(
            "x-stream-protocol-version",
            HeaderValue::from_static("v4.channel.k8s.io"),
        );
        h.append(
            "x-stream-protocol-version",
            HeaderValue::from_static("v3.channel.k8s.io"),
        );
        assert_eq!(
            header_list(&h, "x-stream-protocol-version"),
            vec!["v4.channel.k8s.io", "v3.channel.k8s.io"]
        );
    }
}
