//! The crate's error type: one variant per failure, each with a stable PascalCase category used
//! as condition reason, Event reason and metric label, and a permanent/transient split for the
//! controllers' error policy.

/// Everything that can go wrong in the controllers and the deployer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    /// The DeploymentConfig's spec cannot be acted on (bad strategy, hook naming a missing
    /// container, malformed surge, …). Retrying is pointless until the object changes.
    #[error("invalid DeploymentConfig: {0}")]
    InvalidConfig(String),

    /// An ImageChange trigger names an ImageStream or tag that does not exist (yet).
    #[error("image trigger: {0}")]
    ImageTrigger(String),

    /// An object the controller needs lacks a field it must have (namespace, name, uid).
    #[error("object {0} lacks {1}")]
    MissingField(String, &'static str),

    /// An RC's annotations cannot be read (bad encoded config, bad version number).
    #[error("replication controller {rc}: {message}")]
    BadReplicationController {
        /// The RC.
        rc: String,
        /// What is wrong.
        message: String,
    },

    /// JSON (de)serialisation of an object failed.
    #[error("serialisation: {0}")]
    Json(#[from] serde_json::Error),

    /// An older rollout is still running; the new one waits for it to stop.
    #[error("waiting for rollout {0} to stop before starting a newer one")]
    OlderRolloutRunning(String),

    /// A rollout step failed in the deployer (strategy, hook, timeout).
    #[error("{0}")]
    Rollout(String),

    /// A lifecycle hook failed and its failure policy aborts the rollout.
    #[error("{0}")]
    HookFailed(String),

    /// A declarative request annotation (instantiate, rollback) is malformed or not allowed.
    #[error("{0}")]
    BadRequest(String),
}

impl Error {
    /// Stable PascalCase category.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::InvalidConfig(_) => "InvalidConfig",
            Error::ImageTrigger(_) => "ImageTriggerUnresolved",
            Error::MissingField(..) => "MissingField",
            Error::BadReplicationController { .. } => "BadReplicationController",
            Error::Json(_) => "SerializationError",
            Error::OlderRolloutRunning(_) => "OlderRolloutRunning",
            Error::Rollout(_) => "RolloutFailed",
            Error::HookFailed(_) => "HookFailed",
            Error::BadRequest(_) => "BadRequest",
        }
    }

    /// True when retrying without a change of the object cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::InvalidConfig(_) | Error::MissingField(..) | Error::BadRequest(_)
        )
    }
}

/// Crate result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl outrigger_kit::error::ErrorCategory for Error {
    fn category(&self) -> &'static str {
        Error::category(self)
    }

    fn is_permanent(&self) -> bool {
        Error::is_permanent(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_stable_pascal_case() {
        let errs = [
            Error::InvalidConfig("x".into()),
            Error::ImageTrigger("x".into()),
            Error::OlderRolloutRunning("x".into()),
            Error::HookFailed("x".into()),
        ];
        let cats: Vec<_> = errs.iter().map(Error::category).collect();
        assert_eq!(
            cats,
            [
                "InvalidConfig",
                "ImageTriggerUnresolved",
                "OlderRolloutRunning",
                "HookFailed"
            ]
        );
        assert!(errs[0].is_permanent());
        assert!(!errs[2].is_permanent());
    }
}
