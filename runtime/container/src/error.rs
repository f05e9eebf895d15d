//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building or entering a container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing ("reading", "creating directory", ...).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        /// The call and its arguments, as text.
        op: String,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A configuration file is not valid JSON of the expected shape.
    #[error("parsing config {path}: {source}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The spec asks for something this runtime does not do or is malformed.
    #[error("invalid spec: {0}")]
    Spec(String),
    /// A mount option we do not understand.
    #[error("unsupported mount option {option:?} for mount on {destination}")]
    MountOption {
        /// The option text.
        option: String,
        /// The mount destination.
        destination: PathBuf,
    },
    /// An unknown capability name.
    #[error("unknown capability {0:?}")]
    Capability(String),
    /// A path inside the rootfs resolves through too many symlinks.
    #[error("too many levels of symbolic links resolving {path} inside {root}")]
    SymlinkLoop {
        /// The path asked for.
        path: PathBuf,
        /// The rootfs.
        root: PathBuf,
    },
    /// args[0] was not found.
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    /// The process has no args.
    #[error("the process has no args: nothing to execute")]
    NoArgs,
    /// A seccomp profile cannot be compiled.
    #[error("seccomp: {0}")]
    Seccomp(String),
    /// The container process reported a setup failure.
    #[error("container setup failed: {0}")]
    Child(String),
}

impl Error {
    /// Helper: an I/O error on a path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Helper: a syscall error with a description.
    pub(crate) fn sys(op: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            op: op.into(),
            source,
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
