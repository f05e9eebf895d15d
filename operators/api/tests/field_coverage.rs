//! Each CRD schema must carry at least 98% of OpenShift's field paths for its kind.
//!
//! The reference lists in `tests/reference/<plural>.paths` were derived mechanically from
//! OpenShift's API definitions (openshift/api `generated.proto` of each group; the header of each
//! file names its source). Kubernetes types (PodTemplateSpec, ObjectReference, ...) are leaves
//! there; our schema embeds them whole from k8s-openapi.

use std::{collections::BTreeSet, fs, path::PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use outrigger_api::crds;

fn schema_paths(schema: &JSONSchemaProps, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(props) = &schema.properties {
        for (name, child) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            out.insert(path.clone());
            schema_paths(child, &path, out);
        }
    }
    if let Some(items) = &schema.items {
        match items {
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(s) => {
                schema_paths(s, prefix, out)
            }
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schemas(v) => {
                v.iter().for_each(|s| schema_paths(s, prefix, out))
            }
        }
    }
}

#[test]
fn every_crd_carries_at_least_98_percent_of_openshift_field_paths() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let all = crds::all();
    for crd in &all {
        let plural = &crd.spec.names.plural;
        let file = dir.join(format!("{plural}.paths"));
        let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let reference: BTreeSet<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.replace("[]", ""))
            .collect();
        assert!(!reference.is_empty(), "{plural}: empty reference");
        let schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema");
        let mut ours = BTreeSet::new();
        schema_paths(schema, "", &mut ours);
        let missing: Vec<&String> = reference.iter().filter(|p| !ours.contains(*p)).collect();
        let covered = reference.len() - missing.len();
        let ratio = covered as f64 / reference.len() as f64;
        report.push(format!(
            "{plural}: {covered}/{} = {:.1}%",
            reference.len(),
            ratio * 100.0
        ));
        if ratio < 0.98 {
            failures.push(format!(
                "{plural}: {:.1}% of OpenShift's paths; missing {missing:?}",
                ratio * 100.0
            ));
        }
    }
    println!("{}", report.join("\n"));
    assert_eq!(report.len(), 9, "one reference per CRD");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
