//! Attach: connects the streaming client to the container's monitor through its attach socket.
//!
//! Monitor protocol (see outrigger-monitor): frames `[kind u8][len u32 big-endian][data]`;
//! client → monitor kind 0 = stdin bytes, 1 = resize (u16 BE cols, u16 BE rows), 2 = close
//! stdin; monitor → client kind 1 = stdout, 2 = stderr.

use std::path::PathBuf;

use outrigger_streaming::{AttachRequest, StreamIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{CriError, Result};
use crate::runtime::Runtime;
use crate::state::ContainerState;

const MAX_FRAME: usize = 1 << 20;

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
    let sock = tokio::net::UnixStream::connect(&socket)
        .await
        .map_err(|e| {
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
                let mut data = Vec::with_capacity(4);
                data.extend_from_slice(&sz.width.to_be_bytes());
                data.extend_from_slice(&sz.height.to_be_bytes());
                if write_frame(&mut *wr.lock().await, 1, &data).await.is_err() {
                    break;
                }
            }
        });
    }
    if let (Some(mut from), true) = (stdin, req.stdin) {
        // an empty stdin frame declares this client a stdin client (stdin_once counts it)
        write_frame(&mut *wr.lock().await, 0, &[])
            .await
            .map_err(|e| CriError::internal(format!("attach: {e}")))?;
        let wr = wr.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match from.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = write_frame(&mut *wr.lock().await, 2, &[]).await;
                        break;
                    }
                    Ok(n) => {
                        if write_frame(&mut *wr.lock().await, 0, &buf[..n])
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
    // output until the monitor closes the connection (the container ended) or the client left
    loop {
        let mut head = [0u8; 5];
        if rd.read_exact(&mut head).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX_FRAME {
            return Err(CriError::internal(format!(
                "attach: monitor sent a {len}-byte frame"
            )));
        }
        let mut data = vec![0u8; len];
        if rd.read_exact(&mut data).await.is_err() {
            break;
        }
        let target = match head[0] {
            1 => stdout.as_mut(),
            2 => stderr.as_mut().or(stdout.as_mut()),
            _ => None,
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

async fn write_frame<W: AsyncWriteExt + Unpin>(
    w: &mut W,
    kind: u8,
    data: &[u8],
) -> std::io::Result<()> {
    let len = u32::try_from(data.len()).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(5 + data.len());
    frame.push(kind);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(data);
    w.write_all(&frame).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_kind_length_data() {
        let mut v = Vec::new();
        write_frame(&mut v, 1, &[0, 80, 0, 24]).await.unwrap();
        assert_eq!(v, vec![1, 0, 0, 0, 4, 0, 80, 0, 24]);
    }
}
