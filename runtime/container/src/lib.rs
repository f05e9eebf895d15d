//! The process library of Outrigger's CRI runtime: turns an OCI runtime spec into a running
//! container process ([`init_main`]) and runs commands inside running containers
//! ([`enter_main`]). Both run in a fresh single-threaded process (a re-exec of the daemon).
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod error;
pub mod seccomp;

pub use error::{Error, Result};
pub use seccomp::{SockFilter, compile_seccomp, runtime_default_seccomp};

pub mod caps;
mod enter;
mod init;
pub mod mounts;
pub mod paths;
pub mod process;

pub use enter::{EnterConfig, differing_namespaces, enter_main, exit_code};
pub use init::{InitConfig, NsPlan, init_main, ns_flag, ns_plan, sysctl_path};
