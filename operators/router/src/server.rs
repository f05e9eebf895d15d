//! Listeners: plain HTTP (HTTP/1.1 and h2c with prior knowledge) and HTTPS, where the first
//! TLS record is read to find the SNI; passthrough routes get the raw stream spliced to an
//! endpoint, everything else is terminated with the route's certificate (or the default one)
//! and served as HTTP/1.1 or HTTP/2 (ALPN). Shutdown stops accepting, asks HTTP connections to
//! finish (graceful), and waits for all connections up to the drain timeout.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use outrigger_route_table::sni::{ClientHello, MAX_CLIENT_HELLO, parse_client_hello};
use rustls::ServerConfig;
use rustls::server::{ClientHello as RustlsClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::proxy::{ConnInfo, State, handle};

/// Chooses the serving certificate by SNI: a terminating route's own, else the default.
#[derive(Debug)]
pub struct CertResolver {
    state: Arc<State>,
    default: Arc<CertifiedKey>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("routes", &self.table.load().len())
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: RustlsClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let own = hello
            .server_name()
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .and_then(|n| self.state.table.load().certificate(&n));
        Some(own.unwrap_or_else(|| self.default.clone()))
    }
}

/// The TLS server configuration (ALPN h2 and http/1.1).
pub fn server_config(
    state: Arc<State>,
    default: Arc<CertifiedKey>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(CertResolver { state, default }));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A self-signed default certificate for `*.<domain>`, `<domain>` and `localhost`.
pub fn self_signed_default(
    domain: Option<&str>,
    provider: &rustls::crypto::CryptoProvider,
) -> anyhow::Result<Arc<CertifiedKey>> {
    let mut names = vec!["localhost".to_string()];
    if let Some(d) = domain {
        names.push(d.to_string());
        names.push(format!("*.{d}"));
    }
    let c = rcgen::generate_simple_self_signed(names)?;
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(c.signing_key.serialize_der().into());
    Ok(Arc::new(CertifiedKey::from_der(
        vec![c.cert.der().clone()],
        key,
        provider,
    )?))
}

/// A stream that replays bytes already read before reading from the socket.
struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.pos);
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Counts open connections; shutdown waits for it to reach zero.
#[derive(Clone, Default)]
pub struct Tracker(Arc<AtomicUsize>);

struct TrackGuard(Arc<AtomicUsize>, prometheus_client::metrics::gauge::Gauge);

impl Drop for TrackGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
        self.1.dec();
    }
}

impl Tracker {
    fn track(&self, state: &State) -> TrackGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        state.metrics.connections.inc();
        TrackGuard(self.0.clone(), state.metrics.connections.clone())
    }

    /// Waits until every tracked connection ended, or `timeout`.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.0.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// Open connections.
    pub fn open(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the accept loops share.
#[derive(Clone)]
pub struct Server {
    /// Data plane state.
    pub state: Arc<State>,
    /// TLS configuration.
    pub tls: Arc<ServerConfig>,
    /// Open connections.
    pub tracker: Tracker,
    /// Flips to true on shutdown.
    pub shutdown: watch::Receiver<bool>,
}

impl Server {
    async fn serve_http<I>(&self, io: I, info: ConnInfo)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let state = self.state.clone();
        let first = std::sync::atomic::AtomicBool::new(true);
        let svc = service_fn(move |req| {
            let info = ConnInfo {
                new_connection: first.swap(false, Ordering::Relaxed),
                ..info
            };
            handle(state.clone(), info, req)
        });
        let builder = auto::Builder::new(TokioExecutor::new());
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
        let mut conn = std::pin::pin!(conn);
        let mut shutdown = self.shutdown.clone();
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(client = %info.client, error = %e, "connection ended with an error");
                    }
                    return;
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.as_mut().await;
                        return;
                    }
                }
            }
        }
    }

    /// Accepts plain HTTP connections until shutdown.
    pub async fn run_http(self, listener: TcpListener) {
        let local_port = listener.local_addr().map_or(0, |a| a.port());
        let mut shutdown = self.shutdown.clone();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.changed() => return,
            };
            let (stream, client) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let this = self.clone();
            let guard = self.tracker.track(&self.state);
            tokio::spawn(async move {
                let _guard = guard;
                this.serve_http(
                    stream,
                    ConnInfo {
                        client,
                        tls: false,
                        local_port,
                        new_connection: true,
                    },
                )
                .await;
            });
        }
    }

    /// Accepts TLS connections until shutdown.
    pub async fn run_https(self, listener: TcpListener) {
        let local_port = listener.local_addr().map_or(0, |a| a.port());
        let mut shutdown = self.shutdown.clone();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.changed() => return,
            };
            let (stream, client) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let this = self.clone();
            let guard = self.tracker.track(&self.state);
            tokio::spawn(async move {
                let _guard = guard;
                if let Err(e) = this.tls_connection(stream, client, local_port).await {
                    tracing::debug!(%client, error = %e, "TLS connection failed");
                }
            });
        }
    }

    async fn tls_connection(
        &self,
        mut stream: TcpStream,
        client: SocketAddr,
        local_port: u16,
    ) -> io::Result<()> {
        let mut buf = Vec::with_capacity(1024);
        let sni = tokio::time::timeout(
            Duration::from_secs(10),
            read_client_hello(&mut stream, &mut buf),
        )
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no ClientHello within 10s"))??;
        if let Some(name) = &sni {
            let table = self.state.table.load_full();
            if let Some(route) = table.passthrough(name) {
                let route = route.clone();
                drop(table);
                return passthrough(&self.state, &route, stream, client, buf).await;
            }
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls.clone());
        let tls = tokio::time::timeout(
            Duration::from_secs(10),
            acceptor.accept(Prefixed {
                prefix: buf,
                pos: 0,
                inner: stream,
            }),
        )
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        self.serve_http(
            tls,
            ConnInfo {
                client,
                tls: true,
                local_port,
                new_connection: true,
            },
        )
        .await;
        Ok(())
    }
}

/// Reads until the first TLS record is complete; returns its SNI (lower case), if any.
async fn read_client_hello(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> io::Result<Option<String>> {
    let mut chunk = [0u8; 4096];
    loop {
        match parse_client_hello(buf) {
            ClientHello::Complete(sni) => return Ok(sni),
            ClientHello::NotTls => return Ok(None),
            ClientHello::NeedMore(n) if n > MAX_CLIENT_HELLO || buf.len() >= MAX_CLIENT_HELLO => {
                return Ok(None);
            }
            ClientHello::NeedMore(_) => {}
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before ClientHello",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn passthrough(
    state: &State,
    route: &outrigger_route_table::table::RouteEntry,
    mut client_stream: TcpStream,
    client: SocketAddr,
    hello: Vec<u8>,
) -> io::Result<()> {
    let label = crate::metrics::RouteLabels {
        route: route.key.to_string(),
    };
    let _permit = match &route.options.rate_limit {
        Some(limits) => match state.limiter.check(
            &route.key,
            client.ip(),
            limits,
            true,
            std::time::Instant::now(),
        ) {
            Ok(p) => Some(p),
            Err(limited) => {
                tracing::debug!(route = %route.key, %client, limit = limited.kind(), "passthrough connection rate limited");
                let _ = client_stream.shutdown().await;
                return Ok(());
            }
        },
        None => None,
    };
    for _ in 0..3 {
        let Some(inflight) = route.pick(fastrand::u64(..), client.ip(), None) else {
            break;
        };
        let addr = inflight.endpoint().addr;
        let upstream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await;
        let mut upstream = match upstream {
            Ok(Ok(s)) => s,
            _ => {
                state
                    .metrics
                    .upstream_errors
                    .get_or_create(&crate::metrics::ErrorLabels {
                        route: label.route.clone(),
                        kind: "connect",
                    })
                    .inc();
                continue;
            }
        };
        let _ = upstream.set_nodelay(true);
        upstream.write_all(&hello).await?;
        state
            .metrics
            .requests
            .get_or_create(&crate::metrics::RequestLabels {
                route: label.route.clone(),
                code: "tcp",
            })
            .inc();
        crate::tunnel::run(client_stream, upstream, route.options.tunnel_timeout).await;
        return Ok(());
    }
    // nothing to connect to: close the connection, like HAProxy without servers
    let _ = client_stream.shutdown().await;
    Ok(())
}
