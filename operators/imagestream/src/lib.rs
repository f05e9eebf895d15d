//! The ImageStream controller (`image.openshift.io/v1`).
//!
//! Pure steps, each unit-tested without a cluster:
//! - [`reference`]: image pull specs and Docker Hub defaults;
//! - [`history`]: OpenShift's tag-history rule and `ImportSuccess` conditions;
//! - [`tags`]: which tags need an import, how results and `ImageStreamTag`/`ImageStreamImage`/
//!   `reference` tags enter `status.tags`, and the pull spec consumers get;
//! - [`triggers`]: the `image.openshift.io/triggers` annotation and the patch it implies;
//! - [`webhook`]: `lookupPolicy.local` name resolution for pods (pure part and TLS server).
//!
//! I/O: [`import`] (OCI distribution API) and [`controller`] (reconcile, status, events,
//! workload triggers).

pub mod controller;
pub mod error;
pub mod history;
pub mod import;
pub mod reference;
pub mod tags;
pub mod triggers;
pub mod webhook;
