//! Error type of the crate.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while managing network namespaces or running CNI plugins.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name used as a file name (netns name, sandbox id, network name) is unusable.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        /// What the name is for.
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation, e.g. "reading".
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A namespace syscall (unshare, setns, mount, umount) failed.
    #[error("{op} for netns {path}: {source}")]
    Netns {
        /// The syscall and what it was doing.
        op: &'static str,
        /// The netns file.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A helper thread could not be started or panicked.
    #[error("netns helper thread for {path}: {reason}")]
    Thread {
        /// The netns file.
        path: PathBuf,
        /// What happened.
        reason: String,
    },
    /// Connecting to a port inside a netns failed on every loopback address.
    #[error("connecting to port {port} inside netns {netns}: {reason}")]
    Connect {
        /// The netns file.
        netns: PathBuf,
        /// The port.
        port: u16,
        /// The errors seen.
        reason: String,
    },
    /// No usable CNI network configuration exists.
    #[error("no valid CNI network config in {dir}: {reason}")]
    NoConfig {
        /// The config directory.
        dir: PathBuf,
        /// Why nothing was usable.
        reason: String,
    },
    /// A CNI network configuration file is malformed.
    #[error("invalid CNI config {path}: {reason}")]
    InvalidConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A plugin binary is missing from every bin dir.
    #[error("CNI plugin {plugin:?} not found in {dirs:?}")]
    PluginNotFound {
        /// Plugin type.
        plugin: String,
        /// Directories searched.
        dirs: Vec<PathBuf>,
    },
    /// A plugin reported an error (CNI error object, or non-zero exit).
    #[error("CNI plugin {plugin} {command} failed (code {code}): {msg}{}", details_suffix(.details))]
    Plugin {
        /// Plugin type.
        plugin: String,
        /// CNI_COMMAND.
        command: &'static str,
        /// CNI error code (0 if the plugin printed no error object).
        code: u64,
        /// Error message.
        msg: String,
        /// Error details (may be empty).
        details: String,
    },
    /// A plugin ran longer than the timeout and was killed.
    #[error("CNI plugin {plugin} {command} timed out after {timeout:?}")]
    Timeout {
        /// Plugin type.
        plugin: String,
        /// CNI_COMMAND.
        command: &'static str,
        /// The timeout.
        timeout: Duration,
    },
    /// A plugin's output is not a valid CNI result.
    #[error("CNI plugin {plugin} returned an invalid result: {reason}")]
    BadResult {
        /// Plugin type.
        plugin: String,
        /// What is wrong.
        reason: String,
    },
    /// A cache file is malformed.
    #[error("invalid CNI cache file {path}: {reason}")]
    BadCache {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn details_suffix(details: &str) -> String {
    if details.is_empty() {
        String::new()
    } else {
        format!(" ({details})")
    }
}

impl Error {
    /// A stable short name of the error kind (for logs, metrics and CRI reasons).
    pub fn category(&self) -> &'static str {
        match self {
            Error::InvalidName { .. } => "InvalidName",
            Error::Io { .. } => "Io",
            Error::Netns { .. } => "Netns",
            Error::Thread { .. } => "Thread",
            Error::Connect { .. } => "Connect",
            Error::NoConfig { .. } => "NoConfig",
            Error::InvalidConfig { .. } => "InvalidConfig",
            Error::PluginNotFound { .. } => "PluginNotFound",
            Error::Plugin { .. } => "PluginFailed",
            Error::Timeout { .. } => "PluginTimeout",
            Error::BadResult { .. } => "BadResult",
            Error::BadCache { .. } => "BadCache",
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_value() {
        let e = Error::PluginNotFound {
            plugin: "bridge".into(),
            dirs: vec![PathBuf::from("/opt/cni/bin")],
        };
        assert_eq!(e.category(), "PluginNotFound");
        assert!(e.to_string().contains("\"bridge\"") && e.to_string().contains("/opt/cni/bin"));
        let e = Error::Timeout {
            plugin: "portmap".into(),
            command: "DEL",
            timeout: Duration::from_secs(3),
        };
        assert_eq!(e.category(), "PluginTimeout");
        assert_eq!(e.to_string(), "CNI plugin portmap DEL timed out after 3s");
    }
}
