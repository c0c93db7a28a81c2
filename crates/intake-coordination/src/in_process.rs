//! The embedded coordinator: shared state held in this process only.
//!
//! It serves `intake serve` with no configuration (one instance, nothing to
//! share with) and keeps the same contract as the Redis coordinator, so that
//! one contract test suite runs against both. It is also what rate limiting
//! falls back to while Redis is unreachable.

use crate::locks::MemoryLocks;
use crate::rate_limit::MemoryRateLimiter;
use crate::sessions::MemorySessions;

/// The in-process coordinator. Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub struct InProcessCoordinator {
    sessions: MemorySessions,
    rate_limiter: MemoryRateLimiter,
    locks: MemoryLocks,
}

impl InProcessCoordinator {
    /// An empty coordinator.
    pub fn new() -> Self {
        Self::default()
    }

    /// The session store.
    pub fn sessions(&self) -> &MemorySessions {
        &self.sessions
    }

    /// The rate limiter.
    pub fn rate_limiter(&self) -> &MemoryRateLimiter {
        &self.rate_limiter
    }

    /// The lock table.
    pub fn locks(&self) -> &MemoryLocks {
        &self.locks
    }
}
