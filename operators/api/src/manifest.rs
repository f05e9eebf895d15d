//! Reading OpenShift manifests as users write them: JSON or YAML, one or many documents, Lists
//! and Templates, legacy group-less `apiVersion`s; and turning the objects of Outrigger's kinds
//! into typed values with errors that name the file, the object and the field.
//!
//! Lenient readings (each mirrors what OpenShift's API server or `oc` did with the same input):
//! - a file named `.json` whose content is YAML is read as YAML (`oc` uses a YAML-or-JSON decoder);
//! - legacy `apiVersion: v1`/`v1beta3` OpenShift kinds are rewritten to their groups;
//! - a `null` field is the same as an absent one (the API server drops nulls);
//! - `metadata.creationTimestamp: ""` is the same as no timestamp (Go reads it as the zero time);
//! - a kind with a `spec` that omits it gets `spec: {}` (the CRD schema defaults it);
//! - an object without `metadata` gets an empty one (`oc process -f` reads such Templates);
//! - fields unknown to OpenShift's schema are dropped and reported ([`RoundTrip::dropped`]), as the
//!   API server prunes them and `kubectl` warns about them;
//! - inside a Template, a field whose whole value is `${{PARAM}}` takes the parameter's value
//!   decoded as JSON before typing, as template processing does.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{apps, build, image, kinds, project, route, template};

/// An error reading a manifest, naming where it happened.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ManifestError {
    /// The file is neither JSON nor YAML.
    #[error("{file}: not valid YAML or JSON: {message}")]
    Syntax {
        /// File name.
        file: String,
        /// Parser message.
        message: String,
    },
    /// A field of an object has the wrong shape.
    #[error("{file}: {object}: field {field}: {message}")]
    Field {
        /// File name.
        file: String,
        /// The object, e.g. `DeploymentConfig "web" (items[2])`.
        object: String,
        /// Dotted field path inside the object.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The object is of an OpenShift kind that cannot be stored as a custom resource.
    #[error("{file}: {object}: {message}")]
    Kind {
        /// File name.
        file: String,
        /// The object.
        object: String,
        /// What is wrong and what to do instead.
        message: String,
    },
}

/// One object found in a manifest file, with where it was found.
#[derive(Clone, Debug, PartialEq)]
pub struct Located {
    /// File name as given by the caller.
    pub file: String,
    /// Position in the file, e.g. `document 1, items[3].objects[0]`.
    pub location: String,
    /// The object as written.
    pub value: Value,
    /// Parameters of the Template this object sits in, if any.
    pub template_parameters: Option<Vec<Value>>,
}

impl Located {
    /// `Kind "name"` of the object (or `Kind generateName…` / `Kind (unnamed)`).
    pub fn name(&self) -> String {
        let kind = self
            .value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("object");
        let meta = self.value.get("metadata");
        match (
            meta.and_then(|m| m.get("name")).and_then(Value::as_str),
            meta.and_then(|m| m.get("generateName"))
                .and_then(Value::as_str),
        ) {
            (Some(name), _) => format!("{kind} \"{name}\""),
            (None, Some(prefix)) => format!("{kind} \"{prefix}…\""),
            _ => format!("{kind} (unnamed)"),
        }
    }

    /// `Kind "name" (location)`, for messages.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.name(), self.location)
    }

    /// Whether the object sits inside a Template's `objects`.
    pub fn in_template(&self) -> bool {
        self.template_parameters.is_some()
    }
}

/// Split a file into its documents: JSON (one value) or YAML (one or more documents).
pub fn read_documents(file: &str, text: &str) -> Result<Vec<Value>, ManifestError> {
    let trimmed = text.trim_start();
    // A JSON file is one value; if it is not valid JSON, fall through to YAML (a superset of most
    // almost-JSON), as `oc` reads YAML-or-JSON.
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(v) = serde_json::from_str::<Value>(text)
    {
        return Ok(vec![v]);
    }
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let v =
            <Value as serde::Deserialize>::deserialize(doc).map_err(|e| ManifestError::Syntax {
                file: file.to_owned(),
                message: e.to_string(),
            })?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

/// Every object of a file, with Lists expanded and Template objects listed after their Template.
pub fn objects(file: &str, text: &str) -> Result<Vec<Located>, ManifestError> {
    let docs = read_documents(file, text)?;
    let mut out = Vec::new();
    let many = docs.len() > 1;
    for (i, doc) in docs.into_iter().enumerate() {
        let location = if many {
            format!("document {}", i + 1)
        } else {
            String::new()
        };
        expand(file, &location, doc, None, &mut out);
    }
    Ok(out)
}

fn join(location: &str, part: &str) -> String {
    if location.is_empty() {
        part.to_owned()
    } else if location.starts_with("document") && !location.contains(',') {
        format!("{location}, {part}")
    } else {
        format!("{location}.{part}")
    }
}

fn expand(
    file: &str,
    location: &str,
    value: Value,
    params: Option<Vec<Value>>,
    out: &mut Vec<Located>,
) {
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind.ends_with("List")
        && let Some(items) = value.get("items").and_then(Value::as_array)
    {
        for (i, item) in items.iter().enumerate() {
            expand(
                file,
                &join(location, &format!("items[{i}]")),
                item.clone(),
                params.clone(),
                out,
            );
        }
        return;
    }
    if kind == "Template" {
        let own = value
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(objects) = value.get("objects").and_then(Value::as_array) {
            let objects = objects.clone();
            out.push(Located {
                file: file.to_owned(),
                location: if location.is_empty() {
                    "document".into()
                } else {
                    location.to_owned()
                },
                value,
                template_parameters: params,
            });
            for (i, object) in objects.into_iter().enumerate() {
                expand(
                    file,
                    &join(location, &format!("objects[{i}]")),
                    object,
                    Some(own.clone()),
                    out,
                );
            }
            return;
        }
    }
    out.push(Located {
        file: file.to_owned(),
        location: if location.is_empty() {
            "document".into()
        } else {
            location.to_owned()
        },
        value,
        template_parameters: params,
    });
}

/// A typed object of one of Outrigger's kinds.
#[derive(Clone, Debug)]
pub enum TypedObject {
    /// apps.openshift.io DeploymentConfig.
    DeploymentConfig(Box<apps::DeploymentConfig>),
    /// build.openshift.io BuildConfig.
    BuildConfig(Box<build::BuildConfig>),
    /// build.openshift.io Build.
    Build(Box<build::Build>),
    /// image.openshift.io ImageStream.
    ImageStream(Box<image::ImageStream>),
    /// route.openshift.io Route.
    Route(Box<route::Route>),
    /// project.openshift.io Project.
    Project(Box<project::Project>),
    /// project.openshift.io ProjectRequest.
    ProjectRequest(Box<project::ProjectRequest>),
    /// template.openshift.io Template.
    Template(Box<template::Template>),
    /// template.openshift.io TemplateInstance.
    TemplateInstance(Box<template::TemplateInstance>),
}

impl TypedObject {
    /// Serialize back to JSON.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        match self {
            TypedObject::DeploymentConfig(o) => serde_json::to_value(o),
            TypedObject::BuildConfig(o) => serde_json::to_value(o),
            TypedObject::Build(o) => serde_json::to_value(o),
            TypedObject::ImageStream(o) => serde_json::to_value(o),
            TypedObject::Route(o) => serde_json::to_value(o),
            TypedObject::Project(o) => serde_json::to_value(o),
            TypedObject::ProjectRequest(o) => serde_json::to_value(o),
            TypedObject::Template(o) => serde_json::to_value(o),
            TypedObject::TemplateInstance(o) => serde_json::to_value(o),
        }
    }

    /// Evaluate the CRD's CEL rules (`x-kubernetes-validations`) on the object, as the API server
    /// would on create. Returns the messages of the rules that fail, each with its field path.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let result = match self {
            TypedObject::DeploymentConfig(o) => apps::DeploymentConfig::validate_cel(o),
            TypedObject::BuildConfig(o) => build::BuildConfig::validate_cel(o),
            TypedObject::Build(o) => build::Build::validate_cel(o),
            TypedObject::ImageStream(o) => image::ImageStream::validate_cel(o),
            TypedObject::Route(o) => route::Route::validate_cel(o),
            TypedObject::Project(o) => project::Project::validate_cel(o),
            TypedObject::ProjectRequest(o) => project::ProjectRequest::validate_cel(o),
            TypedObject::Template(o) => template::Template::validate_cel(o),
            TypedObject::TemplateInstance(o) => template::TemplateInstance::validate_cel(o),
        };
        result.map_err(|errors| {
            errors
                .iter()
                .map(|e| {
                    if e.field_path.is_empty() {
                        e.message.clone()
                    } else {
                        format!("{}: {}", e.field_path, e.message)
                    }
                })
                .collect()
        })
    }

    /// The kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            TypedObject::DeploymentConfig(_) => "DeploymentConfig",
            TypedObject::BuildConfig(_) => "BuildConfig",
            TypedObject::Build(_) => "Build",
            TypedObject::ImageStream(_) => "ImageStream",
            TypedObject::Route(_) => "Route",
            TypedObject::Project(_) => "Project",
            TypedObject::ProjectRequest(_) => "ProjectRequest",
            TypedObject::Template(_) => "Template",
            TypedObject::TemplateInstance(_) => "TemplateInstance",
        }
    }
}

/// Kinds whose fields live under `spec` (and therefore get `spec: {}` when it is omitted).
const KINDS_WITH_SPEC: [&str; 7] = [
    "DeploymentConfig",
    "BuildConfig",
    "Build",
    "ImageStream",
    "Route",
    "Project",
    "TemplateInstance",
];

/// The object as Outrigger's API server would store it, before typing: legacy apiVersion
/// rewritten, nulls removed, empty timestamps removed, `spec: {}` added, `${{PARAM}}` values
/// substituted inside templates. This is the reference a round trip is compared against.
pub fn normalize(obj: &Located) -> Value {
    let mut value = obj.value.clone();
    kinds::groupify(&mut value);
    drop_nulls(&mut value);
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut)
        && meta.get("creationTimestamp").and_then(Value::as_str) == Some("")
    {
        meta.remove("creationTimestamp");
    }
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(map) = value.as_object_mut() {
        map.entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if KINDS_WITH_SPEC.contains(&kind.as_str())
        && let Some(map) = value.as_object_mut()
    {
        map.entry("spec")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(params) = &obj.template_parameters {
        substitute_whole_references(&mut value, params, kind == "Template");
    }
    value
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Replace strings that are exactly `${{NAME}}` with the parameter's value decoded as JSON.
fn substitute_whole_references(value: &mut Value, params: &[Value], skip_objects: bool) {
    match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${{").and_then(|r| r.strip_suffix("}}"))
                && let Some(v) = params
                    .iter()
                    .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
                    .and_then(|p| p.get("value"))
                    .and_then(Value::as_str)
                && let Ok(decoded) = serde_json::from_str::<Value>(v)
            {
                *value = decoded;
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if !(skip_objects && k == "objects") {
                    substitute_whole_references(v, params, false);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| substitute_whole_references(v, params, false)),
        _ => {}
    }
}

fn typed<T: DeserializeOwned>(obj: &Located, value: Value) -> Result<T, ManifestError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        ManifestError::Field {
            file: obj.file.clone(),
            object: obj.describe(),
            field: if field == "." {
                "(object)".into()
            } else {
                field
            },
            message: e.into_inner().to_string(),
        }
    })
}

/// Type an object of one of Outrigger's kinds. `Ok(None)` for kinds that are not OpenShift's
/// (Services, Deployments, other CRDs); an error for OpenShift kinds that cannot be stored, and
/// for objects whose fields do not fit the schema.
pub fn parse(obj: &Located) -> Result<Option<TypedObject>, ManifestError> {
    let api_version = obj
        .value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = obj
        .value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let served = match kinds::classify(api_version, kind) {
        kinds::Classification::Foreign => return Ok(None),
        kinds::Classification::Rejected { message, .. } => {
            return Err(ManifestError::Kind {
                file: obj.file.clone(),
                object: obj.describe(),
                message,
            });
        }
        kinds::Classification::Served(k) => k,
    };
    let value = normalize(obj);
    Ok(Some(match served.kind {
        "DeploymentConfig" => TypedObject::DeploymentConfig(Box::new(typed(obj, value)?)),
        "BuildConfig" => TypedObject::BuildConfig(Box::new(typed(obj, value)?)),
        "Build" => TypedObject::Build(Box::new(typed(obj, value)?)),
        "ImageStream" => TypedObject::ImageStream(Box::new(typed(obj, value)?)),
        "Route" => TypedObject::Route(Box::new(typed(obj, value)?)),
        "Project" => TypedObject::Project(Box::new(typed(obj, value)?)),
        "ProjectRequest" => TypedObject::ProjectRequest(Box::new(typed(obj, value)?)),
        "Template" => TypedObject::Template(Box::new(typed(obj, value)?)),
        "TemplateInstance" => TypedObject::TemplateInstance(Box::new(typed(obj, value)?)),
        other => {
            return Err(ManifestError::Kind {
                file: obj.file.clone(),
                object: obj.describe(),
                message: format!("{other} is served but has no typed reader"),
            });
        }
    }))
}

/// The result of reading an object and writing it back.
#[derive(Clone, Debug)]
pub struct RoundTrip {
    /// The typed object.
    pub object: TypedObject,
    /// Field paths present in the (normalized) input that the typed object does not keep: fields
    /// OpenShift's schema does not have, which an API server prunes.
    pub dropped: Vec<String>,
    /// Field paths whose value changed, or that appeared from nowhere (should be empty).
    pub changed: Vec<String>,
}

/// Read an object into its type and back, and report every difference from the input.
pub fn round_trip(obj: &Located) -> Result<Option<RoundTrip>, ManifestError> {
    let Some(object) = parse(obj)? else {
        return Ok(None);
    };
    let before = normalize(obj);
    let after = object.to_value().map_err(|e| ManifestError::Kind {
        file: obj.file.clone(),
        object: obj.describe(),
        message: format!("cannot serialize: {e}"),
    })?;
    let mut dropped = Vec::new();
    let mut changed = Vec::new();
    diff(&before, &after, "", &mut dropped, &mut changed);
    Ok(Some(RoundTrip {
        object,
        dropped,
        changed,
    }))
}

fn diff(
    before: &Value,
    after: &Value,
    path: &str,
    dropped: &mut Vec<String>,
    changed: &mut Vec<String>,
) {
    let child = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => diff(va, vb, &child(k), dropped, changed),
                    None => dropped.push(child(k)),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                changed.push(format!("{} (added)", child(k)));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                diff(va, vb, &format!("{path}[{i}]"), dropped, changed);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        _ => changed.push(path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_list_with_template_is_expanded() {
        let text = r#"{"kind":"List","apiVersion":"v1","items":[
            {"kind":"Service","apiVersion":"v1","metadata":{"name":"s"}},
            {"kind":"Template","apiVersion":"v1","metadata":{"name":"t"},
             "parameters":[{"name":"N","value":"3"}],
             "objects":[{"kind":"Route","apiVersion":"v1","metadata":{"name":"r"},"spec":{"to":{"name":"s"}}}]}]}"#;
        let objs = objects("f.json", text).expect("read");
        let names: Vec<_> = objs.iter().map(Located::describe).collect();
        assert_eq!(
            names,
            vec![
                "Service \"s\" (items[0])",
                "Template \"t\" (items[1])",
                "Route \"r\" (items[1].objects[0])"
            ]
        );
        assert!(objs[2].in_template());
        let rt = round_trip(&objs[2]).expect("ok").expect("typed");
        assert!(rt.dropped.is_empty() && rt.changed.is_empty(), "{rt:?}");
        assert!(round_trip(&objs[0]).expect("ok").is_none());
    }

    #[test]
    fn yaml_in_a_json_file_and_multiple_documents() {
        let text = "kind: Route\napiVersion: route.openshift.io/v1\nmetadata: {name: a}\nspec: {to: {name: s}}\n---\n---\nkind: Project\napiVersion: v1\nmetadata: {name: p, creationTimestamp: null}\n";
        let objs = objects("x.json", text).expect("read");
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1].location, "document 2");
        let rt = round_trip(&objs[1]).expect("ok").expect("typed");
        assert_eq!(rt.object.kind(), "Project");
        assert!(rt.changed.is_empty(), "{rt:?}");
    }

    #[test]
    fn unknown_fields_are_reported_as_dropped() {
        let text = "kind: Route\napiVersion: v1\nmetadata: {name: a}\nspec: {to: {name: s}, ports: [{targetPort: 8080}]}\n";
        let objs = objects("r.yaml", text).expect("read");
        let rt = round_trip(&objs[0]).expect("ok").expect("typed");
        assert_eq!(rt.dropped, vec!["spec.ports".to_owned()]);
    }

    #[test]
    fn wrong_shapes_name_file_object_and_field() {
        let text = "kind: Route\napiVersion: v1\nmetadata: {name: a}\nspec: {to: {name: s, weight: heavy}}\n";
        let objs = objects("r.yaml", text).expect("read");
        let err = parse(&objs[0]).expect_err("bad weight");
        let msg = err.to_string();
        assert!(
            msg.starts_with("r.yaml: Route \"a\" (document): field spec.to.weight:"),
            "{msg}"
        );
    }

    #[test]
    fn virtual_kinds_are_rejected_with_advice() {
        let text =
            "kind: ImageStreamTag\napiVersion: image.openshift.io/v1\nmetadata: {name: 'is:tag'}\n";
        let objs = objects("t.yaml", text).expect("read");
        let err = parse(&objs[0]).expect_err("virtual");
        assert!(err.to_string().contains("spec.tags"), "{err}");
    }

    #[test]
    fn whole_parameter_references_take_json_values_inside_templates() {
        let text = r#"{"kind":"Template","apiVersion":"v1","metadata":{"name":"t"},
            "parameters":[{"name":"W","value":"30"}],
            "objects":[{"kind":"Route","apiVersion":"v1","metadata":{"name":"r"},"spec":{"to":{"name":"s","weight":"${{W}}"}}}]}"#;
        let objs = objects("t.json", text).expect("read");
        let rt = round_trip(&objs[1]).expect("ok").expect("typed");
        match rt.object {
            TypedObject::Route(r) => assert_eq!(r.spec.to.weight, Some(30)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let err = objects("bad.yaml", "a: [").expect_err("broken");
        assert!(
            err.to_string()
                .starts_with("bad.yaml: not valid YAML or JSON"),
            "{err}"
        );
    }
}
