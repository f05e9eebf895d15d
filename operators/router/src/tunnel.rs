//! Byte tunnels (WebSocket and other upgrades, passthrough TLS) with HAProxy's `timeout tunnel`
//! semantics: the tunnel closes once no byte moved in either direction for the idle timeout
//! (`haproxy.router.openshift.io/timeout-tunnel`). A half-closed side is forwarded as a write
//! shutdown and the other direction carries on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn pump<R, W>(
    mut r: R,
    mut w: W,
    idle: Duration,
    last: &AtomicU64,
    start: Instant,
) -> std::io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
    loop {
        match tokio::time::timeout(idle, r.read(&mut buf)).await {
            Ok(Ok(0)) => {
                let _ = w.shutdown().await;
                return Ok(total);
            }
            Ok(Ok(n)) => {
                w.write_all(&buf[..n]).await?;
                total += n as u64;
                last.store(millis_since(start), Ordering::Relaxed);
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                // quiet this way; close only if the other way was quiet too
                if millis_since(start).saturating_sub(last.load(Ordering::Relaxed)) >= idle_ms {
                    let _ = w.shutdown().await;
                    return Ok(total);
                }
            }
        }
    }
}

/// Copies both ways until both sides closed or the tunnel was idle for `idle`. Returns the bytes
/// moved a→b and b→a.
pub async fn run<A, B>(a: A, b: B, idle: Duration) -> (u64, u64)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let last = AtomicU64::new(0);
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    let (ab, ba) = tokio::join!(
        pump(ar, bw, idle, &last, start),
        pump(br, aw, idle, &last, start)
    );
    (ab.unwrap_or(0), ba.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn echoes_and_ends_when_both_sides_close() {
        let (client, a) = tokio::io::duplex(1024);
        let (b, mut server) = tokio::io::duplex(1024);
        let t = tokio::spawn(run(a, b, Duration::from_secs(5)));
        let (mut cr, mut cw) = tokio::io::split(client);
        cw.write_all(b"hello").await.expect("write");
        let mut got = [0u8; 5];
        server.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"hello");
        server.write_all(b"world").await.expect("write");
        cr.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"world");
        drop(cw);
        drop(cr);
        drop(server);
        assert_eq!(t.await.expect("join"), (5, 5));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_tunnels_close_active_ones_do_not() {
        let (client, a) = tokio::io::duplex(1024);
        let (b, mut server) = tokio::io::duplex(1024);
        let t = tokio::spawn(run(a, b, Duration::from_secs(10)));
        let (_cr, mut cw) = tokio::io::split(client);
        // traffic one way only, every 6 s, for 30 s: the quiet way must not close the tunnel
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(6)).await;
            cw.write_all(b"x").await.expect("write");
            let mut one = [0u8; 1];
            server.read_exact(&mut one).await.expect("read");
        }
        assert!(!t.is_finished());
        tokio::time::sleep(Duration::from_secs(21)).await;
        let (ab, ba) = tokio::time::timeout(Duration::from_secs(1), t)
            .await
            .expect("closed")
            .expect("join");
        assert_eq!((ab, ba), (5, 0));
    }
}
