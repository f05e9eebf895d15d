//! Leader election on a `coordination.k8s.io/v1` Lease, so that two replicas of an operator never
//! both write. The holder renews the lease every `renew_every`; another replica takes it over once
//! `renewTime + leaseDurationSeconds` has passed. Writes use the Lease's `resourceVersion`, so two
//! candidates racing for an expired lease cannot both win.
//!
//! Leadership is published on a `tokio::sync::watch` channel; work that must be done by one
//! replica only (status writes, object creation) checks it before acting.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::{SignedDuration, Timestamp},
};
use kube::{Api, Client, api::PostParams};
use tokio::sync::watch;

/// Where the lease lives and how long it lasts.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease (one per controller).
    pub name: String,
    /// This replica's identity (usually the pod name).
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews (and a follower re-checks).
    pub renew_every: Duration,
}

impl LeaderConfig {
    /// A config with OpenShift-like timings (15 s lease, renewed every 5 s). The identity comes
    /// from `POD_NAME` or the host name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        let identity = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| format!("pid-{}", std::process::id()));
        LeaderConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity,
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }
}

/// What a candidate should do with the lease it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds a valid lease: take it.
    Acquire,
    /// We hold it: renew it.
    Renew,
    /// Someone else holds a valid lease.
    Follow {
        /// The current holder.
        holder: String,
    },
}

/// Decide from the Lease's spec (if the Lease exists) what `identity` should do at `now`.
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder.is_empty() {
        return Decision::Acquire;
    }
    if holder == identity {
        return Decision::Renew;
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match renewed.and_then(|r| r.checked_add(duration).ok()) {
        Some(expiry) if expiry > now => Decision::Follow { holder },
        _ => Decision::Acquire,
    }
}

/// The spec written when `identity` takes or renews the lease.
pub fn claimed(
    old: Option<&LeaseSpec>,
    decision: &Decision,
    cfg: &LeaderConfig,
    now: Timestamp,
) -> LeaseSpec {
    let mut spec = old.cloned().unwrap_or_default();
    if *decision == Decision::Acquire {
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions =
            Some(spec.lease_transitions.unwrap_or(0) + if old.is_some() { 1 } else { 0 });
    }
    spec.holder_identity = Some(cfg.identity.clone());
    spec.lease_duration_seconds =
        Some(i32::try_from(cfg.lease_duration.as_secs()).unwrap_or(i32::MAX));
    spec.renew_time = Some(MicroTime(now));
    spec
}

/// Take part in the election forever, publishing leadership on `leading`. API errors make this
/// replica a follower until the next successful round (never two leaders by mistake).
pub async fn run(client: Client, cfg: LeaderConfig, leading: watch::Sender<bool>) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    loop {
        let is_leader = match round(&api, &cfg).await {
            Ok(leader) => leader,
            Err(e) => {
                tracing::warn!(error = %e, lease = %cfg.name, "leader election round failed");
                false
            }
        };
        if *leading.borrow() != is_leader {
            tracing::info!(lease = %cfg.name, identity = %cfg.identity, is_leader, "leadership changed");
        }
        leading.send_replace(is_leader);
        tokio::time::sleep(cfg.renew_every).await;
    }
}

/// Resolves when this replica stops leading (or the election task ends). Operators select on it
/// next to their controllers and exit, so that a fresh process campaigns again.
pub async fn until_lost(mut leading: watch::Receiver<bool>) {
    while *leading.borrow() {
        if leading.changed().await.is_err() {
            break;
        }
    }
}

async fn round(api: &Api<Lease>, cfg: &LeaderConfig) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let current = api.get_opt(&cfg.name).await?;
    let decision = decide(
        current.as_ref().and_then(|l| l.spec.as_ref()),
        &cfg.identity,
        now,
    );
    if let Decision::Follow { .. } = decision {
        return Ok(false);
    }
    let spec = claimed(
        current.as_ref().and_then(|l| l.spec.as_ref()),
        &decision,
        cfg,
        now,
    );
    let result = match current {
        Some(mut lease) => {
            lease.spec = Some(spec);
            api.replace(&cfg.name, &PostParams::default(), &lease).await
        }
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
            };
            api.create(&PostParams::default(), &lease).await
        }
    };
    match result {
        Ok(_) => Ok(true),
        // Someone else wrote first: they won this round.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(id: &str) -> LeaderConfig {
        LeaderConfig {
            namespace: "ns".into(),
            name: "lease".into(),
            identity: id.into(),
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("valid")
    }

    #[tokio::test]
    async fn until_lost_resolves_when_leadership_ends() {
        let (tx, rx) = watch::channel(true);
        let waiter = tokio::spawn(until_lost(rx));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        tx.send_replace(false);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("resolves")
            .expect("joins");
    }

    #[test]
    fn missing_or_empty_lease_is_acquired() {
        assert_eq!(decide(None, "a", t(100)), Decision::Acquire);
        assert_eq!(
            decide(Some(&LeaseSpec::default()), "a", t(100)),
            Decision::Acquire
        );
    }

    #[test]
    fn holder_renews_others_follow_until_expiry() {
        let spec = claimed(None, &Decision::Acquire, &cfg("a"), t(100));
        assert_eq!(spec.lease_transitions, Some(0));
        assert_eq!(decide(Some(&spec), "a", t(105)), Decision::Renew);
        assert_eq!(
            decide(Some(&spec), "b", t(114)),
            Decision::Follow { holder: "a".into() }
        );
        assert_eq!(decide(Some(&spec), "b", t(116)), Decision::Acquire);
        let taken = claimed(Some(&spec), &Decision::Acquire, &cfg("b"), t(116));
        assert_eq!(taken.holder_identity.as_deref(), Some("b"));
        assert_eq!(taken.lease_transitions, Some(1));
        let renewed = claimed(Some(&taken), &Decision::Renew, &cfg("b"), t(120));
        assert_eq!(renewed.lease_transitions, Some(1));
        assert_eq!(renewed.acquire_time, Some(MicroTime(t(116))));
    }
}
