//! A circuit breaker for calls to a shared dependency (Redis).
//!
//! After `failure_threshold` consecutive failures the breaker opens and every
//! call fails at once, so a dead Redis costs requests nothing but a check of
//! this state. After `open_for` it lets exactly one call through as a probe
//! (half-open); the probe's outcome closes or re-opens it. A probe that is
//! abandoned (its future dropped, e.g. by a timeout) counts as a failure, so
//! the breaker can never stay half-open forever.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The breaker's state as `/health` and `/metrics` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow normally.
    Closed,
    /// Calls fail at once until the open period ends.
    Open,
    /// One probe call is deciding whether to close again.
    HalfOpen,
}

impl BreakerState {
    /// The lowercase name used in `/health` (`closed`, `open`, `half-open`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        }
    }

    /// The value of the `intake_redis_circuit_breaker_state` gauge.
    pub fn as_gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long the breaker stays open before it lets a probe through.
    pub open_for: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(5),
        }
    }
}

#[derive(Debug)]
enum State {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// A circuit breaker shared by every task of the process.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    state: Arc<Mutex<State>>,
}

/// The breaker refused the call: it is open, or a probe is already running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker is open")]
pub struct BreakerOpen;

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        let state = State::Closed {
            consecutive_failures: 0,
        };
        Self {
            settings,
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The current state, moving from open to half-open when the open period
    /// has ended (as the next call would find it).
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::HalfOpen => BreakerState::HalfOpen,
            State::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            State::Open { .. } => BreakerState::Open,
        }
    }

    /// Asks to make one call. The returned permit must be resolved with
    /// [`Permit::succeeded`] or [`Permit::failed`]; dropping it unresolved
    /// counts as a failure.
    pub fn admit(&self) -> Result<Permit, BreakerOpen> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => {}
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                tracing::info!(breaker = "redis", "circuit breaker half-open: probing");
            }
            State::Open { .. } | State::HalfOpen => return Err(BreakerOpen),
        }
        Ok(Permit {
            breaker: Some(self.clone()),
        })
    }

    fn record(&self, success: bool) {
        let mut state = self.lock();
        let next = match (&*state, success) {
            (_, true) => State::Closed {
                consecutive_failures: 0,
            },
            (
                State::Closed {
                    consecutive_failures,
                },
                false,
            ) => {
                let failures = consecutive_failures + 1;
                if failures >= self.settings.failure_threshold {
                    self.open_state(failures)
                } else {
                    State::Closed {
                        consecutive_failures: failures,
                    }
                }
            }
            // A failed probe, or a failure reported while already open.
            (State::HalfOpen | State::Open { .. }, false) => self.open_state(0),
        };
        if matches!(*state, State::HalfOpen | State::Open { .. })
            && matches!(next, State::Closed { .. })
        {
            tracing::info!(breaker = "redis", "circuit breaker closed");
        }
        *state = next;
    }

    fn open_state(&self, failures: u32) -> State {
        tracing::warn!(
            breaker = "redis",
            consecutive_failures = failures,
            open_for_ms = self.settings.open_for.as_millis() as u64,
            "circuit breaker opened"
        );
        State::Open {
            until: Instant::now() + self.settings.open_for,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value: a panic elsewhere cannot leave it torn.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Leave to make one call through the breaker.
#[derive(Debug)]
#[must_use = "a permit dropped unresolved counts as a failure"]
pub struct Permit {
    breaker: Option<CircuitBreaker>,
}

impl Permit {
    /// The call reached the dependency and got an answer.
    pub fn succeeded(mut self) {
        if let Some(breaker) = self.breaker.take() {
            breaker.record(true);
        }
    }

    /// The call could not reach the dependency (refused, reset, timed out).
    pub fn failed(mut self) {
        if let Some(breaker) = self.breaker.take() {
            breaker.record(false);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(breaker) = self.breaker.take() {
            breaker.record(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(open_for: Duration) -> CircuitBreaker {
        CircuitBreaker::new(BreakerSettings {
            failure_threshold: 3,
            open_for,
        })
    }

    fn fail(breaker: &CircuitBreaker, times: usize) {
        for _ in 0..times {
            breaker.admit().expect("admitted").failed();
        }
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let breaker = breaker(Duration::from_secs(60));
        fail(&breaker, 2);
        assert_eq!(breaker.state(), BreakerState::Closed);
        fail(&breaker, 1);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.admit().unwrap_err(), BreakerOpen);
    }

    #[test]
    fn a_success_resets_the_count_of_failures() {
        let breaker = breaker(Duration::from_secs(60));
        fail(&breaker, 2);
        breaker.admit().unwrap().succeeded();
        fail(&breaker, 2);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn lets_one_probe_through_after_the_open_period() {
        let breaker = breaker(Duration::ZERO);
        fail(&breaker, 3);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        let probe = breaker.admit().expect("the probe is admitted");
        assert_eq!(breaker.admit().unwrap_err(), BreakerOpen);
        probe.succeeded();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_again() {
        let breaker = breaker(Duration::from_secs(60));
        *breaker.lock() = State::HalfOpen;
        // A half-open breaker admits nobody else while its probe runs.
        assert!(breaker.admit().is_err());
        breaker.record(false);
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn an_abandoned_permit_counts_as_a_failure() {
        let breaker = breaker(Duration::from_secs(60));
        for _ in 0..3 {
            drop(breaker.admit().unwrap());
        }
        assert_eq!(breaker.state(), BreakerState::Open);
    }
}
