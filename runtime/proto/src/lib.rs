//! The CRI `runtime.v1` API: messages plus tonic's `RuntimeService`/`ImageService` servers and
//! clients, generated at build time from `proto/api.proto` (a verbatim copy of
//! k8s.io/cri-api v0.37.2 `pkg/apis/runtime/v1/api.proto`, Apache-2.0, The Kubernetes Authors).
#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("runtime.v1");
}
pub use v1::*;
