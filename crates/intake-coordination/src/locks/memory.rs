//! Locks held in this process, with the Redis store's exact contract:
//! owner tokens, leases that run out on their own, and fencing tokens that
//! only grow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Attempt;
use crate::clock::UnixClock;

/// How long a resource's fencing counter outlives its last acquisition,
/// as in Redis.
const FENCE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Entries kept before the first sweep of ended leases and idle counters.
const FIRST_SWEEP_AT: usize = 1024;

/// The in-process lock table. Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub struct MemoryLocks {
    state: Arc<Mutex<Table>>,
    clock: UnixClock,
}

#[derive(Debug, Default)]
struct Table {
    /// Leases by resource.
    leases: HashMap<String, Lease>,
    /// Fencing counters by resource.
    fences: HashMap<String, Fence>,
    /// Sweep when the maps reach this many entries together.
    sweep_at: usize,
}

#[derive(Debug)]
struct Lease {
    owner: Arc<str>,
    expires_at: Instant,
}

#[derive(Debug)]
struct Fence {
    last: u64,
    touched: Instant,
}

impl Lease {
    fn is_live(&self, now: Instant) -> bool {
        now < self.expires_at
    }
}

impl Table {
    /// The live lease of `resource` owned by `owner`, if any.
    fn owned(&mut self, resource: &str, owner: &str, now: Instant) -> Option<&mut Lease> {
        self.leases
            .get_mut(resource)
            .filter(|lease| lease.is_live(now) && *lease.owner == *owner)
    }

    /// Drops ended leases and idle counters once the maps have doubled
    /// since the last sweep.
    fn sweep_if_due(&mut self, now: Instant) {
        if self.leases.len() + self.fences.len() < self.sweep_at.max(FIRST_SWEEP_AT) {
            return;
        }
        self.leases.retain(|_, lease| lease.is_live(now));
        self.fences
            .retain(|_, fence| now.duration_since(fence.touched) < FENCE_TTL);
        self.sweep_at = ((self.leases.len() + self.fences.len()) * 2).max(FIRST_SWEEP_AT);
    }
}

impl MemoryLocks {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn acquire(&self, resource: &str, owner: &Arc<str>, ttl: Duration) -> Attempt {
        let now = Instant::now();
        let mut table = self.lock();
        if let Some(lease) = table
            .leases
            .get(resource)
            .filter(|lease| lease.is_live(now))
        {
            return Attempt::Held {
                held_for: Some(lease.expires_at - now),
            };
        }
        table.leases.insert(
            resource.to_owned(),
            Lease {
                owner: Arc::clone(owner),
                expires_at: now + ttl,
            },
        );
        // Like the script: a missing counter starts from the clock in
        // microseconds.
        let seed = self.clock.now_us();
        let fence = table.fences.entry(resource.to_owned()).or_insert(Fence {
            last: seed,
            touched: now,
        });
        fence.last += 1;
        fence.touched = now;
        let fencing_token = fence.last;
        table.sweep_if_due(now);
        Attempt::Acquired { fencing_token }
    }

    pub(crate) fn extend(&self, resource: &str, owner: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut table = self.lock();
        match table.owned(resource, owner, now) {
            Some(lease) => {
                lease.expires_at = now + ttl;
                true
            }
            None => false,
        }
    }

    pub(crate) fn release(&self, resource: &str, owner: &str) -> bool {
        let now = Instant::now();
        let mut table = self.lock();
        if table.owned(resource, owner, now).is_none() {
            return false;
        }
        table.leases.remove(resource);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    fn fence(attempt: Attempt) -> u64 {
        match attempt {
            Attempt::Acquired { fencing_token } => fencing_token,
            Attempt::Held { .. } => panic!("not acquired"),
        }
    }

    #[test]
    fn only_the_owner_extends_or_releases() {
        let locks = MemoryLocks::default();
        let ttl = Duration::from_secs(30);
        fence(locks.acquire("pdf:1", &owner("a"), ttl));

        assert!(!locks.extend("pdf:1", "b", ttl));
        assert!(!locks.release("pdf:1", "b"));
        assert!(matches!(
            locks.acquire("pdf:1", &owner("b"), ttl),
            Attempt::Held { held_for: Some(_) }
        ));
        assert!(locks.extend("pdf:1", "a", ttl));
        assert!(locks.release("pdf:1", "a"));
        assert!(!locks.release("pdf:1", "a"));
    }

    #[test]
    fn fencing_tokens_grow_per_resource_from_the_clock() {
        let locks = MemoryLocks::default();
        let ttl = Duration::from_secs(30);
        let first = fence(locks.acquire("pdf:1", &owner("a"), ttl));
        locks.release("pdf:1", "a");
        let second = fence(locks.acquire("pdf:1", &owner("b"), ttl));
        let other = fence(locks.acquire("pdf:2", &owner("c"), ttl));

        assert_eq!(second, first + 1);
        assert!(first > 1_700_000_000_000_000, "{first}");
        assert!(other > 1_700_000_000_000_000, "{other}");
    }

    #[test]
    fn ended_leases_are_swept_so_memory_stays_bounded() {
        let locks = MemoryLocks::default();
        for resource in 0..FIRST_SWEEP_AT * 4 {
            // Never released: each lease ends by itself at once.
            locks.acquire(&resource.to_string(), &owner("a"), Duration::ZERO);
        }
        let table = locks.lock();
        assert!(
            table.leases.len() < FIRST_SWEEP_AT,
            "{}",
            table.leases.len()
        );
    }
}
