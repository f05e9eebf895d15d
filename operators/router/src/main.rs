//! `outrigger-router`: wiring only; see the library for the parts.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use outrigger_kit::admin::{self, Health};
use outrigger_kit::leader::{self, LeaderConfig};
use outrigger_kit::telemetry;
use outrigger_router::config::Args;
use outrigger_router::metrics::Metrics;
use outrigger_router::proxy::State;
use outrigger_router::server::{self, Server, Tracker};
use outrigger_router::status::{self, StatusConfig};
use outrigger_router::watch::{self, Snapshot};
use prometheus_client::registry::Registry;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch as channel};

fn load_default_certificate(
    args: &Args,
    provider: &rustls::crypto::CryptoProvider,
) -> anyhow::Result<Arc<rustls::sign::CertifiedKey>> {
    let Some(path) = &args.default_certificate else {
        return server::self_signed_default(args.domain.as_deref(), provider);
    };
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .context("default certificate PEM")?;
    let key =
        rustls_pki_types::PrivateKeyDer::from_pem_slice(&pem).context("default certificate key")?;
    Ok(Arc::new(rustls::sign::CertifiedKey::from_der(
        certs, key, provider,
    )?))
}

fn system_roots() -> Vec<CertificateDer<'static>> {
    std::fs::read("/etc/ssl/certs/ca-certificates.crt")
        .map(|pem| {
            CertificateDer::pem_slice_iter(&pem)
                .filter_map(Result::ok)
                .collect()
        })
        .unwrap_or_default()
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init(telemetry::Format::from_env())?;
    let admission = args
        .admission()
        .context("invalid ROUTE_LABELS/NAMESPACE_LABELS")?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), router = %args.router_name, domain = ?args.domain, "starting outrigger-router");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let default_cert = load_default_certificate(&args, &provider)?;

    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let health = Health::default();
    let https_port = args.public_https_port.unwrap_or(args.https_addr.port());
    let state = Arc::new(State::new(
        metrics.clone(),
        provider.clone(),
        system_roots(),
        https_port,
        args.access_log,
    ));

    let (stop_tx, stop_rx) = channel::channel(false);
    let admin_stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let admin = tokio::spawn(admin::serve(
        args.admin_addr,
        Arc::new(registry),
        health.clone(),
        admin_stop,
    ));

    let client = kube::Client::try_default()
        .await
        .context("connecting to the API server")?;
    let notify = Arc::new(Notify::new());
    let caches = watch::start(&client, notify.clone());
    caches.ready().await?;
    let first = watch::rebuild(&caches, &admission, &provider, &state);
    tracing::info!(
        routes = state.table.load().len(),
        "caches synced, table built"
    );
    let (snap_tx, snap_rx) = channel::channel(Arc::new(first));
    tokio::spawn(watch::run(
        caches,
        admission,
        provider.clone(),
        state.clone(),
        notify,
        snap_tx,
    ));

    if args.write_status {
        let (lead_tx, lead_rx) = channel::channel(args.leader_election_namespace.is_none());
        if let Some(ns) = &args.leader_election_namespace {
            let cfg =
                LeaderConfig::new(ns.clone(), format!("outrigger-router-{}", args.router_name));
            tokio::spawn(leader::run(client.clone(), cfg, lead_tx));
        } else {
            drop(lead_tx);
        }
        let cfg = StatusConfig {
            router_name: args.router_name.clone(),
            canonical_hostname: args.canonical_hostname.clone(),
        };
        let snap_rx: channel::Receiver<Arc<Snapshot>> = snap_rx;
        tokio::spawn(status::run(
            client.clone(),
            cfg,
            metrics.clone(),
            snap_rx,
            lead_rx,
        ));
    }

    let tls = server::server_config(state.clone(), default_cert, provider.clone())?;
    let tracker = Tracker::default();
    let srv = Server {
        state: state.clone(),
        tls,
        tracker: tracker.clone(),
        shutdown: stop_rx,
    };
    let http = TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("binding {}", args.http_addr))?;
    let https = TcpListener::bind(args.https_addr)
        .await
        .with_context(|| format!("binding {}", args.https_addr))?;
    tracing::info!(http = %args.http_addr, https = %args.https_addr, admin = %args.admin_addr, "listening");
    let http_task = tokio::spawn(srv.clone().run_http(http));
    let https_task = tokio::spawn(srv.run_https(https));
    health.set_ready(true);

    shutdown_signal().await;
    tracing::info!(
        open = tracker.open(),
        drain_s = args.drain_seconds,
        "shutting down: draining connections"
    );
    health.set_ready(false);
    let _ = stop_tx.send(true);
    let _ = tokio::join!(http_task, https_task);
    if !tracker.drain(args.drain()).await {
        tracing::warn!(
            open = tracker.open(),
            "drain timeout: closing remaining connections"
        );
    }
    admin.abort();
    Ok(())
}
