//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the image service and snapshotter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image reference could not be parsed.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A hosts.toml file could not be read or parsed.
    #[error("registry config {path}: {reason}")]
    RegistryConfig {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An HTTP exchange with a registry failed.
    #[error("registry request {url}: {reason}")]
    Http {
        /// The URL requested.
        url: String,
        /// What went wrong (status, transport error).
        reason: String,
    },
    /// Every configured host failed for a request; the errors of each are listed.
    #[error("pulling {what} of {reference} failed on every host: {}", .errors.join("; "))]
    AllHostsFailed {
        /// Manifest or blob.
        what: String,
        /// The image reference.
        reference: String,
        /// One message per host tried.
        errors: Vec<String>,
    },
    /// The registry asked for credentials we do not have or that it refused.
    #[error("registry {registry} refused authorization: {reason}")]
    Unauthorized {
        /// Registry host.
        registry: String,
        /// Details.
        reason: String,
    },
    /// Content did not hash to the digest that named it.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was verified.
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A digest string was malformed or used an unsupported algorithm.
    #[error("invalid digest {0:?} (want sha256:<64 hex>)")]
    InvalidDigest(String),
    /// A manifest, index or config document could not be understood.
    #[error("invalid {what} for {reference}: {reason}")]
    InvalidManifest {
        /// Which document.
        what: String,
        /// The image reference.
        reference: String,
        /// What was wrong.
        reason: String,
    },
    /// A manifest list has no entry for this node's platform.
    #[error("image {reference} has no manifest for linux/{arch} (available: {})", .available.join(", "))]
    NoMatchingPlatform {
        /// The image reference.
        reference: String,
        /// The architecture we wanted.
        arch: String,
        /// The platforms the index offers.
        available: Vec<String>,
    },
    /// A layer tar could not be unpacked.
    #[error("layer {layer}: {reason}")]
    Layer {
        /// Layer digest.
        layer: String,
        /// What was wrong.
        reason: String,
    },
    /// A layer tar entry tried to escape the layer directory.
    #[error("layer {layer}: unsafe entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// Layer digest.
        layer: String,
        /// Entry path as found in the tar.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// No image with this name or id.
    #[error("image {0:?} not found")]
    NotFound(String),
    /// Metadata JSON could not be (de)serialised.
    #[error("image metadata {path}: {reason}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A mount or unmount failed.
    #[error("{op} {path}: {source}")]
    Mount {
        /// mount or umount.
        op: &'static str,
        /// The target.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::Error,
    },
}

impl Error {
    /// Build an `Io` error.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
