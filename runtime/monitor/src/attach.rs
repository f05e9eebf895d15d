//! Client side of the attach socket, for the daemon's streaming server (tokio).
//! The wire protocol is described in [`crate::frame`].

use std::io;
use std::path::Path;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

pub use crate::frame::{ClientFrame, ServerFrame};
use crate::frame::{HEADER_LEN, parse_header};

/// Connects to a monitor's attach socket.
pub async fn connect(socket: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(socket).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("connecting to attach socket {}: {e}", socket.display()),
        )
    })
}

async fn send<W: AsyncWrite + Unpin>(w: &mut W, frame: ClientFrame) -> io::Result<()> {
    let mut buf = Vec::new();
    frame.encode(&mut buf);
    w.write_all(&buf).await?;
    w.flush().await
}

/// Sends bytes for the container's stdin (nothing when `data` is empty).
pub async fn write_stdin<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    send(w, ClientFrame::Stdin(data.to_vec())).await
}

/// Marks this client as a stdin client (an empty stdin frame) before any data: with
/// `stdin_once`, the container's stdin is then closed when this client detaches even if it
/// never sent a byte. Send it right after connecting when the attach request has stdin.
pub async fn declare_stdin<W: AsyncWrite + Unpin>(w: &mut W) -> io::Result<()> {
    send(w, ClientFrame::Stdin(Vec::new())).await
}

/// Sends a terminal resize.
pub async fn write_resize<W: AsyncWrite + Unpin>(
    w: &mut W,
    cols: u16,
    rows: u16,
) -> io::Result<()> {
    send(w, ClientFrame::Resize { cols, rows }).await
}

/// Asks the monitor to close the container's stdin.
pub async fn write_close_stdin<W: AsyncWrite + Unpin>(w: &mut W) -> io::Result<()> {
    send(w, ClientFrame::CloseStdin).await
}

/// Reads the next output frame; `Ok(None)` when the monitor closed the connection
/// (after an [`ServerFrame::Exit`] frame, or when the monitor went away).
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<ServerFrame>> {
    let mut h = [0u8; HEADER_LEN];
    match r.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (kind, len) = parse_header(h).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut data = vec![0u8; len];
    r.read_exact(&mut data).await?;
    ServerFrame::from_raw(kind, data)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_helpers_and_reader_over_a_socketpair() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            write_stdin(&mut a, b"abc").await.unwrap();
            write_resize(&mut a, 80, 24).await.unwrap();
            write_close_stdin(&mut a).await.unwrap();
            let mut got = vec![0u8; 8 + 9 + 5];
            b.read_exact(&mut got).await.unwrap();
            let mut d = crate::frame::Decoder::default();
            d.push(&got);
            let mut frames = Vec::new();
            while let Some((k, data)) = d.next_raw().unwrap() {
                frames.push(ClientFrame::from_raw(k, data).unwrap());
            }
            assert_eq!(
                frames,
                vec![
                    ClientFrame::Stdin(b"abc".to_vec()),
                    ClientFrame::Resize { cols: 80, rows: 24 },
                    ClientFrame::CloseStdin
                ]
            );

            let mut out = Vec::new();
            ServerFrame::Stderr(b"x".to_vec()).encode(&mut out);
            ServerFrame::Exit(3).encode(&mut out);
            b.write_all(&out).await.unwrap();
            drop(b);
            assert_eq!(
                read_frame(&mut a).await.unwrap(),
                Some(ServerFrame::Stderr(b"x".to_vec()))
            );
            assert_eq!(
                read_frame(&mut a).await.unwrap(),
                Some(ServerFrame::Exit(3))
            );
            assert_eq!(read_frame(&mut a).await.unwrap(), None);
        });
    }
}
