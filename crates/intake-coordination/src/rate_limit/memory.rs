//! The in-process GCRA limiter: the in-process coordinator's limiter, and
//! the Redis coordinator's fallback while Redis is unreachable.
//!
//! It holds one TAT per (policy, key) and decides with [`decide`], the same
//! arithmetic as the Redis script. Entries whose bucket is full again are
//! as good as absent and are swept away, so memory is bounded by the keys
//! active within one window.
//!
//! As a fallback it is kept *warm*: it exists from start-up, and every
//! decision Redis makes is mirrored into it (see [`MemoryRateLimiter::mirror`]),
//! so when Redis becomes unreachable a client that had spent its budget
//! stays refused instead of getting a fresh bucket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::RatePolicy;
use super::gcra::{Decision, decide};
use crate::clock::UnixClock;

/// Entries kept before the first sweep of full buckets.
const FIRST_SWEEP_AT: usize = 1024;

/// The in-process rate limiter. Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub struct MemoryRateLimiter {
    state: Arc<Mutex<Buckets>>,
    clock: UnixClock,
}

#[derive(Debug, Default)]
struct Buckets {
    /// TAT (Unix µs) by policy name and key.
    tats: HashMap<(&'static str, String), u64>,
    /// Sweep when the map reaches this many entries.
    sweep_at: usize,
}

impl Buckets {
    /// Drops full buckets once the map has doubled since the last sweep,
    /// so sweeping costs O(1) per insertion on average.
    fn sweep_if_due(&mut self, now_us: u64) {
        if self.tats.len() < self.sweep_at.max(FIRST_SWEEP_AT) {
            return;
        }
        self.tats.retain(|_, tat| *tat > now_us);
        self.sweep_at = (self.tats.len() * 2).max(FIRST_SWEEP_AT);
    }
}

impl MemoryRateLimiter {
    fn lock(&self) -> MutexGuard<'_, Buckets> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides one request; returns the decision and the clock's reading
    /// (Unix µs) it was made at.
    pub(crate) fn decide(
        &self,
        policy_name: &'static str,
        policy: &RatePolicy,
        key: &str,
    ) -> (Decision, u64) {
        let mut buckets = self.lock();
        let now_us = self.clock.now_us();
        let entry_key = (policy_name, key.to_owned());
        let decision = decide(buckets.tats.get(&entry_key).copied(), now_us, policy);
        if let Some(tat) = decision.new_tat_us {
            buckets.tats.insert(entry_key, tat);
            buckets.sweep_if_due(now_us);
        }
        (decision, now_us)
    }

    /// Records a decision made elsewhere (by Redis): the key's bucket is
    /// full again `reset_after_us` from now. The stricter of the two states
    /// is kept. Only the relative time crosses over, so clock skew between
    /// this host and Redis does not matter.
    pub(crate) fn mirror(&self, policy_name: &'static str, key: &str, reset_after_us: u64) {
        let mut buckets = self.lock();
        let now_us = self.clock.now_us();
        let tat = now_us.saturating_add(reset_after_us);
        let stored = buckets
            .tats
            .entry((policy_name, key.to_owned()))
            .or_insert(tat);
        *stored = (*stored).max(tat);
        buckets.sweep_if_due(now_us);
    }

    /// Entries held now (for tests of the sweep).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().tats.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn policy(text: &str) -> RatePolicy {
        text.parse().unwrap()
    }

    #[test]
    fn a_mirrored_spent_bucket_refuses_here_too() {
        let limiter = MemoryRateLimiter::default();
        let policy = policy("2/60s+0");
        // Redis admitted the second request: full again in 60 s.
        limiter.mirror("auth", "client", 60_000_000);

        let (decision, _) = limiter.decide("auth", &policy, "client");

        assert!(!decision.allowed);
        assert!(decision.retry_after_us > 29_000_000);
    }

    #[test]
    fn mirroring_never_loosens_a_stricter_local_state() {
        let limiter = MemoryRateLimiter::default();
        let policy = policy("1/60s+0");
        assert!(limiter.decide("auth", &policy, "client").0.allowed);

        limiter.mirror("auth", "client", 0);

        assert!(!limiter.decide("auth", &policy, "client").0.allowed);
    }

    #[test]
    fn policies_and_keys_have_separate_buckets() {
        let limiter = MemoryRateLimiter::default();
        let policy = policy("1/60s+0");
        assert!(limiter.decide("auth", &policy, "a").0.allowed);
        assert!(limiter.decide("auth", &policy, "b").0.allowed);
        assert!(limiter.decide("api", &policy, "a").0.allowed);
        assert!(!limiter.decide("auth", &policy, "a").0.allowed);
    }

    #[test]
    fn full_buckets_are_swept_so_memory_stays_bounded() {
        let limiter = MemoryRateLimiter::default();
        let policy = RatePolicy {
            count: 1_000_000,
            period: Duration::from_secs(1),
            burst: 0,
        };
        for key in 0..FIRST_SWEEP_AT * 4 {
            limiter.decide("api", &policy, &key.to_string());
        }
        // Each bucket is full again 1 µs after its decision, so every sweep
        // finds the earlier entries gone.
        assert!(limiter.len() < FIRST_SWEEP_AT * 2, "{}", limiter.len());
    }
}
