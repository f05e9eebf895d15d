//! `image.openshift.io/v1`: ImageStream.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// ImageStreamSpec (stub, to be completed).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "image.openshift.io",
    version = "v1",
    kind = "ImageStream",
    plural = "imagestreams",
    shortname = "is",
    namespaced,
    status = "ImageStreamStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamSpec {}

/// ImageStreamStatus (stub, to be completed).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamStatus {}
