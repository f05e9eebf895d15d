//! `project.openshift.io/v1`: Project and ProjectRequest (both cluster-scoped).
//!
//! In OpenShift a Project is a view of a Namespace. Here it is a cluster-scoped custom resource
//! that the project controller mirrors to and from the Namespace of the same name; a
//! ProjectRequest is the self-service request the controller turns into a Project from the
//! project-request template.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Names that cannot be requested, and prefixes that no requested name may start with.
pub const FORBIDDEN_PROJECT_NAMES: [&str; 3] = ["openshift", "kubernetes", "kube"];
/// Prefixes that no requested project name may start with.
pub const FORBIDDEN_PROJECT_PREFIXES: [&str; 3] = ["openshift-", "kubernetes-", "kube-"];
/// Annotation holding a project's display name.
pub const DISPLAY_NAME_ANNOTATION: &str = "openshift.io/display-name";
/// Annotation holding a project's description.
pub const DESCRIPTION_ANNOTATION: &str = "openshift.io/description";
/// Annotation naming the user who requested the project.
pub const REQUESTER_ANNOTATION: &str = "openshift.io/requester";
/// Annotation with a node selector applied to every pod of the project.
pub const NODE_SELECTOR_ANNOTATION: &str = "openshift.io/node-selector";

/// The desired state of a project: the finalizers of its namespace.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "project.openshift.io",
    version = "v1",
    kind = "Project",
    plural = "projects",
    singular = "project",
    cel,
    status = "ProjectStatus",
    printcolumn = r#"{"name":"Display Name","type":"string","jsonPath":".metadata.annotations.openshift\\.io/display-name"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.phase"}"#,
    // Only metadata.name is visible to CEL at the root; the display-name annotation is checked by
    // the project controller.
    validation = Rule::new("size(self.metadata.name) >= 2").message("metadata.name of a Project must be at least 2 characters")
)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSpec {
    /// Finalizers of the project's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
}

/// The observed state of a project, mirrored from its namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProjectStatus {
    /// `Active` or `Terminating`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Conditions of the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<NamespaceCondition>>,
}

/// A condition of a project's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceCondition {
    /// Condition type.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When the condition last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A request for a new project: name in `metadata.name`, plus a display name and description.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "project.openshift.io",
    version = "v1",
    kind = "ProjectRequest",
    plural = "projectrequests",
    singular = "projectrequest",
    no_spec,
    cel,
    status = "ProjectRequestStatus",
    printcolumn = r#"{"name":"Display Name","type":"string","jsonPath":".displayName"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    validation = Rule::new("size(self.metadata.name) >= 2").message("metadata.name of a ProjectRequest must be at least 2 characters"),
    validation = Rule::new("!(self.metadata.name in ['openshift', 'kubernetes', 'kube']) && !self.metadata.name.startsWith('openshift-') && !self.metadata.name.startsWith('kubernetes-') && !self.metadata.name.startsWith('kube-')")
        .message("metadata.name of a ProjectRequest may not be openshift, kubernetes or kube, nor start with openshift-, kubernetes- or kube-"),
    validation = Rule::new("!has(self.displayName) || (!self.displayName.contains('\\n') && !self.displayName.contains('\\t'))").message("displayName may not contain tabs or newlines")
)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRequestFields {
    /// Display name of the new project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Description of the new project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Outcome of a project request (an Outrigger addition: OpenShift answered synchronously).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRequestStatus {
    /// `Ready` once the project and the template's objects exist; `Ready=False` with a reason otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
    /// Who asked for the project, stamped on creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
}

/// Whether `name` may be requested as a project (OpenShift's reserved names and prefixes).
pub fn is_forbidden_project_name(name: &str) -> bool {
    FORBIDDEN_PROJECT_NAMES.contains(&name)
        || FORBIDDEN_PROJECT_PREFIXES
            .iter()
            .any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;
    use serde_json::json;

    fn errors<T: Serialize>(
        r: Result<(), kube::core::cel::ValidationErrors>,
        _: &T,
    ) -> Vec<String> {
        match r {
            Ok(()) => vec![],
            Err(e) => e.iter().map(|e| e.message.clone()).collect(),
        }
    }

    #[test]
    fn project_round_trip_and_rules() {
        let v = json!({"apiVersion": "project.openshift.io/v1", "kind": "Project",
            "metadata": {"name": "p", "annotations": {"openshift.io/display-name": "A"}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        let p: Project = serde_json::from_value(v.clone()).expect("parse");
        assert_eq!(serde_json::to_value(&p).expect("ser"), v);
        let m = errors(Project::validate_cel(&p), &p);
        assert!(m.iter().any(|m| m.contains("at least 2")), "{m:?}");
    }

    #[test]
    fn project_request_fields_sit_at_the_root() {
        let v = json!({"apiVersion": "project.openshift.io/v1", "kind": "ProjectRequest",
            "metadata": {"name": "kube-system2"}, "displayName": "Mine", "description": "d"});
        let r: ProjectRequest = serde_json::from_value(v.clone()).expect("parse");
        assert_eq!(r.spec.display_name.as_deref(), Some("Mine"));
        assert_eq!(serde_json::to_value(&r).expect("ser"), v);
        let m = errors(ProjectRequest::validate_cel(&r), &r);
        assert!(
            m.iter().any(|m| m.contains("may not be openshift")),
            "{m:?}"
        );
        let crd = serde_json::to_value(ProjectRequest::crd()).expect("crd");
        assert_eq!(crd["spec"]["scope"], json!("Cluster"));
        let props = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"];
        assert!(props.get("displayName").is_some() && props.get("spec").is_none());
    }

    #[test]
    fn forbidden_names() {
        assert!(is_forbidden_project_name("kube"));
        assert!(is_forbidden_project_name("openshift-x"));
        assert!(!is_forbidden_project_name("kubex"));
        let crd = serde_json::to_value(Project::crd()).expect("crd");
        assert_eq!(crd["spec"]["scope"], json!("Cluster"));
    }
}
