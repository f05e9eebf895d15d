//! Command line and environment. Environment names follow OpenShift's router where one exists
//! (`ROUTER_SERVICE_NAME`, `ROUTER_DOMAIN`, `ROUTE_LABELS`, `NAMESPACE_LABELS`,
//! `ROUTER_DISABLE_NAMESPACE_OWNERSHIP_CHECK`, `ROUTER_ALLOW_WILDCARD_ROUTES`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};
use outrigger_route_table::admission::{AdmissionConfig, NamespaceOwnership};
use outrigger_route_table::selector::{Selector, SelectorError};

/// Outrigger's router.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
pub struct Args {
    /// Router (shard) name, written to `status.ingress[].routerName`.
    #[arg(long, env = "ROUTER_SERVICE_NAME", default_value = "default")]
    pub router_name: String,
    /// Domain for generated hosts (`<route>-<namespace>.<domain>`) and `spec.subdomain`.
    #[arg(long, env = "ROUTER_DOMAIN")]
    pub domain: Option<String>,
    /// Label selector of the routes this router serves.
    #[arg(long, env = "ROUTE_LABELS", default_value = "")]
    pub route_labels: String,
    /// Label selector of the namespaces whose routes this router serves.
    #[arg(long, env = "NAMESPACE_LABELS", default_value = "")]
    pub namespace_labels: String,
    /// Let routes of different namespaces share a host (with different paths).
    #[arg(long, env = "ROUTER_DISABLE_NAMESPACE_OWNERSHIP_CHECK", default_value_t = false, action = ArgAction::Set)]
    pub disable_namespace_ownership_check: bool,
    /// Admit `wildcardPolicy: Subdomain` routes.
    #[arg(long, env = "ROUTER_ALLOW_WILDCARD_ROUTES", default_value_t = false, action = ArgAction::Set)]
    pub allow_wildcard_routes: bool,
    /// Plain HTTP listener.
    #[arg(long, env = "ROUTER_HTTP_ADDR", default_value = "0.0.0.0:80")]
    pub http_addr: SocketAddr,
    /// HTTPS / passthrough listener.
    #[arg(long, env = "ROUTER_HTTPS_ADDR", default_value = "0.0.0.0:443")]
    pub https_addr: SocketAddr,
    /// Admin listener (`/metrics`, `/healthz`, `/readyz`).
    #[arg(long, env = "ROUTER_ADMIN_ADDR", default_value = "0.0.0.0:1936")]
    pub admin_addr: SocketAddr,
    /// HTTPS port clients use (for redirects); the listener's port when unset.
    #[arg(long, env = "ROUTER_PUBLIC_HTTPS_PORT")]
    pub public_https_port: Option<u16>,
    /// PEM file with the default certificate and key; a self-signed one is generated when unset.
    #[arg(long, env = "DEFAULT_CERTIFICATE_PATH")]
    pub default_certificate: Option<PathBuf>,
    /// Write `status.ingress` of the routes.
    #[arg(long, env = "ROUTER_WRITE_STATUS", default_value_t = true, action = ArgAction::Set)]
    pub write_status: bool,
    /// Namespace of the Lease that elects the one status writer per router name; without it
    /// this replica always writes status.
    #[arg(long, env = "ROUTER_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Log one line per request.
    #[arg(long, env = "ROUTER_ACCESS_LOG", default_value_t = false, action = ArgAction::Set)]
    pub access_log: bool,
    /// Seconds to let open connections finish after SIGTERM.
    #[arg(long, env = "ROUTER_DRAIN_SECONDS", default_value_t = 30)]
    pub drain_seconds: u64,
    /// Host name of the router usable as a CNAME target (`routerCanonicalHostname`).
    #[arg(long, env = "ROUTER_CANONICAL_HOSTNAME")]
    pub canonical_hostname: Option<String>,
}

impl Args {
    /// The admission settings.
    pub fn admission(&self) -> Result<AdmissionConfig, SelectorError> {
        Ok(AdmissionConfig {
            router_name: self.router_name.clone(),
            domain: self.domain.clone().filter(|d| !d.is_empty()),
            route_selector: Selector::parse(&self.route_labels)?,
            namespace_selector: Selector::parse(&self.namespace_labels)?,
            namespace_ownership: if self.disable_namespace_ownership_check {
                NamespaceOwnership::InterNamespaceAllowed
            } else {
                NamespaceOwnership::Strict
            },
            allow_wildcards: self.allow_wildcard_routes,
        })
    }

    /// Drain timeout.
    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flags() {
        let a = Args::try_parse_from([
            "outrigger-router",
            "--router-name",
            "internal",
            "--route-labels",
            "shard=internal",
            "--disable-namespace-ownership-check",
            "true",
        ])
        .expect("parse");
        let adm = a.admission().expect("admission");
        assert_eq!(adm.router_name, "internal");
        assert_eq!(
            adm.namespace_ownership,
            NamespaceOwnership::InterNamespaceAllowed
        );
        assert!(!adm.route_selector.is_empty());
        assert!(a.write_status);
        let bad =
            Args::try_parse_from(["outrigger-router", "--route-labels", "=x"]).expect("parse");
        assert!(bad.admission().is_err());
    }
}
