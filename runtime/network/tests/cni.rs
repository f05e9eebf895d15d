//! Root-only integration tests with the real CNI plugins (bridge, host-local, portmap,
//! loopback) from /usr/lib/cni. They skip themselves (with a printed reason) when not root or
//! when the plugins / iptables are missing. Everything created is removed by Drop guards.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use outrigger_network::{
    Cni, PodNetwork, PortMapping, connect_in_netns, create_netns, remove_netns, run_in_netns,
};

const BRIDGE: &str = "ortest0";
const SUBNET_PREFIX: &str = "10.233.77.";
const HOST_PORT: u16 = 18931;

fn skip_reason(need_cni: bool) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root".into());
    }
    if need_cni {
        for p in [
            "/usr/lib/cni/bridge",
            "/usr/lib/cni/host-local",
            "/usr/lib/cni/portmap",
        ] {
            if !Path::new(p).is_file() {
                return Some(format!("{p} missing"));
            }
        }
        if Command::new("iptables").arg("--version").output().is_err() {
            return Some("iptables missing".into());
        }
        let routes = sh("ip", &["route"]);
        if routes.contains(SUBNET_PREFIX) {
            return Some(format!("{SUBNET_PREFIX}0/24 already routed"));
        }
        if Command::new("ip")
            .args(["link", "show", BRIDGE])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(format!("bridge {BRIDGE} already exists"));
        }
    }
    None
}

fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn my_netns() -> PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").unwrap()
}

/// Removes a netns on drop.
struct NetnsGuard(PathBuf);
impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = remove_netns(&self.0);
    }
}

#[test]
fn netns_lifecycle() {
    if let Some(r) = skip_reason(false) {
        eprintln!("skipping netns_lifecycle: {r}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let before = my_netns();
    let ns = create_netns(dir.path(), "lifecycle").unwrap();
    let _guard = NetnsGuard(ns.path.clone());
    assert_eq!(my_netns(), before, "caller's thread must stay in its netns");
    // A second create with the same name fails and leaves the first intact.
    assert!(create_netns(dir.path(), "lifecycle").is_err());
    // The new namespace differs from ours and only has lo (down).
    let inside = run_in_netns(&ns.path, my_netns).unwrap();
    assert_ne!(inside, before);
    let links = sh(
        "nsenter",
        &[&format!("--net={}", ns.path.display()), "ip", "-o", "link"],
    );
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:"), "{links}");
    // lo is down: nothing can connect inside yet.
    assert!(connect_in_netns(&ns.path, 80, Duration::from_millis(200)).is_err());
    remove_netns(&ns.path).unwrap();
    assert!(!ns.path.exists());
    remove_netns(&ns.path).unwrap();
}

/// Tears the pod down, removes netns, bridge and (if we created them) portmap's shared chains,
/// and restores ip_forward — also when the test fails.
struct PodGuard {
    cni: Cni,
    pod: PodNetwork,
    ip_forward: String,
    hostport_chains_existed: bool,
}

impl Drop for PodGuard {
    fn drop(&mut self) {
        let cni = self.cni.clone();
        let pod = self.pod.clone();
        // A thread with its own runtime, so this works inside or outside a runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            if let Err(e) = rt.block_on(cni.teardown(&pod)) {
                eprintln!("guard teardown: {e}");
            }
        })
        .join();
        let _ = remove_netns(&self.pod.netns);
        let _ = Command::new("ip").args(["link", "del", BRIDGE]).output();
        if !self.hostport_chains_existed {
            remove_hostport_chains();
        }
        // The bridge plugin (isGateway) sets ip_forward=1. Put back what we found, unless the
        // local cluster (cni0) appeared meanwhile and needs forwarding.
        let cluster = Command::new("ip")
            .args(["link", "show", "cni0"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !cluster {
            let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", &self.ip_forward);
        }
    }
}

fn hostport_chains_exist() -> bool {
    sh("iptables", &["-t", "nat", "-S"]).contains("CNI-HOSTPORT-")
}

/// Deletes the jumps to portmap's shared CNI-HOSTPORT-* chains and the chains themselves
/// (only called when they did not exist before the test).
fn remove_hostport_chains() {
    // Someone else (the local cluster) uses them meanwhile: leave them.
    let dnat = sh("iptables", &["-t", "nat", "-S", "CNI-HOSTPORT-DNAT"]);
    if dnat.lines().count() > 1 {
        return;
    }
    let rules = sh("iptables", &["-t", "nat", "-S"]);
    for line in rules.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"-A")
            && words.get(1).is_some_and(|c| !c.starts_with("CNI-"))
            && line.contains("-j CNI-HOSTPORT-")
        {
            // `iptables -S` quotes comments for a shell: let sh split the rule.
            let delete = format!("iptables -t nat -D {}", &line[3..]);
            let _ = Command::new("sh").args(["-c", &delete]).output();
        }
    }
    for chain in [
        "CNI-HOSTPORT-DNAT",
        "CNI-HOSTPORT-SETMARK",
        "CNI-HOSTPORT-MASQ",
    ] {
        let _ = Command::new("iptables")
            .args(["-t", "nat", "-F", chain])
            .output();
        let _ = Command::new("iptables")
            .args(["-t", "nat", "-X", chain])
            .output();
    }
}

fn read_line(mut s: TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"ping\n").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_portmap_end_to_end() {
    if let Some(r) = skip_reason(true) {
        eprintln!("skipping bridge_portmap_end_to_end: {r}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("net.d");
    std::fs::create_dir(&conf).unwrap();
    let data_dir = tmp.path().join("ipam");
    std::fs::write(
        conf.join("10-ortest.conflist"),
        format!(
            r#"{{"cniVersion":"1.0.0","name":"ortest","plugins":[
              {{"type":"bridge","bridge":"{BRIDGE}","isGateway":true,"ipMasq":false,
                "ipam":{{"type":"host-local","dataDir":"{}","ranges":[[{{"subnet":"{SUBNET_PREFIX}0/24"}}]],
                         "routes":[{{"dst":"0.0.0.0/0"}}]}}}},
              {{"type":"portmap","capabilities":{{"portMappings":true}}}}]}}"#,
            data_dir.display()
        ),
    )
    .unwrap();
    let cni = Cni::new(
        &conf,
        vec![PathBuf::from("/usr/lib/cni")],
        &tmp.path().join("cache"),
    )
    .with_timeout(Duration::from_secs(30));
    cni.status().unwrap();

    let ns = create_netns(&tmp.path().join("netns"), "ortest-pod").unwrap();
    let pod = PodNetwork {
        id: "ortest-sandbox-0123456789".into(),
        netns: ns.path.clone(),
        ifname: "eth0".into(),
        pod_name: "web".into(),
        pod_namespace: "ortest".into(),
        pod_uid: "0000-1111".into(),
        port_mappings: vec![PortMapping {
            host_port: HOST_PORT,
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: String::new(),
        }],
    };
    let guard = PodGuard {
        cni: cni.clone(),
        pod: pod.clone(),
        ip_forward: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        hostport_chains_existed: hostport_chains_exist(),
    };

    // A second pod, set up concurrently with the first.
    let ns2 = create_netns(&tmp.path().join("netns"), "ortest-pod2").unwrap();
    let pod2 = PodNetwork {
        id: "ortest-sandbox-second".into(),
        netns: ns2.path.clone(),
        pod_name: "second".into(),
        port_mappings: Vec::new(),
        ..pod.clone()
    };
    let guard2 = PodGuard {
        cni: cni.clone(),
        pod: pod2.clone(),
        ip_forward: guard.ip_forward.clone(),
        hostport_chains_existed: guard.hostport_chains_existed,
    };

    let (status, status2) = tokio::join!(cni.setup(&pod), cni.setup(&pod2));
    let (status, status2) = (status.unwrap(), status2.unwrap());
    assert_ne!(status.ips[0], status2.ips[0], "distinct pod IPs");
    assert_eq!(cni.cached_status(&pod.id).unwrap(), Some(status.clone()));
    let IpAddr::V4(pod_ip) = status.ips[0] else {
        panic!("expected IPv4 first: {:?}", status.ips)
    };
    assert!(pod_ip.to_string().starts_with(SUBNET_PREFIX), "{pod_ip}");
    assert!(data_dir.join("ortest").join(pod_ip.to_string()).is_file());

    // An echo-ish server inside the pod: answers every connection with "hello <n>".
    let listener = run_in_netns(&ns.path, || {
        TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 80))
    })
    .unwrap()
    .unwrap();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut c) = conn else { break };
            // read the client's line first: closing with unread data would send a RST that
            // can beat our answer to the client
            let mut line = String::new();
            if let Ok(r) = c.try_clone() {
                let _ = BufReader::new(r).read_line(&mut line);
            }
            let _ = writeln!(c, "hello {n}");
        }
    });

    let line = tokio::task::spawn_blocking(move || {
        let direct = read_line(
            TcpStream::connect_timeout(&SocketAddr::new(pod_ip.into(), 80), Duration::from_secs(5))
                .unwrap(),
        );
        let via_hostport = read_line(
            TcpStream::connect_timeout(
                &SocketAddr::new(Ipv4Addr::LOCALHOST.into(), HOST_PORT),
                Duration::from_secs(5),
            )
            .unwrap(),
        );
        (direct, via_hostport)
    })
    .await
    .unwrap();
    assert!(line.0.starts_with("hello"), "pod IP: {:?}", line.0);
    assert!(
        line.1.starts_with("hello"),
        "hostPort on 127.0.0.1: {:?}",
        line.1
    );

    // Port-forward path: connect on the pod's own loopback (brought up by the loopback plugin).
    let s = connect_in_netns(&ns.path, 80, Duration::from_secs(5)).unwrap();
    assert!(read_line(s).starts_with("hello"));

    let nat = sh("iptables-save", &["-t", "nat"]);
    assert!(
        nat.contains(&pod.id),
        "portmap rules for the pod expected:\n{nat}"
    );

    cni.teardown(&pod).await.unwrap();
    assert!(
        !data_dir.join("ortest").join(pod_ip.to_string()).exists(),
        "IP released"
    );
    let nat = sh("iptables-save", &["-t", "nat"]);
    assert!(!nat.contains(&pod.id), "portmap rules left:\n{nat}");
    assert!(!tmp.path().join("cache").join(&pod.id).exists());
    // Idempotent, also without the netns.
    remove_netns(&ns.path).unwrap();
    cni.teardown(&pod).await.unwrap();
    cni.teardown(&pod2).await.unwrap();
    assert!(
        !data_dir
            .join("ortest")
            .join(status2.ips[0].to_string())
            .exists(),
        "second pod's IP released"
    );

    drop(guard2);
    drop(guard);
    assert!(!ns2.path.exists());
    assert!(!ns.path.exists());
    assert!(
        !Command::new("ip")
            .args(["link", "show", BRIDGE])
            .output()
            .unwrap()
            .status
            .success(),
        "bridge removed"
    );
}
