//! Outrigger's CRI image service and rootfs snapshotter.
//!
//! * [`RegistryConfig`]: containerd-style `hosts.toml` mirror configuration.
//! * [`ImageStore`]: pulls (with digest verification), a content store under `<root>/blobs`,
//!   image metadata in `<root>/metadata.json`, unpacked layers under `<root>/layers`.
//! * [`ImageStore::mount_rootfs`] / [`unmount_rootfs`]: overlayfs container root filesystems.
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
mod hosts;
mod manifest;
mod reference;
mod registry;
mod rootfs;
mod store;
mod unpack;

pub use error::Error;
pub use hosts::{Capabilities, RegistryConfig, RegistryHost, api_root};
pub use manifest::{ImageConfig, oci_arch};
pub use reference::{Reference, normalize_reference};
pub use rootfs::{IdMappedRoot, unmount_rootfs, writable_usage};
pub use store::{FsUsage, Image, ImageStore};
pub use unpack::{UnpackOptions, unpack_layer};

/// Registry credentials, as the CRI `AuthConfig` carries them.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// User name for basic auth (or the token endpoint).
    pub username: String,
    /// Password for basic auth.
    pub password: String,
    /// Docker-style base64 `user:password`, used when `username` is empty.
    pub auth: String,
    /// OAuth refresh token (not supported yet: ignored).
    pub identity_token: String,
    /// A bearer token sent as is.
    pub registry_token: String,
}
