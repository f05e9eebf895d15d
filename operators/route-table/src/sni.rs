//! Reading the server name (SNI) from the first bytes of a TLS connection without terminating
//! it, so passthrough routes can be chosen before (or instead of) a TLS handshake.

/// What the first bytes of a connection say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientHello {
    /// Not enough bytes yet; read at least this many in total.
    NeedMore(usize),
    /// Not a TLS ClientHello (or malformed).
    NotTls,
    /// A complete ClientHello; the server name when the client sent one (lower case).
    Complete(Option<String>),
}

/// Maximum bytes worth buffering for a ClientHello (one TLS record).
pub const MAX_CLIENT_HELLO: usize = 5 + 16 * 1024;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    fn u16(&mut self) -> Option<usize> {
        let b = self.take(2)?;
        Some(usize::from(b[0]) << 8 | usize::from(b[1]))
    }
    fn u24(&mut self) -> Option<usize> {
        let b = self.take(3)?;
        Some(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
}

/// Parses the first TLS record of a connection (only the first record: a ClientHello split over
/// several records is treated as having no SNI).
pub fn parse_client_hello(buf: &[u8]) -> ClientHello {
    if buf.len() < 5 {
        return if buf.first().is_some_and(|b| *b != 0x16) {
            ClientHello::NotTls
        } else {
            ClientHello::NeedMore(5)
        };
    }
    if buf[0] != 0x16 || buf[1] != 0x03 {
        return ClientHello::NotTls;
    }
    let record_len = usize::from(buf[3]) << 8 | usize::from(buf[4]);
    if record_len == 0 || record_len > 16 * 1024 + 2048 {
        return ClientHello::NotTls;
    }
    if buf.len() < 5 + record_len {
        return ClientHello::NeedMore(5 + record_len);
    }
    match parse_handshake(&buf[5..5 + record_len]) {
        Some(sni) => ClientHello::Complete(sni),
        None => ClientHello::NotTls,
    }
}

/// `None` = malformed; `Some(None)` = no SNI.
fn parse_handshake(rec: &[u8]) -> Option<Option<String>> {
    let mut r = Reader { buf: rec, pos: 0 };
    if r.u8()? != 0x01 {
        return None; // not a ClientHello
    }
    let len = r.u24()?;
    if len > rec.len().saturating_sub(4) {
        // ClientHello continues in a later record: no SNI visible in this one
        return Some(None);
    }
    r.take(2)?; // version
    r.take(32)?; // random
    let sid = usize::from(r.u8()?);
    r.take(sid)?;
    let cs = r.u16()?;
    r.take(cs)?;
    let cm = usize::from(r.u8()?);
    r.take(cm)?;
    if r.pos == 4 + len {
        return Some(None); // no extensions
    }
    let ext_total = r.u16()?;
    let mut ext = Reader {
        buf: r.take(ext_total)?,
        pos: 0,
    };
    while ext.pos < ext.buf.len() {
        let ty = ext.u16()?;
        let l = ext.u16()?;
        let data = ext.take(l)?;
        if ty == 0 {
            let mut s = Reader { buf: data, pos: 0 };
            let list = s.u16()?;
            let mut names = Reader {
                buf: s.take(list)?,
                pos: 0,
            };
            while names.pos < names.buf.len() {
                let name_type = names.u8()?;
                let nl = names.u16()?;
                let name = names.take(nl)?;
                if name_type == 0 {
                    let name = std::str::from_utf8(name).ok()?;
                    return Some(Some(name.trim_end_matches('.').to_ascii_lowercase()));
                }
            }
            return Some(None);
        }
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ClientHello with the given SNI (or none).
    fn hello(sni: Option<&str>) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]);
        body.push(0); // session id
        body.extend([0x00, 0x02, 0x13, 0x01]); // one cipher suite
        body.extend([0x01, 0x00]); // null compression
        let mut exts = Vec::new();
        // an unrelated extension first
        exts.extend([0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
        if let Some(n) = sni {
            let n = n.as_bytes();
            let entry_len = n.len() + 3;
            exts.extend([0x00, 0x00]);
            exts.extend(u16::try_from(entry_len + 2).expect("len").to_be_bytes());
            exts.extend(u16::try_from(entry_len).expect("len").to_be_bytes());
            exts.push(0);
            exts.extend(u16::try_from(n.len()).expect("len").to_be_bytes());
            exts.extend(n);
        }
        body.extend(u16::try_from(exts.len()).expect("len").to_be_bytes());
        body.extend(exts);
        let mut hs = vec![0x01];
        hs.extend(&u32::try_from(body.len()).expect("len").to_be_bytes()[1..]);
        hs.extend(body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend(u16::try_from(hs.len()).expect("len").to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn reads_sni() {
        let h = hello(Some("Pass.Example.com"));
        assert_eq!(
            parse_client_hello(&h),
            ClientHello::Complete(Some("pass.example.com".into()))
        );
    }

    #[test]
    fn no_sni() {
        assert_eq!(
            parse_client_hello(&hello(None)),
            ClientHello::Complete(None)
        );
    }

    #[test]
    fn partial_input_asks_for_more() {
        let h = hello(Some("a.example.com"));
        assert_eq!(parse_client_hello(&h[..3]), ClientHello::NeedMore(5));
        assert_eq!(parse_client_hello(&h[..10]), ClientHello::NeedMore(h.len()));
    }

    #[test]
    fn plain_http_is_not_tls() {
        assert_eq!(
            parse_client_hello(b"GET / HTTP/1.1\r\n"),
            ClientHello::NotTls
        );
        assert_eq!(parse_client_hello(b"G"), ClientHello::NotTls);
    }

    #[test]
    fn garbage_never_panics() {
        let h = hello(Some("a.example.com"));
        for cut in 0..h.len() {
            let mut broken = h.clone();
            broken[cut] ^= 0xff;
            let _ = parse_client_hello(&broken);
            let _ = parse_client_hello(&h[..cut]);
        }
    }
}
