//! SPDY/3.1 frame codec: control and data frames, and the zlib-compressed
//! name/value header blocks (SPDY/3 draft §2.2 and §2.6.10).
//!
//! All multi-byte fields are big-endian (network order) and parsed with
//! `from_be_bytes`, so the codec behaves the same on s390x and x86_64.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The SPDY/3 header compression dictionary (from the SPDY/3 draft).
pub const HEADER_DICTIONARY: &[u8] = include_bytes!("dictionary.bin");

/// SPDY protocol version carried in control frames.
pub const SPDY_VERSION: u16 = 3;
/// FLAG_FIN on data frames, SYN_STREAM, SYN_REPLY and HEADERS.
pub const FLAG_FIN: u8 = 0x01;
/// FLAG_UNIDIRECTIONAL on SYN_STREAM.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// Largest frame payload we accept (the length field has 24 bits).
pub const MAX_FRAME_LEN: usize = 0x00ff_ffff;
/// Largest decompressed header block we accept.
pub const MAX_HEADER_BLOCK: usize = 1 << 20;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// Errors of the SPDY codec.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A control frame's payload is shorter than its type requires.
    #[error("SPDY {kind} frame too short: {len} bytes, need at least {need}")]
    TooShort {
        /// Frame type name.
        kind: &'static str,
        /// Payload length received.
        len: usize,
        /// Minimum length.
        need: usize,
    },
    /// The control frame carries a version other than 3.
    #[error("unsupported SPDY version {0} (only 3 is supported)")]
    Version(u16),
    /// A header block could not be decompressed.
    #[error("SPDY header block decompression failed: {0}")]
    Decompress(String),
    /// A header block could not be compressed.
    #[error("SPDY header block compression failed: {0}")]
    Compress(String),
    /// The decompressed header block is malformed.
    #[error("malformed SPDY header block: {0}")]
    HeaderBlock(String),
    /// A frame payload or header block is too large.
    #[error("SPDY frame too large: {0} bytes")]
    TooLarge(usize),
}

/// Header name/value pairs of a SYN_STREAM, SYN_REPLY or HEADERS frame.
/// Names are lower-case; multiple values of one name are NUL-separated on the wire.
pub type Headers = Vec<(String, String)>;

/// Look up the first value of a header (names compared case-insensitively).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split('\0').next().unwrap_or(""))
}

/// One decoded SPDY frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// SYN_STREAM: the peer opens a stream.
    SynStream {
        /// New stream id.
        stream_id: u32,
        /// Associated stream id (server push; 0 otherwise).
        associated_id: u32,
        /// Priority (0 highest .. 7).
        priority: u8,
        /// Flags (FIN, UNIDIRECTIONAL).
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// SYN_REPLY: accepts a stream.
    SynReply {
        /// Stream id.
        stream_id: u32,
        /// Flags (FIN).
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// RST_STREAM: abort a stream.
    RstStream {
        /// Stream id.
        stream_id: u32,
        /// Status code.
        status: u32,
    },
    /// SETTINGS: (flags, id, value) entries.
    Settings {
        /// Frame flags.
        flags: u8,
        /// Entries: (entry flags, id, value).
        entries: Vec<(u8, u32, u32)>,
    },
    /// PING with its id.
    Ping {
        /// Ping id.
        id: u32,
    },
    /// GOAWAY: the peer shuts the session down.
    GoAway {
        /// Last stream id the sender processed.
        last_good_stream_id: u32,
        /// Status code.
        status: u32,
    },
    /// HEADERS: extra headers for a stream.
    Headers {
        /// Stream id.
        stream_id: u32,
        /// Flags (FIN).
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// WINDOW_UPDATE (flow control; spdystream ignores it and so do we).
    WindowUpdate {
        /// Stream id.
        stream_id: u32,
        /// Window delta.
        delta: u32,
    },
    /// A control frame of a type we do not know (ignored per the spec).
    Unknown {
        /// Frame type.
        kind: u16,
    },
    /// A data frame.
    Data {
        /// Stream id.
        stream_id: u32,
        /// Flags (FIN).
        flags: u8,
        /// Payload.
        data: Vec<u8>,
    },
}

/// Compresses header blocks for one direction of a connection (one zlib
/// context shared by all frames, sync-flushed after each block).
pub struct HeaderCompressor {
    z: Compress,
}

impl Default for HeaderCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCompressor {
    /// A new compressor primed with the SPDY/3 dictionary.
    pub fn new() -> Self {
        let mut z = Compress::new(Compression::best(), true);
        // Setting a dictionary on a fresh stream cannot fail with zlib-rs; if it
        // did, the peer would fail to decompress and reset the connection.
        let _ = z.set_dictionary(HEADER_DICTIONARY);
        Self { z }
    }

    /// Encode and compress `headers` as one header block.
    pub fn compress(&mut self, headers: &Headers) -> Result<Vec<u8>, FrameError> {
        let raw = encode_header_block(headers)?;
        let mut out: Vec<u8> = Vec::with_capacity(raw.len() + 64);
        let mut consumed = 0usize;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            let before_in = self.z.total_in();
            let status = self
                .z
                .compress_vec(&raw[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| FrameError::Compress(e.to_string()))?;
            consumed += (self.z.total_in() - before_in) as usize;
            match status {
                Status::Ok | Status::BufError | Status::StreamEnd => {}
            }
            // Done when all input is consumed and zlib left spare output room
            // (it fills the buffer completely when more output is pending).
            if consumed >= raw.len() && out.len() < out.capacity() {
                break;
            }
        }
        Ok(out)
    }
}

/// Decompresses header blocks for one direction of a connection.
pub struct HeaderDecompressor {
    z: Decompress,
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecompressor {
    /// A new decompressor; the dictionary is supplied when zlib asks for it.
    pub fn new() -> Self {
        Self {
            z: Decompress::new(true),
        }
    }

    /// Decompress one header block and parse its name/value pairs.
    pub fn decompress(&mut self, block: &[u8]) -> Result<Headers, FrameError> {
        let mut out: Vec<u8> = Vec::with_capacity(block.len() * 4 + 256);
        let mut consumed = 0usize;
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity().max(1024));
            }
            if out.len() > MAX_HEADER_BLOCK {
                return Err(FrameError::TooLarge(out.len()));
            }
            let before_in = self.z.total_in();
            let before_out = out.len();
            let res = self
                .z
                .decompress_vec(&block[consumed..], &mut out, FlushDecompress::Sync);
            consumed += (self.z.total_in() - before_in) as usize;
            match res {
                Ok(_) => {}
                Err(e) => {
                    if e.needs_dictionary().is_some() {
                        self.z
                            .set_dictionary(HEADER_DICTIONARY)
                            .map_err(|e| FrameError::Decompress(e.to_string()))?;
                        continue;
                    }
                    return Err(FrameError::Decompress(e.to_string()));
                }
            }
            let progressed = out.len() > before_out;
            if consumed >= block.len() && (out.len() < out.capacity() || !progressed) {
                break;
            }
            if !progressed && consumed < block.len() && self.z.total_in() == before_in {
                return Err(FrameError::Decompress(
                    "zlib made no progress on the header block".into(),
                ));
            }
        }
        parse_header_block(&out)
    }
}

/// Encode name/value pairs into the uncompressed SPDY/3 header block.
pub fn encode_header_block(headers: &Headers) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    let n = u32::try_from(headers.len()).map_err(|_| FrameError::TooLarge(headers.len()))?;
    out.extend_from_slice(&n.to_be_bytes());
    for (name, value) in headers {
        for part in [name.to_ascii_lowercase().as_bytes(), value.as_bytes()] {
            let len = u32::try_from(part.len()).map_err(|_| FrameError::TooLarge(part.len()))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    Ok(out)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parse an uncompressed SPDY/3 header block.
pub fn parse_header_block(b: &[u8]) -> Result<Headers, FrameError> {
    let count = be32(b, 0).ok_or_else(|| FrameError::HeaderBlock("missing pair count".into()))?;
    let mut pos = 4usize;
    let mut headers = Vec::new();
    for i in 0..count {
        let mut take = |what: &str| -> Result<String, FrameError> {
            let len = be32(b, pos).ok_or_else(|| {
                FrameError::HeaderBlock(format!("pair {i}: missing {what} length"))
            })? as usize;
            pos += 4;
            let s = b.get(pos..pos + len).ok_or_else(|| {
                FrameError::HeaderBlock(format!("pair {i}: {what} of {len} bytes is truncated"))
            })?;
            pos += len;
            String::from_utf8(s.to_vec())
                .map_err(|_| FrameError::HeaderBlock(format!("pair {i}: {what} is not UTF-8")))
        };
        let name = take("name")?;
        let value = take("value")?;
        headers.push((name.to_ascii_lowercase(), value));
    }
    Ok(headers)
}

fn control_header(kind: u16, flags: u8, len: usize) -> Result<[u8; 8], FrameError> {
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    let first = 0x8000_0000u32 | (u32::from(SPDY_VERSION) << 16) | u32::from(kind);
    let second = (u32::from(flags) << 24) | len as u32;
    let mut h = [0u8; 8];
    h[..4].copy_from_slice(&first.to_be_bytes());
    h[4..].copy_from_slice(&second.to_be_bytes());
    Ok(h)
}

/// Serialize `frame`, compressing any headers with `comp`.
pub fn encode_frame(frame: &Frame, comp: &mut HeaderCompressor) -> Result<Vec<u8>, FrameError> {
    let (kind, flags, payload): (u16, u8, Vec<u8>) = match frame {
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            if data.len() > MAX_FRAME_LEN {
                return Err(FrameError::TooLarge(data.len()));
            }
            let mut out = Vec::with_capacity(8 + data.len());
            out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
            out.extend_from_slice(&((u32::from(*flags) << 24) | data.len() as u32).to_be_bytes());
            out.extend_from_slice(data);
            return Ok(out);
        }
        Frame::SynStream {
            stream_id,
            associated_id,
            priority,
            flags,
            headers,
        } => {
            let mut p = Vec::new();
            p.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
            p.extend_from_slice(&(associated_id & 0x7fff_ffff).to_be_bytes());
            p.push((priority & 0x7) << 5);
            p.push(0);
            p.extend_from_slice(&comp.compress(headers)?);
            (TYPE_SYN_STREAM, *flags, p)
        }
        Frame::SynReply {
            stream_id,
            flags,
            headers,
        } => {
            let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&comp.compress(headers)?);
            (TYPE_SYN_REPLY, *flags, p)
        }
        Frame::Headers {
            stream_id,
            flags,
            headers,
        } => {
            let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&comp.compress(headers)?);
            (TYPE_HEADERS, *flags, p)
        }
        Frame::RstStream { stream_id, status } => {
            let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&status.to_be_bytes());
            (TYPE_RST_STREAM, 0, p)
        }
        Frame::Settings { flags, entries } => {
            let mut p = (entries.len() as u32).to_be_bytes().to_vec();
            for (f, id, v) in entries {
                p.extend_from_slice(&((u32::from(*f) << 24) | (id & 0x00ff_ffff)).to_be_bytes());
                p.extend_from_slice(&v.to_be_bytes());
            }
            (TYPE_SETTINGS, *flags, p)
        }
        Frame::Ping { id } => (TYPE_PING, 0, id.to_be_bytes().to_vec()),
        Frame::GoAway {
            last_good_stream_id,
            status,
        } => {
            let mut p = (last_good_stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&status.to_be_bytes());
            (TYPE_GOAWAY, 0, p)
        }
        Frame::WindowUpdate { stream_id, delta } => {
            let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
            (TYPE_WINDOW_UPDATE, 0, p)
        }
        Frame::Unknown { kind } => (*kind, 0, Vec::new()),
    };
    let mut out = control_header(kind, flags, payload.len())?.to_vec();
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The fixed 8-byte frame header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// First 32-bit word (control bit, version/type or stream id).
    pub first: u32,
    /// Flags byte.
    pub flags: u8,
    /// Payload length.
    pub len: usize,
}

impl FrameHead {
    /// Parse the 8-byte frame header.
    pub fn parse(b: [u8; 8]) -> Self {
        let first = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let second = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        Self {
            first,
            flags: (second >> 24) as u8,
            len: (second & 0x00ff_ffff) as usize,
        }
    }
}

fn need(kind: &'static str, p: &[u8], n: usize) -> Result<(), FrameError> {
    if p.len() < n {
        return Err(FrameError::TooShort {
            kind,
            len: p.len(),
            need: n,
        });
    }
    Ok(())
}

fn word(p: &[u8], at: usize) -> u32 {
    be32(p, at).unwrap_or(0)
}

/// Decode one frame from its header and payload, decompressing headers with `dec`.
pub fn decode_frame(
    head: FrameHead,
    payload: Vec<u8>,
    dec: &mut HeaderDecompressor,
) -> Result<Frame, FrameError> {
    if head.first & 0x8000_0000 == 0 {
        return Ok(Frame::Data {
            stream_id: head.first & 0x7fff_ffff,
            flags: head.flags,
            data: payload,
        });
    }
    let version = ((head.first >> 16) & 0x7fff) as u16;
    if version != SPDY_VERSION {
        return Err(FrameError::Version(version));
    }
    let kind = (head.first & 0xffff) as u16;
    let p = &payload[..];
    let flags = head.flags;
    Ok(match kind {
        TYPE_SYN_STREAM => {
            need("SYN_STREAM", p, 10)?;
            Frame::SynStream {
                stream_id: word(p, 0) & 0x7fff_ffff,
                associated_id: word(p, 4) & 0x7fff_ffff,
                priority: p[8] >> 5,
                flags,
                headers: dec.decompress(&p[10..])?,
            }
        }
        TYPE_SYN_REPLY => {
            need("SYN_REPLY", p, 4)?;
            Frame::SynReply {
                stream_id: word(p, 0) & 0x7fff_ffff,
                flags,
                headers: dec.decompress(&p[4..])?,
            }
        }
        TYPE_HEADERS => {
            need("HEADERS", p, 4)?;
            Frame::Headers {
                stream_id: word(p, 0) & 0x7fff_ffff,
                flags,
                headers: dec.decompress(&p[4..])?,
            }
        }
        TYPE_RST_STREAM => {
            need("RST_STREAM", p, 8)?;
            Frame::RstStream {
                stream_id: word(p, 0) & 0x7fff_ffff,
                status: word(p, 4),
            }
        }
        TYPE_SETTINGS => {
            need("SETTINGS", p, 4)?;
            let n = word(p, 0) as usize;
            need("SETTINGS", p, 4usize.saturating_add(n.saturating_mul(8)))?;
            let entries = (0..n)
                .map(|i| {
                    let a = word(p, 4 + i * 8);
                    ((a >> 24) as u8, a & 0x00ff_ffff, word(p, 8 + i * 8))
                })
                .collect();
            Frame::Settings { flags, entries }
        }
        TYPE_PING => {
            need("PING", p, 4)?;
            Frame::Ping { id: word(p, 0) }
        }
        TYPE_GOAWAY => {
            need("GOAWAY", p, 4)?;
            Frame::GoAway {
                last_good_stream_id: word(p, 0) & 0x7fff_ffff,
                status: if p.len() >= 8 { word(p, 4) } else { 0 },
            }
        }
        TYPE_WINDOW_UPDATE => {
            need("WINDOW_UPDATE", p, 8)?;
            Frame::WindowUpdate {
                stream_id: word(p, 0) & 0x7fff_ffff,
                delta: word(p, 4) & 0x7fff_ffff,
            }
        }
        other => Frame::Unknown { kind: other },
    })
}

/// Read one frame from an async reader. `Ok(None)` on a clean EOF before a frame.
pub async fn read_frame<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    dec: &mut HeaderDecompressor,
) -> std::io::Result<Option<Frame>> {
    use tokio::io::AsyncReadExt;
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        let n = r.read(&mut head[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed inside a SPDY frame header",
            ));
        }
        got += n;
    }
    let head = FrameHead::parse(head);
    let mut payload = vec![0u8; head.len];
    r.read_exact(&mut payload).await?;
    decode_frame(head, payload, dec)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn hdrs(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn roundtrip(f: &Frame, c: &mut HeaderCompressor, d: &mut HeaderDecompressor) -> Frame {
        let bytes = encode_frame(f, c).unwrap();
        let head = FrameHead::parse(bytes[..8].try_into().unwrap());
        assert_eq!(head.len, bytes.len() - 8);
        decode_frame(head, bytes[8..].to_vec(), d).unwrap()
    }

    #[test]
    fn dictionary_is_the_spdy3_one() {
        assert_eq!(HEADER_DICTIONARY.len(), 1423);
        assert!(HEADER_DICTIONARY.starts_with(b"\0\0\0\x07options"));
        assert!(HEADER_DICTIONARY.ends_with(b"enq=0."));
    }

    #[test]
    fn all_frames_round_trip_with_shared_compression_context() {
        let mut c = HeaderCompressor::new();
        let mut d = HeaderDecompressor::new();
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated_id: 0,
                priority: 3,
                flags: FLAG_FIN,
                headers: hdrs(&[("streamtype", "error"), ("port", "8080")]),
            },
            Frame::SynStream {
                stream_id: 3,
                associated_id: 0,
                priority: 0,
                flags: 0,
                headers: hdrs(&[("streamtype", "stdout"), ("requestid", "0")]),
            },
            Frame::SynReply {
                stream_id: 3,
                flags: 0,
                headers: vec![],
            },
            Frame::Headers {
                stream_id: 3,
                flags: FLAG_FIN,
                headers: hdrs(&[("x", "a\0b")]),
            },
            Frame::RstStream {
                stream_id: 5,
                status: 5,
            },
            Frame::Settings {
                flags: 1,
                entries: vec![(0, 7, 65536), (1, 4, 100)],
            },
            Frame::Ping { id: 0xdead_beef },
            Frame::GoAway {
                last_good_stream_id: 9,
                status: 0,
            },
            Frame::WindowUpdate {
                stream_id: 1,
                delta: 1000,
            },
            Frame::Data {
                stream_id: 7,
                flags: FLAG_FIN,
                data: b"hello".to_vec(),
            },
        ];
        for f in &frames {
            assert_eq!(&roundtrip(f, &mut c, &mut d), f);
        }
    }

    #[test]
    fn header_names_are_lowercased_and_lookup_is_case_insensitive() {
        let mut c = HeaderCompressor::new();
        let mut d = HeaderDecompressor::new();
        let block = c.compress(&hdrs(&[("StreamType", "stdin")])).unwrap();
        let h = d.decompress(&block).unwrap();
        assert_eq!(h, hdrs(&[("streamtype", "stdin")]));
        assert_eq!(header(&h, "STREAMTYPE"), Some("stdin"));
        assert_eq!(header(&h, "port"), None);
    }

    #[test]
    fn compressed_block_decodes_with_flate2_reader_and_dictionary() {
        // Independent decoder: flate2's zlib Decompress stream with the dictionary,
        // fed two consecutive blocks of one context, as Go's zlib reader would be.
        let mut c = HeaderCompressor::new();
        let b1 = c.compress(&hdrs(&[("streamtype", "error")])).unwrap();
        let b2 = c.compress(&hdrs(&[("streamtype", "stdout")])).unwrap();
        // zlib header with FDICT set and the SPDY dictionary's adler32.
        assert_eq!(b1[0] & 0x0f, 8, "deflate method");
        assert_ne!(b1[1] & 0x20, 0, "FDICT flag set");
        // sync flush ends each block with 00 00 ff ff
        assert!(b1.ends_with(&[0, 0, 0xff, 0xff]));
        assert!(b2.ends_with(&[0, 0, 0xff, 0xff]));
        let mut z = Decompress::new(true);
        let mut out = Vec::with_capacity(4096);
        let err = z
            .decompress_vec(&b1, &mut out, FlushDecompress::Sync)
            .unwrap_err();
        let adler = err.needs_dictionary().unwrap();
        assert_eq!(
            adler,
            u32::from_be_bytes([b1[2], b1[3], b1[4], b1[5]]),
            "dictionary id in the zlib header"
        );
        z.set_dictionary(HEADER_DICTIONARY).unwrap();
        let rest_start = z.total_in() as usize;
        z.decompress_vec(&b1[rest_start..], &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(
            out,
            encode_header_block(&hdrs(&[("streamtype", "error")])).unwrap()
        );
        out.clear();
        z.decompress_vec(&b2, &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(
            out,
            encode_header_block(&hdrs(&[("streamtype", "stdout")])).unwrap()
        );
        // and the plain reader API refuses it without a dictionary
        let mut r = flate2::read::ZlibDecoder::new(&b1[..]);
        let mut s = Vec::new();
        assert!(r.read_to_end(&mut s).is_err());
    }

    #[test]
    fn decodes_header_blocks_compressed_by_go() {
        // Produced by `tests/goclient capture`: moby/spdystream's framer (Go
        // compress/zlib, BestCompression, SPDY/3 dictionary), two SYN_STREAMs
        // in one compression context: streamtype stdout, then streamtype error.
        let mut d = HeaderDecompressor::new();
        assert_eq!(
            d.decompress(GO_STDOUT_BLOCK).unwrap(),
            hdrs(&[("streamtype", "stdout")])
        );
        assert_eq!(
            d.decompress(GO_ERROR_BLOCK).unwrap(),
            hdrs(&[("streamtype", "error")])
        );
        // The dictionary id Go wrote is the adler32 of our dictionary.
        assert_eq!(&GO_STDOUT_BLOCK[2..6], &[0xe3, 0xc6, 0xa7, 0xc2]);
    }

    const GO_STDOUT_BLOCK: &[u8] = &[
        0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2, 0x62, 0x60, 0x60, 0x60, 0x04, 0xa7, 0xb3, 0x92, 0xa2,
        0xd4, 0xc4, 0x5c, 0x68, 0x51, 0xc2, 0x56, 0x5c, 0x92, 0x92, 0x5f, 0x5a, 0x02, 0x00, 0x00,
        0x00, 0xff, 0xff,
    ];
    const GO_ERROR_BLOCK: &[u8] = &[
        0xc2, 0x2a, 0xc7, 0x9a, 0x0a, 0x8a, 0x04, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
    ];

    #[test]
    fn truncated_or_garbage_input_is_an_error_not_a_panic() {
        let mut d = HeaderDecompressor::new();
        assert!(d.decompress(b"garbage!").is_err());
        assert!(parse_header_block(&[0, 0, 0, 2, 0, 0, 0, 9, b'a']).is_err());
        let head = FrameHead::parse([0x80, 3, 0, 1, 0, 0, 0, 2]);
        assert!(matches!(
            decode_frame(head, vec![0, 1], &mut d),
            Err(FrameError::TooShort { .. })
        ));
        let head = FrameHead::parse([0x80, 2, 0, 6, 0, 0, 0, 4]);
        assert!(matches!(
            decode_frame(head, vec![0, 0, 0, 1], &mut d),
            Err(FrameError::Version(2))
        ));
    }

    #[test]
    fn frame_head_parses_big_endian_fields() {
        let h = FrameHead::parse([0x00, 0x00, 0x01, 0x02, 0x01, 0x00, 0x01, 0x00]);
        assert_eq!(h.first, 0x0102);
        assert_eq!(h.flags, FLAG_FIN);
        assert_eq!(h.len, 256);
    }
}
