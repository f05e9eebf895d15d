//! A small backend for the router's tests and the e2e image `outrigger/test-backend`: answers
//! every HTTP/1.1 request (plain or over TLS) with `<name> <scheme> <path>` (`scheme` is `http`,
//! or `https` plus the SNI it saw), delays `/slow` by a second, and turns a request with
//! `Upgrade` into a raw echo tunnel after `101 Switching Protocols` (what a WebSocket needs from
//! the router: the upgrade handshake and an opaque byte stream). The TLS certificate is issued by
//! a fresh CA whose PEM is returned (and printed by the binary) for `destinationCACertificate`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::ServerConfig;
use tokio::net::TcpListener;

/// A CA and a serving certificate it issued.
pub struct TestPki {
    /// PEM of the CA certificate.
    pub ca_pem: String,
    /// PEM of the serving certificate.
    pub cert_pem: String,
    /// PEM of the serving certificate's key.
    pub key_pem: String,
    /// The serving certificate chain and key, ready for rustls.
    pub server: Arc<rustls::sign::CertifiedKey>,
}

/// Issues a CA and a serving certificate for `names`.
pub fn pki(names: &[String], provider: &rustls::crypto::CryptoProvider) -> anyhow::Result<TestPki> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "outrigger test backend CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().map_or("backend", String::as_str),
    );
    let cert = params.signed_by(&key, &issuer)?;
    let der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let server = rustls::sign::CertifiedKey::from_der(vec![cert.der().clone()], der, provider)?;
    Ok(TestPki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        server: Arc::new(server),
    })
}

async fn answer(
    name: Arc<str>,
    scheme: Arc<str>,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.headers().contains_key(http::header::UPGRADE) {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on_upgrade.await {
                let (mut r, mut w) = tokio::io::split(TokioIo::new(up));
                let _ = tokio::io::copy(&mut r, &mut w).await;
            }
        });
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let proto = req.headers().get(http::header::UPGRADE).cloned();
        if let Some(p) = proto {
            resp.headers_mut().insert(http::header::UPGRADE, p);
        }
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("upgrade"),
        );
        return Ok(resp);
    }
    if req.uri().path() == "/slow" {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let forwarded = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(|v| format!(" xfp={v}"))
        .unwrap_or_default();
    let env = req
        .headers()
        .get("x-env")
        .and_then(|v| v.to_str().ok())
        .map(|v| format!(" x-env={v}"))
        .unwrap_or_default();
    Ok(Response::new(Full::new(Bytes::from(format!(
        "{name} {scheme} {}{forwarded}{env}\n",
        req.uri().path()
    )))))
}

/// Serves plain HTTP on `listener` until the task is dropped.
pub async fn serve_http(name: &str, listener: TcpListener) {
    let name: Arc<str> = name.into();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let name = name.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| answer(name.clone(), "http".into(), req));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Serves HTTPS (HTTP/1.1) with `cert` on `listener` until the task is dropped.
pub async fn serve_https(name: &str, listener: TcpListener, cert: Arc<rustls::sign::CertifiedKey>) {
    let name: Arc<str> = name.into();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg =
        match ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
            Ok(b) => b
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(cert))),
            Err(e) => {
                tracing::error!(error = %e, "TLS config");
                return;
            }
        };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, name) = (acceptor.clone(), name.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let sni = tls.get_ref().1.server_name().unwrap_or("-").to_string();
            let scheme: Arc<str> = format!("https sni={sni}").into();
            let svc = service_fn(move |req| answer(name.clone(), scheme.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .with_upgrades()
                .await;
        });
    }
}

/// Binds `addr` and returns the listener and its address.
pub async fn bind(addr: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}
