//! Compatibility over the shared corpus of real OpenShift manifests (`../shared/corpus`).
//!
//! Every object of Outrigger's kinds — top level, in Lists and in Templates, JSON and YAML,
//! legacy group-less forms rewritten — must read into the typed structs and serialise back with
//! no field lost (compared as JSON values after the documented normalisation in
//! `outrigger_api::manifest`), and pass the CRDs' CEL rules. Files tagged `quirk:` or `negative:`
//! in INDEX.tsv must get the lenient reading OpenShift gives them, or an error naming the file,
//! the object and the field.

use std::{collections::BTreeMap, fs, path::PathBuf};

use outrigger_api::manifest::{self, Located, ManifestError, TypedObject};

/// Fields that real files in the corpus carry but that OpenShift's own schema does not have
/// either (leftovers of pre-v1 APIs, typos, misplaced keys). OpenShift's API server drops them
/// (and `kubectl` warns, or fails with `--validate=strict`); so does Outrigger. Each entry is
/// (file suffix, object path, why). Files tagged `quirk:` are checked by their own tests below.
const NOT_OPENSHIFT_FIELDS: &[(&str, &str, &str)] = &[
    (
        "eap__eap71-image-stream.json",
        "labels",
        "top-level labels of the v1beta1 API; v1 keeps labels in metadata",
    ),
    (
        "jws31-tomcat8-https-s2i.json",
        "id",
        "the v1beta1 Route id; v1 uses metadata.name",
    ),
    (
        "eap74-https-s2i.json",
        "id",
        "the v1beta1 Route id; v1 uses metadata.name",
    ),
    (
        "spec.template.spec.containers[0].capabilities",
        "spec.template.spec.containers[0].capabilities",
        "pre-v1 Kubernetes container capabilities; v1 has securityContext.capabilities",
    ),
    (
        "openjdk-to-semeru-transition.json",
        "spec.strategy.dockerStrategy.imageOptimizationPOlicy",
        "misspelt imageOptimizationPolicy",
    ),
    (
        "openjdk-to-semeru-transition.json",
        "spec.triggers[1].imageChange.automatic",
        "automatic belongs to DeploymentConfig image triggers, not to BuildConfig ones",
    ),
    (
        "openjdk-to-semeru-transition.json",
        "spec.triggers[2].imageChange.automatic",
        "automatic belongs to DeploymentConfig image triggers, not to BuildConfig ones",
    ),
    (
        "tools__resources.yaml",
        "template",
        "a Template has no top-level template field",
    ),
    (
        "wildfly-s2i-chained-build-template.yml",
        "metadata.message",
        "message belongs at the Template's top level, not in metadata",
    ),
];

/// Objects in Templates that cannot be typed even after parameter processing, because the
/// template puts a `${PARAM}` string where OpenShift requires a number (it needed `${{PARAM}}`);
/// OpenShift rejects the processed object for the same reason. (file suffix, field, why)
const NOT_TYPABLE_IN_OPENSHIFT: &[(&str, &str, &str)] = &[(
    "eventrouter-template.yaml",
    "spec.replicas",
    "`replicas: ${REPLICAS}` substitutes a string into an integer field",
)];

fn allowed_drop(file: &str, path: &str) -> bool {
    NOT_OPENSHIFT_FIELDS
        .iter()
        .any(|(f, p, _)| (file.ends_with(f) || *f == path) && *p == path)
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("OUTRIGGER_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"))
}

struct Entry {
    file: String,
    tags: Vec<String>,
}

fn index() -> Vec<Entry> {
    let path = corpus_dir().join("INDEX.tsv");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the shared corpus must be present at {}: {e}",
            path.display()
        )
    });
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Entry {
                file: cols[0].to_owned(),
                tags: cols
                    .get(6)
                    .map(|t| t.split(',').map(str::to_owned).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

fn read(entry: &Entry) -> Vec<Located> {
    let text = fs::read_to_string(corpus_dir().join(&entry.file)).expect("corpus file readable");
    manifest::objects(&entry.file, &text).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether any string in the object still holds a `${PARAM}` reference (template objects before
/// processing): such objects are typed and round-tripped, but CEL rules see the raw reference.
fn has_parameter_reference(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains("${"),
        serde_json::Value::Array(a) => a.iter().any(has_parameter_reference),
        serde_json::Value::Object(m) => m.values().any(has_parameter_reference),
        _ => false,
    }
}

#[test]
fn every_corpus_object_of_our_kinds_round_trips() {
    let entries = index();
    assert!(
        entries.len() >= 80,
        "expected the 87-file corpus, found {}",
        entries.len()
    );
    let mut per_kind: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut rejected_virtual = 0;
    let mut cel_checked = 0;
    for entry in &entries {
        let lenient = entry
            .tags
            .iter()
            .any(|t| t.starts_with("quirk:") || t.starts_with("negative:"));
        for obj in read(entry) {
            match manifest::round_trip(&obj) {
                Ok(None) => {}
                Ok(Some(rt)) => {
                    *per_kind.entry(rt.object.kind()).or_default() += 1;
                    if !rt.changed.is_empty() {
                        failures.push(format!(
                            "{}: {}: changed {:?}",
                            obj.file,
                            obj.describe(),
                            rt.changed
                        ));
                    }
                    let lost: Vec<&String> = rt
                        .dropped
                        .iter()
                        .filter(|p| !allowed_drop(&obj.file, p))
                        .collect();
                    if !lost.is_empty() && !lenient {
                        failures.push(format!("{}: {}: lost {lost:?}", obj.file, obj.describe()));
                    }
                    let negative = entry.tags.iter().any(|t| t.starts_with("negative:"));
                    if !negative && !has_parameter_reference(&obj.value) {
                        cel_checked += 1;
                        if let Err(messages) = rt.object.validate() {
                            failures.push(format!(
                                "{}: {}: CEL rejects: {messages:?}",
                                obj.file,
                                obj.describe()
                            ));
                        }
                    }
                }
                Err(ManifestError::Kind { message, .. })
                    if message.contains("cannot be applied") =>
                {
                    rejected_virtual += 1;
                }
                Err(ManifestError::Field {
                    ref file,
                    ref field,
                    ..
                }) if NOT_TYPABLE_IN_OPENSHIFT
                    .iter()
                    .any(|(f, p, _)| file.ends_with(f) && field == p) => {}
                Err(e) => failures.push(e.to_string()),
            }
        }
    }
    println!(
        "typed objects per kind: {per_kind:?}; OpenShift kinds recognised and rejected: {rejected_virtual}; CEL-checked: {cel_checked}"
    );
    assert!(
        failures.is_empty(),
        "{} corpus problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for kind in [
        "DeploymentConfig",
        "BuildConfig",
        "Build",
        "ImageStream",
        "Route",
        "Template",
        "TemplateInstance",
        "Project",
    ] {
        assert!(
            per_kind.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} found in the corpus: {per_kind:?}"
        );
    }
}

fn entry_with_tag(tag: &str) -> Entry {
    index()
        .into_iter()
        .find(|e| e.tags.iter().any(|t| t == tag))
        .unwrap_or_else(|| panic!("no corpus file tagged {tag}"))
}

#[test]
fn quirk_unknown_field_is_dropped_and_named() {
    let entry = entry_with_tag("quirk:unknown-field(spec.ports-instead-of-port)");
    let dropped: Vec<String> = read(&entry)
        .iter()
        .filter_map(|o| {
            manifest::round_trip(o)
                .ok()
                .flatten()
                .map(|rt| (o.describe(), rt.dropped))
        })
        .filter(|(_, d)| !d.is_empty())
        .map(|(o, d)| format!("{o}: {}", d.join(",")))
        .collect();
    assert!(!dropped.is_empty());
    assert!(
        dropped.iter().all(|d| d.ends_with(": spec.ports")),
        "{dropped:?}"
    );
}

#[test]
fn quirk_misplaced_namespace_and_null_annotations() {
    let entry = entry_with_tag("quirk:misplaced-namespace-field");
    let mut routes = 0;
    for obj in read(&entry) {
        if let Some(rt) = manifest::round_trip(&obj).expect("readable")
            && let TypedObject::Route(_) = rt.object
        {
            routes += 1;
            // `namespace` sits beside `metadata` instead of inside it: pruned, as the API server does.
            assert_eq!(
                rt.dropped,
                vec!["namespace".to_owned()],
                "{}",
                obj.describe()
            );
            assert!(rt.changed.is_empty());
        }
    }
    assert!(routes > 0);
}

#[test]
fn quirks_read_leniently() {
    for tag in [
        "quirk:empty-creationTimestamp",
        "quirk:strategy-type-Jenkins-alias",
        "quirk:not-valid-json",
        "quirk:yaml-content-in-.json-file",
        "quirk:null-annotations",
    ] {
        let entry = entry_with_tag(tag);
        let mut typed = 0;
        for obj in read(&entry) {
            match manifest::round_trip(&obj) {
                Ok(Some(rt)) => {
                    typed += 1;
                    assert!(
                        rt.changed.is_empty(),
                        "{tag}: {}: {:?}",
                        obj.describe(),
                        rt.changed
                    );
                }
                Ok(None) => {}
                Err(e) => panic!("{tag}: {e}"),
            }
        }
        assert!(typed > 0, "{tag}: no object of our kinds in {}", entry.file);
    }
}

#[test]
fn negative_passthrough_with_path_is_rejected_naming_the_field() {
    let entry = entry_with_tag("negative:passthrough-with-path");
    let mut rejected = Vec::new();
    for obj in read(&entry) {
        if let Some(rt) = manifest::round_trip(&obj).expect("readable")
            && let Err(messages) = rt.object.validate()
        {
            rejected.push(format!(
                "{}: {}: {}",
                entry.file,
                obj.describe(),
                messages.join("; ")
            ));
        }
    }
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(rejected[0].contains("Route"), "{rejected:?}");
    assert!(
        rejected[0].contains("spec.path is not allowed when spec.tls.termination is passthrough"),
        "{rejected:?}"
    );
}

#[test]
fn negative_invalid_object_name_in_template_instance_is_reported() {
    let entry = entry_with_tag("negative:invalid-object-name");
    let mut problems = Vec::new();
    for obj in read(&entry) {
        if let Some(TypedObject::TemplateInstance(ti)) =
            manifest::parse(&obj).expect("readable as OpenShift does")
        {
            let objects = ti.spec.template.and_then(|t| t.objects).unwrap_or_default();
            for p in outrigger_api::template::check_objects(&objects) {
                problems.push(format!(
                    "{}: {}: spec.template.objects[{}].{}: {}",
                    entry.file,
                    obj.describe(),
                    p.index,
                    p.field,
                    p.message
                ));
            }
        }
    }
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("TemplateInstance \"invalidtemplateinstance\""),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("spec.template.objects[0].metadata.name"),
        "{problems:?}"
    );
}

#[test]
fn image_stream_tags_are_recognised_rejected_with_advice_and_rewritable() {
    let mut rewritten = 0;
    for entry in index()
        .iter()
        .filter(|e| e.tags.iter().any(|t| t == "istag-tag"))
    {
        for obj in read(entry) {
            if obj.value.get("kind").and_then(|k| k.as_str()) != Some("ImageStreamTag") {
                continue;
            }
            let err = manifest::parse(&obj).expect_err("virtual kind").to_string();
            assert!(
                err.contains("ImageStreamTag") && err.contains("spec.tags"),
                "{err}"
            );
            let stream = outrigger_api::kinds::image_stream_tag_to_image_stream(&obj.value)
                .unwrap_or_else(|e| panic!("{}: {}: {e}", entry.file, obj.describe()));
            outrigger_api::image::ImageStream::validate_cel(&stream)
                .unwrap_or_else(|e| panic!("{}: {}: {e}", entry.file, obj.describe()));
            rewritten += 1;
        }
    }
    assert!(rewritten >= 5, "rewrote {rewritten} ImageStreamTags");
}
