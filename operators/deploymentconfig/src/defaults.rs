//! Defaulting that the CRD schema cannot express (OpenShift's `apps/v1/defaults.go`), applied
//! in memory by the controller and the deployer before any decision. Idempotent.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use outrigger_api::apps::{
    DeploymentConfig, DeploymentStrategy, DeploymentTriggerPolicy, LifecycleHook,
    RecreateDeploymentStrategyParams, RollingDeploymentStrategyParams,
};

/// `spec.strategy.activeDeadlineSeconds` default (6 h).
pub const DEFAULT_ACTIVE_DEADLINE_SECONDS: i64 = 21600;
/// Rolling/Recreate `timeoutSeconds` default.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 600;
/// Rolling `intervalSeconds` and `updatePeriodSeconds` default.
pub const DEFAULT_PERIOD_SECONDS: i64 = 1;
/// `spec.revisionHistoryLimit` default of the `apps.openshift.io` group.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
/// The 25% default of `maxSurge` / `maxUnavailable`.
pub const DEFAULT_PERCENT: &str = "25%";

fn is_zero(v: &IntOrString) -> bool {
    match v {
        IntOrString::Int(i) => *i == 0,
        IntOrString::String(s) => s == "0" || s == "0%",
    }
}

/// Fills `maxSurge`/`maxUnavailable` by OpenShift's exact rules.
pub fn default_surge_unavailable(p: &mut RollingDeploymentStrategyParams) {
    let quarter = || IntOrString::String(DEFAULT_PERCENT.to_owned());
    match (&p.max_surge, &p.max_unavailable) {
        (None, None) => {
            p.max_surge = Some(quarter());
            p.max_unavailable = Some(quarter());
        }
        (Some(s), None) if is_zero(s) => p.max_unavailable = Some(quarter()),
        (None, Some(u)) if is_zero(u) => p.max_surge = Some(quarter()),
        _ => {}
    }
}

/// Fills the rolling parameters' scalar defaults and the surge rules.
pub fn default_rolling_params(p: &mut RollingDeploymentStrategyParams) {
    p.interval_seconds.get_or_insert(DEFAULT_PERIOD_SECONDS);
    p.update_period_seconds
        .get_or_insert(DEFAULT_PERIOD_SECONDS);
    p.timeout_seconds.get_or_insert(DEFAULT_TIMEOUT_SECONDS);
    default_surge_unavailable(p);
}

/// The strategy type, `Rolling` when unset or empty.
pub fn strategy_type(s: Option<&DeploymentStrategy>) -> &str {
    match s.and_then(|s| s.type_.as_deref()) {
        None | Some("") => "Rolling",
        Some(t) => t,
    }
}

fn default_hook(hook: &mut Option<LifecycleHook>, only_container: Option<&str>) {
    let (Some(hook), Some(name)) = (hook.as_mut(), only_container) else {
        return;
    };
    if let Some(exec) = hook.exec_new_pod.as_mut()
        && exec.container_name.as_deref().is_none_or(str::is_empty)
    {
        exec.container_name = Some(name.to_owned());
    }
    for tag in hook.tag_images.iter_mut().flatten() {
        if tag.container_name.as_deref().is_none_or(str::is_empty) {
            tag.container_name = Some(name.to_owned());
        }
    }
}

/// Applies every OpenShift default the schema cannot express (see the module docs).
pub fn apply(dc: &mut DeploymentConfig) {
    let namespace = dc.metadata.namespace.clone();
    let spec = &mut dc.spec;
    let only_container = spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .filter(|s| s.containers.len() == 1)
        .map(|s| s.containers[0].name.clone());

    let strategy = spec.strategy.get_or_insert_with(Default::default);
    let kind = strategy_type(Some(strategy)).to_owned();
    strategy.type_ = Some(kind.clone());
    strategy
        .active_deadline_seconds
        .get_or_insert(DEFAULT_ACTIVE_DEADLINE_SECONDS);
    match kind.as_str() {
        "Rolling" => {
            let p = strategy.rolling_params.get_or_insert_with(Default::default);
            default_rolling_params(p);
        }
        "Recreate" => {
            let p = strategy
                .recreate_params
                .get_or_insert_with(RecreateDeploymentStrategyParams::default);
            p.timeout_seconds.get_or_insert(DEFAULT_TIMEOUT_SECONDS);
        }
        _ => {}
    }
    if let Some(p) = strategy.rolling_params.as_mut() {
        p.interval_seconds.get_or_insert(DEFAULT_PERIOD_SECONDS);
        p.update_period_seconds
            .get_or_insert(DEFAULT_PERIOD_SECONDS);
        p.timeout_seconds.get_or_insert(DEFAULT_TIMEOUT_SECONDS);
        default_hook(&mut p.pre, only_container.as_deref());
        default_hook(&mut p.post, only_container.as_deref());
    }
    if let Some(p) = strategy.recreate_params.as_mut() {
        p.timeout_seconds.get_or_insert(DEFAULT_TIMEOUT_SECONDS);
        default_hook(&mut p.pre, only_container.as_deref());
        default_hook(&mut p.mid, only_container.as_deref());
        default_hook(&mut p.post, only_container.as_deref());
    }

    if spec.triggers.is_none() {
        spec.triggers = Some(vec![DeploymentTriggerPolicy {
            type_: Some("ConfigChange".into()),
            image_change_params: None,
        }]);
    }
    for trigger in spec.triggers.iter_mut().flatten() {
        let Some(from) = trigger
            .image_change_params
            .as_mut()
            .and_then(|p| p.from.as_mut())
        else {
            continue;
        };
        match from.kind.as_deref() {
            None | Some("") => from.kind = Some("ImageStreamTag".into()),
            Some("ImageStream") | Some("ImageRepository") => {
                from.kind = Some("ImageStreamTag".into());
                if let Some(name) = from.name.as_mut()
                    && !name.contains(':')
                {
                    name.push_str(":latest");
                }
            }
            _ => {}
        }
        if from.namespace.as_deref().is_none_or(str::is_empty) {
            from.namespace.clone_from(&namespace);
        }
    }
    spec.replicas.get_or_insert(0);
    spec.revision_history_limit
        .get_or_insert(DEFAULT_REVISION_HISTORY_LIMIT);
    if spec.selector.as_ref().is_none_or(|s| s.is_empty())
        && let Some(labels) = spec
            .template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
    {
        spec.selector = Some(labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn dc(spec: serde_json::Value) -> DeploymentConfig {
        serde_json::from_value(json!({
            "apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": spec,
        }))
        .expect("valid dc")
    }

    fn template() -> serde_json::Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "img"}]}})
    }

    fn surge(
        s: Option<IntOrString>,
        u: Option<IntOrString>,
    ) -> (Option<IntOrString>, Option<IntOrString>) {
        let mut p = RollingDeploymentStrategyParams {
            max_surge: s,
            max_unavailable: u,
            ..Default::default()
        };
        default_surge_unavailable(&mut p);
        (p.max_surge, p.max_unavailable)
    }

    #[test]
    fn surge_rules() {
        let q = || Some(IntOrString::String("25%".into()));
        let zero = || Some(IntOrString::Int(0));
        let zero_pct = || Some(IntOrString::String("0%".into()));
        assert_eq!(surge(None, None), (q(), q()));
        assert_eq!(surge(zero(), None), (zero(), q()));
        assert_eq!(surge(zero_pct(), None), (zero_pct(), q()));
        assert_eq!(surge(None, zero()), (q(), zero()));
        // Any other case: the unset one stays unset.
        let two = || Some(IntOrString::Int(2));
        assert_eq!(surge(two(), None), (two(), None));
        assert_eq!(surge(None, two()), (None, two()));
    }

    #[test]
    fn rolling_defaults_filled() {
        let mut d = dc(json!({"template": template()}));
        apply(&mut d);
        let s = d.spec.strategy.as_ref().expect("strategy");
        assert_eq!(s.type_.as_deref(), Some("Rolling"));
        assert_eq!(s.active_deadline_seconds, Some(21600));
        let p = s.rolling_params.as_ref().expect("rolling params");
        assert_eq!(
            (
                p.interval_seconds,
                p.update_period_seconds,
                p.timeout_seconds
            ),
            (Some(1), Some(1), Some(600))
        );
        assert_eq!(p.max_surge, Some(IntOrString::String("25%".into())));
        assert_eq!(d.spec.revision_history_limit, Some(10));
        assert_eq!(
            d.spec.selector,
            Some([("app".to_owned(), "web".to_owned())].into())
        );
        assert_eq!(
            serde_json::to_value(&d.spec.triggers).expect("json"),
            json!([{"type": "ConfigChange"}])
        );
        // Idempotent.
        let again = {
            let mut a = d.clone();
            apply(&mut a);
            a
        };
        assert_eq!(again, d);
    }

    #[test]
    fn empty_triggers_stay_empty_and_selector_kept() {
        let mut d = dc(json!({"triggers": [], "selector": {"x": "y"}, "template": template()}));
        apply(&mut d);
        assert_eq!(d.spec.triggers, Some(vec![]));
        assert_eq!(
            d.spec.selector,
            Some([("x".to_owned(), "y".to_owned())].into())
        );
    }

    #[test]
    fn recreate_defaults_and_single_container_hooks() {
        let mut d = dc(json!({
            "strategy": {"type": "Recreate", "recreateParams": {
                "mid": {"failurePolicy": "Abort", "execNewPod": {"command": ["true"]}},
                "post": {"failurePolicy": "Ignore", "tagImages": [{"to": {"kind": "ImageStreamTag", "name": "a:b"}}]}
            }},
            "template": template()
        }));
        apply(&mut d);
        let p = d
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.recreate_params.as_ref())
            .expect("recreate params");
        assert_eq!(p.timeout_seconds, Some(600));
        let mid = p
            .mid
            .as_ref()
            .and_then(|h| h.exec_new_pod.as_ref())
            .expect("mid");
        assert_eq!(mid.container_name.as_deref(), Some("c"));
        let post = p
            .post
            .as_ref()
            .and_then(|h| h.tag_images.as_ref())
            .expect("post");
        assert_eq!(post[0].container_name.as_deref(), Some("c"));
        assert!(
            d.spec
                .strategy
                .as_ref()
                .and_then(|s| s.rolling_params.as_ref())
                .is_none()
        );
    }

    #[test]
    fn hook_container_not_defaulted_with_two_containers() {
        let mut d = dc(json!({
            "strategy": {"type": "Recreate", "recreateParams": {
                "pre": {"failurePolicy": "Abort", "execNewPod": {"command": ["true"]}}}},
            "template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}
        }));
        apply(&mut d);
        let pre = d
            .spec
            .strategy
            .and_then(|s| s.recreate_params)
            .and_then(|p| p.pre)
            .and_then(|h| h.exec_new_pod)
            .expect("pre");
        assert_eq!(pre.container_name, None);
    }

    #[test]
    fn legacy_trigger_kinds_converted() {
        let mut d = dc(json!({
            "triggers": [{"type": "ImageChange", "imageChangeParams": {"containerNames": ["c"], "from": {"kind": "ImageStream", "name": "app"}}},
                          {"type": "ImageChange", "imageChangeParams": {"containerNames": ["c"], "from": {"name": "app:v2", "namespace": "other"}}}],
            "template": template()
        }));
        apply(&mut d);
        let t = d.spec.triggers.expect("triggers");
        let from0 = t[0]
            .image_change_params
            .as_ref()
            .and_then(|p| p.from.as_ref())
            .expect("from");
        assert_eq!(
            (
                from0.kind.as_deref(),
                from0.name.as_deref(),
                from0.namespace.as_deref()
            ),
            (Some("ImageStreamTag"), Some("app:latest"), Some("demo"))
        );
        let from1 = t[1]
            .image_change_params
            .as_ref()
            .and_then(|p| p.from.as_ref())
            .expect("from");
        assert_eq!(
            (from1.kind.as_deref(), from1.namespace.as_deref()),
            (Some("ImageStreamTag"), Some("other"))
        );
    }
}
