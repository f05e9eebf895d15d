//! `outrigger-imagestream`: the ImageStream controller, run by the leader of the
//! `outrigger-imagestream` Lease, with the admin server (`/metrics`, `/healthz`, `/readyz`).
//! Every flag has an environment fallback (see `--help`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client};
use outrigger_api::image::ImageStream;
use outrigger_imagestream::controller::{
    self, Context, ImportMetrics, ReferrerIndex, TriggerIndex, map_referrers, map_workload,
};
use outrigger_imagestream::error::Error;
use outrigger_imagestream::import::Importer;
use outrigger_imagestream::triggers::WorkloadKind;
use outrigger_kit::metrics::ReconcileMetrics;

/// ImageStream controller: imports tags, keeps tag history, fires image triggers.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address of the admin server.
    #[arg(long, env = "ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    admin_addr: SocketAddr,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "outrigger-system")]
    namespace: String,
    /// In-cluster registry host[:port]; streams get status.dockerImageRepository
    /// `<registry>/<namespace>/<name>`. Empty: none.
    #[arg(long, env = "INTERNAL_REGISTRY", default_value = "")]
    internal_registry: String,
    /// Seconds between scheduled imports (OpenShift: 900).
    #[arg(long, env = "SCHEDULED_IMPORT_INTERVAL_SECONDS", default_value_t = 900)]
    scheduled_interval_seconds: u64,
    /// Imports in flight at most, over all streams.
    #[arg(long, env = "IMPORT_CONCURRENCY", default_value_t = 4)]
    import_concurrency: usize,
    /// Seconds one import may take.
    #[arg(long, env = "IMPORT_TIMEOUT_SECONDS", default_value_t = 60)]
    import_timeout_seconds: u64,
    /// Platform `os/arch` picked from manifest lists in Legacy mode (default: this process's).
    #[arg(long, env = "NODE_PLATFORM")]
    node_platform: Option<String>,
    /// Streams reconciled at once.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value_t = 4)]
    reconcile_concurrency: u16,
    /// Address of the `lookupPolicy.local` admission webhook (TLS); empty: not served.
    #[arg(long, env = "WEBHOOK_ADDR", default_value = "")]
    webhook_addr: String,
    /// PEM certificate chain of the webhook.
    #[arg(
        long,
        env = "WEBHOOK_CERT_FILE",
        default_value = "/etc/outrigger/webhook/tls.crt"
    )]
    webhook_cert: std::path::PathBuf,
    /// PEM private key of the webhook.
    #[arg(
        long,
        env = "WEBHOOK_KEY_FILE",
        default_value = "/etc/outrigger/webhook/tls.key"
    )]
    webhook_key: std::path::PathBuf,
    /// Seconds between periodic re-checks of every stream.
    #[arg(long, env = "RESYNC_SECONDS", default_value_t = 600)]
    resync_seconds: u64,
}

fn own_platform() -> (String, String) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    };
    (std::env::consts::OS.to_owned(), arch.to_owned())
}

fn error_policy(_: Arc<ImageStream>, err: &Error, _: Arc<Context>) -> Action {
    if err.category() == "Conflict" {
        // the stream changed while it was reconciled: do it again from the new version
        tracing::debug!(error = %err, "status write conflicted; reconciling again");
        return Action::requeue(Duration::from_millis(500));
    }
    tracing::warn!(category = err.category(), error = %err, "reconcile failed");
    outrigger_kit::error::requeue_action(err, 2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    outrigger_kit::telemetry::init(outrigger_kit::telemetry::Format::from_env())
        .context("installing the log subscriber")?;
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a TLS crypto provider was already installed"))?;
    let args = Args::parse();
    let node_platform = match args.node_platform.as_deref() {
        Some(p) => {
            let (os, arch) = p
                .split_once('/')
                .context("NODE_PLATFORM must be <os>/<arch>")?;
            (os.to_owned(), arch.to_owned())
        }
        None => own_platform(),
    };
    let client = Client::try_default()
        .await
        .context("connecting to the API server")?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        ?args,
        "starting outrigger-imagestream"
    );

    let mut registry = prometheus_client::registry::Registry::with_prefix("outrigger");
    let metrics = Arc::new(ReconcileMetrics::register(&mut registry));
    let import_metrics = ImportMetrics::register(&mut registry);
    let health = outrigger_kit::admin::Health::default();
    tokio::spawn(outrigger_kit::admin::serve(
        args.admin_addr,
        Arc::new(registry),
        health.clone(),
        std::future::pending(),
    ));

    // every replica serves the webhook (it only reads streams)
    if !args.webhook_addr.is_empty() {
        let addr: SocketAddr = args.webhook_addr.parse().context("WEBHOOK_ADDR")?;
        let (cert, key, c) = (
            args.webhook_cert.clone(),
            args.webhook_key.clone(),
            client.clone(),
        );
        tokio::spawn(async move {
            if let Err(e) =
                outrigger_imagestream::webhook::serve(addr, &cert, &key, c, std::future::pending())
                    .await
            {
                tracing::error!(error = %e, "the lookupPolicy.local webhook is not served");
            }
        });
    }

    let (tx, mut leading) = tokio::sync::watch::channel(false);
    tokio::spawn(outrigger_kit::leader::run(
        client.clone(),
        outrigger_kit::leader::LeaderConfig::new(args.namespace.clone(), "outrigger-imagestream"),
        tx,
    ));
    while !*leading.borrow() {
        leading.changed().await.context("leader election stopped")?;
    }
    tracing::info!("leading; starting the controller");
    health.set_ready(true);

    let index = Arc::new(Mutex::new(TriggerIndex::default()));
    let referrers = Arc::new(Mutex::new(ReferrerIndex::default()));
    let ctx = Arc::new(Context::new(
        client.clone(),
        Recorder::new(
            client.clone(),
            Reporter {
                controller: "imagestream-controller".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        ),
        Importer::new(
            args.import_concurrency,
            Duration::from_secs(args.import_timeout_seconds),
        ),
        controller::Config {
            internal_registry: Some(args.internal_registry.clone()).filter(|r| !r.is_empty()),
            scheduled_interval: Duration::from_secs(args.scheduled_interval_seconds.max(1)),
            node_platform,
            resync: Duration::from_secs(args.resync_seconds.max(10)),
        },
        index.clone(),
        referrers.clone(),
        import_metrics,
    ));

    let cfg = watcher::Config::default();
    let (i1, i2, i3, i4, i5) = (
        index.clone(),
        index.clone(),
        index.clone(),
        index.clone(),
        index,
    );
    let m = metrics.clone();
    let run = Controller::new(Api::<ImageStream>::all(client.clone()), cfg.clone())
        .with_config(ControllerConfig::default().concurrency(args.reconcile_concurrency))
        .watches(
            Api::<ImageStream>::all(client.clone()),
            cfg.clone(),
            move |o| map_referrers(&referrers, &o),
        )
        .watches(
            Api::<Deployment>::all(client.clone()),
            cfg.clone(),
            move |o| map_workload(&i1, &o, WorkloadKind::Deployment),
        )
        .watches(
            Api::<StatefulSet>::all(client.clone()),
            cfg.clone(),
            move |o| map_workload(&i2, &o, WorkloadKind::StatefulSet),
        )
        .watches(
            Api::<DaemonSet>::all(client.clone()),
            cfg.clone(),
            move |o| map_workload(&i3, &o, WorkloadKind::DaemonSet),
        )
        .watches(Api::<Job>::all(client.clone()), cfg.clone(), move |o| {
            map_workload(&i4, &o, WorkloadKind::Job)
        })
        .watches(Api::<CronJob>::all(client.clone()), cfg, move |o| {
            map_workload(&i5, &o, WorkloadKind::CronJob)
        })
        .shutdown_on_signal()
        .run(
            move |is, ctx| {
                let m = m.clone();
                async move {
                    let t = Instant::now();
                    let r = controller::reconcile(is, ctx).await;
                    m.record(
                        "imagestream",
                        t.elapsed(),
                        r.as_ref().err().map(Error::category),
                    );
                    r
                }
            },
            error_policy,
            ctx,
        )
        .for_each(|r| async move {
            match r {
                Ok((obj, _)) => tracing::debug!(stream = %obj.name, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "imagestream controller"),
            }
        });

    let lost = outrigger_kit::leader::until_lost(leading);
    tokio::select! {
        _ = run => tracing::info!("controller stopped"),
        _ = lost => anyhow::bail!("lost leadership; exiting so that a fresh process can campaign"),
    }
    Ok(())
}
