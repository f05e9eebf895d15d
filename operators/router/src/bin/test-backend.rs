//! `outrigger-test-backend`: the backend of the router's e2e tests (see
//! `outrigger_router::testing`). Environment: `BACKEND_NAME` (default `backend`), `HTTP_ADDR`
//! (`0.0.0.0:8080`), `HTTPS_ADDR` (`0.0.0.0:8443`), `TLS_NAMES` (comma-separated names of the
//! serving certificate). Prints the CA certificate PEM that issued the serving certificate.

use std::sync::Arc;

use outrigger_router::testing;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let name = env("BACKEND_NAME", "backend");
    let names: Vec<String> = env("TLS_NAMES", "backend")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let provider = rustls::crypto::ring::default_provider();
    let pki = testing::pki(&names, &provider)?;
    println!("{}", pki.ca_pem.trim_end());
    let (http, http_addr) = testing::bind(&env("HTTP_ADDR", "0.0.0.0:8080")).await?;
    let (https, https_addr) = testing::bind(&env("HTTPS_ADDR", "0.0.0.0:8443")).await?;
    println!("serving {name} on http {http_addr} and https {https_addr} for {names:?}");
    let cert = Arc::clone(&pki.server);
    tokio::select! {
        _ = testing::serve_http(&name, http) => {}
        _ = testing::serve_https(&name, https, cert) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
