//! `apps.openshift.io/v1`: DeploymentConfig.
//!
//! Field names, types and nesting follow OpenShift's `apps/v1` API, so a DeploymentConfig written
//! for OpenShift deserialises here and serialises back unchanged. Every field is optional in Rust;
//! an absent field and an empty one stay distinct (this matters for `spec.triggers`: absent means
//! "a ConfigChange trigger", `[]` means "no triggers").
//!
//! The CRD adds a `scale` subresource (`.spec.replicas`, `.status.replicas`, selector string in
//! `.status.selector`) so that `kubectl scale dc/x` and a HorizontalPodAutoscaler work.
//!
//! # Defaults
//!
//! Defaults that OpenShift applies to every object, whatever else it contains, are schema
//! defaults, so the API server fills them in:
//!
//! - `spec.triggers`: `[{type: ConfigChange}]` when absent or null (an explicit `[]` stays empty);
//! - `spec.replicas`: 0, `spec.test`: false, `spec.revisionHistoryLimit`: 10;
//! - `spec.strategy`: `{}`, then `type: Rolling` and `activeDeadlineSeconds: 21600`;
//! - `rollingParams` (when present): `intervalSeconds: 1`, `updatePeriodSeconds: 1`,
//!   `timeoutSeconds: 600`; `recreateParams` (when present): `timeoutSeconds: 600`;
//! - `spec.triggers[].imageChangeParams.from.kind`: `ImageStreamTag`.
//!
//! Defaults that depend on other fields or on the request cannot be schema defaults; a mutating
//! webhook or the controller applies them:
//!
//! - `strategy.rollingParams` filled (`1`/`1`/`600`, surge rules below) when the type is `Rolling`
//!   and it is missing; `strategy.recreateParams: {}` when the type is `Recreate`;
//! - `maxSurge`/`maxUnavailable`: both `25%` when both are unset; an unset one becomes `25%` when
//!   the other is `0` or `"0%"`; otherwise an unset one stays unset;
//! - `spec.selector` copied from `spec.template.metadata.labels` when empty;
//! - `containerName` of `execNewPod` and `tagImages` hooks set to the only container when the
//!   template has exactly one;
//! - `imageChangeParams.from.namespace` set to the DeploymentConfig's namespace; legacy
//!   `from.kind` `ImageStream`/`ImageRepository` rewritten to `ImageStreamTag` (adding `:latest`
//!   when the name has no tag); `lastTriggeredImage` cleared on create.
//!
//! # Validation
//!
//! Cross-field rules are CEL rules (`x-kubernetes-validations`) whose messages name the field and
//! the allowed values. They are never stricter than OpenShift: values OpenShift would default or
//! convert first (an empty strategy type, legacy trigger kinds) are accepted. The int-or-string
//! fields `maxSurge`/`maxUnavailable` are checked through `string(self)` (CEL's `type()` is not
//! available to the client-side evaluator, and a regular expression on an unbounded string would
//! exceed the API server's cost budget), so the check is looser than OpenShift's: a negative value
//! is rejected; a malformed string, a percentage above 100% or a number written as a string is
//! left to the webhook.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{EnvVar, ObjectReference, PodTemplateSpec, ResourceRequirements},
    apimachinery::pkg::{apis::meta::v1::Time, util::intstr::IntOrString},
};
use kube::{CustomResource, KubeSchema};
use schemars::Schema;
use serde::{Deserialize, Serialize};

/// Strategy types accepted in `spec.strategy.type`.
pub const STRATEGY_TYPES: [&str; 3] = ["Recreate", "Rolling", "Custom"];

/// Trigger types accepted in `spec.triggers[].type`.
pub const TRIGGER_TYPES: [&str; 2] = ["ConfigChange", "ImageChange"];

/// Failure policies accepted in a lifecycle hook's `failurePolicy`.
pub const HOOK_FAILURE_POLICIES: [&str; 3] = ["Abort", "Retry", "Ignore"];

/// The desired state of a DeploymentConfig: a pod template, how many replicas to run, how new
/// versions are rolled out and what starts a rollout.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "apps.openshift.io",
    version = "v1",
    kind = "DeploymentConfig",
    plural = "deploymentconfigs",
    singular = "deploymentconfig",
    shortname = "dc",
    namespaced,
    cel,
    derive = "PartialEq",
    status = "DeploymentConfigStatus",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn = r#"{"name":"Revision","type":"integer","description":"Newest rollout (status.latestVersion)","jsonPath":".status.latestVersion"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","description":"Desired replicas","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Current","type":"integer","description":"Replicas of all rollouts","jsonPath":".status.replicas"}"#,
    printcolumn = r#"{"name":"Triggered By","type":"string","description":"Trigger types","jsonPath":".spec.triggers[*].type"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.minReadySeconds) || !has(self.strategy) || !has(self.strategy.activeDeadlineSeconds) || self.minReadySeconds < self.strategy.activeDeadlineSeconds")
        .message("spec.minReadySeconds must be less than spec.strategy.activeDeadlineSeconds"),
    validation = Rule::new("!has(self.minReadySeconds) || !has(self.strategy) || ((has(self.strategy.type) && self.strategy.type != 'Rolling' && self.strategy.type != '') || !has(self.strategy.rollingParams) || !has(self.strategy.rollingParams.timeoutSeconds) || self.minReadySeconds < self.strategy.rollingParams.timeoutSeconds)")
        .message("spec.minReadySeconds must be less than spec.strategy.rollingParams.timeoutSeconds"),
    validation = Rule::new("!has(self.minReadySeconds) || !has(self.strategy) || !has(self.strategy.type) || self.strategy.type != 'Recreate' || !has(self.strategy.recreateParams) || !has(self.strategy.recreateParams.timeoutSeconds) || self.minReadySeconds < self.strategy.recreateParams.timeoutSeconds")
        .message("spec.minReadySeconds must be less than spec.strategy.recreateParams.timeoutSeconds")
)]
pub struct DeploymentConfigSpec {
    /// How a rollout is carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = {}), transform = crate::common::not_nullable)]
    pub strategy: Option<DeploymentStrategy>,

    /// Seconds a new pod must be ready, without a container crashing, to count as available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0").message("spec.minReadySeconds must be greater than or equal to 0"))]
    pub min_ready_seconds: Option<i32>,

    /// What starts a new rollout. Absent or null means a single ConfigChange trigger; an empty
    /// list means none (rollouts only on explicit request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        extend("default" = [{"type": "ConfigChange"}]),
        transform = crate::common::not_nullable,
        length(max = 64)
    )]
    pub triggers: Option<Vec<DeploymentTriggerPolicy>>,

    /// Desired number of pods of the active rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    #[x_kube(validation = Rule::new("self >= 0").message("spec.replicas must be greater than or equal to 0"))]
    pub replicas: Option<i32>,

    /// Old, scaled-down ReplicationControllers kept for rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 10), transform = crate::common::not_nullable)]
    #[x_kube(validation = Rule::new("self >= 0").message("spec.revisionHistoryLimit must be greater than or equal to 0"))]
    pub revision_history_limit: Option<i32>,

    /// Test mode: pods run only while a rollout is in progress; afterwards the active rollout is
    /// scaled to zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub test: Option<bool>,

    /// When true, triggers and template changes start no rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,

    /// Labels selecting the pods of this DeploymentConfig; taken from the template labels when
    /// empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,

    /// The pod template of every rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateSpec>,
}

/// How a rollout is executed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.type) || self.type != 'Custom' || has(self.customParams)")
        .message("spec.strategy.customParams is required when spec.strategy.type is Custom"),
    validation = Rule::new("!has(self.activeDeadlineSeconds) || (has(self.type) && self.type != 'Rolling' && self.type != '') || !has(self.rollingParams) || !has(self.rollingParams.timeoutSeconds) || self.activeDeadlineSeconds > self.rollingParams.timeoutSeconds")
        .message("spec.strategy.activeDeadlineSeconds must be greater than spec.strategy.rollingParams.timeoutSeconds"),
    validation = Rule::new("!has(self.activeDeadlineSeconds) || !has(self.type) || self.type != 'Recreate' || !has(self.recreateParams) || !has(self.recreateParams.timeoutSeconds) || self.activeDeadlineSeconds > self.recreateParams.timeoutSeconds")
        .message("spec.strategy.activeDeadlineSeconds must be greater than spec.strategy.recreateParams.timeoutSeconds")
)]
pub struct DeploymentStrategy {
    /// Strategy name: `Recreate`, `Rolling` or `Custom`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Rolling"), transform = crate::common::not_nullable, length(max = 64))]
    #[x_kube(validation = Rule::new("self in ['Recreate', 'Rolling', 'Custom', '']").message("spec.strategy.type must be one of Recreate, Rolling, Custom"))]
    pub type_: Option<String>,

    /// Parameters of the Custom strategy; with Recreate or Rolling they override the deployer
    /// image, command and environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_params: Option<CustomDeploymentStrategyParams>,

    /// Parameters of the Recreate strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recreate_params: Option<RecreateDeploymentStrategyParams>,

    /// Parameters of the Rolling strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_params: Option<RollingDeploymentStrategyParams>,

    /// Resources of the deployer pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Labels added to deployer and hook pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,

    /// Annotations added to deployer and hook pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,

    /// Seconds the deployer pod may run before it is stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 21600), transform = crate::common::not_nullable)]
    #[x_kube(validation = Rule::new("self > 0").message("spec.strategy.activeDeadlineSeconds must be greater than 0"))]
    pub active_deadline_seconds: Option<i64>,
}

/// Parameters of the Custom strategy: the image that performs the rollout.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CustomDeploymentStrategyParams {
    /// Image of the deployer container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// Environment of the deployer container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Vec<EnvVar>>,

    /// Command of the deployer container, replacing the image's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

/// Parameters of the Recreate strategy: scale the old rollout down, then the new one up.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecreateDeploymentStrategyParams {
    /// Seconds to wait for scaling before giving up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 600), transform = crate::common::not_nullable)]
    #[x_kube(validation = Rule::new("self > 0").message("spec.strategy.recreateParams.timeoutSeconds must be greater than 0"))]
    pub timeout_seconds: Option<i64>,

    /// Hook run before the old pods are scaled down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre: Option<LifecycleHook>,

    /// Hook run when the old pods are gone and before new pods start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<LifecycleHook>,

    /// Hook run after the rollout finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<LifecycleHook>,
}

/// Parameters of the Rolling strategy: replace old pods by new ones step by step.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.maxSurge) || !has(self.maxUnavailable) || !(string(self.maxSurge) in ['0', '0%'] && string(self.maxUnavailable) in ['0', '0%'])")
        .message("spec.strategy.rollingParams.maxSurge and maxUnavailable cannot both be 0")
)]
pub struct RollingDeploymentStrategyParams {
    /// Seconds to wait between the scale-up and scale-down halves of a step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1), transform = crate::common::not_nullable)]
    #[x_kube(validation = Rule::new("self > 0").message("spec.strategy.rollingParams.updatePeriodSeconds must be greater than 0"))]
    pub update_period_seconds: Option<i64>,

    /// Seconds between polls of the rollout's progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1), transform = crate::common::not_nullable)]
    #[x_kube(validation = Rule::new("self > 0").message("spec.strategy.rollingParams.intervalSeconds must be greater than 0"))]
    pub interval_seconds: Option<i64>,

    /// Seconds without progress after which the rollout fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 600), transform = crate::common::not_nullable)]
    #[x_kube(validation = Rule::new("self > 0").message("spec.strategy.rollingParams.timeoutSeconds must be greater than 0"))]
    pub timeout_seconds: Option<i64>,

    /// Pods that may be unavailable during the rollout: a number or a percentage of the desired
    /// replicas (rounded down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!string(self).startsWith('-')").message("spec.strategy.rollingParams.maxUnavailable must be a non-negative number or a percentage such as 25%"))]
    pub max_unavailable: Option<IntOrString>,

    /// Pods that may run above the desired replicas during the rollout: a number or a percentage
    /// (rounded up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!string(self).startsWith('-')").message("spec.strategy.rollingParams.maxSurge must be a non-negative number or a percentage such as 25%"))]
    pub max_surge: Option<IntOrString>,

    /// Hook run before any scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre: Option<LifecycleHook>,

    /// Hook run after the rollout finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<LifecycleHook>,
}

/// An action run at a point of a rollout: a command in a new pod, or tagging images.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.failurePolicy) && self.failurePolicy in ['Abort', 'Retry', 'Ignore']")
        .message("the failurePolicy of a lifecycle hook (spec.strategy.*Params.pre/mid/post) must be one of Abort, Retry, Ignore"),
    validation = Rule::new("(has(self.execNewPod) ? 1 : 0) + (has(self.tagImages) && size(self.tagImages) > 0 ? 1 : 0) == 1")
        .message("a lifecycle hook (spec.strategy.*Params.pre/mid/post) must set exactly one of execNewPod, tagImages")
)]
pub struct LifecycleHook {
    /// What to do when the hook fails: `Abort`, `Retry` or `Ignore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub failure_policy: Option<String>,

    /// Run a command in a new pod made from a template container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_new_pod: Option<ExecNewPodHook>,

    /// Tag the image of template containers into image stream tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_images: Option<Vec<TagImageHook>>,
}

/// A hook that runs a command in a new pod based on a container of the pod template.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.command) && size(self.command) > 0")
        .message("execNewPod.command of a lifecycle hook must not be empty")
)]
pub struct ExecNewPodHook {
    /// Command and arguments to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,

    /// Extra environment of the hook container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,

    /// Template container whose image and settings the hook pod uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,

    /// Names of template volumes to mount in the hook pod; unknown names are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<String>>,
}

/// A hook that tags the image of a template container into an image stream tag.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.to) && has(self.to.kind) && self.to.kind == 'ImageStreamTag'")
        .message("tagImages[].to.kind of a lifecycle hook must be ImageStreamTag"),
    validation = Rule::new("has(self.to) && has(self.to.name) && self.to.name != ''")
        .message("tagImages[].to.name of a lifecycle hook is required")
)]
pub struct TagImageHook {
    /// Template container whose image is tagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,

    /// The target image stream tag (`kind: ImageStreamTag`, `name: <stream>:<tag>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::bounded_reference)]
    pub to: Option<ObjectReference>,
}

/// One cause of new rollouts.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.type) && self.type in ['ConfigChange', 'ImageChange']")
        .message("spec.triggers[].type must be one of ConfigChange, ImageChange"),
    validation = Rule::new("!has(self.type) || self.type != 'ImageChange' || has(self.imageChangeParams)")
        .message("spec.triggers[].imageChangeParams is required when the trigger type is ImageChange"),
    validation = Rule::new("!has(self.type) || self.type != 'ImageChange' || !has(self.imageChangeParams) || (has(self.imageChangeParams.containerNames) && size(self.imageChangeParams.containerNames) > 0)")
        .message("spec.triggers[].imageChangeParams.containerNames must name at least one container"),
    validation = Rule::new("!has(self.type) || self.type != 'ImageChange' || !has(self.imageChangeParams) || (has(self.imageChangeParams.from) && has(self.imageChangeParams.from.name) && self.imageChangeParams.from.name != '')")
        .message("spec.triggers[].imageChangeParams.from.name is required (an image stream tag, <stream>:<tag>)"),
    validation = Rule::new("!has(self.type) || self.type != 'ImageChange' || !has(self.imageChangeParams) || !has(self.imageChangeParams.from) || !has(self.imageChangeParams.from.kind) || self.imageChangeParams.from.kind in ['ImageStreamTag', 'ImageStream', 'ImageRepository', '']")
        .message("spec.triggers[].imageChangeParams.from.kind must be ImageStreamTag")
)]
pub struct DeploymentTriggerPolicy {
    /// Trigger type: `ConfigChange` or `ImageChange`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub type_: Option<String>,

    /// Parameters of an ImageChange trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_change_params: Option<DeploymentTriggerImageChangeParams>,
}

/// Parameters of an ImageChange trigger: which image stream tag to follow and which containers
/// to update.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTriggerImageChangeParams {
    /// When true, a new image of the tag is written into the template (which starts a rollout);
    /// when false the trigger only acts on an explicit rollout request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic: Option<bool>,

    /// Containers and init containers whose image follows the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_names: Option<Vec<String>>,

    /// The image stream tag followed; the namespace defaults to the DeploymentConfig's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = default_kind_image_stream_tag, transform = crate::common::bounded_reference)]
    pub from: Option<ObjectReference>,

    /// Pull spec last written into the template by this trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_triggered_image: Option<String>,
}

/// The observed state of a DeploymentConfig, written by the controller.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfigStatus {
    /// Number of the newest requested rollout; ReplicationController `<name>-<latestVersion>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<i64>,

    /// The `metadata.generation` last handled by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Pods of all rollouts of this DeploymentConfig.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,

    /// Pods of the newest rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,

    /// Available pods of all rollouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,

    /// Desired pods that are not yet available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_replicas: Option<i32>,

    /// Why the newest rollout was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<DeploymentDetails>,

    /// Observations of the current state (`Available`, `Progressing`, `ReplicaFailure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<DeploymentCondition>>,

    /// Ready pods of all rollouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,

    /// Outrigger addition: `spec.selector` serialised as a label selector string
    /// (`k1=v1,k2=v2`), filled by the controller for the scale subresource, which needs a
    /// string where OpenShift's selector is a map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// Why a rollout was started.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDetails {
    /// Message of the change (`config change`, `image change`, `manual change`, or the user's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// The triggers that caused the rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causes: Option<Vec<DeploymentCause>>,
}

/// One cause of a rollout.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCause {
    /// Type of the trigger that fired.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,

    /// The image change behind an ImageChange cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_trigger: Option<DeploymentCauseImageTrigger>,
}

/// The image change that caused a rollout.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCauseImageTrigger {
    /// The changed image (`DockerImage`, `ImageStreamTag` or `ImageStreamImage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ObjectReference>,
}

/// A condition of a DeploymentConfig.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCondition {
    /// Condition type: `Available`, `Progressing` or `ReplicaFailure`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,

    /// `True`, `False` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,

    /// When the condition was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,

    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,

    /// Machine-readable reason of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// Human-readable details of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Schema transform: default `kind` of an object reference to `ImageStreamTag`, as OpenShift does
/// for the `from` of image change triggers.
fn default_kind_image_stream_tag(schema: &mut Schema) {
    if let Some(kind) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut("kind"))
        .and_then(|k| k.as_object_mut())
    {
        kind.insert("default".into(), "ImageStreamTag".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    /// Serialise `value` through the typed struct and back.
    fn round_trip(value: &Value) -> Value {
        let dc: DeploymentConfig = serde_json::from_value(value.clone()).expect("deserialises");
        serde_json::to_value(&dc).expect("serialises")
    }

    fn dc(spec: Value) -> Value {
        json!({
            "apiVersion": "apps.openshift.io/v1",
            "kind": "DeploymentConfig",
            "metadata": {"name": "frontend", "namespace": "demo"},
            "spec": spec,
        })
    }

    fn template() -> Value {
        json!({
            "metadata": {"labels": {"name": "frontend"}},
            "spec": {"containers": [{"name": "web", "image": " "}]},
        })
    }

    fn full() -> Value {
        json!({
            "apiVersion": "apps.openshift.io/v1",
            "kind": "DeploymentConfig",
            "metadata": {"name": "frontend", "namespace": "demo", "generation": 3},
            "spec": {
                "strategy": {
                    "type": "Rolling",
                    "rollingParams": {
                        "updatePeriodSeconds": 1,
                        "intervalSeconds": 1,
                        "timeoutSeconds": 120,
                        "maxSurge": "25%",
                        "maxUnavailable": 0,
                        "pre": {
                            "failurePolicy": "Abort",
                            "execNewPod": {
                                "command": ["/bin/true"],
                                "env": [{"name": "A", "value": "1"}],
                                "containerName": "web",
                                "volumes": ["data"],
                            },
                        },
                        "post": {
                            "failurePolicy": "Ignore",
                            "tagImages": [{"containerName": "web", "to": {"kind": "ImageStreamTag", "name": "app:deployed"}}],
                        },
                    },
                    "customParams": {"image": "deployer:1", "environment": [{"name": "X", "value": "y"}], "command": ["run"]},
                    "resources": {"limits": {"cpu": "100m"}},
                    "labels": {"l": "v"},
                    "annotations": {"a": "b"},
                    "activeDeadlineSeconds": 3600,
                },
                "minReadySeconds": 5,
                "triggers": [
                    {"type": "ConfigChange"},
                    {"type": "ImageChange", "imageChangeParams": {
                        "automatic": true,
                        "containerNames": ["web"],
                        "from": {"kind": "ImageStreamTag", "name": "app:latest", "namespace": "demo"},
                        "lastTriggeredImage": "",
                    }},
                ],
                "replicas": 2,
                "revisionHistoryLimit": 3,
                "test": false,
                "paused": true,
                "selector": {"name": "frontend"},
                "template": template(),
            },
            "status": {
                "latestVersion": 4,
                "observedGeneration": 3,
                "replicas": 2,
                "updatedReplicas": 2,
                "availableReplicas": 1,
                "unavailableReplicas": 1,
                "readyReplicas": 1,
                "selector": "name=frontend",
                "details": {"message": "image change", "causes": [
                    {"type": "ImageChange", "imageTrigger": {"from": {"kind": "DockerImage", "name": "registry/app@sha256:00"}}},
                ]},
                "conditions": [{
                    "type": "Available", "status": "True",
                    "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "reason": "MinimumReplicasAvailable", "message": "ok",
                }],
            },
        })
    }

    #[test]
    fn round_trips_every_field() {
        let value = full();
        assert_eq!(round_trip(&value), value);
    }

    #[test]
    fn absent_and_empty_triggers_stay_distinct() {
        let absent = dc(json!({"template": template()}));
        let empty = dc(json!({"template": template(), "triggers": []}));
        assert_eq!(round_trip(&absent), absent);
        assert_eq!(round_trip(&empty), empty);
        let absent: DeploymentConfig = serde_json::from_value(absent).expect("deserialises");
        let empty: DeploymentConfig = serde_json::from_value(empty).expect("deserialises");
        assert_eq!(absent.spec.triggers, None);
        assert_eq!(empty.spec.triggers, Some(vec![]));
    }

    #[test]
    fn legacy_and_empty_forms_round_trip() {
        let value = dc(json!({
            "strategy": {"type": "Recreate", "resources": {}, "recreateParams": {"timeoutSeconds": 600}},
            "triggers": [{"type": "ImageChange", "imageChangeParams": {
                "automatic": true, "containerNames": ["web"],
                "from": {"kind": "ImageStream", "name": "app"},
            }}],
            "replicas": 1,
            "template": template(),
        }));
        let mut value = value;
        value["status"] = json!({});
        assert_eq!(round_trip(&value), value);
    }

    fn check(spec: Value) -> Result<(), String> {
        let obj: DeploymentConfig = serde_json::from_value(dc(spec)).map_err(|e| e.to_string())?;
        obj.validate_cel().map_err(|e| e.to_string())
    }

    fn assert_rejected(spec: Value, message: &str) {
        match check(spec) {
            Ok(()) => panic!("expected a rejection mentioning {message:?}"),
            Err(err) => assert!(
                err.contains(message),
                "{err:?} does not mention {message:?}"
            ),
        }
    }

    #[test]
    fn full_object_passes_every_rule() {
        let obj: DeploymentConfig = serde_json::from_value(full()).expect("deserialises");
        obj.validate_cel().expect("valid");
        check(json!({"template": template()})).expect("minimal spec is valid");
    }

    #[test]
    fn strategy_type_must_be_known() {
        check(json!({"strategy": {"type": "Recreate"}})).expect("Recreate");
        check(json!({"strategy": {"type": ""}})).expect("empty type defaults to Rolling");
        assert_rejected(
            json!({"strategy": {"type": "BlueGreen"}}),
            "spec.strategy.type must be one of Recreate, Rolling, Custom",
        );
    }

    #[test]
    fn custom_strategy_needs_custom_params() {
        check(json!({"strategy": {"type": "Custom", "customParams": {"image": "x"}}}))
            .expect("valid");
        assert_rejected(
            json!({"strategy": {"type": "Custom"}}),
            "spec.strategy.customParams is required",
        );
    }

    #[test]
    fn hook_needs_exactly_one_action() {
        let exec = json!({"command": ["true"], "containerName": "web"});
        let tag =
            json!([{"containerName": "web", "to": {"kind": "ImageStreamTag", "name": "a:b"}}]);
        let hook =
            |h: Value| json!({"strategy": {"type": "Recreate", "recreateParams": {"mid": h}}});
        check(hook(json!({"failurePolicy": "Retry", "execNewPod": exec}))).expect("exec only");
        check(hook(json!({"failurePolicy": "Retry", "tagImages": tag}))).expect("tag only");
        assert_rejected(
            hook(json!({"failurePolicy": "Retry", "execNewPod": exec, "tagImages": tag})),
            "exactly one of execNewPod, tagImages",
        );
        assert_rejected(
            hook(json!({"failurePolicy": "Retry", "tagImages": []})),
            "exactly one of execNewPod, tagImages",
        );
    }

    #[test]
    fn hook_failure_policy_must_be_known() {
        let hook = |p: Value| json!({"strategy": {"rollingParams": {"pre": {"failurePolicy": p, "execNewPod": {"command": ["x"]}}}}});
        for policy in HOOK_FAILURE_POLICIES {
            check(hook(json!(policy))).expect(policy);
        }
        assert_rejected(hook(json!("Later")), "must be one of Abort, Retry, Ignore");
        let missing =
            json!({"strategy": {"rollingParams": {"pre": {"execNewPod": {"command": ["x"]}}}}});
        assert_rejected(missing, "must be one of Abort, Retry, Ignore");
    }

    #[test]
    fn exec_hook_needs_a_command() {
        let hook = json!({"strategy": {"rollingParams": {"pre": {"failurePolicy": "Abort", "execNewPod": {"command": []}}}}});
        assert_rejected(
            hook,
            "execNewPod.command of a lifecycle hook must not be empty",
        );
    }

    #[test]
    fn tag_images_target_must_be_an_image_stream_tag() {
        let hook = |to: Value| json!({"strategy": {"rollingParams": {"post": {"failurePolicy": "Ignore", "tagImages": [{"containerName": "web", "to": to}]}}}});
        check(hook(json!({"kind": "ImageStreamTag", "name": "a:b"}))).expect("valid");
        assert_rejected(
            hook(json!({"kind": "DockerImage", "name": "a:b"})),
            "to.kind of a lifecycle hook must be ImageStreamTag",
        );
        assert_rejected(
            hook(json!({"kind": "ImageStreamTag"})),
            "to.name of a lifecycle hook is required",
        );
    }

    #[test]
    fn trigger_type_must_be_known() {
        assert_rejected(
            json!({"triggers": [{"type": "Manual"}]}),
            "must be one of ConfigChange, ImageChange",
        );
        assert_rejected(
            json!({"triggers": [{}]}),
            "must be one of ConfigChange, ImageChange",
        );
    }

    #[test]
    fn image_change_trigger_needs_params_and_containers() {
        let trigger =
            |p: Value| json!({"triggers": [{"type": "ImageChange", "imageChangeParams": p}]});
        check(trigger(
            json!({"containerNames": ["web"], "from": {"kind": "ImageStreamTag", "name": "a:b"}}),
        ))
        .expect("valid");
        check(trigger(
            json!({"containerNames": ["web"], "from": {"name": "a:b"}}),
        ))
        .expect("kind defaults");
        check(trigger(
            json!({"containerNames": ["web"], "from": {"kind": "ImageRepository", "name": "a"}}),
        ))
        .expect("legacy kinds are converted, not rejected");
        assert_rejected(
            json!({"triggers": [{"type": "ImageChange"}]}),
            "imageChangeParams is required",
        );
        assert_rejected(
            trigger(json!({"from": {"name": "a:b"}})),
            "containerNames must name at least one container",
        );
        assert_rejected(
            trigger(json!({"containerNames": [], "from": {"name": "a:b"}})),
            "containerNames must name at least one container",
        );
        assert_rejected(
            trigger(json!({"containerNames": ["web"]})),
            "from.name is required",
        );
        assert_rejected(
            trigger(
                json!({"containerNames": ["web"], "from": {"kind": "DockerImage", "name": "a"}}),
            ),
            "from.kind must be ImageStreamTag",
        );
    }

    #[test]
    fn surge_and_unavailable_not_both_zero() {
        let rolling = |p: Value| json!({"strategy": {"type": "Rolling", "rollingParams": p}});
        check(rolling(json!({"maxSurge": 0}))).expect("unset maxUnavailable is defaulted later");
        check(rolling(json!({"maxSurge": 0, "maxUnavailable": "10%"}))).expect("valid");
        check(rolling(json!({"maxSurge": "0%", "maxUnavailable": 1}))).expect("valid");
        for (surge, unavailable) in [
            (json!(0), json!(0)),
            (json!("0%"), json!(0)),
            (json!(0), json!("0%")),
            (json!("0%"), json!("0%")),
        ] {
            assert_rejected(
                rolling(json!({"maxSurge": surge, "maxUnavailable": unavailable})),
                "maxSurge and maxUnavailable cannot both be 0",
            );
        }
        assert_rejected(
            rolling(json!({"maxSurge": -1})),
            "maxSurge must be a non-negative number or a percentage",
        );
        assert_rejected(
            rolling(json!({"maxUnavailable": "-10%"})),
            "maxUnavailable must be a non-negative number or a percentage",
        );
        check(rolling(json!({"maxSurge": 3, "maxUnavailable": "100%"}))).expect("valid");
    }

    #[test]
    fn rolling_and_recreate_timeouts_positive() {
        assert_rejected(
            json!({"strategy": {"rollingParams": {"timeoutSeconds": 0}}}),
            "rollingParams.timeoutSeconds must be greater than 0",
        );
        assert_rejected(
            json!({"strategy": {"rollingParams": {"intervalSeconds": 0}}}),
            "rollingParams.intervalSeconds must be greater than 0",
        );
        assert_rejected(
            json!({"strategy": {"rollingParams": {"updatePeriodSeconds": 0}}}),
            "rollingParams.updatePeriodSeconds must be greater than 0",
        );
        assert_rejected(
            json!({"strategy": {"recreateParams": {"timeoutSeconds": 0}}}),
            "recreateParams.timeoutSeconds must be greater than 0",
        );
        assert_rejected(
            json!({"strategy": {"activeDeadlineSeconds": 0}}),
            "activeDeadlineSeconds must be greater than 0",
        );
    }

    #[test]
    fn active_deadline_exceeds_strategy_timeout() {
        let rolling = |deadline: i64| json!({"strategy": {"type": "Rolling", "activeDeadlineSeconds": deadline, "rollingParams": {"timeoutSeconds": 600}}});
        check(rolling(601)).expect("valid");
        assert_rejected(
            rolling(600),
            "activeDeadlineSeconds must be greater than spec.strategy.rollingParams.timeoutSeconds",
        );
        let recreate = json!({"strategy": {"type": "Recreate", "activeDeadlineSeconds": 10, "recreateParams": {"timeoutSeconds": 10}}});
        assert_rejected(
            recreate,
            "activeDeadlineSeconds must be greater than spec.strategy.recreateParams.timeoutSeconds",
        );
        // Only the timeout of the strategy in use counts.
        let unused = json!({"strategy": {"type": "Recreate", "activeDeadlineSeconds": 10, "rollingParams": {"timeoutSeconds": 600}}});
        check(unused).expect("rolling timeout is not used by Recreate");
    }

    #[test]
    fn min_ready_seconds_bounds() {
        check(json!({"minReadySeconds": 10, "strategy": {"activeDeadlineSeconds": 100, "rollingParams": {"timeoutSeconds": 50}}}))
            .expect("valid");
        assert_rejected(
            json!({"minReadySeconds": -1}),
            "spec.minReadySeconds must be greater than or equal to 0",
        );
        assert_rejected(
            json!({"minReadySeconds": 100, "strategy": {"activeDeadlineSeconds": 100}}),
            "spec.minReadySeconds must be less than spec.strategy.activeDeadlineSeconds",
        );
        assert_rejected(
            json!({"minReadySeconds": 50, "strategy": {"rollingParams": {"timeoutSeconds": 50}}}),
            "spec.minReadySeconds must be less than spec.strategy.rollingParams.timeoutSeconds",
        );
        assert_rejected(
            json!({"minReadySeconds": 50, "strategy": {"type": "Recreate", "recreateParams": {"timeoutSeconds": 50}}}),
            "spec.minReadySeconds must be less than spec.strategy.recreateParams.timeoutSeconds",
        );
    }

    #[test]
    fn replicas_and_history_limit_non_negative() {
        check(json!({"replicas": 0, "revisionHistoryLimit": 0})).expect("zero is fine");
        assert_rejected(
            json!({"replicas": -1}),
            "spec.replicas must be greater than or equal to 0",
        );
        assert_rejected(
            json!({"revisionHistoryLimit": -1}),
            "spec.revisionHistoryLimit must be greater than or equal to 0",
        );
    }

    fn spec_schema() -> Value {
        let crd = serde_json::to_value(DeploymentConfig::crd()).expect("crd serialises");
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
    }

    #[test]
    fn crd_names_scope_and_subresources() {
        let crd = DeploymentConfig::crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("deploymentconfigs.apps.openshift.io")
        );
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.kind, "DeploymentConfig");
        assert_eq!(crd.spec.names.short_names, Some(vec!["dc".to_string()]));
        let version = &crd.spec.versions[0];
        let subresources = serde_json::to_value(&version.subresources).expect("serialises");
        assert_eq!(
            subresources,
            json!({
                "status": {},
                "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                    "labelSelectorPath": ".status.selector",
                },
            })
        );
        let columns: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            columns,
            [
                ("Revision", ".status.latestVersion"),
                ("Desired", ".spec.replicas"),
                ("Current", ".status.replicas"),
                ("Triggered By", ".spec.triggers[*].type"),
            ]
        );
        let status = serde_json::to_value(&version.schema).expect("serialises");
        assert_eq!(
            status["openAPIV3Schema"]["properties"]["status"]["properties"]["selector"]["type"],
            json!("string")
        );
    }

    #[test]
    fn schema_defaults() {
        let spec = spec_schema();
        let props = &spec["properties"];
        assert_eq!(
            props["triggers"]["default"],
            json!([{"type": "ConfigChange"}])
        );
        assert_eq!(
            props["triggers"].get("nullable"),
            None,
            "null triggers must be defaulted, not kept"
        );
        assert_eq!(props["revisionHistoryLimit"]["default"], json!(10));
        assert_eq!(props["replicas"]["default"], json!(0));
        assert_eq!(props["test"]["default"], json!(false));
        assert_eq!(props["strategy"]["default"], json!({}));
        let strategy = &props["strategy"]["properties"];
        assert_eq!(strategy["type"]["default"], json!("Rolling"));
        assert_eq!(strategy["activeDeadlineSeconds"]["default"], json!(21600));
        let rolling = &strategy["rollingParams"]["properties"];
        assert_eq!(rolling["intervalSeconds"]["default"], json!(1));
        assert_eq!(rolling["updatePeriodSeconds"]["default"], json!(1));
        assert_eq!(rolling["timeoutSeconds"]["default"], json!(600));
        assert_eq!(
            rolling["maxSurge"].get("default"),
            None,
            "surge defaults are conditional"
        );
        assert_eq!(
            strategy["recreateParams"]["properties"]["timeoutSeconds"]["default"],
            json!(600)
        );
        let from =
            &props["triggers"]["items"]["properties"]["imageChangeParams"]["properties"]["from"];
        assert_eq!(
            from["properties"]["kind"]["default"],
            json!("ImageStreamTag")
        );
    }

    #[test]
    fn pod_template_schema_is_embedded() {
        let template = &spec_schema()["properties"]["template"];
        assert!(template["properties"]["spec"]["properties"]["containers"].is_object());
        assert_eq!(template.get("x-kubernetes-preserve-unknown-fields"), None);
    }
}
