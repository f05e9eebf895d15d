//! OpenShift's developer APIs as Kubernetes custom resources.
//!
//! One module per OpenShift API group, each holding the storable kinds of that group with
//! OpenShift's exact group, version, kind, plural, short names, scope and JSON field names, so
//! that YAML written for OpenShift deserialises into these types and applies to a stock cluster
//! unchanged.
//!
//! This crate knows nothing of controllers: it holds types, their schemas, and the pure helpers
//! that every other crate needs to read manifests ([`manifest`]) and to recognise the OpenShift
//! kinds that cannot be custom resources ([`kinds`]).

pub mod apps;
pub mod build;
pub mod common;
pub mod crds;
pub mod image;
pub mod kinds;
pub mod manifest;
pub mod project;
pub mod route;
pub mod template;
