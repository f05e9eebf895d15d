//! The CRI streaming server of Outrigger's container runtime.
//!
//! The CRI `Exec`, `Attach` and `PortForward` RPCs answer with a URL on this
//! server ([`StreamServer::exec_url`] etc.); the client (kubelet proxying
//! kube-apiserver, or critest) then connects to it and upgrades the HTTP/1.1
//! connection to either
//! * SPDY/3.1 (client-go's default; `X-Stream-Protocol-Version`
//!   `v4.channel.k8s.io` .. `channel.k8s.io`, or `portforward.k8s.io`), or
//! * WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`, `channel.k8s.io`,
//!   their base64 text variants `v4.base64.channel.k8s.io` and
//!   `base64.channel.k8s.io`, `portforward.k8s.io`, and the SPDY tunnel
//!   `SPDY/3.1+portforward.k8s.io`).
//!
//! The daemon supplies the actual work through the [`Runtime`] trait.
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

pub mod cache;
mod server;
mod session;
pub mod spdy;
pub mod status;
pub mod ws;

pub use server::{ServerConfig, StreamServer};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A cached CRI `ExecRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// Container to run the command in.
    pub container_id: String,
    /// Command and arguments.
    pub cmd: Vec<String>,
    /// Allocate a terminal (stderr is then merged into stdout).
    pub tty: bool,
    /// Stream stdin.
    pub stdin: bool,
    /// Stream stdout.
    pub stdout: bool,
    /// Stream stderr (ignored when `tty`).
    pub stderr: bool,
}

/// A cached CRI `AttachRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachRequest {
    /// Container to attach to.
    pub container_id: String,
    /// The container has a terminal.
    pub tty: bool,
    /// Stream stdin.
    pub stdin: bool,
    /// Stream stdout.
    pub stdout: bool,
    /// Stream stderr (ignored when `tty`).
    pub stderr: bool,
}

/// A cached CRI `PortForwardRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForwardRequest {
    /// Sandbox whose network namespace the ports live in.
    pub pod_sandbox_id: String,
    /// Ports the client may forward (empty: any).
    pub ports: Vec<u16>,
}

/// A terminal size sent by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// The client's streams handed to the runtime for one exec/attach.
///
/// Dropping (or shutting down) a writer ends that stream for the client;
/// `stdin` reads EOF when the client closes its stdin.
#[derive(Default)]
pub struct StreamIo {
    /// The client's stdin, if requested.
    pub stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Where to write the process's stdout, if requested.
    pub stdout: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// Where to write the process's stderr, if requested (never with a tty).
    pub stderr: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// Terminal resize events (tty only).
    pub resize: Option<tokio::sync::mpsc::Receiver<TerminalSize>>,
}

impl std::fmt::Debug for StreamIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamIo")
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .field("resize", &self.resize.is_some())
            .finish()
    }
}

/// What the daemon implements to serve streaming sessions.
pub trait Runtime: Send + Sync + 'static {
    /// Run `req.cmd` in the container with `io`; the exit code, or an error
    /// message if the command could not be run.
    fn exec(&self, req: ExecRequest, io: StreamIo) -> BoxFuture<'_, Result<i32, String>>;
    /// Attach `io` to the container's main process until it exits or the
    /// client goes away.
    fn attach(&self, req: AttachRequest, io: StreamIo) -> BoxFuture<'_, Result<(), String>>;
    /// Connect `stream` to `port` inside the sandbox's network namespace and
    /// copy both ways until both sides are done.
    fn port_forward(
        &self,
        pod_sandbox_id: String,
        port: u16,
        stream: tokio::io::DuplexStream,
    ) -> BoxFuture<'_, Result<(), String>>;
}
