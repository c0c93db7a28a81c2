//! Audit events: every security-relevant event, as a log line that begins
//! with `AUDIT:` (normal events) or `SECURITY:` (refusals, rate limits,
//! tampering), under the `audit` log target.
//!
//! An event names who did what to which resource, from where, and how it
//! came out. It never carries PHI or a secret: ids only, and a session only
//! as the short form of its keyed hash.

use serde::Serialize;

/// How the event came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was refused.
    Failure,
}

/// One audit event.
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

    /// Writes the event to the log.
    pub fn emit(&self) {
        let outcome = match self.outcome {
            Some(Outcome::Success) => "success",
            Some(Outcome::Failure) | None => "failure",
        };
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
                resource_type, resource_id,
                "SECURITY: {}", self.event
            );
        } else {
            tracing::info!(
                target: "audit",
                event = self.event, outcome, actor_user_id = actor,
                organization_id = organization, client_ip, request_id,
                resource_type, resource_id,
                "AUDIT: {}", self.event
            );
        }
    }
}
