//! Keeping the table current: reflectors on Routes, Services, EndpointSlices and Namespaces;
//! every change (coalesced for a few milliseconds) rebuilds admission and the table from the
//! caches and swaps the table in one atomic store, so requests in flight keep the table they
//! started with and new ones see the new one — no restart, no dropped request.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use outrigger_api::route::Route;
use outrigger_route_table::ObjectKey;
use outrigger_route_table::admission::{AdmissionConfig, Decision, admit};
use outrigger_route_table::table::{
    EndpointPort, ReadyEndpoint, RouteTable, ServiceEndpoints, ServicePort,
};
use rustls::crypto::CryptoProvider;
use tokio::sync::{Notify, watch};

use crate::proxy::State;

/// The caches the router reads.
#[derive(Clone)]
pub struct Caches {
    /// Routes.
    pub routes: Store<Route>,
    /// Services.
    pub services: Store<Service>,
    /// EndpointSlices.
    pub slices: Store<EndpointSlice>,
    /// Namespaces.
    pub namespaces: Store<Namespace>,
}

/// Admission decisions plus the route objects they were made from, for the status writer.
#[derive(Default)]
pub struct Snapshot {
    /// One decision per route.
    pub decisions: BTreeMap<ObjectKey, Decision>,
    /// The routes, as cached.
    pub routes: HashMap<ObjectKey, Arc<Route>>,
}

fn spawn_reflector<K>(api: Api<K>, notify: Arc<Notify>) -> Store<K>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (store, writer) = reflector::store();
    let stream =
        reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(_) => notify.notify_one(),
                Err(e) => {
                    tracing::warn!(kind = %K::kind(&K::DynamicType::default()), error = %e, "watch error")
                }
            }
        }
    });
    store
}

/// Starts the four reflectors; `notify` fires on every change.
pub fn start(client: &Client, notify: Arc<Notify>) -> Caches {
    Caches {
        routes: spawn_reflector(Api::<Route>::all(client.clone()), notify.clone()),
        services: spawn_reflector(Api::<Service>::all(client.clone()), notify.clone()),
        slices: spawn_reflector(Api::<EndpointSlice>::all(client.clone()), notify.clone()),
        namespaces: spawn_reflector(Api::<Namespace>::all(client.clone()), notify),
    }
}

impl Caches {
    /// Waits for the first full list of every kind.
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.routes.wait_until_ready().await?;
        self.services.wait_until_ready().await?;
        self.slices.wait_until_ready().await?;
        self.namespaces.wait_until_ready().await?;
        Ok(())
    }
}

/// Services and their ready endpoints, from the caches.
pub fn service_endpoints(
    services: &[Arc<Service>],
    slices: &[Arc<EndpointSlice>],
) -> BTreeMap<ObjectKey, ServiceEndpoints> {
    let mut out: BTreeMap<ObjectKey, ServiceEndpoints> = BTreeMap::new();
    for s in services {
        let (Some(ns), Some(name)) = (s.metadata.namespace.as_deref(), s.metadata.name.as_deref())
        else {
            continue;
        };
        let ports = s
            .spec
            .as_ref()
            .and_then(|sp| sp.ports.as_ref())
            .map(|ps| {
                ps.iter()
                    .map(|p| ServicePort {
                        name: p.name.clone(),
                        port: p.port,
                        target_port: p.target_port.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.entry(ObjectKey::new(ns, name))
            .or_default()
            .service_ports = Some(ports);
    }
    for slice in slices {
        let Some(ns) = slice.metadata.namespace.as_deref() else {
            continue;
        };
        let Some(svc) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
        else {
            continue;
        };
        let ports: Vec<EndpointPort> = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(EndpointPort {
                    name: p.name.clone(),
                    port: u16::try_from(p.port?).ok()?,
                })
            })
            .collect();
        let entry = out.entry(ObjectKey::new(ns, svc.as_str())).or_default();
        for ep in slice.endpoints.iter().flatten() {
            // per the API, an unset `ready` means ready
            if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            for a in &ep.addresses {
                if let Ok(ip) = a.parse::<IpAddr>() {
                    entry.endpoints.push(ReadyEndpoint {
                        ip,
                        ports: ports.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Rebuilds admission and the table from the caches, swaps the table in, and returns the
/// snapshot for the status writer.
pub fn rebuild(
    caches: &Caches,
    cfg: &AdmissionConfig,
    provider: &CryptoProvider,
    state: &State,
) -> Snapshot {
    let routes = caches.routes.state();
    let namespaces: BTreeMap<String, BTreeMap<String, String>> = caches
        .namespaces
        .state()
        .iter()
        .filter_map(|n| {
            Some((
                n.metadata.name.clone()?,
                n.metadata.labels.clone().unwrap_or_default(),
            ))
        })
        .collect();
    let admission = admit(
        cfg,
        routes.iter().map(|r| r.as_ref()),
        &namespaces,
        provider,
    );
    let services = service_endpoints(&caches.services.state(), &caches.slices.state());
    let table = RouteTable::build(&admission.admitted, &services);
    let count = table.len();
    let gone: Vec<String> = {
        let new: std::collections::HashSet<&ObjectKey> = table.entries().map(|e| &e.key).collect();
        state
            .table
            .load()
            .entries()
            .filter(|e| !new.contains(&e.key))
            .map(|e| e.key.to_string())
            .collect()
    };
    let handles: HashMap<ObjectKey, Arc<crate::metrics::RouteMetrics>> = table
        .entries()
        .map(|e| {
            (
                e.key.clone(),
                Arc::new(state.metrics.for_route(&e.key.to_string())),
            )
        })
        .collect();
    state.route_metrics.store(Arc::new(handles));
    state.table.store(Arc::new(table));
    for route in gone {
        state.metrics.forget_route(&route);
    }
    state.prune_clients();
    state
        .metrics
        .routes
        .set(i64::try_from(count).unwrap_or(i64::MAX));
    state.metrics.rebuilds.inc();
    let routes = routes
        .into_iter()
        .filter_map(|r| {
            let key = ObjectKey::new(r.metadata.namespace.clone()?, r.metadata.name.clone()?);
            Some((key, r))
        })
        .collect();
    Snapshot {
        decisions: admission.decisions,
        routes,
    }
}

/// Rebuilds on every change, coalescing bursts, and publishes snapshots.
pub async fn run(
    caches: Caches,
    cfg: AdmissionConfig,
    provider: Arc<CryptoProvider>,
    state: Arc<State>,
    notify: Arc<Notify>,
    snapshots: watch::Sender<Arc<Snapshot>>,
) {
    loop {
        notify.notified().await;
        // coalesce a burst of events (e.g. a Deployment rollout) into one rebuild
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = std::time::Instant::now();
        let snap = rebuild(&caches, &cfg, &provider, &state);
        tracing::debug!(
            routes = snap.routes.len(),
            took_ms = started.elapsed().as_millis(),
            "table rebuilt"
        );
        snapshots.send_replace(Arc::new(snap));
    }
}
