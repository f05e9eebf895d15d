//! Error categories: every reconcile error names a stable PascalCase category, used verbatim as
//! the reason of a status condition, the reason of an Event and the `category` metric label (a
//! small fixed set, so metric cardinality stays bounded).

use std::time::Duration;

use kube::runtime::controller::Action;

/// An error that knows its category and whether retrying can help.
pub trait ErrorCategory: std::error::Error {
    /// Stable PascalCase name, e.g. `InvalidStrategy`, `ApiUnavailable`.
    fn category(&self) -> &'static str;

    /// True when the object itself is wrong: retrying without a change to it is pointless.
    fn is_permanent(&self) -> bool {
        false
    }
}

/// What to do after an error: wait for the object to change if it is invalid, otherwise retry
/// with a back-off that grows with the number of consecutive failures (1 s doubling to 5 min).
pub fn requeue_action(error: &dyn ErrorCategory, consecutive_failures: u32) -> Action {
    if error.is_permanent() {
        // A periodic check still runs, in case something the object refers to appears.
        return Action::requeue(Duration::from_secs(300));
    }
    Action::requeue(backoff(consecutive_failures))
}

/// Exponential back-off: 1 s, 2 s, 4 s, ... capped at 300 s.
pub fn backoff(consecutive_failures: u32) -> Duration {
    let secs = 1u64
        .checked_shl(consecutive_failures.min(16))
        .unwrap_or(u64::MAX);
    Duration::from_secs(secs.min(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("bad")]
    struct Bad(bool);

    impl ErrorCategory for Bad {
        fn category(&self) -> &'static str {
            "Bad"
        }
        fn is_permanent(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(40), Duration::from_secs(300));
    }

    #[test]
    fn permanent_errors_wait_long() {
        assert_eq!(
            requeue_action(&Bad(true), 0),
            Action::requeue(Duration::from_secs(300))
        );
        assert_eq!(
            requeue_action(&Bad(false), 2),
            Action::requeue(Duration::from_secs(4))
        );
    }
}
