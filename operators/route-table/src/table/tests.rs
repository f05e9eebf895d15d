use super::*;
use crate::admission::{AdmissionConfig, admit};
use outrigger_api::route::Route;
use pretty_assertions::assert_eq;
use serde_json::json;

fn route(ns: &str, name: &str, age: u32, spec: serde_json::Value) -> Route {
    serde_json::from_value(json!({
        "apiVersion": "route.openshift.io/v1", "kind": "Route",
        "metadata": {"name": name, "namespace": ns, "uid": name,
                     "creationTimestamp": format!("2026-01-01T00:00:{age:02}Z")},
        "spec": spec,
    }))
    .expect("route")
}

fn svc(ips: &[&str], port: u16) -> ServiceEndpoints {
    ServiceEndpoints {
        service_ports: Some(vec![ServicePort {
            name: Some("http".into()),
            port: 80,
            target_port: Some(IntOrString::String("http-container".into())),
        }]),
        endpoints: ips
            .iter()
            .map(|ip| ReadyEndpoint {
                ip: ip.parse().expect("ip"),
                ports: vec![EndpointPort {
                    name: Some("http".into()),
                    port,
                }],
            })
            .collect(),
    }
}

fn table(routes: &[Route], services: &[(&str, &str, ServiceEndpoints)]) -> RouteTable {
    let cfg = AdmissionConfig {
        allow_wildcards: true,
        ..Default::default()
    };
    let a = admit(
        &cfg,
        routes,
        &BTreeMap::new(),
        &rustls::crypto::ring::default_provider(),
    );
    let services = services
        .iter()
        .map(|(ns, n, s)| (ObjectKey::new(*ns, *n), s.clone()))
        .collect();
    RouteTable::build(&a.admitted, &services)
}

fn name_of(t: &RouteTable, host: &str, path: &str) -> Option<String> {
    t.lookup(host, path).map(|e| e.key.name.clone())
}

const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[test]
fn host_and_longest_path() {
    let t = table(
        &[
            route(
                "ns",
                "root",
                1,
                json!({"host": "a.example.com", "to": {"name": "s"}}),
            ),
            route(
                "ns",
                "api",
                2,
                json!({"host": "a.example.com", "path": "/api", "to": {"name": "s"}}),
            ),
            route(
                "ns",
                "v1",
                3,
                json!({"host": "a.example.com", "path": "/api/v1", "to": {"name": "s"}}),
            ),
            route(
                "ns",
                "other",
                4,
                json!({"host": "b.example.com", "path": "/only", "to": {"name": "s"}}),
            ),
        ],
        &[("ns", "s", svc(&["10.0.0.1"], 8080))],
    );
    assert_eq!(t.len(), 4);
    assert_eq!(name_of(&t, "a.example.com", "/"), Some("root".into()));
    assert_eq!(name_of(&t, "a.example.com", "/api"), Some("api".into()));
    assert_eq!(name_of(&t, "a.example.com", "/api/x"), Some("api".into()));
    assert_eq!(
        name_of(&t, "a.example.com", "/api/v1/users"),
        Some("v1".into())
    );
    assert_eq!(name_of(&t, "a.example.com", "/apis"), Some("root".into()));
    assert_eq!(
        name_of(&t, "b.example.com", "/only/x"),
        Some("other".into())
    );
    assert_eq!(name_of(&t, "b.example.com", "/"), None);
    assert_eq!(name_of(&t, "c.example.com", "/"), None);
}

#[test]
fn wildcard_matches_one_label_and_exact_wins() {
    let t = table(
        &[
            route(
                "ns",
                "w",
                1,
                json!({"host": "www.example.com", "wildcardPolicy": "Subdomain", "to": {"name": "s"}}),
            ),
            route(
                "ns",
                "shop",
                2,
                json!({"host": "shop.example.com", "to": {"name": "s"}}),
            ),
        ],
        &[("ns", "s", svc(&["10.0.0.1"], 8080))],
    );
    assert_eq!(name_of(&t, "anything.example.com", "/"), Some("w".into()));
    assert_eq!(name_of(&t, "www.example.com", "/"), Some("w".into()));
    assert_eq!(name_of(&t, "shop.example.com", "/"), Some("shop".into()));
    assert_eq!(name_of(&t, "a.b.example.com", "/"), None);
    assert_eq!(name_of(&t, "example.com", "/"), None);
}

#[test]
fn port_resolution() {
    let multi = ServiceEndpoints {
        service_ports: Some(vec![
            ServicePort {
                name: Some("web".into()),
                port: 80,
                target_port: Some(IntOrString::String("web-container".into())),
            },
            ServicePort {
                name: Some("admin".into()),
                port: 9000,
                target_port: Some(IntOrString::String("admin-container".into())),
            },
        ]),
        endpoints: vec![ReadyEndpoint {
            ip: "10.0.0.9".parse().expect("ip"),
            ports: vec![
                EndpointPort {
                    name: Some("admin".into()),
                    port: 9090,
                },
                EndpointPort {
                    name: Some("web".into()),
                    port: 8080,
                },
            ],
        }],
    };
    let addr = |target: serde_json::Value| {
        let mut spec = json!({"host": "p.example.com", "to": {"name": "m"}});
        if !target.is_null() {
            spec["port"] = json!({"targetPort": target});
        }
        let t = table(&[route("ns", "r", 1, spec)], &[("ns", "m", multi.clone())]);
        let e = t.lookup("p.example.com", "/").expect("route");
        e.backends[0]
            .endpoints
            .first()
            .map(|e| e.addr.port())
            .ok_or(e.backends[0].problem.clone())
    };
    assert_eq!(addr(json!(null)), Ok(8080), "first service port");
    assert_eq!(addr(json!("admin")), Ok(9090), "by name");
    assert_eq!(
        addr(json!("admin-container")),
        Ok(9090),
        "by the container port name a Service port targets"
    );
    assert_eq!(addr(json!(9090)), Ok(9090), "by endpoint port number");
    assert_eq!(addr(json!(9000)), Ok(9090), "by service port number");
    assert_eq!(
        addr(json!("nope")),
        Err(Some(BackendProblem::PortNotFound("nope".into())))
    );
}

#[test]
fn missing_service_and_no_endpoints() {
    let t = table(
        &[
            route(
                "ns",
                "ghost",
                1,
                json!({"host": "g.example.com", "to": {"name": "ghost"}}),
            ),
            route(
                "ns",
                "empty",
                2,
                json!({"host": "e.example.com", "to": {"name": "empty"}}),
            ),
        ],
        &[("ns", "empty", svc(&[], 8080))],
    );
    let g = t.lookup("g.example.com", "/").expect("ghost");
    assert_eq!(g.backends[0].problem, Some(BackendProblem::ServiceNotFound));
    assert!(!g.has_endpoints());
    assert!(g.pick(1, CLIENT, None).is_none());
    let e = t.lookup("e.example.com", "/").expect("empty");
    assert_eq!(
        e.backends[0].problem,
        Some(BackendProblem::NoReadyEndpoints)
    );
}

fn weighted(weights: (u32, u32)) -> RouteTable {
    table(
        &[route(
            "ns",
            "ab",
            1,
            json!({"host": "ab.example.com", "to": {"name": "a", "weight": weights.0},
                   "alternateBackends": [{"name": "b", "weight": weights.1}]}),
        )],
        &[
            ("ns", "a", svc(&["10.0.0.1", "10.0.0.2"], 8080)),
            ("ns", "b", svc(&["10.0.1.1"], 8080)),
        ],
    )
}

fn share_of_b(t: &RouteTable, n: u64) -> f64 {
    let e = t.lookup("ab.example.com", "/").expect("route");
    let mut b = 0u64;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..n {
        // xorshift as the random source
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ep = e.pick(x, CLIENT, None).expect("endpoint");
        if ep.endpoint().addr.ip().to_string().starts_with("10.0.1.") {
            b += 1;
        }
    }
    b as f64 / n as f64
}

#[test]
fn weights_split_traffic() {
    let t = weighted((80, 20));
    let share = share_of_b(&t, 10_000);
    assert!((share - 0.2).abs() < 0.02, "share of b {share}");
    assert_eq!(
        t.lookup("ab.example.com", "/").expect("r").balance,
        Balance::RoundRobin
    );
}

#[test]
fn weight_zero_gets_nothing() {
    assert_eq!(share_of_b(&weighted((100, 0)), 1000), 0.0);
    assert_eq!(share_of_b(&weighted((0, 1)), 1000), 1.0);
    let t = weighted((0, 0));
    assert!(
        t.lookup("ab.example.com", "/")
            .expect("r")
            .pick(7, CLIENT, None)
            .is_none()
    );
}

#[test]
fn backend_without_endpoints_gives_its_share_away() {
    let t = table(
        &[route(
            "ns",
            "ab",
            1,
            json!({"host": "ab.example.com", "to": {"name": "a", "weight": 50},
                   "alternateBackends": [{"name": "gone", "weight": 50}]}),
        )],
        &[("ns", "a", svc(&["10.0.0.1"], 8080))],
    );
    let e = t.lookup("ab.example.com", "/").expect("route");
    assert_eq!(e.total_weight, 50);
    for r in 0..100 {
        assert!(e.pick(r, CLIENT, None).is_some());
    }
}

#[test]
fn round_robin_and_leastconn_and_source() {
    let rr = table(
        &[route(
            "ns",
            "r",
            1,
            json!({"host": "r.example.com", "to": {"name": "a"}}),
        )],
        &[("ns", "a", svc(&["10.0.0.1", "10.0.0.2", "10.0.0.3"], 8080))],
    );
    let ann = |balance: &str| {
        let mut r = route(
            "ns",
            "r",
            1,
            json!({"host": "r.example.com", "to": {"name": "a"}}),
        );
        r.metadata.annotations =
            Some([(crate::annotations::BALANCE.to_string(), balance.to_string())].into());
        table(
            &[r],
            &[("ns", "a", svc(&["10.0.0.1", "10.0.0.2", "10.0.0.3"], 8080))],
        )
    };
    // single service without annotation: random
    assert_eq!(
        rr.lookup("r.example.com", "/").expect("r").balance,
        Balance::Random
    );

    let t = ann("roundrobin");
    let e = t.lookup("r.example.com", "/").expect("r");
    let seq: Vec<String> = (0..6)
        .map(|i| {
            e.pick(i, CLIENT, None)
                .expect("ep")
                .endpoint()
                .addr
                .to_string()
        })
        .collect();
    assert_eq!(seq[0..3], seq[3..6]);
    assert_ne!(seq[0], seq[1]);

    let t = ann("leastconn");
    let e = t.lookup("r.example.com", "/").expect("r");
    let held: Vec<InFlight> = (0..3)
        .map(|i| e.pick(i, CLIENT, None).expect("ep"))
        .collect();
    let mut addrs: Vec<_> = held.iter().map(|h| h.endpoint().addr).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 3, "leastconn spreads concurrent requests");
    assert!(held.iter().all(|h| h.endpoint().in_flight() == 1));
    let first = held[0].endpoint().clone();
    drop(held);
    assert_eq!(first.in_flight(), 0);

    let t = ann("source");
    let e = t.lookup("r.example.com", "/").expect("r");
    let a = e.pick(1, CLIENT, None).expect("ep").endpoint().addr;
    for r in 0..20 {
        assert_eq!(e.pick(r, CLIENT, None).expect("ep").endpoint().addr, a);
    }
}

#[test]
fn sticky_cookie_selects_endpoint() {
    let t = weighted((50, 50));
    let e = t.lookup("ab.example.com", "/").expect("route");
    let target = e.backends[1].endpoints[0].clone();
    for r in 0..50 {
        assert_eq!(
            e.pick(r, CLIENT, Some(&target.id))
                .expect("ep")
                .endpoint()
                .addr,
            target.addr
        );
    }
    // unknown cookie values fall back to the normal choice
    assert!(e.pick(3, CLIENT, Some("stale")).is_some());
    assert_eq!(e.cookie_name().len(), 32);
}

#[test]
fn passthrough_and_certificates_by_sni() {
    let c = rcgen::generate_simple_self_signed(vec!["edge.example.com".into()]).expect("rcgen");
    let t = table(
        &[
            route(
                "ns",
                "pt",
                1,
                json!({"host": "pt.example.com", "to": {"name": "s"}, "tls": {"termination": "passthrough"}}),
            ),
            route(
                "ns",
                "edge",
                2,
                json!({"host": "edge.example.com", "to": {"name": "s"},
                "tls": {"termination": "edge", "certificate": c.cert.pem(), "key": c.signing_key.serialize_pem()}}),
            ),
            route(
                "ns",
                "plain",
                3,
                json!({"host": "plain.example.com", "to": {"name": "s"}, "tls": {"termination": "Edge"}}),
            ),
        ],
        &[("ns", "s", svc(&["10.0.0.1"], 8443))],
    );
    assert_eq!(
        t.passthrough("pt.example.com").map(|e| e.key.name.as_str()),
        Some("pt")
    );
    assert!(t.passthrough("edge.example.com").is_none());
    assert!(t.certificate("edge.example.com").is_some());
    assert!(
        t.certificate("plain.example.com").is_none(),
        "no own certificate: default one"
    );
    assert!(t.certificate("pt.example.com").is_none());
    let pt = t.passthrough("pt.example.com").expect("pt");
    assert_eq!(pt.balance, Balance::Source);
}
