//! The attach socket protocol.
//!
//! A client connects to the monitor's unix stream socket (`attach_socket`). Both directions carry
//! frames `[kind: u8][len: u32 big-endian][len bytes of data]`, at most [`MAX_FRAME`] bytes of data.
//!
//! Client → monitor:
//! - kind 0 `stdin`: bytes for the container's stdin (ignored when the container has no stdin);
//!   an empty one just marks the client as a stdin client (for `stdin_once`);
//! - kind 1 `resize`: 4 bytes, `cols: u16 BE`, `rows: u16 BE` (TIOCSWINSZ on the pty; ignored
//!   without a tty);
//! - kind 2 `close stdin`: empty; closes the container's stdin (for a tty, sends the EOF char ^D).
//!
//! Monitor → client:
//! - kind 1 `stdout` bytes (all output in tty mode), kind 2 `stderr` bytes;
//! - kind 3 `exit`: 4 bytes, the container's exit code as `i32 BE`, sent when the container has
//!   ended and its output is drained; the monitor then closes the connection.
//!
//! Every attached client receives all output produced while it is attached (no replay of
//! earlier output: that is in the log). A client that closes its connection detaches; with
//! `stdin_once`, the container's stdin is closed when the first client that sent stdin detaches.
//! A client that falls more than a few MiB behind, or sends a malformed frame, is disconnected.

use thiserror::Error;

/// Largest accepted frame payload.
pub const MAX_FRAME: u32 = 1024 * 1024;
/// Frame header length.
pub const HEADER_LEN: usize = 5;

/// Client → monitor: stdin bytes.
pub const KIND_STDIN: u8 = 0;
/// Client → monitor: terminal resize.
pub const KIND_RESIZE: u8 = 1;
/// Client → monitor: close stdin.
pub const KIND_CLOSE_STDIN: u8 = 2;
/// Monitor → client: stdout bytes.
pub const KIND_STDOUT: u8 = 1;
/// Monitor → client: stderr bytes.
pub const KIND_STDERR: u8 = 2;
/// Monitor → client: the container exited (i32 BE exit code).
pub const KIND_EXIT: u8 = 3;

/// A malformed frame.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// The length field exceeds [`MAX_FRAME`].
    #[error("attach frame of kind {kind} is {len} bytes long, more than the limit of {MAX_FRAME}")]
    TooLong {
        /// Frame kind.
        kind: u8,
        /// Length from the header.
        len: u32,
    },
    /// The kind byte is not one this direction knows.
    #[error("unknown attach frame kind {0}")]
    UnknownKind(u8),
    /// The payload length does not fit the kind.
    #[error("attach frame of kind {kind} has {len} bytes of data, expected {expected}")]
    BadLength {
        /// Frame kind.
        kind: u8,
        /// Payload length.
        len: usize,
        /// Required payload length.
        expected: usize,
    },
}

/// A frame sent by an attach client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Bytes for the container's stdin.
    Stdin(Vec<u8>),
    /// New terminal size.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// Close the container's stdin.
    CloseStdin,
}

/// A frame sent by the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    /// Bytes the container wrote to stdout (or the tty).
    Stdout(Vec<u8>),
    /// Bytes the container wrote to stderr.
    Stderr(Vec<u8>),
    /// The container exited with this exit code.
    Exit(i32),
}

/// Appends `data` to `out` as frames of `kind`: one frame, or several when `data` is longer
/// than [`MAX_FRAME`]; empty data gives one empty frame.
pub fn encode_raw(out: &mut Vec<u8>, kind: u8, data: &[u8]) {
    for piece in data.chunks(MAX_FRAME as usize) {
        out.push(kind);
        out.extend_from_slice(&(piece.len() as u32).to_be_bytes());
        out.extend_from_slice(piece);
    }
    if data.is_empty() {
        out.push(kind);
        out.extend_from_slice(&0u32.to_be_bytes());
    }
}

impl ClientFrame {
    /// Encodes the frame, appending to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ClientFrame::Stdin(d) => encode_raw(out, KIND_STDIN, d),
            ClientFrame::Resize { cols, rows } => {
                let mut d = [0u8; 4];
                d[..2].copy_from_slice(&cols.to_be_bytes());
                d[2..].copy_from_slice(&rows.to_be_bytes());
                encode_raw(out, KIND_RESIZE, &d)
            }
            ClientFrame::CloseStdin => encode_raw(out, KIND_CLOSE_STDIN, &[]),
        }
    }

    /// Interprets a raw frame.
    pub fn from_raw(kind: u8, data: Vec<u8>) -> Result<Self, FrameError> {
        match kind {
            KIND_STDIN => Ok(ClientFrame::Stdin(data)),
            KIND_RESIZE => {
                if data.len() != 4 {
                    return Err(FrameError::BadLength {
                        kind,
                        len: data.len(),
                        expected: 4,
                    });
                }
                Ok(ClientFrame::Resize {
                    cols: u16::from_be_bytes([data[0], data[1]]),
                    rows: u16::from_be_bytes([data[2], data[3]]),
                })
            }
            KIND_CLOSE_STDIN => Ok(ClientFrame::CloseStdin),
            k => Err(FrameError::UnknownKind(k)),
        }
    }
}

impl ServerFrame {
    /// Encodes the frame, appending to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ServerFrame::Stdout(d) => encode_raw(out, KIND_STDOUT, d),
            ServerFrame::Stderr(d) => encode_raw(out, KIND_STDERR, d),
            ServerFrame::Exit(code) => encode_raw(out, KIND_EXIT, &code.to_be_bytes()),
        }
    }

    /// Interprets a raw frame.
    pub fn from_raw(kind: u8, data: Vec<u8>) -> Result<Self, FrameError> {
        match kind {
            KIND_STDOUT => Ok(ServerFrame::Stdout(data)),
            KIND_STDERR => Ok(ServerFrame::Stderr(data)),
            KIND_EXIT => {
                if data.len() != 4 {
                    return Err(FrameError::BadLength {
                        kind,
                        len: data.len(),
                        expected: 4,
                    });
                }
                Ok(ServerFrame::Exit(i32::from_be_bytes([
                    data[0], data[1], data[2], data[3],
                ])))
            }
            k => Err(FrameError::UnknownKind(k)),
        }
    }
}

/// Parses a frame header: (kind, payload length).
pub fn parse_header(h: [u8; HEADER_LEN]) -> Result<(u8, usize), FrameError> {
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]);
    if len > MAX_FRAME {
        return Err(FrameError::TooLong { kind: h[0], len });
    }
    Ok((h[0], len as usize))
}

/// Incremental decoder for a byte stream of frames.
#[derive(Default, Debug)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Takes the next complete raw frame `(kind, data)`, if one has arrived.
    pub fn next_raw(&mut self) -> Result<Option<(u8, Vec<u8>)>, FrameError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&self.buf[..HEADER_LEN]);
        let (kind, len) = parse_header(h)?;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let data = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some((kind, data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_round_trip_byte_layout() {
        let mut out = Vec::new();
        ClientFrame::Stdin(b"hi".to_vec()).encode(&mut out);
        ClientFrame::Resize {
            cols: 0x0102,
            rows: 0x0304,
        }
        .encode(&mut out);
        ClientFrame::CloseStdin.encode(&mut out);
        assert_eq!(
            out,
            vec![
                0, 0, 0, 0, 2, b'h', b'i', //
                1, 0, 0, 0, 4, 1, 2, 3, 4, //
                2, 0, 0, 0, 0
            ]
        );
        let mut d = Decoder::default();
        // feed byte by byte: frames appear only when complete
        let mut got = Vec::new();
        for b in &out {
            d.push(&[*b]);
            while let Some((k, data)) = d.next_raw().unwrap() {
                got.push(ClientFrame::from_raw(k, data).unwrap());
            }
        }
        assert_eq!(
            got,
            vec![
                ClientFrame::Stdin(b"hi".to_vec()),
                ClientFrame::Resize {
                    cols: 258,
                    rows: 772
                },
                ClientFrame::CloseStdin
            ]
        );
    }

    #[test]
    fn server_frames() {
        let mut out = Vec::new();
        ServerFrame::Stdout(b"o".to_vec()).encode(&mut out);
        ServerFrame::Stderr(b"e".to_vec()).encode(&mut out);
        ServerFrame::Exit(-2).encode(&mut out);
        assert_eq!(&out[..6], &[1, 0, 0, 0, 1, b'o']);
        let mut d = Decoder::default();
        d.push(&out);
        let mut got = Vec::new();
        while let Some((k, data)) = d.next_raw().unwrap() {
            got.push(ServerFrame::from_raw(k, data).unwrap());
        }
        assert_eq!(
            got,
            vec![
                ServerFrame::Stdout(b"o".to_vec()),
                ServerFrame::Stderr(b"e".to_vec()),
                ServerFrame::Exit(-2)
            ]
        );
    }

    #[test]
    fn errors() {
        let mut d = Decoder::default();
        d.push(&[0, 0xff, 0, 0, 0]);
        assert_eq!(
            d.next_raw(),
            Err(FrameError::TooLong {
                kind: 0,
                len: 0xff00_0000
            })
        );
        assert_eq!(
            ClientFrame::from_raw(9, vec![]),
            Err(FrameError::UnknownKind(9))
        );
        assert_eq!(
            ClientFrame::from_raw(KIND_RESIZE, vec![1, 2]),
            Err(FrameError::BadLength {
                kind: 1,
                len: 2,
                expected: 4
            })
        );
        assert_eq!(
            ServerFrame::from_raw(KIND_STDIN, vec![]),
            Err(FrameError::UnknownKind(0))
        );
    }

    #[test]
    fn long_data_is_split() {
        let data = vec![7u8; MAX_FRAME as usize + 3];
        let mut out = Vec::new();
        encode_raw(&mut out, KIND_STDOUT, &data);
        let mut d = Decoder::default();
        d.push(&out);
        let (_, a) = d.next_raw().unwrap().unwrap();
        let (_, b) = d.next_raw().unwrap().unwrap();
        assert_eq!(a.len(), MAX_FRAME as usize);
        assert_eq!(b.len(), 3);
        assert_eq!(d.next_raw().unwrap(), None);
    }
}
