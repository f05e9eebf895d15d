//! `outrigger-cri`: Outrigger's CRI container runtime.
//!
//! One binary: the daemon (`outrigger-cri --listen unix:///run/outrigger/cri.sock ...`) serving
//! the CRI RuntimeService and ImageService over gRPC, plus three hidden subcommands it re-executes
//! itself as: `monitor` (one per container: owns its stdio, log and exit status), `init` (sets a
//! container up and execs its process) and `enter` (runs a command inside a running container).
#![deny(unsafe_code)]

mod admin;
mod attach;
mod deadline;
mod error;
mod metrics;
mod podmetrics;
mod procs;
mod resources;
mod runtime;
mod service;
mod spec;
mod state;
mod stream;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use outrigger_cri_proto::image_service_server::ImageServiceServer;
use outrigger_cri_proto::runtime_service_server::RuntimeServiceServer;

/// Command line of the daemon.
#[derive(Parser, Debug)]
#[command(
    name = "outrigger-cri",
    version,
    about = "Outrigger's CRI container runtime"
)]
struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// gRPC endpoint (`unix:///path` or a path).
    #[arg(long, default_value = "unix:///run/outrigger/cri.sock")]
    listen: String,
    /// Persistent state: images, pod and container records.
    #[arg(long, default_value = "/var/lib/outrigger-cri")]
    root: PathBuf,
    /// Run-time state (netns files, attach sockets); emptied by a reboot.
    #[arg(long, default_value = "/run/outrigger-cri")]
    state_dir: PathBuf,
    /// containerd-style `hosts.toml` tree (`<dir>/<registry>/hosts.toml`) with mirrors.
    #[arg(long)]
    registry_config: Option<PathBuf>,
    #[arg(long, default_value = "/etc/cni/net.d")]
    cni_conf_dir: PathBuf,
    /// CNI plugin directories (repeat or separate with ':').
    #[arg(long, default_value = "/opt/cni/bin:/usr/lib/cni")]
    cni_bin_dir: Vec<String>,
    /// Accepted for compatibility: pods hold their namespaces with a built-in pause process.
    #[arg(long)]
    sandbox_image: Option<String>,
    /// Parent cgroup for pods whose config names none.
    #[arg(long, default_value = "/outrigger")]
    cgroup_parent: String,
    /// Address of the streaming server (exec/attach/port-forward).
    #[arg(long, default_value = "127.0.0.1:0")]
    stream_address: std::net::SocketAddr,
    /// Address of /metrics, /healthz and /readyz (empty: off).
    #[arg(long, default_value = "127.0.0.1:10940")]
    admin_address: String,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// (internal) per-container monitor
    #[command(hide = true)]
    Monitor { config: PathBuf },
    /// (internal) container init
    #[command(hide = true)]
    Init { config: PathBuf },
    /// (internal) run a command in a running container
    #[command(hide = true)]
    Enter { config: PathBuf },
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The helpers run before any thread exists (they fork and join namespaces).
    match &args.cmd {
        Some(Cmd::Monitor { config }) => return code(outrigger_monitor::monitor_main(config)),
        Some(Cmd::Init { config }) => {
            if std::env::var_os(outrigger_monitor::TTY_ENV).is_some_and(|v| v == "1") {
                if let Err(e) = take_controlling_tty() {
                    eprintln!("outrigger-cri init: making the pty the controlling terminal: {e}");
                    return ExitCode::from(1);
                }
            }
            return code(outrigger_container::init_main(config));
        }
        Some(Cmd::Enter { config }) => return code(outrigger_container::enter_main(config)),
        None => {}
    }
    init_logging(args.log_json);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("outrigger-cri: starting tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "outrigger-cri failed");
            eprintln!("outrigger-cri: {e}");
            ExitCode::FAILURE
        }
    }
}

/// For tty containers the monitor passes a pty slave as fds 0-2: become a session leader with it
/// as controlling terminal (the container process forked by init inherits both).
#[allow(unsafe_code)]
fn take_controlling_tty() -> std::io::Result<()> {
    nix::unistd::setsid().map_err(std::io::Error::from)?;
    // SAFETY: ioctl(TIOCSCTTY) on fd 0 with an integer argument; no memory is passed.
    let r = unsafe { libc::ioctl(0, libc::TIOCSCTTY as _, 0) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn code(c: i32) -> ExitCode {
    ExitCode::from(u8::try_from(c.clamp(0, 255)).unwrap_or(255))
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let socket = args
        .listen
        .strip_prefix("unix://")
        .unwrap_or(&args.listen)
        .to_string();
    let cni_bin_dirs = args
        .cni_bin_dir
        .iter()
        .flat_map(|s| s.split(':'))
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect();
    let cfg = runtime::Config {
        root: args.root.clone(),
        state_dir: args.state_dir.clone(),
        registry_config: args.registry_config.clone(),
        cni_conf_dir: args.cni_conf_dir.clone(),
        cni_bin_dirs,
        default_cgroup_parent: args.cgroup_parent.clone(),
        exe,
        host_resolv_conf: PathBuf::from("/etc/resolv.conf"),
    };
    let rt = Arc::new(runtime::Runtime::new(cfg).map_err(|e| anyhow::anyhow!("{e}"))?);
    let stream = outrigger_streaming::StreamServer::start(
        outrigger_streaming::ServerConfig {
            addr: args.stream_address,
            base_url: None,
        },
        Arc::new(stream::Streamer(rt.clone())),
    )
    .await?;
    tracing::info!(address = %stream.local_addr(), "streaming server listening");
    let _ = rt.stream.set(stream);

    let metrics = Arc::new(metrics::Metrics::default());
    if !args.admin_address.is_empty() {
        admin::spawn(&args.admin_address, rt.clone(), metrics.clone()).await?;
    }
    let svc = service::Service {
        rt: rt.clone(),
        metrics,
    };

    if let Some(dir) = std::path::Path::new(&socket).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket)?;
    tracing::info!(socket = %socket, root = %args.root.display(), "serving the CRI");
    const MAX_MSG: usize = 16 << 20;
    tonic::transport::Server::builder()
        .layer(deadline::DeadlineLayer)
        .add_service(
            RuntimeServiceServer::new(svc.clone())
                .max_decoding_message_size(MAX_MSG)
                .max_encoding_message_size(MAX_MSG),
        )
        .add_service(
            ImageServiceServer::new(svc)
                .max_decoding_message_size(MAX_MSG)
                .max_encoding_message_size(MAX_MSG),
        )
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::UnixListenerStream::new(listener),
            shutdown(),
        )
        .await?;
    let _ = std::fs::remove_file(&socket);
    tracing::info!("stopped; pods keep running");
    Ok(())
}

async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
