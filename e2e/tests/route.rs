//! Routes through Outrigger's router (operators/router) on the local cluster.
//!
//! The router runs in `outrigger-system` with hostNetwork on 127.0.0.1; its addresses come from
//! the annotations of its Service (`outrigger.io/router-http` / `-https`), the same ones
//! `hack/cluster status` prints. Every request of these tests goes to that loopback address;
//! the load test is bounded in time and concurrency.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use outrigger_api::route::Route;
use outrigger_e2e::{Env, corpus_dir, parse_documents, run, wait_for};

const ROUTER_NAMESPACE: &str = "outrigger-system";
const ROUTER_NAME: &str = "default";

struct Router {
    http: SocketAddr,
    https: SocketAddr,
    client: Client<HttpConnector, Empty<Bytes>>,
}

/// The router's host addresses from its Service's annotations.
async fn router(env: &Env) -> Result<Router> {
    let svcs: Api<Service> = Api::namespaced(env.client.clone(), ROUTER_NAMESPACE);
    let list = svcs
        .list(&kube::api::ListParams::default().labels("app.kubernetes.io/component=router"))
        .await?;
    let ann = list
        .items
        .first()
        .and_then(|s| s.metadata.annotations.clone())
        .context(
            "no router Service in outrigger-system (is the chart installed with router.enabled?)",
        )?;
    let addr = |k: &str| -> Result<SocketAddr> {
        ann.get(k)
            .with_context(|| format!("router Service lacks annotation {k}"))?
            .parse()
            .context(k.to_string())
    };
    let (http, https) = (
        addr("outrigger.io/router-http")?,
        addr("outrigger.io/router-https")?,
    );
    ensure!(
        http.ip().is_loopback() && https.ip().is_loopback(),
        "router is not on loopback: {http} {https}"
    );
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build(c);
    Ok(Router {
        http,
        https,
        client,
    })
}

struct Reply {
    status: u16,
    body: String,
    headers: http::HeaderMap,
}

impl Router {
    async fn get(&self, host: &str, path: &str) -> Result<Reply> {
        let req = http::Request::builder()
            .uri(format!("http://{}{path}", self.http))
            .header("host", host)
            .body(Empty::<Bytes>::new())?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .context("request timed out")??;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            body: String::from_utf8_lossy(&body).trim().to_string(),
            headers,
        })
    }

    /// HTTPS through curl (SNI via --resolve, certificate not verified: the router's default
    /// certificate is self-signed). Returns (status, body, http version).
    fn curl_https(&self, host: &str, path: &str) -> Result<(u16, String, String)> {
        let out = Command::new("curl")
            .args(["-sk", "--max-time", "10", "--resolve"])
            .arg(format!("{host}:{}:{}", self.https.port(), self.https.ip()))
            .args(["-w", "\n%{http_code} %{http_version}"])
            .arg(format!("https://{host}:{}{path}", self.https.port()))
            .output()
            .context("running curl")?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, tail) = text
            .rsplit_once('\n')
            .ok_or_else(|| anyhow!("curl printed {text:?}"))?;
        let (code, version) = tail
            .split_once(' ')
            .ok_or_else(|| anyhow!("curl printed {text:?}"))?;
        Ok((code.parse()?, body.trim().to_string(), version.to_string()))
    }

    /// Waits until `host` + `path` answers with `body` (the hello pods answer 200 on `/` and
    /// their page with 404 on every other path, so only the body tells who answered).
    async fn wait_body(&self, host: &str, path: &str, body: &str) -> Result<()> {
        wait_for(
            &format!("{host}{path} to answer {body:?}"),
            Duration::from_secs(60),
            || async {
                let r = self.get(host, path).await?;
                Ok(r.status != 503 && r.body == body)
            },
        )
        .await
    }
}

/// A Deployment of the hello image answering `response`, and a Service `name` in front of it.
fn hello(name: &str, response: &str, replicas: u32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: hello
        image: docker.io/openshift/hello-openshift:latest
        env: [{{name: RESPONSE, value: "{response}"}}]
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
"#
    )
}

async fn wait_ready(env: &Env, deployment: &str) -> Result<()> {
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = env.api();
    wait_for(
        &format!("deployment {deployment} ready"),
        Duration::from_secs(120),
        || {
            let api = api.clone();
            async move {
                let d = api.get(deployment).await?;
                let want = d.spec.replicas.unwrap_or(1);
                Ok(d.status.and_then(|s| s.ready_replicas).unwrap_or(0) == want)
            }
        },
    )
    .await
}

/// This router's `status.ingress` entry of a route.
async fn ingress(env: &Env, name: &str) -> Result<Option<outrigger_api::route::RouteIngress>> {
    let r: Route = env.api::<Route>().get(name).await?;
    Ok(r.status.and_then(|s| s.ingress).and_then(|l| {
        l.into_iter()
            .find(|i| i.router_name.as_deref() == Some(ROUTER_NAME))
    }))
}

/// (host, status, reason, message) of this router's Admitted condition.
async fn admitted(env: &Env, name: &str) -> Result<Option<(String, String, String, String)>> {
    let Some(i) = ingress(env, name).await? else {
        return Ok(None);
    };
    let c = i
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Admitted");
    Ok(c.map(|c| {
        (
            i.host.unwrap_or_default(),
            c.status,
            c.reason.unwrap_or_default(),
            c.message.unwrap_or_default(),
        )
    }))
}

/// Waits for the Admitted condition of this router to have `status`; returns (host, reason, message).
async fn wait_admitted(env: &Env, name: &str, status: &str) -> Result<(String, String, String)> {
    wait_for(
        &format!("route {name} Admitted={status}"),
        Duration::from_secs(30),
        || async {
            Ok(admitted(env, name)
                .await?
                .is_some_and(|(_, s, _, _)| s == status))
        },
    )
    .await?;
    let (host, _, reason, message) = admitted(env, name).await?.context("condition vanished")?;
    Ok((host, reason, message))
}

#[tokio::test]
async fn http_by_host_and_path() {
    run("route-host-path", |env| async move {
        let r = router(&env).await?;
        let host = format!("web-{}.example.test", env.namespace);
        env.apply_yaml(&(hello("root", "from-root", 1) + "---" + &hello("api", "from-api", 1)))
            .await?;
        env.apply_yaml(&format!(
            r#"
apiVersion: route.openshift.io/v1
kind: Route
metadata: {{name: root}}
spec: {{host: {host}, to: {{kind: Service, name: root}}}}
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: {{name: api}}
spec: {{host: {host}, path: /api, to: {{kind: Service, name: api}}, port: {{targetPort: http}}}}
"#
        ))
        .await?;
        wait_ready(&env, "root").await?;
        wait_ready(&env, "api").await?;
        let (admitted_host, _, _) = wait_admitted(&env, "root", "True").await?;
        assert_eq!(admitted_host, host);
        wait_admitted(&env, "api", "True").await?;
        r.wait_body(&host, "/", "from-root").await?;
        r.wait_body(&host, "/api", "from-api").await?;
        assert_eq!(r.get(&host, "/api/v1/things").await?.body, "from-api");
        assert_eq!(
            r.get(&host, "/apiary").await?.body,
            "from-root",
            "/api must not match /apiary"
        );
        assert_eq!(
            r.get(&format!("nothing-{}.example.test", env.namespace), "/")
                .await?
                .status,
            503
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn edge_with_redirect_and_generated_host() {
    run("route-edge-redirect", |env| async move {
        let r = router(&env).await?;
        env.apply_yaml(&hello("web", "secure-hello", 1)).await?;
        env.apply_yaml(
            r#"
apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: secure
  annotations: {haproxy.router.openshift.io/hsts_header: "max-age=3600"}
spec:
  to: {kind: Service, name: web}
  tls: {termination: Edge, insecureEdgeTerminationPolicy: Redirect}
"#,
        )
        .await?;
        wait_ready(&env, "web").await?;
        let (host, _, _) = wait_admitted(&env, "secure", "True").await?;
        assert!(
            host.starts_with(&format!("secure-{}.", env.namespace)),
            "generated host {host}"
        );
        wait_for("https answers", Duration::from_secs(60), || async {
            Ok(r.curl_https(&host, "/")
                .map(|(c, b, _)| c == 200 && b == "secure-hello")
                .unwrap_or(false))
        })
        .await?;
        let plain = r.get(&host, "/some/path?x=1").await?;
        assert_eq!(plain.status, 302);
        let location = plain
            .headers
            .get("location")
            .context("no Location")?
            .to_str()?;
        assert_eq!(
            location,
            format!("https://{host}:{}/some/path?x=1", r.https.port())
        );
        let (code, body, version) = r.curl_https(&host, "/")?;
        assert_eq!(
            (code, body.as_str(), version.as_str()),
            (200, "secure-hello", "2"),
            "HTTP/2 over TLS via ALPN"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn conflicting_host_is_rejected() {
    run("route-conflict", |env| async move {
        let r = router(&env).await?;
        let host = format!("claimed-{}.example.test", env.namespace);
        env.apply_yaml(&hello("first", "first", 1)).await?;
        let route = |name: &str| {
            format!(
                "apiVersion: route.openshift.io/v1\nkind: Route\nmetadata: {{name: {name}}}\nspec: {{host: {host}, to: {{name: first}}}}\n"
            )
        };
        env.apply_yaml(&route("older")).await?;
        wait_admitted(&env, "older", "True").await?;
        // creation timestamps have second granularity: make sure the second one is younger
        tokio::time::sleep(Duration::from_millis(1100)).await;
        env.apply_yaml(&route("newer")).await?;
        let (h, reason, message) = wait_admitted(&env, "newer", "False").await?;
        assert_eq!(h, host);
        assert_eq!(reason, "HostAlreadyClaimed");
        assert_eq!(message, format!("route older already exposes {host} and is older"));
        wait_ready(&env, "first").await?;
        r.wait_body(&host, "/", "first").await?;
        // the owner goes away: the newer route takes over
        env.api::<Route>().delete("older", &Default::default()).await?;
        wait_admitted(&env, "newer", "True").await?;
        r.wait_body(&host, "/", "first").await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn weighted_80_20() {
    run("route-weighted", |env| async move {
        let r = router(&env).await?;
        let host = format!("ab-{}.example.test", env.namespace);
        env.apply_yaml(&(hello("svc-a", "a", 2) + "---" + &hello("svc-b", "b", 1)))
            .await?;
        env.apply_yaml(&format!(
            r#"
apiVersion: route.openshift.io/v1
kind: Route
metadata: {{name: ab}}
spec:
  host: {host}
  to: {{kind: Service, name: svc-a, weight: 80}}
  alternateBackends: [{{kind: Service, name: svc-b, weight: 20}}]
"#
        ))
        .await?;
        wait_ready(&env, "svc-a").await?;
        wait_ready(&env, "svc-b").await?;
        wait_admitted(&env, "ab", "True").await?;
        wait_for(
            "both backends reachable",
            Duration::from_secs(60),
            || async {
                let mut seen = std::collections::BTreeSet::new();
                for _ in 0..50 {
                    seen.insert(r.get(&host, "/").await?.body);
                }
                Ok(seen.len() == 2)
            },
        )
        .await?;
        let n = 2000;
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        for _ in 0..n {
            let reply = r.get(&host, "/").await?;
            ensure!(reply.status == 200, "status {}", reply.status);
            *counts.entry(reply.body).or_default() += 1;
        }
        let b = f64::from(counts.get("b").copied().unwrap_or(0)) / f64::from(n);
        eprintln!(
            "weighted 80/20 over {n} requests: {counts:?} (b = {:.1}%)",
            b * 100.0
        );
        ensure!(
            (0.17..=0.23).contains(&b),
            "share of b {b:.3} not within 20% ± 3%: {counts:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn corpus_route_applied_unchanged() {
    run("route-corpus", |env| async move {
        let r = router(&env).await?;
        let path = corpus_dir()
            .join("argoproj-labs__rollouts-plugin-trafficrouter-openshift")
            .join("tests__data__multiple_routes.yaml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        // the Services and Routes exactly as written (the Rollout needs Argo Rollouts, not here)
        let docs: Vec<serde_json::Value> = parse_documents(&text)?
            .into_iter()
            .filter(|d| d["kind"] == "Service" || d["kind"] == "Route")
            .collect();
        ensure!(
            docs.len() == 4,
            "expected 2 Services and 2 Routes in {}",
            path.display()
        );
        env.apply_documents(docs, false).await?;
        // pods for the Services' selector (app: rollouts-demo) with a port named http
        env.apply_yaml(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: rollouts-demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: rollouts-demo}}
  template:
    metadata: {labels: {app: rollouts-demo}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: hello
        image: docker.io/openshift/hello-openshift:latest
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
"#,
        )
        .await?;
        wait_ready(&env, "rollouts-demo").await?;
        for name in ["rollouts-demo-prod", "rollouts-demo-stage"] {
            let (host, _, _) = wait_admitted(&env, name, "True").await?;
            assert!(
                host.starts_with(&format!("{name}-{}.", env.namespace)),
                "{host}"
            );
            r.wait_body(&host, "/", "Hello OpenShift!").await?;
            let reply = r.get(&host, "/").await?;
            assert!(
                reply.headers.get("set-cookie").is_none(),
                "disable_cookies honoured"
            );
        }
        Ok(())
    })
    .await;
}

/// Bounded load (4 workers, loopback) while the route is switched between backends several
/// times; every request must succeed.
#[tokio::test]
async fn route_change_under_load_drops_nothing() {
    run("route-change-load", |env| async move {
        let r = Arc::new(router(&env).await?);
        let host = format!("live-{}.example.test", env.namespace);
        env.apply_yaml(&(hello("blue", "blue", 2) + "---" + &hello("green", "green", 2))).await?;
        let route = |to: &str, alt: Option<(&str, u32)>| {
            let alt = alt.map_or(String::new(), |(n, w)| {
                format!("  alternateBackends: [{{kind: Service, name: {n}, weight: {w}}}]\n")
            });
            format!(
                "apiVersion: route.openshift.io/v1\nkind: Route\nmetadata: {{name: live}}\nspec:\n  host: {host}\n  to: {{kind: Service, name: {to}, weight: 100}}\n{alt}"
            )
        };
        env.apply_yaml(&route("blue", None)).await?;
        wait_ready(&env, "blue").await?;
        wait_ready(&env, "green").await?;
        r.wait_body(&host, "/", "blue").await?;

        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = Arc::new(std::sync::Mutex::new(BTreeMap::<String, u64>::new()));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut workers = Vec::new();
        for _ in 0..4 {
            let (r, stop, ok, failed, seen, host) =
                (r.clone(), stop.clone(), ok.clone(), failed.clone(), seen.clone(), host.clone());
            workers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match r.get(&host, "/").await {
                        Ok(reply) if reply.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            *seen.lock().unwrap_or_else(|e| e.into_inner()).entry(reply.body).or_default() += 1;
                        }
                        Ok(reply) => failed.lock().unwrap_or_else(|e| e.into_inner()).push(format!("status {}", reply.status)),
                        Err(e) => failed.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{e:#}")),
                    }
                }
            }));
        }
        let phase = Duration::from_secs(3);
        tokio::time::sleep(phase).await;
        env.apply_yaml(&route("green", None)).await?; // switch
        tokio::time::sleep(phase).await;
        env.apply_yaml(&route("green", Some(("blue", 100)))).await?; // split
        tokio::time::sleep(phase).await;
        env.apply_yaml(&route("blue", Some(("green", 0)))).await?; // back, green weight 0
        tokio::time::sleep(phase).await;
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.await?;
        }
        let failed = failed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let ok = ok.load(Ordering::Relaxed);
        eprintln!("route change under load: {ok} ok, {} failed, bodies {seen:?}", failed.len());
        if !failed.is_empty() {
            bail!("{} failed requests, first: {:?}", failed.len(), &failed[..failed.len().min(5)]);
        }
        ensure!(ok > 100, "too few requests ({ok})");
        ensure!(seen.contains_key("blue") && seen.contains_key("green"), "both backends served: {seen:?}");
        // the last phase is blue only
        for _ in 0..20 {
            assert_eq!(r.get(&host, "/").await?.body, "blue");
        }
        Ok(())
    })
    .await;
}

/// Passthrough (the backend's own certificate reaches the client), reencrypt (the router checks
/// the backend against `destinationCACertificate`) and a WebSocket-style upgrade, against
/// `outrigger/test-backend` pods (plain HTTP on 8080, HTTPS on 8443, CA printed in the log).
#[tokio::test]
async fn passthrough_reencrypt_and_upgrade() {
    run("route-tls-modes", |env| async move {
        let r = router(&env).await?;
        let ns = env.namespace.clone();
        let registry = outrigger_e2e::registry_address()?;
        let (pt_host, re_host, ws_host) =
            (format!("pt-{ns}.example.test"), format!("re-{ns}.example.test"), format!("ws-{ns}.example.test"));
        env.apply_yaml(&format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: tlsb, labels: {{app: tlsb}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: backend
    image: {registry}/outrigger/test-backend:dev
    imagePullPolicy: Always
    env:
    - {{name: BACKEND_NAME, value: tlsb}}
    - {{name: TLS_NAMES, value: "tlsb.{ns}.svc,{pt_host}"}}
    ports: [{{containerPort: 8080, name: http}}, {{containerPort: 8443, name: https}}]
    readinessProbe: {{tcpSocket: {{port: 8443}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: tlsb}}
spec:
  selector: {{app: tlsb}}
  ports: [{{name: http, port: 80, targetPort: 8080}}, {{name: https, port: 443, targetPort: 8443}}]
"#
        ))
        .await?;
        env.wait_pod_ready("tlsb", Duration::from_secs(120)).await?;
        let log = env.pod_logs("tlsb").await?;
        let start = log.find("-----BEGIN CERTIFICATE-----").context("no CA in the backend log")?;
        let end = log.find("-----END CERTIFICATE-----").context("no CA end in the backend log")? + 25;
        let ca = log[start..end].to_string();
        let indented: String = ca.lines().map(|l| format!("      {l}\n")).collect();
        env.apply_yaml(&format!(
            r#"
apiVersion: route.openshift.io/v1
kind: Route
metadata: {{name: pt}}
spec:
  host: {pt_host}
  to: {{kind: Service, name: tlsb}}
  port: {{targetPort: https}}
  tls: {{termination: passthrough}}
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: {{name: re}}
spec:
  host: {re_host}
  to: {{kind: Service, name: tlsb}}
  port: {{targetPort: https}}
  tls:
    termination: reencrypt
    destinationCACertificate: |
{indented}---
apiVersion: route.openshift.io/v1
kind: Route
metadata: {{name: ws}}
spec:
  host: {ws_host}
  to: {{kind: Service, name: tlsb}}
  port: {{targetPort: http}}
"#
        ))
        .await?;
        for name in ["pt", "re", "ws"] {
            wait_admitted(&env, name, "True").await?;
        }
        let ca_file = std::env::temp_dir().join(format!("{ns}-ca.pem"));
        std::fs::write(&ca_file, &ca)?;
        // passthrough: trusting only the backend's CA proves the backend's certificate is served
        let curl_pt = || -> Result<String> {
            let out = Command::new("curl")
                .args(["-s", "--max-time", "10", "--cacert"])
                .arg(&ca_file)
                .arg("--resolve")
                .arg(format!("{pt_host}:{}:{}", r.https.port(), r.https.ip()))
                .arg(format!("https://{pt_host}:{}/pt", r.https.port()))
                .output()?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        wait_for("passthrough answers", Duration::from_secs(60), || async {
            Ok(curl_pt()? == format!("tlsb https sni={pt_host} /pt"))
        })
        .await?;
        // reencrypt: the router terminates (default certificate) and talks TLS to the pod
        wait_for("reencrypt answers", Duration::from_secs(60), || async {
            Ok(r.curl_https(&re_host, "/").map(|(c, b, _)| (c, b)).unwrap_or_default()
                == (200, format!("tlsb https sni=tlsb.{ns}.svc / xfp=https")))
        })
        .await?;
        // upgrade: 101 from the pod, then an opaque byte stream both ways
        r.wait_body(&ws_host, "/", "tlsb http / xfp=http").await?;
        let mut s = tokio::net::TcpStream::connect(r.http).await?;
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        s.write_all(
            format!("GET /chat HTTP/1.1\r\nHost: {ws_host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut buf = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await??;
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        ensure!(head.starts_with("HTTP/1.1 101"), "no upgrade: {head}");
        s.write_all(b"ping over the tunnel").await?;
        let mut echo = vec![0u8; 20];
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut echo)).await??;
        ensure!(echo == b"ping over the tunnel", "echo {:?}", String::from_utf8_lossy(&echo));
        let _ = std::fs::remove_file(&ca_file);
        Ok(())
    })
    .await;
}

/// Bad input stays local: a broken certificate gets `Admitted=False` /
/// `ExtendedValidationFailed`, a malformed annotation is named in the condition message, a
/// missing Service gives 503 — and a good route next to them keeps serving.
#[tokio::test]
async fn bad_input_is_reported_and_contained() {
    run("route-bad-input", |env| async move {
        let r = router(&env).await?;
        let ns = env.namespace.clone();
        env.apply_yaml(&hello("good", "still-serving", 1)).await?;
        env.apply_yaml(&format!(
            r#"
apiVersion: route.openshift.io/v1
kind: Route
metadata: {{name: good}}
spec: {{host: good-{ns}.example.test, to: {{name: good}}}}
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: {{name: broken-cert}}
spec:
  host: broken-{ns}.example.test
  to: {{name: good}}
  tls:
    termination: edge
    certificate: "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    key: "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
---
apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: odd-annotation
  annotations: {{haproxy.router.openshift.io/timeout: "forever"}}
spec: {{host: odd-{ns}.example.test, to: {{name: good}}}}
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: {{name: no-service}}
spec: {{host: ghost-{ns}.example.test, to: {{name: does-not-exist}}}}
"#
        ))
        .await?;
        let (_, reason, message) = wait_admitted(&env, "broken-cert", "False").await?;
        assert_eq!(reason, "ExtendedValidationFailed");
        assert!(message.contains("spec.tls.certificate"), "{message}");
        let (_, _, message) = wait_admitted(&env, "odd-annotation", "True").await?;
        assert!(message.contains("haproxy.router.openshift.io/timeout") && message.contains("forever"), "{message}");
        wait_admitted(&env, "no-service", "True").await?;
        wait_ready(&env, "good").await?;
        r.wait_body(&format!("good-{ns}.example.test"), "/", "still-serving").await?;
        r.wait_body(&format!("odd-{ns}.example.test"), "/", "still-serving").await?;
        assert_eq!(r.get(&format!("ghost-{ns}.example.test"), "/").await?.status, 503);
        assert_eq!(r.get(&format!("broken-{ns}.example.test"), "/").await?.status, 503);
        Ok(())
    })
    .await;
}

/// A second router (a shard) next to the chart's: it serves and reports only the routes its
/// label selector picks, and both routers' `status.ingress` entries live side by side.
#[tokio::test]
async fn a_shard_router_serves_only_its_routes() {
    run("route-shard", |env| async move {
        let r = router(&env).await?;
        let ns = env.namespace.clone();
        let registry = outrigger_e2e::registry_address()?;
        let shard = format!("shard-{ns}");
        // the shard runs as the namespace's default service account with the router's role
        let binding = format!("e2e-{ns}-router");
        env.apply_yaml(&format!(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {binding}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: outrigger-router}}
subjects: [{{kind: ServiceAccount, name: default, namespace: {ns}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: shard-router}}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: router
    image: {registry}/outrigger/router:dev
    imagePullPolicy: Always
    env:
    - {{name: ROUTER_SERVICE_NAME, value: {shard}}}
    - {{name: ROUTE_LABELS, value: "shard={ns}"}}
    - {{name: NAMESPACE_LABELS, value: "kubernetes.io/metadata.name={ns}"}}
    - {{name: ROUTER_HTTP_ADDR, value: "127.0.0.1:11080"}}
    - {{name: ROUTER_HTTPS_ADDR, value: "127.0.0.1:11443"}}
    - {{name: ROUTER_ADMIN_ADDR, value: "127.0.0.1:11936"}}
    readinessProbe: {{httpGet: {{host: 127.0.0.1, path: /readyz, port: 11936}}, periodSeconds: 1}}
"#
        ))
        .await?;
        let result = async {
            env.apply_yaml(&hello("web", "sharded", 1)).await?;
            env.apply_yaml(&format!(
                r#"
apiVersion: route.openshift.io/v1
kind: Route
metadata: {{name: mine, labels: {{shard: {ns}}}}}
spec: {{host: mine-{ns}.example.test, to: {{name: web}}}}
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: {{name: theirs}}
spec: {{host: theirs-{ns}.example.test, to: {{name: web}}}}
"#
            ))
            .await?;
            env.wait_pod_ready("shard-router", Duration::from_secs(120))
                .await?;
            wait_ready(&env, "web").await?;
            let routers = |name: &'static str| {
                let env = env.clone();
                async move {
                    let route: Route = env.api::<Route>().get(name).await?;
                    let mut names: Vec<String> = route
                        .status
                        .and_then(|s| s.ingress)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|i| i.router_name)
                        .collect();
                    names.sort();
                    anyhow::Ok(names)
                }
            };
            let mut both = vec![ROUTER_NAME.to_string(), shard.clone()];
            both.sort();
            wait_for(
                "both routers report the labelled route",
                Duration::from_secs(60),
                || async { Ok(routers("mine").await? == both) },
            )
            .await?;
            wait_for(
                "the chart's router reports the other route",
                Duration::from_secs(60),
                || async { Ok(routers("theirs").await? == vec![ROUTER_NAME.to_string()]) },
            )
            .await?;
            let shard_router = Router {
                http: "127.0.0.1:11080".parse()?,
                ..router(&env).await?
            };
            shard_router
                .wait_body(&format!("mine-{ns}.example.test"), "/", "sharded")
                .await?;
            ensure!(
                shard_router
                    .get(&format!("theirs-{ns}.example.test"), "/")
                    .await?
                    .status
                    == 503
            );
            r.wait_body(&format!("theirs-{ns}.example.test"), "/", "sharded")
                .await?;
            // still exactly one entry per router after a while (no status ping-pong)
            tokio::time::sleep(Duration::from_secs(2)).await;
            ensure!(routers("mine").await? == both);
            anyhow::Ok(())
        }
        .await;
        let _ = env.kubectl(&[
            "delete",
            "clusterrolebinding",
            &binding,
            "--ignore-not-found",
        ]);
        result
    })
    .await;
}
