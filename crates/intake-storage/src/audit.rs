//! The audit trail: every security-relevant event, stored append-only and
//! chained so that an edited, deleted or reordered row shows (SPEC section
//! 9).
//!
//! # The chain
//!
//! Rows are numbered 1, 2, 3... without gaps. Each row stores the MAC of the
//! row before it (`previous_mac`; the first row holds [`GENESIS_MAC`]) and
//! its own `mac`, computed over [`chain_message`]: an unambiguous encoding of
//! its sequence, its content and `previous_mac`. Editing a row breaks its
//! MAC; deleting one leaves a gap, or, if the rows after it are renumbered,
//! breaks their MACs and the next row's `previous_mac`; swapping two rows
//! breaks `previous_mac` where the order changed. [`ChainVerifier`] walks the
//! rows in order and names the first one that does not fit.
//!
//! # Who holds the key
//!
//! Not this crate. Every operation that computes or checks a MAC takes an
//! [`AuditMac`] from the caller, which turns [`chain_message`]'s bytes into a
//! MAC; the encoding lives here, next to the columns it covers, and the key
//! stays with the application. Someone with write access to the database but
//! not the key can delete or edit rows but cannot make a chain that verifies.
//!
//! # Several writers
//!
//! Appending reads the last row's sequence and MAC and inserts the next row,
//! so two appends must never interleave. Each backend runs both steps in one
//! transaction that first takes a lock every appender takes: an EXCLUSIVE
//! table lock on PostgreSQL (readers are not blocked), the write lock of
//! `BEGIN IMMEDIATE` on SQLite. This holds across pools and processes, so
//! any number of instances may append at once. Appends are therefore one at
//! a time, each a short transaction: read one row, insert one.
//!
//! # What the chain cannot show
//!
//! Removing the newest rows leaves a shorter chain that still verifies: no
//! row comes after them to notice. The `AUDIT:` log line of every event
//! carries its sequence, so logs kept elsewhere show the highest number ever
//! written.
//!
//! TODO: anchor the chain's head outside the database (publish the last
//! sequence and MAC periodically) so that truncation is detected by `intake
//! audit verify` itself, not only by comparing with shipped logs.

use std::fmt;

use time::OffsetDateTime;

use crate::database::Store;
use crate::{Database, StorageError};

/// The `previous_mac` of the first row: 64 hex zeros, the shape of a MAC
/// that no key produces on purpose.
pub const GENESIS_MAC: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Labels the encoding so that a MAC made for the audit chain means nothing
/// anywhere else, and a future change of encoding can be told apart.
const ENCODING_LABEL: &str = "intake-audit-chain-v1";

/// Computes the MAC of a row's [`chain_message`]: HMAC-SHA-256 in lowercase
/// hex, with a key only the caller holds.
///
/// Any `Fn(&[u8]) -> String` is one, which is what tests pass.
pub trait AuditMac: Send + Sync {
    /// The MAC of `message`.
    fn mac(&self, message: &[u8]) -> String;
}

impl<F> AuditMac for F
where
    F: Fn(&[u8]) -> String + Send + Sync,
{
    fn mac(&self, message: &[u8]) -> String {
        self(message)
    }
}

/// An audit event's content: everything a row holds besides its place in the
/// chain. Ids and fixed names only: never PHI, an e-mail address or a secret
/// (the caller's contract; this crate cannot tell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// When it happened. Stored in UTC to the microsecond; finer digits are
    /// dropped before the MAC is computed.
    pub occurred_at: OffsetDateTime,
    /// Dotted name, e.g. `login.succeeded`.
    pub event: String,
    /// `success` or `failure` (the table refuses anything else).
    pub outcome: String,
    /// Whether it is a security event (a refusal or an attack signal).
    pub security: bool,
    /// The acting user, when known.
    pub actor_user_id: Option<String>,
    /// The actor's organization, when known; scopes `GET /api/audit`.
    pub organization_id: Option<String>,
    /// The client's IP address.
    pub client_ip: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// What kind of resource it concerns (`session`, `form`, ...).
    pub resource_type: Option<String>,
    /// Which resource: an id or a short keyed hash.
    pub resource_id: Option<String>,
}

/// A stored audit event and its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Its position: 1 for the first event, then one more for each.
    pub sequence: i64,
    /// What happened.
    pub content: NewAuditEvent,
    /// The MAC of the row before it, or [`GENESIS_MAC`] for the first.
    pub previous_mac: String,
    /// The MAC of this row's [`chain_message`].
    pub mac: String,
}

/// Which events [`Database::audit_events`] returns, in sequence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events at or after this instant.
    pub from: Option<OffsetDateTime>,
    /// Only events at or before this instant.
    pub to: Option<OffsetDateTime>,
    /// Only events of this name.
    pub event: Option<String>,
    /// Only events after this sequence: 0 for the first page, then the last
    /// sequence of the page before.
    pub after_sequence: i64,
    /// At most this many events. The caller bounds it.
    pub limit: u32,
}

impl Default for AuditFilter {
    /// The first 100 events, unfiltered.
    fn default() -> Self {
        Self {
            from: None,
            to: None,
            event: None,
            after_sequence: 0,
            limit: 100,
        }
    }
}

/// Where a chain stops verifying, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first row that does not fit.
    pub sequence: i64,
    /// What is wrong with it.
    pub kind: BreakKind,
}

/// How a row fails to fit the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// The row's MAC does not match its content: the row was edited, or the
    /// trail was written with another key.
    MacMismatch,
    /// The row's `previous_mac` is not the MAC of the row before it: rows
    /// were deleted and the rest renumbered, inserted, or reordered.
    PreviousMacMismatch,
    /// Sequence numbers were skipped: the row came where `expected` should
    /// have, so the rows from `expected` on were deleted.
    SequenceGap {
        /// The sequence the row should have had.
        expected: i64,
    },
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sequence = self.sequence;
        match self.kind {
            BreakKind::MacMismatch => write!(
                formatter,
                "sequence {sequence}: its MAC does not match its content (the row was \
                 edited, or the trail was written with another secret key)"
            ),
            BreakKind::PreviousMacMismatch => write!(
                formatter,
                "sequence {sequence}: its previous_mac is not the MAC of the row before \
                 it (rows were deleted, inserted or reordered)"
            ),
            BreakKind::SequenceGap { expected } if expected + 1 == sequence => write!(
                formatter,
                "sequence {sequence}: row {expected} before it is missing (it was deleted)"
            ),
            BreakKind::SequenceGap { expected } => write!(
                formatter,
                "sequence {sequence}: rows {expected} to {} before it are missing \
                 (they were deleted)",
                sequence - 1
            ),
        }
    }
}

/// The outcome of [`Database::verify_audit_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVerification {
    /// How many rows verified before the break, or in all when intact.
    pub events: u64,
    /// The first row that does not fit; `None` when the chain is intact.
    pub broken: Option<ChainBreak>,
}

/// Checks rows one at a time, in sequence order, so that a long chain is
/// verified page by page without holding it all.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_sequence: i64,
    previous_mac: String,
    events: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier expecting the first row.
    pub fn new() -> Self {
        Self {
            next_sequence: 1,
            previous_mac: GENESIS_MAC.to_owned(),
            events: 0,
        }
    }

    /// Checks `row`, the next one in sequence order, against the rows seen
    /// so far and `key`.
    ///
    /// # Errors
    ///
    /// The [`ChainBreak`] `row` shows; after one, the verifier's state says
    /// nothing useful.
    pub fn check(&mut self, row: &AuditRow, key: &dyn AuditMac) -> Result<(), ChainBreak> {
        let broken = |kind| ChainBreak {
            sequence: row.sequence,
            kind,
        };
        if row.sequence != self.next_sequence {
            return Err(broken(BreakKind::SequenceGap {
                expected: self.next_sequence,
            }));
        }
        if row.previous_mac != self.previous_mac {
            return Err(broken(BreakKind::PreviousMacMismatch));
        }
        let expected_mac = key.mac(&chain_message(
            row.sequence,
            &row.content,
            &row.previous_mac,
        ));
        if !constant_time_eq(expected_mac.as_bytes(), row.mac.as_bytes()) {
            return Err(broken(BreakKind::MacMismatch));
        }
        self.next_sequence += 1;
        self.previous_mac.clone_from(&row.mac);
        self.events += 1;
        Ok(())
    }

    /// How many rows have verified.
    pub fn events(&self) -> u64 {
        self.events
    }
}

impl Database {
    /// Appends `event` to the trail as the next row, its MAC computed by
    /// `key`, and returns the row as stored.
    ///
    /// Safe to call from any number of tasks and instances at once: see the
    /// module documentation.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer or
    /// (SQLite) stayed locked past the busy timeout; [`StorageError::Other`]
    /// when (PostgreSQL) the table lock was not granted within 5 seconds, or
    /// for an outcome other than `success` or `failure` or an empty event
    /// name.
    pub async fn append_audit_event(
        &self,
        event: &NewAuditEvent,
        key: &dyn AuditMac,
    ) -> Result<AuditRow, StorageError> {
        let event = NewAuditEvent {
            occurred_at: to_microseconds(event.occurred_at),
            ..event.clone()
        };
        match self.store() {
            Store::Sqlite(store) => store.append_audit_event(&event, key).await,
            Store::Postgres(store) => store.append_audit_event(&event, key).await,
        }
    }

    /// The events `filter` selects, of `organization_id` only when given (as
    /// `GET /api/audit` asks) or of the whole trail, in sequence order.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn audit_events(
        &self,
        organization_id: Option<&str>,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRow>, StorageError> {
        let filter = AuditFilter {
            from: filter.from.map(to_microseconds),
            to: filter.to.map(to_microseconds),
            ..filter.clone()
        };
        match self.store() {
            Store::Sqlite(store) => store.audit_events(organization_id, &filter).await,
            Store::Postgres(store) => store.audit_events(organization_id, &filter).await,
        }
    }

    /// Up to `limit` rows of the whole trail after `after_sequence`, in
    /// sequence order: one page of the chain.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn audit_chain(
        &self,
        after_sequence: i64,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StorageError> {
        let filter = AuditFilter {
            after_sequence,
            limit,
            ..AuditFilter::default()
        };
        self.audit_events(None, &filter).await
    }

    /// Walks the whole trail, `page_size` rows at a time, and checks every
    /// row with `key`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer. A
    /// broken chain is not an error: it is in the answer.
    pub async fn verify_audit_chain(
        &self,
        key: &dyn AuditMac,
        page_size: u32,
    ) -> Result<ChainVerification, StorageError> {
        let page_size = page_size.max(1);
        let mut verifier = ChainVerifier::new();
        let mut after_sequence = 0;
        loop {
            let page = self.audit_chain(after_sequence, page_size).await?;
            for row in &page {
                if let Err(broken) = verifier.check(row, key) {
                    return Ok(ChainVerification {
                        events: verifier.events(),
                        broken: Some(broken),
                    });
                }
            }
            match page.last() {
                Some(last) if page.len() == page_size as usize => {
                    after_sequence = last.sequence;
                }
                _ => {
                    return Ok(ChainVerification {
                        events: verifier.events(),
                        broken: None,
                    });
                }
            }
        }
    }
}

/// The bytes a row's MAC covers: a label, then the sequence, the content and
/// `previous_mac`, each field length-prefixed (and absent ones marked), so
/// that no two different rows encode alike.
///
/// The time enters as whole microseconds since the Unix epoch, which both
/// backends store exactly.
pub fn chain_message(sequence: i64, content: &NewAuditEvent, previous_mac: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(256);
    put_text(&mut message, ENCODING_LABEL);
    message.extend_from_slice(&sequence.to_be_bytes());
    message.extend_from_slice(&unix_microseconds(content.occurred_at).to_be_bytes());
    put_text(&mut message, &content.event);
    put_text(&mut message, &content.outcome);
    message.push(u8::from(content.security));
    for field in [
        &content.actor_user_id,
        &content.organization_id,
        &content.client_ip,
        &content.request_id,
        &content.resource_type,
        &content.resource_id,
    ] {
        match field {
            None => message.push(0),
            Some(text) => {
                message.push(1);
                put_text(&mut message, text);
            }
        }
    }
    put_text(&mut message, previous_mac);
    message
}

fn put_text(message: &mut Vec<u8>, text: &str) {
    message.extend_from_slice(&(text.len() as u64).to_be_bytes());
    message.extend_from_slice(text.as_bytes());
}

fn unix_microseconds(instant: OffsetDateTime) -> i64 {
    let microseconds = instant.unix_timestamp_nanos() / 1000;
    i64::try_from(microseconds).unwrap_or(i64::MAX)
}

/// `instant` in UTC with the nanoseconds below a microsecond dropped: what
/// both backends store and give back.
pub(crate) fn to_microseconds(instant: OffsetDateTime) -> OffsetDateTime {
    let instant = instant.to_offset(time::UtcOffset::UTC);
    let nanosecond = instant.nanosecond();
    instant
        .replace_nanosecond(nanosecond - nanosecond % 1000)
        .unwrap_or(instant)
}

/// The next row after the trail's last one (`None` for an empty trail),
/// with its MAC: what both backends insert while holding the append lock.
pub(crate) fn next_row(
    last: Option<(i64, String)>,
    content: &NewAuditEvent,
    key: &dyn AuditMac,
) -> AuditRow {
    let (sequence, previous_mac) = match last {
        Some((sequence, mac)) => (sequence + 1, mac),
        None => (1, GENESIS_MAC.to_owned()),
    };
    let mac = key.mac(&chain_message(sequence, content, &previous_mac));
    AuditRow {
        sequence,
        content: content.clone(),
        previous_mac,
        mac,
    }
}

/// Compares two MACs without stopping at the first difference.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// The columns of `audit_events`, in the order [`AuditEventRow`] reads, as
/// a literal for `concat!` (see `organization_columns!`).
macro_rules! audit_columns {
    () => {
        "sequence, occurred_at, event, outcome, security, actor_user_id, organization_id, \
         client_ip, request_id, resource_type, resource_id, previous_mac, mac"
    };
}
pub(crate) use audit_columns;

/// An `audit_events` row as both backends return it.
#[derive(sqlx::FromRow)]
pub(crate) struct AuditEventRow {
    sequence: i64,
    occurred_at: OffsetDateTime,
    event: String,
    outcome: String,
    security: bool,
    actor_user_id: Option<String>,
    organization_id: Option<String>,
    client_ip: Option<String>,
    request_id: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    previous_mac: String,
    mac: String,
}

impl From<AuditEventRow> for AuditRow {
    fn from(row: AuditEventRow) -> Self {
        Self {
            sequence: row.sequence,
            content: NewAuditEvent {
                occurred_at: row.occurred_at,
                event: row.event,
                outcome: row.outcome,
                security: row.security,
                actor_user_id: row.actor_user_id,
                organization_id: row.organization_id,
                client_ip: row.client_ip,
                request_id: row.request_id,
                resource_type: row.resource_type,
                resource_id: row.resource_id,
            },
            previous_mac: row.previous_mac,
            mac: row.mac,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(event: &str) -> NewAuditEvent {
        NewAuditEvent {
            occurred_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            event: event.to_owned(),
            outcome: "success".to_owned(),
            security: false,
            actor_user_id: Some("user".to_owned()),
            organization_id: None,
            client_ip: None,
            request_id: None,
            resource_type: None,
            resource_id: None,
        }
    }

    /// A stand-in MAC: not keyed, but it changes with every byte.
    fn checksum(message: &[u8]) -> String {
        let sum = message
            .iter()
            .enumerate()
            .fold(0_u64, |sum, (index, byte)| {
                sum.wrapping_mul(31)
                    .wrapping_add(u64::from(*byte) ^ index as u64)
            });
        format!("{sum:016x}")
    }

    fn chain(events: &[&str]) -> Vec<AuditRow> {
        let mut rows: Vec<AuditRow> = Vec::new();
        for event in events {
            let last = rows.last().map(|row| (row.sequence, row.mac.clone()));
            rows.push(next_row(last, &content(event), &checksum));
        }
        rows
    }

    fn first_break(rows: &[AuditRow]) -> Option<ChainBreak> {
        let mut verifier = ChainVerifier::new();
        rows.iter()
            .find_map(|row| verifier.check(row, &checksum).err())
    }

    #[test]
    fn a_chain_as_appended_verifies() {
        let rows = chain(&["a", "b", "c"]);
        assert_eq!(rows[0].previous_mac, GENESIS_MAC);
        assert_eq!(first_break(&rows), None);
    }

    #[test]
    fn moving_text_between_adjacent_fields_changes_the_message() {
        let mut split = content("ab");
        split.outcome = "c".to_owned();
        let mut moved = content("a");
        moved.outcome = "bc".to_owned();
        let mut absent = content("a");
        absent.actor_user_id = None;
        let mut empty = content("a");
        empty.actor_user_id = Some(String::new());

        assert_ne!(
            chain_message(1, &split, GENESIS_MAC),
            chain_message(1, &moved, GENESIS_MAC)
        );
        assert_ne!(
            chain_message(1, &absent, GENESIS_MAC),
            chain_message(1, &empty, GENESIS_MAC)
        );
    }

    #[test]
    fn an_edited_field_breaks_that_rows_mac() {
        let mut rows = chain(&["a", "b", "c"]);
        rows[1].content.client_ip = Some("203.0.113.7".to_owned());

        let broken = first_break(&rows).unwrap();

        assert_eq!(broken.sequence, 2);
        assert_eq!(broken.kind, BreakKind::MacMismatch);
    }

    #[test]
    fn a_removed_row_is_a_gap_and_renumbering_breaks_the_link() {
        let mut rows = chain(&["a", "b", "c"]);
        rows.remove(1);
        assert_eq!(
            first_break(&rows).unwrap(),
            ChainBreak {
                sequence: 3,
                kind: BreakKind::SequenceGap { expected: 2 }
            }
        );

        rows[1].sequence = 2;
        assert_eq!(
            first_break(&rows).unwrap().kind,
            BreakKind::PreviousMacMismatch
        );
    }

    #[test]
    fn a_break_names_its_sequence_and_the_rows_missing_before_it() {
        let gap = |sequence, expected| {
            ChainBreak {
                sequence,
                kind: BreakKind::SequenceGap { expected },
            }
            .to_string()
        };

        assert!(gap(3, 2).starts_with("sequence 3: row 2 before it is missing"));
        assert!(gap(7, 4).starts_with("sequence 7: rows 4 to 6 before it are missing"));
    }

    #[test]
    fn times_are_kept_to_the_microsecond_in_utc() {
        let instant = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789)
            .unwrap()
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());

        let stored = to_microseconds(instant);

        assert_eq!(stored.offset(), time::UtcOffset::UTC);
        assert_eq!(stored.unix_timestamp_nanos(), 1_700_000_000_123_456_000);
    }
}
