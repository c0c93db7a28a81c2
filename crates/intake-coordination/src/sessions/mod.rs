//! Sessions and their CSRF tokens, shared by every instance.
//!
//! The store never sees a session id or a CSRF token: callers hand it keyed
//! hashes ([`SessionRef::id_hash`], CSRF token hashes), so a dump of Redis or
//! its `MONITOR` output cannot be replayed. Each session carries the *user
//! tag*, a keyed hash of its user's id chosen by the caller, and every key of
//! one user shares it as a Cluster hash tag:
//!
//! | key | holds | TTL |
//! |---|---|---|
//! | `{prefix}session:{TAG}:ID` | the session record (hash) | until it ends if unused |
//! | `{prefix}csrf:{TAG}:ID` | CSRF token hash → expiry (hash) | the same |
//! | `{prefix}user-sessions:{TAG}` | the user's session ids by absolute expiry (zset) | the latest absolute expiry |
//!
//! One request costs one command: [`Coordinator::use_session`] validates the
//! session (idle and absolute expiry), checks the CSRF token, refreshes the
//! idle clock and performs the route's [`SessionAction`] in a single script,
//! with time taken from Redis. The in-process coordinator keeps the same
//! contract in memory.

mod memory;
mod redis;

pub use memory::MemorySessions;
pub(crate) use redis::RedisSessions;

use std::time::Duration;

use crate::Coordinator;
use crate::redis::GatewayError;

/// Where a session lives: its user's tag and the keyed hash of its id.
///
/// Both are base64url text made by the caller; anything else is refused
/// before it reaches a key name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionRef {
    /// Keyed hash of the user's id, shared by all the user's sessions.
    pub user_tag: String,
    /// Keyed hash of the session id.
    pub id_hash: String,
}

impl SessionRef {
    /// A reference from trusted parts; `None` when either part is not
    /// base64url (so it cannot change a key's shape or Cluster slot).
    pub fn new(user_tag: impl Into<String>, id_hash: impl Into<String>) -> Option<Self> {
        let session = Self {
            user_tag: user_tag.into(),
            id_hash: id_hash.into(),
        };
        (is_key_safe(&session.user_tag) && is_key_safe(&session.id_hash)).then_some(session)
    }

    /// The same user's session with id hash `id_hash`.
    pub fn sibling(&self, id_hash: &str) -> Option<Self> {
        Self::new(self.user_tag.clone(), id_hash)
    }
}

/// Whether `text` is 1 to 128 base64url characters.
pub fn is_key_safe(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// What a session records about its user and origin. No PHI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDetails {
    /// The user's id.
    pub user_id: String,
    /// The user's organization.
    pub organization_id: String,
    /// The user's role at login.
    pub role: String,
    /// The role's permissions at login.
    pub permissions: Vec<String>,
    /// Client IP address at login.
    pub ip_address: String,
    /// Client user agent at login (truncated by the caller).
    pub user_agent: String,
    /// `web` or `api`.
    pub session_type: String,
    /// `password` or `oidc`.
    pub auth_method: String,
}

/// A stored session: its details and times (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The keyed hash of its id.
    pub id_hash: String,
    /// What it records.
    pub details: SessionDetails,
    /// When it was created.
    pub created_at_ms: u64,
    /// When it was last used.
    pub last_seen_at_ms: u64,
    /// When it ends whatever happens.
    pub absolute_expires_at_ms: u64,
}

impl Session {
    /// When it ends if not used again, under `policy`.
    pub fn expires_at_ms(&self, policy: &SessionPolicy) -> u64 {
        match policy.idle_timeout {
            Some(idle) => (self.last_seen_at_ms + millis(idle)).min(self.absolute_expires_at_ms),
            None => self.absolute_expires_at_ms,
        }
    }
}

/// Lifetimes the store enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Absolute lifetime.
    pub absolute_ttl: Duration,
    /// Automatic logoff after inactivity; `None` turns it off.
    pub idle_timeout: Option<Duration>,
    /// CSRF token lifetime.
    pub csrf_ttl: Duration,
    /// Most live CSRF tokens per session (several tabs); the oldest goes.
    pub max_csrf_tokens: u32,
}

/// What the request does with its session, beyond being authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAction<'a> {
    /// Nothing more: the session is used, which resets its idle clock.
    Touch,
    /// Store a new CSRF token (its keyed hash).
    IssueCsrf(&'a str),
    /// End the session and all its CSRF tokens (logout).
    End,
    /// End another session of the same user (by id hash).
    Revoke(&'a str),
    /// End every other session of the same user.
    RevokeOthers,
    /// List the user's live sessions.
    List,
}

/// What the action produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionResult {
    /// `Touch`.
    Touched,
    /// `IssueCsrf`: when the new token expires.
    CsrfIssued {
        /// Unix milliseconds.
        expires_at_ms: u64,
    },
    /// `End`.
    Ended,
    /// `Revoke`: whether the target was live.
    Revoked(bool),
    /// `RevokeOthers`: how many were live.
    RevokedOthers(u64),
    /// `List`: the user's live sessions, this one included.
    Listed(Vec<Session>),
}

/// The outcome of [`Coordinator::use_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutcome {
    /// No such session (never issued, revoked, or long gone).
    Unknown,
    /// The session ran past its idle or absolute expiry; it is now removed.
    Expired,
    /// The session is live but the CSRF token is unknown, expired or
    /// another session's. Nothing was done.
    CsrfRefused,
    /// Authenticated, and the action done.
    Done {
        /// The session as it is after this request.
        session: Box<Session>,
        /// The store's clock (Unix milliseconds).
        now_ms: u64,
        /// What the action produced.
        result: ActionResult,
    },
}

/// A session just created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedSession {
    /// Unix milliseconds.
    pub created_at_ms: u64,
    /// Unix milliseconds.
    pub absolute_expires_at_ms: u64,
    /// When the first CSRF token expires (Unix milliseconds).
    pub csrf_expires_at_ms: u64,
}

/// The store could not be used (Redis down, breaker open, timeout).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SessionStoreError(#[from] pub GatewayError);

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Coordinator {
    /// Creates a session with its first CSRF token (keyed hash).
    pub async fn create_session(
        &self,
        session: &SessionRef,
        details: &SessionDetails,
        csrf_hash: &str,
        policy: &SessionPolicy,
    ) -> Result<CreatedSession, SessionStoreError> {
        match self {
            Self::Redis(redis) => {
                redis
                    .sessions()
                    .create(session, details, csrf_hash, policy)
                    .await
            }
            Self::InProcess(memory) => Ok(memory
                .sessions()
                .create(session, details, csrf_hash, policy)),
        }
    }

    /// Authenticates a request by its session, checks `csrf_hash` when
    /// given, and performs `action`, atomically.
    pub async fn use_session(
        &self,
        session: &SessionRef,
        csrf_hash: Option<&str>,
        action: SessionAction<'_>,
        policy: &SessionPolicy,
    ) -> Result<SessionOutcome, SessionStoreError> {
        match self {
            Self::Redis(redis) => {
                redis
                    .sessions()
                    .use_session(session, csrf_hash, action, policy)
                    .await
            }
            Self::InProcess(memory) => Ok(memory
                .sessions()
                .use_session(session, csrf_hash, action, policy)),
        }
    }
}
