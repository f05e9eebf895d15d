//! DeploymentConfig (`apps.openshift.io/v1`) on stock Kubernetes: OpenShift's DeploymentConfig
//! controller, its deployer controller (RC phase machine and deployer pods) and the deployer
//! that runs inside deployer pods (Recreate, Rolling, lifecycle hooks).
//!
//! # Imperative verbs and their declarative forms
//!
//! OpenShift served `instantiate` and `rollback` as subresources, which a CRD cannot have. Each
//! verb of `kubectl outrigger` (operators/kubectl-outrigger) is a plain write that GitOps tools
//! can make too:
//!
//! | verb | declarative form |
//! |---|---|
//! | `rollout latest` | DC annotation `apps.openshift.io/instantiate`: `{"latest": true, "force": true}` or any new value; handled once per distinct value, recorded in `apps.openshift.io/instantiate-handled`; refused (Event `InstantiateRejected`) while paused |
//! | `rollout undo [--to-revision N]`, `rollback` | DC annotation `apps.openshift.io/rollback`: `N` or `{"revision": N, "includeTemplate": true, "includeTriggers": false, "includeReplicationMeta": false, "includeStrategy": false}` (revision 0 = the previous one); the outcome goes to `apps.openshift.io/rollback-handled` (the value, or `error: … (value)`) and an Event |
//! | `rollout cancel` | OpenShift's RC annotations, unchanged: `openshift.io/deployment.cancelled: "true"` and `openshift.io/deployment.status-reason: cancelled by the user` on the running RC |
//! | `rollout retry` | OpenShift's protocol: delete the failed RC's pods labelled `openshift.io/deployer-pod-for.name=<rc>`, set `openshift.io/deployment.phase: New`, drop the status-reason and cancelled annotations |
//! | `rollout pause` / `resume` | `spec.paused: true` / `false` |
//! | `rollout history` / `status` | read-only: RCs `<dc>-<N>` and their phase annotations; DC `status` (`Progressing` reason `NewReplicationControllerAvailable` / `ProgressDeadlineExceeded` / `RolloutCancelled`) |
//! | `kubectl scale dc/x` | the CRD's scale subresource (`.spec.replicas`, selector string in `.status.selector`) |
//!
//! Pure modules (no client): [`keys`], [`strategy`], [`defaults`], [`rc`], [`decide`],
//! [`pods`]. Modules that talk to the API server: [`controller`], [`deployer_controller`],
//! [`deployer`].

pub mod controller;
pub mod decide;
pub mod defaults;
pub mod deployer;
pub mod deployer_controller;
pub mod error;
pub mod keys;
pub mod pods;
pub mod rc;
pub mod strategy;
