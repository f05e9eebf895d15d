//! The data plane end to end, in-process and on loopback only: real listeners, real TLS, real
//! backends (`outrigger_router::testing`), a routing table set directly (no cluster).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use outrigger_api::route::Route;
use outrigger_route_table::ObjectKey;
use outrigger_route_table::admission::{AdmissionConfig, admit};
use outrigger_route_table::table::{
    EndpointPort, ReadyEndpoint, RouteTable, ServiceEndpoints, ServicePort,
};
use outrigger_router::metrics::Metrics;
use outrigger_router::proxy::State;
use outrigger_router::server::{Server, Tracker, self_signed_default, server_config};
use outrigger_router::testing;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

struct Router {
    http: SocketAddr,
    https: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    tracker: Tracker,
}

async fn start_router() -> Router {
    let provider = provider();
    let mut registry = prometheus_client::registry::Registry::default();
    let state = Arc::new(State::new(
        Metrics::register(&mut registry),
        provider.clone(),
        Vec::new(),
        443,
        false,
    ));
    let default = self_signed_default(Some("test"), &provider).expect("default certificate");
    let tls = server_config(state.clone(), default, provider).expect("tls config");
    let (stop, rx) = watch::channel(false);
    let tracker = Tracker::default();
    let srv = Server {
        state: state.clone(),
        tls,
        tracker: tracker.clone(),
        shutdown: rx,
    };
    let (hl, http) = testing::bind("127.0.0.1:0").await.expect("bind");
    let (sl, https) = testing::bind("127.0.0.1:0").await.expect("bind");
    tokio::spawn(srv.clone().run_http(hl));
    tokio::spawn(srv.run_https(sl));
    Router {
        http,
        https,
        state,
        stop,
        tracker,
    }
}

struct Backend {
    http: SocketAddr,
    https: SocketAddr,
    ca_pem: String,
}

async fn start_backend(name: &str, tls_names: &[&str]) -> Backend {
    let names: Vec<String> = tls_names.iter().map(|s| s.to_string()).collect();
    let pki = testing::pki(&names, &provider()).expect("pki");
    let (hl, http) = testing::bind("127.0.0.1:0").await.expect("bind");
    let (sl, https) = testing::bind("127.0.0.1:0").await.expect("bind");
    let n = name.to_string();
    tokio::spawn(async move { testing::serve_http(&n, hl).await });
    let n = name.to_string();
    let cert = pki.server.clone();
    tokio::spawn(async move { testing::serve_https(&n, sl, cert).await });
    Backend {
        http,
        https,
        ca_pem: pki.ca_pem,
    }
}

fn route(name: &str, spec: serde_json::Value) -> Route {
    serde_json::from_value(json!({
        "apiVersion": "route.openshift.io/v1", "kind": "Route",
        "metadata": {"name": name, "namespace": "ns", "uid": name},
        "spec": spec,
    }))
    .expect("route")
}

fn service(addrs: &[SocketAddr]) -> ServiceEndpoints {
    ServiceEndpoints {
        service_ports: Some(vec![ServicePort {
            name: Some("http".into()),
            port: 80,
            target_port: None,
        }]),
        endpoints: addrs
            .iter()
            .map(|a| ReadyEndpoint {
                ip: a.ip(),
                ports: vec![EndpointPort {
                    name: Some("http".into()),
                    port: a.port(),
                }],
            })
            .collect(),
    }
}

fn set_table(state: &State, routes: &[Route], services: &[(&str, ServiceEndpoints)]) {
    let a = admit(
        &AdmissionConfig::default(),
        routes,
        &Default::default(),
        &provider(),
    );
    assert_eq!(
        a.admitted.len(),
        routes.len(),
        "all admitted: {:?}",
        a.decisions
    );
    let services = services
        .iter()
        .map(|(n, s)| (ObjectKey::new("ns", *n), s.clone()))
        .collect();
    state
        .table
        .store(Arc::new(RouteTable::build(&a.admitted, &services)));
}

async fn get(
    addr: SocketAddr,
    host: &str,
    path: &str,
) -> Result<(u16, String), Box<dyn std::error::Error + Send + Sync>> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::builder()
        .uri(format!("http://{addr}{path}"))
        .header("host", host)
        .body(Empty::new())?;
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[derive(Debug)]
struct AcceptAnything;

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS client trusting `ca_pem`, or anything when `None`.
fn tls_client(ca_pem: Option<&str>) -> tokio_rustls::TlsConnector {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let cfg = match ca_pem {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(c.expect("pem")).expect("root");
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything))
            .with_no_client_auth(),
    };
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

/// One HTTP/1.1 GET over TLS with SNI `host`; returns the raw response.
async fn https_get(
    addr: SocketAddr,
    host: &str,
    ca_pem: Option<&str>,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(host.to_string())?;
    let mut tls = tls_client(ca_pem).connect(name, tcp).await?;
    tls.write_all(
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), tls.read_to_string(&mut out)).await??;
    Ok(out)
}

#[tokio::test]
async fn http1_and_h2c_by_host_and_path() -> TestResult {
    let router = start_router().await;
    let a = start_backend("a", &["a"]).await;
    let b = start_backend("b", &["b"]).await;
    set_table(
        &router.state,
        &[
            route("root", json!({"host": "www.test", "to": {"name": "a"}})),
            route(
                "api",
                json!({"host": "www.test", "path": "/api", "to": {"name": "b"}}),
            ),
        ],
        &[("a", service(&[a.http])), ("b", service(&[b.http]))],
    );
    assert_eq!(
        get(router.http, "www.test", "/").await?,
        (200, "a http / xfp=http\n".into())
    );
    assert_eq!(
        get(router.http, "WWW.test:80", "/api/x").await?,
        (200, "b http /api/x xfp=http\n".into())
    );
    assert_eq!(get(router.http, "other.test", "/").await?.0, 503);

    // h2c with prior knowledge: the host comes from :authority
    let io = hyper_util::rt::TokioIo::new(TcpStream::connect(router.http).await?);
    let (mut h2, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri("http://www.test/api")
        .body(Empty::<Bytes>::new())?;
    let resp = h2.send_request(req).await?;
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(
        resp.into_body().collect().await?.to_bytes(),
        Bytes::from("b http /api xfp=http\n")
    );
    Ok(())
}

#[tokio::test]
async fn websocket_upgrade_is_tunnelled() -> TestResult {
    let router = start_router().await;
    let a = start_backend("a", &["a"]).await;
    set_table(
        &router.state,
        &[route("ws", json!({"host": "ws.test", "to": {"name": "a"}}))],
        &[("a", service(&[a.http]))],
    );
    let mut s = TcpStream::connect(router.http).await?;
    s.write_all(b"GET /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").await?;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await??;
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    for msg in [&b"frame one"[..], b"frame two"] {
        s.write_all(msg).await?;
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut got)).await??;
        assert_eq!(got, msg);
    }
    Ok(())
}

#[tokio::test]
async fn passthrough_splices_tls_to_the_backend() -> TestResult {
    let router = start_router().await;
    let be = start_backend("pt", &["pt.test"]).await;
    set_table(
        &router.state,
        &[route(
            "pt",
            json!({"host": "pt.test", "to": {"name": "pt"}, "tls": {"termination": "passthrough"}}),
        )],
        &[("pt", service(&[be.https]))],
    );
    // trusting only the backend's CA proves the backend's own certificate is served
    let resp = https_get(router.https, "pt.test", Some(&be.ca_pem)).await?;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("pt https sni=pt.test /"), "{resp}");
    // plain HTTP to a passthrough route without Redirect: not served
    assert_eq!(get(router.http, "pt.test", "/").await?.0, 503);
    Ok(())
}

#[tokio::test]
async fn reencrypt_checks_the_destination_ca() -> TestResult {
    let router = start_router().await;
    let be = start_backend("re", &["re.ns.svc"]).await;
    let other = start_backend("x", &["x"]).await;
    set_table(
        &router.state,
        &[
            route(
                "good",
                json!({"host": "re.test", "to": {"name": "re"},
                "tls": {"termination": "reencrypt", "destinationCACertificate": be.ca_pem}}),
            ),
            route(
                "bad",
                json!({"host": "bad.test", "to": {"name": "re"},
                "tls": {"termination": "reencrypt", "destinationCACertificate": other.ca_pem}}),
            ),
        ],
        &[("re", service(&[be.https]))],
    );
    let resp = https_get(router.https, "re.test", None).await?;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains("re https sni=re.ns.svc / xfp=https"),
        "{resp}"
    );
    let resp = https_get(router.https, "bad.test", None).await?;
    assert!(
        resp.starts_with("HTTP/1.1 503"),
        "a backend certificate from another CA is refused: {resp}"
    );
    Ok(())
}

#[tokio::test]
async fn edge_serves_the_route_certificate_and_redirects() -> TestResult {
    let router = start_router().await;
    let be = start_backend("e", &["e"]).await;
    let own = testing::pki(&["own.test".to_string()], &provider())?;
    let (cert_pem, key_pem) = (own.cert_pem.clone(), own.key_pem.clone());
    set_table(
        &router.state,
        &[
            route(
                "own",
                json!({"host": "own.test", "to": {"name": "e"},
                "tls": {"termination": "edge", "certificate": cert_pem, "key": key_pem, "insecureEdgeTerminationPolicy": "Redirect"}}),
            ),
            route(
                "default",
                json!({"host": "default.test", "to": {"name": "e"}, "tls": {}}),
            ),
        ],
        &[("e", service(&[be.http]))],
    );
    let resp = https_get(router.https, "own.test", Some(&own.ca_pem)).await?;
    assert!(resp.contains("e http / xfp=https"), "{resp}");
    assert!(
        https_get(router.https, "default.test", Some(&own.ca_pem))
            .await
            .is_err(),
        "default certificate is not the route's"
    );
    assert!(
        https_get(router.https, "default.test", None)
            .await?
            .starts_with("HTTP/1.1 200")
    );
    let (status, _) = get(router.http, "own.test", "/x").await?;
    assert_eq!(status, 302);
    assert_eq!(
        get(router.http, "default.test", "/").await?.0,
        503,
        "insecure policy None"
    );
    Ok(())
}

#[tokio::test]
async fn table_swaps_under_load_lose_nothing() -> TestResult {
    let router = Arc::new(start_router().await);
    let a = start_backend("a", &["a"]).await;
    let b = start_backend("b", &["b"]).await;
    let services = [("a", service(&[a.http])), ("b", service(&[b.http]))];
    let to = |svc: &str| {
        vec![route(
            "r",
            json!({"host": "swap.test", "to": {"name": svc}}),
        )]
    };
    set_table(&router.state, &to("a"), &services);
    let ok = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (router, ok) = (router.clone(), ok.clone());
        workers.push(tokio::spawn(async move {
            let client: Client<_, Empty<Bytes>> =
                Client::builder(TokioExecutor::new()).build_http();
            for _ in 0..300 {
                let req = http::Request::builder()
                    .uri(format!("http://{}/", router.http))
                    .header("host", "swap.test")
                    .body(Empty::new())
                    .expect("request");
                let resp = client
                    .request(req)
                    .await
                    .expect("request failed during a table swap");
                assert_eq!(resp.status(), 200);
                let _ = resp.into_body().collect().await.expect("body");
                ok.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for i in 0..100 {
        set_table(
            &router.state,
            &to(if i % 2 == 0 { "b" } else { "a" }),
            &services,
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for w in workers {
        w.await?;
    }
    assert_eq!(ok.load(Ordering::Relaxed), 1200);
    Ok(())
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight() -> TestResult {
    let router = start_router().await;
    let a = start_backend("a", &["a"]).await;
    set_table(
        &router.state,
        &[route(
            "r",
            json!({"host": "slow.test", "to": {"name": "a"}}),
        )],
        &[("a", service(&[a.http]))],
    );
    let addr = router.http;
    let slow = tokio::spawn(async move {
        get(addr, "slow.test", "/slow")
            .await
            .map_err(|e| e.to_string())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    router.stop.send(true)?;
    let (status, body) = slow.await??;
    assert_eq!((status, body.as_str()), (200, "a http /slow xfp=http\n"));
    assert!(
        router.tracker.drain(Duration::from_secs(5)).await,
        "connections drained"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(router.http).await.is_err(),
        "listener closed after shutdown"
    );
    Ok(())
}

#[tokio::test]
async fn rate_limit_annotations_are_enforced() -> TestResult {
    let router = start_router().await;
    let a = start_backend("a", &["a"]).await;
    let mut r = route(
        "limited",
        json!({"host": "limited.test", "to": {"name": "a"}}),
    );
    r.metadata.annotations = Some(
        [
            ("haproxy.router.openshift.io/rate-limit-connections", "true"),
            (
                "haproxy.router.openshift.io/rate-limit-connections.rate-http",
                "3",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    set_table(&router.state, &[r], &[("a", service(&[a.http]))]);
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(get(router.http, "limited.test", "/").await?.0);
    }
    assert_eq!(codes, vec![200, 200, 200, 429, 429]);
    Ok(())
}

#[tokio::test]
async fn http_header_actions_apply_to_requests_and_responses() -> TestResult {
    let router = start_router().await;
    let a = start_backend("a", &["a"]).await;
    set_table(
        &router.state,
        &[route(
            "hdr",
            json!({"host": "hdr.test", "to": {"name": "a"}, "httpHeaders": {"actions": {
            "request": [{"name": "X-Env", "action": {"type": "Set", "set": {"value": "%[req.hdr(Host),lower]-prod"}}}],
            "response": [{"name": "X-Length", "action": {"type": "Set", "set": {"value": "len=%[res.hdr(Content-Length)]"}}},
                         {"name": "X-Tmp", "action": {"type": "Set", "set": {"value": "1"}}},
                         {"name": "X-Tmp", "action": {"type": "Delete"}}]}}}),
        )],
        &[("a", service(&[a.http]))],
    );
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::builder()
        .uri(format!("http://{}/", router.http))
        .header("host", "HDR.test")
        .body(Empty::new())?;
    let resp = client.request(req).await?;
    let length = resp
        .headers()
        .get("x-length")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert!(
        resp.headers().get("x-tmp").is_none(),
        "actions apply in order"
    );
    let body = resp.into_body().collect().await?.to_bytes();
    assert_eq!(body, Bytes::from("a http / xfp=http x-env=hdr.test-prod\n"));
    assert_eq!(length, Some(format!("len={}", body.len())));
    Ok(())
}

#[tokio::test]
async fn sticky_cookie_keeps_a_client_on_its_endpoint() -> TestResult {
    let router = start_router().await;
    let a = start_backend("a", &["a"]).await;
    let b = start_backend("b", &["b"]).await;
    // one Service with two endpoints, round robin
    let mut r = route(
        "sticky",
        json!({"host": "sticky.test", "to": {"name": "s"}}),
    );
    r.metadata.annotations = Some(
        [(
            "haproxy.router.openshift.io/balance".to_string(),
            "roundrobin".to_string(),
        )]
        .into(),
    );
    set_table(&router.state, &[r], &[("s", service(&[a.http, b.http]))]);
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let send = |cookie: Option<String>| {
        let mut req = http::Request::builder()
            .uri(format!("http://{}/", router.http))
            .header("host", "sticky.test");
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        client.request(req.body(Empty::new()).expect("request"))
    };
    let first = send(None).await?;
    let set_cookie = first
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or("no sticky cookie")?;
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=None"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_string();
    let who = first.into_body().collect().await?.to_bytes();
    for _ in 0..10 {
        let resp = send(Some(cookie.clone())).await?;
        assert!(
            resp.headers().get("set-cookie").is_none(),
            "no new cookie while sticky"
        );
        assert_eq!(resp.into_body().collect().await?.to_bytes(), who);
    }
    // without the cookie, round robin reaches both
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        seen.insert(send(None).await?.into_body().collect().await?.to_bytes());
    }
    assert_eq!(seen.len(), 2);
    Ok(())
}
