//! Single-use, expiring tokens for cached streaming requests (like the
//! kubelet's request cache).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a token stays valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(60);
/// Upper bound of outstanding tokens; the oldest is evicted beyond it.
pub const MAX_TOKENS: usize = 1000;

/// A cache of requests keyed by random tokens.
pub struct RequestCache<T> {
    ttl: Duration,
    inner: Mutex<HashMap<String, (Instant, T)>>,
}

impl<T> RequestCache<T> {
    /// An empty cache whose tokens live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::new(HashMap::new()),
        }
    }

    /// Store `req` and return its new token.
    pub fn insert(&self, req: T) -> String {
        self.insert_at(req, Instant::now())
    }

    fn insert_at(&self, req: T, now: Instant) -> String {
        let token = new_token();
        let mut map = match self.inner.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let ttl = self.ttl;
        map.retain(|_, (t, _)| now.saturating_duration_since(*t) < ttl);
        if map.len() >= MAX_TOKENS {
            let oldest = map
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(token.clone(), (now, req));
        token
    }

    /// Take the request for `token` (single use). `None` if unknown or expired.
    pub fn take(&self, token: &str) -> Option<T> {
        self.take_at(token, Instant::now())
    }

    fn take_at(&self, token: &str, now: Instant) -> Option<T> {
        let mut map = match self.inner.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let (t, req) = map.remove(token)?;
        if now.saturating_duration_since(t) >= self.ttl {
            return None;
        }
        Some(req)
    }
}

/// A fresh URL-safe random token (128 bits, hex).
fn new_token() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: derive from time and a counter (still unique; only
        // the unguessability is weaker) rather than fail the RPC.
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b[..8].copy_from_slice(&(t as u64).to_le_bytes());
        b[8..].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_single_use() {
        let c = RequestCache::new(TOKEN_TTL);
        let t = c.insert(5u32);
        assert_eq!(t.len(), 32);
        assert_eq!(c.take(&t), Some(5));
        assert_eq!(c.take(&t), None);
        assert_eq!(c.take("nope"), None);
    }

    #[test]
    fn tokens_expire_after_ttl() {
        let c = RequestCache::new(Duration::from_secs(60));
        let now = Instant::now();
        let t = c.insert_at(1u32, now);
        assert_eq!(c.take_at(&t, now + Duration::from_secs(61)), None);
        let t2 = c.insert_at(2u32, now);
        assert_eq!(c.take_at(&t2, now + Duration::from_secs(59)), Some(2));
    }

    #[test]
    fn tokens_are_distinct_and_cache_is_bounded() {
        let c = RequestCache::new(TOKEN_TTL);
        let a = c.insert(1u32);
        let b = c.insert(2u32);
        assert_ne!(a, b);
        for i in 0..(MAX_TOKENS + 10) {
            c.insert(i as u32);
        }
        assert!(c.inner.lock().unwrap().len() <= MAX_TOKENS);
    }
}
