//! The DeploymentConfig controller's decisions (OCM `pkg/apps/deploymentconfig`), as pure
//! functions of the (defaulted) DeploymentConfig and its ReplicationControllers: what to do
//! next, the status to write, which RCs to scale and which to prune.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ObjectReference, PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt as _;
use outrigger_api::apps::{
    DeploymentCause, DeploymentCauseImageTrigger, DeploymentCondition, DeploymentConfig,
    DeploymentConfigStatus, DeploymentDetails,
};

use crate::defaults::strategy_type;
use crate::error::{Error, Result};
use crate::keys::{cause, condition, reason, status_reason};
use crate::rc::{self, Phase};
use crate::strategy::resolve_surge_unavailable;

/// What the controller does in this reconcile, besides writing status.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing but status (`observe`: whether `observedGeneration` may advance).
    StatusOnly {
        /// Advance `status.observedGeneration`.
        observe: bool,
    },
    /// Start a rollout (or heal a lost one): write `latestVersion` and `details` via status.
    Bump {
        /// The new `status.latestVersion`.
        latest_version: i64,
        /// The new `status.details` (`None`: keep).
        details: Option<DeploymentDetails>,
    },
    /// Older rollouts still run: mark these (non-terminal, not yet cancelled) RCs cancelled with
    /// "newer deployment was found running", then wait for all older ones to stop.
    CancelOlder {
        /// RCs to annotate.
        to_cancel: Vec<String>,
    },
    /// Create the RC of `status.latestVersion`.
    CreateRc,
    /// The latest rollout finished: set these RC replica counts (active RC to `spec.replicas`,
    /// the others to 0).
    ScaleRcs {
        /// (RC name, replicas) for every RC whose count must change.
        changes: Vec<(String, i32)>,
    },
}

fn latest_version(dc: &DeploymentConfig) -> i64 {
    dc.status
        .as_ref()
        .and_then(|s| s.latest_version)
        .unwrap_or(0)
}

fn containers_images(t: Option<&PodTemplateSpec>) -> Vec<(String, String)> {
    t.and_then(|t| t.spec.as_ref())
        .map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// True when a container of the template has a blank image (waiting for an image trigger).
pub fn has_blank_image(dc: &DeploymentConfig) -> bool {
    containers_images(dc.spec.template.as_ref())
        .iter()
        .any(|(_, image)| image.trim().is_empty())
}

fn triggers_of<'a>(
    dc: &'a DeploymentConfig,
    kind: &str,
) -> impl Iterator<Item = &'a outrigger_api::apps::DeploymentTriggerPolicy> {
    let kind = kind.to_owned();
    dc.spec
        .triggers
        .iter()
        .flatten()
        .filter(move |t| t.type_.as_deref() == Some(kind.as_str()))
}

/// Trigger evaluation (§1.8 step 8): the details of a new rollout, or `None`.
pub fn evaluate_triggers(
    dc: &DeploymentConfig,
    latest_rc: Option<&ReplicationController>,
) -> Result<Option<DeploymentDetails>> {
    if dc.spec.paused == Some(true) || dc.spec.triggers.as_ref().is_none_or(Vec::is_empty) {
        return Ok(None);
    }
    let image_triggers: Vec<_> = triggers_of(dc, cause::IMAGE_CHANGE).collect();
    let has_config_change = triggers_of(dc, cause::CONFIG_CHANGE).next().is_some();
    let config_change = || DeploymentDetails {
        message: Some(cause::CONFIG_CHANGE_MESSAGE.into()),
        causes: Some(vec![DeploymentCause {
            type_: Some(cause::CONFIG_CHANGE.into()),
            image_trigger: None,
        }]),
    };
    if latest_version(dc) == 0 {
        if !image_triggers.is_empty() {
            let all_resolved = image_triggers.iter().all(|t| {
                t.image_change_params
                    .as_ref()
                    .and_then(|p| p.last_triggered_image.as_deref())
                    .is_some_and(|i| !i.is_empty())
            });
            return Ok(all_resolved.then(config_change));
        }
        return Ok(has_config_change.then(config_change));
    }
    let Some(latest_rc) = latest_rc else {
        return Ok(None);
    };
    let previous = rc::decode_config(latest_rc)?;
    if !image_triggers.is_empty() {
        let rc_images: BTreeSet<String> =
            containers_images(latest_rc.spec.as_ref().and_then(|s| s.template.as_ref()))
                .into_iter()
                .map(|(_, i)| i)
                .collect();
        let mut causes = Vec::new();
        for (_, image) in containers_images(dc.spec.template.as_ref()) {
            if !rc_images.contains(image.trim()) {
                causes.push(DeploymentCause {
                    type_: Some(cause::IMAGE_CHANGE.into()),
                    image_trigger: Some(DeploymentCauseImageTrigger {
                        from: Some(ObjectReference {
                            kind: Some("DockerImage".into()),
                            name: Some(image.trim().to_owned()),
                            ..Default::default()
                        }),
                    }),
                });
            }
        }
        if !causes.is_empty() {
            return Ok(Some(DeploymentDetails {
                message: Some(cause::IMAGE_CHANGE_MESSAGE.into()),
                causes: Some(causes),
            }));
        }
    }
    if has_config_change && previous.spec.template != dc.spec.template {
        return Ok(Some(config_change()));
    }
    Ok(None)
}

/// The reconcile decision (§1.8 steps 1–11). `rcs` are the DC's RCs (any order).
pub fn decide(dc: &DeploymentConfig, rcs: &[ReplicationController]) -> Result<Decision> {
    let latest = latest_version(dc);
    let no_triggers = dc.spec.triggers.as_ref().is_none_or(Vec::is_empty);
    if latest == 0 && no_triggers {
        return Ok(Decision::StatusOnly { observe: true });
    }
    if dc.spec.paused == Some(true) {
        return Ok(Decision::StatusOnly { observe: true });
    }
    let max_rc_version = rcs.iter().filter_map(rc::version).max().unwrap_or(0);
    if max_rc_version > latest {
        return Ok(Decision::Bump {
            latest_version: latest + 1,
            details: None,
        });
    }
    let latest_name = rc::rc_name(&dc.name_any(), latest);
    let latest_rc = rcs.iter().find(|r| r.name_any() == latest_name);
    if latest > 0 && latest_rc.is_none() {
        let running: Vec<_> = rcs.iter().filter(|r| !rc::phase(r).is_terminal()).collect();
        if !running.is_empty() {
            let to_cancel: Vec<String> = running
                .iter()
                .filter(|r| !rc::is_cancelled(r))
                .map(|r| r.name_any())
                .collect();
            return Ok(Decision::CancelOlder { to_cancel });
        }
    }
    if has_blank_image(dc) {
        return Ok(Decision::StatusOnly { observe: true });
    }
    if (latest == 0 || latest_rc.is_some())
        && let Some(details) = evaluate_triggers(dc, latest_rc)?
    {
        return Ok(Decision::Bump {
            latest_version: latest + 1,
            details: Some(details),
        });
    }
    match latest_rc {
        None if latest > 0 => Ok(Decision::CreateRc),
        None => Ok(Decision::StatusOnly { observe: true }),
        Some(l) if !rc::phase(l).is_terminal() => Ok(Decision::StatusOnly { observe: false }),
        Some(_) => Ok(Decision::ScaleRcs {
            changes: replica_changes(dc, rcs),
        }),
    }
}

/// §1.8 step 10: the active (newest Complete) RC runs `spec.replicas` (0 for test DCs), every
/// other RC 0. Returns only the RCs whose count changes.
pub fn replica_changes(dc: &DeploymentConfig, rcs: &[ReplicationController]) -> Vec<(String, i32)> {
    let active = rc::active(rcs).map(|r| r.name_any());
    let test = dc.spec.test == Some(true);
    rcs.iter()
        .filter_map(|r| {
            let name = r.name_any();
            let want = if Some(&name) == active.as_ref() && !test {
                dc.spec.replicas.unwrap_or(0)
            } else {
                0
            };
            (rc::spec_replicas(r) != want).then_some((name, want))
        })
        .collect()
}

/// §1.8 step 12: names of RCs to delete so that at most `revisionHistoryLimit` old ones remain.
pub fn prune(dc: &DeploymentConfig, rcs: &[ReplicationController]) -> Vec<String> {
    let Some(limit) = dc.spec.revision_history_limit else {
        return Vec::new();
    };
    let limit = usize::try_from(limit).unwrap_or(0);
    let latest_name = rc::rc_name(&dc.name_any(), latest_version(dc));
    let mut candidates: Vec<&ReplicationController> = match rc::active(rcs) {
        Some(active) => {
            let av = rc::version(active).unwrap_or(0);
            rcs.iter()
                .filter(|r| r.name_any() != active.name_any() && rc::version(r).unwrap_or(0) < av)
                .collect()
        }
        None => rcs.iter().filter(|r| r.name_any() != latest_name).collect(),
    };
    if candidates.len() <= limit {
        return Vec::new();
    }
    candidates.sort_by_key(|r| rc::version(r).unwrap_or(0));
    let excess = candidates.len() - limit;
    candidates
        .into_iter()
        .take(excess)
        .filter(|r| rc::spec_replicas(r) == 0)
        .map(|r| r.name_any())
        .collect()
}

/// `spec.selector` as a label selector string (`k1=v1,k2=v2`), for the scale subresource.
pub fn selector_string(dc: &DeploymentConfig) -> Option<String> {
    let sel = dc.spec.selector.as_ref().filter(|s| !s.is_empty())?;
    Some(
        sel.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// OpenShift's `SetDeploymentCondition`: a condition with the same status and reason as the
/// existing one is a no-op; `lastTransitionTime` is kept when the status does not change.
pub fn set_condition(conds: &mut Vec<DeploymentCondition>, mut new: DeploymentCondition) {
    if let Some(cur) = conds.iter().find(|c| c.type_ == new.type_) {
        if cur.status == new.status && cur.reason == new.reason {
            return;
        }
        if cur.status == new.status {
            new.last_transition_time
                .clone_from(&cur.last_transition_time);
        }
    }
    conds.retain(|c| c.type_ != new.type_);
    conds.push(new);
}

fn cond(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: &Time,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: Some(type_.into()),
        status: Some(status.into()),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
        message: Some(message),
    }
}

/// The Progressing condition to set for a freshly created RC.
pub fn created_condition(rc_name: &str, now: &Time) -> DeploymentCondition {
    cond(
        condition::PROGRESSING,
        "True",
        reason::NEW_RC_CREATED,
        format!(
            "replication controller {rc_name:?} is waiting for pod \"{rc_name}-deploy\" to run"
        ),
        now,
    )
}

/// The Progressing condition to set when the RC could not be created.
pub fn create_error_condition(rc_name: &str, err: &str, now: &Time) -> DeploymentCondition {
    cond(
        condition::PROGRESSING,
        "False",
        reason::RC_CREATE_ERROR,
        format!("cannot create replication controller {rc_name:?}: {err}"),
        now,
    )
}

/// A condition reporting bad input (Progressing=False with the error's category as reason).
pub fn invalid_condition(err: &Error, now: &Time) -> DeploymentCondition {
    cond(
        condition::PROGRESSING,
        "False",
        err.category(),
        err.to_string(),
        now,
    )
}

/// §1.8 step 13: the status for `dc` given its RCs; `prev` is the status read from the object,
/// `observe` whether `observedGeneration` advances.
pub fn compute_status(
    dc: &DeploymentConfig,
    rcs: &[ReplicationController],
    observe: bool,
    now: &Time,
) -> DeploymentConfigStatus {
    let prev = dc.status.clone().unwrap_or_default();
    let latest = prev.latest_version.unwrap_or(0);
    let latest_name = rc::rc_name(&dc.name_any(), latest);
    let latest_rc = rcs.iter().find(|r| r.name_any() == latest_name);
    let st = |r: &ReplicationController| r.status.clone().unwrap_or_default();
    let replicas: i32 = rcs.iter().map(|r| st(r).replicas).sum();
    let available: i32 = rcs
        .iter()
        .map(|r| st(r).available_replicas.unwrap_or(0))
        .sum();
    let ready: i32 = rcs.iter().map(|r| st(r).ready_replicas.unwrap_or(0)).sum();
    let spec_total: i32 = rcs.iter().map(rc::spec_replicas).sum();
    let updated = latest_rc.map(|r| st(r).replicas).unwrap_or(0);
    let mut status = DeploymentConfigStatus {
        latest_version: Some(latest),
        observed_generation: if observe {
            dc.metadata.generation.or(prev.observed_generation)
        } else {
            prev.observed_generation
        },
        replicas: Some(replicas),
        updated_replicas: Some(updated),
        available_replicas: Some(available),
        unavailable_replicas: Some((spec_total - available).max(0)),
        ready_replicas: Some(ready),
        details: prev.details.clone(),
        conditions: prev.conditions.clone(),
        selector: selector_string(dc),
    };
    let mut conds = status.conditions.take().unwrap_or_default();
    // Bad-input conditions are re-asserted by the controller while the input stays bad; once it
    // is fixed they must not linger.
    conds.retain(|c| {
        !(c.type_.as_deref() == Some(condition::PROGRESSING)
            && c.reason
                .as_deref()
                .is_some_and(|r| BAD_INPUT_REASONS.contains(&r)))
    });

    let desired = dc.spec.replicas.unwrap_or(0);
    let max_unavailable = if strategy_type(dc.spec.strategy.as_ref()) == "Rolling" {
        let p = dc
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.rolling_params.as_ref());
        resolve_surge_unavailable(
            p.and_then(|p| p.max_surge.as_ref()),
            p.and_then(|p| p.max_unavailable.as_ref()),
            desired,
        )
        .map(|l| l.max_unavailable)
        .unwrap_or(0)
    } else {
        0
    };
    if available >= desired - max_unavailable && available > 0 {
        set_condition(
            &mut conds,
            cond(
                condition::AVAILABLE,
                "True",
                "",
                "Deployment config has minimum availability.".into(),
                now,
            ),
        );
    } else {
        set_condition(
            &mut conds,
            cond(
                condition::AVAILABLE,
                "False",
                "",
                "Deployment config does not have minimum availability.".into(),
                now,
            ),
        );
    }

    if let Some(l) = latest_rc {
        let name = l.name_any();
        match rc::phase(l) {
            Phase::New => {}
            Phase::Pending => set_condition(
                &mut conds,
                cond(
                    condition::PROGRESSING,
                    "Unknown",
                    "",
                    format!(
                        "replication controller {name:?} is waiting for pod \"{}\" to run",
                        rc::deployer_pod_name(&name)
                    ),
                    now,
                ),
            ),
            Phase::Running => {
                let progressed = updated > prev.updated_replicas.unwrap_or(0)
                    || (replicas - updated)
                        < (prev.replicas.unwrap_or(0) - prev.updated_replicas.unwrap_or(0));
                if progressed
                    || !conds.iter().any(|c| {
                        c.type_.as_deref() == Some(condition::PROGRESSING)
                            && c.reason.as_deref() == Some(reason::RC_UPDATED)
                    })
                {
                    // OpenShift removes and re-adds the condition on progress so that
                    // lastUpdateTime moves.
                    conds.retain(|c| c.type_.as_deref() != Some(condition::PROGRESSING));
                    conds.push(cond(
                        condition::PROGRESSING,
                        "True",
                        reason::RC_UPDATED,
                        format!("replication controller {name:?} is progressing"),
                        now,
                    ));
                }
            }
            Phase::Failed => {
                let c = if rc::is_cancelled(l) {
                    cond(
                        condition::PROGRESSING,
                        "False",
                        reason::CANCELLED,
                        format!("rollout of replication controller {name:?} was cancelled"),
                        now,
                    )
                } else {
                    cond(
                        condition::PROGRESSING,
                        "False",
                        reason::TIMED_OUT,
                        format!("replication controller {name:?} has failed progressing"),
                        now,
                    )
                };
                set_condition(&mut conds, c);
            }
            Phase::Complete => set_condition(
                &mut conds,
                cond(
                    condition::PROGRESSING,
                    "True",
                    reason::NEW_RC_AVAILABLE,
                    format!("replication controller {name:?} successfully rolled out"),
                    now,
                ),
            ),
        }
    }
    conds.sort_by(|a, b| a.type_.cmp(&b.type_));
    status.conditions = Some(conds);
    status
}

/// Progressing reasons that report bad input (categories of [`Error`] that stop a rollout).
pub const BAD_INPUT_REASONS: [&str; 3] = ["InvalidConfig", "ImageTriggerUnresolved", "BadRequest"];

/// Status equality ignoring the condition timestamps (to avoid writes that change nothing).
pub fn status_differs(a: &DeploymentConfigStatus, b: &DeploymentConfigStatus) -> bool {
    let strip = |s: &DeploymentConfigStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_transition_time = None;
            c.last_update_time = None;
        }
        if let Some(c) = s.conditions.as_mut() {
            c.sort_by(|x, y| x.type_.cmp(&y.type_));
        }
        s
    };
    strip(a) != strip(b)
}

/// Reason for a rollout's cancellation when a newer version takes over.
pub const NEWER_RUNNING: &str = status_reason::NEWER_RUNNING;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rc::tests::{dc_fixture, rc_with_phase};
    use k8s_openapi::api::core::v1::ReplicationControllerStatus;
    use pretty_assertions::assert_eq;

    fn now() -> Time {
        Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
    }

    fn rc_of(dc: &DeploymentConfig, v: i64, phase: Phase, replicas: i32) -> ReplicationController {
        let mut d = dc.clone();
        d.status.get_or_insert_with(Default::default).latest_version = Some(v);
        let mut r = rc::build(&d).expect("builds");
        r.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(
                crate::keys::DEPLOYMENT_STATUS_ANNOTATION.into(),
                phase.as_str().into(),
            );
        if let Some(s) = r.spec.as_mut() {
            s.replicas = Some(replicas);
        }
        r.status = Some(ReplicationControllerStatus {
            replicas,
            available_replicas: Some(replicas),
            ready_replicas: Some(replicas),
            ..Default::default()
        });
        r
    }

    #[test]
    fn initial_config_change_rolls_out_version_one() {
        let dc = dc_fixture(0);
        let d = decide(&dc, &[]).expect("decides");
        match d {
            Decision::Bump {
                latest_version,
                details,
            } => {
                assert_eq!(latest_version, 1);
                assert_eq!(
                    details.and_then(|d| d.message).as_deref(),
                    Some("config change")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn missing_latest_rc_is_created() {
        let dc = dc_fixture(1);
        assert_eq!(decide(&dc, &[]).expect("decides"), Decision::CreateRc);
    }

    #[test]
    fn no_triggers_and_no_version_only_status() {
        let mut dc = dc_fixture(0);
        dc.spec.triggers = Some(vec![]);
        assert_eq!(
            decide(&dc, &[]).expect("decides"),
            Decision::StatusOnly { observe: true }
        );
    }

    #[test]
    fn template_change_rolls_out_next_version() {
        let dc = dc_fixture(1);
        let rc1 = rc_of(&dc, 1, Phase::Complete, 3);
        // Unchanged: just replicas.
        assert_eq!(
            decide(&dc, std::slice::from_ref(&rc1)).expect("decides"),
            Decision::ScaleRcs { changes: vec![] }
        );
        let mut changed = dc.clone();
        if let Some(c) = changed.spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
            c.containers[0].env = Some(vec![k8s_openapi::api::core::v1::EnvVar {
                name: "X".into(),
                value: Some("1".into()),
                value_from: None,
            }]);
        }
        match decide(&changed, &[rc1]).expect("decides") {
            Decision::Bump {
                latest_version: 2,
                details: Some(d),
            } => {
                assert_eq!(
                    d.causes.expect("causes")[0].type_.as_deref(),
                    Some("ConfigChange")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn paused_starts_nothing() {
        let mut dc = dc_fixture(1);
        dc.spec.paused = Some(true);
        if let Some(c) = dc.spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
            c.containers[0].image = Some("other".into());
        }
        let rc1 = rc_of(&dc_fixture(1), 1, Phase::Complete, 3);
        assert_eq!(
            decide(&dc, &[rc1]).expect("decides"),
            Decision::StatusOnly { observe: true }
        );
    }

    #[test]
    fn running_latest_waits_without_observing() {
        let dc = dc_fixture(2);
        let rcs = [
            rc_of(&dc, 1, Phase::Complete, 3),
            rc_of(&dc, 2, Phase::Running, 1),
        ];
        assert_eq!(
            decide(&dc, &rcs).expect("decides"),
            Decision::StatusOnly { observe: false }
        );
    }

    #[test]
    fn newer_version_cancels_running_older() {
        let dc = dc_fixture(3);
        let rcs = [
            rc_of(&dc, 1, Phase::Complete, 3),
            rc_of(&dc, 2, Phase::Running, 1),
        ];
        assert_eq!(
            decide(&dc, &rcs).expect("decides"),
            Decision::CancelOlder {
                to_cancel: vec!["web-2".into()]
            }
        );
    }

    #[test]
    fn lost_status_heals_by_one() {
        let dc = dc_fixture(1);
        let rcs = [
            rc_of(&dc, 1, Phase::Complete, 0),
            rc_of(&dc, 2, Phase::Complete, 3),
        ];
        assert_eq!(
            decide(&dc, &rcs).expect("decides"),
            Decision::Bump {
                latest_version: 2,
                details: None
            }
        );
    }

    #[test]
    fn failed_latest_restores_last_complete() {
        let dc = dc_fixture(2);
        let rcs = [
            rc_of(&dc, 1, Phase::Complete, 0),
            rc_of(&dc, 2, Phase::Failed, 2),
        ];
        assert_eq!(
            decide(&dc, &rcs).expect("decides"),
            Decision::ScaleRcs {
                changes: vec![("web-1".into(), 3), ("web-2".into(), 0)]
            }
        );
    }

    #[test]
    fn test_dc_keeps_active_at_zero() {
        let mut dc = dc_fixture(1);
        dc.spec.test = Some(true);
        let rcs = [rc_of(&dc, 1, Phase::Complete, 3)];
        assert_eq!(replica_changes(&dc, &rcs), vec![("web-1".into(), 0)]);
    }

    #[test]
    fn image_trigger_waits_for_first_resolution_then_rolls_out_on_new_image() {
        let mut dc = dc_fixture(0);
        dc.spec.triggers = Some(serde_json::from_value(serde_json::json!([
            {"type": "ImageChange", "imageChangeParams": {"automatic": true, "containerNames": ["c"], "from": {"kind": "ImageStreamTag", "name": "s:t"}}}
        ])).expect("triggers"));
        assert_eq!(
            decide(&dc, &[]).expect("decides"),
            Decision::StatusOnly { observe: true }
        );
        if let Some(p) = dc
            .spec
            .triggers
            .as_mut()
            .and_then(|t| t[0].image_change_params.as_mut())
        {
            p.last_triggered_image = Some("img:1".into());
        }
        assert!(matches!(
            decide(&dc, &[]).expect("decides"),
            Decision::Bump {
                latest_version: 1,
                ..
            }
        ));
        dc.status
            .get_or_insert_with(Default::default)
            .latest_version = Some(1);
        let rc1 = rc_of(&dc, 1, Phase::Complete, 3);
        if let Some(c) = dc.spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
            c.containers[0].image = Some("img:2".into());
        }
        match decide(&dc, &[rc1]).expect("decides") {
            Decision::Bump {
                latest_version: 2,
                details: Some(d),
            } => {
                assert_eq!(d.message.as_deref(), Some("image change"));
                let c = &d.causes.expect("causes")[0];
                assert_eq!(
                    c.image_trigger
                        .as_ref()
                        .and_then(|t| t.from.as_ref())
                        .and_then(|f| f.name.as_deref()),
                    Some("img:2")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn pruning_keeps_history_limit_and_skips_scaled() {
        let mut dc = dc_fixture(6);
        dc.spec.revision_history_limit = Some(2);
        let mut rcs: Vec<_> = (1..=5).map(|v| rc_of(&dc, v, Phase::Complete, 0)).collect();
        rcs.push(rc_of(&dc, 6, Phase::Complete, 3));
        assert_eq!(prune(&dc, &rcs), vec!["web-1", "web-2", "web-3"]);
        // A scaled-up old RC is skipped but still counts.
        if let Some(s) = rcs[0].spec.as_mut() {
            s.replicas = Some(1);
        }
        assert_eq!(prune(&dc, &rcs), vec!["web-2", "web-3"]);
        dc.spec.revision_history_limit = None;
        assert!(prune(&dc, &rcs).is_empty());
    }

    #[test]
    fn status_sums_and_conditions() {
        let dc = dc_fixture(2);
        let rcs = [
            rc_of(&dc, 1, Phase::Complete, 0),
            rc_of(&dc, 2, Phase::Complete, 3),
        ];
        let s = compute_status(&dc, &rcs, true, &now());
        assert_eq!(
            (
                s.latest_version,
                s.observed_generation,
                s.replicas,
                s.updated_replicas,
                s.available_replicas,
                s.unavailable_replicas
            ),
            (Some(2), Some(2), Some(3), Some(3), Some(3), Some(0))
        );
        assert_eq!(s.selector.as_deref(), Some("app=web"));
        let conds = s.conditions.clone().expect("conditions");
        let find = |t: &str| {
            conds
                .iter()
                .find(|c| c.type_.as_deref() == Some(t))
                .cloned()
                .expect("condition")
        };
        assert_eq!(find("Available").status.as_deref(), Some("True"));
        let p = find("Progressing");
        assert_eq!(
            (p.status.as_deref(), p.reason.as_deref()),
            (Some("True"), Some("NewReplicationControllerAvailable"))
        );
        assert_eq!(
            p.message.as_deref(),
            Some("replication controller \"web-2\" successfully rolled out")
        );
        // Same again: no difference.
        let mut again_dc = dc.clone();
        again_dc.status = Some(s.clone());
        let later = Time(k8s_openapi::jiff::Timestamp::from_second(100).expect("ts"));
        assert!(!status_differs(
            &compute_status(&again_dc, &rcs, true, &later),
            &s
        ));
    }

    #[test]
    fn failed_and_cancelled_progressing_reasons() {
        let dc = dc_fixture(2);
        let mut failed = rc_of(&dc, 2, Phase::Failed, 0);
        let s = compute_status(&dc, std::slice::from_ref(&failed), true, &now());
        let p = s
            .conditions
            .expect("c")
            .into_iter()
            .find(|c| c.type_.as_deref() == Some("Progressing"))
            .expect("p");
        assert_eq!(p.reason.as_deref(), Some("ProgressDeadlineExceeded"));
        failed
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(
                crate::keys::DEPLOYMENT_CANCELLED_ANNOTATION.into(),
                "true".into(),
            );
        let s = compute_status(&dc, &[failed], true, &now());
        let p = s
            .conditions
            .expect("c")
            .into_iter()
            .find(|c| c.type_.as_deref() == Some("Progressing"))
            .expect("p");
        assert_eq!(p.reason.as_deref(), Some("RolloutCancelled"));
        let a = rc_with_phase("web", 1, Phase::Complete);
        assert_eq!(rc::version(&a), Some(1));
    }

    #[test]
    fn fixed_bad_input_condition_is_dropped() {
        let mut dc = dc_fixture(0);
        let err = Error::ImageTrigger("image stream demo/app does not exist".into());
        dc.status.get_or_insert_with(Default::default).conditions =
            Some(vec![invalid_condition(&err, &now())]);
        let s = compute_status(&dc, &[], true, &now());
        assert!(
            s.conditions
                .unwrap_or_default()
                .iter()
                .all(|c| c.type_.as_deref() != Some("Progressing")),
            "stale ImageTriggerUnresolved must go"
        );
    }

    #[test]
    fn available_uses_rolling_max_unavailable() {
        // 4 desired, 25% → 1 may be unavailable: 3 available is enough.
        let mut dc = dc_fixture(1);
        dc.spec.replicas = Some(4);
        let mut r = rc_of(&dc, 1, Phase::Complete, 4);
        if let Some(s) = r.status.as_mut() {
            s.available_replicas = Some(3);
        }
        let s = compute_status(&dc, std::slice::from_ref(&r), true, &now());
        let a = s
            .conditions
            .expect("c")
            .into_iter()
            .find(|c| c.type_.as_deref() == Some("Available"))
            .expect("a");
        assert_eq!(a.status.as_deref(), Some("True"));
        if let Some(s) = r.status.as_mut() {
            s.available_replicas = Some(2);
        }
        let s = compute_status(&dc, &[r], true, &now());
        let a = s
            .conditions
            .expect("c")
            .into_iter()
            .find(|c| c.type_.as_deref() == Some("Available"))
            .expect("a");
        assert_eq!(a.status.as_deref(), Some("False"));
    }
}
