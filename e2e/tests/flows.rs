//! Flows that cross controllers, on the local cluster:
//! - a DeploymentConfig from `../shared/corpus`, applied unchanged, rolls out;
//! - an image pushed to a tag an ImageStream follows becomes a new DeploymentConfig rollout
//!   (registry → ImageStream import → ImageChange trigger → version 2), OpenShift's §7 flow.

use std::time::Duration;

use anyhow::ensure;
use kube::api::{Patch, PatchParams};
use outrigger_api::{apps::DeploymentConfig, image::ImageStream};
use outrigger_e2e::{Env, corpus_dir, push_unique, registry_address, run, wait_for};

fn dc_state(dc: &DeploymentConfig) -> (i64, Option<String>) {
    let version = dc
        .status
        .as_ref()
        .and_then(|s| s.latest_version)
        .unwrap_or(0);
    let image = dc
        .spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone());
    (version, image)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_deploymentconfig_applies_unchanged_and_rolls_out() {
    run("corpus-dc-rollout", |env: Env| async move {
        let file = corpus_dir()
            .join("openshift__oc/pkg__helpers__graph__genericgraph__test__simple-deployment.yaml");
        env.apply_file(&file).await?;
        env.wait_condition(
            "apps.openshift.io/v1",
            "DeploymentConfig",
            "simple-deployment",
            "Available",
            Duration::from_secs(180),
        )
        .await?;
        let dc = env
            .api::<DeploymentConfig>()
            .get("simple-deployment")
            .await?;
        let status = dc.status.clone().unwrap_or_default();
        ensure!(
            status.latest_version == Some(1),
            "latestVersion {:?}",
            status.latest_version
        );
        ensure!(
            status.available_replicas == Some(1),
            "availableReplicas {:?}",
            status.available_replicas
        );
        // The DC is Available as soon as its pods are; the deployer pod then finishes and the RC
        // moves to Complete.
        let rcs = env.api::<k8s_openapi::api::core::v1::ReplicationController>();
        wait_for(
            "RC simple-deployment-1 Complete",
            Duration::from_secs(120),
            || {
                let rcs = rcs.clone();
                async move {
                    let rc = rcs.get("simple-deployment-1").await?;
                    let phase = rc
                        .metadata
                        .annotations
                        .unwrap_or_default()
                        .get("openshift.io/deployment.phase")
                        .cloned();
                    ensure!(phase.as_deref() == Some("Complete"), "RC phase {phase:?}");
                    Ok(true)
                }
            },
        )
        .await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_image_becomes_a_new_deploymentconfig_rollout() {
    run("image-flow", |env: Env| async move {
        let registry = registry_address()?;
        let repo = format!("{registry}/e2e/{}/app", env.namespace);
        let first = push_unique(&registry, &format!("{repo}:latest"), "one")?;
        env.apply_yaml(&format!(
            r#"
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: app}}
spec:
  tags:
  - name: latest
    from: {{kind: DockerImage, name: "{repo}:latest"}}
    importPolicy: {{insecure: true}}
---
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata: {{name: app}}
spec:
  replicas: 1
  selector: {{app: app}}
  strategy: {{type: Recreate}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      containers:
      - name: app
        image: " "
        command: ["sleep", "3600"]
  triggers:
  - type: ImageChange
    imageChangeParams:
      automatic: true
      containerNames: [app]
      from: {{kind: ImageStreamTag, name: "app:latest"}}
"#
        ))
        .await?;
        let dcs = env.api::<DeploymentConfig>();
        wait_for("version 1 with the first image", Duration::from_secs(180), || {
            let (dcs, first) = (dcs.clone(), first.clone());
            async move {
                let (version, image) = dc_state(&dcs.get("app").await?);
                ensure!(
                    version >= 1 && image.as_deref().is_some_and(|i| i.ends_with(&first)),
                    "latestVersion {version}, image {image:?}"
                );
                Ok(true)
            }
        })
        .await?;
        env.wait_condition("apps.openshift.io/v1", "DeploymentConfig", "app", "Available", Duration::from_secs(180))
            .await?;

        // A new image on the same tag, then "import now" (what `kubectl outrigger import-image` writes).
        let second = push_unique(&registry, &format!("{repo}:latest"), "two")?;
        ensure!(second != first, "crane produced the same digest twice");
        env.api::<ImageStream>()
            .patch(
                "app",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"metadata": {"annotations": {"image.openshift.io/import-requested": "second"}}})),
            )
            .await?;
        wait_for("version 2 with the second image", Duration::from_secs(180), || {
            let (dcs, second) = (dcs.clone(), second.clone());
            async move {
                let (version, image) = dc_state(&dcs.get("app").await?);
                ensure!(
                    version == 2 && image.as_deref().is_some_and(|i| i.ends_with(&second)),
                    "latestVersion {version}, image {image:?}"
                );
                Ok(true)
            }
        })
        .await?;
        let dc = dcs.get("app").await?;
        let cause = dc
            .status
            .and_then(|s| s.details)
            .and_then(|d| d.message)
            .unwrap_or_default();
        ensure!(cause == "image change", "details.message {cause:?}");
        Ok(())
    })
    .await;
}
