//! `/metrics`, `/healthz` and `/readyz` on the admin address (plain HTTP/1.1, loopback by default).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};

use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::state::{ContainerState, SandboxState};

pub async fn spawn(addr: &str, rt: Arc<Runtime>, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(address = %listener.local_addr()?, "admin server listening");
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let rt = rt.clone();
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let rt = rt.clone();
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(handle(req, &rt, &metrics)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    Ok(())
}

fn handle(
    req: Request<hyper::body::Incoming>,
    rt: &Runtime,
    metrics: &Metrics,
) -> Response<Full<Bytes>> {
    let (status, body) = match req.uri().path() {
        "/healthz" => (StatusCode::OK, "ok\n".to_string()),
        "/readyz" => match rt.cni.status() {
            Ok(()) => (StatusCode::OK, "ok\n".to_string()),
            Err(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("network not ready: {e}\n"),
            ),
        },
        "/metrics" => {
            let pods = rt
                .store
                .all_sandboxes()
                .iter()
                .filter(|s| s.snapshot().state == SandboxState::Ready)
                .count() as f64;
            let running = rt
                .store
                .all_containers()
                .iter()
                .filter(|c| c.snapshot().state == ContainerState::Running)
                .count() as f64;
            let rss = own_rss_bytes().unwrap_or(0) as f64;
            (
                StatusCode::OK,
                metrics.render(&[
                    (
                        "outrigger_cri_pod_sandboxes_ready",
                        "Pod sandboxes in the ready state.",
                        pods,
                    ),
                    (
                        "outrigger_cri_containers_running",
                        "Containers in the running state.",
                        running,
                    ),
                    (
                        "outrigger_cri_daemon_resident_bytes",
                        "Resident memory of the daemon process.",
                        rss,
                    ),
                ]),
            )
        }
        _ => (StatusCode::NOT_FOUND, "not found\n".to_string()),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}

/// VmRSS of this process in bytes.
pub fn own_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
