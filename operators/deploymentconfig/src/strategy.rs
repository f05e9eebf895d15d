//! Strategy arithmetic: `maxSurge` / `maxUnavailable` resolution and the rolling updater's
//! scale-up and scale-down steps (kubectl's rolling updater as vendored by OpenShift's deployer).
//!
//! Everything here is pure; the deployer applies the numbers to real RCs.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A value of `maxSurge` / `maxUnavailable` that is neither a non-negative integer nor `N%`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {field}: must be an integer or a percentage such as 25%")]
pub struct InvalidIntOrPercent {
    /// The field (`maxSurge` or `maxUnavailable`).
    pub field: &'static str,
    /// The offending value.
    pub value: String,
}

/// Resolves an int-or-percent against `total`: percentages round up when `round_up`, else down.
pub fn scaled_value(
    field: &'static str,
    value: &IntOrString,
    total: i32,
    round_up: bool,
) -> Result<i32, InvalidIntOrPercent> {
    let invalid = || InvalidIntOrPercent {
        field,
        value: match value {
            IntOrString::Int(i) => i.to_string(),
            IntOrString::String(s) => s.clone(),
        },
    };
    match value {
        IntOrString::Int(i) if *i >= 0 => Ok(*i),
        IntOrString::Int(_) => Err(invalid()),
        IntOrString::String(s) => {
            let digits = s.strip_suffix('%').ok_or_else(invalid)?;
            let pct: i64 = digits.parse().map_err(|_| invalid())?;
            if !(0..=100).contains(&pct) {
                return Err(invalid());
            }
            let scaled = i64::from(total) * pct;
            let v = if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            };
            i32::try_from(v).map_err(|_| invalid())
        }
    }
}

/// `maxSurge` and `maxUnavailable` resolved against the desired replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurgeUnavailable {
    /// Pods allowed above `desired`.
    pub max_surge: i32,
    /// Pods allowed below `desired`.
    pub max_unavailable: i32,
}

/// Resolves surge (rounded up) and unavailable (rounded down) against `desired`; unset values
/// count as 0; when both come out 0, `maxUnavailable` becomes 1 (as at OpenShift's run time).
pub fn resolve_surge_unavailable(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<SurgeUnavailable, InvalidIntOrPercent> {
    let surge = match max_surge {
        Some(v) => scaled_value("maxSurge", v, desired, true)?,
        None => 0,
    };
    let mut unavailable = match max_unavailable {
        Some(v) => scaled_value("maxUnavailable", v, desired, false)?,
        None => 0,
    };
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok(SurgeUnavailable {
        max_surge: surge,
        max_unavailable: unavailable,
    })
}

/// The minimum number of available pods the rolling updater keeps: `max(0, desired −
/// maxUnavailable)`, 0 when `desired` is 0.
pub fn min_available(desired: i32, limits: SurgeUnavailable) -> i32 {
    if desired == 0 {
        0
    } else {
        (desired - limits.max_unavailable).max(0)
    }
}

/// Replica count of the new RC after a scale-up step, or `None` when it must not change.
pub fn scale_up_target(
    old_replicas: i32,
    new_replicas: i32,
    desired: i32,
    limits: SurgeUnavailable,
) -> Option<i32> {
    if new_replicas == desired {
        return None;
    }
    let increment = if old_replicas == 0 {
        desired - new_replicas
    } else {
        (desired + limits.max_surge) - (old_replicas + new_replicas)
    };
    if increment <= 0 {
        return None;
    }
    Some((new_replicas + increment).min(desired))
}

/// Replica count of the old RC after a scale-down step, or `None` when it must not change.
/// `new_available` counts the new RC's pods available for `minReadySeconds`.
pub fn scale_down_target(
    old_replicas: i32,
    new_replicas: i32,
    new_available: i32,
    desired: i32,
    limits: SurgeUnavailable,
) -> Option<i32> {
    if old_replicas == 0 {
        return None;
    }
    let all = old_replicas + new_replicas;
    let new_unavailable = new_replicas - new_available;
    let decrement = all - min_available(desired, limits) - new_unavailable;
    if decrement <= 0 {
        return None;
    }
    let mut target = (old_replicas - decrement).max(0);
    if new_replicas == desired && new_available == desired {
        target = 0;
    }
    (target != old_replicas).then_some(target)
}

/// One step of a rolling update as (new RC replicas, old RC replicas) after the step.
pub type Step = (i32, i32);

/// Simulates a rolling update in which every new pod becomes available as soon as it is
/// created: the plan of (new, old) replica counts after each scale operation. Used by tests
/// and by the deployer's log to announce the plan.
pub fn rolling_plan(old_start: i32, desired: i32, limits: SurgeUnavailable) -> Vec<Step> {
    let (mut new, mut old) = (0, old_start);
    let mut steps = Vec::new();
    // Bounded: every iteration changes at least one count, each count moves monotonically.
    for _ in 0..=(2 * (old_start + desired) + 2) {
        if new == desired && old == 0 {
            break;
        }
        let mut progressed = false;
        if let Some(n) = scale_up_target(old, new, desired, limits) {
            new = n;
            steps.push((new, old));
            progressed = true;
        }
        if let Some(o) = scale_down_target(old, new, new, desired, limits) {
            old = o;
            steps.push((new, old));
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.to_owned())
    }

    #[test]
    fn percent_rounds_up_for_surge_and_down_for_unavailable() {
        let r = resolve_surge_unavailable(Some(&s("25%")), Some(&s("25%")), 10).expect("valid");
        assert_eq!(
            r,
            SurgeUnavailable {
                max_surge: 3,
                max_unavailable: 2
            }
        );
        let r = resolve_surge_unavailable(Some(&s("25%")), Some(&s("25%")), 1).expect("valid");
        assert_eq!(
            r,
            SurgeUnavailable {
                max_surge: 1,
                max_unavailable: 0
            }
        );
        assert_eq!(scaled_value("x", &s("100%"), 7, false), Ok(7));
        assert_eq!(scaled_value("x", &s("0%"), 7, true), Ok(0));
        assert_eq!(scaled_value("x", &IntOrString::Int(4), 7, true), Ok(4));
    }

    #[test]
    fn both_zero_forces_one_unavailable() {
        // 25% of 3 rounds down to 0 and maxSurge 0: OpenShift forces maxUnavailable to 1.
        let r = resolve_surge_unavailable(Some(&IntOrString::Int(0)), Some(&s("25%")), 3)
            .expect("valid");
        assert_eq!(
            r,
            SurgeUnavailable {
                max_surge: 0,
                max_unavailable: 1
            }
        );
        let r = resolve_surge_unavailable(None, None, 5).expect("valid");
        assert_eq!(r.max_unavailable, 1);
    }

    #[test]
    fn invalid_values_are_errors() {
        assert!(scaled_value("maxSurge", &s("abc"), 3, true).is_err());
        assert!(scaled_value("maxSurge", &s("101%"), 3, true).is_err());
        assert!(scaled_value("maxSurge", &s("-1%"), 3, true).is_err());
        assert!(scaled_value("maxSurge", &IntOrString::Int(-1), 3, true).is_err());
        let e = scaled_value("maxSurge", &s("5"), 3, true).expect_err("no percent sign");
        assert_eq!(
            e.to_string(),
            "invalid value \"5\" for maxSurge: must be an integer or a percentage such as 25%"
        );
    }

    #[test]
    fn min_available_never_negative() {
        let l = SurgeUnavailable {
            max_surge: 0,
            max_unavailable: 5,
        };
        assert_eq!(min_available(3, l), 0);
        assert_eq!(min_available(0, l), 0);
        assert_eq!(min_available(10, l), 5);
    }

    #[test]
    fn scale_up_respects_surge() {
        let l = SurgeUnavailable {
            max_surge: 1,
            max_unavailable: 0,
        };
        // 3 old, 0 new, desired 3, surge 1: one new pod.
        assert_eq!(scale_up_target(3, 0, 3, l), Some(1));
        // At the surge limit: nothing.
        assert_eq!(scale_up_target(3, 1, 3, l), None);
        // Old gone: straight to desired.
        assert_eq!(scale_up_target(0, 1, 3, l), Some(3));
        // Already there.
        assert_eq!(scale_up_target(1, 3, 3, l), None);
    }

    #[test]
    fn scale_down_keeps_min_available() {
        let l = SurgeUnavailable {
            max_surge: 1,
            max_unavailable: 0,
        };
        // 3 old, 1 new not yet available: nothing may go.
        assert_eq!(scale_down_target(3, 1, 0, 3, l), None);
        // The new one is available: one old pod may go.
        assert_eq!(scale_down_target(3, 1, 1, 3, l), Some(2));
        // New fully available at desired: the rest goes at once.
        assert_eq!(scale_down_target(1, 3, 3, 3, l), Some(0));
        assert_eq!(scale_down_target(0, 3, 3, 3, l), None);
    }

    #[test]
    fn plan_with_surge_only() {
        let l = SurgeUnavailable {
            max_surge: 1,
            max_unavailable: 0,
        };
        assert_eq!(
            rolling_plan(3, 3, l),
            vec![(1, 3), (1, 2), (2, 2), (2, 1), (3, 1), (3, 0)]
        );
    }

    #[test]
    fn plan_with_default_quarters_of_ten() {
        // 25%/25% of 10: surge 3, unavailable 2 → min available 8.
        let l = resolve_surge_unavailable(Some(&s("25%")), Some(&s("25%")), 10).expect("valid");
        let plan = rolling_plan(10, 10, l);
        assert_eq!(plan.first(), Some(&(3, 10)));
        assert_eq!(plan.last(), Some(&(10, 0)));
        for (new, old) in &plan {
            assert!(new + old <= 13, "surge exceeded in {plan:?}");
            assert!(new + old >= 8, "availability broken in {plan:?}");
        }
    }

    #[test]
    fn plan_with_unavailable_only() {
        let l = SurgeUnavailable {
            max_surge: 0,
            max_unavailable: 1,
        };
        assert_eq!(rolling_plan(2, 2, l), vec![(0, 1), (1, 1), (1, 0), (2, 0)]);
    }

    #[test]
    fn plan_scaling_to_zero_and_from_zero() {
        let l = SurgeUnavailable {
            max_surge: 1,
            max_unavailable: 1,
        };
        assert_eq!(rolling_plan(2, 0, l), vec![(0, 0)]);
        assert_eq!(rolling_plan(0, 2, l), vec![(2, 0)]);
    }
}
