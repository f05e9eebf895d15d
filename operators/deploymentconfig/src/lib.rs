//! DeploymentConfig (`apps.openshift.io/v1`) on stock Kubernetes: OpenShift's DeploymentConfig
//! controller, its deployer controller (RC phase machine and deployer pods) and the deployer
//! that runs inside deployer pods (Recreate, Rolling, lifecycle hooks).
//!
//! Pure modules (no client): [`keys`], [`strategy`], [`defaults`], [`rc`], [`decide`],
//! [`pods`]. Modules that talk to the API server: [`controller`], [`deployer_controller`],
//! [`deployer`].

pub mod controller;
pub mod decide;
pub mod defaults;
pub mod deployer;
pub mod deployer_controller;
pub mod error;
pub mod keys;
pub mod pods;
pub mod rc;
pub mod strategy;
