//! Attach: connects the streaming client to the container's monitor through its attach socket,
//! with the monitor crate's client side of the protocol (`outrigger_monitor::attach`).

use std::path::PathBuf;

use outrigger_monitor::attach::{self as mon, ServerFrame};
use outrigger_streaming::{AttachRequest, StreamIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{CriError, Result};
use crate::runtime::Runtime;
use crate::state::ContainerState;

pub async fn attach(rt: &Runtime, req: AttachRequest, io: StreamIo) -> Result<()> {
    let c = rt.get_container(&req.container_id)?;
    let d = c.snapshot();
    if d.state != ContainerState::Running {
        return Err(CriError::precondition(format!(
            "container {} is not running",
            d.id
        )));
    }
    let socket: PathBuf = rt
        .cfg
        .state_dir
        .join("attach")
        .join(format!("{}.sock", d.id));
    let sock = mon::connect(&socket).await.map_err(|e| {
        CriError::internal(format!("attach: connecting to {}: {e}", socket.display()))
    })?;
    let (mut rd, wr) = sock.into_split();
    let wr = std::sync::Arc::new(tokio::sync::Mutex::new(wr));
    let StreamIo {
        stdin,
        mut stdout,
        mut stderr,
        resize,
    } = io;
    if let Some(mut rx) = resize {
        let wr = wr.clone();
        tokio::spawn(async move {
            while let Some(sz) = rx.recv().await {
                if mon::write_resize(&mut *wr.lock().await, sz.width, sz.height)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
    }
    if let (Some(mut from), true) = (stdin, req.stdin) {
        // declares this client a stdin client (stdin_once counts it)
        mon::declare_stdin(&mut *wr.lock().await)
            .await
            .map_err(|e| CriError::internal(format!("attach: {e}")))?;
        let wr = wr.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match from.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = mon::write_close_stdin(&mut *wr.lock().await).await;
                        break;
                    }
                    Ok(n) => {
                        if mon::write_stdin(&mut *wr.lock().await, &buf[..n])
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
    }
    // output until the monitor reports the exit or closes the connection, or the client left
    loop {
        let frame = mon::read_frame(&mut rd)
            .await
            .map_err(|e| CriError::internal(format!("attach: reading from the monitor: {e}")))?;
        let (target, data) = match frame {
            None | Some(ServerFrame::Exit(_)) => break,
            Some(ServerFrame::Stdout(data)) => (stdout.as_mut(), data),
            Some(ServerFrame::Stderr(data)) => (stderr.as_mut().or(stdout.as_mut()), data),
        };
        if let Some(w) = target {
            if w.write_all(&data).await.is_err() {
                break;
            }
            let _ = w.flush().await;
        }
    }
    Ok(())
}
