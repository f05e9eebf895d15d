//! The full set of CustomResourceDefinitions, in a stable order, as written to `crds/`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSON, JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kube::CustomResourceExt;

use crate::{apps, build, image, project, route, template};

/// Every CRD Outrigger installs, adjusted for OpenShift compatibility (see [`adjust`]).
pub fn all() -> Vec<CustomResourceDefinition> {
    [
        apps::DeploymentConfig::crd(),
        build::BuildConfig::crd(),
        build::Build::crd(),
        image::ImageStream::crd(),
        route::Route::crd(),
        project::Project::crd(),
        project::ProjectRequest::crd(),
        template::Template::crd(),
        template::TemplateInstance::crd(),
    ]
    .into_iter()
    .map(adjust)
    .collect()
}

/// Make `spec` optional with a default of `{}` (unless it has required fields, as a Route's does).
///
/// OpenShift accepts objects without `spec` (an ImageStream with only a name is common in
/// templates); the generated schema would require it. Defaulting it to `{}` keeps every stored
/// object readable by the typed controllers.
pub fn adjust(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        if let Some(required) = schema.required.as_mut() {
            required.retain(|r| r != "spec");
            if required.is_empty() {
                schema.required = None;
            }
        }
        if let Some(spec) = schema.properties.as_mut().and_then(|p| p.get_mut("spec"))
            && spec.required.as_ref().is_none_or(Vec::is_empty)
        {
            spec.default = Some(JSON(serde_json::json!({})));
        }
    }
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            && let Some(props) = schema.properties.as_mut()
        {
            for (name, prop) in props.iter_mut() {
                if !matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
                    accept_nulls(prop);
                }
            }
        }
    }
    let labels = crd.metadata.labels.get_or_insert_with(Default::default);
    labels.insert("app.kubernetes.io/part-of".into(), "outrigger".into());
    crd
}

/// Let `null` stand for "absent" wherever OpenShift's API server allowed it.
///
/// OpenShift decodes JSON with Go's rules, where `null` is the zero value of any field, and real
/// manifests are full of it (`creationTimestamp: null` in every exported pod template). A
/// structural schema rejects `null` unless the field is `nullable`, so every optional field without
/// a default is made nullable, recursively (embedded Kubernetes types included). Fields with a
/// default stay non-nullable, so that `null` is pruned and the default applies (as OpenShift
/// defaulted nil), and required fields and list-map keys stay non-nullable, so typed readers can
/// rely on them.
fn accept_nulls(schema: &mut JSONSchemaProps) {
    let required: Vec<String> = schema.required.clone().unwrap_or_default();
    if let Some(props) = schema.properties.as_mut() {
        for (name, prop) in props.iter_mut() {
            if prop.default.is_none() && prop.nullable.is_none() && !required.contains(name) {
                prop.nullable = Some(true);
            }
            accept_nulls(prop);
        }
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
        // List-map keys must be required (the API server refuses optional keys) and non-null.
        let keys = schema
            .x_kubernetes_list_map_keys
            .clone()
            .unwrap_or_default();
        if !keys.is_empty() {
            let required = items.required.get_or_insert_with(Vec::new);
            for key in &keys {
                if !required.contains(key) {
                    required.push(key.clone());
                }
            }
            if let Some(props) = items.properties.as_mut() {
                for key in &keys {
                    if let Some(p) = props.get_mut(key) {
                        p.nullable = None;
                    }
                }
            }
        }
        accept_nulls(items);
    }
    if let Some(additional) = schema.additional_properties.as_mut()
        && let k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrBool::Schema(s) = additional
    {
        accept_nulls(s);
    }
}

/// File name of a CRD in `crds/`: `<plural>.<group>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.{}.yaml", crd.spec.names.plural, crd.spec.group)
}

/// The YAML text of a CRD as committed, with a header saying how it was made.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_norway::Error> {
    let body = serde_norway::to_string(crd)?;
    Ok(format!(
        "# Generated from operators/api by `cargo run -p outrigger-api --bin crdgen`; do not edit.\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_crd_per_kind_with_openshift_names_and_scope() {
        let got: Vec<(String, String, String, String)> = all()
            .iter()
            .map(|c| {
                (
                    c.spec.group.clone(),
                    c.spec.names.kind.clone(),
                    c.spec.names.plural.clone(),
                    c.spec.scope.clone(),
                )
            })
            .collect();
        let want = [
            (
                "apps.openshift.io",
                "DeploymentConfig",
                "deploymentconfigs",
                "Namespaced",
            ),
            (
                "build.openshift.io",
                "BuildConfig",
                "buildconfigs",
                "Namespaced",
            ),
            ("build.openshift.io", "Build", "builds", "Namespaced"),
            (
                "image.openshift.io",
                "ImageStream",
                "imagestreams",
                "Namespaced",
            ),
            ("route.openshift.io", "Route", "routes", "Namespaced"),
            ("project.openshift.io", "Project", "projects", "Cluster"),
            (
                "project.openshift.io",
                "ProjectRequest",
                "projectrequests",
                "Cluster",
            ),
            (
                "template.openshift.io",
                "Template",
                "templates",
                "Namespaced",
            ),
            (
                "template.openshift.io",
                "TemplateInstance",
                "templateinstances",
                "Namespaced",
            ),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(g, k, p, s)| (g.to_string(), k.to_string(), p.to_string(), s.to_string()))
            .collect();
        assert_eq!(got, want);
        for crd in all() {
            assert_eq!(crd.spec.versions.len(), 1);
            assert_eq!(crd.spec.versions[0].name, "v1");
        }
    }

    #[test]
    fn optional_fields_accept_null_but_defaulted_and_required_ones_do_not() {
        let crd = all()
            .into_iter()
            .find(|c| c.spec.names.kind == "DeploymentConfig")
            .expect("dc");
        let v = serde_json::to_value(&crd).expect("json");
        let spec = &v["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        let meta = &spec["template"]["properties"]["metadata"]["properties"];
        assert_eq!(
            meta["creationTimestamp"]["nullable"],
            serde_json::json!(true)
        );
        assert_eq!(spec["minReadySeconds"]["nullable"], serde_json::json!(true));
        assert!(
            spec["triggers"].get("nullable").is_none(),
            "defaulted: null must default"
        );
        let containers =
            &spec["template"]["properties"]["spec"]["properties"]["containers"]["items"];
        assert!(
            containers["properties"]["name"].get("nullable").is_none(),
            "required"
        );
    }

    #[test]
    fn short_names() {
        let short = |kind: &str| {
            all()
                .into_iter()
                .find(|c| c.spec.names.kind == kind)
                .and_then(|c| c.spec.names.short_names)
                .unwrap_or_default()
        };
        assert_eq!(short("DeploymentConfig"), vec!["dc"]);
        assert_eq!(short("BuildConfig"), vec!["bc"]);
        assert_eq!(short("ImageStream"), vec!["is"]);
    }

    #[test]
    fn spec_is_optional_and_defaulted() {
        for crd in all() {
            let schema = crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("schema");
            assert!(
                !schema
                    .required
                    .clone()
                    .unwrap_or_default()
                    .contains(&"spec".to_owned())
            );
            if let Some(spec) = schema.properties.as_ref().and_then(|p| p.get("spec"))
                && spec.required.is_none()
            {
                assert_eq!(
                    spec.default,
                    Some(JSON(serde_json::json!({}))),
                    "{}",
                    crd.spec.names.kind
                );
            }
        }
    }
}
