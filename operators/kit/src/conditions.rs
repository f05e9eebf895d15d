//! Status conditions, set the Kubernetes way: a condition whose status does not change keeps its
//! `lastTransitionTime`; setting an identical condition is a no-op (so status writes only happen
//! when something changed).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Set (insert or update) the condition of `new.type_` in `conditions`. Returns whether anything
/// changed. `lastTransitionTime` is kept from the old condition when the status is the same.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            if old.status == new.status
                && old.reason == new.reason
                && old.message == new.message
                && old.observed_generation == new.observed_generation
            {
                return false;
            }
            *old = new;
            true
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// Build a condition with the given type, status (`"True"`, `"False"`, `"Unknown"`), reason,
/// message and observed generation, stamped `now`.
pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
        observed_generation,
        last_transition_time: now,
    }
}

/// Find a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("valid"))
    }

    #[test]
    fn same_status_keeps_transition_time_and_identical_is_no_op() {
        let mut conds = Vec::new();
        assert!(set_condition(
            &mut conds,
            condition("Ready", false, "Waiting", "w", Some(1), at(10))
        ));
        assert!(!set_condition(
            &mut conds,
            condition("Ready", false, "Waiting", "w", Some(1), at(20))
        ));
        assert!(set_condition(
            &mut conds,
            condition("Ready", false, "Stuck", "s", Some(1), at(30))
        ));
        assert_eq!(conds[0].last_transition_time, at(10));
        assert!(set_condition(
            &mut conds,
            condition("Ready", true, "Created", "ok", Some(2), at(40))
        ));
        assert_eq!(conds[0].last_transition_time, at(40));
        assert_eq!(
            find(&conds, "Ready").map(|c| c.reason.as_str()),
            Some("Created")
        );
        assert_eq!(conds.len(), 1);
    }
}
