//! `outrigger-deploymentconfig`: the DeploymentConfig controller and the deployer controller,
//! run by the leader of the `outrigger-deploymentconfig` Lease, with the admin server
//! (`/metrics`, `/healthz`, `/readyz`) on `$ADMIN_ADDR` (default `0.0.0.0:8080`).
//!
//! Environment: `DEPLOYER_IMAGE` (image of deployer pods, required), `DEPLOYER_IMAGE_PULL_POLICY`
//! (default: OpenShift's `IfNotPresent`), `POD_NAMESPACE` (where the
//! Lease lives, default `outrigger-system`), `RUST_LOG`, `OUTRIGGER_LOG_FORMAT`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt as _};
use outrigger_api::apps::DeploymentConfig;
use outrigger_api::image::ImageStream;
use outrigger_deploymentconfig::error::Error;
use outrigger_deploymentconfig::keys::{DEPLOYER_POD_FOR_LABEL, DEPLOYMENT_CONFIG_ANNOTATION};
use outrigger_deploymentconfig::{controller, deployer_controller};
use outrigger_kit::metrics::ReconcileMetrics;

fn error_policy<K>(_: Arc<K>, err: &Error, _: Arc<impl Sized>) -> Action {
    tracing::warn!(category = err.category(), error = %err, "reconcile failed");
    outrigger_kit::error::requeue_action(err, 2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    outrigger_kit::telemetry::init(outrigger_kit::telemetry::Format::from_env())
        .context("installing the log subscriber")?;
    let deployer_image =
        std::env::var("DEPLOYER_IMAGE").context("DEPLOYER_IMAGE must name the deployer image")?;
    let namespace = std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "outrigger-system".into());
    let admin: SocketAddr = std::env::var("ADMIN_ADDR")
        .unwrap_or_else(|_| "0.0.0.0:8080".into())
        .parse()
        .context("ADMIN_ADDR")?;
    let client = Client::try_default()
        .await
        .context("connecting to the API server")?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), %deployer_image, "starting outrigger-deploymentconfig");

    let mut registry = prometheus_client::registry::Registry::with_prefix("outrigger");
    let metrics = Arc::new(ReconcileMetrics::register(&mut registry));
    let health = outrigger_kit::admin::Health::default();
    tokio::spawn(outrigger_kit::admin::serve(
        admin,
        Arc::new(registry),
        health.clone(),
        std::future::pending(),
    ));

    // Ready means "up": a follower waiting for the lease must be ready too, or a rolling update
    // of a single-replica Deployment waits forever for a new pod that cannot lead while the old
    // one holds the lease.
    health.set_ready(true);
    let (tx, mut leading) = tokio::sync::watch::channel(false);
    tokio::spawn(outrigger_kit::leader::run(
        client.clone(),
        outrigger_kit::leader::LeaderConfig::new(namespace, "outrigger-deploymentconfig"),
        tx,
    ));
    while !*leading.borrow() {
        leading.changed().await.context("leader election stopped")?;
    }
    tracing::info!("leading; starting controllers");

    let reporter = Reporter {
        controller: "deploymentconfig-controller".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let dc_ctx = Arc::new(controller::Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter.clone()),
        bootstrapped: Mutex::new(HashSet::new()),
    });
    let deployer_ctx = Arc::new(deployer_controller::Context {
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "deployer-controller".into(),
                instance: reporter.instance.clone(),
            },
        ),
        deployer_image,
        deployer_pull_policy: std::env::var("DEPLOYER_IMAGE_PULL_POLICY")
            .ok()
            .filter(|p| !p.is_empty()),
    });

    let rc_cfg = watcher::Config::default().labels(DEPLOYMENT_CONFIG_ANNOTATION);
    let dcs = Controller::new(
        Api::<DeploymentConfig>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<ReplicationController>::all(client.clone()),
        rc_cfg.clone(),
    );
    let store = dcs.store();
    let m = metrics.clone();
    let dc_loop = dcs
        .watches(
            Api::<ImageStream>::all(client.clone()),
            watcher::Config::default(),
            move |is| {
                let ns = is.namespace().unwrap_or_default();
                let name = is.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|dc| controller::follows_stream(dc, &ns, &name))
                    .map(|dc| ObjectRef::from_obj(&*dc))
                    .collect::<Vec<_>>()
            },
        )
        .shutdown_on_signal()
        .run(
            move |dc, ctx| {
                let m = m.clone();
                async move {
                    let t = Instant::now();
                    let r = controller::reconcile(dc, ctx).await;
                    m.record(
                        "deploymentconfig",
                        t.elapsed(),
                        r.as_ref().err().map(Error::category),
                    );
                    r
                }
            },
            error_policy,
            dc_ctx,
        )
        .for_each(|r| async move {
            match r {
                Ok((obj, _)) => tracing::debug!(dc = %obj.name, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "deploymentconfig controller"),
            }
        });

    let m = metrics.clone();
    let deployer_loop = Controller::new(Api::<ReplicationController>::all(client.clone()), rc_cfg)
        .watches(
            Api::<Pod>::all(client.clone()),
            watcher::Config::default().labels(DEPLOYER_POD_FOR_LABEL),
            |pod| {
                let ns = pod.namespace().unwrap_or_default();
                pod.labels()
                    .get(DEPLOYER_POD_FOR_LABEL)
                    .map(|rc| ObjectRef::<ReplicationController>::new(rc).within(&ns))
            },
        )
        .shutdown_on_signal()
        .run(
            move |rc, ctx| {
                let m = m.clone();
                async move {
                    let t = Instant::now();
                    let r = deployer_controller::reconcile(rc, ctx).await;
                    m.record(
                        "deployer",
                        t.elapsed(),
                        r.as_ref().err().map(Error::category),
                    );
                    r
                }
            },
            error_policy,
            deployer_ctx,
        )
        .for_each(|r| async move {
            match r {
                Ok((obj, _)) => tracing::debug!(rc = %obj.name, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "deployer controller"),
            }
        });

    let lost = outrigger_kit::leader::until_lost(leading);
    tokio::select! {
        _ = futures::future::join(dc_loop, deployer_loop) => tracing::info!("controllers stopped"),
        _ = lost => anyhow::bail!("lost leadership; exiting so that a fresh process can campaign"),
    }
    Ok(())
}
