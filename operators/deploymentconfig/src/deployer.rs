//! What runs inside a deployer pod (oc `pkg/cli/deployer`): Recreate and Rolling strategies and
//! lifecycle hooks, scaling RCs through the API and printing progress to stdout, which is the
//! deployer pod's log.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ObjectReference, Pod, ReplicationController};
use kube::api::{ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, ResourceExt as _};
use outrigger_api::apps::{DeploymentConfig, LifecycleHook};
use outrigger_api::image::{ImageStream, split_image_stream_tag};
use serde_json::json;

use crate::defaults::{
    self, DEFAULT_ACTIVE_DEADLINE_SECONDS, DEFAULT_TIMEOUT_SECONDS, strategy_type,
};
use crate::error::{Error, Result};
use crate::keys::*;
use crate::pods;
use crate::rc::{self, Phase};
use crate::strategy::{self, SurgeUnavailable};

/// One deployment run: the RC being rolled out and the API handles.
pub struct Deployer {
    rcs: Api<ReplicationController>,
    pods: Api<Pod>,
    client: Client,
    namespace: String,
    to: ReplicationController,
    dc: DeploymentConfig,
    started: Instant,
    interval: Duration,
}

fn say(msg: impl AsRef<str>) {
    println!("{}", msg.as_ref());
}

fn pm() -> PatchParams {
    PatchParams {
        field_manager: Some(DEPLOYER_FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// Runs the deployment of RC `name` in `namespace` to completion.
pub async fn run(client: Client, namespace: &str, name: &str) -> Result<()> {
    let rcs: Api<ReplicationController> = Api::namespaced(client.clone(), namespace);
    let to = rcs.get(name).await?;
    let mut dc = rc::decode_config(&to)?;
    defaults::apply(&mut dc);
    let mut d = Deployer {
        pods: Api::namespaced(client.clone(), namespace),
        rcs,
        client,
        namespace: namespace.to_owned(),
        to,
        dc,
        started: Instant::now(),
        interval: Duration::from_secs(1),
    };
    d.deploy().await
}

impl Deployer {
    async fn deploy(&mut self) -> Result<()> {
        let to_name = self.to.name_any();
        let desired = rc::desired_replicas(&self.to).ok_or_else(|| {
            Error::Rollout(format!(
                "deployment {}/{to_name} has already run to completion",
                self.namespace
            ))
        })?;
        let dc_name = self.dc.name_any();
        let mut all = self
            .rcs
            .list(
                &ListParams::default().labels(&format!("{DEPLOYMENT_CONFIG_ANNOTATION}={dc_name}")),
            )
            .await?
            .items;
        rc::sort_newest_first(&mut all);
        let to_version = rc::version(&self.to).unwrap_or(0);
        let from = all
            .iter()
            .find(|r| r.name_any() != to_name && rc::phase(r) == Phase::Complete)
            .cloned();
        if let Some(f) = from.as_ref()
            && rc::version(f).unwrap_or(0) > to_version
        {
            return Err(Error::Rollout(format!(
                "deployment {to_name} is older than the last completed deployment {}; not rolling back",
                f.name_any()
            )));
        }
        for other in &all {
            let n = other.name_any();
            if n == to_name
                || from.as_ref().is_some_and(|f| f.name_any() == n)
                || rc::spec_replicas(other) == 0
            {
                continue;
            }
            say(format!(
                "--> Scaling down {n} (not part of this rollout) to 0"
            ));
            if let Err(e) = self.scale(&n, 0, None).await {
                say(format!("    warning: cannot scale {n} down: {e}"));
            }
        }
        match strategy_type(self.dc.spec.strategy.as_ref()) {
            "Recreate" => {
                let timeout = self.recreate_timeout();
                self.recreate(from.as_ref(), desired, timeout, true).await?
            }
            "Rolling" => self.rolling(from.as_ref(), desired).await?,
            other => {
                return Err(Error::InvalidConfig(format!(
                    "strategy {other:?} is run by its own image, not by this deployer"
                )));
            }
        }
        say("--> Success");
        Ok(())
    }

    fn recreate_timeout(&self) -> Duration {
        let secs = self
            .dc
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.recreate_params.as_ref())
            .and_then(|p| p.timeout_seconds)
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
        Duration::from_secs(secs.max(1).unsigned_abs())
    }

    fn recreate_hook(&self, point: &str) -> Option<LifecycleHook> {
        let p = self.dc.spec.strategy.as_ref()?.recreate_params.as_ref()?;
        match point {
            "pre" => p.pre.clone(),
            "mid" => p.mid.clone(),
            _ => p.post.clone(),
        }
    }

    fn rolling_hook(&self, point: &str) -> Option<LifecycleHook> {
        let p = self.dc.spec.strategy.as_ref()?.rolling_params.as_ref()?;
        match point {
            "pre" => p.pre.clone(),
            _ => p.post.clone(),
        }
    }

    /// Recreate: pre, scale old to 0, mid, scale new up (acceptance check), post. `hooks`:
    /// whether the recreate hooks run (false only when Rolling delegates without recreateParams).
    async fn recreate(
        &mut self,
        from: Option<&ReplicationController>,
        desired: i32,
        timeout: Duration,
        hooks: bool,
    ) -> Result<()> {
        let to_name = self.to.name_any();
        if hooks && let Some(h) = self.recreate_hook("pre") {
            self.hook(&h, "pre").await?;
        }
        if let Some(f) = from {
            let n = f.name_any();
            say(format!("--> Scaling {n} down to zero"));
            self.scale(&n, 0, Some(timeout)).await?;
            self.wait_pods_gone(f, timeout).await;
        }
        if hooks && let Some(h) = self.recreate_hook("mid") {
            self.hook(&h, "mid").await?;
        }
        if desired > 0 {
            let mut accepted = false;
            if from.is_some() && desired > 1 {
                say(format!(
                    "--> Scaling {to_name} to 1 before performing acceptance check"
                ));
                self.scale(&to_name, 1, Some(timeout)).await?;
                self.accept(&to_name, 1, timeout).await?;
                accepted = desired == 1;
            }
            say(format!("--> Scaling {to_name} to {desired}"));
            self.scale(&to_name, desired, Some(timeout)).await?;
            if !accepted {
                self.accept(&to_name, desired, timeout).await?;
            }
        }
        if hooks && let Some(h) = self.recreate_hook("post") {
            self.hook(&h, "post").await?;
        }
        Ok(())
    }

    async fn rolling(&mut self, from: Option<&ReplicationController>, desired: i32) -> Result<()> {
        let params = self
            .dc
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.rolling_params.clone())
            .unwrap_or_default();
        let timeout = Duration::from_secs(
            params
                .timeout_seconds
                .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
                .max(1)
                .unsigned_abs(),
        );
        self.interval =
            Duration::from_secs(params.interval_seconds.unwrap_or(1).max(1).unsigned_abs());
        let update_period = Duration::from_secs(
            params
                .update_period_seconds
                .unwrap_or(1)
                .max(1)
                .unsigned_abs(),
        );
        if let Some(h) = self.rolling_hook("pre") {
            self.hook(&h, "pre").await?;
        }
        let Some(from) = from else {
            // First rollout: Recreate with the rolling timeout.
            let has_recreate = self
                .dc
                .spec
                .strategy
                .as_ref()
                .is_some_and(|s| s.recreate_params.is_some());
            self.recreate(None, desired, timeout, has_recreate).await?;
            if let Some(h) = self.rolling_hook("post") {
                self.hook(&h, "post").await?;
            }
            return Ok(());
        };
        let to_name = self.to.name_any();
        let from_name = from.name_any();
        let source = format!("{from_name}:{}", from.uid().unwrap_or_default());
        self.rcs
            .patch(
                &to_name,
                &pm(),
                &Patch::Merge(
                    &json!({"metadata": {"annotations": {UPDATE_SOURCE_ID_ANNOTATION: source}}}),
                ),
            )
            .await?;
        let mut old = rc::spec_replicas(from);
        self.rcs
            .patch(&from_name, &pm(), &Patch::Merge(&json!({"metadata": {"annotations": {ORIGINAL_REPLICAS_ANNOTATION: old.to_string()}}})))
            .await?;
        let limits = strategy::resolve_surge_unavailable(
            params.max_surge.as_ref(),
            params.max_unavailable.as_ref(),
            desired,
        )
        .map_err(|e| Error::InvalidConfig(e.to_string()))?;
        let SurgeUnavailable {
            max_surge,
            max_unavailable,
        } = limits;
        let min_available = strategy::min_available(desired, limits);
        let mut new = rc::spec_replicas(&self.to);
        say(format!(
            "--> Scaling up {to_name} from {new} to {desired}, scaling down {from_name} from {old} to 0 (keep {min_available} pods available, don't exceed {} pods)",
            desired + max_surge
        ));
        let _ = max_unavailable;
        let mut deadline = Instant::now() + timeout;
        while new != desired || old != 0 {
            let (new_before, old_before) = (new, old);
            if let Some(n) = strategy::scale_up_target(old, new, desired, limits) {
                say(format!("    Scaling {to_name} up to {n}"));
                self.scale(&to_name, n, Some(timeout)).await?;
                new = n;
            }
            tokio::time::sleep(update_period).await;
            let new_available = self
                .rcs
                .get(&to_name)
                .await?
                .status
                .and_then(|s| s.available_replicas)
                .unwrap_or(0);
            if let Some(o) = strategy::scale_down_target(old, new, new_available, desired, limits) {
                say(format!("    Scaling {from_name} down to {o}"));
                self.scale(&from_name, o, Some(timeout)).await?;
                old = o;
            }
            if new != new_before || old != old_before {
                deadline = Instant::now() + timeout;
            } else if Instant::now() > deadline {
                return Err(Error::Rollout(
                    "timed out waiting for any update progress to be made".into(),
                ));
            } else {
                tokio::time::sleep(self.interval).await;
            }
        }
        self.rcs
            .patch(&to_name, &pm(), &Patch::Merge(&json!({"metadata": {"annotations": {UPDATE_SOURCE_ID_ANNOTATION: null, DESIRED_REPLICAS_ANNOTATION: null}}})))
            .await?;
        if let Some(h) = self.rolling_hook("post") {
            self.hook(&h, "post").await?;
        }
        Ok(())
    }

    /// Sets `spec.replicas` and waits until the RC's status reports that many pods.
    async fn scale(&self, name: &str, replicas: i32, timeout: Option<Duration>) -> Result<()> {
        self.rcs
            .patch(
                name,
                &pm(),
                &Patch::Merge(&json!({"spec": {"replicas": replicas}})),
            )
            .await?;
        let timeout =
            timeout.unwrap_or(Duration::from_secs(DEFAULT_TIMEOUT_SECONDS.unsigned_abs()));
        let start = Instant::now();
        loop {
            let r = self.rcs.get(name).await?;
            let st = r.status.clone().unwrap_or_default();
            if st.replicas == replicas
                && st.observed_generation.unwrap_or(0) >= r.metadata.generation.unwrap_or(0)
            {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(Error::Rollout(format!(
                    "timed out waiting for {name} to reach {replicas} replicas"
                )));
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Acceptance check: all `replicas` pods of `name` available within `timeout`.
    async fn accept(&self, name: &str, replicas: i32, timeout: Duration) -> Result<()> {
        say(format!(
            "--> Waiting up to {}s for pods in rc {name} to become ready",
            timeout.as_secs()
        ));
        let start = Instant::now();
        loop {
            let r = self.rcs.get(name).await?;
            if r.status.and_then(|s| s.available_replicas).unwrap_or(0) >= replicas {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(Error::Rollout(format!(
                    "pods for rc '{}/{name}' took longer than {} seconds to become available",
                    self.namespace,
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    async fn wait_pods_gone(&self, from: &ReplicationController, timeout: Duration) {
        let selector = from
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let start = Instant::now();
        while start.elapsed() < timeout {
            match self
                .pods
                .list(&ListParams::default().labels(&selector))
                .await
            {
                Ok(l)
                    if l.items.iter().all(|p| {
                        matches!(
                            p.status.as_ref().and_then(|s| s.phase.as_deref()),
                            Some("Succeeded") | Some("Failed")
                        )
                    }) =>
                {
                    return;
                }
                Ok(_) => {}
                Err(e) => say(format!(
                    "    warning: listing pods of {}: {e}",
                    from.name_any()
                )),
            }
            tokio::time::sleep(self.interval).await;
        }
        say(format!(
            "    warning: pods of {} still running after {}s",
            from.name_any(),
            timeout.as_secs()
        ));
    }

    /// Records an Event against the DeploymentConfig (hook Started/Completed/Failed); failures
    /// to record are only printed.
    async fn dc_event(&self, type_: EventType, reason: &str, note: String) {
        let reference = ObjectReference {
            api_version: Some("apps.openshift.io/v1".into()),
            kind: Some("DeploymentConfig".into()),
            name: Some(self.dc.name_any()),
            namespace: Some(self.namespace.clone()),
            uid: self.dc.metadata.uid.clone(),
            ..Default::default()
        };
        let recorder = Recorder::new(
            self.client.clone(),
            Reporter {
                controller: "deployer".into(),
                instance: std::env::var("HOSTNAME").ok(),
            },
        );
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: reason.into(),
            secondary: None,
        };
        if let Err(e) = recorder.publish(&ev, &reference).await {
            say(format!("    warning: cannot record event {reason}: {e}"));
        }
    }

    /// Runs a lifecycle hook with its failure policy.
    async fn hook(&self, hook: &LifecycleHook, point: &str) -> Result<()> {
        let policy = hook
            .failure_policy
            .clone()
            .unwrap_or_else(|| "Abort".into());
        let rc_name = self.to.name_any();
        self.dc_event(
            EventType::Normal,
            "Started",
            format!("Running {point} hook for {rc_name}"),
        )
        .await;
        let result = if let Some(exec) = hook.exec_new_pod.as_ref() {
            self.exec_hook(exec, &policy, point).await
        } else {
            self.tag_images(hook, point).await
        };
        match result {
            Ok(()) => {
                say(format!("--> {point}: Success"));
                self.dc_event(
                    EventType::Normal,
                    "Completed",
                    format!("The {point} hook for {rc_name} completed successfully"),
                )
                .await;
                Ok(())
            }
            Err(e) if policy == "Ignore" => {
                say(format!(
                    "--> {point}: Hook failed, ignoring (failurePolicy Ignore): {e}"
                ));
                self.dc_event(
                    EventType::Warning,
                    "Failed",
                    format!("The {point} hook for {rc_name} failed (ignored): {e}"),
                )
                .await;
                Ok(())
            }
            Err(e) => {
                say(format!(
                    "--> {point}: Hook failed (failurePolicy {policy}): {e}"
                ));
                self.dc_event(
                    EventType::Warning,
                    "Failed",
                    format!("The {point} hook for {rc_name} failed: {e}"),
                )
                .await;
                Err(Error::HookFailed(format!("{point} hook failed: {e}")))
            }
        }
    }

    async fn exec_hook(
        &self,
        exec: &outrigger_api::apps::ExecNewPodHook,
        policy: &str,
        point: &str,
    ) -> Result<()> {
        let deadline = self
            .dc
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.active_deadline_seconds)
            .unwrap_or(DEFAULT_ACTIVE_DEADLINE_SECONDS)
            - i64::try_from(self.started.elapsed().as_secs()).unwrap_or(0);
        let pod = pods::hook_pod(exec, policy, point, &self.to, &self.dc, deadline)?;
        let name = pod.name_any();
        match self.pods.get_opt(&name).await? {
            Some(_) => say(format!(
                "--> {point}: Hook pod {name} already exists, waiting for it"
            )),
            None => {
                say(format!("--> {point}: Running hook pod ..."));
                self.pods
                    .create(
                        &PostParams {
                            field_manager: Some(DEPLOYER_FIELD_MANAGER.into()),
                            ..Default::default()
                        },
                        &pod,
                    )
                    .await?;
            }
        }
        let outcome = loop {
            let Some(p) = self.pods.get_opt(&name).await? else {
                break Err(Error::Rollout(format!("hook pod {name} was deleted")));
            };
            match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
                Some("Succeeded") => break Ok(()),
                Some("Failed") => {
                    let msg = p
                        .status
                        .as_ref()
                        .and_then(|s| s.message.clone().or(s.reason.clone()))
                        .unwrap_or_else(|| "the hook pod failed".into());
                    break Err(Error::Rollout(format!("hook pod {name}: {msg}")));
                }
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        };
        let lp = LogParams {
            container: Some(HOOK_CONTAINER.into()),
            ..Default::default()
        };
        if let Ok(log) = self.pods.logs(&name, &lp).await {
            for line in log.lines() {
                say(line);
            }
        }
        outcome
    }

    async fn tag_images(&self, hook: &LifecycleHook, point: &str) -> Result<()> {
        let template = self
            .to
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .and_then(|t| t.spec.as_ref())
            .ok_or_else(|| Error::InvalidConfig("the RC has no pod template".into()))?;
        for t in hook.tag_images.iter().flatten() {
            let cname = t.container_name.clone().unwrap_or_default();
            let image = template
                .containers
                .iter()
                .find(|c| c.name == cname)
                .and_then(|c| c.image.clone())
                .ok_or_else(|| {
                    Error::InvalidConfig(format!(
                        "unable to find container {cname:?} for the {point} hook"
                    ))
                })?;
            let to = t.to.clone().unwrap_or_default();
            let ns = to
                .namespace
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| self.namespace.clone());
            let to_name = to.name.clone().unwrap_or_default();
            let (stream, tag) = split_image_stream_tag(&to_name).ok_or_else(|| {
                Error::InvalidConfig(format!("{to_name:?} is not <stream>:<tag>"))
            })?;
            let api: Api<ImageStream> = Api::namespaced(self.client.clone(), &ns);
            // Like an ImageStreamTag update in OpenShift, a missing stream is created. Writes are
            // guarded by resourceVersion and retried on conflicts (the ImageStream controller
            // writes the same object).
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut is = match api.get_opt(stream).await? {
                    Some(is) => is,
                    None => {
                        let fresh: ImageStream = serde_json::from_value(json!({
                            "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                            "metadata": {"name": stream, "namespace": ns}, "spec": {},
                        }))?;
                        let pp = PostParams {
                            field_manager: Some(DEPLOYER_FIELD_MANAGER.into()),
                            ..Default::default()
                        };
                        match api.create(&pp, &fresh).await {
                            Ok(is) => is,
                            Err(kube::Error::Api(e)) if e.code == 409 && attempt < 10 => continue,
                            Err(e) => return Err(e.into()),
                        }
                    }
                };
                let mut tags = is.spec.tags.take().unwrap_or_default();
                tags.retain(|x| x.name.as_deref() != Some(tag));
                tags.push(serde_json::from_value(
                    json!({"name": tag, "from": {"kind": "DockerImage", "name": image}}),
                )?);
                let patch = json!({"spec": {"tags": tags}, "metadata": {"resourceVersion": is.resource_version()}});
                match api.patch(stream, &pm(), &Patch::Merge(&patch)).await {
                    Ok(_) => break,
                    Err(kube::Error::Api(e)) if e.code == 409 && attempt < 10 => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            say(format!("--> {point}: Tagged {image} into {ns}/{to_name}"));
        }
        Ok(())
    }
}
