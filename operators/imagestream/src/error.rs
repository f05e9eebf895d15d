//! Errors of the ImageStream controller. Every variant has a stable category
//! ([`ErrorCategory::category`]) that becomes the reason of a tag's `ImportSuccess=False`
//! condition, the reason of the Warning Event, and the `category` metric label.

use outrigger_kit::error::ErrorCategory;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while resolving, importing or triggering.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pull spec (`spec.tags[].from.name` of a `DockerImage`) cannot be parsed.
    #[error("invalid image reference {reference:?}: {reason}")]
    MalformedReference {
        /// The reference as written.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The registry answered that the repository, tag or digest does not exist.
    #[error("{reference}: not found in the registry: {message}")]
    NotFound {
        /// The imported reference.
        reference: String,
        /// The registry's message.
        message: String,
    },

    /// The registry refused the credentials (or anonymous access).
    #[error("{reference}: unauthorized: {message}")]
    Unauthorized {
        /// The imported reference.
        reference: String,
        /// The registry's message.
        message: String,
    },

    /// The registry could not be reached (DNS, connection, TLS, timeout).
    #[error("{reference}: registry unreachable: {message}")]
    RegistryUnreachable {
        /// The imported reference.
        reference: String,
        /// Transport error.
        message: String,
    },

    /// The registry answered with an error that is none of the above.
    #[error("{reference}: registry error: {message}")]
    Registry {
        /// The imported reference.
        reference: String,
        /// The registry's message.
        message: String,
    },

    /// The manifest is of a kind this importer does not read, or is not valid JSON.
    #[error("{reference}: unsupported manifest: {message}")]
    UnsupportedManifest {
        /// The imported reference.
        reference: String,
        /// What was found.
        message: String,
    },

    /// A manifest list has no entry for the wanted platform (importMode Legacy).
    #[error("{reference}: the manifest list has no image for {platform} nor any usable entry")]
    NoMatchingPlatform {
        /// The imported reference.
        reference: String,
        /// The wanted `os/arch`.
        platform: String,
    },

    /// An `ImageStreamTag`/`ImageStreamImage` source names a stream or tag that has no image.
    #[error("{0}")]
    SourceNotFound(String),

    /// A `spec.tags[].from` that cannot be used (bad kind or name form).
    #[error("{0}")]
    InvalidTag(String),

    /// The `image.openshift.io/triggers` annotation of a workload is invalid.
    #[error("invalid image.openshift.io/triggers annotation: {0}")]
    InvalidTrigger(String),

    /// An object lacks a field the controller needs (namespace, name).
    #[error("{0} has no {1}")]
    MissingField(String, &'static str),

    /// A pull secret cannot be read.
    #[error("pull secret {secret}: {reason}")]
    PullSecret {
        /// `namespace/name` of the secret.
        secret: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A lock of the controller's in-memory state was poisoned by a panic elsewhere.
    #[error("the controller's state lock is poisoned")]
    StatePoisoned,

    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    /// An object could not be (de)serialised.
    #[error("serialisation: {0}")]
    Serde(#[from] serde_json::Error),
}

impl ErrorCategory for Error {
    fn category(&self) -> &'static str {
        match self {
            Error::MalformedReference { .. } => "InvalidImageReference",
            Error::NotFound { .. } => "NotFound",
            Error::Unauthorized { .. } => "Unauthorized",
            Error::RegistryUnreachable { .. } => "RegistryUnreachable",
            Error::Registry { .. } => "RegistryError",
            Error::UnsupportedManifest { .. } => "UnsupportedManifest",
            Error::NoMatchingPlatform { .. } => "NoMatchingPlatform",
            Error::SourceNotFound(_) => "NotFound",
            Error::InvalidTag(_) => "InvalidTag",
            Error::InvalidTrigger(_) => "InvalidTrigger",
            Error::MissingField(..) => "MissingField",
            Error::PullSecret { .. } => "InvalidPullSecret",
            Error::StatePoisoned => "StatePoisoned",
            Error::Kube(e) => match e {
                kube::Error::Api(s) if s.code == 409 => "Conflict",
                kube::Error::Api(s) if s.code == 404 => "ApiNotFound",
                kube::Error::Api(s) if s.code == 403 => "Forbidden",
                kube::Error::Api(s) if s.code == 422 || s.code == 400 => "Invalid",
                _ => "ApiUnavailable",
            },
            Error::Serde(_) => "SerializationFailed",
        }
    }

    fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::MalformedReference { .. }
                | Error::InvalidTag(_)
                | Error::InvalidTrigger(_)
                | Error::MissingField(..)
        )
    }
}

impl Error {
    /// The category, as an inherent method for call sites that do not import the trait.
    pub fn category(&self) -> &'static str {
        ErrorCategory::category(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_stable_and_permanence_is_right() {
        let e = Error::NotFound {
            reference: "r".into(),
            message: "m".into(),
        };
        assert_eq!(e.category(), "NotFound");
        assert!(!e.is_permanent());
        let e = Error::MalformedReference {
            reference: "R".into(),
            reason: "x".into(),
        };
        assert_eq!(e.category(), "InvalidImageReference");
        assert!(e.is_permanent());
        assert_eq!(
            Error::InvalidTrigger("x".into()).to_string(),
            "invalid image.openshift.io/triggers annotation: x"
        );
    }
}
