//! `route.openshift.io/v1`: Route.
//!
//! The schema follows the Route CRD that OpenShift itself publishes (fields, defaults, limits,
//! header-action rules), with the `anyOf`/`not` constraints of that CRD expressed as CEL rules
//! whose messages name the fields involved. Two deliberate differences, both more lenient, so
//! that manifests written for OpenShift's aggregated API (which defaulted these) still apply:
//! `spec.tls.termination` may be omitted (the router treats it as `edge`, as OpenShift's API
//! server defaulted it) and may be spelled `Edge`, `Reencrypt` or `Passthrough` (OpenShift's API
//! server lower-cased these; the router does the same), and `spec.to.kind` may be omitted
//! (defaulted to `Service`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::{apis::meta::v1::Time, util::intstr::IntOrString};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Host and subdomain pattern of OpenShift's Route CRD (DNS-1123 labels joined by dots).
/// An empty value is allowed: it means "generate one", as OpenShift's API server did (templates
/// commonly default `host: ${APPLICATION_DOMAIN}` to `""`).
pub const HOST_PATTERN: &str = r"^(|([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}[a-zA-Z0-9]))*)$";

/// Termination values of `spec.tls.termination`.
pub const TERMINATIONS: [&str; 3] = ["edge", "reencrypt", "passthrough"];

/// A Route exposes a Service under a host name (and optional path) through a router.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "route.openshift.io",
    version = "v1",
    kind = "Route",
    plural = "routes",
    singular = "route",
    namespaced,
    cel,
    status = "RouteStatus",
    printcolumn = r#"{"name":"Host","type":"string","jsonPath":".status.ingress[0].host"}"#,
    printcolumn = r#"{"name":"Admitted","type":"string","jsonPath":".status.ingress[0].conditions[?(@.type==\"Admitted\")].status"}"#,
    printcolumn = r#"{"name":"Path","type":"string","jsonPath":".spec.path"}"#,
    printcolumn = r#"{"name":"Services","type":"string","jsonPath":".spec.to.name"}"#,
    printcolumn = r#"{"name":"Port","type":"string","jsonPath":".spec.port.targetPort"}"#,
    printcolumn = r#"{"name":"Termination","type":"string","jsonPath":".spec.tls.termination"}"#,
    printcolumn = r#"{"name":"Wildcard","type":"string","jsonPath":".spec.wildcardPolicy"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.tls) || !has(self.tls.termination) || self.tls.termination.lowerAscii() != 'passthrough' || !has(self.httpHeaders)")
        .message("spec.httpHeaders is not allowed when spec.tls.termination is passthrough"),
    validation = Rule::new("!has(self.tls) || !has(self.tls.termination) || self.tls.termination.lowerAscii() != 'passthrough' || !has(self.path) || self.path == ''")
        .message("spec.path is not allowed when spec.tls.termination is passthrough"),
    validation = Rule::new("!has(self.wildcardPolicy) || self.wildcardPolicy != 'Subdomain' || (has(self.host) && self.host != '')")
        .message("spec.host is required when spec.wildcardPolicy is Subdomain")
)]
pub struct RouteSpec {
    /// Public host name the route serves. Generated from the route and namespace names when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), regex(pattern = HOST_PATTERN))]
    pub host: Option<String>,

    /// DNS label(s) requested under the router's domain; ignored when `host` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), regex(pattern = HOST_PATTERN))]
    pub subdomain: Option<String>,

    /// Path prefix the router matches, starting with `/` (empty means every path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^(/|$)"))]
    #[x_kube(validation = Rule::new("!self.contains('#') && !self.contains(' ')").message("spec.path must not contain '#' or spaces"))]
    pub path: Option<String>,

    /// The primary backend.
    pub to: RouteTargetReference,

    /// Up to three more weighted backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 3))]
    pub alternate_backends: Option<Vec<RouteTargetReference>>,

    /// The endpoint port of the backends to send traffic to; all ports when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<RoutePort>,

    /// TLS termination and certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,

    /// Wildcard policy: `None` or `Subdomain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "None"))]
    #[x_kube(validation = Rule::new("self in ['None', 'Subdomain', '']").message("spec.wildcardPolicy must be one of None, Subdomain"))]
    pub wildcard_policy: Option<String>,

    /// Header actions applied to requests and responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_headers: Option<RouteHttpHeaders>,
}

/// A backend of a route: a Service and its relative weight.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteTargetReference {
    /// Kind of the backend; only `Service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Service"))]
    #[x_kube(validation = Rule::new("self in ['Service', '']").message("the kind of a route backend (spec.to.kind, spec.alternateBackends[].kind) must be Service"))]
    pub kind: Option<String>,

    /// Name of the Service.
    #[schemars(length(min = 1))]
    pub name: String,

    /// Relative weight between 0 and 256; 0 sends no traffic to this backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 256), extend("default" = 100))]
    pub weight: Option<i32>,
}

/// The endpoint port used by the router.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoutePort {
    /// Port number or name on the backend pods.
    #[x_kube(validation = Rule::new("self != 0 && self != ''").message("spec.port.targetPort must be a non-zero port number or a non-empty port name"))]
    pub target_port: IntOrString,
}

/// TLS settings of a route.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.termination) || !has(self.insecureEdgeTerminationPolicy) || self.termination.lowerAscii() != 'passthrough' || self.insecureEdgeTerminationPolicy != 'Allow'")
        .message("spec.tls.insecureEdgeTerminationPolicy Allow is not allowed with spec.tls.termination passthrough (use None or Redirect)"),
    validation = Rule::new("!has(self.termination) || self.termination.lowerAscii() != 'passthrough' || ((!has(self.certificate) || self.certificate == '') && (!has(self.key) || self.key == '') && (!has(self.caCertificate) || self.caCertificate == '') && (!has(self.destinationCACertificate) || self.destinationCACertificate == ''))")
        .message("spec.tls.certificate, key, caCertificate and destinationCACertificate are not allowed with spec.tls.termination passthrough"),
    validation = Rule::new("(has(self.termination) && self.termination.lowerAscii() == 'reencrypt') || !has(self.destinationCACertificate) || self.destinationCACertificate == ''")
        .message("spec.tls.destinationCACertificate is only allowed with spec.tls.termination reencrypt"),
    validation = Rule::new("!(has(self.certificate) && self.certificate != '' && has(self.externalCertificate))")
        .message("spec.tls.certificate and spec.tls.externalCertificate cannot both be set")
)]
pub struct TlsConfig {
    /// Where TLS ends: `edge`, `passthrough` or `reencrypt` (treated as `edge` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.lowerAscii() in ['edge', 'reencrypt', 'passthrough']").message("spec.tls.termination must be one of edge, reencrypt, passthrough"))]
    pub termination: Option<String>,

    /// PEM serving certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,

    /// PEM private key of the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,

    /// PEM CA certificate chain served with the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,

    /// PEM CA that signs the backend's certificate (reencrypt only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "destinationCACertificate")]
    pub destination_ca_certificate: Option<String>,

    /// What to do with plain HTTP: `None`, `Allow` or `Redirect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self in ['Allow', 'None', 'Redirect', '']").message("spec.tls.insecureEdgeTerminationPolicy must be one of Allow, None, Redirect"))]
    pub insecure_edge_termination_policy: Option<String>,

    /// A `kubernetes.io/tls` Secret in the route's namespace holding the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_certificate: Option<LocalObjectReference>,
}

/// A reference to an object in the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    /// Name of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// HTTP header policy of a route.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteHttpHeaders {
    /// Header modifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<RouteHttpHeaderActions>,
}

/// Header modifications for requests and responses.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteHttpHeaderActions {
    /// Up to 20 response header actions, applied in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    #[x_kube(
        merge_strategy = ListMerge::Map(vec!["name".into()]),
        validation = Rule::new(r#"self.all(h, h.action.type == 'Delete' || (has(h.action.set) && h.action.set.value.matches('^(?:%(?:%|(?:\\{[-+]?[QXE](?:,[-+]?[QXE])*\\})?\\[(?:res\\.hdr\\([0-9A-Za-z-]+\\)|ssl_c_der)(?:,(?:lower|base64))*\\])|[^%[:cntrl:]])+$')))"#)
            .message("spec.httpHeaders.actions.response[].action.set.value must be a valid header value; dynamic values may use %[res.hdr(Name)] or %[ssl_c_der] with the converters lower and base64")
    )]
    pub response: Option<Vec<RouteHttpHeader>>,

    /// Up to 20 request header actions, applied in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    #[x_kube(
        merge_strategy = ListMerge::Map(vec!["name".into()]),
        validation = Rule::new(r#"self.all(h, h.action.type == 'Delete' || (has(h.action.set) && h.action.set.value.matches('^(?:%(?:%|(?:\\{[-+]?[QXE](?:,[-+]?[QXE])*\\})?\\[(?:req\\.hdr\\([0-9A-Za-z-]+\\)|ssl_c_der)(?:,(?:lower|base64))*\\])|[^%[:cntrl:]])+$')))"#)
            .message("spec.httpHeaders.actions.request[].action.set.value must be a valid header value; dynamic values may use %[req.hdr(Name)] or %[ssl_c_der] with the converters lower and base64")
    )]
    pub request: Option<Vec<RouteHttpHeader>>,
}

/// One header action.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteHttpHeader {
    /// Header name (RFC 2616 token); HSTS, Proxy, Cookie and Set-Cookie are reserved.
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[-!#$%&'*+.0-9A-Z^_`a-z|~]+$")
    )]
    #[x_kube(validation = Rule::new("!(self.lowerAscii() in ['strict-transport-security', 'proxy', 'cookie', 'set-cookie'])").message("header actions may not modify Strict-Transport-Security, Proxy, Cookie or Set-Cookie"))]
    pub name: String,

    /// What to do with the header.
    pub action: RouteHttpHeaderActionUnion,
}

/// Set or delete a header.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type == 'Set' ? has(self.set) : !has(self.set)").message("action.set is required when action.type is Set, and forbidden when it is Delete"))]
pub struct RouteHttpHeaderActionUnion {
    /// `Set` or `Delete`.
    #[serde(rename = "type")]
    #[x_kube(validation = Rule::new("self in ['Set', 'Delete']").message("action.type must be one of Set, Delete"))]
    pub type_: String,

    /// The value to set (only with `Set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<RouteSetHttpHeader>,
}

/// A header value to set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteSetHttpHeader {
    /// Header value; may use HAProxy `%[...]` fetchers.
    #[schemars(length(min = 1, max = 16384))]
    pub value: String,
}

/// Where a route is exposed, as reported by each router.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    /// One entry per router that considered the route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<RouteIngress>>,
}

/// One router's view of a route.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteIngress {
    /// Host the router serves the route under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Name of the router (shard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_name: Option<String>,
    /// Conditions, e.g. `Admitted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<RouteIngressCondition>>,
    /// Wildcard policy the router allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wildcard_policy: Option<String>,
    /// Host name of the router usable as a CNAME target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_canonical_hostname: Option<String>,
}

/// A condition of a route on one router.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteIngressCondition {
    /// `Admitted` or `UnservableInFutureVersions`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason, e.g. `HostAlreadyClaimed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the condition last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// Annotation OpenShift sets when it generated `spec.host`.
pub const HOST_GENERATED_ANNOTATION: &str = "openshift.io/host.generated";

/// The host OpenShift generates for a route without `spec.host`:
/// `<name with '.' replaced by '-'>-<namespace>.<domain>`.
pub fn generated_host(name: &str, namespace: &str, domain: &str) -> String {
    format!("{}-{}.{}", name.replace('.', "-"), namespace, domain)
}

/// Convenience: the annotations of a route as a map (empty when none).
pub fn annotations(route: &Route) -> BTreeMap<String, String> {
    route.metadata.annotations.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;
    use serde_json::json;

    fn route(spec: serde_json::Value) -> Route {
        serde_json::from_value(json!({
            "apiVersion": "route.openshift.io/v1",
            "kind": "Route",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": spec,
        }))
        .expect("valid route")
    }

    fn messages(r: &Route) -> Vec<String> {
        match Route::validate_cel(r) {
            Ok(()) => vec![],
            Err(e) => e.iter().map(|e| e.message.clone()).collect(),
        }
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let v = json!({
            "apiVersion": "route.openshift.io/v1",
            "kind": "Route",
            "metadata": {"name": "r"},
            "spec": {
                "host": "www.example.com", "path": "/app",
                "to": {"kind": "Service", "name": "a", "weight": 80},
                "alternateBackends": [{"kind": "Service", "name": "b", "weight": 20}],
                "port": {"targetPort": "http"},
                "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect",
                        "certificate": "c", "key": "k", "caCertificate": "ca"},
                "wildcardPolicy": "None",
                "httpHeaders": {"actions": {"request": [{"name": "X-A", "action": {"type": "Set", "set": {"value": "1"}}}],
                                             "response": [{"name": "X-B", "action": {"type": "Delete"}}]}}
            },
            "status": {"ingress": [{"host": "www.example.com", "routerName": "default", "wildcardPolicy": "None",
                                    "routerCanonicalHostname": "router.example.com",
                                    "conditions": [{"type": "Admitted", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}]}
        });
        let r: Route = serde_json::from_value(v.clone()).expect("parse");
        assert_eq!(serde_json::to_value(&r).expect("serialize"), v);
        assert!(messages(&r).is_empty(), "{:?}", messages(&r));
    }

    #[test]
    fn passthrough_rejects_path_certificates_allow_and_headers() {
        let r = route(json!({"to": {"name": "a"}, "path": "/x",
            "tls": {"termination": "passthrough", "key": "k", "insecureEdgeTerminationPolicy": "Allow"},
            "httpHeaders": {"actions": {}}}));
        let m = messages(&r);
        assert!(
            m.iter().any(|m| m.contains("spec.path is not allowed")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|m| m.contains("key and caCertificate") || m.contains("key, caCertificate")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|m| m.contains("insecureEdgeTerminationPolicy Allow")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|m| m.contains("spec.httpHeaders is not allowed")),
            "{m:?}"
        );
    }

    #[test]
    fn destination_ca_only_with_reencrypt() {
        let edge = route(
            json!({"to": {"name": "a"}, "tls": {"termination": "edge", "destinationCACertificate": "x"}}),
        );
        assert!(
            messages(&edge)
                .iter()
                .any(|m| m.contains("only allowed with spec.tls.termination reencrypt"))
        );
        let re = route(
            json!({"to": {"name": "a"}, "tls": {"termination": "reencrypt", "destinationCACertificate": "x"}}),
        );
        assert!(messages(&re).is_empty());
    }

    #[test]
    fn enums_are_named_in_messages() {
        let r = route(
            json!({"to": {"name": "a", "kind": "Pod"}, "wildcardPolicy": "All",
            "tls": {"termination": "Edgy"}}),
        );
        let m = messages(&r);
        assert!(m.iter().any(|m| m.contains("must be Service")), "{m:?}");
        assert!(m.iter().any(|m| m.contains("None, Subdomain")), "{m:?}");
        assert!(
            m.iter().any(|m| m.contains("edge, reencrypt, passthrough")),
            "{m:?}"
        );
    }

    #[test]
    fn upper_case_terminations_are_accepted_as_openshift_did() {
        let r = route(
            json!({"to": {"name": "a"}, "tls": {"termination": "Reencrypt", "destinationCACertificate": "x"}}),
        );
        assert!(messages(&r).is_empty(), "{:?}", messages(&r));
        let r = route(
            json!({"to": {"name": "a"}, "path": "/x", "tls": {"termination": "Passthrough"}}),
        );
        assert!(
            messages(&r)
                .iter()
                .any(|m| m.contains("spec.path is not allowed"))
        );
    }

    #[test]
    fn subdomain_wildcard_needs_host() {
        let r = route(json!({"to": {"name": "a"}, "wildcardPolicy": "Subdomain"}));
        assert!(
            messages(&r)
                .iter()
                .any(|m| m.contains("spec.host is required"))
        );
    }

    #[test]
    fn reserved_and_dynamic_headers() {
        let r = route(json!({"to": {"name": "a"}, "httpHeaders": {"actions": {
            "request": [{"name": "Cookie", "action": {"type": "Delete"}},
                        {"name": "X-Ok", "action": {"type": "Set", "set": {"value": "%[req.hdr(Host),lower]"}}}],
            "response": [{"name": "X-Bad", "action": {"type": "Set", "set": {"value": "%[req.hdr(Host)]"}}},
                         {"name": "X-Missing", "action": {"type": "Set"}}]}}}));
        let m = messages(&r);
        assert!(m.iter().any(|m| m.contains("may not modify")), "{m:?}");
        assert!(
            m.iter().any(|m| m.contains("response[].action.set.value")),
            "{m:?}"
        );
        assert!(
            m.iter().any(|m| m.contains("action.set is required")),
            "{m:?}"
        );
        assert!(
            !m.iter().any(|m| m.contains("request[].action.set.value")),
            "{m:?}"
        );
    }

    #[test]
    fn target_port_zero_or_empty_rejected() {
        let r = route(json!({"to": {"name": "a"}, "port": {"targetPort": 0}}));
        assert!(messages(&r).iter().any(|m| m.contains("targetPort")));
        let r = route(json!({"to": {"name": "a"}, "port": {"targetPort": 8080}}));
        assert!(messages(&r).is_empty());
    }

    #[test]
    fn schema_has_upstream_defaults_and_subresource() {
        let crd = serde_json::to_value(Route::crd()).expect("crd");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(
            spec["properties"]["to"]["properties"]["weight"]["default"],
            json!(100)
        );
        assert_eq!(
            spec["properties"]["to"]["properties"]["kind"]["default"],
            json!("Service")
        );
        assert_eq!(
            spec["properties"]["wildcardPolicy"]["default"],
            json!("None")
        );
        assert_eq!(
            crd["spec"]["versions"][0]["subresources"]["status"],
            json!({})
        );
        assert_eq!(crd["spec"]["scope"], json!("Namespaced"));
    }

    #[test]
    fn host_generation_replaces_dots() {
        assert_eq!(
            generated_host("a.b", "ns", "apps.example.com"),
            "a-b-ns.apps.example.com"
        );
    }
}
