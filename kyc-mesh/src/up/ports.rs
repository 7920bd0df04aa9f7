//! Where the ports the mesh chooses for itself come from (sidecars' outbound and admin
//! ports, the apps behind sidecars, extra replicas, rollouts, node proxies, waypoints): a
//! free loopback port *below* the kernel's ephemeral range. A port the kernel hands out for
//! `bind(0)` lies in that range, and between the choice and the moment Envoy or the app
//! binds it any client connection may take it as its source port ("Address already in
//! use", seen under parallel load); below the range, only an explicit bind can.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The kernel's ephemeral range when `/proc` does not say (Linux's default).
const EPHEMERAL_LOW: u16 = 32_768;
/// How many ports below the ephemeral range are tried.
const SPAN: u16 = 10_000;
/// Where the next search starts (an offset into the span); random per process, so two
/// meshes starting at once rarely try the same ports.
static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);

/// The first port of the kernel's ephemeral range (`net.ipv4.ip_local_port_range`).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(EPHEMERAL_LOW)
}

/// The ports tried: `[first, first + len)`, all below the ephemeral range and above 1024.
fn range() -> (u16, u16) {
    let end = ephemeral_low().max(1025);
    let first = end.saturating_sub(SPAN).max(1025);
    (first, end - first)
}

/// A free loopback port, bound (hold the listener while choosing more; drop it just before
/// the port is handed to its owner). Below the ephemeral range when one is free there,
/// else the kernel's choice.
pub(super) fn bind_free() -> std::io::Result<TcpListener> {
    let (first, len) = range();
    if len > 0 {
        let len = u32::from(len);
        let start = match NEXT.load(Ordering::Relaxed) {
            u32::MAX => rand::random::<u32>() % len,
            n => n % len,
        };
        for i in 0..len {
            let offset = (start + i) % len;
            let Ok(port) = u16::try_from(u32::from(first) + offset) else {
                continue;
            };
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
                NEXT.store(offset + 1, Ordering::Relaxed);
                return Ok(l);
            }
        }
    }
    TcpListener::bind(("127.0.0.1", 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_below_the_ephemeral_range_and_differ_while_held() {
        let low = ephemeral_low();
        let held: Vec<TcpListener> = (0..50).map(|_| bind_free().expect("bind")).collect();
        let ports: std::collections::BTreeSet<u16> = held
            .iter()
            .map(|l| l.local_addr().expect("addr").port())
            .collect();
        assert_eq!(ports.len(), 50, "{ports:?}");
        assert!(ports.iter().all(|&p| p < low && p > 1024), "{ports:?}");
    }
}
