//! `lookupPolicy.local` (spec §3.10): a mutating admission webhook on Pods. A container image
//! that is a short name `<stream>[:<tag>]` (no registry, no path, no digest) of an ImageStream in
//! the pod's namespace with `spec.lookupPolicy.local: true` is replaced by the tag's resolved
//! pull spec (§3.8, honouring the tag's `referencePolicy`). Names that match no such stream, or
//! whose tag has no image yet, are left alone.
//!
//! Only Pods are mutated (so pods of Deployments and other workloads are resolved when they are
//! created; their templates keep the short name). The chart registers the webhook with
//! `failurePolicy: Ignore`: when the controller is unavailable pods are still admitted, with
//! their short names unresolved — the pod creation path of the whole cluster must not depend on
//! this operator.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kube::{Api, Client};
use outrigger_api::image::ImageStream;
use serde_json::{Value, json};

use crate::tags;

/// The stream and tag a short image name refers to, `None` for anything else.
pub fn short_name(image: &str) -> Option<(&str, &str)> {
    if image.is_empty() || image.contains('/') || image.contains('@') {
        return None;
    }
    let (stream, tag) = match image.split_once(':') {
        Some((s, t)) if !t.is_empty() && !t.contains(':') => (s, t),
        Some(_) => return None,
        None => (image, outrigger_api::image::DEFAULT_TAG),
    };
    (!stream.is_empty()).then_some((stream, tag))
}

/// The JSON-patch operations resolving a pod's short image names. `lookup(stream)` returns the
/// namespace's stream of that name.
pub fn pod_patch(pod: &Value, lookup: impl Fn(&str) -> Option<ImageStream>) -> Vec<Value> {
    let mut ops = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let containers = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (i, c) in containers.iter().enumerate() {
            let Some(image) = c.get("image").and_then(Value::as_str) else {
                continue;
            };
            let Some((stream, tag)) = short_name(image) else {
                continue;
            };
            let Some(is) = lookup(stream) else {
                continue;
            };
            let local = is.spec.lookup_policy.as_ref().and_then(|p| p.local) == Some(true);
            if !local {
                continue;
            }
            if let Some(resolved) = tags::resolve_pull_spec(&is, tag).filter(|r| r != image) {
                let path = format!("/spec/{list}/{i}/image");
                ops.push(json!({"op": "test", "path": path, "value": image}));
                ops.push(json!({"op": "replace", "path": path, "value": resolved}));
            }
        }
    }
    ops
}

/// The AdmissionReview answer: always allowed, with the patch when there is one.
pub fn review_response(uid: &str, ops: &[Value]) -> Value {
    let mut response = json!({"uid": uid, "allowed": true});
    if !ops.is_empty() {
        let patch = base64::engine::general_purpose::STANDARD
            .encode(Value::Array(ops.to_vec()).to_string());
        response["patchType"] = json!("JSONPatch");
        response["patch"] = json!(patch);
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

async fn admit(client: &Client, review: &Value) -> Value {
    let request = &review["request"];
    let uid = request["uid"].as_str().unwrap_or_default();
    let ns = request["namespace"].as_str().unwrap_or_default();
    let pod = &request["object"];
    // read the streams the short names refer to (at most one API read per distinct name)
    let mut streams = std::collections::BTreeMap::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some((stream, _)) = c["image"].as_str().and_then(short_name)
                && !streams.contains_key(stream)
                && !ns.is_empty()
            {
                let api: Api<ImageStream> = Api::namespaced(client.clone(), ns);
                let found = match api.get_opt(stream).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(%ns, stream, error = %e, "cannot read image stream for local lookup");
                        None
                    }
                };
                streams.insert(stream.to_owned(), found);
            }
        }
    }
    let ops = pod_patch(pod, |s| streams.get(s).cloned().flatten());
    if !ops.is_empty() {
        tracing::info!(%ns, pod = ?pod.pointer("/metadata/name").or(pod.pointer("/metadata/generateName")), ops = ops.len() / 2, "resolved local image names");
    }
    review_response(uid, &ops)
}

async fn handle(client: Client, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        r
    };
    if req.method() != hyper::Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "{}".into());
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": e.to_string()}).to_string(),
            );
        }
    };
    let review: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": e.to_string()}).to_string(),
            );
        }
    };
    reply(StatusCode::OK, admit(&client, &review).await.to_string())
}

/// Why the webhook server could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The certificate or key file cannot be read or parsed.
    #[error("webhook TLS files: {0}")]
    Tls(String),
    /// The address cannot be bound.
    #[error("webhook listener: {0}")]
    Bind(#[from] std::io::Error),
}

fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, WebhookError> {
    use rustls::pki_types::pem::PemObject as _;
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| WebhookError::Tls(format!("{}: {e}", cert.display())))?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
        .map_err(|e| WebhookError::Tls(format!("{}: {e}", key.display())))?;
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| WebhookError::Tls(e.to_string()))
}

/// Serves the webhook over TLS on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    cert: &Path,
    key: &Path,
    client: Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), WebhookError> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(cert, key)?));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "admission webhook listening");
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => r?,
            () = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "webhook TLS handshake failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| {
                let client = client.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(client, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "webhook connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn stream(local: bool) -> ImageStream {
        serde_json::from_value(json!({
            "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
            "metadata": {"name": "app", "namespace": "ns"},
            "spec": {"lookupPolicy": {"local": local}, "tags": [{"name": "latest"}]},
            "status": {"tags": [
                {"tag": "latest", "items": [{"dockerImageReference": format!("reg.io/app@{A}"), "image": A, "generation": 1}]},
            ]},
        }))
        .expect("stream")
    }

    #[test]
    fn short_names() {
        assert_eq!(short_name("app"), Some(("app", "latest")));
        assert_eq!(short_name("app:1.0"), Some(("app", "1.0")));
        assert_eq!(short_name("docker.io/app:1"), None);
        assert_eq!(short_name("lib/app"), None);
        assert_eq!(short_name(&format!("app@{A}")), None);
        assert_eq!(short_name("app:"), None);
        assert_eq!(short_name(""), None);
    }

    #[test]
    fn resolves_only_local_streams_with_images() {
        let pod = json!({"spec": {
            "initContainers": [{"name": "i", "image": "app:latest"}],
            "containers": [
                {"name": "a", "image": "app"},
                {"name": "b", "image": "other:1"},
                {"name": "c", "image": "reg.io/app:latest"},
                {"name": "d", "image": "app:missing"},
            ],
        }});
        let ops = pod_patch(&pod, |s| (s == "app").then(|| stream(true)));
        let resolved = format!("reg.io/app@{A}");
        assert_eq!(
            ops,
            vec![
                json!({"op": "test", "path": "/spec/initContainers/0/image", "value": "app:latest"}),
                json!({"op": "replace", "path": "/spec/initContainers/0/image", "value": resolved}),
                json!({"op": "test", "path": "/spec/containers/0/image", "value": "app"}),
                json!({"op": "replace", "path": "/spec/containers/0/image", "value": resolved}),
            ]
        );
        assert!(pod_patch(&pod, |s| (s == "app").then(|| stream(false))).is_empty());
    }

    #[test]
    fn review_carries_the_patch() {
        let r = review_response("u1", &[]);
        assert_eq!(r["response"], json!({"uid": "u1", "allowed": true}));
        let ops = vec![json!({"op": "replace", "path": "/spec/containers/0/image", "value": "x"})];
        let r = review_response("u2", &ops);
        assert_eq!(r["response"]["patchType"], "JSONPatch");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(r["response"]["patch"].as_str().expect("patch"))
            .expect("base64");
        let back: Value = serde_json::from_slice(&decoded).expect("json");
        assert_eq!(back, Value::Array(ops));
    }
}
