//! Outrigger's CRI runtime under the real kubelet: what a pod asks of the node beyond the
//! basics the other e2e tests use — user namespaces (`hostUsers: false`), image volumes and
//! cgroup namespaces. They need `hack/cluster up` on Outrigger's runtime (the default); on
//! `--runtime containerd` they print why they skip.

use std::time::Duration;

use anyhow::{Result, ensure};
use outrigger_e2e::{Env, HELLO_IMAGE, busybox_pod, cluster_status_field, run};

/// Whether the cluster runs on Outrigger's runtime; prints the skip otherwise.
fn on_outrigger_runtime(test: &str) -> Result<bool> {
    let rt = cluster_status_field("runtime")?;
    if rt == "outrigger" {
        return Ok(true);
    }
    eprintln!("SKIPPED {test}: the cluster runs on runtime {rt:?}, not outrigger");
    Ok(false)
}

/// Runs a busybox pod running `script`, with `extra` merged into it, to completion and returns
/// its log.
async fn run_pod(env: &Env, name: &str, script: &str, extra: serde_json::Value) -> Result<String> {
    let mut pod = busybox_pod(name, script);
    merge(&mut pod, extra);
    env.apply_documents(vec![pod], false).await?;
    env.wait_pod_succeeded(name, Duration::from_secs(120))
        .await?;
    env.pod_logs(name).await
}

/// JSON merge: objects merge key by key, arrays merge element by element, the rest replaces.
fn merge(base: &mut serde_json::Value, extra: serde_json::Value) {
    match (base, extra) {
        (serde_json::Value::Object(b), serde_json::Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (serde_json::Value::Array(b), serde_json::Value::Array(e)) => {
            for (i, v) in e.into_iter().enumerate() {
                match b.get_mut(i) {
                    Some(slot) => merge(slot, v),
                    None => b.push(v),
                }
            }
        }
        (b, e) => *b = e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_namespace_pod_is_root_inside_and_unprivileged_outside() {
    run("runtime-userns", |env: Env| async move {
        if !on_outrigger_runtime("runtime-userns")? {
            return Ok(());
        }
        let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
        let script = format!(
            "cat /proc/self/uid_map; echo uid=$(id -u); echo bin=$(stat -c %u /bin/busybox); \
             touch /written && echo rootfs=rw; echo ns=$(cat {sa}/namespace); \
             echo sa=$(stat -L -c %u {sa}/namespace)"
        );
        let log = run_pod(
            &env,
            "userns",
            &script,
            serde_json::json!({"spec": {"hostUsers": false}}),
        )
        .await?;
        // the kubelet picks the range: container 0.. maps to a host range above 65535
        let map: Vec<u64> = log
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        ensure!(
            map.len() == 3 && map[0] == 0 && map[1] >= 65536 && map[2] >= 65536,
            "uid_map is not a user namespace mapping: {log}"
        );
        for want in [
            "uid=0\n".to_string(),
            // the image's files keep their owner (idmapped layers)
            "bin=0\n".to_string(),
            "rootfs=rw\n".to_string(),
            format!("ns={}\n", env.namespace),
            // the kubelet's volume is an idmapped mount
            "sa=0\n".to_string(),
        ] {
            ensure!(log.contains(&want), "missing {want:?} in the log:\n{log}");
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_volume_is_mounted_read_only_with_sub_path() {
    run("runtime-imgvol", |env: Env| async move {
        if !on_outrigger_runtime("runtime-imgvol")? {
            return Ok(());
        }
        let script = "/img/bin/busybox echo ran-from-volume; \
                      test -x /tools/busybox && echo subpath=ok; \
                      touch /img/new 2>&1 || true";
        let log = run_pod(
            &env,
            "imgvol",
            script,
            serde_json::json!({"spec": {
                "containers": [{"volumeMounts": [
                    {"name": "tools", "mountPath": "/img"},
                    {"name": "tools", "mountPath": "/tools", "subPath": "bin"},
                ]}],
                "volumes": [{"name": "tools", "image": {"reference": HELLO_IMAGE, "pullPolicy": "IfNotPresent"}}],
            }}),
        )
        .await?;
        for want in [
            "ran-from-volume\n",
            "subpath=ok\n",
            "Read-only file system",
        ] {
            ensure!(log.contains(want), "missing {want:?} in the log:\n{log}");
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_see_their_own_cgroup_as_the_root() {
    run("runtime-cgroupns", |env: Env| async move {
        if !on_outrigger_runtime("runtime-cgroupns")? {
            return Ok(());
        }
        // v1 (this machine) shows the limit in memory/, v2 in memory.max
        let script = "grep -v ':/$' /proc/self/cgroup || echo all-root; \
                      cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null \
                        || cat /sys/fs/cgroup/memory.max";
        let log = run_pod(
            &env,
            "cgroupns",
            script,
            serde_json::json!({"spec": {"containers": [{"resources": {
                "limits": {"memory": "64Mi", "cpu": "100m"},
                "requests": {"memory": "64Mi", "cpu": "100m"},
            }}]}}),
        )
        .await?;
        ensure!(
            log == "all-root\n67108864\n",
            "the container does not see its own cgroup as the root:\n{log}"
        );
        Ok(())
    })
    .await;
}
