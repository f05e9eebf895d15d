//! OpenShift's exact names: annotation and label keys, phases, condition types and reasons,
//! status-reason literals and event reasons (openshift/api `apps/v1/consts.go`, library-go
//! `pkg/apps/appsutil/const.go`). Tools such as `oc rollout` read these byte for byte.

/// Annotation and label on RCs (and pod templates): the owning DeploymentConfig's name.
pub const DEPLOYMENT_CONFIG_ANNOTATION: &str = "openshift.io/deployment-config.name";
/// Annotation on RCs and pod templates: the rollout's version.
pub const DEPLOYMENT_VERSION_ANNOTATION: &str = "openshift.io/deployment-config.latest-version";
/// Annotation on RCs: the DeploymentConfig serialised as JSON when the RC was created.
pub const DEPLOYMENT_ENCODED_CONFIG_ANNOTATION: &str = "openshift.io/encoded-deployment-config";
/// Annotation on RCs: the rollout's phase.
pub const DEPLOYMENT_STATUS_ANNOTATION: &str = "openshift.io/deployment.phase";
/// Annotation on RCs: the replica count the deployer scales to.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "kubectl.kubernetes.io/desired-replicas";
/// Annotation on RCs: replica count recorded on completion.
pub const DEPLOYMENT_REPLICAS_ANNOTATION: &str = "openshift.io/deployment.replicas";
/// Annotation on RCs: why the rollout is in its phase.
pub const DEPLOYMENT_STATUS_REASON_ANNOTATION: &str = "openshift.io/deployment.status-reason";
/// Annotation on RCs: `"true"` when the rollout was cancelled.
pub const DEPLOYMENT_CANCELLED_ANNOTATION: &str = "openshift.io/deployment.cancelled";
/// Annotation on RCs: the deployer pod's name.
pub const DEPLOYER_POD_ANNOTATION: &str = "openshift.io/deployer-pod.name";
/// Annotation on RCs: when the deployer pod was created.
pub const DEPLOYER_POD_CREATED_AT_ANNOTATION: &str = "openshift.io/deployer-pod.created-at";
/// Annotation on RCs: when the deployer pod started.
pub const DEPLOYER_POD_STARTED_AT_ANNOTATION: &str = "openshift.io/deployer-pod.started-at";
/// Annotation on RCs: when the deployer pod completed.
pub const DEPLOYER_POD_COMPLETED_AT_ANNOTATION: &str = "openshift.io/deployer-pod.completed-at";
/// Annotation copied from the DC: never create a deployer pod for this RC.
pub const DEPLOYMENT_IGNORE_POD_ANNOTATION: &str = "deploy.openshift.io/deployer-pod.ignore";
/// Annotation set by the rolling updater on the new RC: `<old rc>:<uid>`.
pub const UPDATE_SOURCE_ID_ANNOTATION: &str = "kubectl.kubernetes.io/update-source-id";
/// Annotation set by the rolling updater on the old RC: its replica count before the update.
pub const ORIGINAL_REPLICAS_ANNOTATION: &str = "kubectl.kubernetes.io/original-replicas";
/// Annotation on deployer and hook pods and on RC pod templates: the RC's name.
pub const DEPLOYMENT_ANNOTATION: &str = "openshift.io/deployment.name";

/// Label on deployer and hook pods: the RC they work for.
pub const DEPLOYER_POD_FOR_LABEL: &str = "openshift.io/deployer-pod-for.name";
/// Label on hook pods: `hook-pre`, `hook-mid` or `hook-post`.
pub const DEPLOYER_POD_TYPE_LABEL: &str = "openshift.io/deployer-pod.type";
/// Selector label added to RC selectors and pod templates: the DC's name.
pub const DEPLOYMENT_CONFIG_LABEL: &str = "deploymentconfig";
/// Selector label added to RC selectors and pod templates: the RC's name.
pub const DEPLOYMENT_LABEL: &str = "deployment";

/// Environment variable naming the RC, given to deployer and hook pods.
pub const ENV_DEPLOYMENT_NAME: &str = "OPENSHIFT_DEPLOYMENT_NAME";
/// Environment variable naming the namespace, given to deployer and hook pods.
pub const ENV_DEPLOYMENT_NAMESPACE: &str = "OPENSHIFT_DEPLOYMENT_NAMESPACE";

/// Service account deployer pods run as.
pub const DEPLOYER_SERVICE_ACCOUNT: &str = "deployer";
/// RoleBinding giving the `deployer` service account its ClusterRole.
pub const DEPLOYER_ROLE_BINDING: &str = "system:deployers";
/// ClusterRole bound to the `deployer` service account.
pub const DEPLOYER_CLUSTER_ROLE: &str = "system:deployer";
/// Name of the deployer pod's only container.
pub const DEPLOYER_CONTAINER: &str = "deployment";
/// Name of a hook pod's only container.
pub const HOOK_CONTAINER: &str = "lifecycle";

/// Status-reason literals.
pub mod status_reason {
    /// Set by `oc rollout cancel` (and our plugin).
    pub const CANCELLED_BY_USER: &str = "cancelled by the user";
    /// Set on older running rollouts when a newer version is requested.
    pub const NEWER_RUNNING: &str = "newer deployment was found running";
    /// Set when the deployer pod could not be created in time.
    pub const CANNOT_CREATE_DEPLOYER: &str = "unable to create deployer pod";
    /// Set when the deployer pod disappeared.
    pub const DEPLOYER_POD_GONE: &str = "deployer pod no longer exists";
    /// Set when a pod of the deployer's name belongs to another RC.
    pub const UNRELATED_POD: &str =
        "unrelated pod with the same name as this deployment is already running";
}

/// Condition types of a DeploymentConfig.
pub mod condition {
    /// `Available`.
    pub const AVAILABLE: &str = "Available";
    /// `Progressing`.
    pub const PROGRESSING: &str = "Progressing";
    /// `ReplicaFailure` (defined, not set by OpenShift's controller).
    pub const REPLICA_FAILURE: &str = "ReplicaFailure";
}

/// Condition reasons of a DeploymentConfig.
pub mod reason {
    /// Progressing=True while the deployer makes progress.
    pub const RC_UPDATED: &str = "ReplicationControllerUpdated";
    /// Progressing=False when the RC could not be created.
    pub const RC_CREATE_ERROR: &str = "ReplicationControllerCreateError";
    /// Progressing=True right after the RC was created.
    pub const NEW_RC_CREATED: &str = "NewReplicationControllerCreated";
    /// Progressing=True when the latest rollout completed.
    pub const NEW_RC_AVAILABLE: &str = "NewReplicationControllerAvailable";
    /// Progressing=False when the latest rollout failed.
    pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
    /// Defined by OpenShift, not emitted.
    pub const PAUSED: &str = "DeploymentConfigPaused";
    /// Defined by OpenShift, not emitted.
    pub const RESUMED: &str = "DeploymentConfigResumed";
    /// Progressing=False when the latest rollout was cancelled.
    pub const CANCELLED: &str = "RolloutCancelled";
}

/// Cause types and their `details.message`.
pub mod cause {
    /// A ConfigChange trigger fired.
    pub const CONFIG_CHANGE: &str = "ConfigChange";
    /// An ImageChange trigger fired.
    pub const IMAGE_CHANGE: &str = "ImageChange";
    /// An explicit request.
    pub const MANUAL: &str = "Manual";
    /// `details.message` of a ConfigChange rollout.
    pub const CONFIG_CHANGE_MESSAGE: &str = "config change";
    /// `details.message` of an ImageChange rollout.
    pub const IMAGE_CHANGE_MESSAGE: &str = "image change";
    /// `details.message` of a manual rollout.
    pub const MANUAL_MESSAGE: &str = "manual change";
}

/// Outrigger's declarative forms of OpenShift's imperative subresources (annotations on the
/// DeploymentConfig, see the crate docs).
pub mod request {
    /// `deploymentconfigs/<name>/instantiate` as an annotation: a JSON
    /// `{"latest": bool, "force": bool}` or any string (= `{"latest": true, "force": true}`).
    /// Handled once per distinct value.
    pub const INSTANTIATE: &str = "apps.openshift.io/instantiate";
    /// The value of [`INSTANTIATE`] last handled (written by the controller).
    pub const INSTANTIATE_HANDLED: &str = "apps.openshift.io/instantiate-handled";
    /// `deploymentconfigs/<name>/rollback` as an annotation: JSON
    /// `{"revision": N, "includeTriggers": b, "includeTemplate": b, "includeReplicationMeta": b,
    /// "includeStrategy": b}` (revision 0 or absent = the previous one). Handled once per value.
    pub const ROLLBACK: &str = "apps.openshift.io/rollback";
    /// The value of [`ROLLBACK`] last handled, or `error: …` (written by the controller).
    pub const ROLLBACK_HANDLED: &str = "apps.openshift.io/rollback-handled";
}

/// The field manager of the controllers' writes.
pub const FIELD_MANAGER: &str = "outrigger-deploymentconfig";
/// The field manager of the deployer pod's writes.
pub const DEPLOYER_FIELD_MANAGER: &str = "outrigger-deployer";
