//! `build.openshift.io/v1`: BuildConfig and Build.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// BuildConfigSpec (stub, to be completed).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "build.openshift.io",
    version = "v1",
    kind = "BuildConfig",
    plural = "buildconfigs",
    shortname = "bc",
    namespaced,
    status = "BuildConfigStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct BuildConfigSpec {}

/// BuildConfigStatus (stub, to be completed).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildConfigStatus {}

/// BuildSpec (stub, to be completed).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "build.openshift.io",
    version = "v1",
    kind = "Build",
    plural = "builds",
    namespaced,
    status = "BuildStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct BuildSpec {}

/// BuildStatus (stub, to be completed).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildStatus {}
