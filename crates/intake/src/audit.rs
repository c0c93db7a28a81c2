//! Audit events: every security-relevant event, recorded twice by the
//! [`Auditor`]: as a log line that begins with `AUDIT:` (normal events) or
//! `SECURITY:` (refusals, rate limits, tampering), under the `audit` log
//! target, and as a row of the durable, MAC-chained trail in the database
//! (SPEC section 9; the chain itself is `intake_storage::audit`'s).
//!
//! An event names who did what to which resource, from where, and how it
//! came out. It never carries PHI or a secret: ids only, and a session only
//! as the short form of its keyed hash.
//!
//! The chain's MACs use their own key, derived from the secret key with the
//! label `audit-chain`, so that no session or CSRF hash can stand in for a
//! row's MAC. The database never sees either key: whoever can write to it
//! but lacks the key cannot forge a chain that `intake audit verify`
//! accepts.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use intake_storage::{AuditMac, ChainVerification, Database, NewAuditEvent, StorageError};
use serde::Serialize;
use sha2::Sha256;
use time::OffsetDateTime;

use crate::config::SecretKey;

/// The label the chain key is derived with.
const CHAIN_KEY_LABEL: &[u8] = b"audit-chain";

/// How the event came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was refused.
    Failure,
}

impl Outcome {
    /// `success` or `failure`, as logged and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// One audit event, built with the methods below and handed to
/// [`Auditor::record`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditEvent {
    /// Dotted name, e.g. `login.succeeded`.
    pub event: &'static str,
    /// Whether it is a security event (a refusal or an attack signal).
    #[serde(skip)]
    pub security: bool,
    /// `success` or `failure`.
    pub outcome: Option<Outcome>,
    /// The acting user, when known.
    pub actor_user_id: Option<String>,
    /// The actor's organization, when known.
    pub organization_id: Option<String>,
    /// The client's IP address.
    pub client_ip: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// What kind of resource it concerns (`session`, `form`, ...).
    pub resource_type: Option<&'static str>,
    /// Which resource (an id or a short keyed hash; never PHI).
    pub resource_id: Option<String>,
}

impl AuditEvent {
    /// A normal event.
    pub fn new(event: &'static str, outcome: Outcome) -> Self {
        Self {
            event,
            outcome: Some(outcome),
            ..Self::default()
        }
    }

    /// A security event (logged as `SECURITY:`).
    pub fn security(event: &'static str) -> Self {
        Self {
            event,
            security: true,
            outcome: Some(Outcome::Failure),
            ..Self::default()
        }
    }

    /// Sets the actor.
    pub fn actor(mut self, user_id: &str, organization_id: &str) -> Self {
        self.actor_user_id = Some(user_id.to_owned());
        self.organization_id = Some(organization_id.to_owned());
        self
    }

    /// Sets the resource.
    pub fn resource(mut self, kind: &'static str, id: &str) -> Self {
        self.resource_type = Some(kind);
        self.resource_id = Some(id.to_owned());
        self
    }

    /// Sets where the request came from.
    pub fn origin(mut self, client_ip: &str, request_id: &str) -> Self {
        self.client_ip = Some(client_ip.to_owned());
        self.request_id = Some(request_id.to_owned());
        self
    }

    /// `success`, or `failure` when the outcome was left unset.
    fn outcome_text(&self) -> &'static str {
        self.outcome.unwrap_or(Outcome::Failure).as_str()
    }

    /// The row to append for this event, which happened `occurred_at`.
    fn to_stored(&self, occurred_at: OffsetDateTime) -> NewAuditEvent {
        NewAuditEvent {
            occurred_at,
            event: self.event.to_owned(),
            outcome: self.outcome_text().to_owned(),
            security: self.security,
            actor_user_id: self.actor_user_id.clone(),
            organization_id: self.organization_id.clone(),
            client_ip: self.client_ip.clone(),
            request_id: self.request_id.clone(),
            resource_type: self.resource_type.map(str::to_owned),
            resource_id: self.resource_id.clone(),
        }
    }

    /// Writes the event's log line; `sequence` is its row in the trail, when
    /// it was stored, so shipped logs show how long the chain was.
    fn write_log_line(&self, sequence: Option<i64>) {
        let outcome = self.outcome_text();
        let fields = (
            self.actor_user_id.as_deref(),
            self.organization_id.as_deref(),
            self.client_ip.as_deref(),
            self.request_id.as_deref(),
            self.resource_type,
            self.resource_id.as_deref(),
        );
        let (actor, organization, client_ip, request_id, resource_type, resource_id) = fields;
        if self.security {
            tracing::warn!(
                target: "audit",
                event = self.event, outcome, actor_user_id = actor,
                organization_id = organization, client_ip, request_id,
                resource_type, resource_id, audit_sequence = sequence,
                "SECURITY: {}", self.event
            );
        } else {
            tracing::info!(
                target: "audit",
                event = self.event, outcome, actor_user_id = actor,
                organization_id = organization, client_ip, request_id,
                resource_type, resource_id, audit_sequence = sequence,
                "AUDIT: {}", self.event
            );
        }
    }
}

/// Records audit events in the log and in the database's trail.
///
/// Cloning is cheap: clones share the database pool and the chain key.
#[derive(Clone)]
pub struct Auditor {
    database: Database,
    key: Arc<ChainKey>,
}

impl fmt::Debug for Auditor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Auditor")
            .field("database", &self.database.backend())
            .finish_non_exhaustive()
    }
}

impl Auditor {
    /// An auditor appending to `database`, with the chain key derived from
    /// `secret_key`.
    pub fn new(database: Database, secret_key: &SecretKey) -> Self {
        Self {
            database,
            key: Arc::new(ChainKey::derive(secret_key)),
        }
    }

    /// Appends `event` to the trail, then writes its log line.
    ///
    /// A failed append does not fail the caller: the log line is written
    /// anyway, followed by an ERROR line naming the event (never its
    /// fields' values beyond the log line's own) and the storage error.
    // TODO: fail closed. HIPAA's audit controls argue that a change to PHI
    // whose audit row cannot be written should not happen at all; that needs
    // the row appended in the same transaction as the change it records,
    // which the storage API does not offer yet. Until then an outage of the
    // audit table loses events from the durable trail (they stay in the log).
    pub async fn record(&self, event: AuditEvent) {
        let stored = event.to_stored(OffsetDateTime::now_utc());
        let appended = self
            .database
            .append_audit_event(&stored, self.key.as_ref())
            .await;
        match appended {
            Ok(row) => event.write_log_line(Some(row.sequence)),
            Err(error) => {
                event.write_log_line(None);
                log_append_failure(event.event, &error);
            }
        }
    }

    /// Records `event` on a task of its own, for a caller that cannot wait:
    /// the log line and the row follow shortly, in no guaranteed order with
    /// the caller's other events.
    pub fn record_in_background(&self, event: AuditEvent) {
        let auditor = self.clone();
        tokio::spawn(async move { auditor.record(event).await });
    }

    /// Walks the whole trail, `page_size` rows at a time, recomputing every
    /// MAC: `intake audit verify`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer; a
    /// broken chain is in the answer, not an error.
    pub async fn verify(&self, page_size: u32) -> Result<ChainVerification, StorageError> {
        self.database
            .verify_audit_chain(self.key.as_ref(), page_size)
            .await
    }
}

fn log_append_failure(event: &str, error: &StorageError) {
    tracing::error!(
        target: "audit",
        event,
        error = %error,
        "audit event not stored: the durable audit trail misses it"
    );
}

/// The key of the chain's MACs: HMAC-SHA-256(secret key, `audit-chain`).
/// Held as an HMAC already keyed with it; never printed.
struct ChainKey(Hmac<Sha256>);

impl ChainKey {
    fn derive(secret_key: &SecretKey) -> Self {
        let mut derivation = Hmac::<Sha256>::new_from_slice(secret_key.expose())
            .expect("HMAC takes keys of any length");
        derivation.update(CHAIN_KEY_LABEL);
        let chain_key = derivation.finalize().into_bytes();
        let keyed =
            Hmac::<Sha256>::new_from_slice(&chain_key).expect("HMAC takes keys of any length");
        Self(keyed)
    }
}

impl AuditMac for ChainKey {
    fn mac(&self, message: &[u8]) -> String {
        let mut mac = self.0.clone();
        mac.update(message);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> ChainKey {
        ChainKey::derive(&SecretKey::new(vec![byte; 32]).unwrap())
    }

    #[test]
    fn chain_macs_are_hex_hmacs_that_depend_on_the_secret_key() {
        let mac = key(1).mac(b"row");

        assert_eq!(mac.len(), 64);
        assert!(mac.bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_eq!(mac, key(1).mac(b"row"));
        assert_ne!(mac, key(2).mac(b"row"));
        assert_ne!(mac, key(1).mac(b"rows"));
    }

    #[test]
    fn the_chain_key_is_not_the_secret_key_itself() {
        let secret = SecretKey::new(vec![7; 32]).unwrap();
        let mut with_secret = Hmac::<Sha256>::new_from_slice(secret.expose()).unwrap();
        with_secret.update(b"row");
        let with_secret: String = with_secret
            .finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();

        assert_ne!(ChainKey::derive(&secret).mac(b"row"), with_secret);
    }

    #[test]
    fn an_event_is_stored_with_its_fields_and_outcome() {
        let event = AuditEvent::security("csrf.refused")
            .actor("user-1", "org-1")
            .resource("session", "abc")
            .origin("203.0.113.7", "request-1");
        let now = OffsetDateTime::now_utc();

        let stored = event.to_stored(now);

        assert_eq!(stored.event, "csrf.refused");
        assert_eq!(stored.outcome, "failure");
        assert!(stored.security);
        assert_eq!(stored.organization_id.as_deref(), Some("org-1"));
        assert_eq!(stored.resource_type.as_deref(), Some("session"));
        assert_eq!(stored.occurred_at, now);
    }
}
