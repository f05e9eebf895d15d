//! Pod networking for the Outrigger CRI runtime: named network namespaces and standard CNI
//! plugin chains (bridge, host-local, portmap, loopback, ...) per the CNI spec.
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod cache;
mod cni;
mod config;
mod error;
mod netns;
mod result;

pub use cni::{Cni, DEFAULT_PLUGIN_TIMEOUT, PodNetwork, PodNetworkStatus, PortMapping};
pub use config::{ConfigList, select_config};
pub use error::Error;
pub use netns::{NetNs, connect_in_netns, create_netns, remove_netns, run_in_netns};
