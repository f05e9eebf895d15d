//! `spec.httpHeaders.actions`: headers set or deleted on requests (before they reach the pods)
//! and on responses. Values are literal text or HAProxy sample expressions as OpenShift allows
//! them: `%[req.hdr(Name)]` (requests), `%[res.hdr(Name)]` (responses), `%[ssl_c_der]` (the
//! client certificate; empty here, as this router asks for none), with the converters `lower`
//! and `base64`; `%%` is a literal `%`; an optional `%{+Q}`-style flag block is accepted and
//! ignored.

use outrigger_api::route::{RouteHttpHeader, RouteHttpHeaders};

/// Where a dynamic value is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetch {
    /// A request header.
    RequestHeader(String),
    /// A response header.
    ResponseHeader(String),
    /// The client certificate (DER).
    ClientCertificate,
}

/// A converter applied to a fetched value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Converter {
    /// ASCII lower case.
    Lower,
    /// Base64 (standard alphabet, padded).
    Base64,
}

/// A piece of a header value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// A fetched value with converters.
    Sample(Fetch, Vec<Converter>),
}

/// What to do with one header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderAction {
    /// Set (replace) the header with a value.
    Set(String, Vec<Segment>),
    /// Remove the header.
    Delete(String),
}

/// The actions of a route, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderActions {
    /// On requests.
    pub request: Vec<HeaderAction>,
    /// On responses.
    pub response: Vec<HeaderAction>,
}

impl HeaderActions {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }
}

/// Parses one value. `response` selects which header fetch is allowed.
pub fn parse_value(v: &str, response: bool) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = v;
    while let Some(i) = rest.find('%') {
        text.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('%') {
            text.push('%');
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix('{') {
            let end = r
                .find('}')
                .ok_or_else(|| format!("unclosed %{{ in {v:?}"))?;
            rest = &r[end + 1..];
        }
        let r = rest
            .strip_prefix('[')
            .ok_or_else(|| format!("'%' must be followed by '%' or '[' in {v:?}"))?;
        let end = r.find(']').ok_or_else(|| format!("unclosed %[ in {v:?}"))?;
        let expr = &r[..end];
        rest = &r[end + 1..];
        if !text.is_empty() {
            out.push(Segment::Text(std::mem::take(&mut text)));
        }
        let mut parts = expr.split(',');
        let fetch = parts.next().unwrap_or_default().trim();
        let hdr = |prefix: &str| {
            fetch
                .strip_prefix(prefix)
                .and_then(|f| f.strip_suffix(')'))
                .filter(|n| {
                    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
                .map(str::to_string)
        };
        let fetch = if fetch == "ssl_c_der" {
            Fetch::ClientCertificate
        } else if let (false, Some(n)) = (response, hdr("req.hdr(")) {
            Fetch::RequestHeader(n)
        } else if let (true, Some(n)) = (response, hdr("res.hdr(")) {
            Fetch::ResponseHeader(n)
        } else {
            return Err(format!("unsupported sample fetch {fetch:?} in {v:?}"));
        };
        let converters = parts
            .map(|c| match c.trim() {
                "lower" => Ok(Converter::Lower),
                "base64" => Ok(Converter::Base64),
                other => Err(format!("unsupported converter {other:?} in {v:?}")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Segment::Sample(fetch, converters));
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Segment::Text(text));
    }
    Ok(out)
}

fn actions(
    list: Option<&Vec<RouteHttpHeader>>,
    response: bool,
) -> Result<Vec<HeaderAction>, String> {
    list.into_iter()
        .flatten()
        .map(|h| match h.action.type_.as_str() {
            "Delete" => Ok(HeaderAction::Delete(h.name.clone())),
            "Set" => {
                let v = h
                    .action
                    .set
                    .as_ref()
                    .ok_or_else(|| format!("header {}: Set without a value", h.name))?;
                Ok(HeaderAction::Set(
                    h.name.clone(),
                    parse_value(&v.value, response)?,
                ))
            }
            other => Err(format!("header {}: unknown action {other:?}", h.name)),
        })
        .collect()
}

/// Reads `spec.httpHeaders`.
pub fn parse(h: Option<&RouteHttpHeaders>) -> Result<HeaderActions, String> {
    let a = h.and_then(|h| h.actions.as_ref());
    Ok(HeaderActions {
        request: actions(a.and_then(|a| a.request.as_ref()), false)?,
        response: actions(a.and_then(|a| a.response.as_ref()), true)?,
    })
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4usize {
            if i <= chunk.len() {
                let idx = (n >> (18 - 6 * i)) & 63;
                out.push(char::from(T[usize::try_from(idx).unwrap_or(0)]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Renders a value; `header` reads the request (or response) header named.
pub fn render(segments: &[Segment], header: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Text(t) => out.push_str(t),
            Segment::Sample(fetch, converters) => {
                let mut v = match fetch {
                    Fetch::RequestHeader(n) | Fetch::ResponseHeader(n) => {
                        header(n).unwrap_or_default()
                    }
                    Fetch::ClientCertificate => String::new(),
                };
                for c in converters {
                    v = match c {
                        Converter::Lower => v.to_ascii_lowercase(),
                        Converter::Base64 => base64(v.as_bytes()),
                    };
                }
                out.push_str(&v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literal_and_samples() {
        assert_eq!(
            parse_value("plain 100%% sure", false),
            Ok(vec![Segment::Text("plain 100% sure".into())])
        );
        let v = parse_value(
            "host=%[req.hdr(Host),lower] b=%{+Q}[req.hdr(X-A),base64]",
            false,
        )
        .expect("parse");
        assert_eq!(
            v,
            vec![
                Segment::Text("host=".into()),
                Segment::Sample(Fetch::RequestHeader("Host".into()), vec![Converter::Lower]),
                Segment::Text(" b=".into()),
                Segment::Sample(Fetch::RequestHeader("X-A".into()), vec![Converter::Base64]),
            ]
        );
        let headers = |n: &str| match n {
            "Host" => Some("WWW.Example.COM".to_string()),
            "X-A" => Some("hello".to_string()),
            _ => None,
        };
        assert_eq!(render(&v, &headers), "host=www.example.com b=aGVsbG8=");
    }

    #[test]
    fn fetches_must_match_the_direction() {
        assert!(parse_value("%[res.hdr(X)]", false).is_err());
        assert!(parse_value("%[req.hdr(X)]", true).is_err());
        assert!(parse_value("%[res.hdr(X)]", true).is_ok());
        assert!(parse_value("%[ssl_c_der,base64]", true).is_ok());
        assert!(parse_value("%[src]", false).is_err());
        assert!(parse_value("%[req.hdr(X),upper]", false).is_err());
        assert!(parse_value("50%", false).is_err());
        assert!(parse_value("%[req.hdr(X)", false).is_err());
    }

    #[test]
    fn base64_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn from_the_route_spec() {
        let h: RouteHttpHeaders = serde_json::from_value(json!({"actions": {
            "request": [{"name": "X-Env", "action": {"type": "Set", "set": {"value": "prod"}}},
                        {"name": "X-Drop", "action": {"type": "Delete"}}],
            "response": [{"name": "X-Echo", "action": {"type": "Set", "set": {"value": "%[res.hdr(Server)]"}}}]
        }}))
        .expect("headers");
        let a = parse(Some(&h)).expect("parse");
        assert_eq!(a.request.len(), 2);
        assert_eq!(a.request[1], HeaderAction::Delete("X-Drop".into()));
        assert!(matches!(&a.response[0], HeaderAction::Set(n, _) if n == "X-Echo"));
        assert!(parse(None).expect("none").is_empty());
    }
}
