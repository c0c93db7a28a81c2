//! The FHIR primitive formats intake checks by hand: date, dateTime, time and
//! url, and the ordering of dates and times that enableWhen comparisons need.
//!
//! The rules are those of the FHIR R4 datatypes page: a date is `YYYY`,
//! `YYYY-MM` or `YYYY-MM-DD` (and the day must exist in that month); a
//! dateTime is a date of that kind or a full date with a time and a time zone
//! (`2024-01-31T09:30:00+01:00`, seconds required, fraction optional); a time
//! is `hh:mm:ss` with an optional fraction and no zone.

use std::cmp::Ordering;

/// Whether `text` is a FHIR `date`.
pub(crate) fn is_date(text: &str) -> bool {
    parse_date(text).is_some()
}

/// Whether `text` is a FHIR `dateTime`.
pub(crate) fn is_date_time(text: &str) -> bool {
    match text.split_once('T') {
        None => is_date(text),
        Some((date, rest)) => {
            parse_full_date(date).is_some() && parse_time_and_zone(rest).is_some()
        }
    }
}

/// Whether `text` is a FHIR `time`.
pub(crate) fn is_time(text: &str) -> bool {
    parse_time(text).is_some()
}

/// Whether `text` is an absolute URL, as the answer to a `url` item must be.
///
/// The `url` crate trims surrounding whitespace before parsing; a FHIR uri may
/// contain none at all, so whitespace is refused first.
pub(crate) fn is_url(text: &str) -> bool {
    !text.is_empty()
        && !text
            .chars()
            .any(|character| character.is_whitespace() || character.is_control())
        && url::Url::parse(text).is_ok()
}

/// Orders two FHIR dates, or `None` when they are not comparable: a date
/// given to the year cannot be ordered against one given to the day.
pub(crate) fn compare_dates(left: &str, right: &str) -> Option<Ordering> {
    let left = parse_date(left)?;
    let right = parse_date(right)?;
    (left.precision() == right.precision()).then(|| left.cmp(&right))
}

/// Orders two FHIR dateTimes: full ones as instants (time zones applied),
/// partial ones only against partial ones of the same precision.
pub(crate) fn compare_date_times(left: &str, right: &str) -> Option<Ordering> {
    match (instant(left), instant(right)) {
        (Some(left), Some(right)) => left.partial_cmp(&right),
        (None, None) => compare_dates(left, right),
        _ => None,
    }
}

/// Orders two FHIR times.
pub(crate) fn compare_times(left: &str, right: &str) -> Option<Ordering> {
    parse_time(left)?.partial_cmp(&parse_time(right)?)
}

/// A date as far as it was given: year, then month and day when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct PartialDate {
    year: i64,
    month: Option<u32>,
    day: Option<u32>,
}

impl PartialDate {
    fn precision(self) -> u8 {
        u8::from(self.month.is_some()) + u8::from(self.day.is_some())
    }
}

fn parse_date(text: &str) -> Option<PartialDate> {
    let mut parts = text.split('-');
    let year = digits(parts.next()?, 4)?;
    if year == 0 {
        return None;
    }
    let month = match parts.next() {
        None => None,
        Some(part) => Some(digits(part, 2).filter(|month| (1..=12).contains(month))?),
    };
    let day = match parts.next() {
        None => None,
        Some(part) => {
            let last = days_in_month(year, month?);
            Some(digits(part, 2).filter(|day| (1..=last).contains(day))?)
        }
    };
    if parts.next().is_some() {
        return None;
    }
    Some(PartialDate {
        year: i64::from(year),
        month,
        day,
    })
}

fn parse_full_date(text: &str) -> Option<(i64, u32, u32)> {
    let date = parse_date(text)?;
    Some((date.year, date.month?, date.day?))
}

/// Seconds since midnight, with the fraction.
fn parse_time(text: &str) -> Option<f64> {
    let (clock, fraction) = match text.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (text, None),
    };
    let mut parts = clock.split(':');
    let hours = digits(parts.next()?, 2).filter(|hours| *hours <= 23)?;
    let minutes = digits(parts.next()?, 2).filter(|minutes| *minutes <= 59)?;
    // 60 is a leap second, which FHIR's time pattern allows.
    let seconds = digits(parts.next()?, 2).filter(|seconds| *seconds <= 60)?;
    if parts.next().is_some() {
        return None;
    }
    let fraction = match fraction {
        None => 0.0,
        Some(fraction)
            if !fraction.is_empty() && fraction.bytes().all(|byte| byte.is_ascii_digit()) =>
        {
            format!("0.{fraction}").parse::<f64>().ok()?
        }
        Some(_) => return None,
    };
    Some(f64::from(hours * 3600 + minutes * 60 + seconds) + fraction)
}

/// A time followed by `Z` or `+hh:mm` / `-hh:mm`; returns the time in seconds
/// and the zone's offset from UTC in seconds.
fn parse_time_and_zone(text: &str) -> Option<(f64, i64)> {
    if let Some(time) = text.strip_suffix('Z') {
        return Some((parse_time(time)?, 0));
    }
    let sign_at = text.rfind(['+', '-'])?;
    let (time, zone) = text.split_at(sign_at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let (hours, minutes) = zone[1..].split_once(':')?;
    let hours = digits(hours, 2)?;
    let minutes = digits(minutes, 2).filter(|minutes| *minutes <= 59)?;
    if hours > 14 || (hours == 14 && minutes != 0) {
        return None;
    }
    let offset = sign * i64::from(hours * 3600 + minutes * 60);
    Some((parse_time(time)?, offset))
}

/// A full dateTime as seconds since 1970-01-01T00:00:00Z.
fn instant(text: &str) -> Option<f64> {
    let (date, rest) = text.split_once('T')?;
    let (year, month, day) = parse_full_date(date)?;
    let (seconds, offset) = parse_time_and_zone(rest)?;
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 - offset) as f64 + seconds)
}

/// `text` as a number when it is exactly `width` ASCII digits.
fn digits(text: &str, width: usize) -> Option<u32> {
    (text.len() == width && text.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dates_may_be_partial_but_must_exist() {
        for good in ["2024", "2024-02", "2024-02-29", "2000-02-29", "1999-12-31"] {
            assert!(is_date(good), "{good}");
        }
        for bad in [
            "0000",
            "24",
            "2024-13",
            "2023-02-29",
            "1900-02-29",
            "2024-04-31",
            "2024-1-05",
            "2024-01-05T10:00:00Z",
            "",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }

    #[test]
    fn date_times_with_a_time_need_seconds_and_a_zone() {
        for good in [
            "2024",
            "2024-05-01",
            "2024-05-01T09:30:00Z",
            "2024-05-01T09:30:00.250+01:00",
            "2024-05-01T23:59:60-14:00",
        ] {
            assert!(is_date_time(good), "{good}");
        }
        for bad in [
            "2024-05-01T09:30",
            "2024-05-01T09:30:00",
            "2024-05-01T09:30:00+15:00",
            "2024-05T09:30:00Z",
            "2024-05-01 09:30:00Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn times_have_hours_minutes_and_seconds_without_a_zone() {
        for good in ["00:00:00", "23:59:59", "12:30:00.5"] {
            assert!(is_time(good), "{good}");
        }
        for bad in [
            "24:00:00",
            "12:30",
            "12:60:00",
            "12:30:00Z",
            "12:30:00.",
            "1:30:00",
        ] {
            assert!(!is_time(bad), "{bad}");
        }
    }

    #[test]
    fn urls_must_be_absolute_and_contain_no_whitespace() {
        assert!(is_url("https://example.org/a?b=c"));
        assert!(is_url("mailto:someone@example.org"));
        assert!(!is_url("example.org"));
        assert!(!is_url(" https://example.org"));
        assert!(!is_url("https://example.org/a b"));
        assert!(!is_url(""));
    }

    #[test]
    fn date_times_in_different_zones_compare_as_instants() {
        let ordering = compare_date_times("2024-05-01T10:00:00+02:00", "2024-05-01T09:00:00Z");

        assert_eq!(ordering, Some(Ordering::Less));
        assert_eq!(
            compare_date_times("2024-05-01T10:00:00+01:00", "2024-05-01T09:00:00Z"),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn dates_of_different_precision_do_not_compare() {
        assert_eq!(compare_dates("2024", "2024-05-01"), None);
        assert_eq!(
            compare_dates("2024-05-02", "2024-05-01"),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_date_times("2024-05-01", "2024-05-01T00:00:00Z"),
            None
        );
    }

    #[test]
    fn the_day_count_matches_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    proptest! {
        #[test]
        fn format_checks_never_panic(text in "\\PC{0,40}") {
            let _ = is_date(&text);
            let _ = is_date_time(&text);
            let _ = is_time(&text);
            let _ = is_url(&text);
        }

        #[test]
        fn every_real_calendar_day_is_a_date(year in 1u32..=9999, month in 1u32..=12, day in 1u32..=31) {
            let text = format!("{year:04}-{month:02}-{day:02}");
            prop_assert_eq!(is_date(&text), day <= days_in_month(year, month));
        }
    }
}
