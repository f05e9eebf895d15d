//! ImageStream controller (operators/imagestream) against the local cluster and registry:
//! imports, tag history growing through scheduled imports, an annotated Deployment rolled to each
//! new digest exactly once, failures as conditions without affecting other tags, manifest lists
//! imported both ways, and a corpus stream applied unchanged.
//!
//! Images are pushed with `crane` (`$CRANE`, else `~/.cache/outrigger/bin/crane`, else PATH) to
//! a repository of the test's own under `e2e/<namespace>/` in the local registry.
//!
//! The scheduled-import test needs a short interval: the tests set `SCHEDULED_IMPORT_INTERVAL_SECONDS`
//! of the installed controller to a few seconds when it is longer (the chart's default is
//! OpenShift's 900) and wait for the rollout; `hack/cluster up` (helm) puts the default back.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, ensure};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use outrigger_api::image::{ImageStream, NamedTagEventList};
use outrigger_e2e::{
    BUSYBOX_IMAGE, Env, corpus_dir, crane, push_unique, registry_address, run, wait_for,
};
use serde_json::json;

const CONTROLLER_NAMESPACE: &str = "outrigger-system";
const CONTROLLER: &str = "outrigger-imagestream";
const INTERVAL_ENV: &str = "SCHEDULED_IMPORT_INTERVAL_SECONDS";
const TEST_INTERVAL_SECONDS: u64 = 5;

/// A repository of this test's own in the local registry: `<registry>/e2e/<namespace>/<name>`.
fn repo(env: &Env, registry: &str, name: &str) -> String {
    format!("{registry}/e2e/{}/{name}", env.namespace)
}

fn status_tag(is: &ImageStream, tag: &str) -> Option<NamedTagEventList> {
    is.status
        .as_ref()?
        .tags
        .as_ref()?
        .iter()
        .find(|t| t.tag.as_deref() == Some(tag))
        .cloned()
}

fn images(is: &ImageStream, tag: &str) -> Vec<String> {
    status_tag(is, tag)
        .and_then(|t| t.items)
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.image.unwrap_or_default())
        .collect()
}

fn condition_reason(is: &ImageStream, tag: &str) -> Option<String> {
    status_tag(is, tag)?
        .conditions?
        .into_iter()
        .find(|c| {
            c.type_.as_deref() == Some("ImportSuccess") && c.status.as_deref() == Some("False")
        })
        .and_then(|c| c.reason)
}

/// Waits until the stream satisfies `check`; returns it.
async fn wait_stream(
    env: &Env,
    name: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&ImageStream) -> bool,
) -> Result<ImageStream> {
    let api: Api<ImageStream> = env.api();
    let check = &check;
    wait_for(what, timeout, || {
        let api = api.clone();
        async move { Ok(check(&api.get(name).await?)) }
    })
    .await
    .with_context(|| format!("stream {name} never satisfied: {what}"))?;
    Ok(api.get(name).await?)
}

/// Makes the installed controller re-import scheduled tags every few seconds (see the module
/// docs) and waits until it runs with that setting. Every test calls it first: the tests of this
/// file run concurrently, and none should start while the controller is being replaced.
async fn short_scheduled_interval(env: &Env) -> Result<()> {
    let api: Api<Deployment> = Api::namespaced(env.client.clone(), CONTROLLER_NAMESPACE);
    let d = api.get_opt(CONTROLLER).await?.ok_or_else(|| {
        anyhow!("the ImageStream controller ({CONTROLLER_NAMESPACE}/{CONTROLLER}) is not installed")
    })?;
    let current = d
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.containers.first())
        .and_then(|c| c.env.as_ref())
        .and_then(|e| e.iter().find(|v| v.name == INTERVAL_ENV))
        .and_then(|v| v.value.as_deref())
        .and_then(|v| v.parse::<u64>().ok());
    if current.is_none_or(|s| s > TEST_INTERVAL_SECONDS) {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "controller", "env": [{"name": INTERVAL_ENV, "value": TEST_INTERVAL_SECONDS.to_string()}]}
        ]}}}});
        api.patch(
            CONTROLLER,
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
        .context("shortening the scheduled-import interval of the controller")?;
    }
    wait_for(
        "the controller rollout with a short interval",
        Duration::from_secs(120),
        || {
            let api = api.clone();
            async move {
                let d = api.get(CONTROLLER).await?;
                let s = d.status.unwrap_or_default();
                let generation = d.metadata.generation.unwrap_or_default();
                Ok(s.observed_generation == Some(generation)
                    && s.updated_replicas.unwrap_or(0) >= 1
                    && s.ready_replicas.unwrap_or(0) >= 1
                    && s.replicas.unwrap_or(0) == s.updated_replicas.unwrap_or(0))
            }
        },
    )
    .await
}

fn template_image(d: &Deployment) -> String {
    d.spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.containers.iter().find(|c| c.name == "web"))
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

async fn replica_set_images(env: &Env) -> Result<Vec<String>> {
    let rs: Api<ReplicaSet> = env.api();
    let mut out: Vec<String> = rs
        .list(&ListParams::default().labels("app=web"))
        .await?
        .items
        .iter()
        .filter_map(|r| {
            r.spec
                .template
                .as_ref()
                .and_then(|t| t.spec.as_ref())
                .and_then(|p| p.containers.first())
                .and_then(|c| c.image.clone())
        })
        .collect();
    out.sort();
    Ok(out)
}

#[tokio::test]
async fn scheduled_import_grows_history_and_rolls_deployment_once_per_digest() {
    run("imagestream-scheduled", |env: Env| async move {
        short_scheduled_interval(&env).await?;
        let registry = registry_address()?;
        let app = repo(&env, &registry, "app");
        let first = push_unique(&registry, &format!("{app}:v1"), "first")?;

        env.apply_yaml(&format!(
            r#"
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: app}}
spec:
  tags:
  - name: v1
    from: {{kind: DockerImage, name: "{app}:v1"}}
    importPolicy: {{insecure: true, scheduled: true}}
  - name: latest
    from: {{kind: ImageStreamTag, name: v1}}
"#
        ))
        .await?;
        let is = wait_stream(&env, "app", "v1 imported", Duration::from_secs(60), |is| {
            !images(is, "v1").is_empty()
        })
        .await?;
        ensure!(images(&is, "v1") == [first.clone()], "v1 history {:?}, pushed {first}", images(&is, "v1"));
        let head = status_tag(&is, "v1").and_then(|t| t.items).and_then(|i| i.into_iter().next());
        let expected_ref = format!("{app}@{first}");
        ensure!(
            head.as_ref().and_then(|h| h.docker_image_reference.as_deref()) == Some(expected_ref.as_str()),
            "head reference {head:?}, expected {expected_ref}"
        );
        ensure!(
            is.status.as_ref().and_then(|s| s.docker_image_repository.clone()).is_some_and(|r| r.ends_with(&format!("/{}/app", env.namespace))),
            "status.dockerImageRepository {:?}",
            is.status.as_ref().and_then(|s| s.docker_image_repository.clone())
        );
        let is = wait_stream(&env, "app", "latest tracks v1", Duration::from_secs(30), |is| {
            images(is, "latest") == images(is, "v1")
        })
        .await?;
        ensure!(images(&is, "latest") == std::slice::from_ref(&first));

        // a Deployment that triggers on app:latest, created with a placeholder image
        let annotation = r#"[{"from":{"kind":"ImageStreamTag","name":"app:latest"},"fieldPath":"spec.template.spec.containers[?(@.name==\"web\")].image","paused":false}]"#;
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {"image.openshift.io/triggers": annotation}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                        {"name": "web", "image": BUSYBOX_IMAGE, "command": ["sleep", "3600"]}
                    ]},
                },
            },
        });
        env.apply_documents(vec![deployment], false).await?;
        let deployments: Api<Deployment> = env.api();
        let first_ref = format!("{app}@{first}");
        wait_for("the Deployment to get the imported image", Duration::from_secs(60), || {
            let deployments = deployments.clone();
            let want = first_ref.clone();
            async move { Ok(template_image(&deployments.get("web").await?) == want) }
        })
        .await?;

        // a new image on the same tag: the scheduled import finds it
        let second = push_unique(&registry, &format!("{app}:v1"), "second")?;
        ensure!(second != first, "crane produced the same digest twice");
        let is = wait_stream(&env, "app", "v1 history grows", Duration::from_secs(90), |is| {
            images(is, "v1").len() == 2
        })
        .await?;
        ensure!(images(&is, "v1") == [second.clone(), first.clone()], "v1 history {:?}", images(&is, "v1"));
        let second_ref = format!("{app}@{second}");
        wait_for("the Deployment to get the new image", Duration::from_secs(60), || {
            let deployments = deployments.clone();
            let want = second_ref.clone();
            async move { Ok(template_image(&deployments.get("web").await?) == want) }
        })
        .await?;
        let generation = deployments.get("web").await?.metadata.generation;

        // several scheduled rounds later: no further writes, one ReplicaSet per image
        tokio::time::sleep(Duration::from_secs(3 * TEST_INTERVAL_SECONDS + 2)).await;
        let d = deployments.get("web").await?;
        ensure!(d.metadata.generation == generation, "the Deployment was written again: generation {:?} -> {:?}", generation, d.metadata.generation);
        ensure!(template_image(&d) == second_ref);
        let mut want = vec![BUSYBOX_IMAGE.to_owned(), first_ref.clone(), second_ref.clone()];
        want.sort();
        let got = replica_set_images(&env).await?;
        ensure!(got == want, "ReplicaSets by image: {got:?}, expected exactly {want:?}");
        let is: ImageStream = env.api().get("app").await?;
        ensure!(images(&is, "v1").len() == 2, "history changed without a new image: {:?}", images(&is, "v1"));
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn failures_become_conditions_and_events_without_affecting_other_tags() {
    run("imagestream-failures", |env: Env| async move {
        short_scheduled_interval(&env).await?;
        let registry = registry_address()?;
        let app = repo(&env, &registry, "good");
        let digest = push_unique(&registry, &format!("{app}:1"), "good")?;
        env.apply_yaml(&format!(
            r#"
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: mixed}}
spec:
  tags:
  - name: good
    from: {{kind: DockerImage, name: "{app}:1"}}
    importPolicy: {{insecure: true}}
  - name: missing
    from: {{kind: DockerImage, name: "{app}:does-not-exist"}}
    importPolicy: {{insecure: true}}
  - name: malformed
    from: {{kind: DockerImage, name: "Not A/Valid:Reference!"}}
  - name: unknown-registry
    from: {{kind: DockerImage, name: "registry.invalid/x/y:1"}}
  - name: ref
    reference: true
    from: {{kind: DockerImage, name: "quay.io/example/tool:1.0"}}
  - name: tracking-missing
    from: {{kind: ImageStreamTag, name: "nope:1"}}
"#
        ))
        .await?;
        let is = wait_stream(
            &env,
            "mixed",
            "every tag settled",
            Duration::from_secs(120),
            |is| {
                !images(is, "good").is_empty()
                    && [
                        "missing",
                        "malformed",
                        "unknown-registry",
                        "tracking-missing",
                    ]
                    .iter()
                    .all(|t| condition_reason(is, t).is_some())
            },
        )
        .await?;
        ensure!(
            images(&is, "good") == [digest.clone()],
            "good: {:?}",
            images(&is, "good")
        );
        ensure!(
            condition_reason(&is, "good").is_none(),
            "the good tag has a failure condition"
        );
        let reasons: BTreeMap<&str, Option<String>> = [
            "missing",
            "malformed",
            "unknown-registry",
            "tracking-missing",
        ]
        .into_iter()
        .map(|t| (t, condition_reason(&is, t)))
        .collect();
        ensure!(
            reasons["missing"].as_deref() == Some("NotFound"),
            "{reasons:?}"
        );
        ensure!(
            reasons["malformed"].as_deref() == Some("InvalidImageReference"),
            "{reasons:?}"
        );
        ensure!(
            reasons["unknown-registry"].as_deref() == Some("RegistryUnreachable"),
            "{reasons:?}"
        );
        ensure!(
            reasons["tracking-missing"].as_deref() == Some("NotFound"),
            "{reasons:?}"
        );
        let message = status_tag(&is, "missing")
            .and_then(|t| t.conditions)
            .and_then(|c| c.into_iter().next())
            .and_then(|c| c.message)
            .unwrap_or_default();
        ensure!(
            message.contains("manifest unknown") || message.contains("not found"),
            "missing: {message}"
        );
        let ref_head = status_tag(&is, "ref")
            .and_then(|t| t.items)
            .and_then(|i| i.into_iter().next());
        ensure!(
            ref_head
                .as_ref()
                .and_then(|e| e.docker_image_reference.as_deref())
                == Some("quay.io/example/tool:1.0")
                && ref_head.as_ref().and_then(|e| e.image.as_deref()) == Some(""),
            "reference tag: {ref_head:?}"
        );
        let events: Api<Event> = env.api();
        wait_for(
            "an ImportFailed event on the stream",
            Duration::from_secs(30),
            || {
                let events = events.clone();
                async move {
                    Ok(events
                        .list(&ListParams::default())
                        .await?
                        .items
                        .iter()
                        .any(|e| {
                            e.reason.as_deref() == Some("ImportFailed")
                                && e.involved_object.name.as_deref() == Some("mixed")
                                && e.type_.as_deref() == Some("Warning")
                        }))
                }
            },
        )
        .await?;

        // the missing tag appears: the back-off retry imports it and clears the condition
        let late = push_unique(&registry, &format!("{app}:does-not-exist"), "late")?;
        let is = wait_stream(
            &env,
            "mixed",
            "the missing tag imported on retry",
            Duration::from_secs(120),
            |is| !images(is, "missing").is_empty(),
        )
        .await?;
        ensure!(images(&is, "missing") == [late]);
        ensure!(
            condition_reason(&is, "missing").is_none(),
            "condition not cleared"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn manifest_list_imported_legacy_and_preserve_original() {
    run("imagestream-multiarch", |env: Env| async move {
        short_scheduled_interval(&env).await?;
        let registry = registry_address()?;
        let app = repo(&env, &registry, "multi");
        let amd64 = push_unique(&registry, &format!("{app}:amd64"), "amd64")?;
        crane(&["copy", &format!("{app}:amd64"), &format!("{app}:arm64")])?;
        crane(&[
            "mutate",
            "--set-platform",
            "linux/arm64",
            "-t",
            &format!("{app}:arm64"),
            &format!("{app}:arm64"),
        ])?;
        let arm64 = crane(&["digest", &format!("{app}:arm64")])?;
        ensure!(arm64 != amd64);
        crane(&[
            "index",
            "append",
            "-m",
            &format!("{app}:amd64"),
            "-m",
            &format!("{app}:arm64"),
            "-t",
            &format!("{app}:multi"),
        ])?;
        let index = crane(&["digest", &format!("{app}:multi")])?;
        env.apply_yaml(&format!(
            r#"
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: multi}}
spec:
  tags:
  - name: legacy
    from: {{kind: DockerImage, name: "{app}:multi"}}
    importPolicy: {{insecure: true, importMode: Legacy}}
  - name: arm
    annotations: {{"importer.image.openshift.io/prefer-arch": arm64}}
    from: {{kind: DockerImage, name: "{app}:multi"}}
    importPolicy: {{insecure: true}}
  - name: preserve
    from: {{kind: DockerImage, name: "{app}:multi"}}
    importPolicy: {{insecure: true, importMode: PreserveOriginal}}
"#
        ))
        .await?;
        let is = wait_stream(
            &env,
            "multi",
            "three tags imported",
            Duration::from_secs(60),
            |is| {
                ["legacy", "arm", "preserve"]
                    .iter()
                    .all(|t| !images(is, t).is_empty())
            },
        )
        .await?;
        ensure!(
            images(&is, "legacy") == [amd64.clone()],
            "legacy: {:?}, amd64 is {amd64}",
            images(&is, "legacy")
        );
        ensure!(
            images(&is, "arm") == [arm64.clone()],
            "arm: {:?}, arm64 is {arm64}",
            images(&is, "arm")
        );
        ensure!(
            images(&is, "preserve") == [index.clone()],
            "preserve: {:?}, index is {index}",
            images(&is, "preserve")
        );
        let platforms = status_tag(&is, "preserve")
            .and_then(|t| t.items)
            .and_then(|i| i.into_iter().next())
            .and_then(|e| e.platforms)
            .unwrap_or_default();
        ensure!(
            platforms == ["linux/amd64", "linux/arm64"],
            "preserve platforms {platforms:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn corpus_stream_applies_unchanged_and_reports_unreachable_registry() {
    run("imagestream-corpus", |env: Env| async move {
        short_scheduled_interval(&env).await?;
        let path = corpus_dir()
            .join("openshift__origin")
            .join("test__extended__testdata__cmd__test__cmd__testdata__test-multiarch-stream.yaml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let original: serde_json::Value = outrigger_e2e::parse_documents(&text)?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("{} is empty", path.display()))?;
        env.apply_yaml(&text).await?;
        // docker.io is not reachable from here: every tag fails, with a condition each
        let is = wait_stream(
            &env,
            "test-multiarch-stream",
            "both tags report a failure",
            Duration::from_secs(180),
            |is| {
                condition_reason(is, "linux-amd64").is_some()
                    && condition_reason(is, "linux-s390x").is_some()
            },
        )
        .await?;
        // the stored spec is the file's, plus the schema's default referencePolicy
        let mut spec = serde_json::to_value(&is.spec)?;
        if let Some(tags) = spec["tags"].as_array_mut() {
            for t in tags {
                if t["referencePolicy"] == json!({"type": "Source"}) {
                    t.as_object_mut().map(|o| o.remove("referencePolicy"));
                }
            }
        }
        ensure!(
            spec == original["spec"],
            "spec changed:\n{spec:#}\nvs\n{:#}",
            original["spec"]
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn import_request_annotation_and_tags_tracking_another_stream() {
    run("imagestream-tracking", |env: Env| async move {
        short_scheduled_interval(&env).await?;
        let registry = registry_address()?;
        let base = repo(&env, &registry, "base");
        let first = push_unique(&registry, &format!("{base}:1"), "first")?;
        env.apply_yaml(&format!(
            r#"
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: base}}
spec:
  tags:
  - name: "1"
    from: {{kind: DockerImage, name: "{base}:1"}}
    importPolicy: {{insecure: true}}
---
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: app}}
spec:
  tags:
  - name: builder
    from: {{kind: ImageStreamTag, name: "base:1"}}
  - name: pinned
    from: {{kind: ImageStreamImage, name: "base@{first}"}}
"#
        ))
        .await?;
        let is = wait_stream(&env, "app", "app follows base:1", Duration::from_secs(60), |is| {
            !images(is, "builder").is_empty() && !images(is, "pinned").is_empty()
        })
        .await?;
        ensure!(images(&is, "builder") == std::slice::from_ref(&first), "builder {:?}", images(&is, "builder"));
        ensure!(images(&is, "pinned") == std::slice::from_ref(&first), "pinned {:?}", images(&is, "pinned"));

        // a new image, not scheduled: nothing happens until an import is requested
        let second = push_unique(&registry, &format!("{base}:1"), "second")?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let is: ImageStream = env.api().get("base").await?;
        ensure!(images(&is, "1") == std::slice::from_ref(&first), "imported without a request");
        let streams: Api<ImageStream> = env.api();
        streams
            .patch(
                "base",
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"annotations": {"image.openshift.io/import-requested": "e2e-1"}}})),
            )
            .await?;
        let is = wait_stream(&env, "base", "the requested import", Duration::from_secs(60), |is| {
            images(is, "1").len() == 2
        })
        .await?;
        ensure!(images(&is, "1") == [second.clone(), first.clone()]);
        // the tracking tag of the other stream follows; the pinned one stays
        let is = wait_stream(&env, "app", "builder follows the new image", Duration::from_secs(30), |is| {
            images(is, "builder").first() == Some(&second)
        })
        .await?;
        ensure!(images(&is, "pinned") == std::slice::from_ref(&first), "pinned moved: {:?}", images(&is, "pinned"));
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn pod_with_a_local_lookup_name_starts_with_the_resolved_image() {
    run("imagestream-local-lookup", |env: Env| async move {
        short_scheduled_interval(&env).await?;
        let registry = registry_address()?;
        let tool = repo(&env, &registry, "tool");
        let digest = push_unique(&registry, &format!("{tool}:1"), "tool")?;
        env.apply_yaml(&format!(
            r#"
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: tool}}
spec:
  lookupPolicy: {{local: true}}
  tags:
  - name: "1"
    from: {{kind: DockerImage, name: "{tool}:1"}}
    importPolicy: {{insecure: true}}
---
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: nolookup}}
spec:
  tags:
  - name: "1"
    from: {{kind: DockerImage, name: "{tool}:1"}}
    importPolicy: {{insecure: true}}
"#
        ))
        .await?;
        wait_stream(&env, "tool", "tool:1 imported", Duration::from_secs(60), |is| !images(is, "1").is_empty()).await?;
        wait_stream(&env, "nolookup", "nolookup:1 imported", Duration::from_secs(60), |is| !images(is, "1").is_empty())
            .await?;
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "uses-tool"},
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": "tool:1", "command": ["sh", "-c", "echo resolved"]}],
            },
        });
        env.apply_documents(vec![pod], false).await?;
        let pods: Api<k8s_openapi::api::core::v1::Pod> = env.api();
        let created = pods.get("uses-tool").await?;
        let image = created
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        ensure!(image == format!("{tool}@{digest}"), "pod image {image:?}, expected {tool}@{digest}");
        env.wait_pod_succeeded("uses-tool", Duration::from_secs(90)).await?;
        ensure!(env.pod_logs("uses-tool").await?.contains("resolved"));
        // a stream without lookupPolicy.local is not used: the name stays as written
        let dry = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "no-lookup"},
            "spec": {"containers": [{"name": "main", "image": "nolookup:1"}]},
        });
        let applied = env.apply_documents(vec![dry], true).await?;
        let image = applied
            .first()
            .map(|o| o.data["spec"]["containers"][0]["image"].clone())
            .unwrap_or_default();
        ensure!(image == "nolookup:1", "a stream without local lookup resolved the name: {image}");
        Ok(())
    })
    .await;
}
