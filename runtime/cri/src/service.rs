//! The CRI gRPC services: thin adapters from requests to [`Runtime`] operations, with filters,
//! per-RPC metrics and logs.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::Stream;
use outrigger_cri_proto as cri;
use outrigger_cri_proto::image_service_server::ImageService;
use outrigger_cri_proto::runtime_service_server::RuntimeService;
use tonic::{Request, Response, Status};

use crate::error::CriError;
use crate::metrics::Metrics;
use crate::runtime::{Runtime, container_state};
use crate::state::ContainerState;

pub const RUNTIME_NAME: &str = "outrigger";
pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone)]
pub struct Service {
    pub rt: Arc<Runtime>,
    pub metrics: Arc<Metrics>,
}

type R<T> = Result<Response<T>, Status>;
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

impl Service {
    /// Runs one RPC body with timing, a log line on failure and the metrics.
    async fn call<T>(
        &self,
        rpc: &'static str,
        f: impl std::future::Future<Output = Result<T, CriError>>,
    ) -> R<T> {
        let t0 = Instant::now();
        let r = f.await;
        let code = match &r {
            Ok(_) => "OK",
            Err(e) => e.category.as_str(),
        };
        self.metrics.observe(rpc, code, t0.elapsed());
        match r {
            Ok(v) => Ok(Response::new(v)),
            Err(e) => {
                tracing::warn!(rpc, category = code, error = %e.message, "request failed");
                Err(e.into())
            }
        }
    }
}

type Labels = std::collections::HashMap<String, String>;

/// The filter of the List* RPCs: id and sandbox id prefixes, a state, a label selector; empty
/// parts match everything.
#[derive(Default)]
struct ListFilter<'a> {
    id: &'a str,
    sandbox_id: &'a str,
    state: Option<i32>,
    labels: Option<&'a Labels>,
}

impl ListFilter<'_> {
    /// Whether an object with these attributes passes (`sandbox_id` is ignored for sandboxes).
    fn matches(&self, id: &str, sandbox_id: &str, state: i32, labels: &Labels) -> bool {
        id.starts_with(self.id)
            && sandbox_id.starts_with(self.sandbox_id)
            && self.state.is_none_or(|s| s == state)
            && self
                .labels
                .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
    }
}

fn unimplemented<T>(what: &str) -> R<T> {
    Err(Status::unimplemented(format!(
        "{what} is not supported by {RUNTIME_NAME}"
    )))
}

#[tonic::async_trait]
impl RuntimeService for Service {
    async fn version(&self, _r: Request<cri::VersionRequest>) -> R<cri::VersionResponse> {
        Ok(Response::new(cri::VersionResponse {
            version: "0.1.0".into(),
            runtime_name: RUNTIME_NAME.into(),
            runtime_version: RUNTIME_VERSION.into(),
            runtime_api_version: "v1".into(),
        }))
    }

    async fn run_pod_sandbox(
        &self,
        r: Request<cri::RunPodSandboxRequest>,
    ) -> R<cri::RunPodSandboxResponse> {
        let r = r.into_inner();
        self.call("RunPodSandbox", async {
            let config = r
                .config
                .ok_or_else(|| CriError::invalid("RunPodSandbox: config is missing"))?;
            let id = self.rt.run_pod_sandbox(config, r.runtime_handler).await?;
            Ok(cri::RunPodSandboxResponse { pod_sandbox_id: id })
        })
        .await
    }

    async fn stop_pod_sandbox(
        &self,
        r: Request<cri::StopPodSandboxRequest>,
    ) -> R<cri::StopPodSandboxResponse> {
        let r = r.into_inner();
        self.call("StopPodSandbox", async {
            self.rt.stop_pod_sandbox(&r.pod_sandbox_id).await?;
            Ok(cri::StopPodSandboxResponse {})
        })
        .await
    }

    async fn remove_pod_sandbox(
        &self,
        r: Request<cri::RemovePodSandboxRequest>,
    ) -> R<cri::RemovePodSandboxResponse> {
        let r = r.into_inner();
        self.call("RemovePodSandbox", async {
            self.rt.remove_pod_sandbox(&r.pod_sandbox_id).await?;
            Ok(cri::RemovePodSandboxResponse {})
        })
        .await
    }

    async fn pod_sandbox_status(
        &self,
        r: Request<cri::PodSandboxStatusRequest>,
    ) -> R<cri::PodSandboxStatusResponse> {
        let r = r.into_inner();
        self.call("PodSandboxStatus", async {
            let sb = self.rt.get_sandbox(&r.pod_sandbox_id)?;
            let status = self.rt.sandbox_status(&sb);
            let sid = status.id.clone();
            let containers = self
                .rt
                .store
                .containers_of(&sid)
                .iter()
                .map(|c| {
                    self.rt.refresh(c);
                    self.rt.container_status(c)
                })
                .collect();
            Ok(cri::PodSandboxStatusResponse {
                status: Some(status),
                info: Default::default(),
                containers_statuses: containers,
                timestamp: crate::procs::now_ns(),
            })
        })
        .await
    }

    async fn list_pod_sandbox(
        &self,
        r: Request<cri::ListPodSandboxRequest>,
    ) -> R<cri::ListPodSandboxResponse> {
        let f = r.into_inner().filter.unwrap_or_default();
        self.call("ListPodSandbox", async {
            let mut items = Vec::new();
            for sb in self.rt.store.all_sandboxes() {
                let st = self.rt.sandbox_status(&sb);
                let filter = ListFilter {
                    id: &f.id,
                    state: f.state.as_ref().map(|s| s.state),
                    labels: Some(&f.label_selector),
                    ..Default::default()
                };
                if !filter.matches(&st.id, "", st.state, &st.labels) {
                    continue;
                }
                items.push(cri::PodSandbox {
                    id: st.id,
                    metadata: st.metadata,
                    state: st.state,
                    created_at: st.created_at,
                    labels: st.labels,
                    annotations: st.annotations,
                    runtime_handler: st.runtime_handler,
                });
            }
            items.sort_by_key(|s| std::cmp::Reverse(s.created_at));
            Ok(cri::ListPodSandboxResponse { items })
        })
        .await
    }

    type StreamPodSandboxesStream = BoxStream<cri::StreamPodSandboxesResponse>;
    async fn stream_pod_sandboxes(
        &self,
        _r: Request<cri::StreamPodSandboxesRequest>,
    ) -> R<Self::StreamPodSandboxesStream> {
        unimplemented("StreamPodSandboxes (use ListPodSandbox)")
    }

    async fn create_container(
        &self,
        r: Request<cri::CreateContainerRequest>,
    ) -> R<cri::CreateContainerResponse> {
        let r = r.into_inner();
        self.call("CreateContainer", async {
            let config = r
                .config
                .ok_or_else(|| CriError::invalid("CreateContainer: config is missing"))?;
            let id = self
                .rt
                .create_container(&r.pod_sandbox_id, config, r.sandbox_config)
                .await?;
            Ok(cri::CreateContainerResponse { container_id: id })
        })
        .await
    }

    async fn start_container(
        &self,
        r: Request<cri::StartContainerRequest>,
    ) -> R<cri::StartContainerResponse> {
        let r = r.into_inner();
        self.call("StartContainer", async {
            self.rt.start_container(&r.container_id).await?;
            Ok(cri::StartContainerResponse {})
        })
        .await
    }

    async fn stop_container(
        &self,
        r: Request<cri::StopContainerRequest>,
    ) -> R<cri::StopContainerResponse> {
        let r = r.into_inner();
        self.call("StopContainer", async {
            self.rt.stop_container(&r.container_id, r.timeout).await?;
            Ok(cri::StopContainerResponse {})
        })
        .await
    }

    async fn remove_container(
        &self,
        r: Request<cri::RemoveContainerRequest>,
    ) -> R<cri::RemoveContainerResponse> {
        let r = r.into_inner();
        self.call("RemoveContainer", async {
            self.rt.remove_container(&r.container_id).await?;
            Ok(cri::RemoveContainerResponse {})
        })
        .await
    }

    async fn list_containers(
        &self,
        r: Request<cri::ListContainersRequest>,
    ) -> R<cri::ListContainersResponse> {
        let f = r.into_inner().filter.unwrap_or_default();
        self.call("ListContainers", async {
            let mut out = Vec::new();
            for c in self.rt.store.all_containers() {
                self.rt.refresh(&c);
                let d = c.snapshot();
                let state = container_state(d.state) as i32;
                let filter = ListFilter {
                    id: &f.id,
                    sandbox_id: &f.pod_sandbox_id,
                    state: f.state.as_ref().map(|s| s.state),
                    labels: Some(&f.label_selector),
                };
                if !filter.matches(&d.id, &d.sandbox_id, state, &c.config.labels) {
                    continue;
                }
                out.push(cri::Container {
                    id: d.id.clone(),
                    pod_sandbox_id: d.sandbox_id.clone(),
                    metadata: c.config.metadata.clone(),
                    image: Some(cri::ImageSpec {
                        image: d.image_name.clone(),
                        ..Default::default()
                    }),
                    image_ref: d.image_ref.clone(),
                    state,
                    created_at: d.created_at,
                    labels: c.config.labels.clone(),
                    annotations: c.config.annotations.clone(),
                    image_id: d.image_id.clone(),
                });
            }
            out.sort_by_key(|c| std::cmp::Reverse(c.created_at));
            Ok(cri::ListContainersResponse { containers: out })
        })
        .await
    }

    type StreamContainersStream = BoxStream<cri::StreamContainersResponse>;
    async fn stream_containers(
        &self,
        _r: Request<cri::StreamContainersRequest>,
    ) -> R<Self::StreamContainersStream> {
        unimplemented("StreamContainers (use ListContainers)")
    }

    async fn container_status(
        &self,
        r: Request<cri::ContainerStatusRequest>,
    ) -> R<cri::ContainerStatusResponse> {
        let r = r.into_inner();
        self.call("ContainerStatus", async {
            let c = self.rt.get_container(&r.container_id)?;
            Ok(cri::ContainerStatusResponse {
                status: Some(self.rt.container_status(&c)),
                info: Default::default(),
            })
        })
        .await
    }

    async fn update_container_resources(
        &self,
        r: Request<cri::UpdateContainerResourcesRequest>,
    ) -> R<cri::UpdateContainerResourcesResponse> {
        let r = r.into_inner();
        self.call("UpdateContainerResources", async {
            self.rt
                .update_container_resources(&r.container_id, r.linux)
                .await?;
            Ok(cri::UpdateContainerResourcesResponse {})
        })
        .await
    }

    async fn reopen_container_log(
        &self,
        r: Request<cri::ReopenContainerLogRequest>,
    ) -> R<cri::ReopenContainerLogResponse> {
        let r = r.into_inner();
        self.call("ReopenContainerLog", async {
            self.rt.reopen_container_log(&r.container_id).await?;
            Ok(cri::ReopenContainerLogResponse {})
        })
        .await
    }

    async fn exec_sync(&self, r: Request<cri::ExecSyncRequest>) -> R<cri::ExecSyncResponse> {
        let r = r.into_inner();
        self.call("ExecSync", async {
            let timeout = if r.timeout > 0 {
                Some(Duration::from_secs(r.timeout as u64))
            } else {
                None
            };
            crate::stream::exec_sync(&self.rt, &r.container_id, r.cmd, timeout).await
        })
        .await
    }

    async fn exec(&self, r: Request<cri::ExecRequest>) -> R<cri::ExecResponse> {
        let r = r.into_inner();
        self.call("Exec", async {
            let c = self.rt.get_container(&r.container_id)?;
            let d = c.snapshot();
            if d.state != ContainerState::Running {
                return Err(CriError::precondition(format!(
                    "container {} is not running",
                    d.id
                )));
            }
            if r.cmd.is_empty() {
                return Err(CriError::invalid("exec: the command is empty"));
            }
            if !(r.stdin || r.stdout || r.stderr) {
                return Err(CriError::invalid(
                    "exec: one of stdin, stdout and stderr must be set",
                ));
            }
            let url = self.stream()?.exec_url(outrigger_streaming::ExecRequest {
                container_id: d.id,
                cmd: r.cmd,
                tty: r.tty,
                stdin: r.stdin,
                stdout: r.stdout,
                stderr: r.stderr && !r.tty,
            });
            Ok(cri::ExecResponse { url })
        })
        .await
    }

    async fn attach(&self, r: Request<cri::AttachRequest>) -> R<cri::AttachResponse> {
        let r = r.into_inner();
        self.call("Attach", async {
            let c = self.rt.get_container(&r.container_id)?;
            let d = c.snapshot();
            if d.state != ContainerState::Running {
                return Err(CriError::precondition(format!(
                    "container {} is not running",
                    d.id
                )));
            }
            if !(r.stdin || r.stdout || r.stderr) {
                return Err(CriError::invalid(
                    "attach: one of stdin, stdout and stderr must be set",
                ));
            }
            let url = self
                .stream()?
                .attach_url(outrigger_streaming::AttachRequest {
                    container_id: d.id,
                    tty: r.tty,
                    stdin: r.stdin,
                    stdout: r.stdout,
                    stderr: r.stderr && !r.tty,
                });
            Ok(cri::AttachResponse { url })
        })
        .await
    }

    async fn port_forward(
        &self,
        r: Request<cri::PortForwardRequest>,
    ) -> R<cri::PortForwardResponse> {
        let r = r.into_inner();
        self.call("PortForward", async {
            let sb = self.rt.get_sandbox(&r.pod_sandbox_id)?;
            let d = sb.snapshot();
            let mut ports = Vec::new();
            for p in r.port {
                ports.push(
                    u16::try_from(p).map_err(|_| {
                        CriError::invalid(format!("port-forward: invalid port {p}"))
                    })?,
                );
            }
            let url = self
                .stream()?
                .port_forward_url(outrigger_streaming::PortForwardRequest {
                    pod_sandbox_id: d.id,
                    ports,
                });
            Ok(cri::PortForwardResponse { url })
        })
        .await
    }

    async fn container_stats(
        &self,
        r: Request<cri::ContainerStatsRequest>,
    ) -> R<cri::ContainerStatsResponse> {
        let r = r.into_inner();
        self.call("ContainerStats", async {
            let c = self.rt.get_container(&r.container_id)?;
            Ok(cri::ContainerStatsResponse {
                stats: Some(self.rt.container_stats(&c)),
            })
        })
        .await
    }

    async fn list_container_stats(
        &self,
        r: Request<cri::ListContainerStatsRequest>,
    ) -> R<cri::ListContainerStatsResponse> {
        let f = r.into_inner().filter.unwrap_or_default();
        self.call("ListContainerStats", async {
            let mut stats = Vec::new();
            for c in self.rt.store.all_containers() {
                self.rt.refresh(&c);
                let d = c.snapshot();
                let filter = ListFilter {
                    id: &f.id,
                    sandbox_id: &f.pod_sandbox_id,
                    labels: Some(&f.label_selector),
                    ..Default::default()
                };
                if d.state != ContainerState::Running
                    || !filter.matches(&d.id, &d.sandbox_id, 0, &c.config.labels)
                {
                    continue;
                }
                stats.push(self.rt.container_stats(&c));
            }
            Ok(cri::ListContainerStatsResponse { stats })
        })
        .await
    }

    type StreamContainerStatsStream = BoxStream<cri::StreamContainerStatsResponse>;
    async fn stream_container_stats(
        &self,
        _r: Request<cri::StreamContainerStatsRequest>,
    ) -> R<Self::StreamContainerStatsStream> {
        unimplemented("StreamContainerStats (use ListContainerStats)")
    }

    async fn pod_sandbox_stats(
        &self,
        r: Request<cri::PodSandboxStatsRequest>,
    ) -> R<cri::PodSandboxStatsResponse> {
        let r = r.into_inner();
        self.call("PodSandboxStats", async {
            let sb = self.rt.get_sandbox(&r.pod_sandbox_id)?;
            Ok(cri::PodSandboxStatsResponse {
                stats: Some(self.rt.sandbox_stats(&sb)),
            })
        })
        .await
    }

    async fn list_pod_sandbox_stats(
        &self,
        r: Request<cri::ListPodSandboxStatsRequest>,
    ) -> R<cri::ListPodSandboxStatsResponse> {
        let f = r.into_inner().filter.unwrap_or_default();
        self.call("ListPodSandboxStats", async {
            let mut stats = Vec::new();
            for sb in self.rt.store.all_sandboxes() {
                let d = sb.snapshot();
                let filter = ListFilter {
                    id: &f.id,
                    labels: Some(&f.label_selector),
                    ..Default::default()
                };
                if d.state != crate::state::SandboxState::Ready
                    || !filter.matches(&d.id, "", 0, &sb.config.labels)
                {
                    continue;
                }
                stats.push(self.rt.sandbox_stats(&sb));
            }
            Ok(cri::ListPodSandboxStatsResponse { stats })
        })
        .await
    }

    type StreamPodSandboxStatsStream = BoxStream<cri::StreamPodSandboxStatsResponse>;
    async fn stream_pod_sandbox_stats(
        &self,
        _r: Request<cri::StreamPodSandboxStatsRequest>,
    ) -> R<Self::StreamPodSandboxStatsStream> {
        unimplemented("StreamPodSandboxStats (use ListPodSandboxStats)")
    }

    async fn update_runtime_config(
        &self,
        r: Request<cri::UpdateRuntimeConfigRequest>,
    ) -> R<cri::UpdateRuntimeConfigResponse> {
        // The kubelet sends the node's pod CIDR here; our CNI config carries its own ranges.
        if let Some(cidr) = r
            .into_inner()
            .runtime_config
            .and_then(|c| c.network_config)
            .map(|n| n.pod_cidr)
        {
            tracing::info!(pod_cidr = %cidr, "runtime config update (pod CIDR comes from the CNI config)");
        }
        Ok(Response::new(cri::UpdateRuntimeConfigResponse {}))
    }

    async fn status(&self, r: Request<cri::StatusRequest>) -> R<cri::StatusResponse> {
        let verbose = r.into_inner().verbose;
        let net = self.rt.cni.status();
        let mut conditions = vec![cri::RuntimeCondition {
            r#type: "RuntimeReady".into(),
            status: true,
            reason: String::new(),
            message: String::new(),
        }];
        conditions.push(match &net {
            Ok(()) => cri::RuntimeCondition {
                r#type: "NetworkReady".into(),
                status: true,
                reason: String::new(),
                message: String::new(),
            },
            Err(e) => cri::RuntimeCondition {
                r#type: "NetworkReady".into(),
                status: false,
                reason: "NetworkPluginNotReady".into(),
                message: e.to_string(),
            },
        });
        let mut info = std::collections::HashMap::new();
        if verbose {
            info.insert(
                "config".to_string(),
                format!(
                    "{{\"root\":{:?},\"stateDir\":{:?},\"cgroupVersion\":{:?}}}",
                    self.rt.cfg.root.display().to_string(),
                    self.rt.cfg.state_dir.display().to_string(),
                    format!("{:?}", self.rt.cgroups.version())
                ),
            );
        }
        Ok(Response::new(cri::StatusResponse {
            status: Some(cri::RuntimeStatus { conditions }),
            info,
            runtime_handlers: vec![cri::RuntimeHandler {
                name: String::new(),
                features: Some(cri::RuntimeHandlerFeatures {
                    recursive_read_only_mounts: true,
                    user_namespaces: true,
                }),
            }],
            features: Some(cri::RuntimeFeatures {
                supplemental_groups_policy: true,
                ..Default::default()
            }),
        }))
    }

    async fn checkpoint_container(
        &self,
        _r: Request<cri::CheckpointContainerRequest>,
    ) -> R<cri::CheckpointContainerResponse> {
        unimplemented("CheckpointContainer")
    }

    async fn checkpoint_pod(
        &self,
        _r: Request<cri::CheckpointPodRequest>,
    ) -> R<cri::CheckpointPodResponse> {
        unimplemented("CheckpointPod")
    }

    async fn restore_pod(&self, _r: Request<cri::RestorePodRequest>) -> R<cri::RestorePodResponse> {
        unimplemented("RestorePod")
    }

    type GetContainerEventsStream = BoxStream<cri::ContainerEventResponse>;
    async fn get_container_events(
        &self,
        _r: Request<cri::GetEventsRequest>,
    ) -> R<Self::GetContainerEventsStream> {
        unimplemented("GetContainerEvents (evented PLEG)")
    }

    async fn list_metric_descriptors(
        &self,
        _r: Request<cri::ListMetricDescriptorsRequest>,
    ) -> R<cri::ListMetricDescriptorsResponse> {
        Ok(Response::new(cri::ListMetricDescriptorsResponse {
            descriptors: crate::podmetrics::descriptors(),
        }))
    }

    async fn list_pod_sandbox_metrics(
        &self,
        _r: Request<cri::ListPodSandboxMetricsRequest>,
    ) -> R<cri::ListPodSandboxMetricsResponse> {
        let pod_metrics = self
            .rt
            .store
            .all_sandboxes()
            .iter()
            .filter(|s| s.snapshot().state == crate::state::SandboxState::Ready)
            .map(|s| crate::podmetrics::pod_metrics(&self.rt, s))
            .collect();
        Ok(Response::new(cri::ListPodSandboxMetricsResponse {
            pod_metrics,
        }))
    }

    type StreamPodSandboxMetricsStream = BoxStream<cri::StreamPodSandboxMetricsResponse>;
    async fn stream_pod_sandbox_metrics(
        &self,
        _r: Request<cri::StreamPodSandboxMetricsRequest>,
    ) -> R<Self::StreamPodSandboxMetricsStream> {
        unimplemented("StreamPodSandboxMetrics (use ListPodSandboxMetrics)")
    }

    async fn runtime_config(
        &self,
        _r: Request<cri::RuntimeConfigRequest>,
    ) -> R<cri::RuntimeConfigResponse> {
        Ok(Response::new(cri::RuntimeConfigResponse {
            linux: Some(cri::LinuxRuntimeConfiguration {
                cgroup_driver: cri::CgroupDriver::Cgroupfs as i32,
            }),
        }))
    }

    async fn update_pod_sandbox_resources(
        &self,
        r: Request<cri::UpdatePodSandboxResourcesRequest>,
    ) -> R<cri::UpdatePodSandboxResourcesResponse> {
        // The kubelet resizes the pod cgroup itself (cgroupfs driver); we only check the sandbox exists.
        let r = r.into_inner();
        self.call("UpdatePodSandboxResources", async {
            self.rt.get_sandbox(&r.pod_sandbox_id)?;
            Ok(cri::UpdatePodSandboxResourcesResponse {})
        })
        .await
    }
}

impl Service {
    fn stream(&self) -> Result<&outrigger_streaming::StreamServer, CriError> {
        self.rt.stream.get().ok_or_else(|| {
            CriError::new(
                crate::error::Category::Unavailable,
                "the streaming server is not running",
            )
        })
    }
}

#[tonic::async_trait]
impl ImageService for Service {
    async fn list_images(&self, r: Request<cri::ListImagesRequest>) -> R<cri::ListImagesResponse> {
        let f = r
            .into_inner()
            .filter
            .and_then(|f| f.image)
            .map(|i| i.image)
            .unwrap_or_default();
        self.call("ListImages", async {
            let images = if f.is_empty() {
                self.rt.images.list()
            } else {
                self.rt.images.get(&f).into_iter().collect()
            };
            Ok(cri::ListImagesResponse {
                images: images.iter().map(image_to_cri).collect(),
            })
        })
        .await
    }

    type StreamImagesStream = BoxStream<cri::StreamImagesResponse>;
    async fn stream_images(
        &self,
        _r: Request<cri::StreamImagesRequest>,
    ) -> R<Self::StreamImagesStream> {
        unimplemented("StreamImages (use ListImages)")
    }

    async fn image_status(
        &self,
        r: Request<cri::ImageStatusRequest>,
    ) -> R<cri::ImageStatusResponse> {
        let r = r.into_inner();
        self.call("ImageStatus", async {
            let name = r.image.map(|i| i.image).unwrap_or_default();
            if name.is_empty() {
                return Err(CriError::invalid("ImageStatus: image is empty"));
            }
            let img = self.rt.images.get(&name);
            let mut info = std::collections::HashMap::new();
            if r.verbose {
                if let Some(i) = &img {
                    info.insert(
                        "info".to_string(),
                        serde_json::json!({
                            "imageSpec": { "config": {
                                "User": i.config.user, "Env": i.config.env, "Entrypoint": i.config.entrypoint,
                                "Cmd": i.config.cmd, "WorkingDir": i.config.working_dir, "Labels": i.config.labels,
                                "StopSignal": i.config.stop_signal,
                            }}
                        })
                        .to_string(),
                    );
                }
            }
            Ok(cri::ImageStatusResponse {
                image: img.as_ref().map(image_to_cri),
                info,
            })
        })
        .await
    }

    async fn pull_image(&self, r: Request<cri::PullImageRequest>) -> R<cri::PullImageResponse> {
        let r = r.into_inner();
        self.call("PullImage", async {
            let name = r.image.map(|i| i.image).unwrap_or_default();
            if name.is_empty() {
                return Err(CriError::invalid("PullImage: image is empty"));
            }
            let auth = r.auth.map(|a| outrigger_images::Auth {
                username: a.username,
                password: a.password,
                auth: a.auth,
                identity_token: a.identity_token,
                registry_token: a.registry_token,
            });
            let img = self
                .rt
                .images
                .pull(&name, auth.as_ref())
                .await
                .map_err(|e| {
                    let msg = format!("pulling image {name:?}: {e}");
                    match e {
                        outrigger_images::Error::InvalidReference { .. } => CriError::invalid(msg),
                        outrigger_images::Error::NotFound(_)
                        | outrigger_images::Error::NoMatchingPlatform { .. } => {
                            CriError::not_found(msg)
                        }
                        _ => CriError::internal(msg),
                    }
                })?;
            Ok(cri::PullImageResponse { image_ref: img.id })
        })
        .await
    }

    async fn remove_image(
        &self,
        r: Request<cri::RemoveImageRequest>,
    ) -> R<cri::RemoveImageResponse> {
        let r = r.into_inner();
        self.call("RemoveImage", async {
            let name = r.image.map(|i| i.image).unwrap_or_default();
            if name.is_empty() {
                return Err(CriError::invalid("RemoveImage: image is empty"));
            }
            self.rt
                .images
                .remove(&name)
                .map_err(|e| CriError::internal(format!("removing image {name:?}: {e}")))?;
            Ok(cri::RemoveImageResponse {})
        })
        .await
    }

    async fn image_fs_info(
        &self,
        _r: Request<cri::ImageFsInfoRequest>,
    ) -> R<cri::ImageFsInfoResponse> {
        self.call("ImageFsInfo", async {
            let u = self
                .rt
                .images
                .fs_usage()
                .map_err(|e| CriError::internal(format!("image filesystem usage: {e}")))?;
            let now = crate::procs::now_ns();
            let fs = cri::FilesystemUsage {
                timestamp: now,
                fs_id: Some(cri::FilesystemIdentifier {
                    mountpoint: u.mountpoint.display().to_string(),
                }),
                used_bytes: Some(cri::UInt64Value {
                    value: u.used_bytes,
                }),
                inodes_used: Some(cri::UInt64Value {
                    value: u.inodes_used,
                }),
            };
            Ok(cri::ImageFsInfoResponse {
                image_filesystems: vec![fs.clone()],
                container_filesystems: vec![cri::FilesystemUsage {
                    fs_id: Some(cri::FilesystemIdentifier {
                        mountpoint: self.rt.cfg.root.join("containers").display().to_string(),
                    }),
                    ..fs
                }],
            })
        })
        .await
    }
}

/// The CRI view of an image: a numeric USER becomes `uid`, a name becomes `username`.
pub fn image_to_cri(i: &outrigger_images::Image) -> cri::Image {
    let user = i.config.user.split(':').next().unwrap_or_default();
    let (uid, username) = match user.parse::<i64>() {
        Ok(n) => (Some(cri::Int64Value { value: n }), String::new()),
        Err(_) => (None, user.to_string()),
    };
    cri::Image {
        id: i.id.clone(),
        repo_tags: i.repo_tags.clone(),
        repo_digests: i.repo_digests.clone(),
        size: i.size,
        uid,
        username,
        spec: Some(cri::ImageSpec {
            image: i.id.clone(),
            ..Default::default()
        }),
        pinned: i.pinned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_filter_parts_combine() {
        let labels: Labels = [("app".to_string(), "web".to_string())].into();
        let any = ListFilter::default();
        assert!(any.matches("abc", "sb1", 2, &Labels::new()));
        let by_id = ListFilter {
            id: "ab",
            ..Default::default()
        };
        assert!(by_id.matches("abc", "", 0, &labels));
        assert!(!by_id.matches("bca", "", 0, &labels));
        let by_sandbox = ListFilter {
            sandbox_id: "sb",
            ..Default::default()
        };
        assert!(by_sandbox.matches("x", "sb1", 0, &labels));
        assert!(!by_sandbox.matches("x", "other", 0, &labels));
        let by_state = ListFilter {
            state: Some(1),
            ..Default::default()
        };
        assert!(by_state.matches("x", "", 1, &labels));
        assert!(!by_state.matches("x", "", 0, &labels));
        let sel: Labels = [("app".to_string(), "web".to_string())].into();
        let wrong: Labels = [("app".to_string(), "db".to_string())].into();
        let by_labels = |s| ListFilter {
            labels: Some(s),
            ..Default::default()
        };
        assert!(by_labels(&sel).matches("x", "", 0, &labels));
        assert!(!by_labels(&wrong).matches("x", "", 0, &labels));
        assert!(by_labels(&Labels::new()).matches("x", "", 0, &Labels::new()));
    }
}
