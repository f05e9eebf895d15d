//! `outrigger-deployer`: runs in a deployer pod (`<rc>-deploy`) and performs the rollout of
//! `$OPENSHIFT_DEPLOYMENT_NAME` in `$OPENSHIFT_DEPLOYMENT_NAMESPACE`, printing progress to stdout.

use outrigger_deploymentconfig::keys::{ENV_DEPLOYMENT_NAME, ENV_DEPLOYMENT_NAMESPACE};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (Ok(name), Ok(namespace)) = (
        std::env::var(ENV_DEPLOYMENT_NAME),
        std::env::var(ENV_DEPLOYMENT_NAMESPACE),
    ) else {
        eprintln!("error: {ENV_DEPLOYMENT_NAME} and {ENV_DEPLOYMENT_NAMESPACE} must be set");
        return std::process::ExitCode::from(2);
    };
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot connect to the API server: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The deployer is PID 1 of its pod, where SIGTERM has no default action: handle it, so that
    // a cancelled rollout's deployer pod stops at once instead of after the grace period.
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot handle SIGTERM: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tokio::select! {
        r = outrigger_deploymentconfig::deployer::run(client, &namespace, &name) => match r {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                println!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        _ = term.recv() => {
            println!("--> Stopped (SIGTERM): the rollout was cancelled or the pod deleted");
            std::process::ExitCode::FAILURE
        }
    }
}
