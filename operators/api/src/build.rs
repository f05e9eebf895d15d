//! `build.openshift.io/v1`: BuildConfig and Build.
//!
//! A BuildConfig describes how to build an image (source, strategy, output) and when to do it
//! (triggers); every run is a Build that carries a copy of that description plus its status.
//! OpenShift embeds the shared part (`CommonSpec`) inline in both specs; here its fields are
//! repeated in [`BuildConfigSpec`] and [`BuildSpec`] so that each CRD schema is a plain object.
//!
//! Every field is optional on the Rust side, so that what a user wrote (absent, empty string,
//! empty list or object) serialises back unchanged. Two fields also keep an explicit `null`
//! (`Option<Option<T>>`): `spec.nodeSelector`, where OpenShift distinguishes nil from empty and
//! writes nil as `null`, and `spec.triggers[].imageChange`, which templates often leave empty.
//!
//! Discriminators (`type` fields, `runPolicy`, kinds) are strings checked by CEL rules rather
//! than Rust enums, so legacy spellings that OpenShift still accepts (trigger types `github`,
//! `generic`, `imageChange`; strategy type `Jenkins`) deserialise and validate.
//!
//! Lists whose items carry CEL rules have a `maxItems` (100 triggers, 100 source images, 50
//! volumes per strategy, 50 mounts per volume) and the strings those rules compare a
//! `maxLength`: without bounds the API server's static cost estimate of the rules exceeds its
//! budget and rejects the CRD. OpenShift sets no such limits; real manifests stay far below them.
//!
//! Not in the schema, on purpose: OpenShift defaults `successfulBuildsHistoryLimit` and
//! `failedBuildsHistoryLimit` to 5 only when a BuildConfig is created (removing them later means
//! "keep everything"), which a schema default cannot express; the operator's admission step owns
//! that default.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{
        CSIVolumeSource, ConfigMapVolumeSource, EnvVar, LocalObjectReference, ObjectReference,
        ResourceRequirements, SecretVolumeSource,
    },
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Deserializer, Serialize};

/// Strategy types of `spec.strategy.type` (`Jenkins` is accepted as a legacy alias of `JenkinsPipeline`).
pub const STRATEGY_TYPES: [&str; 4] = ["Docker", "Source", "Custom", "JenkinsPipeline"];

/// Source types of `spec.source.type`.
pub const SOURCE_TYPES: [&str; 5] = ["Git", "Dockerfile", "Binary", "Image", "None"];

/// Trigger types of `spec.triggers[].type` (plus the legacy spellings `github`, `generic`, `imageChange`).
pub const TRIGGER_TYPES: [&str; 6] = [
    "GitHub",
    "Generic",
    "GitLab",
    "Bitbucket",
    "ImageChange",
    "ConfigChange",
];

/// Run policies of `spec.runPolicy`; `Serial` is the default.
pub const RUN_POLICIES: [&str; 3] = ["Serial", "Parallel", "SerialLatestOnly"];

/// Build phases of `status.phase`; the last four are terminal.
pub const BUILD_PHASES: [&str; 7] = [
    "New",
    "Pending",
    "Running",
    "Complete",
    "Failed",
    "Error",
    "Cancelled",
];

/// Annotation that pauses a BuildConfig (value `true`, case-insensitive).
pub const PAUSED_ANNOTATION: &str = "openshift.io/build-config.paused";

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`) or set (`Some(Some(v))`).
///
/// Used with `#[serde(default)]`, so that an absent field never reaches this function.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

// ---------------------------------------------------------------------------------------------
// BuildConfig
// ---------------------------------------------------------------------------------------------

/// How and when builds of an image are made: source, strategy, output and triggers.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "build.openshift.io",
    version = "v1",
    kind = "BuildConfig",
    plural = "buildconfigs",
    singular = "buildconfig",
    shortname = "bc",
    namespaced,
    cel,
    status = "BuildConfigStatus",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.strategy.type"}"#,
    printcolumn = r#"{"name":"From","type":"string","jsonPath":".spec.source.type"}"#,
    printcolumn = r#"{"name":"Latest","type":"integer","jsonPath":".status.lastVersion"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BuildConfigSpec {
    /// What starts new builds: webhooks, image changes, the first config change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub triggers: Option<Vec<BuildTriggerPolicy>>,

    /// How builds of this config are scheduled: `Serial` (default), `Parallel` or `SerialLatestOnly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Serial"))]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self in ['Serial', 'Parallel', 'SerialLatestOnly']").message("spec.runPolicy must be one of Serial, Parallel, SerialLatestOnly"))]
    pub run_policy: Option<String>,

    /// Number of successful builds to keep; unset keeps all (5 is set when the config is created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0").message("spec.successfulBuildsHistoryLimit must be 0 or more"))]
    pub successful_builds_history_limit: Option<i32>,

    /// Number of failed, errored or cancelled builds to keep; unset keeps all (5 is set when the config is created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0").message("spec.failedBuildsHistoryLimit must be 0 or more"))]
    pub failed_builds_history_limit: Option<i32>,

    /// Service account the build pod runs as; `builder` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,

    /// Inputs of the build (git, binary, inline Dockerfile, images, secrets, config maps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<BuildSource>,

    /// A specific source revision to build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<SourceRevision>,

    /// How the image is built: Docker, Source (S2I), Custom or JenkinsPipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<BuildStrategy>,

    /// Where the built image is pushed; no `to` means build without push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<BuildOutput>,

    /// Resource requirements of the build containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Hook run in the freshly built image before it is pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_commit: Option<BuildPostCommitSpec>,

    /// Seconds the build pod may run once scheduled (pod `activeDeadlineSeconds`); must be positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0").message("spec.completionDeadlineSeconds must be greater than 0"))]
    pub completion_deadline_seconds: Option<i64>,

    /// Node selector of the build pod: `null`/absent lets cluster build defaults apply, `{}` does not.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_selector: Option<Option<BTreeMap<String, String>>>,

    /// Mount the cluster's trusted CA bundle into `/etc/pki/ca-trust` of the build.
    #[serde(
        default,
        rename = "mountTrustedCA",
        skip_serializing_if = "Option::is_none"
    )]
    pub mount_trusted_ca: Option<bool>,
}

/// Observed state of a BuildConfig.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildConfigStatus {
    /// Number of the last build created from this config; never decreases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_version: Option<i64>,

    /// State of each ImageChange trigger: the image last used and when it last fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_change_triggers: Option<Vec<ImageChangeTriggerStatus>>,
}

/// Runtime state of one ImageChange trigger.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageChangeTriggerStatus {
    /// Image ID of the tag when a build of this config last started.
    #[serde(
        default,
        rename = "lastTriggeredImageID",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_triggered_image_id: Option<String>,

    /// The ImageStreamTag the trigger watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ImageStreamTagReference>,

    /// When this trigger last started a build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trigger_time: Option<Time>,
}

/// Namespace and name of an ImageStreamTag (`stream:tag`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamTagReference {
    /// Namespace of the ImageStreamTag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    /// Name of the ImageStreamTag (`stream:tag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One way of starting builds of a BuildConfig.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.type) || !(self.type in ['GitHub', 'github']) || has(self.github)")
        .message("spec.triggers[].github is required when the trigger type is GitHub"),
    validation = Rule::new("!has(self.type) || !(self.type in ['Generic', 'generic']) || has(self.generic)")
        .message("spec.triggers[].generic is required when the trigger type is Generic"),
    validation = Rule::new("!has(self.type) || self.type != 'GitLab' || has(self.gitlab)")
        .message("spec.triggers[].gitlab is required when the trigger type is GitLab"),
    validation = Rule::new("!has(self.type) || self.type != 'Bitbucket' || has(self.bitbucket)")
        .message("spec.triggers[].bitbucket is required when the trigger type is Bitbucket"),
    validation = Rule::new("!(has(self.github) && has(self.github.allowEnv) && self.github.allowEnv) && !(has(self.gitlab) && has(self.gitlab.allowEnv) && self.gitlab.allowEnv) && !(has(self.bitbucket) && has(self.bitbucket.allowEnv) && self.bitbucket.allowEnv)")
        .message("allowEnv may only be set on a Generic webhook trigger (spec.triggers[].generic.allowEnv)")
)]
pub struct BuildTriggerPolicy {
    /// Trigger type: GitHub, Generic, GitLab, Bitbucket, ImageChange or ConfigChange.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self in ['GitHub', 'Generic', 'GitLab', 'Bitbucket', 'ImageChange', 'ConfigChange', 'github', 'generic', 'imageChange']").message("spec.triggers[].type must be one of GitHub, Generic, GitLab, Bitbucket, ImageChange, ConfigChange"))]
    pub type_: Option<String>,

    /// Parameters of a GitHub webhook trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<WebHookTrigger>,

    /// Parameters of a generic webhook trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<WebHookTrigger>,

    /// Parameters of a GitLab webhook trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<WebHookTrigger>,

    /// Parameters of a Bitbucket webhook trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitbucket: Option<WebHookTrigger>,

    /// Parameters of an ImageChange trigger; `null` or absent means `{}`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_change: Option<Option<ImageChangeTrigger>>,
}

/// A webhook trigger and the secret that authenticates its callers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.secret) && self.secret != '') || (has(self.secretReference) && has(self.secretReference.name) && self.secretReference.name != '')")
        .message("a webhook trigger needs secret or secretReference.name (spec.triggers[].github, .generic, .gitlab, .bitbucket)")
)]
pub struct WebHookTrigger {
    /// Secret part of the webhook URL (deprecated: use `secretReference`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,

    /// Let the webhook payload set build environment variables (Generic triggers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_env: Option<bool>,

    /// Secret in the same namespace whose key `WebHookSecretKey` holds the webhook secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_reference: Option<SecretLocalReference>,
}

/// Name of a Secret in the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretLocalReference {
    /// Name of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Start a build when an ImageStreamTag points to a new image.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageChangeTrigger {
    /// Image ID that last started a build (deprecated: see `status.imageChangeTriggers`).
    #[serde(
        default,
        rename = "lastTriggeredImageID",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_triggered_image_id: Option<String>,

    /// ImageStreamTag to watch; unset means the strategy's `from` image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!has(self.kind) || self.kind in ['', 'ImageStreamTag']").message("spec.triggers[].imageChange.from.kind must be ImageStreamTag"))]
    pub from: Option<ObjectReference>,

    /// Temporarily disable this trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Build
// ---------------------------------------------------------------------------------------------

/// One run of a build: a copy of its config's description plus what triggered it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "build.openshift.io",
    version = "v1",
    kind = "Build",
    plural = "builds",
    singular = "build",
    namespaced,
    cel,
    status = "BuildStatus",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.strategy.type"}"#,
    printcolumn = r#"{"name":"From","type":"string","jsonPath":".spec.source.type"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Started","type":"date","jsonPath":".status.startTimestamp"}"#,
    printcolumn = r#"{"name":"Duration","type":"integer","description":"Build duration in nanoseconds","jsonPath":".status.duration"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("spec of a Build is immutable once created"))]
pub struct BuildSpec {
    /// Service account the build pod runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,

    /// Inputs of the build (git, binary, inline Dockerfile, images, secrets, config maps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<BuildSource>,

    /// The source revision being built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<SourceRevision>,

    /// How the image is built: Docker, Source (S2I), Custom or JenkinsPipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<BuildStrategy>,

    /// Where the built image is pushed; no `to` means build without push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<BuildOutput>,

    /// Resource requirements of the build containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Hook run in the freshly built image before it is pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_commit: Option<BuildPostCommitSpec>,

    /// Seconds the build pod may run once scheduled (pod `activeDeadlineSeconds`); must be positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0").message("spec.completionDeadlineSeconds must be greater than 0"))]
    pub completion_deadline_seconds: Option<i64>,

    /// Node selector of the build pod: `null`/absent lets cluster build defaults apply, `{}` does not.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_selector: Option<Option<BTreeMap<String, String>>>,

    /// Mount the cluster's trusted CA bundle into `/etc/pki/ca-trust` of the build.
    #[serde(
        default,
        rename = "mountTrustedCA",
        skip_serializing_if = "Option::is_none"
    )]
    pub mount_trusted_ca: Option<bool>,

    /// What started this build (manual, webhook, image change, config change).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub triggered_by: Option<Option<Vec<BuildTriggerCause>>>,
}

/// Observed state of a Build.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildStatus {
    /// Lifecycle phase: New, Pending, Running, Complete, Failed, Error or Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self in ['', 'New', 'Pending', 'Running', 'Complete', 'Failed', 'Error', 'Cancelled']").message("status.phase must be one of New, Pending, Running, Complete, Failed, Error, Cancelled"))]
    pub phase: Option<String>,

    /// A cancellation was requested; the build controller stops the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<bool>,

    /// Machine-readable CamelCase reason of the current phase (mostly failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// Human-readable detail of the current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// When the build pod started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<Time>,

    /// When the build pod terminated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_timestamp: Option<Time>,

    /// Build duration in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,

    /// Pull spec the built image is pushed to, resolved from `spec.output.to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_docker_image_reference: Option<String>,

    /// The BuildConfig this build came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ObjectReference>,

    /// What the build produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<BuildStatusOutput>,

    /// Stages of the build with their start times, durations and steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageInfo>>,

    /// Last lines of the log of a failed build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_snippet: Option<String>,

    /// One condition per phase; the current phase's is True.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<BuildCondition>>,
}

/// The image a build produced.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildStatusOutput {
    /// The pushed image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<BuildStatusOutputTo>,
}

/// The pushed image of a build.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildStatusOutputTo {
    /// Digest of the pushed image, when the registry reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
}

/// A stage of a build (FetchInputs, PullImages, Build, PostCommit, PushImage).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StageInfo {
    /// Stage name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// When the stage started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,

    /// How long the stage took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_milliseconds: Option<i64>,

    /// Steps of the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepInfo>>,
}

/// A step within a build stage.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StepInfo {
    /// Step name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// When the step started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,

    /// How long the step took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_milliseconds: Option<i64>,
}

/// A condition of a build; its type is a phase name.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildCondition {
    /// Condition type (a phase name).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,

    /// True, False or Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,

    /// When the condition was last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,

    /// When the condition last changed status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,

    /// Machine-readable reason of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// Human-readable detail of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why a build was started; `message` plus at most one cause.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildTriggerCause {
    /// Human-readable reason, e.g. `Manually triggered`, `Image change`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// The generic webhook call that started the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic_web_hook: Option<WebHookCause>,

    /// The GitHub webhook call that started the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_web_hook: Option<WebHookCause>,

    /// The image change that started the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_change_build: Option<ImageChangeCause>,

    /// The GitLab webhook call that started the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab_web_hook: Option<WebHookCause>,

    /// The Bitbucket webhook call that started the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitbucket_web_hook: Option<WebHookCause>,
}

/// A webhook call that started a build (same shape for every provider).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebHookCause {
    /// Source revision reported by the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<SourceRevision>,

    /// The webhook secret, shown obfuscated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The image change that started a build.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageChangeCause {
    /// ID of the new image.
    #[serde(default, rename = "imageID", skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,

    /// The image reference that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ref: Option<ObjectReference>,
}

// ---------------------------------------------------------------------------------------------
// Shared by BuildConfig and Build: source, revision, strategy, output, post-commit hook
// ---------------------------------------------------------------------------------------------

/// Inputs of a build.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.git) || !has(self.binary)")
        .message("spec.source.git and spec.source.binary are mutually exclusive"),
    validation = Rule::new("!has(self.type) || self.type != 'Git' || has(self.git)")
        .message("spec.source.git is required when spec.source.type is Git"),
    validation = Rule::new("!has(self.type) || self.type != 'Dockerfile' || has(self.dockerfile)")
        .message("spec.source.dockerfile is required when spec.source.type is Dockerfile"),
    validation = Rule::new("!has(self.type) || self.type != 'Image' || has(self.images)")
        .message("spec.source.images is required when spec.source.type is Image")
)]
pub struct BuildSource {
    /// Source type: Git, Dockerfile, Binary, Image or None (informational).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self in ['Git', 'Dockerfile', 'Binary', 'Image', 'None', '']").message("spec.source.type must be one of Git, Dockerfile, Binary, Image, None"))]
    pub type_: Option<String>,

    /// Source uploaded by the user when the build is started (archive or single file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<BinaryBuildSource>,

    /// Inline Dockerfile; with git it replaces the repository's Dockerfile in `contextDir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,

    /// Git repository to clone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitBuildSource>,

    /// Images to copy content from, or to substitute in multi-stage Dockerfiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub images: Option<Vec<ImageSource>>,

    /// Sub-directory of the source that is the build context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self != '..' && !self.startsWith('../')").message("spec.source.contextDir must not start with '..'"))]
    pub context_dir: Option<String>,

    /// Secret with the credentials used to clone the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_secret: Option<LocalObjectReference>,

    /// Secrets made available to the build only, and where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<SecretBuildSource>>,

    /// ConfigMaps made available to the build only, and where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_maps: Option<Vec<ConfigMapBuildSource>>,
}

/// A binary (archive or single file) uploaded when the build starts.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BinaryBuildSource {
    /// Place the upload as this single file instead of extracting it as an archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!self.contains('/') && self != '.' && self != '..'").message("spec.source.binary.asFile must be a file name without '/', and not '.' or '..'"))]
    pub as_file: Option<String>,
}

/// A git repository to build from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GitBuildSource {
    /// Repository URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,

    /// Branch, tag or commit; the remote's default branch when empty.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub ref_: Option<String>,

    /// HTTP proxy for the clone; the cluster build proxy when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,

    /// HTTPS proxy for the clone; the cluster build proxy when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,

    /// Domains reached without proxy; the cluster build setting when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
}

/// An image used as build input.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.paths) && size(self.paths) > 0) || (has(self.__as__) && size(self.__as__) > 0)")
        .message("each spec.source.images[] entry must set paths or as")
)]
pub struct ImageSource {
    /// The image: ImageStreamTag, ImageStreamImage or DockerImage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ObjectReference>,

    /// Image names this source replaces in multi-stage `FROM` / `COPY --from`.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub as_: Option<Vec<String>>,

    /// Paths copied from the image into the build context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<ImageSourcePath>>,

    /// Secret used to pull the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<LocalObjectReference>,
}

/// A path copied from an input image.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageSourcePath {
    /// Absolute path in the image; a trailing `/.` copies the directory's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,

    /// Directory in the build context, relative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_dir: Option<String>,
}

/// A Secret copied into the build, and where.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretBuildSource {
    /// The Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<LocalObjectReference>,

    /// Directory its files are placed in during the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_dir: Option<String>,
}

/// A ConfigMap copied into the build, and where.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapBuildSource {
    /// The ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<LocalObjectReference>,

    /// Directory its files are placed in during the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_dir: Option<String>,
}

/// A specific revision of the source.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevision {
    /// Source type of the revision (e.g. `Git`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,

    /// Git commit information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSourceRevision>,
}

/// A git commit.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GitSourceRevision {
    /// Commit hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,

    /// Author of the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<SourceControlUser>,

    /// Committer of the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committer: Option<SourceControlUser>,

    /// Commit message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A source control identity.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SourceControlUser {
    /// Name of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// Email of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// How an image is built; exactly one strategy block is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("[has(self.dockerStrategy), has(self.sourceStrategy), has(self.customStrategy), has(self.jenkinsPipelineStrategy)].filter(x, x).size() <= 1")
        .message("spec.strategy must set only one of dockerStrategy, sourceStrategy, customStrategy, jenkinsPipelineStrategy"),
    validation = Rule::new("[has(self.dockerStrategy), has(self.sourceStrategy), has(self.customStrategy), has(self.jenkinsPipelineStrategy)].exists(x, x) || (has(self.type) && self.type == 'Docker')")
        .message("spec.strategy must set one of dockerStrategy, sourceStrategy, customStrategy, jenkinsPipelineStrategy"),
    validation = Rule::new("!has(self.type) || self.type != 'Source' || has(self.sourceStrategy)")
        .message("spec.strategy.sourceStrategy is required when spec.strategy.type is Source"),
    validation = Rule::new("!has(self.type) || self.type != 'Custom' || has(self.customStrategy)")
        .message("spec.strategy.customStrategy is required when spec.strategy.type is Custom"),
    validation = Rule::new("!has(self.type) || !(self.type in ['JenkinsPipeline', 'Jenkins']) || has(self.jenkinsPipelineStrategy)")
        .message("spec.strategy.jenkinsPipelineStrategy is required when spec.strategy.type is JenkinsPipeline")
)]
pub struct BuildStrategy {
    /// Strategy type: Docker, Source, Custom or JenkinsPipeline.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self in ['Docker', 'Source', 'Custom', 'JenkinsPipeline', 'Jenkins', '']").message("spec.strategy.type must be one of Docker, Source, Custom, JenkinsPipeline"))]
    pub type_: Option<String>,

    /// Parameters of a Dockerfile build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_strategy: Option<DockerBuildStrategy>,

    /// Parameters of a Source-to-Image build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_strategy: Option<SourceBuildStrategy>,

    /// Parameters of a build run by a custom builder image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_strategy: Option<CustomBuildStrategy>,

    /// Parameters of a Jenkins pipeline build (deprecated by OpenShift; not run by Outrigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jenkins_pipeline_strategy: Option<JenkinsPipelineBuildStrategy>,
}

/// Parameters of a Dockerfile build.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DockerBuildStrategy {
    /// Image that replaces the last `FROM` of the Dockerfile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ObjectReference>,

    /// Secret used to pull base images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<LocalObjectReference>,

    /// Build without the layer cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_cache: Option<bool>,

    /// Environment of the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,

    /// Always pull base images before building.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pull: Option<bool>,

    /// Dockerfile path relative to `contextDir`; `Dockerfile` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile_path: Option<String>,

    /// Build arguments (`ARG`); only name and value are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_args: Option<Vec<EnvVar>>,

    /// Layer optimisation: None, SkipLayers or SkipLayersAndWarn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self in ['', 'None', 'SkipLayers', 'SkipLayersAndWarn']").message("spec.strategy.dockerStrategy.imageOptimizationPolicy must be one of None, SkipLayers, SkipLayersAndWarn"))]
    pub image_optimization_policy: Option<String>,

    /// Volumes mounted read-only into the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub volumes: Option<Vec<BuildVolume>>,
}

/// Parameters of a Source-to-Image build.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SourceBuildStrategy {
    /// The S2I builder image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ObjectReference>,

    /// Secret used to pull the builder image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<LocalObjectReference>,

    /// Environment of the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,

    /// URL of S2I scripts that override the builder image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scripts: Option<String>,

    /// Reuse artifacts of the previous image (incremental build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<bool>,

    /// Always pull the builder image before building.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pull: Option<bool>,

    /// Volumes mounted read-only into the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub volumes: Option<Vec<BuildVolume>>,
}

/// Parameters of a build run by a custom builder image.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CustomBuildStrategy {
    /// The custom builder image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ObjectReference>,

    /// Secret used to pull the builder image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<LocalObjectReference>,

    /// Environment of the builder container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,

    /// Mount the node's container runtime socket into the builder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_docker_socket: Option<bool>,

    /// Always pull the builder image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pull: Option<bool>,

    /// Secrets mounted into the builder container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<SecretSpec>>,

    /// API version in which the Build is serialised for the builder.
    #[serde(
        default,
        rename = "buildAPIVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub build_api_version: Option<String>,
}

/// A Secret mounted into a custom builder.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretSpec {
    /// The Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_source: Option<LocalObjectReference>,

    /// Where it is mounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
}

/// Parameters of a Jenkins pipeline build.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JenkinsPipelineBuildStrategy {
    /// Jenkinsfile path relative to `contextDir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jenkinsfile_path: Option<String>,

    /// Inline Jenkinsfile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jenkinsfile: Option<String>,

    /// Environment of the pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
}

/// A volume mounted read-only into the build.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildVolume {
    /// Volume name, a DNS label unique in the build pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// Where the volume's content comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<BuildVolumeSource>,

    /// Where the volume is mounted in the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub mounts: Option<Vec<BuildVolumeMount>>,
}

/// Source of a build volume: exactly the block named by `type`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.type) || (self.type == 'Secret' ? (has(self.secret) && !has(self.configMap) && !has(self.csi)) : self.type == 'ConfigMap' ? (has(self.configMap) && !has(self.secret) && !has(self.csi)) : self.type == 'CSI' ? (has(self.csi) && !has(self.secret) && !has(self.configMap)) : true)")
        .message("a build volume source must set exactly the block named by its type (source.secret for Secret, source.configMap for ConfigMap, source.csi for CSI)")
)]
pub struct BuildVolumeSource {
    /// Source type: Secret, ConfigMap or CSI.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self in ['Secret', 'ConfigMap', 'CSI']").message("the type of a build volume source must be one of Secret, ConfigMap, CSI"))]
    pub type_: Option<String>,

    /// Secret that populates the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,

    /// ConfigMap that populates the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,

    /// Ephemeral CSI volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi: Option<CSIVolumeSource>,
}

/// Where a build volume is mounted.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildVolumeMount {
    /// Absolute path in the build, without `..` or `:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    #[x_kube(validation = Rule::new("self.startsWith('/') && !self.contains(':') && !self.contains('/../') && !self.endsWith('/..')").message("a build volume destinationPath must be an absolute path without '..' or ':'"))]
    pub destination_path: Option<String>,
}

/// Where and how the built image is pushed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildOutput {
    /// Push target: an ImageStreamTag or a DockerImage pull spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!has(self.kind) || self.kind in ['', 'ImageStreamTag', 'DockerImage']").message("spec.output.to.kind must be one of ImageStreamTag, DockerImage"))]
    pub to: Option<ObjectReference>,

    /// Secret used to push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_secret: Option<LocalObjectReference>,

    /// Labels added to the image; the last of duplicate names wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_labels: Option<Vec<ImageLabel>>,
}

/// A label applied to the built image.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageLabel {
    /// Label name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// Label value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Hook run in a temporary container of the built image before it is pushed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.script) || self.script == '' || !has(self.command) || size(self.command) == 0")
        .message("spec.postCommit.script and spec.postCommit.command are mutually exclusive")
)]
pub struct BuildPostCommitSpec {
    /// Command to run instead of the image entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,

    /// Arguments for the command, the script or the entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,

    /// Shell script run with `/bin/sh -ic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    fn bc_json() -> Value {
        json!({
            "apiVersion": "build.openshift.io/v1",
            "kind": "BuildConfig",
            "metadata": {"name": "ruby-sample-build", "namespace": "test"},
            "spec": {
                "runPolicy": "Serial",
                "successfulBuildsHistoryLimit": 5,
                "failedBuildsHistoryLimit": 5,
                "serviceAccount": "builder",
                "triggers": [
                    {"type": "GitHub", "github": {"secret": "s3cr3t"}},
                    {"type": "generic", "generic": {"secretReference": {"name": "hook"}, "allowEnv": true}},
                    {"type": "ImageChange", "imageChange": {}},
                    {"type": "ImageChange", "imageChange": null},
                    {"type": "ImageChange", "imageChange": {"from": {"kind": "ImageStreamTag", "name": "ruby:2.7"}, "paused": false}},
                    {"type": "ConfigChange"}
                ],
                "source": {
                    "type": "Git",
                    "git": {"uri": "https://github.com/openshift/ruby-hello-world", "ref": "", "httpProxy": "http://proxy:3128"},
                    "contextDir": "app",
                    "sourceSecret": {"name": "clone"},
                    "images": [{"from": {"kind": "ImageStreamTag", "name": "tools:latest"}, "as": ["tools"], "paths": []}],
                    "secrets": [{"secret": {"name": "settings"}, "destinationDir": "conf"}],
                    "configMaps": []
                },
                "strategy": {
                    "type": "Docker",
                    "dockerStrategy": {
                        "from": {"kind": "ImageStreamTag", "name": "ruby:2.7", "namespace": "openshift"},
                        "noCache": true,
                        "env": [{"name": "EXAMPLE", "value": "sample-app"}],
                        "buildArgs": [{"name": "VERSION", "value": "1"}],
                        "imageOptimizationPolicy": "SkipLayers",
                        "volumes": [{
                            "name": "certs",
                            "source": {"type": "Secret", "secret": {"secretName": "certs"}},
                            "mounts": [{"destinationPath": "/etc/certs"}]
                        }]
                    }
                },
                "output": {
                    "to": {"kind": "ImageStreamTag", "name": "origin-ruby-sample:latest"},
                    "pushSecret": {"name": "push"},
                    "imageLabels": [{"name": "vendor", "value": "me"}]
                },
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                "postCommit": {"script": "bundle exec rake test", "args": []},
                "completionDeadlineSeconds": 1800,
                "nodeSelector": {},
                "mountTrustedCA": true
            },
            "status": {
                "lastVersion": 3,
                "imageChangeTriggers": [{
                    "lastTriggeredImageID": "sha256:abc",
                    "from": {"namespace": "openshift", "name": "ruby:2.7"},
                    "lastTriggerTime": "2024-01-02T03:04:05Z"
                }]
            }
        })
    }

    fn build_json() -> Value {
        json!({
            "apiVersion": "build.openshift.io/v1",
            "kind": "Build",
            "metadata": {"name": "ruby-sample-build-3", "namespace": "test"},
            "spec": {
                "serviceAccount": "builder",
                "source": {"type": "Binary", "binary": {"asFile": "app.war"}},
                "revision": {"type": "Git", "git": {
                    "commit": "abc123",
                    "author": {"name": "A", "email": "a@example.com"},
                    "committer": {"name": "C", "email": "c@example.com"},
                    "message": "fix"
                }},
                "strategy": {"type": "Source", "sourceStrategy": {
                    "from": {"kind": "DockerImage", "name": "quay.io/s2i/ruby:2.7"},
                    "incremental": true,
                    "scripts": "https://example.com/s2i"
                }},
                "output": {"to": {"kind": "DockerImage", "name": "quay.io/me/app:latest"}},
                "resources": {},
                "postCommit": {},
                "nodeSelector": null,
                "triggeredBy": [
                    {"message": "GitHub WebHook", "githubWebHook": {"revision": {"git": {"commit": "abc123"}}, "secret": "<secret>"}},
                    {"message": "GitLab WebHook", "gitlabWebHook": {"secret": "<secret>"}},
                    {"message": "Image change", "imageChangeBuild": {"imageID": "sha256:abc", "fromRef": {"kind": "ImageStreamTag", "name": "ruby:2.7"}}}
                ]
            },
            "status": {
                "phase": "Complete",
                "cancelled": false,
                "startTimestamp": "2015-04-07T04:12:21Z",
                "completionTimestamp": "2015-04-07T04:13:01Z",
                "duration": 40000000000_i64,
                "outputDockerImageReference": "quay.io/me/app:latest",
                "config": {"kind": "BuildConfig", "name": "ruby-sample-build", "namespace": "test"},
                "output": {"to": {"imageDigest": "sha256:def"}},
                "stages": [{"name": "FetchInputs", "startTime": "2015-04-07T04:12:22Z", "durationMilliseconds": 1200,
                            "steps": [{"name": "FetchGitSource", "startTime": "2015-04-07T04:12:22Z", "durationMilliseconds": 1100}]}],
                "logSnippet": "",
                "conditions": [{"type": "Complete", "status": "True", "lastUpdateTime": "2015-04-07T04:13:01Z",
                                "lastTransitionTime": "2015-04-07T04:13:01Z", "reason": "", "message": ""}]
            }
        })
    }

    fn bc(spec: Value) -> BuildConfig {
        let mut v = json!({"apiVersion": "build.openshift.io/v1", "kind": "BuildConfig", "metadata": {"name": "x"}});
        v["spec"] = spec;
        serde_json::from_value(v).expect("valid BuildConfig JSON")
    }

    /// Messages of the rules that `obj` breaks, or an empty list.
    fn bc_errors(spec: Value) -> Vec<String> {
        match bc(spec).validate_cel() {
            Ok(()) => vec![],
            Err(errs) => errs.into_iter().map(|e| e.message).collect(),
        }
    }

    fn assert_rejected(spec: Value, message: &str) {
        let errs = bc_errors(spec.clone());
        assert!(
            errs.iter().any(|m| m == message),
            "expected {message:?} for {spec}, got {errs:?}"
        );
    }

    fn minimal_spec() -> Value {
        json!({"strategy": {"type": "Source", "sourceStrategy": {"from": {"kind": "ImageStreamTag", "name": "ruby:2.7"}}}})
    }

    fn with(mut spec: Value, key: &str, value: Value) -> Value {
        spec[key] = value;
        spec
    }

    #[test]
    fn buildconfig_round_trips() {
        let input = bc_json();
        let typed: BuildConfig = serde_json::from_value(input.clone()).expect("deserialise");
        assert_eq!(serde_json::to_value(&typed).expect("serialise"), input);
        assert_eq!(typed.spec.node_selector, Some(Some(BTreeMap::new())));
        assert_eq!(
            typed
                .spec
                .triggers
                .as_ref()
                .map(|t| t[3].image_change.clone()),
            Some(Some(None))
        );
        assert_eq!(typed.validate_cel().map_err(|e| format!("{e:?}")), Ok(()));
    }

    #[test]
    fn build_round_trips() {
        let input = build_json();
        let typed: Build = serde_json::from_value(input.clone()).expect("deserialise");
        assert_eq!(serde_json::to_value(&typed).expect("serialise"), input);
        assert_eq!(typed.spec.node_selector, Some(None));
        assert_eq!(typed.validate_cel().map_err(|e| format!("{e:?}")), Ok(()));
    }

    #[test]
    fn absent_fields_stay_absent() {
        let input = json!({"apiVersion": "build.openshift.io/v1", "kind": "BuildConfig", "metadata": {"name": "x"}, "spec": {}});
        let typed: BuildConfig = serde_json::from_value(input.clone()).expect("deserialise");
        assert_eq!(serde_json::to_value(&typed).expect("serialise"), input);
    }

    #[test]
    fn strategy_rules() {
        assert_eq!(bc_errors(minimal_spec()), Vec::<String>::new());
        // OpenShift defaults a missing dockerStrategy for type Docker.
        assert_eq!(
            bc_errors(json!({"strategy": {"type": "Docker"}})),
            Vec::<String>::new()
        );
        // Legacy alias seen in real manifests.
        assert_eq!(
            bc_errors(json!({"strategy": {"type": "Jenkins", "jenkinsPipelineStrategy": {}}})),
            Vec::<String>::new()
        );
        assert_rejected(
            json!({"strategy": {"type": "Kaniko", "dockerStrategy": {}}}),
            "spec.strategy.type must be one of Docker, Source, Custom, JenkinsPipeline",
        );
        assert_rejected(
            json!({"strategy": {"dockerStrategy": {}, "sourceStrategy": {}}}),
            "spec.strategy must set only one of dockerStrategy, sourceStrategy, customStrategy, jenkinsPipelineStrategy",
        );
        assert_rejected(
            json!({"strategy": {}}),
            "spec.strategy must set one of dockerStrategy, sourceStrategy, customStrategy, jenkinsPipelineStrategy",
        );
        assert_rejected(
            json!({"strategy": {"type": "Source", "dockerStrategy": {}}}),
            "spec.strategy.sourceStrategy is required when spec.strategy.type is Source",
        );
        assert_rejected(
            json!({"strategy": {"type": "Custom", "dockerStrategy": {}}}),
            "spec.strategy.customStrategy is required when spec.strategy.type is Custom",
        );
        assert_rejected(
            json!({"strategy": {"type": "JenkinsPipeline", "dockerStrategy": {}}}),
            "spec.strategy.jenkinsPipelineStrategy is required when spec.strategy.type is JenkinsPipeline",
        );
        assert_rejected(
            json!({"strategy": {"type": "Docker", "dockerStrategy": {"imageOptimizationPolicy": "Fast"}}}),
            "spec.strategy.dockerStrategy.imageOptimizationPolicy must be one of None, SkipLayers, SkipLayersAndWarn",
        );
    }

    #[test]
    fn trigger_rules() {
        let ok = with(
            minimal_spec(),
            "triggers",
            json!([
                {"type": "GitHub", "github": {"secret": "a"}},
                {"type": "github", "github": {"secret": "a"}},
                {"type": "Generic", "generic": {"secret": "a", "allowEnv": true}},
                {"type": "GitLab", "gitlab": {"secretReference": {"name": "s"}}},
                {"type": "Bitbucket", "bitbucket": {"secret": "a"}},
                {"type": "ImageChange"},
                {"type": "imageChange", "imageChange": {"from": {"kind": "ImageStreamTag", "name": "a:b"}}},
                {"type": "ConfigChange"}
            ]),
        );
        assert_eq!(bc_errors(ok), Vec::<String>::new());
        let cases = [
            (
                json!({"type": "Cron"}),
                "spec.triggers[].type must be one of GitHub, Generic, GitLab, Bitbucket, ImageChange, ConfigChange",
            ),
            (
                json!({"type": "GitHub"}),
                "spec.triggers[].github is required when the trigger type is GitHub",
            ),
            (
                json!({"type": "generic"}),
                "spec.triggers[].generic is required when the trigger type is Generic",
            ),
            (
                json!({"type": "GitLab"}),
                "spec.triggers[].gitlab is required when the trigger type is GitLab",
            ),
            (
                json!({"type": "Bitbucket"}),
                "spec.triggers[].bitbucket is required when the trigger type is Bitbucket",
            ),
            (
                json!({"type": "GitHub", "github": {"secret": "a", "allowEnv": true}}),
                "allowEnv may only be set on a Generic webhook trigger (spec.triggers[].generic.allowEnv)",
            ),
            (
                json!({"type": "GitHub", "github": {}}),
                "a webhook trigger needs secret or secretReference.name (spec.triggers[].github, .generic, .gitlab, .bitbucket)",
            ),
            (
                json!({"type": "ImageChange", "imageChange": {"from": {"kind": "DockerImage", "name": "a"}}}),
                "spec.triggers[].imageChange.from.kind must be ImageStreamTag",
            ),
        ];
        for (trigger, message) in cases {
            assert_rejected(with(minimal_spec(), "triggers", json!([trigger])), message);
        }
    }

    #[test]
    fn source_rules() {
        let cases = [
            (
                json!({"type": "Svn"}),
                "spec.source.type must be one of Git, Dockerfile, Binary, Image, None",
            ),
            (
                json!({"type": "Git"}),
                "spec.source.git is required when spec.source.type is Git",
            ),
            (
                json!({"type": "Dockerfile"}),
                "spec.source.dockerfile is required when spec.source.type is Dockerfile",
            ),
            (
                json!({"type": "Image"}),
                "spec.source.images is required when spec.source.type is Image",
            ),
            (
                json!({"git": {"uri": "https://x"}, "binary": {}}),
                "spec.source.git and spec.source.binary are mutually exclusive",
            ),
            (
                json!({"contextDir": "../up"}),
                "spec.source.contextDir must not start with '..'",
            ),
            (
                json!({"binary": {"asFile": "a/b.war"}}),
                "spec.source.binary.asFile must be a file name without '/', and not '.' or '..'",
            ),
            (
                json!({"images": [{"from": {"kind": "DockerImage", "name": "x"}}]}),
                "each spec.source.images[] entry must set paths or as",
            ),
        ];
        for (source, message) in cases {
            assert_rejected(with(minimal_spec(), "source", source), message);
        }
        let ok = json!({"type": "Binary", "binary": {}, "contextDir": "sub/dir", "images": [{"paths": [{"sourcePath": "/a", "destinationDir": "b"}]}]});
        assert_eq!(
            bc_errors(with(minimal_spec(), "source", ok)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn spec_field_rules() {
        let cases = [
            (
                "runPolicy",
                json!("Sometimes"),
                "spec.runPolicy must be one of Serial, Parallel, SerialLatestOnly",
            ),
            (
                "successfulBuildsHistoryLimit",
                json!(-1),
                "spec.successfulBuildsHistoryLimit must be 0 or more",
            ),
            (
                "failedBuildsHistoryLimit",
                json!(-1),
                "spec.failedBuildsHistoryLimit must be 0 or more",
            ),
            (
                "completionDeadlineSeconds",
                json!(0),
                "spec.completionDeadlineSeconds must be greater than 0",
            ),
            (
                "output",
                json!({"to": {"kind": "ImageStream", "name": "x"}}),
                "spec.output.to.kind must be one of ImageStreamTag, DockerImage",
            ),
            (
                "postCommit",
                json!({"script": "make test", "command": ["make"]}),
                "spec.postCommit.script and spec.postCommit.command are mutually exclusive",
            ),
        ];
        for (key, value, message) in cases {
            assert_rejected(with(minimal_spec(), key, value), message);
        }
        let ok = json!({"runPolicy": "SerialLatestOnly", "successfulBuildsHistoryLimit": 0, "completionDeadlineSeconds": 1,
                        "output": {"to": {"kind": "DockerImage", "name": "quay.io/x/y"}}, "postCommit": {"command": ["make"], "args": ["test"]}});
        let mut spec = minimal_spec();
        for (k, v) in ok.as_object().into_iter().flatten() {
            spec[k] = v.clone();
        }
        assert_eq!(bc_errors(spec), Vec::<String>::new());
    }

    #[test]
    fn volume_rules() {
        let strategy =
            |volume: Value| json!({"type": "Docker", "dockerStrategy": {"volumes": [volume]}});
        let cases = [
            (
                json!({"name": "v", "source": {"type": "HostPath"}}),
                "the type of a build volume source must be one of Secret, ConfigMap, CSI",
            ),
            (
                json!({"name": "v", "source": {"type": "Secret", "configMap": {"name": "c"}}}),
                "a build volume source must set exactly the block named by its type (source.secret for Secret, source.configMap for ConfigMap, source.csi for CSI)",
            ),
            (
                json!({"name": "v", "source": {"type": "ConfigMap", "configMap": {"name": "c"}}, "mounts": [{"destinationPath": "relative"}]}),
                "a build volume destinationPath must be an absolute path without '..' or ':'",
            ),
        ];
        for (volume, message) in cases {
            assert_rejected(json!({"strategy": strategy(volume)}), message);
        }
        let ok = json!({"name": "v", "source": {"type": "CSI", "csi": {"driver": "d"}}, "mounts": [{"destinationPath": "/data"}]});
        assert_eq!(
            bc_errors(json!({"strategy": strategy(ok)})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn build_rules() {
        let mut bad = build_json();
        bad["status"]["phase"] = json!("Done");
        let typed: Build = serde_json::from_value(bad).expect("deserialise");
        let errs = typed
            .validate_cel()
            .err()
            .map(|e| e.into_iter().map(|e| e.message).collect::<Vec<_>>());
        assert_eq!(
            errs,
            Some(vec!["status.phase must be one of New, Pending, Running, Complete, Failed, Error, Cancelled".to_string()])
        );

        let old: Build = serde_json::from_value(build_json()).expect("deserialise");
        let mut changed = old.clone();
        assert_eq!(
            changed
                .validate_cel_update(&old)
                .map_err(|e| format!("{e:?}")),
            Ok(())
        );
        changed.spec.service_account = Some("other".into());
        let errs = changed
            .validate_cel_update(&old)
            .err()
            .map(|e| e.into_iter().map(|e| e.message).collect::<Vec<_>>());
        assert_eq!(
            errs,
            Some(vec![
                "spec of a Build is immutable once created".to_string()
            ])
        );
    }

    #[test]
    fn crd_shape_and_defaults() {
        let crd = serde_json::to_value(BuildConfig::crd()).expect("CRD serialises");
        assert_eq!(crd["metadata"]["name"], "buildconfigs.build.openshift.io");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(["bc"]));
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["subresources"]["status"], json!({}));
        let columns: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(columns, ["Type", "From", "Latest"]);
        let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        assert_eq!(spec["runPolicy"]["default"], "Serial");
        assert_eq!(spec["nodeSelector"]["nullable"], true);
        // Only on create in OpenShift, so not a schema default.
        assert_eq!(spec["successfulBuildsHistoryLimit"].get("default"), None);
        assert_eq!(
            spec["source"]["properties"]["git"]["properties"]["httpProxy"]["type"],
            "string"
        );
        assert!(
            !crd.to_string()
                .contains("x-kubernetes-preserve-unknown-fields")
        );
        // Bounds that keep the CEL cost estimate within the API server's budget.
        assert_eq!(spec["triggers"]["maxItems"], 100);
        assert_eq!(
            spec["triggers"]["items"]["properties"]["type"]["maxLength"],
            64
        );
        assert_eq!(spec["source"]["properties"]["images"]["maxItems"], 100);
        let volumes = &spec["strategy"]["properties"]["dockerStrategy"]["properties"]["volumes"];
        assert_eq!(volumes["maxItems"], 50);
        assert_eq!(volumes["items"]["properties"]["mounts"]["maxItems"], 50);

        let crd = serde_json::to_value(Build::crd()).expect("CRD serialises");
        assert_eq!(crd["metadata"]["name"], "builds.build.openshift.io");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["subresources"]["status"], json!({}));
        let columns: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(columns, ["Type", "From", "Status", "Started", "Duration"]);
        assert_eq!(version["additionalPrinterColumns"][3]["type"], "date");
    }
}
