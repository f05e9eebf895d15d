//! TLS settings of a route: termination mode, the policy for plain HTTP, and certificate
//! material checked and prepared ahead of time (CPU only, no I/O), so a broken certificate is an
//! `ExtendedValidationFailed` rejection instead of a failed handshake.

use std::sync::Arc;

use outrigger_api::route::TlsConfig;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Where TLS ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    /// The router terminates TLS and talks plain HTTP to the pods.
    Edge,
    /// The router forwards the TLS stream untouched, chosen by SNI.
    Passthrough,
    /// The router terminates TLS and opens a new TLS connection to the pods.
    Reencrypt,
}

impl Termination {
    /// The lower-case spelling used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Termination::Edge => "edge",
            Termination::Passthrough => "passthrough",
            Termination::Reencrypt => "reencrypt",
        }
    }
}

/// What the router does with plain HTTP for a TLS route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InsecurePolicy {
    /// Not served over HTTP.
    #[default]
    None,
    /// Served over HTTP too (edge and reencrypt only).
    Allow,
    /// Redirected to HTTPS.
    Redirect,
}

/// Why a route's TLS settings cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlsError {
    /// `termination` is not edge, passthrough or reencrypt (any case).
    #[error("unsupported termination type {0:?}: must be edge, passthrough or reencrypt")]
    UnknownTermination(String),
    /// `insecureEdgeTerminationPolicy` is not None, Allow or Redirect, or Allow with passthrough.
    #[error("invalid insecureEdgeTerminationPolicy {0:?}")]
    InvalidInsecurePolicy(String),
    /// The certificate PEM has no usable certificate.
    #[error("spec.tls.certificate: {0}")]
    Certificate(String),
    /// The key PEM has no usable private key.
    #[error("spec.tls.key: {0}")]
    Key(String),
    /// A certificate is given without a key or the reverse.
    #[error("spec.tls.certificate and spec.tls.key must be given together")]
    CertificateWithoutKey,
    /// The key does not belong to the certificate, or cannot be used.
    #[error("spec.tls.key does not match spec.tls.certificate: {0}")]
    KeyMismatch(String),
    /// The CA certificate PEM has no usable certificate.
    #[error("spec.tls.caCertificate: {0}")]
    CaCertificate(String),
    /// The destination CA PEM has no usable certificate.
    #[error("spec.tls.destinationCACertificate: {0}")]
    DestinationCa(String),
    /// Certificates from a Secret are not supported by this router yet.
    #[error("spec.tls.externalCertificate is not supported by this router")]
    ExternalCertificate,
}

impl TlsError {
    /// Stable category for logs and metrics.
    pub fn category(&self) -> &'static str {
        match self {
            TlsError::UnknownTermination(_) | TlsError::InvalidInsecurePolicy(_) => {
                "InvalidTlsSettings"
            }
            TlsError::ExternalCertificate => "Unsupported",
            _ => "InvalidCertificate",
        }
    }
}

/// The prepared TLS settings of a route.
#[derive(Clone, Debug)]
pub struct RouteTls {
    /// Termination mode.
    pub termination: Termination,
    /// Plain HTTP policy.
    pub insecure: InsecurePolicy,
    /// The route's own serving certificate (edge/reencrypt); `None` = the router's default.
    pub certified_key: Option<Arc<CertifiedKey>>,
    /// CA certificates that sign the pods' certificates (reencrypt); empty = system roots.
    pub destination_ca: Vec<CertificateDer<'static>>,
}

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    let certs = certs.map_err(|e| format!("invalid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM certificate found".into());
    }
    for c in &certs {
        rustls::server::ParsedCertificate::try_from(c)
            .map_err(|e| format!("invalid certificate: {e}"))?;
    }
    Ok(certs)
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Parses the termination (absent = edge, upper-case spellings accepted like OpenShift did).
pub fn termination(tls: &TlsConfig) -> Result<Termination, TlsError> {
    match tls.termination.as_deref().map(str::trim) {
        None | Some("") => Ok(Termination::Edge),
        Some(t) => match t.to_ascii_lowercase().as_str() {
            "edge" => Ok(Termination::Edge),
            "passthrough" => Ok(Termination::Passthrough),
            "reencrypt" => Ok(Termination::Reencrypt),
            _ => Err(TlsError::UnknownTermination(t.to_string())),
        },
    }
}

/// Checks and prepares a route's `spec.tls`.
pub fn prepare(tls: &TlsConfig, provider: &CryptoProvider) -> Result<RouteTls, TlsError> {
    let termination = termination(tls)?;
    let insecure = match tls
        .insecure_edge_termination_policy
        .as_deref()
        .map(str::trim)
    {
        None | Some("") | Some("None") => InsecurePolicy::None,
        Some("Redirect") => InsecurePolicy::Redirect,
        Some("Allow") if termination != Termination::Passthrough => InsecurePolicy::Allow,
        Some(other) => return Err(TlsError::InvalidInsecurePolicy(other.to_string())),
    };
    if termination == Termination::Passthrough {
        return Ok(RouteTls {
            termination,
            insecure,
            certified_key: None,
            destination_ca: Vec::new(),
        });
    }
    if tls
        .external_certificate
        .as_ref()
        .is_some_and(|r| r.name.as_deref().is_some_and(|n| !n.is_empty()))
    {
        return Err(TlsError::ExternalCertificate);
    }
    let certified_key = match (non_empty(&tls.certificate), non_empty(&tls.key)) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => return Err(TlsError::CertificateWithoutKey),
        (Some(cert), Some(key)) => {
            let mut chain = certs(cert).map_err(TlsError::Certificate)?;
            if let Some(ca) = non_empty(&tls.ca_certificate) {
                chain.extend(certs(ca).map_err(TlsError::CaCertificate)?);
            }
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                .map_err(|e| TlsError::Key(format!("no usable PEM private key: {e}")))?;
            let ck = CertifiedKey::from_der(chain, key, provider)
                .map_err(|e| TlsError::KeyMismatch(e.to_string()))?;
            Some(Arc::new(ck))
        }
    };
    let destination_ca = match non_empty(&tls.destination_ca_certificate) {
        Some(pem) if termination == Termination::Reencrypt => {
            certs(pem).map_err(TlsError::DestinationCa)?
        }
        _ => Vec::new(),
    };
    Ok(RouteTls {
        termination,
        insecure,
        certified_key,
        destination_ca,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> CryptoProvider {
        rustls::crypto::ring::default_provider()
    }

    fn self_signed(host: &str) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec![host.to_string()]).expect("rcgen");
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn cfg(termination: Option<&str>) -> TlsConfig {
        TlsConfig {
            termination: termination.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn termination_defaults_and_case() {
        assert_eq!(termination(&cfg(None)), Ok(Termination::Edge));
        assert_eq!(
            termination(&cfg(Some("Passthrough"))),
            Ok(Termination::Passthrough)
        );
        assert_eq!(
            termination(&cfg(Some("Reencrypt"))),
            Ok(Termination::Reencrypt)
        );
        assert!(matches!(
            termination(&cfg(Some("edgy"))),
            Err(TlsError::UnknownTermination(_))
        ));
    }

    #[test]
    fn edge_without_certificate_uses_default() {
        let t = prepare(&cfg(Some("edge")), &provider()).expect("prepare");
        assert!(t.certified_key.is_none());
        assert_eq!(t.insecure, InsecurePolicy::None);
    }

    #[test]
    fn edge_with_matching_certificate() {
        let (cert, key) = self_signed("a.example.com");
        let (ca, _) = self_signed("ca.example.com");
        let t = TlsConfig {
            certificate: Some(cert),
            key: Some(key),
            ca_certificate: Some(ca),
            insecure_edge_termination_policy: Some("Redirect".into()),
            ..cfg(Some("edge"))
        };
        let t = prepare(&t, &provider()).expect("prepare");
        assert_eq!(t.certified_key.expect("key").cert.len(), 2);
        assert_eq!(t.insecure, InsecurePolicy::Redirect);
    }

    #[test]
    fn broken_certificates_are_errors() {
        let (cert, key) = self_signed("a.example.com");
        let (_, other_key) = self_signed("b.example.com");
        let p = provider();
        let bad = |c: &str, k: &str| {
            prepare(
                &TlsConfig {
                    certificate: Some(c.into()),
                    key: Some(k.into()),
                    ..cfg(None)
                },
                &p,
            )
            .expect_err("must fail")
        };
        assert!(matches!(bad("garbage", &key), TlsError::Certificate(_)));
        assert!(matches!(bad(&cert, "garbage"), TlsError::Key(_)));
        assert!(matches!(bad(&cert, &other_key), TlsError::KeyMismatch(_)));
        let truncated = &cert[..cert.len() / 2];
        assert!(matches!(bad(truncated, &key), TlsError::Certificate(_)));
        let only_cert = TlsConfig {
            certificate: Some(cert.clone()),
            ..cfg(None)
        };
        assert_eq!(
            prepare(&only_cert, &p).expect_err("fail"),
            TlsError::CertificateWithoutKey
        );
    }

    #[test]
    fn reencrypt_destination_ca() {
        let (ca, _) = self_signed("svc.ns.svc");
        let t = TlsConfig {
            destination_ca_certificate: Some(ca),
            ..cfg(Some("reencrypt"))
        };
        assert_eq!(
            prepare(&t, &provider())
                .expect("prepare")
                .destination_ca
                .len(),
            1
        );
        let t = TlsConfig {
            destination_ca_certificate: Some("nope".into()),
            ..cfg(Some("reencrypt"))
        };
        assert!(matches!(
            prepare(&t, &provider()),
            Err(TlsError::DestinationCa(_))
        ));
    }

    #[test]
    fn passthrough_policies() {
        let allow = TlsConfig {
            insecure_edge_termination_policy: Some("Allow".into()),
            ..cfg(Some("passthrough"))
        };
        assert!(matches!(
            prepare(&allow, &provider()),
            Err(TlsError::InvalidInsecurePolicy(_))
        ));
        let redirect = TlsConfig {
            insecure_edge_termination_policy: Some("Redirect".into()),
            ..cfg(Some("passthrough"))
        };
        assert_eq!(
            prepare(&redirect, &provider()).expect("ok").insecure,
            InsecurePolicy::Redirect
        );
    }
}
