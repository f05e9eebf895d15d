//! Interop with the real client-go clients (SPDY and WebSocket executors,
//! SPDY and SPDY-over-WebSocket port-forward), built from tests/goclient.
//! Skips itself (with a message) when `go` is not installed or cannot build.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;

use outrigger_streaming::PortForwardRequest;
use tokio::io::AsyncWriteExt;

fn goclient() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/goclient");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("outrigger-streaming-goclient");
        let status = std::process::Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(&src)
            .env("GOFLAGS", "-mod=mod")
            .status();
        match status {
            Ok(s) if s.success() => Some(out),
            Ok(s) => {
                println!("SKIP: building the Go client failed ({s})");
                None
            }
            Err(e) => {
                println!("SKIP: go is not available: {e}");
                None
            }
        }
    })
    .clone()
}

struct Outcome {
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn result(&self) -> &str {
        self.stderr
            .rsplit_once("RESULT ")
            .map(|(_, r)| r.trim_end())
            .unwrap_or_else(|| panic!("no RESULT line; stderr: {}", self.stderr))
    }
}

async fn run(bin: &PathBuf, args: &[&str], stdin: &[u8]) -> Outcome {
    let mut child = tokio::process::Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut i = child.stdin.take().unwrap();
    i.write_all(stdin).await.unwrap();
    drop(i);
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("go client hung")
        .unwrap();
    Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn exec_case(mode: &str) {
    let Some(bin) = goclient() else { return };
    let (srv, _rt) = common::start().await;

    let url = srv.exec_url(common::exec_req(&["echo-stdin", "7"], true, false));
    let o = run(&bin, &[mode, &url], b"hello from go\n").await;
    assert_eq!(o.stdout, "hello from go\n", "stderr: {}", o.stderr);
    assert!(o.stderr.contains("err:7"), "stderr: {}", o.stderr);
    assert_eq!(o.result(), "exit=7");

    let url = srv.exec_url(common::exec_req(&["echo-stdin", "0"], true, false));
    let o = run(&bin, &[mode, &url], b"zero").await;
    assert_eq!(o.stdout, "zero");
    assert_eq!(o.result(), "exit=0");

    let url = srv.exec_url(common::exec_req(&["fail", "container gone"], false, false));
    let o = run(&bin, &[mode, &url], b"").await;
    assert!(o.result().starts_with("error="), "{}", o.stderr);
    assert!(o.result().contains("container gone"), "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_spdy_exec() {
    exec_case("exec").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_websocket_exec() {
    exec_case("wsexec").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_spdy_exec_tty_opens_resize_stream() {
    let Some(bin) = goclient() else { return };
    let (srv, _rt) = common::start().await;
    let url = srv.exec_url(common::exec_req(&["echo-stdin", "0"], true, true));
    let o = run(&bin, &["exec", &url, "tty"], b"tty in").await;
    assert_eq!(o.stdout, "tty in", "stderr: {}", o.stderr);
    assert_eq!(o.result(), "exit=0");
}

async fn pf_case(mode: &str) {
    let Some(bin) = goclient() else { return };
    let (srv, rt) = common::start().await;
    let echo = common::echo_server().await;
    let port = echo.port().to_string();
    let url = srv.port_forward_url(PortForwardRequest {
        pod_sandbox_id: "sb-go".into(),
        ports: vec![echo.port()],
    });
    let o = run(&bin, &[mode, &url, &port, "through-the-tunnel"], b"").await;
    assert_eq!(
        o.stdout, "through-the-tunnel-0\nthrough-the-tunnel-1\n",
        "stderr: {}",
        o.stderr
    );
    let f = rt.forwarded.lock().unwrap().clone();
    assert_eq!(f.len(), 2);
    assert!(f.iter().all(|(sb, p)| sb == "sb-go" && *p == echo.port()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_spdy_port_forward() {
    pf_case("portforward").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_spdy_over_websocket_port_forward() {
    pf_case("wsportforward").await;
}
