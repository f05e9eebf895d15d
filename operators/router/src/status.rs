//! Writing `status.ingress[]`: one entry per router name with `host`, `routerName`,
//! `wildcardPolicy` and the `Admitted` condition. `status.ingress` is an atomic list shared by
//! every router, so the whole list is applied (server-side apply on the status subresource)
//! with the route's `resourceVersion` as a precondition: a concurrent writer makes the apply
//! fail with a conflict instead of losing its entry, and the next round retries. Only the
//! leader of the router name writes (see `main`).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use outrigger_api::route::{Route, RouteIngress, RouteIngressCondition};
use outrigger_route_table::admission::{CONDITION_ADMITTED, Decision};
use serde_json::json;
use tokio::sync::watch;

use crate::metrics::{Metrics, ResultLabels};
use crate::watch::Snapshot;

/// Who we are in `status.ingress`.
#[derive(Clone, Debug)]
pub struct StatusConfig {
    /// Router name.
    pub router_name: String,
    /// `routerCanonicalHostname`.
    pub canonical_hostname: Option<String>,
}

impl StatusConfig {
    /// Field manager of the status applies.
    pub fn field_manager(&self) -> String {
        format!("outrigger-router-{}", self.router_name)
    }
}

fn same_ignoring_time(a: &RouteIngress, b: &RouteIngress) -> bool {
    let strip = |i: &RouteIngress| {
        let mut i = i.clone();
        for c in i.conditions.iter_mut().flatten() {
            c.last_transition_time = None;
        }
        i
    };
    strip(a) == strip(b)
}

/// Our entry for a decision; `None` when the route is not ours (its entry must go).
pub fn desired_entry(
    cfg: &StatusConfig,
    route: &Route,
    decision: &Decision,
    now: &Time,
) -> Option<RouteIngress> {
    let spec_wildcard = if route.spec.wildcard_policy.as_deref() == Some("Subdomain") {
        "Subdomain"
    } else {
        "None"
    };
    let (host, wildcard, status, reason, message) = match decision {
        Decision::NotSelected => return None,
        Decision::Admitted {
            host,
            wildcard,
            problems,
        } => (
            Some(host.clone()),
            if *wildcard { "Subdomain" } else { "None" },
            "True",
            None,
            (!problems.is_empty()).then(|| problems.join("; ")),
        ),
        Decision::Rejected {
            host,
            reason,
            message,
        } => (
            host.clone(),
            spec_wildcard,
            "False",
            Some(reason.as_str().to_string()),
            Some(message.clone()),
        ),
    };
    let previous = existing_entry(cfg, route)
        .and_then(|i| i.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION_ADMITTED))
        .filter(|c| c.status == status)
        .and_then(|c| c.last_transition_time.clone());
    Some(RouteIngress {
        host,
        router_name: Some(cfg.router_name.clone()),
        wildcard_policy: Some(wildcard.to_string()),
        router_canonical_hostname: cfg.canonical_hostname.clone(),
        conditions: Some(vec![RouteIngressCondition {
            type_: CONDITION_ADMITTED.to_string(),
            status: status.to_string(),
            reason,
            message,
            last_transition_time: Some(previous.unwrap_or_else(|| now.clone())),
        }]),
    })
}

fn existing_entry<'a>(cfg: &StatusConfig, route: &'a Route) -> Option<&'a RouteIngress> {
    route
        .status
        .as_ref()
        .and_then(|s| s.ingress.as_ref())
        .and_then(|l| {
            l.iter()
                .find(|i| i.router_name.as_deref() == Some(cfg.router_name.as_str()))
        })
}

/// The full new `status.ingress` list, or `None` when nothing changes.
pub fn new_ingress_list(
    cfg: &StatusConfig,
    route: &Route,
    desired: Option<RouteIngress>,
) -> Option<Vec<RouteIngress>> {
    let current: Vec<RouteIngress> = route
        .status
        .as_ref()
        .and_then(|s| s.ingress.clone())
        .unwrap_or_default();
    let pos = current
        .iter()
        .position(|i| i.router_name.as_deref() == Some(cfg.router_name.as_str()));
    match (pos, desired) {
        (None, None) => None,
        (Some(p), Some(d)) if same_ignoring_time(&current[p], &d) => None,
        (Some(p), Some(d)) => {
            let mut l = current;
            l[p] = d;
            Some(l)
        }
        (None, Some(d)) => {
            let mut l = current;
            l.push(d);
            Some(l)
        }
        (Some(p), None) => {
            let mut l = current;
            l.remove(p);
            Some(l)
        }
    }
}

async fn write(
    api: &Api<Route>,
    cfg: &StatusConfig,
    route: &Route,
    ingress: Vec<RouteIngress>,
) -> Result<(), kube::Error> {
    let (Some(ns), Some(name)) = (
        route.metadata.namespace.as_deref(),
        route.metadata.name.as_deref(),
    ) else {
        return Ok(());
    };
    let body = json!({
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": route.metadata.resource_version},
        "status": {"ingress": ingress},
    });
    let api: Api<Route> = Api::namespaced(api.clone().into_client(), ns);
    api.patch_status(
        name,
        &PatchParams::apply(&cfg.field_manager()).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

/// Writes status for every route whose entry differs, whenever a new snapshot arrives (and
/// every 30 s, to retry failures), while `leading` is true.
pub async fn run(
    client: Client,
    cfg: StatusConfig,
    metrics: Metrics,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    mut leading: watch::Receiver<bool>,
) {
    let api: Api<Route> = Api::all(client);
    // a dropped leadership sender means "leadership never changes"
    let mut leadership_fixed = false;
    snapshots.mark_changed();
    loop {
        tokio::select! {
            r = snapshots.changed() => if r.is_err() { return },
            r = leading.changed(), if !leadership_fixed => if r.is_err() { leadership_fixed = true },
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        if !*leading.borrow() {
            continue;
        }
        let snap = snapshots.borrow().clone();
        let now = Time(Timestamp::now());
        for (key, decision) in &snap.decisions {
            let Some(route) = snap.routes.get(key) else {
                continue;
            };
            let desired = desired_entry(&cfg, route, decision, &now);
            let Some(list) = new_ingress_list(&cfg, route, desired) else {
                continue;
            };
            let result = match write(&api, &cfg, route, list).await {
                Ok(()) => "ok",
                Err(kube::Error::Api(e)) if e.code == 409 => "conflict",
                Err(kube::Error::Api(e)) if e.code == 404 => "gone",
                Err(e) => {
                    tracing::warn!(route = %key, error = %e, "status write failed");
                    "error"
                }
            };
            metrics
                .status_writes
                .get_or_create(&ResultLabels { result })
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outrigger_route_table::admission::Reason;
    use serde_json::json;

    fn cfg() -> StatusConfig {
        StatusConfig {
            router_name: "default".into(),
            canonical_hostname: None,
        }
    }

    fn route(status: serde_json::Value) -> Route {
        serde_json::from_value(json!({
            "apiVersion": "route.openshift.io/v1", "kind": "Route",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"to": {"name": "s"}},
            "status": status,
        }))
        .expect("route")
    }

    fn t(s: &str) -> Time {
        Time(s.parse().expect("time"))
    }

    #[test]
    fn admitted_entry_is_added_next_to_other_routers() {
        let r = route(json!({"ingress": [{"routerName": "other", "host": "x"}]}));
        let d = Decision::Admitted {
            host: "r-ns.apps.example.com".into(),
            wildcard: false,
            problems: vec![],
        };
        let entry = desired_entry(&cfg(), &r, &d, &t("2026-01-01T00:00:00Z")).expect("entry");
        let list = new_ingress_list(&cfg(), &r, Some(entry)).expect("changed");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].router_name.as_deref(), Some("other"));
        let ours = &list[1];
        assert_eq!(ours.host.as_deref(), Some("r-ns.apps.example.com"));
        assert_eq!(ours.wildcard_policy.as_deref(), Some("None"));
        let c = &ours.conditions.as_ref().expect("conditions")[0];
        assert_eq!((c.type_.as_str(), c.status.as_str()), ("Admitted", "True"));
    }

    #[test]
    fn unchanged_entry_is_not_rewritten_and_keeps_transition_time() {
        let r = route(
            json!({"ingress": [{"routerName": "default", "host": "h", "wildcardPolicy": "None",
            "conditions": [{"type": "Admitted", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}]}),
        );
        let d = Decision::Admitted {
            host: "h".into(),
            wildcard: false,
            problems: vec![],
        };
        let entry = desired_entry(&cfg(), &r, &d, &t("2026-01-01T00:00:00Z")).expect("entry");
        assert_eq!(
            entry.conditions.as_ref().expect("c")[0].last_transition_time,
            Some(t("2025-01-01T00:00:00Z"))
        );
        assert!(new_ingress_list(&cfg(), &r, Some(entry)).is_none());
    }

    #[test]
    fn rejection_carries_reason_and_message() {
        let r = route(
            json!({"ingress": [{"routerName": "default", "host": "h", "wildcardPolicy": "None",
            "conditions": [{"type": "Admitted", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}]}),
        );
        let d = Decision::Rejected {
            host: Some("h".into()),
            reason: Reason::HostAlreadyClaimed,
            message: "route a already exposes h and is older".into(),
        };
        let now = t("2026-01-01T00:00:00Z");
        let entry = desired_entry(&cfg(), &r, &d, &now).expect("entry");
        let c = &entry.conditions.as_ref().expect("c")[0];
        assert_eq!(c.status, "False");
        assert_eq!(c.reason.as_deref(), Some("HostAlreadyClaimed"));
        assert_eq!(c.last_transition_time, Some(now));
        assert_eq!(
            new_ingress_list(&cfg(), &r, Some(entry))
                .expect("changed")
                .len(),
            1
        );
    }

    #[test]
    fn leaving_the_shard_removes_our_entry() {
        let r = route(
            json!({"ingress": [{"routerName": "default", "host": "h"}, {"routerName": "other"}]}),
        );
        assert!(
            desired_entry(
                &cfg(),
                &r,
                &Decision::NotSelected,
                &t("2026-01-01T00:00:00Z")
            )
            .is_none()
        );
        let list = new_ingress_list(&cfg(), &r, None).expect("changed");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].router_name.as_deref(), Some("other"));
        let untouched = route(json!({}));
        assert!(new_ingress_list(&cfg(), &untouched, None).is_none());
    }
}
