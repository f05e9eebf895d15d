//! DeploymentConfig end to end: the controller and deployer installed by the chart roll out real
//! pods of the hello image. Needs `hack/cluster up` with the outrigger-deploymentconfig images.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, ensure};
use outrigger_e2e::{Env, HELLO_IMAGE, run, wait_for};
use serde_json::Value;

fn dc_yaml(name: &str, strategy: &str, replicas: i32, env_value: &str) -> String {
    format!(
        r#"
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    app: {name}
  strategy:
{strategy}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: hello
        image: {HELLO_IMAGE}
        env:
        - name: VERSION_MARK
          value: "{env_value}"
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {{path: /, port: 8080}}
          periodSeconds: 1
"#
    )
}

const ROLLING: &str = r#"    type: Rolling
    rollingParams:
      maxSurge: 1
      maxUnavailable: 0
      intervalSeconds: 1
      updatePeriodSeconds: 1"#;

fn get_json(env: &Env, args: &[&str]) -> Result<Value> {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = env.kubectl(&all)?;
    serde_json::from_str(&out).with_context(|| format!("parsing kubectl get {args:?}"))
}

fn condition<'a>(dc: &'a Value, type_: &str) -> Option<&'a Value> {
    dc["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits until the DC's latest rollout is `version` and it finished (Complete or Failed);
/// returns the final phase.
async fn wait_rollout(env: &Env, dc: &str, version: i64, timeout: Duration) -> Result<String> {
    let rc = format!("{dc}-{version}");
    let mut phase = String::new();
    wait_for(&format!("rollout {rc} to finish"), timeout, || {
        let got = get_json(env, &["get", "rc", &rc]);
        let p = got.map(|v| {
            v["metadata"]["annotations"]["openshift.io/deployment.phase"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        });
        let done = matches!(p.as_deref(), Ok("Complete") | Ok("Failed"));
        if let Ok(p) = p {
            phase = p;
        }
        async move { Ok(done) }
    })
    .await?;
    Ok(phase)
}

async fn wait_dc<F: Fn(&Value) -> bool>(
    env: &Env,
    dc: &str,
    what: &str,
    timeout: Duration,
    f: F,
) -> Result<Value> {
    let mut last = Value::Null;
    wait_for(what, timeout, || {
        let v = get_json(env, &["get", "dc", dc]);
        let ok = v.as_ref().map(&f).unwrap_or(false);
        if let Ok(v) = v {
            last = v;
        }
        async move { Ok(ok) }
    })
    .await
    .with_context(|| format!("last status: {}", last["status"]))?;
    Ok(last)
}

fn rc_replicas(env: &Env, rc: &str) -> Result<i64> {
    let v = get_json(env, &["get", "rc", rc])?;
    v["spec"]["replicas"]
        .as_i64()
        .ok_or_else(|| anyhow!("{rc} has no spec.replicas"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_rollout_becomes_available_and_config_change_rolls_version_two() {
    run("dc-rolling", |env: Env| async move {
        let watch = InvariantWatch::start(&env);
        let started = Instant::now();
        env.apply_yaml(&dc_yaml("hello", ROLLING, 2, "one")).await?;
        env.kubectl(&[
            "wait",
            "--for=condition=Available",
            "dc/hello",
            "--timeout=180s",
        ])?;
        ensure!(wait_rollout(&env, "hello", 1, Duration::from_secs(180)).await? == "Complete");
        eprintln!(
            "first rollout available after {:.1}s",
            started.elapsed().as_secs_f64()
        );

        let rc = get_json(&env, &["get", "rc", "hello-1"])?;
        let a = &rc["metadata"]["annotations"];
        ensure!(a["openshift.io/deployment-config.name"] == "hello", "{a}");
        ensure!(
            a["openshift.io/deployment-config.latest-version"] == "1",
            "{a}"
        );
        ensure!(rc["metadata"]["labels"]["openshift.io/deployment-config.name"] == "hello");
        ensure!(rc["metadata"]["ownerReferences"][0]["kind"] == "DeploymentConfig");
        let encoded: Value = serde_json::from_str(
            a["openshift.io/encoded-deployment-config"]
                .as_str()
                .unwrap_or("{}"),
        )?;
        ensure!(encoded["kind"] == "DeploymentConfig" && encoded["metadata"]["name"] == "hello");
        ensure!(
            rc["spec"]["selector"]["deployment"] == "hello-1"
                && rc["spec"]["selector"]["deploymentconfig"] == "hello"
        );
        let deployer = get_json(&env, &["get", "pod", "hello-1-deploy"])?;
        ensure!(deployer["spec"]["serviceAccountName"] == "deployer");
        ensure!(deployer["metadata"]["labels"]["openshift.io/deployer-pod-for.name"] == "hello-1");
        let log = env.pod_logs("hello-1-deploy").await?;
        ensure!(log.contains("--> Success"), "deployer log: {log}");

        let dc = get_json(&env, &["get", "dc", "hello"])?;
        ensure!(dc["status"]["latestVersion"] == 1, "{}", dc["status"]);
        ensure!(
            dc["status"]["details"]["causes"][0]["type"] == "ConfigChange",
            "{}",
            dc["status"]
        );
        ensure!(
            condition(&dc, "Progressing")
                .is_some_and(|c| c["reason"] == "NewReplicationControllerAvailable")
        );

        // A template change rolls out version 2 with surge 1 / unavailable 0.
        let t2 = Instant::now();
        env.apply_yaml(&dc_yaml("hello", ROLLING, 2, "two")).await?;
        ensure!(wait_rollout(&env, "hello", 2, Duration::from_secs(240)).await? == "Complete");
        eprintln!(
            "config change rollout complete after {:.1}s",
            t2.elapsed().as_secs_f64()
        );
        let dc = wait_dc(
            &env,
            "hello",
            "dc/hello Available at version 2",
            Duration::from_secs(60),
            |d| {
                d["status"]["latestVersion"] == 2
                    && d["status"]["availableReplicas"] == 2
                    && condition(d, "Progressing")
                        .is_some_and(|c| c["reason"] == "NewReplicationControllerAvailable")
            },
        )
        .await?;
        ensure!(
            dc["status"]["observedGeneration"] == dc["metadata"]["generation"],
            "{}",
            dc["status"]
        );
        ensure!(rc_replicas(&env, "hello-1")? == 0 && rc_replicas(&env, "hello-2")? == 2);
        let log = env.pod_logs("hello-2-deploy").await?;
        ensure!(
            log.contains("Scaling up hello-2 from 0 to 2, scaling down hello-1 from 2 to 0"),
            "deployer log: {log}"
        );
        ensure!(
            log.contains("Scaling hello-2 up to 1") && log.contains("--> Success"),
            "deployer log: {log}"
        );
        // Surge 1 / unavailable 0 with 2 desired: at no step more than 3 pods are asked for, and
        // together they are never asked for fewer than 2 (replica counts requested, from the log).
        let (mut new, mut old) = (0i64, 2i64);
        for line in log.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["Scaling", rc, _, "to", n] = words.as_slice() {
                let n: i64 = n.parse()?;
                if *rc == "hello-2" {
                    new = n;
                } else {
                    old = n;
                }
                ensure!(new + old <= 3, "surge exceeded at {line:?}: {log}");
                ensure!(old >= 2 - new, "availability broken at {line:?}: {log}");
            }
        }
        ensure!((new, old) == (2, 0), "final step {new}/{old}: {log}");

        // kubectl scale goes through the scale subresource and the controller scales the RC.
        env.kubectl(&["scale", "dc/hello", "--replicas=3"])?;
        wait_dc(
            &env,
            "hello",
            "dc/hello scaled to 3",
            Duration::from_secs(120),
            |d| d["status"]["replicas"] == 3 && d["status"]["availableReplicas"] == 3,
        )
        .await?;
        ensure!(rc_replicas(&env, "hello-2")? == 3);
        let scale = env.kubectl(&[
            "get",
            "--raw",
            &format!(
                "/apis/apps.openshift.io/v1/namespaces/{}/deploymentconfigs/hello/scale",
                env.namespace
            ),
        ])?;
        let scale: Value = serde_json::from_str(&scale)?;
        ensure!(scale["status"]["selector"] == "app=hello", "scale: {scale}");
        watch.finish().await?;
        Ok(())
    })
    .await;
}

const RECREATE_WITH_HOOKS: &str = r#"    type: Recreate
    recreateParams:
      timeoutSeconds: 120
      pre:
        failurePolicy: Abort
        execNewPod:
          containerName: hello
          command: ["/bin/sh", "-c", "echo pre-hook ran for $OPENSHIFT_DEPLOYMENT_NAME"]
      mid:
        failurePolicy: Abort
        execNewPod:
          containerName: hello
          command: ["/bin/sh", "-c", "echo mid-hook VERSION_MARK=$VERSION_MARK; test \"$VERSION_MARK\" != bad"]
      post:
        failurePolicy: Ignore
        execNewPod:
          containerName: hello
          command: ["/bin/sh", "-c", "echo post-hook ran; exit 3"]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_runs_hooks_in_order_and_a_failing_mid_hook_rolls_back() {
    run("dc-recreate-hooks", |env: Env| async move {
        let watch = InvariantWatch::start(&env);
        env.apply_yaml(&dc_yaml("web", RECREATE_WITH_HOOKS, 2, "good"))
            .await?;
        ensure!(wait_rollout(&env, "web", 1, Duration::from_secs(240)).await? == "Complete");
        for hook in ["pre", "mid", "post"] {
            let pod = get_json(&env, &["get", "pod", &format!("web-1-hook-{hook}")])?;
            ensure!(
                pod["metadata"]["labels"]["openshift.io/deployer-pod.type"]
                    == format!("hook-{hook}")
            );
        }
        let log = env.pod_logs("web-1-deploy").await?;
        let pos = |s: &str| {
            log.find(s)
                .ok_or_else(|| anyhow!("{s:?} missing from deployer log: {log}"))
        };
        ensure!(
            pos("pre-hook ran for web-1")? < pos("mid-hook VERSION_MARK=good")?,
            "order: {log}"
        );
        ensure!(
            pos("mid-hook VERSION_MARK=good")? < pos("Scaling web-1 to 2")?,
            "order: {log}"
        );
        ensure!(
            pos("Scaling web-1 to 2")? < pos("post-hook ran")?,
            "order: {log}"
        );
        ensure!(
            log.contains("Hook failed, ignoring"),
            "post hook failure is ignored: {log}"
        );
        let events = env.kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=web",
            "-o",
            "json",
        ])?;
        for reason in ["\"Started\"", "\"Completed\"", "\"Failed\""] {
            ensure!(
                events.contains(reason),
                "hook event {reason} on the DC: {events}"
            );
        }
        env.kubectl(&[
            "wait",
            "--for=condition=Available",
            "dc/web",
            "--timeout=120s",
        ])?;

        // Version 2's mid hook fails (Abort): the rollout fails and version 1 comes back.
        env.apply_yaml(&dc_yaml("web", RECREATE_WITH_HOOKS, 2, "bad"))
            .await?;
        ensure!(wait_rollout(&env, "web", 2, Duration::from_secs(240)).await? == "Failed");
        let log = env.pod_logs("web-2-deploy").await?;
        ensure!(
            log.contains("mid-hook VERSION_MARK=bad")
                && log.contains("Hook failed (failurePolicy Abort)"),
            "{log}"
        );
        let dc = wait_dc(
            &env,
            "web",
            "automatic rollback to web-1",
            Duration::from_secs(120),
            |d| {
                d["status"]["availableReplicas"] == 2
                    && condition(d, "Progressing").is_some_and(|c| {
                        c["reason"] == "ProgressDeadlineExceeded" && c["status"] == "False"
                    })
            },
        )
        .await?;
        ensure!(dc["status"]["latestVersion"] == 2);
        ensure!(rc_replicas(&env, "web-1")? == 2 && rc_replicas(&env, "web-2")? == 0);
        ensure!(condition(&dc, "Available").is_some_and(|c| c["status"] == "True"));
        watch.finish().await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_condition_and_an_event() {
    run("dc-bad-input", |env: Env| async move {
        let strategy = r#"    type: Recreate
    recreateParams:
      mid:
        failurePolicy: Abort
        execNewPod:
          containerName: nope
          command: ["true"]"#;
        env.apply_yaml(&dc_yaml("bad", strategy, 1, "x")).await?;
        let dc = wait_dc(
            &env,
            "bad",
            "InvalidConfig condition",
            Duration::from_secs(60),
            |d| condition(d, "Progressing").is_some_and(|c| c["reason"] == "InvalidConfig"),
        )
        .await?;
        let msg = condition(&dc, "Progressing")
            .map(|c| c["message"].to_string())
            .unwrap_or_default();
        ensure!(msg.contains("nope"), "{msg}");
        ensure!(
            dc["status"]["latestVersion"].as_i64().unwrap_or(0) == 0,
            "no rollout for bad input"
        );
        let events = env.kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=bad",
            "-o",
            "json",
        ])?;
        ensure!(events.contains("InvalidConfig"), "events: {events}");
        Ok(())
    })
    .await;
}

/// Samples the namespace every 200 ms during a test and records violations of the invariants
/// OpenShift's own tests watch: never two live deployer pods at once, a finished rollout never
/// changes phase again, and phases only move forward.
struct InvariantWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl InvariantWatch {
    fn start(env: &Env) -> InvariantWatch {
        use k8s_openapi::api::core::v1::{Pod, ReplicationController};
        use kube::api::ListParams;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pods: kube::Api<Pod> = env.api();
        let rcs: kube::Api<ReplicationController> = env.api();
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let rank = |p: &str| match p {
                "New" => 0,
                "Pending" => 1,
                "Running" => 2,
                _ => 3,
            };
            let mut violations = Vec::new();
            let mut phases = std::collections::BTreeMap::<String, String>::new();
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let lp = ListParams::default().labels("openshift.io/deployer-pod-for.name");
                if let Ok(list) = pods.list(&lp).await {
                    let live: Vec<String> =
                        list.items
                            .iter()
                            .filter(|p| {
                                !p.metadata.labels.as_ref().is_some_and(|l| {
                                    l.contains_key("openshift.io/deployer-pod.type")
                                })
                            })
                            .filter(|p| p.metadata.deletion_timestamp.is_none())
                            .filter(|p| {
                                matches!(
                                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                                    Some("Pending") | Some("Running")
                                )
                            })
                            .filter_map(|p| p.metadata.name.clone())
                            .collect();
                    if live.len() > 1 {
                        violations.push(format!("two live deployer pods: {live:?}"));
                    }
                }
                if let Ok(list) = rcs.list(&ListParams::default()).await {
                    for rc in list.items {
                        let name = rc.metadata.name.clone().unwrap_or_default();
                        let phase = rc
                            .metadata
                            .annotations
                            .as_ref()
                            .and_then(|a| a.get("openshift.io/deployment.phase").cloned())
                            .unwrap_or_default();
                        if let Some(before) = phases.get(&name) {
                            let finished = before == "Complete" || before == "Failed";
                            // A retry (phase back to New) is the one allowed reset, and only
                            // from Failed; this test does not retry.
                            if (finished && *before != phase) || rank(&phase) < rank(before) {
                                violations.push(format!("{name}: phase {before} -> {phase}"));
                            }
                        }
                        phases.insert(name, phase);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            violations
        });
        InvariantWatch { stop, task }
    }

    async fn finish(self) -> Result<()> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let violations = self.task.await?;
        ensure!(
            violations.is_empty(),
            "invariants violated: {violations:#?}"
        );
        Ok(())
    }
}

fn rc_env_mark(env: &Env, rc: &str) -> Result<String> {
    let v = get_json(env, &["get", "rc", rc])?;
    Ok(
        v["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

fn latest_version(env: &Env, dc: &str) -> Result<i64> {
    Ok(
        get_json(env, &["get", "dc", dc])?["status"]["latestVersion"]
            .as_i64()
            .unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pruning_rollback_pause_and_instantiate_annotations() {
    run("dc-history", |env: Env| async move {
        let watch = InvariantWatch::start(&env);
        let limited = |mark: &str| {
            dc_yaml("app", ROLLING, 1, mark).replace(
                "  replicas: 1\n",
                "  replicas: 1\n  revisionHistoryLimit: 1\n",
            )
        };
        for (v, mark) in [(1, "one"), (2, "two"), (3, "three")] {
            env.apply_yaml(&limited(mark)).await?;
            ensure!(
                wait_rollout(&env, "app", v, Duration::from_secs(180)).await? == "Complete",
                "rollout {v}"
            );
        }
        // revisionHistoryLimit 1: of the RCs older than the active one only the newest stays.
        wait_for("app-1 pruned", Duration::from_secs(60), || {
            let gone = env
                .kubectl_output(&["get", "rc", "app-1"])
                .map(|o| !o.status.success())
                .unwrap_or(false);
            async move { Ok(gone) }
        })
        .await?;
        ensure!(
            env.kubectl_output(&["get", "rc", "app-2"])?
                .status
                .success(),
            "app-2 is kept"
        );

        // Declarative rollback (what `kubectl outrigger rollout undo --to-revision 2` writes).
        env.kubectl(&[
            "annotate",
            "dc/app",
            r#"apps.openshift.io/rollback={"revision": 2}"#,
        ])?;
        ensure!(wait_rollout(&env, "app", 4, Duration::from_secs(180)).await? == "Complete");
        ensure!(
            rc_env_mark(&env, "app-4")? == "two",
            "version 4 runs version 2's template"
        );
        let dc = get_json(&env, &["get", "dc", "app"])?;
        ensure!(
            dc["metadata"]["annotations"]["apps.openshift.io/rollback-handled"]
                == r#"{"revision": 2}"#,
            "{}",
            dc["metadata"]
        );
        ensure!(
            dc["status"]["details"]["message"] == "rollback to version 2",
            "{}",
            dc["status"]
        );

        // Paused: a template change starts nothing until resumed.
        env.kubectl(&[
            "patch",
            "dc/app",
            "--type=merge",
            "-p",
            r#"{"spec":{"paused":true}}"#,
        ])?;
        env.apply_yaml(&limited("paused")).await?;
        tokio::time::sleep(Duration::from_secs(8)).await;
        ensure!(
            latest_version(&env, "app")? == 4,
            "paused DC must not roll out"
        );
        env.kubectl(&[
            "patch",
            "dc/app",
            "--type=merge",
            "-p",
            r#"{"spec":{"paused":false}}"#,
        ])?;
        ensure!(wait_rollout(&env, "app", 5, Duration::from_secs(180)).await? == "Complete");
        ensure!(rc_env_mark(&env, "app-5")? == "paused");

        // Declarative instantiate (`kubectl outrigger rollout latest`): a new version without a change.
        env.kubectl(&[
            "annotate",
            "dc/app",
            "apps.openshift.io/instantiate=request-1",
        ])?;
        ensure!(wait_rollout(&env, "app", 6, Duration::from_secs(180)).await? == "Complete");
        let dc = get_json(&env, &["get", "dc", "app"])?;
        ensure!(
            dc["status"]["details"]["causes"][0]["type"] == "Manual",
            "{}",
            dc["status"]
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        ensure!(
            latest_version(&env, "app")? == 6,
            "one request, one rollout"
        );
        watch.finish().await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_rollout_restores_the_previous_version() {
    run("dc-cancel", |env: Env| async move {
        let slow_pre = r#"    type: Recreate
    recreateParams:
      pre:
        failurePolicy: Abort
        execNewPod:
          containerName: hello
          command: ["/bin/sh", "-c", "test \"$VERSION_MARK\" = one || sleep 600"]"#;
        env.apply_yaml(&dc_yaml("slow", slow_pre, 1, "one")).await?;
        ensure!(wait_rollout(&env, "slow", 1, Duration::from_secs(180)).await? == "Complete");
        env.apply_yaml(&dc_yaml("slow", slow_pre, 1, "two")).await?;
        env.wait_pod_started("slow-2-hook-pre", Duration::from_secs(120))
            .await?;
        // What `kubectl outrigger rollout cancel` (and `oc rollout cancel`) writes.
        env.kubectl(&[
            "annotate",
            "--overwrite",
            "rc/slow-2",
            "openshift.io/deployment.cancelled=true",
            "openshift.io/deployment.status-reason=cancelled by the user",
        ])?;
        ensure!(wait_rollout(&env, "slow", 2, Duration::from_secs(120)).await? == "Failed");
        let dc = wait_dc(
            &env,
            "slow",
            "RolloutCancelled",
            Duration::from_secs(60),
            |d| condition(d, "Progressing").is_some_and(|c| c["reason"] == "RolloutCancelled"),
        )
        .await?;
        ensure!(dc["status"]["latestVersion"] == 2);
        wait_for(
            "deployer and hook pods of slow-2 deleted",
            Duration::from_secs(60),
            || {
                let out = env.kubectl(&[
                    "get",
                    "pods",
                    "-l",
                    "openshift.io/deployer-pod-for.name=slow-2",
                    "-o",
                    "name",
                ]);
                async move { Ok(out?.trim().is_empty()) }
            },
        )
        .await?;
        ensure!(rc_replicas(&env, "slow-1")? == 1, "version 1 keeps serving");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_hook_is_restarted_until_it_succeeds() {
    run("dc-retry-hook", |env: Env| async move {
        let strategy = r#"    type: Recreate
    recreateParams:
      pre:
        failurePolicy: Retry
        execNewPod:
          containerName: hello
          volumes: [data]
          command: ["/bin/sh", "-c", "if [ -f /data/tried ]; then echo retry succeeded; else touch /data/tried; echo first attempt fails; exit 1; fi"]"#;
        let yaml = dc_yaml("retry", strategy, 1, "x").replace(
            "        ports:\n",
            "        volumeMounts: [{name: data, mountPath: /data}]\n        ports:\n",
        ) + "      volumes: [{name: data, emptyDir: {}}]\n";
        env.apply_yaml(&yaml).await?;
        ensure!(wait_rollout(&env, "retry", 1, Duration::from_secs(240)).await? == "Complete");
        let hook = get_json(&env, &["get", "pod", "retry-1-hook-pre"])?;
        ensure!(hook["spec"]["restartPolicy"] == "OnFailure");
        ensure!(hook["status"]["containerStatuses"][0]["restartCount"].as_i64().unwrap_or(0) >= 1, "{}", hook["status"]);
        let log = env.pod_logs("retry-1-deploy").await?;
        ensure!(log.contains("retry succeeded") && log.contains("--> pre: Success"), "{log}");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_restart_mid_rollout_and_orphaned_rcs_are_adopted_without_a_new_version() {
    run("dc-restart-adopt", |env: Env| async move {
        let strategy = r#"    type: Recreate
    recreateParams:
      pre:
        failurePolicy: Abort
        execNewPod:
          containerName: hello
          command: ["/bin/sh", "-c", "sleep 8; echo pre done"]"#;
        let yaml = dc_yaml("survivor", strategy, 1, "x");
        env.apply_yaml(&yaml).await?;
        env.wait_pod_started("survivor-1-hook-pre", Duration::from_secs(120))
            .await?;
        // Kill the controller mid-rollout.
        env.kubectl(&[
            "delete",
            "pod",
            "-n",
            "outrigger-system",
            "-l",
            "app.kubernetes.io/component=deploymentconfig-controller",
        ])?;
        ensure!(wait_rollout(&env, "survivor", 1, Duration::from_secs(240)).await? == "Complete");
        wait_dc(
            &env,
            "survivor",
            "status after restart",
            Duration::from_secs(120),
            |d| {
                d["status"]["availableReplicas"] == 1
                    && condition(d, "Progressing")
                        .is_some_and(|c| c["reason"] == "NewReplicationControllerAvailable")
            },
        )
        .await?;
        let rcs = env.kubectl(&["get", "rc", "-o", "name"])?;
        ensure!(
            rcs.trim() == "replicationcontroller/survivor-1",
            "exactly one version: {rcs}"
        );

        // Orphan-delete the DC, recreate it: the RC is adopted, no new version.
        env.kubectl(&[
            "delete",
            "dc",
            "survivor",
            "--cascade=orphan",
            "--wait=true",
        ])?;
        wait_for("owner reference released", Duration::from_secs(60), || {
            let rc = get_json(&env, &["get", "rc", "survivor-1"]);
            async move {
                Ok(rc?["metadata"]["ownerReferences"]
                    .as_array()
                    .is_none_or(|a| a.is_empty()))
            }
        })
        .await?;
        env.apply_yaml(&yaml).await?;
        let dc = wait_dc(
            &env,
            "survivor",
            "adopted at version 1",
            Duration::from_secs(120),
            |d| d["status"]["latestVersion"] == 1 && d["status"]["availableReplicas"] == 1,
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rc = get_json(&env, &["get", "rc", "survivor-1"])?;
        ensure!(
            rc["metadata"]["ownerReferences"][0]["uid"] == dc["metadata"]["uid"],
            "adopted: {}",
            rc["metadata"]
        );
        let rcs = env.kubectl(&["get", "rc", "-o", "name"])?;
        ensure!(
            rcs.trim() == "replicationcontroller/survivor-1",
            "no new version: {rcs}"
        );
        ensure!(latest_version(&env, "survivor")? == 1);
        Ok(())
    })
    .await;
}

/// The kubectl plugin binary (built by `cargo build --workspace --bins`, which `hack/cluster up`
/// runs): the newer of the debug and release builds.
fn plugin_binary() -> Result<std::path::PathBuf> {
    let target = outrigger_e2e::project_root().join("target");
    ["debug", "release"]
        .iter()
        .map(|p| target.join(p).join("kubectl-outrigger"))
        .filter(|p| p.is_file())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .ok_or_else(|| {
            anyhow!("kubectl-outrigger is not built: run `cargo build -p kubectl-outrigger`")
        })
}

fn plugin(env: &Env, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(plugin_binary()?)
        .args(args)
        .args(["-n", &env.namespace])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success(),
        "kubectl outrigger {args:?} failed: {text}"
    );
    Ok(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_plugin_latest_cancel_retry_undo_history_status_pause() {
    run("dc-plugin", |env: Env| async move {
        let strategy = r#"    type: Recreate
    recreateParams:
      pre:
        failurePolicy: Abort
        execNewPod:
          containerName: hello
          command: ["/bin/sh", "-c", "test \"$OPENSHIFT_DEPLOYMENT_NAME\" = tool-1 || sleep 6"]"#;
        env.apply_yaml(&dc_yaml("tool", strategy, 1, "one")).await?;
        let out = plugin(&env, &["rollout", "status", "dc/tool"])?;
        ensure!(out.contains("\"tool-1\" successfully rolled out"), "{out}");

        plugin(&env, &["rollout", "latest", "dc/tool"])?;
        env.wait_pod_started("tool-2-hook-pre", Duration::from_secs(120))
            .await?;
        plugin(&env, &["rollout", "cancel", "dc/tool"])?;
        ensure!(wait_rollout(&env, "tool", 2, Duration::from_secs(60)).await? == "Failed");
        wait_dc(
            &env,
            "tool",
            "RolloutCancelled",
            Duration::from_secs(60),
            |d| condition(d, "Progressing").is_some_and(|c| c["reason"] == "RolloutCancelled"),
        )
        .await?;
        let cancelled_reason = get_json(&env, &["get", "rc", "tool-2"])?["metadata"]["annotations"]
            ["openshift.io/deployment.status-reason"]
            .clone();
        ensure!(
            cancelled_reason == "cancelled by the user",
            "{cancelled_reason}"
        );

        plugin(&env, &["rollout", "retry", "dc/tool"])?;
        ensure!(wait_rollout(&env, "tool", 2, Duration::from_secs(120)).await? == "Complete");
        let out = plugin(&env, &["rollout", "status", "dc/tool"])?;
        ensure!(out.contains("\"tool-2\" successfully rolled out"), "{out}");

        let out = plugin(&env, &["rollout", "undo", "dc/tool", "--to-revision", "1"])?;
        ensure!(out.contains("rolled back"), "{out}");
        ensure!(wait_rollout(&env, "tool", 3, Duration::from_secs(120)).await? == "Complete");
        let history = plugin(&env, &["rollout", "history", "dc/tool"])?;
        for line in [
            "1\t\tComplete\tconfig change",
            "2\t\tComplete\tmanual change",
            "3\t\tComplete\trollback to version 1",
        ] {
            ensure!(history.contains(line), "history lacks {line:?}: {history}");
        }
        let err = plugin(&env, &["rollback", "tool", "--to-version", "3"])
            .expect_err("rolling back to the latest");
        ensure!(err.to_string().contains("already the latest"), "{err}");

        plugin(&env, &["rollout", "pause", "dc/tool"])?;
        ensure!(get_json(&env, &["get", "dc", "tool"])?["spec"]["paused"] == true);
        ensure!(
            plugin(&env, &["rollout", "latest", "dc/tool"]).is_err(),
            "latest is refused while paused"
        );
        plugin(&env, &["rollout", "resume", "dc/tool"])?;
        ensure!(get_json(&env, &["get", "dc", "tool"])?["spec"]["paused"] == false);
        Ok(())
    })
    .await;
}

const TRIGGERED_DC: &str = r#"
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: triggered
spec:
  replicas: 1
  selector: {app: triggered}
  triggers:
  - type: ConfigChange
  - type: ImageChange
    imageChangeParams:
      automatic: true
      containerNames: [hello]
      from: {kind: ImageStreamTag, name: "app:latest"}
  template:
    metadata:
      labels: {app: triggered}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: hello
        image: " "
"#;

fn image_stream_status_patch(reference: &str) -> String {
    serde_json::json!({"status": {"tags": [{"tag": "latest", "items": [
        {"created": "2026-01-01T00:00:00Z", "dockerImageReference": reference, "image": "", "generation": 1}
    ]}]}})
    .to_string()
}

/// Points the stream's `latest` tag at `reference` the way a push to the integrated registry
/// does: a status-only tag (no spec tag, so an ImageStream controller has nothing to import).
fn set_stream(env: &Env, reference: &str) -> Result<()> {
    env.kubectl(&[
        "patch",
        "imagestream",
        "app",
        "--subresource=status",
        "--type=merge",
        "-p",
        &image_stream_status_patch(reference),
    ])?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_change_trigger_resolves_the_stream_and_rolls_out_new_images() {
    run("dc-image-trigger", |env: Env| async move {
        env.apply_yaml(TRIGGERED_DC).await?;
        // The stream does not exist yet: a condition and an Event say so, nothing rolls out.
        let dc = wait_dc(&env, "triggered", "ImageTriggerUnresolved", Duration::from_secs(60), |d| {
            condition(d, "Progressing").is_some_and(|c| c["reason"] == "ImageTriggerUnresolved")
        })
        .await?;
        ensure!(dc["status"]["latestVersion"].as_i64().unwrap_or(0) == 0);

        env.apply_yaml("apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: app}\nspec: {}\n").await?;
        set_stream(&env, HELLO_IMAGE)?;
        ensure!(wait_rollout(&env, "triggered", 1, Duration::from_secs(180)).await? == "Complete");
        let dc = get_json(&env, &["get", "dc", "triggered"])?;
        ensure!(dc["spec"]["template"]["spec"]["containers"][0]["image"] == HELLO_IMAGE, "{}", dc["spec"]);
        ensure!(dc["spec"]["triggers"][1]["imageChangeParams"]["lastTriggeredImage"] == HELLO_IMAGE);

        let next = "docker.io/outrigger/hello:latest";
        set_stream(&env, next)?;
        ensure!(wait_rollout(&env, "triggered", 2, Duration::from_secs(180)).await? == "Complete");
        let rc = get_json(&env, &["get", "rc", "triggered-2"])?;
        ensure!(rc["spec"]["template"]["spec"]["containers"][0]["image"] == next, "{}", rc["spec"]);
        let dc = get_json(&env, &["get", "dc", "triggered"])?;
        ensure!(dc["status"]["details"]["message"] == "image change", "{}", dc["status"]);
        ensure!(dc["status"]["details"]["causes"][0]["imageTrigger"]["from"]["name"] == next, "{}", dc["status"]);
        ensure!(dc["status"]["latestVersion"] == 2);
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_strategy_runs_the_users_image_and_test_dcs_scale_to_zero() {
    run("dc-custom-test", |env: Env| async move {
        let custom = format!(
            r#"    type: Custom
    customParams:
      image: {}
      command: ["/bin/sh", "-c", "echo custom deployer for $OPENSHIFT_DEPLOYMENT_NAME in $OPENSHIFT_DEPLOYMENT_NAMESPACE with $EXTRA"]
      environment:
      - name: EXTRA
        value: extra-env"#,
            outrigger_e2e::BUSYBOX_IMAGE
        );
        env.apply_yaml(&dc_yaml("custom", &custom, 2, "x")).await?;
        ensure!(wait_rollout(&env, "custom", 1, Duration::from_secs(180)).await? == "Complete");
        let log = env.pod_logs("custom-1-deploy").await?;
        let expected = format!("custom deployer for custom-1 in {} with extra-env", env.namespace);
        ensure!(log.contains(&expected), "{log}");
        // The custom deployer scaled nothing; the completed RC becomes active at spec.replicas.
        wait_dc(&env, "custom", "custom DC available", Duration::from_secs(120), |d| {
            d["status"]["availableReplicas"] == 2
        })
        .await?;

        // A test DC runs its pods only during the rollout.
        let yaml = dc_yaml("probe", ROLLING, 2, "x").replace("  replicas: 2\n", "  replicas: 2\n  test: true\n");
        env.apply_yaml(&yaml).await?;
        ensure!(wait_rollout(&env, "probe", 1, Duration::from_secs(180)).await? == "Complete");
        let log = env.pod_logs("probe-1-deploy").await?;
        ensure!(log.contains("Scaling probe-1 to 2"), "pods ran during the rollout: {log}");
        wait_for("test DC scaled to zero", Duration::from_secs(60), || {
            let r = rc_replicas(&env, "probe-1");
            async move { Ok(r? == 0) }
        })
        .await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_images_hook_tags_the_deployed_image() {
    run("dc-tag-images", |env: Env| async move {
        let strategy = r#"    type: Recreate
    recreateParams:
      post:
        failurePolicy: Abort
        tagImages:
        - containerName: hello
          to: {kind: ImageStreamTag, name: "tagged:deployed"}"#;
        env.apply_yaml(&dc_yaml("tagger", strategy, 1, "x")).await?;
        ensure!(wait_rollout(&env, "tagger", 1, Duration::from_secs(180)).await? == "Complete");
        let is = get_json(&env, &["get", "imagestream", "tagged"])?;
        let tag = is["spec"]["tags"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == "deployed"))
            .cloned()
            .ok_or_else(|| anyhow!("no tag deployed: {is}"))?;
        ensure!(
            tag["from"]["kind"] == "DockerImage" && tag["from"]["name"] == HELLO_IMAGE,
            "{tag}"
        );
        let log = env.pod_logs("tagger-1-deploy").await?;
        ensure!(log.contains("--> post: Tagged"), "{log}");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_rollout_without_progress_times_out_and_rolls_back() {
    run("dc-rolling-timeout", |env: Env| async move {
        let strategy = r#"    type: Rolling
    rollingParams:
      maxSurge: 1
      maxUnavailable: 0
      timeoutSeconds: 8"#;
        env.apply_yaml(&dc_yaml("stuck", strategy, 2, "good"))
            .await?;
        ensure!(wait_rollout(&env, "stuck", 1, Duration::from_secs(180)).await? == "Complete");
        // Version 2's pods never become ready (the probe asks a closed port).
        let bad = dc_yaml("stuck", strategy, 2, "bad").replace("port: 8080}", "port: 9999}");
        env.apply_yaml(&bad).await?;
        ensure!(wait_rollout(&env, "stuck", 2, Duration::from_secs(180)).await? == "Failed");
        let log = env.pod_logs("stuck-2-deploy").await?;
        ensure!(
            log.contains("timed out waiting for any update progress to be made"),
            "{log}"
        );
        let dc = wait_dc(
            &env,
            "stuck",
            "rolled back to stuck-1",
            Duration::from_secs(120),
            |d| {
                condition(d, "Progressing")
                    .is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded")
                    && d["status"]["availableReplicas"] == 2
            },
        )
        .await?;
        ensure!(condition(&dc, "Available").is_some_and(|c| c["status"] == "True"));
        wait_for("stuck-2 scaled to zero", Duration::from_secs(60), || {
            let r = rc_replicas(&env, "stuck-2");
            async move { Ok(r? == 0) }
        })
        .await?;
        ensure!(rc_replicas(&env, "stuck-1")? == 2);
        Ok(())
    })
    .await;
}
