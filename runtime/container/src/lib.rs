//! The process library of Outrigger's CRI runtime: turns an OCI runtime spec into a running
//! container process ([`init_main`]) and runs commands inside running containers
//! ([`enter_main`]). Both run in a fresh single-threaded process (a re-exec of the daemon).
#![deny(unsafe_code)]

pub mod error;
pub mod seccomp;

pub use error::{Error, Result};
pub use seccomp::{SockFilter, compile_seccomp, runtime_default_seccomp};
