use super::*;
use pretty_assertions::assert_eq;
use serde_json::json;

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A route created at second `age` (lower = older) with the given spec.
fn mk_route(ns: &str, name: &str, age: u32, spec: serde_json::Value) -> Route {
    serde_json::from_value(json!({
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {
            "name": name, "namespace": ns, "uid": format!("uid-{name}"),
            "creationTimestamp": format!("2026-01-01T00:00:{age:02}Z"),
        },
        "spec": spec,
    }))
    .expect("valid route")
}

fn host_route(ns: &str, name: &str, age: u32, host: &str, path: Option<&str>) -> Route {
    let mut spec = json!({"host": host, "to": {"name": "svc"}});
    if let Some(p) = path {
        spec["path"] = json!(p);
    }
    mk_route(ns, name, age, spec)
}

fn cfg() -> AdmissionConfig {
    AdmissionConfig {
        domain: Some("apps.example.com".into()),
        ..Default::default()
    }
}

fn decide(cfg: &AdmissionConfig, routes: &[Route]) -> Admission {
    admit(cfg, routes, &BTreeMap::new(), &provider())
}

fn decision<'a>(a: &'a Admission, ns: &str, name: &str) -> &'a Decision {
    a.decisions
        .get(&ObjectKey::new(ns, name))
        .expect("decision present")
}

fn rejected(a: &Admission, ns: &str, name: &str) -> (Reason, String) {
    match decision(a, ns, name) {
        Decision::Rejected {
            reason, message, ..
        } => (*reason, message.clone()),
        other => panic!("{ns}/{name} not rejected: {other:?}"),
    }
}

fn admitted_host(a: &Admission, ns: &str, name: &str) -> String {
    match decision(a, ns, name) {
        Decision::Admitted { host, .. } => host.clone(),
        other => panic!("{ns}/{name} not admitted: {other:?}"),
    }
}

#[test]
fn generated_host_and_subdomain() {
    let a = decide(
        &cfg(),
        &[
            mk_route("ns", "my.app", 1, json!({"to": {"name": "svc"}})),
            mk_route(
                "ns",
                "sub",
                2,
                json!({"subdomain": "shop", "to": {"name": "svc"}}),
            ),
            mk_route(
                "ns",
                "explicit",
                3,
                json!({"host": "WWW.Example.com", "subdomain": "x", "to": {"name": "svc"}}),
            ),
        ],
    );
    assert_eq!(
        admitted_host(&a, "ns", "my.app"),
        "my-app-ns.apps.example.com"
    );
    assert_eq!(admitted_host(&a, "ns", "sub"), "shop.apps.example.com");
    assert_eq!(admitted_host(&a, "ns", "explicit"), "www.example.com");
}

#[test]
fn no_host_without_domain() {
    let cfg = AdmissionConfig::default();
    let a = decide(
        &cfg,
        &[mk_route("ns", "r", 1, json!({"to": {"name": "svc"}}))],
    );
    assert_eq!(
        rejected(&a, "ns", "r"),
        (
            Reason::NoHostValue,
            "no host value was defined for the route".into()
        )
    );
}

#[test]
fn invalid_host() {
    let long = "a".repeat(70);
    let a = decide(
        &cfg(),
        &[host_route(
            "ns",
            "r",
            1,
            &format!("{long}.example.com"),
            None,
        )],
    );
    let (reason, message) = rejected(&a, "ns", "r");
    assert_eq!(reason, Reason::InvalidHost);
    assert!(
        message.starts_with("host name validation errors"),
        "{message}"
    );
}

#[test]
fn oldest_claim_wins_same_namespace_same_path() {
    let a = decide(
        &cfg(),
        &[
            host_route("ns", "newer", 5, "www.example.com", None),
            host_route("ns", "older", 1, "www.example.com", None),
        ],
    );
    assert_eq!(admitted_host(&a, "ns", "older"), "www.example.com");
    assert_eq!(
        rejected(&a, "ns", "newer"),
        (
            Reason::HostAlreadyClaimed,
            "route older already exposes www.example.com and is older".into()
        )
    );
    assert_eq!(a.admitted.len(), 1);
}

#[test]
fn uid_breaks_timestamp_ties() {
    let mut b = host_route("ns", "b", 1, "www.example.com", None);
    let mut c = host_route("ns", "c", 1, "www.example.com", None);
    b.metadata.uid = Some("2".into());
    c.metadata.uid = Some("1".into());
    let a = decide(&cfg(), &[b, c]);
    assert_eq!(admitted_host(&a, "ns", "c"), "www.example.com");
    assert_eq!(rejected(&a, "ns", "b").0, Reason::HostAlreadyClaimed);
}

#[test]
fn same_namespace_different_paths_share_a_host() {
    let a = decide(
        &cfg(),
        &[
            host_route("ns", "root", 1, "www.example.com", None),
            host_route("ns", "api", 2, "www.example.com", Some("/api")),
            host_route("ns", "slash", 3, "www.example.com", Some("/")),
        ],
    );
    assert_eq!(admitted_host(&a, "ns", "api"), "www.example.com");
    // "/" is the same path as none
    assert_eq!(rejected(&a, "ns", "slash").0, Reason::HostAlreadyClaimed);
}

#[test]
fn other_namespace_is_blocked_by_ownership() {
    let a = decide(
        &cfg(),
        &[
            host_route("a", "owner", 1, "www.example.com", None),
            host_route("b", "intruder", 2, "www.example.com", Some("/other")),
        ],
    );
    assert_eq!(
        rejected(&a, "b", "intruder"),
        (
            Reason::HostAlreadyClaimed,
            "a route in another namespace holds www.example.com and is older than intruder".into()
        )
    );
}

#[test]
fn inter_namespace_allowed_checks_only_host_and_path() {
    let cfg = AdmissionConfig {
        namespace_ownership: NamespaceOwnership::InterNamespaceAllowed,
        ..cfg()
    };
    let a = decide(
        &cfg,
        &[
            host_route("a", "owner", 1, "www.example.com", None),
            host_route("b", "other-path", 2, "www.example.com", Some("/other")),
            host_route("b", "same-path", 3, "www.example.com", None),
        ],
    );
    assert_eq!(admitted_host(&a, "b", "other-path"), "www.example.com");
    assert_eq!(
        rejected(&a, "b", "same-path"),
        (
            Reason::HostAlreadyClaimed,
            "route owner already exposes www.example.com and is older".into()
        )
    );
}

#[test]
fn deleting_the_owner_admits_the_next_oldest() {
    let owner = host_route("a", "owner", 1, "www.example.com", None);
    let second = host_route("b", "second", 2, "www.example.com", None);
    let a = decide(&cfg(), &[owner.clone(), second.clone()]);
    assert_eq!(rejected(&a, "b", "second").0, Reason::HostAlreadyClaimed);
    let a = decide(&cfg(), &[second]);
    assert_eq!(admitted_host(&a, "b", "second"), "www.example.com");
}

#[test]
fn wildcards_need_permission() {
    let w = mk_route(
        "ns",
        "w",
        1,
        json!({"host": "www.example.com", "wildcardPolicy": "Subdomain", "to": {"name": "svc"}}),
    );
    let a = decide(&cfg(), std::slice::from_ref(&w));
    assert_eq!(
        rejected(&a, "ns", "w"),
        (
            Reason::RouteNotAdmitted,
            "wildcard routes are not allowed".into()
        )
    );
    let allow = AdmissionConfig {
        allow_wildcards: true,
        ..cfg()
    };
    let a = decide(&allow, &[w]);
    assert_eq!(
        decision(&a, "ns", "w"),
        &Decision::Admitted {
            host: "www.example.com".into(),
            wildcard: true,
            problems: vec![]
        }
    );
}

#[test]
fn wildcard_and_plain_routes_of_other_namespaces_block_each_other() {
    let allow = AdmissionConfig {
        allow_wildcards: true,
        ..cfg()
    };
    let wildcard = |ns: &str, age| {
        mk_route(
            ns,
            "w",
            age,
            json!({"host": "www.example.com", "wildcardPolicy": "Subdomain", "to": {"name": "svc"}}),
        )
    };
    // older wildcard blocks a newer plain route of another namespace
    let a = decide(
        &allow,
        &[
            wildcard("a", 1),
            host_route("b", "p", 2, "shop.example.com", None),
        ],
    );
    assert_eq!(
        rejected(&a, "b", "p"),
        (
            Reason::HostAlreadyClaimed,
            "wildcard route a/w is blocking shop.example.com".into()
        )
    );
    // older plain route blocks a newer wildcard of another namespace
    let a = decide(
        &allow,
        &[
            host_route("b", "p", 1, "shop.example.com", None),
            wildcard("a", 2),
        ],
    );
    assert_eq!(
        rejected(&a, "a", "w"),
        (
            Reason::HostAlreadyClaimed,
            "route b/p has host shop.example.com, blocking *.example.com".into()
        )
    );
    // same namespace: both fine
    let a = decide(
        &allow,
        &[
            wildcard("a", 1),
            host_route("a", "p", 2, "shop.example.com", None),
        ],
    );
    assert_eq!(admitted_host(&a, "a", "p"), "shop.example.com");
}

#[test]
fn sharding_by_route_and_namespace_labels() {
    let cfg = AdmissionConfig {
        route_selector: Selector::parse("shard=internal").expect("selector"),
        namespace_selector: Selector::parse("env in (prod)").expect("selector"),
        ..cfg()
    };
    let mut selected = host_route("prod", "in", 1, "a.example.com", None);
    selected.metadata.labels = Some([("shard".to_string(), "internal".to_string())].into());
    let mut other_ns = host_route("dev", "in", 1, "b.example.com", None);
    other_ns.metadata.labels = selected.metadata.labels.clone();
    let unlabelled = host_route("prod", "out", 1, "c.example.com", None);
    let namespaces = BTreeMap::from([
        (
            "prod".to_string(),
            BTreeMap::from([("env".to_string(), "prod".to_string())]),
        ),
        (
            "dev".to_string(),
            BTreeMap::from([("env".to_string(), "dev".to_string())]),
        ),
    ]);
    let a = admit(
        &cfg,
        &[selected, other_ns, unlabelled],
        &namespaces,
        &provider(),
    );
    assert_eq!(admitted_host(&a, "prod", "in"), "a.example.com");
    assert_eq!(decision(&a, "dev", "in"), &Decision::NotSelected);
    assert_eq!(decision(&a, "prod", "out"), &Decision::NotSelected);
}

#[test]
fn not_selected_routes_do_not_claim_hosts() {
    let cfg = AdmissionConfig {
        route_selector: Selector::parse("shard=x").expect("selector"),
        ..cfg()
    };
    let old = host_route("a", "old", 1, "www.example.com", None);
    let mut new = host_route("b", "new", 2, "www.example.com", None);
    new.metadata.labels = Some([("shard".to_string(), "x".to_string())].into());
    let a = decide(&cfg, &[old, new]);
    assert_eq!(admitted_host(&a, "b", "new"), "www.example.com");
}

#[test]
fn broken_certificate_is_extended_validation_failure_and_does_not_claim() {
    let broken = mk_route(
        "a",
        "broken",
        1,
        json!({"host": "www.example.com", "to": {"name": "svc"},
               "tls": {"termination": "edge", "certificate": "nope", "key": "nope"}}),
    );
    let good = host_route("b", "good", 2, "www.example.com", None);
    let a = decide(&cfg(), &[broken, good]);
    let (reason, message) = rejected(&a, "a", "broken");
    assert_eq!(reason, Reason::ExtendedValidationFailed);
    assert!(message.contains("spec.tls.certificate"), "{message}");
    assert_eq!(admitted_host(&a, "b", "good"), "www.example.com");
}

#[test]
fn weights_and_backends() {
    let r = mk_route(
        "ns",
        "ab",
        1,
        json!({"host": "ab.example.com", "to": {"name": "a", "weight": 80},
               "alternateBackends": [{"name": "b", "weight": 20}, {"name": "c", "weight": 0}, {"name": "d"}],
               "port": {"targetPort": "http"}}),
    );
    let a = decide(&cfg(), &[r]);
    let route = &a.admitted[0];
    let weights: Vec<(&str, u32)> = route
        .backends
        .iter()
        .map(|b| (b.service.as_str(), b.weight))
        .collect();
    assert_eq!(weights, vec![("a", 80), ("b", 20), ("c", 0), ("d", 100)]);
    assert_eq!(route.target_port, Some(IntOrString::String("http".into())));
}

#[test]
fn malformed_annotations_still_admit_and_are_reported() {
    let mut r = host_route("ns", "r", 1, "www.example.com", None);
    r.metadata.annotations =
        Some([(annotations::TIMEOUT.to_string(), "forever".to_string())].into());
    let a = decide(&cfg(), &[r]);
    match decision(&a, "ns", "r") {
        Decision::Admitted { problems, .. } => {
            assert_eq!(problems.len(), 1);
            assert!(
                problems[0].contains("haproxy.router.openshift.io/timeout"),
                "{problems:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn upper_case_termination_is_normalised() {
    let r = mk_route(
        "ns",
        "p",
        1,
        json!({"host": "p.example.com", "to": {"name": "svc"}, "tls": {"termination": "Passthrough"}}),
    );
    let a = decide(&cfg(), &[r]);
    let tls = a.admitted[0].tls.as_ref().expect("tls");
    assert_eq!(tls.termination, Termination::Passthrough);
}
