//! The clock of the in-process stores: monotonic, but reading as Unix time.
//!
//! Redis scripts take time from `TIME`. In-process state needs Unix time too
//! (rate-limit headers name a Unix second, fencing tokens are seeded from
//! it), but must not move backwards when the wall clock is stepped, or a
//! bucket would refill early. So the clock reads the wall clock once, when
//! it is made, and counts forward from there on the monotonic clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Unix time in microseconds, counted on the monotonic clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnixClock {
    anchor_unix_us: u64,
    anchor: Instant,
}

impl Default for UnixClock {
    fn default() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            anchor_unix_us: micros(since_epoch),
            anchor: Instant::now(),
        }
    }
}

impl UnixClock {
    /// Now, in Unix microseconds.
    pub(crate) fn now_us(&self) -> u64 {
        self.anchor_unix_us
            .saturating_add(micros(self.anchor.elapsed()))
    }
}

/// A duration in whole microseconds, saturating.
pub(crate) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
