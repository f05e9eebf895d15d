//! `template.openshift.io/v1`: Template and TemplateInstance.
//!
//! A Template's `objects` are kept exactly as written (any kind, any field, `${PARAM}` references
//! in any position), so the schema marks each object `x-kubernetes-preserve-unknown-fields`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LocalObjectReference, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::common;

/// Pattern a parameter name must match.
pub const PARAMETER_NAME_PATTERN: &str = "^[a-zA-Z0-9_]+$";
/// Label put on every object a TemplateInstance creates, holding the instance's UID.
pub const TEMPLATE_INSTANCE_OWNER_LABEL: &str = "template.openshift.io/template-instance-owner";
/// Finalizer a TemplateInstance carries while its objects exist.
pub const TEMPLATE_INSTANCE_FINALIZER: &str = "template.openshift.io/finalizer";
/// Annotation asking the TemplateInstance controller to wait for an object to become ready.
pub const WAIT_FOR_READY_ANNOTATION: &str = "template.alpha.openshift.io/wait-for-ready";

/// The body of a Template: a message, objects, parameters and labels, at the object's root.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "template.openshift.io",
    version = "v1",
    kind = "Template",
    plural = "templates",
    singular = "template",
    namespaced,
    no_spec,
    cel,
    printcolumn = r#"{"name":"Description","type":"string","jsonPath":".metadata.annotations.description"}"#,
    printcolumn = r#"{"name":"Objects","type":"integer","jsonPath":".objects.length()"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TemplateFields {
    /// Text shown after instantiation; parameter references are substituted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// The objects to create, kept exactly as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "common::preserve_unknown_object_list_nullable")]
    pub objects: Option<Vec<serde_json::Value>>,

    /// Parameters substituted into the objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<Parameter>>,

    /// Labels added to every object produced (parameter references allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// A template parameter.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.generate) || self.generate == '' || (self.generate == 'expression' && has(self.from) && self.from != '')")
    .message("parameters[].generate must be 'expression' and then parameters[].from must hold the expression"))]
pub struct Parameter {
    /// Name used in `${NAME}` and `${{NAME}}` references.
    #[schemars(regex(pattern = PARAMETER_NAME_PATTERN))]
    pub name: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Description of the parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Value used when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Generator for a value: only `expression`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<String>,
    /// Input of the generator, e.g. `[a-zA-Z0-9]{16}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Whether processing fails when no value results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

/// A Template embedded in a TemplateInstance (with its own type and object metadata).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedTemplate {
    /// API version of the embedded template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the embedded template (`Template`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Metadata of the embedded template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    /// Text shown after instantiation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The objects to create, kept exactly as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "common::preserve_unknown_object_list_nullable")]
    pub objects: Option<Vec<serde_json::Value>>,
    /// Parameters substituted into the objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<Parameter>>,
    /// Labels added to every object produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// A request to instantiate a template in this namespace, and its outcome.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "template.openshift.io",
    version = "v1",
    kind = "TemplateInstance",
    plural = "templateinstances",
    singular = "templateinstance",
    namespaced,
    cel,
    status = "TemplateInstanceStatus",
    printcolumn = r#"{"name":"Template","type":"string","jsonPath":".spec.template.metadata.name"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TemplateInstanceSpec {
    /// The template to instantiate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<EmbeddedTemplate>,
    /// A Secret whose keys set parameter values of the same names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<LocalObjectReference>,
    /// The user on whose behalf the objects are created (filled from the creator when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<TemplateInstanceRequester>,
}

/// Identity of a TemplateInstance's requester.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateInstanceRequester {
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// User UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Groups of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// Extra authentication attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<BTreeMap<String, Vec<String>>>,
}

/// Observed state of a TemplateInstance.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateInstanceStatus {
    /// `Ready` and `InstantiateFailure` conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<TemplateInstanceCondition>>,
    /// References to the objects created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<Vec<TemplateInstanceObject>>,
}

/// A condition of a TemplateInstance.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateInstanceCondition {
    /// `Ready` or `InstantiateFailure`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When the condition last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Machine-readable reason (`Created`, `Waiting`, `Failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An object created by a TemplateInstance.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateInstanceObject {
    /// Reference to the created object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<ObjectReference>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;
    use serde_json::json;

    #[test]
    fn template_fields_at_root_and_objects_kept_verbatim() {
        let v = json!({"apiVersion": "template.openshift.io/v1", "kind": "Template",
            "metadata": {"name": "t"}, "message": "hi ${A}",
            "objects": [{"kind": "Weird", "apiVersion": "x/v1", "spec": {"n": "${{N}}", "deep": [1, 2.5, null, {"k": true}]}}],
            "parameters": [{"name": "A", "generate": "expression", "from": "[a-z]{4}", "required": true},
                           {"name": "N", "value": "3", "displayName": "n", "description": "d"}],
            "labels": {"app": "${A}"}});
        let t: Template = serde_json::from_value(v.clone()).expect("parse");
        assert_eq!(serde_json::to_value(&t).expect("ser"), v);
        assert!(Template::validate_cel(&t).is_ok());
        let crd = serde_json::to_value(Template::crd()).expect("crd");
        let props = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"];
        assert_eq!(
            props["objects"]["items"]["x-kubernetes-preserve-unknown-fields"],
            json!(true)
        );
        assert!(props.get("spec").is_none());
    }

    #[test]
    fn generator_must_be_expression_with_input() {
        let t: Template = serde_json::from_value(
            json!({"apiVersion": "template.openshift.io/v1", "kind": "Template",
            "metadata": {"name": "t"}, "parameters": [{"name": "A", "generate": "random"}]}),
        )
        .expect("parse");
        let err = Template::validate_cel(&t).expect_err("rejected");
        assert!(
            err.iter()
                .any(|e| e.message.contains("must be 'expression'"))
        );
    }

    #[test]
    fn template_instance_round_trip() {
        let v = json!({"apiVersion": "template.openshift.io/v1", "kind": "TemplateInstance",
            "metadata": {"name": "ti"},
            "spec": {"template": {"kind": "Template", "apiVersion": "v1", "metadata": {"name": "t"},
                                  "objects": [{"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}}]},
                     "secret": {"name": "params"},
                     "requester": {"username": "u", "uid": "1", "groups": ["g"], "extra": {"scopes": ["a"]}}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Created"}],
                       "objects": [{"ref": {"kind": "Secret", "name": "s", "namespace": "n", "apiVersion": "v1"}}]}});
        let ti: TemplateInstance = serde_json::from_value(v.clone()).expect("parse");
        assert_eq!(serde_json::to_value(&ti).expect("ser"), v);
    }
}

/// A problem with one object of a template, found before processing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectProblem {
    /// Index in `objects`.
    pub index: usize,
    /// Field of the object, e.g. `metadata.name`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Whether `name` is a DNS-1123 subdomain (the rule for most object names).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Check the objects of a template for what would make instantiation fail regardless of
/// parameter values: a missing `kind`/`apiVersion`, or a literal (parameter-free) name that is not
/// a valid object name. OpenShift accepts such a TemplateInstance and fails at instantiation with
/// `InstantiateFailure`; the TemplateInstance controller reports these problems the same way.
pub fn check_objects(objects: &[serde_json::Value]) -> Vec<ObjectProblem> {
    let mut problems = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        for field in ["kind", "apiVersion"] {
            if object
                .get(field)
                .and_then(serde_json::Value::as_str)
                .is_none_or(str::is_empty)
            {
                problems.push(ObjectProblem {
                    index,
                    field: field.into(),
                    message: format!("{field} is required"),
                });
            }
        }
        let name = object
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(serde_json::Value::as_str);
        if let Some(name) = name
            && !name.contains("${")
            && !is_dns1123_subdomain(name)
        {
            problems.push(ObjectProblem {
                index,
                field: "metadata.name".into(),
                message: format!(
                    "{name:?} is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
                ),
            });
        }
    }
    problems
}

#[cfg(test)]
mod object_checks {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_literal_names_are_reported_parameterised_ones_are_not() {
        let objects = vec![
            json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "bad!name"}}),
            json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "${NAME}-x"}}),
            json!({"apiVersion": "v1", "metadata": {"name": "ok.name-1"}}),
        ];
        let problems = check_objects(&objects);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            (problems[0].index, problems[0].field.as_str()),
            (0, "metadata.name")
        );
        assert_eq!((problems[1].index, problems[1].field.as_str()), (2, "kind"));
    }

    #[test]
    fn dns1123() {
        assert!(is_dns1123_subdomain("a-b.c1"));
        assert!(!is_dns1123_subdomain("A"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain(""));
    }
}
