//! Free loopback ports for test servers.
//!
//! A port is found by binding `127.0.0.1:0` and closing the listener at once,
//! so another process may still take it before the server binds it; a server
//! then fails with "Address already in use" and the caller may try again.
//! Within this process a port is never issued twice, so tests running in
//! parallel do not collide with each other.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, PoisonError};

/// Redis Cluster listens on its port plus this offset for the cluster bus.
pub(super) const CLUSTER_BUS_OFFSET: u16 = 10_000;

/// The port of the system Redis on this machine, never handed to a test.
const SYSTEM_REDIS_PORT: u16 = 6379;

/// How many ports the kernel may offer before giving up; collisions are rare,
/// so reaching this means something else is wrong.
const ATTEMPTS: usize = 100;

/// Every port issued so far by this process, cluster bus ports included.
static ISSUED_PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A loopback port that was free a moment ago.
pub(super) fn free_port() -> u16 {
    find_port(false)
}

/// A loopback port that was free a moment ago together with its cluster bus
/// port (the port plus [`CLUSTER_BUS_OFFSET`]).
pub(super) fn free_cluster_port() -> u16 {
    find_port(true)
}

fn find_port(with_cluster_bus: bool) -> u16 {
    let mut issued = ISSUED_PORTS.lock().unwrap_or_else(PoisonError::into_inner);
    for _ in 0..ATTEMPTS {
        // Both listeners stay open until the checks are done, so the kernel
        // cannot offer the same port twice within one attempt.
        let Some((port, _listener)) = bind_any_port() else {
            continue;
        };
        if port == SYSTEM_REDIS_PORT || issued.contains(&port) {
            continue;
        }
        if !with_cluster_bus {
            issued.insert(port);
            return port;
        }
        let Some(bus_port) = port.checked_add(CLUSTER_BUS_OFFSET) else {
            continue;
        };
        if issued.contains(&bus_port) || !can_bind(bus_port) {
            continue;
        }
        issued.extend([port, bus_port]);
        return port;
    }
    panic!("found no free loopback port in {ATTEMPTS} attempts");
}

fn bind_any_port() -> Option<(u16, TcpListener)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    let port = listener.local_addr().ok()?.port();
    Some((port, listener))
}

fn can_bind(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ports_leave_room_for_a_free_bus_port() {
        let port = free_cluster_port();

        assert!(port <= u16::MAX - CLUSTER_BUS_OFFSET);
        assert!(can_bind(port + CLUSTER_BUS_OFFSET));
    }

    #[test]
    fn ports_are_never_issued_twice() {
        let ports: BTreeSet<u16> = (0..50).map(|_| free_port()).collect();

        assert_eq!(ports.len(), 50);
        assert!(!ports.contains(&SYSTEM_REDIS_PORT));
    }
}
