//! The GCRA arithmetic, once, as a pure function on integers.
//!
//! The Generic Cell Rate Algorithm keeps one number per key: the
//! *theoretical arrival time* (TAT), the instant at which the bucket would
//! be full again. Each admitted request pushes it one *emission interval*
//! (`period / count`) further; a request is refused when that would put the
//! TAT more than one *window* (`interval × (count + burst)`) ahead of now.
//!
//! [`decide`] is the whole algorithm. The in-process limiter calls it, and
//! `gcra.lua` is the same formula line for line, fed the same two integers
//! from [`RatePolicy::gcra`], so both stores decide identically; the
//! property tests below pin the formula down.
//!
//! All times are integer microseconds. Lua numbers in Redis are doubles,
//! exact up to 2^53; Unix time in microseconds is about 2^51, and
//! [`MAX_WINDOW_US`] keeps every sum below 2^53.

use std::time::Duration;

use super::RatePolicy;
use crate::clock::micros;

/// The longest window (`interval × (count + burst)`) a policy may span,
/// about 8.9 years, so the script's arithmetic stays exact in doubles.
pub const MAX_WINDOW_US: u64 = 1 << 48;

/// A policy's GCRA parameters in integer microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraParams {
    /// Time one request costs: `ceil(period / count)`, at least 1 µs.
    ///
    /// Rounded up, so the sustained rate is never above COUNT per period.
    pub interval_us: u64,
    /// How far ahead of now the TAT may run:
    /// `interval × (count + burst)`, at most [`MAX_WINDOW_US`].
    pub window_us: u64,
}

impl RatePolicy {
    /// The policy's GCRA parameters.
    ///
    /// Total for any field values: absurd policies (which parsing refuses)
    /// are clamped to [`MAX_WINDOW_US`] rather than overflowing.
    pub fn gcra(&self) -> GcraParams {
        let period_us = micros(self.period).clamp(1, MAX_WINDOW_US);
        let count = u64::from(self.count.max(1));
        let interval_us = period_us.div_ceil(count);
        let capacity = u64::from(self.count.max(1)) + u64::from(self.burst);
        let window_us = interval_us
            .saturating_mul(capacity)
            .min(MAX_WINDOW_US)
            .max(interval_us);
        GcraParams {
            interval_us,
            window_us,
        }
    }

    /// Requests admitted at once from rest: COUNT + BURST.
    pub fn capacity(&self) -> u64 {
        u64::from(self.count) + u64::from(self.burst)
    }
}

/// What [`decide`] concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is admitted.
    pub allowed: bool,
    /// Further requests that would be admitted right now.
    pub remaining: u64,
    /// Time until the bucket is full again (TAT − now after this decision).
    pub reset_after_us: u64,
    /// When refused: time until one request would be admitted. 0 when
    /// admitted.
    pub retry_after_us: u64,
    /// The TAT to store when admitted; `None` when refused, because a
    /// refused request writes nothing.
    pub new_tat_us: Option<u64>,
}

impl Decision {
    /// [`Self::reset_after_us`] as a duration.
    pub fn reset_after(&self) -> Duration {
        Duration::from_micros(self.reset_after_us)
    }
}

/// Decides one request at `now_us` for a key whose stored TAT is
/// `state_tat_us` (`None`: no key, the bucket is full).
///
/// `gcra.lua` implements exactly this; change both together.
pub fn decide(state_tat_us: Option<u64>, now_us: u64, policy: &RatePolicy) -> Decision {
    let GcraParams {
        interval_us,
        window_us,
    } = policy.gcra();
    let tat = state_tat_us.unwrap_or(now_us).max(now_us);
    let new_tat = tat + interval_us;
    let allow_at = new_tat.saturating_sub(window_us);
    if now_us < allow_at {
        return Decision {
            allowed: false,
            remaining: 0,
            reset_after_us: tat - now_us,
            retry_after_us: allow_at - now_us,
            new_tat_us: None,
        };
    }
    Decision {
        allowed: true,
        remaining: (now_us + window_us - new_tat) / interval_us,
        reset_after_us: new_tat - now_us,
        retry_after_us: 0,
        new_tat_us: Some(new_tat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Unix time in microseconds today is about 2^50.6.
    const SOME_NOW_US: u64 = 1_780_000_000_000_000;

    fn policies() -> impl Strategy<Value = RatePolicy> {
        (1u32..=500, 1u64..=3600, 0u32..=50).prop_map(|(count, seconds, burst)| RatePolicy {
            count,
            period: Duration::from_secs(seconds),
            burst,
        })
    }

    fn starts() -> impl Strategy<Value = u64> {
        0u64..(1 << 51)
    }

    /// Applies a decision to the stored state, as both stores do.
    fn apply(state: &mut Option<u64>, decision: &Decision) {
        if let Some(tat) = decision.new_tat_us {
            *state = Some(tat);
        }
    }

    /// Runs requests at `times`, returning the admitted ones' times.
    fn run(policy: &RatePolicy, times: &[u64]) -> Vec<u64> {
        let mut state = None;
        let mut admitted = Vec::new();
        for &now in times {
            let decision = decide(state, now, policy);
            apply(&mut state, &decision);
            if decision.allowed {
                admitted.push(now);
            }
        }
        admitted
    }

    #[test]
    fn a_policy_of_three_per_minute_plus_two_admits_five_then_waits_twenty_seconds() {
        let policy: RatePolicy = "3/60s+2".parse().unwrap();
        let mut state = None;
        for expected_remaining in [4, 3, 2, 1, 0] {
            let decision = decide(state, SOME_NOW_US, &policy);
            assert!(decision.allowed);
            assert_eq!(decision.remaining, expected_remaining);
            apply(&mut state, &decision);
        }
        let refused = decide(state, SOME_NOW_US, &policy);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_us, 20_000_000);
        assert_eq!(refused.reset_after_us, 100_000_000);
    }

    #[test]
    fn the_interval_rounds_up_so_the_rate_never_exceeds_the_policy() {
        let policy: RatePolicy = "7/60s+0".parse().unwrap();
        assert_eq!(policy.gcra().interval_us, 8_571_429);
        assert_eq!(policy.gcra().window_us, 8_571_429 * 7);
    }

    #[test]
    fn absurd_policies_are_clamped_not_overflowed() {
        let policy = RatePolicy {
            count: 1,
            period: Duration::from_secs(u64::MAX),
            burst: u32::MAX,
        };
        let params = policy.gcra();
        assert_eq!(params.window_us, MAX_WINDOW_US);
        assert!(params.interval_us <= params.window_us);
        assert!(decide(None, SOME_NOW_US, &policy).allowed);
    }

    proptest! {
        #[test]
        fn from_rest_exactly_count_plus_burst_are_admitted_in_an_instant(
            policy in policies(),
            now in starts(),
            extra in 1usize..20,
        ) {
            let capacity = usize::try_from(policy.capacity()).unwrap();
            let times = vec![now; capacity + extra];
            prop_assert_eq!(run(&policy, &times).len(), capacity);
        }

        #[test]
        fn no_stretch_of_time_admits_more_than_the_burst_plus_count_per_period(
            policy in policies(),
            start in starts(),
            gaps in prop::collection::vec(prop_oneof![Just(0u64), 0u64..1000], 1..300),
        ) {
            // Each gap is 0 to 999 thousandths of the period: bursts mixed
            // with pauses of every length up to a period.
            let period_us = policy.period.as_micros() as u64;
            let times: Vec<u64> = gaps
                .iter()
                .scan(start, |now, gap| {
                    *now += gap * period_us / 1000;
                    Some(*now)
                })
                .collect();
            let admitted = run(&policy, &times);
            let capacity = u128::from(policy.capacity());
            let period_us = policy.period.as_micros();
            let count = u128::from(policy.count);
            // Between any two admitted requests i ≤ j, inclusive:
            // (j − i + 1) ≤ capacity + (a_j − a_i) × count / period.
            for i in 0..admitted.len() {
                for j in i..admitted.len() {
                    let admitted_here = (j - i + 1) as u128;
                    let elapsed = u128::from(admitted[j] - admitted[i]);
                    prop_assert!(
                        admitted_here.saturating_sub(capacity) * period_us <= elapsed * count,
                        "{} admitted in {} µs under {}", admitted_here, elapsed, policy
                    );
                }
            }
        }

        #[test]
        fn requests_spaced_one_interval_apart_are_never_refused(
            policy in policies(),
            start in starts(),
            requests in 1usize..200,
        ) {
            let interval = policy.gcra().interval_us;
            let times: Vec<u64> = (0..requests as u64).map(|n| start + n * interval).collect();
            prop_assert_eq!(run(&policy, &times).len(), requests);
        }

        #[test]
        fn remaining_counts_exactly_the_requests_still_admitted_now(
            policy in policies(),
            now in starts(),
            spent in 0usize..60,
        ) {
            let mut state = None;
            for _ in 0..spent {
                let decision = decide(state, now, &policy);
                apply(&mut state, &decision);
            }
            let decision = decide(state, now, &policy);
            apply(&mut state, &decision);
            let mut further = 0;
            loop {
                let next = decide(state, now, &policy);
                if !next.allowed {
                    break;
                }
                apply(&mut state, &next);
                further += 1;
            }
            prop_assert_eq!(decision.remaining, further);
        }

        #[test]
        fn the_bucket_is_full_again_exactly_at_reset(
            policy in policies(),
            now in starts(),
            spent in 1usize..60,
        ) {
            let mut state = None;
            let mut reset_after_us = 0;
            for _ in 0..spent {
                let decision = decide(state, now, &policy);
                apply(&mut state, &decision);
                reset_after_us = decision.reset_after_us;
            }
            let reset = now + reset_after_us;
            // At reset the stored TAT is as good as no key (Redis has just
            // expired it); a microsecond before, it is not.
            prop_assert_eq!(decide(state, reset, &policy), decide(None, reset, &policy));
            prop_assert_ne!(decide(state, reset - 1, &policy), decide(None, reset - 1, &policy));
        }

        #[test]
        fn a_refused_request_may_retry_exactly_after_retry_after(
            policy in policies(),
            now in starts(),
        ) {
            let mut state = None;
            let refused = loop {
                let decision = decide(state, now, &policy);
                if !decision.allowed {
                    break decision;
                }
                apply(&mut state, &decision);
            };
            prop_assert!(refused.retry_after_us > 0);
            prop_assert!(!decide(state, now + refused.retry_after_us - 1, &policy).allowed);
            prop_assert!(decide(state, now + refused.retry_after_us, &policy).allowed);
        }

        #[test]
        fn refused_decisions_change_nothing(
            policy in policies(),
            now in starts(),
            later in 0u64..1_000_000,
        ) {
            let mut state = None;
            loop {
                let decision = decide(state, now, &policy);
                if !decision.allowed {
                    break;
                }
                apply(&mut state, &decision);
            }
            let at = now + later;
            let first = decide(state, at, &policy);
            if !first.allowed {
                prop_assert_eq!(first.new_tat_us, None);
                // Nothing was written, so asking again gives the same answer.
                prop_assert_eq!(decide(state, at, &policy), first);
            }
        }
    }
}
