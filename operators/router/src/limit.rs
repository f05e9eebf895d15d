//! Per-source limits of `haproxy.router.openshift.io/rate-limit-connections.*`, per route and
//! client address. HAProxy applies them to TCP connections with sliding counters; this router
//! applies them per request (the route of an HTTP connection is only known per request), with
//! fixed windows: `rate-http` = requests per 10 s, `rate-tcp` = first requests of new
//! connections per 3 s, `concurrent-tcp` = requests in flight. Over a limit the request gets
//! 429; passthrough connections are checked once per connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use outrigger_route_table::ObjectKey;
use outrigger_route_table::annotations::RateLimit;

const HTTP_WINDOW: Duration = Duration::from_secs(10);
const TCP_WINDOW: Duration = Duration::from_secs(3);
/// Above this many tracked (route, address) pairs, idle ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug)]
struct Counters {
    http_start: Instant,
    http: u32,
    tcp_start: Instant,
    tcp: u32,
    in_flight: u32,
    last_seen: Instant,
}

/// Which limit a request hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    /// `rate-http`.
    HttpRate,
    /// `rate-tcp`.
    TcpRate,
    /// `concurrent-tcp`.
    Concurrent,
}

impl Limited {
    /// Metric label.
    pub fn kind(self) -> &'static str {
        match self {
            Limited::HttpRate => "rate_http",
            Limited::TcpRate => "rate_tcp",
            Limited::Concurrent => "concurrent_tcp",
        }
    }
}

type Key = (ObjectKey, IpAddr);

/// The limiter shared by all connections.
#[derive(Clone, Debug, Default)]
pub struct Limiter {
    inner: Arc<Mutex<HashMap<Key, Counters>>>,
}

/// Holds one request in flight; released on drop.
#[derive(Debug)]
pub struct Permit {
    inner: Arc<Mutex<HashMap<Key, Counters>>>,
    key: Key,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = m.get_mut(&self.key) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
    }
}

impl Limiter {
    /// Admits or refuses one request of `client` to `route` at `now`; `new_connection` is true
    /// for the first request of a connection.
    pub fn check(
        &self,
        route: &ObjectKey,
        client: IpAddr,
        limits: &RateLimit,
        new_connection: bool,
        now: Instant,
    ) -> Result<Permit, Limited> {
        let mut m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if m.len() > PRUNE_ABOVE {
            m.retain(|_, c| c.in_flight > 0 || now.duration_since(c.last_seen) < HTTP_WINDOW);
        }
        let key = (route.clone(), client);
        let c = m.entry(key.clone()).or_insert(Counters {
            http_start: now,
            http: 0,
            tcp_start: now,
            tcp: 0,
            in_flight: 0,
            last_seen: now,
        });
        c.last_seen = now;
        if now.duration_since(c.http_start) >= HTTP_WINDOW {
            c.http_start = now;
            c.http = 0;
        }
        if now.duration_since(c.tcp_start) >= TCP_WINDOW {
            c.tcp_start = now;
            c.tcp = 0;
        }
        if limits.concurrent_tcp.is_some_and(|max| c.in_flight >= max) {
            return Err(Limited::Concurrent);
        }
        if limits.rate_http.is_some_and(|max| c.http >= max) {
            return Err(Limited::HttpRate);
        }
        if new_connection && limits.rate_tcp.is_some_and(|max| c.tcp >= max) {
            return Err(Limited::TcpRate);
        }
        c.http += 1;
        if new_connection {
            c.tcp += 1;
        }
        c.in_flight += 1;
        Ok(Permit {
            inner: self.inner.clone(),
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ObjectKey {
        ObjectKey::new("ns", "r")
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    #[test]
    fn http_rate_per_window_and_address() {
        let l = Limiter::default();
        let limits = RateLimit {
            rate_http: Some(3),
            ..Default::default()
        };
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check(&key(), IP, &limits, false, t0).is_ok());
        }
        assert_eq!(
            l.check(&key(), IP, &limits, false, t0).err(),
            Some(Limited::HttpRate)
        );
        assert!(
            l.check(&key(), OTHER, &limits, false, t0).is_ok(),
            "other addresses have their own budget"
        );
        assert!(
            l.check(&ObjectKey::new("ns", "other"), IP, &limits, false, t0)
                .is_ok(),
            "and other routes"
        );
        assert!(
            l.check(&key(), IP, &limits, false, t0 + Duration::from_secs(10))
                .is_ok(),
            "next window"
        );
    }

    #[test]
    fn concurrency_is_released_on_drop() {
        let l = Limiter::default();
        let limits = RateLimit {
            concurrent_tcp: Some(2),
            ..Default::default()
        };
        let t0 = Instant::now();
        let a = l.check(&key(), IP, &limits, false, t0).expect("first");
        let _b = l.check(&key(), IP, &limits, false, t0).expect("second");
        assert_eq!(
            l.check(&key(), IP, &limits, false, t0).err(),
            Some(Limited::Concurrent)
        );
        drop(a);
        assert!(l.check(&key(), IP, &limits, false, t0).is_ok());
    }

    #[test]
    fn tcp_rate_counts_new_connections_only() {
        let l = Limiter::default();
        let limits = RateLimit {
            rate_tcp: Some(1),
            ..Default::default()
        };
        let t0 = Instant::now();
        assert!(l.check(&key(), IP, &limits, true, t0).is_ok());
        assert!(
            l.check(&key(), IP, &limits, false, t0).is_ok(),
            "more requests on the same connection"
        );
        assert_eq!(
            l.check(&key(), IP, &limits, true, t0).err(),
            Some(Limited::TcpRate)
        );
        assert!(
            l.check(&key(), IP, &limits, true, t0 + Duration::from_secs(3))
                .is_ok()
        );
    }

    #[test]
    fn idle_entries_are_pruned() {
        let l = Limiter::default();
        let limits = RateLimit {
            rate_http: Some(1),
            ..Default::default()
        };
        let t0 = Instant::now();
        for i in 0..=u32::try_from(PRUNE_ABOVE).expect("fits") {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            let _ = l.check(&key(), ip, &limits, false, t0);
        }
        let _ = l.check(&key(), IP, &limits, false, t0 + Duration::from_secs(11));
        assert!(l.inner.lock().expect("lock").len() <= 2);
    }
}
