//! Outrigger's CRDs are installed, and the shared corpus of real OpenShift manifests passes the
//! API server's validation (`kubectl apply --server-side --dry-run=server`).
//!
//! The corpus is read with `outrigger_api::manifest` (the same reader the compatibility tests
//! use): Lists expanded, legacy `apiVersion`s mapped to their groups, nulls and empty timestamps
//! dropped. Each object of an OpenShift kind is typed and written back (`parse` + `to_value`), which
//! prunes fields OpenShift's schema does not have, as OpenShift's API server did on create;
//! server-side apply would otherwise reject them outright ("field not declared in schema").

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use outrigger_api::manifest;
use outrigger_e2e::{Env, corpus_dir, parse_documents, project_root, run, wait_for};
use serde_json::Value;

/// Kinds whose corpus objects must pass validation, with the API group each belongs to.
const KINDS: &[(&str, &str)] = &[
    ("DeploymentConfig", "apps.openshift.io"),
    ("BuildConfig", "build.openshift.io"),
    ("Build", "build.openshift.io"),
    ("ImageStream", "image.openshift.io"),
    ("Route", "route.openshift.io"),
    ("Template", "template.openshift.io"),
    ("TemplateInstance", "template.openshift.io"),
    ("Project", "project.openshift.io"),
];

fn crd_files() -> Result<Vec<PathBuf>> {
    let dir = project_root().join("charts/outrigger/crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outrigger_crds_are_installed_and_established() {
    run("crds-installed", |env: Env| async move {
        let files = crd_files()?;
        ensure!(
            !files.is_empty(),
            "charts/outrigger/crds/ is empty: run `cargo run -p outrigger-api --bin crdgen`"
        );
        let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
        for file in files {
            for doc in parse_documents(&std::fs::read_to_string(&file)?)? {
                let name = doc["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let source = file.display().to_string();
                wait_for(
                    &format!("CRD {name} Established"),
                    Duration::from_secs(30),
                    || {
                        let (crds, name, source) = (crds.clone(), name.clone(), source.clone());
                        async move {
                            let Some(crd) = crds.get_opt(&name).await? else {
                                bail!("CRD {name} (from {source}) is not installed");
                            };
                            Ok(crd
                                .status
                                .and_then(|s| s.conditions)
                                .unwrap_or_default()
                                .iter()
                                .any(|c| c.type_ == "Established" && c.status == "True"))
                        }
                    },
                )
                .await?;
            }
        }
        Ok(())
    })
    .await;
}

/// One corpus file's objects of the kinds above, normalised for a dry-run apply.
struct CorpusFile {
    path: PathBuf,
    objects: Vec<Value>,
}

/// Tags from INDEX.tsv for one file.
fn index_tags() -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(corpus_dir().join("INDEX.tsv"))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Some((
                cols.first()?.to_string(),
                cols.get(6).copied().unwrap_or_default().to_owned(),
            ))
        })
        .collect())
}

/// Every corpus object of an OpenShift kind, as Outrigger would store it. Files tagged
/// `negative:` are skipped (they must be rejected); objects inside Templates travel with their
/// Template; an object the reader rejects is a failure unless its file is tagged `quirk:`.
fn corpus_objects() -> Result<(Vec<CorpusFile>, Vec<String>, Vec<String>)> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut reader_failures = Vec::new();
    for (rel, features) in index_tags()? {
        if features.split(',').any(|f| f.starts_with("negative:")) {
            skipped.push(format!("{rel}: tagged negative"));
            continue;
        }
        let quirky = features.split(',').any(|f| f.starts_with("quirk:"));
        let path = corpus_dir().join(&rel);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let located = match manifest::objects(&rel, &text) {
            Ok(l) => l,
            Err(e) if quirky => {
                skipped.push(format!("{rel} (quirk): {e}"));
                continue;
            }
            Err(e) => {
                reader_failures.push(e.to_string());
                continue;
            }
        };
        let mut objects = Vec::new();
        for obj in located.iter().filter(|o| !o.in_template()) {
            let typed = match manifest::parse(obj) {
                Ok(Some(t)) => t,
                Ok(None) => continue, // not an OpenShift kind (Service, Secret, ...)
                // OpenShift kinds a custom resource cannot serve (ImageStreamTag, Image,
                // authorization.openshift.io, ...): rejected by design, with a message
                Err(e @ manifest::ManifestError::Kind { .. }) => {
                    skipped.push(format!("not storable by design: {e}"));
                    continue;
                }
                Err(e) if quirky => {
                    skipped.push(format!("{rel} (quirk): {e}"));
                    continue;
                }
                Err(e) => {
                    reader_failures.push(e.to_string());
                    continue;
                }
            };
            if !KINDS.iter().any(|(k, _)| *k == typed.kind()) {
                skipped.push(format!("{rel}: {} (kind not in this test)", obj.describe()));
                continue;
            }
            let mut value = typed.to_value()?;
            if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                for k in [
                    "namespace",
                    "resourceVersion",
                    "uid",
                    "selfLink",
                    "generation",
                    "managedFields",
                ] {
                    meta.remove(k);
                }
            }
            if value["metadata"]["name"].as_str().is_none_or(str::is_empty) {
                skipped.push(format!("{rel}: {} without metadata.name", obj.describe()));
                continue;
            }
            objects.push(value);
        }
        if !objects.is_empty() {
            files.push(CorpusFile { path, objects });
        }
    }
    Ok((files, skipped, reader_failures))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_objects_pass_server_side_dry_run() {
    run("corpus-dry-run", |env: Env| async move {
        ensure!(!crd_files()?.is_empty(), "charts/outrigger/crds/ is empty: no CRDs to validate against");
        let (files, skipped, reader_failures) = corpus_objects()?;
        for s in &skipped {
            eprintln!("skipped: {s}");
        }
        for f in &reader_failures {
            eprintln!("reader rejected: {f}");
        }
        let tmp = std::env::temp_dir().join(format!("outrigger-e2e-{}", env.namespace));
        std::fs::create_dir_all(&tmp)?;
        let mut failures = Vec::new();
        let mut kinds = BTreeSet::new();
        let mut count = 0;
        for file in &files {
            let stream = file
                .objects
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()?
                .join("\n---\n");
            let tmp_file = tmp.join(file_name(&file.path));
            std::fs::write(&tmp_file, stream)?;
            let path = tmp_file.to_string_lossy().into_owned();
            let out = tokio::task::spawn_blocking({
                let env = env.clone();
                move || {
                    env.kubectl_output(&[
                        "apply", "--server-side", "--dry-run=server", "--field-manager=outrigger-e2e", "-f", &path,
                    ])
                }
            })
            .await??;
            count += file.objects.len();
            for o in &file.objects {
                kinds.insert(o["kind"].as_str().unwrap_or_default().to_owned());
            }
            if !out.status.success() {
                failures.push(format!(
                    "{}:\n{}",
                    file.path.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
        eprintln!(
            "dry-run applied {count} objects from {} files (kinds: {kinds:?}); {} skipped; {} files failed",
            files.len(),
            skipped.len(),
            failures.len()
        );
        ensure!(failures.is_empty(), "corpus objects rejected by the API server:\n{}", failures.join("\n\n"));
        ensure!(
            reader_failures.is_empty(),
            "corpus objects rejected by outrigger_api::manifest:\n{}",
            reader_failures.join("\n")
        );
        ensure!(count > 0, "no corpus objects found under {}", corpus_dir().display());
        Ok(())
    })
    .await;
}

fn file_name(p: &Path) -> String {
    let parent = p
        .parent()
        .and_then(|d| d.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = p
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{parent}__{name}.yaml")
}
