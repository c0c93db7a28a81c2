//! Rate-limit policies (SPEC section 6).
//!
//! A policy `COUNT/SECONDSs+BURST` sustains COUNT requests per SECONDS and,
//! from rest, admits COUNT+BURST at once. The limiter that enforces policies
//! (GCRA) builds on this type.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A parsed `COUNT/SECONDSs+BURST` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    /// Requests sustained per period.
    pub count: u32,
    /// The period.
    pub period: Duration,
    /// Extra requests admitted at once from rest.
    pub burst: u32,
}

/// Why a policy text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a rate policy of the form COUNT/SECONDSs+BURST (e.g. 100/60s+10)")]
pub struct InvalidRatePolicy(String);

impl FromStr for RatePolicy {
    type Err = InvalidRatePolicy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidRatePolicy(text.to_owned());
        let (count, rest) = text.trim().split_once('/').ok_or_else(invalid)?;
        let (seconds, burst) = rest.split_once('+').unwrap_or((rest, "0"));
        let seconds = seconds.strip_suffix('s').ok_or_else(invalid)?;
        let count: u32 = count.parse().map_err(|_| invalid())?;
        let seconds: u64 = seconds.parse().map_err(|_| invalid())?;
        let burst: u32 = burst.parse().map_err(|_| invalid())?;
        if count == 0 || seconds == 0 {
            return Err(invalid());
        }
        Ok(Self {
            count,
            period: Duration::from_secs(seconds),
            burst,
        })
    }
}

impl fmt::Display for RatePolicy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}/{}s+{}",
            self.count,
            self.period.as_secs(),
            self.burst
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_count_period_and_burst() {
        let policy: RatePolicy = "5/60s+2".parse().unwrap();
        assert_eq!(
            policy,
            RatePolicy {
                count: 5,
                period: Duration::from_secs(60),
                burst: 2
            }
        );
        assert_eq!(policy.to_string(), "5/60s+2");
    }

    #[test]
    fn the_burst_may_be_left_out() {
        let policy: RatePolicy = "4/60s".parse().unwrap();
        assert_eq!(policy.burst, 0);
    }

    #[test]
    fn malformed_or_zero_policies_are_refused() {
        for text in [
            "", "5", "5/60", "5/60m+2", "0/60s+1", "5/0s", "a/60s+1", "5/60s+-1",
        ] {
            assert!(text.parse::<RatePolicy>().is_err(), "{text:?} parsed");
        }
    }
}
