//! `apps.openshift.io/v1`: DeploymentConfig.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// DeploymentConfigSpec (stub, to be completed).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "apps.openshift.io",
    version = "v1",
    kind = "DeploymentConfig",
    plural = "deploymentconfigs",
    shortname = "dc",
    namespaced,
    status = "DeploymentConfigStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfigSpec {}

/// DeploymentConfigStatus (stub, to be completed).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfigStatus {}
