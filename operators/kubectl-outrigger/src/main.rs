//! `kubectl outrigger`: the DeploymentConfig verbs OpenShift served as subresources or in `oc`.
//!
//! ```text
//! kubectl outrigger rollout latest|cancel|retry|pause|resume|history|status|undo dc/NAME [--to-revision N] [-n NS]
//! kubectl outrigger rollback NAME [--to-version N] [-n NS]
//! kubectl outrigger import-image STREAM[:TAG] [--from=PULLSPEC] [--confirm] ...   (see `image`)
//! kubectl outrigger tag SOURCE DEST... | tag -d DEST...                          (see `image`)
//! ```
//!
//! Every verb is a plain write that can also be done declaratively (see `declarative_form`):
//! `latest` and `undo`/`rollback` set the `apps.openshift.io/instantiate` / `apps.openshift.io/rollback`
//! annotations the controller consumes; `cancel` and `retry` use OpenShift's RC annotation
//! protocol unchanged; `pause`/`resume` set `spec.paused`; `history`/`status` only read.

mod image;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt as _};
use outrigger_api::apps::DeploymentConfig;
use outrigger_deploymentconfig::keys::{self, request, status_reason};
use outrigger_deploymentconfig::rc::{self, Phase};
use serde_json::json;

const USAGE: &str = "usage:
  kubectl outrigger rollout latest|cancel|retry|pause|resume|history|status|undo dc/NAME [--to-revision N] [-n NAMESPACE]
  kubectl outrigger rollback NAME [--to-version N] [-n NAMESPACE]";

/// Parsed command line.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    verb: String,
    name: String,
    namespace: Option<String>,
    revision: i64,
}

fn parse(argv: &[String]) -> Result<Args> {
    let mut positional = Vec::new();
    let mut namespace = None;
    let mut revision = 0;
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| -> Result<String> {
            if let Some((_, v)) = a.split_once('=') {
                return Ok(v.to_owned());
            }
            it.next()
                .cloned()
                .ok_or_else(|| anyhow!("{flag} needs a value"))
        };
        if a == "-n" || a.starts_with("--namespace") {
            namespace = Some(value("--namespace")?);
        } else if a.starts_with("--to-revision") || a.starts_with("--to-version") {
            revision = value("--to-revision")?
                .parse()
                .context("revision must be a number")?;
        } else if a == "-h" || a == "--help" {
            bail!("{USAGE}");
        } else if a.starts_with('-') {
            bail!("unknown flag {a}\n{USAGE}");
        } else {
            positional.push(a.clone());
        }
    }
    let (verb, target) = match positional.as_slice() {
        [r, verb, target] if r == "rollout" => (verb.clone(), target.clone()),
        [r, target] if r == "rollback" => ("undo".to_owned(), target.clone()),
        _ => bail!("{USAGE}"),
    };
    let name = match target.split_once('/') {
        Some((
            "dc" | "deploymentconfig" | "deploymentconfigs" | "deploymentconfig.apps.openshift.io",
            n,
        )) => n.to_owned(),
        Some((kind, _)) => bail!("only DeploymentConfigs (dc/NAME) are supported, not {kind}"),
        None => target,
    };
    Ok(Args {
        verb,
        name,
        namespace,
        revision,
    })
}

fn nonce() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().to_string())
        .unwrap_or_default()
}

fn pp() -> PatchParams {
    PatchParams {
        field_manager: Some("kubectl-outrigger".into()),
        ..Default::default()
    }
}

async fn rcs_of(api: &Api<ReplicationController>, dc: &str) -> Result<Vec<ReplicationController>> {
    let mut rcs = api
        .list(
            &ListParams::default().labels(&format!("{}={dc}", keys::DEPLOYMENT_CONFIG_ANNOTATION)),
        )
        .await?
        .items;
    rc::sort_newest_first(&mut rcs);
    Ok(rcs)
}

async fn run(args: Args) -> Result<()> {
    let config = kube::Config::infer().await.context("reading kubeconfig")?;
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config)?;
    let dcs: Api<DeploymentConfig> = Api::namespaced(client.clone(), &ns);
    let rcs: Api<ReplicationController> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let name = &args.name;
    let dc = dcs
        .get(name)
        .await
        .with_context(|| format!("deploymentconfig {name} in {ns}"))?;
    let latest = dc
        .status
        .as_ref()
        .and_then(|s| s.latest_version)
        .unwrap_or(0);
    match args.verb.as_str() {
        "latest" => {
            if dc.spec.paused == Some(true) {
                bail!("cannot deploy a paused deployment config");
            }
            let value = json!({"latest": true, "force": true, "nonce": nonce()}).to_string();
            dcs.patch(
                name,
                &pp(),
                &Patch::Merge(&json!({"metadata": {"annotations": {request::INSTANTIATE: value}}})),
            )
            .await?;
            println!("deploymentconfig.apps.openshift.io/{name} rolled out");
        }
        "cancel" => {
            let mut n = 0;
            for r in rcs_of(&rcs, name).await? {
                if rc::phase(&r).is_terminal() || rc::is_cancelled(&r) {
                    continue;
                }
                let patch = json!({"metadata": {"annotations": {
                    keys::DEPLOYMENT_CANCELLED_ANNOTATION: "true",
                    keys::DEPLOYMENT_STATUS_REASON_ANNOTATION: status_reason::CANCELLED_BY_USER,
                }}});
                rcs.patch(&r.name_any(), &pp(), &Patch::Merge(&patch))
                    .await?;
                n += 1;
            }
            if n == 0 {
                bail!("there have been no replication controller changes to cancel for {name}");
            }
            println!("deploymentconfig.apps.openshift.io/{name} cancelling");
        }
        "retry" => {
            let rc_name = rc::rc_name(name, latest);
            let r = rcs
                .get(&rc_name)
                .await
                .with_context(|| format!("latest rollout {rc_name}"))?;
            if rc::phase(&r) != Phase::Failed {
                bail!(
                    "rollout #{latest} is {}; only a failed rollout can be retried",
                    rc::phase(&r).as_str()
                );
            }
            let lp = ListParams::default()
                .labels(&format!("{}={rc_name}", keys::DEPLOYER_POD_FOR_LABEL));
            for p in pods.list(&lp).await?.items {
                pods.delete(&p.name_any(), &DeleteParams::default()).await?;
            }
            // Wait for the old deployer pod to go, so the new one can take its name.
            for _ in 0..60 {
                if pods.list(&lp).await?.items.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let patch = json!({"metadata": {"annotations": {
                keys::DEPLOYMENT_STATUS_ANNOTATION: "New",
                keys::DEPLOYMENT_STATUS_REASON_ANNOTATION: null,
                keys::DEPLOYMENT_CANCELLED_ANNOTATION: null,
            }}});
            rcs.patch(&rc_name, &pp(), &Patch::Merge(&patch)).await?;
            println!("deploymentconfig.apps.openshift.io/{name} retried rollout #{latest}");
        }
        "pause" | "resume" => {
            let paused = args.verb == "pause";
            dcs.patch(
                name,
                &pp(),
                &Patch::Merge(&json!({"spec": {"paused": paused}})),
            )
            .await?;
            println!("deploymentconfig.apps.openshift.io/{name} {}d", args.verb);
        }
        "history" => {
            println!("deploymentconfigs \"{name}\"\nREVISION\tSTATUS\t\tCAUSE");
            let mut list = rcs_of(&rcs, name).await?;
            list.reverse();
            for r in list {
                let cause = rc::decode_config(&r)
                    .ok()
                    .and_then(|d| d.status.and_then(|s| s.details).and_then(|d| d.message))
                    .unwrap_or_default();
                println!(
                    "{}\t\t{}\t{}",
                    rc::version(&r).unwrap_or(0),
                    rc::phase(&r).as_str(),
                    cause
                );
            }
        }
        "status" => loop {
            let dc = dcs.get(name).await?;
            let st = dc.status.clone().unwrap_or_default();
            let v = st.latest_version.unwrap_or(0);
            let progressing = st
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_.as_deref() == Some(keys::condition::PROGRESSING));
            let observed =
                st.observed_generation.unwrap_or(0) >= dc.metadata.generation.unwrap_or(0);
            match progressing.and_then(|c| c.reason.as_deref()) {
                Some(keys::reason::NEW_RC_AVAILABLE) if observed => {
                    println!("replication controller \"{name}-{v}\" successfully rolled out");
                    return Ok(());
                }
                Some(keys::reason::TIMED_OUT) => {
                    bail!("replication controller \"{name}-{v}\" has failed progressing")
                }
                Some(keys::reason::CANCELLED) => {
                    bail!("rollout of replication controller \"{name}-{v}\" was cancelled")
                }
                _ => {
                    println!(
                        "Waiting for rollout to finish: {} of {} updated replicas are available...",
                        st.available_replicas.unwrap_or(0),
                        dc.spec.replicas.unwrap_or(0)
                    );
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        },
        "undo" => {
            let value =
                json!({"revision": args.revision, "includeTemplate": true, "nonce": nonce()})
                    .to_string();
            dcs.patch(
                name,
                &pp(),
                &Patch::Merge(
                    &json!({"metadata": {"annotations": {request::ROLLBACK: value.clone()}}}),
                ),
            )
            .await?;
            // The controller records the outcome in the handled annotation.
            for _ in 0..90 {
                let dc = dcs.get(name).await?;
                match dc.annotations().get(request::ROLLBACK_HANDLED) {
                    Some(h) if h == &value => {
                        println!("deploymentconfig.apps.openshift.io/{name} rolled back");
                        return Ok(());
                    }
                    Some(h) if h.starts_with("error: ") && h.ends_with(&format!("({value})")) => {
                        bail!("{}", h.trim_end_matches(&format!(" ({value})")));
                    }
                    _ => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
            bail!(
                "the controller did not handle the rollback request within 90s (is outrigger-deploymentconfig running?)"
            );
        }
        other => bail!("unknown verb {other}\n{USAGE}"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = if image::handles(&argv) {
        image::run(&argv).await
    } else {
        match parse(&argv) {
            Ok(a) => run(a).await,
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args> {
        parse(&s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn parses_verbs_targets_and_flags() {
        let a = args("rollout undo dc/web --to-revision 2 -n demo").expect("parses");
        assert_eq!(
            a,
            Args {
                verb: "undo".into(),
                name: "web".into(),
                namespace: Some("demo".into()),
                revision: 2
            }
        );
        let a = args("rollback web --to-version=3").expect("parses");
        assert_eq!((a.verb.as_str(), a.revision), ("undo", 3));
        let a = args("rollout latest deploymentconfig/web --namespace=x").expect("parses");
        assert_eq!(
            (a.verb.as_str(), a.namespace.as_deref()),
            ("latest", Some("x"))
        );
        assert!(args("rollout latest deployment/web").is_err());
        assert!(args("rollout").is_err());
        assert!(args("rollout status dc/web --bogus").is_err());
    }
}
