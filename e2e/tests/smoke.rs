//! Smoke tests of the stock cluster: pods, logs, deployments, services, DNS, and kubectl's
//! streaming commands (exec, logs -f, port-forward). They need `hack/cluster up`.

// Note: Debian's busybox-static 1.35 wget segfaults with `-T`; tests use `timeout 5 wget`.
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use outrigger_e2e::{Env, HELLO_IMAGE, busybox_pod, registry_address, run, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_pod_runs_to_completion_and_its_log_is_readable() {
    run("busybox-completes", |env: Env| async move {
        env.apply_documents(
            vec![busybox_pod(
                "hello",
                "echo hello from busybox; echo line two",
            )],
            false,
        )
        .await?;
        env.wait_pod_succeeded("hello", Duration::from_secs(120))
            .await?;
        let log = env.pod_logs("hello").await?;
        ensure!(
            log == "hello from busybox\nline two\n",
            "unexpected log: {log:?}"
        );
        Ok(())
    })
    .await;
}

const HELLO_DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 3
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: hello
        image: HELLO_IMAGE
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  selector: {app: hello}
  ports:
  - name: http
    port: 80
    targetPort: 8080
"#;

fn deployment_available(d: &Deployment) -> bool {
    d.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")
            })
        })
        && d.status.as_ref().and_then(|s| s.available_replicas) == Some(3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_deployment_becomes_available_and_its_service_answers_by_dns_name() {
    run("hello-service-dns", |env: Env| async move {
        env.apply_yaml(&HELLO_DEPLOYMENT.replace("HELLO_IMAGE", HELLO_IMAGE)).await?;
        let deployments = env.api::<Deployment>();
        wait_for("deployment hello Available with 3 replicas", Duration::from_secs(180), || {
            let deployments = deployments.clone();
            async move { Ok(deployment_available(&deployments.get("hello").await?)) }
        })
        .await?;
        // the generic (dynamic, any-kind) condition wait agrees
        env.wait_condition("apps/v1", "Deployment", "hello", "Available", Duration::from_secs(10)).await?;

        // From another pod, by the short name and by the fully qualified name.
        let fqdn = format!("hello.{}.svc.cluster.local", env.namespace);
        let script = format!(
            "set -e; for i in 1 2 3 4 5 6 7 8 9 10; do timeout 5 wget -q -O- http://hello/ && break; sleep 2; done; timeout 5 wget -q -O- http://{fqdn}/"
        );
        env.apply_documents(vec![busybox_pod("client", &script)], false).await?;
        env.wait_pod_succeeded("client", Duration::from_secs(120)).await?;
        let log = env.pod_logs("client").await?;
        ensure!(
            log.matches("Hello OpenShift!").count() == 2,
            "expected two greetings from the service, got {log:?}"
        );
        Ok(())
    })
    .await;
}

const SERVER_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: server
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: hello
    image: HELLO_IMAGE
    ports:
    - containerPort: 8080
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_logs_follow_and_port_forward_work() {
    run("kubectl-streaming", |env: Env| async move {
        env.apply_yaml(&SERVER_POD.replace("HELLO_IMAGE", HELLO_IMAGE))
            .await?;
        let counter = "for i in 1 2 3 4 5; do echo tick $i; sleep 1; done";
        env.apply_documents(vec![busybox_pod("ticker", counter)], false)
            .await?;
        env.wait_pod_ready("server", Duration::from_secs(120))
            .await?;

        // exec: stdout, exit status and stdin.
        let out = env.kubectl(&[
            "exec",
            "server",
            "--",
            "/bin/sh",
            "-c",
            "echo exec-ok; id -u",
        ])?;
        ensure!(out.starts_with("exec-ok\n"), "exec output {out:?}");
        let failed = env.kubectl_output(&["exec", "server", "--", "/bin/sh", "-c", "exit 3"])?;
        ensure!(
            failed.status.code() == Some(3),
            "exec exit status {:?}",
            failed.status
        );
        let mut child = env
            .kubectl_command(&["exec", "-i", "server", "--", "/bin/sh", "-c", "tr a-z A-Z"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("no stdin"))?
            .write_all(b"piped through exec\n")?;
        let out = child.wait_with_output()?;
        ensure!(
            String::from_utf8_lossy(&out.stdout) == "PIPED THROUGH EXEC\n",
            "exec -i output {:?} (stderr {:?})",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        // logs -f: follows the running container until it exits.
        env.wait_pod_started("ticker", Duration::from_secs(60))
            .await?;
        let logs = tokio::task::block_in_place(|| env.kubectl(&["logs", "-f", "ticker"]))?;
        let ticks: Vec<&str> = logs.lines().collect();
        ensure!(
            ticks == ["tick 1", "tick 2", "tick 3", "tick 4", "tick 5"],
            "logs -f output {logs:?}"
        );

        // port-forward: a random local port on 127.0.0.1 to the pod's 8080.
        let answer = tokio::task::block_in_place(|| port_forward_get(&env))?;
        ensure!(
            answer.contains("200 OK"),
            "port-forward response {answer:?}"
        );
        ensure!(
            answer.contains("Hello OpenShift!"),
            "port-forward response {answer:?}"
        );
        Ok(())
    })
    .await;
}

/// Runs `kubectl port-forward pod/server :8080`, sends one HTTP request through it.
fn port_forward_get(env: &Env) -> Result<String> {
    let mut child = env
        .kubectl_command(&[
            "port-forward",
            "--address",
            "127.0.0.1",
            "pod/server",
            ":8080",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let result = (|| {
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        // Keep the pipe open until the request is done: kubectl writes "Handling connection"
        // to stdout and dies of SIGPIPE if nobody reads it.
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        // "Forwarding from 127.0.0.1:43215 -> 8080"
        let port: u16 = line
            .split_whitespace()
            .nth(2)
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("unexpected port-forward output {line:?}"))?;
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(15)))?;
        stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        // busybox httpd may reset the connection after answering; keep what arrived.
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if !answer.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => {
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        drop(reader);
        Ok(String::from_utf8_lossy(&answer).into_owned())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_image_name_resolves_through_the_mirror() {
    // The same image under the names real manifests use must come from the local registry.
    run("mirror-names", |env: Env| async move {
        let mut pod = busybox_pod("mirrored", "echo mirrored");
        pod["spec"]["containers"][0]["image"] = serde_json::json!("busybox");
        env.apply_documents(vec![pod], false).await?;
        env.wait_pod_succeeded("mirrored", Duration::from_secs(120))
            .await?;
        ensure!(env.pod_logs("mirrored").await? == "mirrored\n");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_answers_under_one_name_for_the_node_and_for_pods() {
    run("registry-one-name", |env: Env| async move {
        let registry = registry_address()?;
        // The node pulls by that name (image reference) and the pod reaches it by that name too.
        let mut pod = busybox_pod(
            "reg",
            &format!("timeout 5 wget -q -O- http://{registry}/v2/ && echo reachable"),
        );
        pod["spec"]["containers"][0]["image"] =
            serde_json::json!(format!("{registry}/docker.io/library/busybox:1.36"));
        env.apply_documents(vec![pod], false).await?;
        env.wait_pod_succeeded("reg", Duration::from_secs(120))
            .await?;
        let log = env.pod_logs("reg").await?;
        ensure!(
            log.trim_end().ends_with("reachable"),
            "pod could not reach {registry}: {log:?}"
        );
        Ok(())
    })
    .await;
}
