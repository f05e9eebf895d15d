//! The HTTP proxy: one request in, one route looked up in the current table, one endpoint
//! picked, the request forwarded with `X-Forwarded-*` headers, the response (or a WebSocket
//! tunnel) handed back. Phases, in order: route match → TLS policy (redirect / refuse plain
//! HTTP) → source allowlist → endpoint pick (sticky cookie, weights, algorithm) → upstream call
//! with the route's timeout (connect errors of bodiless requests retried on another endpoint) →
//! response headers (HSTS, sticky cookie). Nothing here panics on request data: every failure
//! becomes a status code and a metric.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body as _, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use outrigger_route_table::ObjectKey;
use outrigger_route_table::annotations::ForwardedHeaders;
use outrigger_route_table::headers::{HeaderAction, render};
use outrigger_route_table::host::normalize_request_host;
use outrigger_route_table::table::{RouteEntry, RouteTable};
use outrigger_route_table::tls::{InsecurePolicy, Termination};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::metrics::{ErrorLabels, Metrics};

/// Body of requests to and responses from the router.
pub type Body = UnsyncBoxBody<Bytes, hyper::Error>;

/// Why a call to a backend failed; `kind` is the metric label.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// TCP or TLS connection to the endpoint failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// Endpoint.
        addr: SocketAddr,
        /// Cause.
        source: hyper_util::client::legacy::Error,
    },
    /// The endpoint did not answer within the route's timeout.
    #[error("no response from {addr} within {timeout:?}")]
    Timeout {
        /// Endpoint.
        addr: SocketAddr,
        /// The route's timeout.
        timeout: Duration,
    },
    /// The endpoint broke the HTTP exchange.
    #[error("talking to {addr}: {source}")]
    Protocol {
        /// Endpoint.
        addr: SocketAddr,
        /// Cause.
        source: hyper_util::client::legacy::Error,
    },
    /// The request could not be turned into an upstream request.
    #[error("invalid upstream request: {0}")]
    InvalidRequest(String),
}

/// Every value of [`UpstreamError::kind`] (plus `connect` for passthrough).
pub const UPSTREAM_ERROR_KINDS: [&str; 4] = ["connect", "timeout", "protocol", "invalid_request"];

impl UpstreamError {
    /// Stable metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect { .. } => "connect",
            UpstreamError::Timeout { .. } => "timeout",
            UpstreamError::Protocol { .. } => "protocol",
            UpstreamError::InvalidRequest(_) => "invalid_request",
        }
    }

    /// The status code the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            UpstreamError::Connect { .. } => StatusCode::SERVICE_UNAVAILABLE,
            UpstreamError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::Protocol { .. } => StatusCode::BAD_GATEWAY,
            UpstreamError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// How a client reached the router.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    /// Client address.
    pub client: SocketAddr,
    /// Whether the router terminated TLS for this connection.
    pub tls: bool,
    /// The router's port the client connected to.
    pub local_port: u16,
    /// Whether this is the first request of its connection.
    pub new_connection: bool,
}

type HttpClient = Client<HttpConnector, Body>;
type TlsClient = Client<ReencryptConnector, Body>;

/// Everything the data plane shares.
pub struct State {
    /// The current routing table, swapped whole on every rebuild.
    pub table: ArcSwap<RouteTable>,
    /// Metrics.
    pub metrics: Metrics,
    /// Pooled plain-HTTP client for edge and insecure routes.
    http: HttpClient,
    /// Pooled TLS clients for reencrypt routes, per route and CA.
    reencrypt: Mutex<HashMap<ObjectKey, (Vec<CertificateDer<'static>>, TlsClient)>>,
    /// Roots used for reencrypt routes without `destinationCACertificate`.
    system_roots: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
    /// HTTPS port for redirects.
    pub public_https_port: u16,
    /// Log every request.
    pub access_log: bool,
    /// Per-source limits.
    pub limiter: crate::limit::Limiter,
    /// Metric handles of the routes in the table (refreshed with it).
    pub route_metrics: ArcSwap<HashMap<ObjectKey, Arc<crate::metrics::RouteMetrics>>>,
    unmatched: crate::metrics::RouteMetrics,
}

impl State {
    /// A state with an empty table.
    pub fn new(
        metrics: Metrics,
        provider: Arc<CryptoProvider>,
        system_roots: Vec<CertificateDer<'static>>,
        public_https_port: u16,
        access_log: bool,
    ) -> Self {
        let unmatched = metrics.for_route("none");
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        State {
            table: ArcSwap::from_pointee(RouteTable::default()),
            metrics,
            http,
            reencrypt: Mutex::new(HashMap::new()),
            system_roots,
            provider,
            public_https_port,
            access_log,
            limiter: crate::limit::Limiter::default(),
            route_metrics: ArcSwap::from_pointee(HashMap::new()),
            unmatched,
        }
    }

    fn reencrypt_client(&self, e: &RouteEntry) -> Result<TlsClient, UpstreamError> {
        let ca = e
            .tls
            .as_ref()
            .map(|t| t.destination_ca.clone())
            .unwrap_or_default();
        let mut cache = self
            .reencrypt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((cached_ca, client)) = cache.get(&e.key)
            && *cached_ca == ca
        {
            return Ok(client.clone());
        }
        let roots = if ca.is_empty() {
            &self.system_roots
        } else {
            &ca
        };
        let mut store = RootCertStore::empty();
        for c in roots {
            // a root that does not parse was already rejected by admission (route CAs) or is
            // skipped (system bundle)
            let _ = store.add(c.clone());
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(store),
            self.provider.clone(),
        )
        .build()
        .map_err(|e| UpstreamError::InvalidRequest(format!("destination CA: {e}")))?;
        let mut cfg = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| UpstreamError::InvalidRequest(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier(verifier)))
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = e
            .backends
            .first()
            .and_then(|b| {
                ServerName::try_from(format!("{}.{}.svc", b.service, e.key.namespace)).ok()
            })
            .unwrap_or_else(|| {
                ServerName::try_from("backend.invalid")
                    .unwrap_or(ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()))
            });
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let connector = ReencryptConnector {
            http,
            tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
            server_name,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        cache.insert(e.key.clone(), (ca, client.clone()));
        Ok(client)
    }

    /// Forgets reencrypt clients of routes no longer in the table.
    pub fn prune_clients(&self) {
        let table = self.table.load();
        let live: std::collections::HashSet<&ObjectKey> = table.entries().map(|e| &e.key).collect();
        let mut cache = self
            .reencrypt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|k, _| live.contains(k));
    }
}

/// Verifies the backend's chain against the route's destination CA but not its name: the
/// backend is addressed by pod IP, and OpenShift's router does not check the name either when a
/// `destinationCACertificate` is given.
#[derive(Debug)]
struct ChainOnlyVerifier(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Connects to reencrypt backends: TCP, then TLS with the route's CA.
#[derive(Clone)]
pub struct ReencryptConnector {
    http: HttpConnector,
    tls: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

/// A TLS connection to a backend, usable by hyper's pooled client.
pub struct TlsConn(TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>);

impl Connection for TlsConn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for TlsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for TlsConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for ReencryptConnector {
    type Response = TlsConn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<TlsConn, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let tls = self.tls.clone();
        let name = self.server_name.clone();
        Box::pin(async move {
            let tcp = http.call(uri).await?.into_inner();
            let stream = tls.connect(name, tcp).await?;
            Ok(TlsConn(TokioIo::new(stream)))
        })
    }
}

// === responses ===

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn simple(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(full(format!("{text}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=0, no-cache, no-store"),
    );
    r
}

/// OpenShift's answer when no route (or no endpoint) serves a request.
pub fn unavailable() -> Response<Body> {
    simple(
        StatusCode::SERVICE_UNAVAILABLE,
        "Application is not available: the application is currently not serving requests at this endpoint. It may not have been started or is still starting.",
    )
}

fn redirect(host: &str, port: u16, uri: &Uri) -> Response<Body> {
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = if port == 443 {
        format!("https://{host}{pq}")
    } else {
        format!("https://{host}:{port}{pq}")
    };
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::FOUND;
    match HeaderValue::try_from(location) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => simple(StatusCode::BAD_REQUEST, "Bad Request"),
    }
}

// === request helpers ===

/// Host of a request: `:authority` (HTTP/2, absolute URIs) or the `Host` header, normalised.
pub fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })?;
    let h = normalize_request_host(&raw);
    (!h.is_empty()).then_some(h)
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for n in listed {
        if !(keep_upgrade && n == header::UPGRADE) {
            headers.remove(n);
        }
    }
    for n in HOP_BY_HOP {
        if keep_upgrade && (n == "upgrade" || n == "connection") {
            continue;
        }
        headers.remove(n);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn find_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Replaces the route's path prefix with the rewrite target.
pub fn rewrite_path(route_path: &str, target: &str, path: &str) -> String {
    let rest = path.strip_prefix(route_path).unwrap_or(path);
    let joined = if target.ends_with('/') && rest.starts_with('/') {
        format!("{target}{}", &rest[1..])
    } else {
        format!("{target}{rest}")
    };
    if joined.is_empty() {
        "/".into()
    } else {
        joined
    }
}

fn set_forwarded(headers: &mut HeaderMap, policy: ForwardedHeaders, conn: &ConnInfo, host: &str) {
    let proto = if conn.tls { "https" } else { "http" };
    let ip = conn.client.ip().to_string();
    match policy {
        ForwardedHeaders::Never => return,
        ForwardedHeaders::IfNone
            if headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded") =>
        {
            return;
        }
        ForwardedHeaders::Replace => {
            headers.remove("x-forwarded-for");
            headers.remove("forwarded");
        }
        ForwardedHeaders::Append | ForwardedHeaders::IfNone => {}
    }
    let for_value = if conn.client.is_ipv6() {
        format!("\"[{ip}]\"")
    } else {
        ip.clone()
    };
    let pairs = [
        ("x-forwarded-host", host.to_string()),
        ("x-forwarded-port", conn.local_port.to_string()),
        ("x-forwarded-proto", proto.to_string()),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::try_from(v) {
            headers.insert(k, v);
        }
    }
    if let Ok(v) = HeaderValue::try_from(ip) {
        headers.append("x-forwarded-for", v);
    }
    if let Ok(v) = HeaderValue::try_from(format!("for={for_value};host={host};proto={proto}")) {
        headers.append("forwarded", v);
    }
}

fn upstream_uri(
    scheme: &str,
    addr: SocketAddr,
    path_and_query: &str,
) -> Result<Uri, UpstreamError> {
    Uri::try_from(format!("{scheme}://{addr}{path_and_query}"))
        .map_err(|e| UpstreamError::InvalidRequest(e.to_string()))
}

/// Applies `spec.httpHeaders` actions in order; values read the headers as they are at that point.
fn apply_header_actions(headers: &mut HeaderMap, actions: &[HeaderAction]) {
    for a in actions {
        match a {
            HeaderAction::Delete(n) => {
                if let Ok(n) = HeaderName::try_from(n.as_str()) {
                    headers.remove(n);
                }
            }
            HeaderAction::Set(n, segments) => {
                let value = render(segments, &|h| {
                    headers
                        .get(h)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                });
                if let (Ok(n), Ok(v)) = (
                    HeaderName::try_from(n.as_str()),
                    HeaderValue::try_from(value),
                ) {
                    headers.insert(n, v);
                }
            }
        }
    }
}

// === the handler ===

/// Handles one request; never fails (errors become responses).
pub async fn handle(
    state: Arc<State>,
    conn: ConnInfo,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let start = Instant::now();
    let table = state.table.load_full();
    let host = request_host(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let entry = host
        .as_deref()
        .and_then(|h| table.lookup(h, &path))
        .cloned();
    let (resp, route) = match (entry, host) {
        (Some(e), Some(host)) => {
            let resp = serve(&state, &conn, &e, &host, req).await;
            (resp, Some(e))
        }
        _ => (unavailable(), None),
    };
    let status = resp.status().as_u16();
    let took = start.elapsed();
    let cached = route
        .as_ref()
        .and_then(|e| state.route_metrics.load().get(&e.key).cloned());
    match (&route, cached) {
        (_, Some(m)) => m.record(status, took.as_secs_f64()),
        (Some(e), None) => state
            .metrics
            .for_route(&e.key.to_string())
            .record(status, took.as_secs_f64()),
        (None, None) => state.unmatched.record(status, took.as_secs_f64()),
    }
    if state.access_log {
        let route = route.map_or_else(|| "none".to_string(), |e| e.key.to_string());
        tracing::info!(target: "access", client = %conn.client, %method, %path, route, status, took_ms = took.as_secs_f64() * 1000.0, tls = conn.tls);
    }
    Ok(resp)
}

async fn serve(
    state: &State,
    conn: &ConnInfo,
    e: &Arc<RouteEntry>,
    host: &str,
    mut req: Request<Incoming>,
) -> Response<Body> {
    // TLS policy
    match (e.tls.as_ref(), conn.tls) {
        (None, true) => return unavailable(),
        (Some(t), false) => match t.insecure {
            InsecurePolicy::Redirect => return redirect(host, state.public_https_port, req.uri()),
            InsecurePolicy::Allow if t.termination != Termination::Passthrough => {}
            _ => return unavailable(),
        },
        (Some(t), true) if t.termination == Termination::Passthrough => return unavailable(),
        _ => {}
    }
    if let Some(nets) = &e.options.ip_allowlist
        && !nets.iter().any(|n| n.contains(conn.client.ip()))
    {
        return simple(StatusCode::FORBIDDEN, "Forbidden");
    }
    let _permit = match &e.options.rate_limit {
        Some(limits) => {
            match state.limiter.check(
                &e.key,
                conn.client.ip(),
                limits,
                conn.new_connection,
                Instant::now(),
            ) {
                Ok(p) => Some(p),
                Err(limited) => {
                    tracing::debug!(route = %e.key, client = %conn.client, limit = limited.kind(), "rate limited");
                    return simple(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
                }
            }
        }
        None => None,
    };
    let cookie_name = (!e.options.disable_cookies).then(|| e.cookie_name());
    let sticky = cookie_name.and_then(|n| find_cookie(req.headers(), n));

    let upgrade = is_upgrade(&req);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let pq = match &e.options.rewrite_target {
        Some(t) if !e.path.is_empty() => {
            let (p, q) = pq
                .split_once('?')
                .map_or((pq.as_str(), None), |(p, q)| (p, Some(q)));
            let p = rewrite_path(&e.path, t, p);
            q.map_or(p.clone(), |q| format!("{p}?{q}"))
        }
        _ => pq,
    };
    if !parts.headers.contains_key(header::HOST)
        && let Ok(v) = HeaderValue::try_from(host)
    {
        parts.headers.insert(header::HOST, v);
    }
    strip_hop_by_hop(&mut parts.headers, upgrade);
    set_forwarded(&mut parts.headers, e.options.forwarded_headers, conn, host);
    apply_header_actions(&mut parts.headers, &e.headers.request);

    let reencrypt = e
        .tls
        .as_ref()
        .is_some_and(|t| t.termination == Termination::Reencrypt);
    let scheme = if reencrypt { "https" } else { "http" };
    let tls_client = if reencrypt {
        match state.reencrypt_client(e) {
            Ok(c) => Some(c),
            Err(err) => return upstream_failure(state, e, &err),
        }
    } else {
        None
    };
    let replayable = body.is_end_stream();
    let method = parts.method;
    let headers = parts.headers;
    let mut body = Some(body.boxed_unsync());
    let mut attempts = 0;
    let (mut resp, inflight) = loop {
        attempts += 1;
        let Some(inflight) = e.pick(fastrand::u64(..), conn.client.ip(), sticky.as_deref()) else {
            return unavailable();
        };
        let addr = inflight.endpoint().addr;
        let uri = match upstream_uri(scheme, addr, &pq) {
            Ok(u) => u,
            Err(err) => return upstream_failure(state, e, &err),
        };
        let b = match body.take() {
            Some(b) => b,
            None if replayable => Empty::new().map_err(|never| match never {}).boxed_unsync(),
            None => return unavailable(),
        };
        let mut req = Request::new(b);
        *req.method_mut() = method.clone();
        *req.headers_mut() = headers.clone();
        *req.uri_mut() = uri;
        *req.version_mut() = Version::HTTP_11;
        let fut = match &tls_client {
            Some(c) => c.request(req),
            None => state.http.request(req),
        };
        match tokio::time::timeout(e.options.timeout, fut).await {
            Ok(Ok(r)) => break (r, inflight),
            Ok(Err(source)) if source.is_connect() => {
                let err = UpstreamError::Connect { addr, source };
                if replayable && attempts < 3 {
                    tracing::debug!(route = %e.key, error = %err, "retrying on another endpoint");
                    state
                        .metrics
                        .upstream_errors
                        .get_or_create(&ErrorLabels {
                            route: e.key.to_string(),
                            kind: err.kind(),
                        })
                        .inc();
                    continue;
                }
                return upstream_failure(state, e, &err);
            }
            Ok(Err(source)) => {
                return upstream_failure(state, e, &UpstreamError::Protocol { addr, source });
            }
            Err(_) => {
                return upstream_failure(
                    state,
                    e,
                    &UpstreamError::Timeout {
                        addr,
                        timeout: e.options.timeout,
                    },
                );
            }
        }
    };
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    if switching && let Some(client_upgrade) = client_upgrade {
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        let tunnel_timeout = e.options.tunnel_timeout;
        let route = e.key.clone();
        tokio::spawn(async move {
            match tokio::join!(client_upgrade, upstream_upgrade) {
                (Ok(c), Ok(u)) => {
                    crate::tunnel::run(TokioIo::new(c), TokioIo::new(u), tunnel_timeout).await;
                }
                (c, u) => {
                    tracing::debug!(%route, client = c.is_ok(), upstream = u.is_ok(), "upgrade failed")
                }
            }
        });
    }
    strip_hop_by_hop(resp.headers_mut(), switching);
    apply_header_actions(resp.headers_mut(), &e.headers.response);
    if conn.tls
        && let Some(hsts) = &e.options.hsts
        && let Ok(v) = HeaderValue::try_from(hsts.as_str())
    {
        resp.headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, v);
    }
    if let Some(name) = cookie_name
        && sticky.as_deref() != Some(inflight.endpoint().id.as_str())
        && e.backends.iter().map(|b| b.endpoints.len()).sum::<usize>() > 1
    {
        let secure = if conn.tls { "; Secure" } else { "" };
        let v = format!(
            "{name}={}; path=/; HttpOnly; SameSite={}{secure}",
            inflight.endpoint().id,
            e.options.cookie_same_site.as_str()
        );
        if let Ok(v) = HeaderValue::try_from(v) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    drop(inflight);
    resp.map(BodyExt::boxed_unsync)
}

fn upstream_failure(state: &State, e: &RouteEntry, err: &UpstreamError) -> Response<Body> {
    tracing::debug!(route = %e.key, error = %err, kind = err.kind(), "upstream failure");
    state
        .metrics
        .upstream_errors
        .get_or_create(&ErrorLabels {
            route: e.key.to_string(),
            kind: err.kind(),
        })
        .inc();
    match err.status() {
        StatusCode::SERVICE_UNAVAILABLE => unavailable(),
        s => simple(s, s.canonical_reason().unwrap_or("Error")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites() {
        assert_eq!(rewrite_path("/foo", "/", "/foo/bar"), "/bar");
        assert_eq!(rewrite_path("/foo", "/", "/foo"), "/");
        assert_eq!(rewrite_path("/foo", "/api", "/foo/x"), "/api/x");
        assert_eq!(rewrite_path("/foo/", "/", "/foo/x"), "/x");
    }

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sticky=abc; b=2"),
        );
        assert_eq!(find_cookie(&h, "sticky").as_deref(), Some("abc"));
        assert_eq!(find_cookie(&h, "nope"), None);
    }

    #[test]
    fn hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(
            h.get(header::UPGRADE).map(|v| v.as_bytes()),
            Some(&b"websocket"[..])
        );
        assert_eq!(
            h.get(header::CONNECTION).map(|v| v.as_bytes()),
            Some(&b"upgrade"[..])
        );
    }

    fn conn(tls: bool) -> ConnInfo {
        ConnInfo {
            client: "10.1.2.3:5555".parse().expect("addr"),
            tls,
            local_port: 10443,
            new_connection: true,
        }
    }

    #[test]
    fn forwarded_policies() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        set_forwarded(
            &mut h,
            ForwardedHeaders::Append,
            &conn(true),
            "a.example.com",
        );
        let xff: Vec<_> = h.get_all("x-forwarded-for").iter().collect();
        assert_eq!(xff, ["1.1.1.1", "10.1.2.3"]);
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-port"], "10443");
        assert_eq!(h["x-forwarded-host"], "a.example.com");
        assert_eq!(
            h["forwarded"],
            "for=10.1.2.3;host=a.example.com;proto=https"
        );

        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        set_forwarded(&mut h, ForwardedHeaders::Replace, &conn(false), "a");
        assert_eq!(
            h.get_all("x-forwarded-for").iter().collect::<Vec<_>>(),
            ["10.1.2.3"]
        );

        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        set_forwarded(&mut h, ForwardedHeaders::IfNone, &conn(false), "a");
        assert!(!h.contains_key("x-forwarded-proto"));
        set_forwarded(&mut h, ForwardedHeaders::Never, &conn(false), "a");
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn hosts_from_requests() {
        let r = Request::builder()
            .uri("/x")
            .header("host", "A.Example.com:10080")
            .body(())
            .expect("req");
        assert_eq!(request_host(&r).as_deref(), Some("a.example.com"));
        let r = Request::builder()
            .uri("https://b.example.com/x")
            .body(())
            .expect("req");
        assert_eq!(request_host(&r).as_deref(), Some("b.example.com"));
        let r = Request::builder().uri("/x").body(()).expect("req");
        assert_eq!(request_host(&r), None);
    }

    #[test]
    fn redirects_keep_path_and_port() {
        let uri: Uri = "/a/b?c=d".parse().expect("uri");
        let r = redirect("x.example.com", 10443, &uri);
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(
            r.headers()[header::LOCATION],
            "https://x.example.com:10443/a/b?c=d"
        );
        let r = redirect("x.example.com", 443, &uri);
        assert_eq!(
            r.headers()[header::LOCATION],
            "https://x.example.com/a/b?c=d"
        );
    }
}
