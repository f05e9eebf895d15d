//! Label selectors in the string form used by `ROUTE_LABELS` / `NAMESPACE_LABELS`
//! (`a=b,c!=d,e in (x,y),f notin (z),g,!h`), for router sharding.

use std::collections::BTreeMap;

/// Why a selector string could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    /// A requirement had no key, or an operator without values.
    #[error("invalid label selector requirement {0:?}")]
    InvalidRequirement(String),
    /// `in`/`notin` without a parenthesised value list.
    #[error("label selector requirement {0:?} needs a value list in parentheses")]
    MissingValues(String),
}

impl SelectorError {
    /// Stable category for logs and metrics.
    pub fn category(&self) -> &'static str {
        "InvalidSelector"
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// True when the selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`; `==` is accepted for `=`.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(Self { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Eq(k, v) => labels.get(k) == Some(v),
            Requirement::NotEq(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn parse_values(part: &str, rest: &str) -> Result<Vec<String>, SelectorError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| SelectorError::MissingValues(part.to_string()))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn parse_requirement(part: &str) -> Result<Requirement, SelectorError> {
    let invalid = || SelectorError::InvalidRequirement(part.to_string());
    if let Some(k) = part.strip_prefix('!') {
        let k = k.trim();
        return if valid_key(k) {
            Ok(Requirement::NotExists(k.to_string()))
        } else {
            Err(invalid())
        };
    }
    if let Some((k, v)) = part.split_once("!=") {
        let k = k.trim();
        if !valid_key(k) {
            return Err(invalid());
        }
        return Ok(Requirement::NotEq(k.to_string(), v.trim().to_string()));
    }
    if let Some((k, v)) = part.split_once('=') {
        let k = k.trim();
        let v = v.strip_prefix('=').unwrap_or(v);
        if !valid_key(k) {
            return Err(invalid());
        }
        return Ok(Requirement::Eq(k.to_string(), v.trim().to_string()));
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default().trim();
    let rest = words.next().unwrap_or_default().trim();
    if !valid_key(key) {
        return Err(invalid());
    }
    if rest.is_empty() {
        return Ok(Requirement::Exists(key.to_string()));
    }
    if let Some(r) = rest.strip_prefix("notin") {
        return Ok(Requirement::NotIn(key.to_string(), parse_values(part, r)?));
    }
    if let Some(r) = rest.strip_prefix("in") {
        return Ok(Requirement::In(key.to_string(), parse_values(part, r)?));
    }
    Err(invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_matches_everything() {
        let s = Selector::parse("").expect("parse");
        assert!(s.is_empty());
        assert!(s.matches(&labels(&[])));
    }

    #[test]
    fn equality_and_sets() {
        let s = Selector::parse("shard=a, env in (prod,stage),tier notin (db), team, !legacy")
            .expect("parse");
        assert!(s.matches(&labels(&[("shard", "a"), ("env", "prod"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("shard", "b"), ("env", "prod"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("shard", "a"), ("env", "dev"), ("team", "x")])));
        assert!(!s.matches(&labels(&[
            ("shard", "a"),
            ("env", "prod"),
            ("team", "x"),
            ("tier", "db")
        ])));
        assert!(!s.matches(&labels(&[("shard", "a"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[
            ("shard", "a"),
            ("env", "prod"),
            ("team", "x"),
            ("legacy", "")
        ])));
    }

    #[test]
    fn not_equal_and_double_equal() {
        let s = Selector::parse("a!=b,c==d").expect("parse");
        assert!(s.matches(&labels(&[("c", "d")])));
        assert!(!s.matches(&labels(&[("a", "b"), ("c", "d")])));
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(matches!(
            Selector::parse("=x"),
            Err(SelectorError::InvalidRequirement(_))
        ));
        assert!(matches!(
            Selector::parse("a in x"),
            Err(SelectorError::MissingValues(_))
        ));
        assert!(matches!(
            Selector::parse("a b"),
            Err(SelectorError::InvalidRequirement(_))
        ));
    }
}
