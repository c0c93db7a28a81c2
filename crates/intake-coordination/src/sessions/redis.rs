//! Sessions in Redis: two Lua scripts over the gateway.

use std::collections::HashMap;
use std::sync::LazyLock;

use redis::{Script, Value};

use super::{
    ActionResult, CreatedSession, Session, SessionAction, SessionDetails, SessionOutcome,
    SessionPolicy, SessionRef, SessionStoreError, millis,
};
use crate::redis::{GatewayError, RedisGateway};

static CREATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("create.lua")));
static USE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("session.lua")));

/// Sessions kept in Redis under `prefix`.
pub(crate) struct RedisSessions<'a> {
    gateway: &'a RedisGateway,
    prefix: &'a str,
}

impl<'a> RedisSessions<'a> {
    pub(crate) fn new(gateway: &'a RedisGateway, prefix: &'a str) -> Self {
        Self { gateway, prefix }
    }

    fn session_key_prefix(&self, user_tag: &str) -> String {
        format!("{}session:{{{user_tag}}}:", self.prefix)
    }

    fn csrf_key_prefix(&self, user_tag: &str) -> String {
        format!("{}csrf:{{{user_tag}}}:", self.prefix)
    }

    fn index_key(&self, user_tag: &str) -> String {
        format!("{}user-sessions:{{{user_tag}}}", self.prefix)
    }

    pub(crate) async fn create(
        &self,
        session: &SessionRef,
        details: &SessionDetails,
        csrf_hash: &str,
        policy: &SessionPolicy,
    ) -> Result<CreatedSession, SessionStoreError> {
        let tag = &session.user_tag;
        let mut invocation = CREATE.prepare_invoke();
        invocation
            .key(format!(
                "{}{}",
                self.session_key_prefix(tag),
                session.id_hash
            ))
            .key(format!("{}{}", self.csrf_key_prefix(tag), session.id_hash))
            .key(self.index_key(tag))
            .arg(&session.id_hash)
            .arg(millis(policy.absolute_ttl))
            .arg(policy.idle_timeout.map_or(0, millis))
            .arg(csrf_hash)
            .arg(millis(policy.csrf_ttl));
        for (field, value) in detail_fields(details) {
            invocation.arg(field).arg(value);
        }
        let (created_at_ms, absolute_expires_at_ms): (u64, u64) =
            self.gateway.invoke("session.create", &invocation).await?;
        Ok(CreatedSession {
            created_at_ms,
            absolute_expires_at_ms,
            csrf_expires_at_ms: (created_at_ms + millis(policy.csrf_ttl))
                .min(absolute_expires_at_ms),
        })
    }

    pub(crate) async fn use_session(
        &self,
        session: &SessionRef,
        csrf_hash: Option<&str>,
        action: SessionAction<'_>,
        policy: &SessionPolicy,
    ) -> Result<SessionOutcome, SessionStoreError> {
        let tag = &session.user_tag;
        let session_keys = self.session_key_prefix(tag);
        let csrf_keys = self.csrf_key_prefix(tag);
        let (name, argument, label) = match action {
            SessionAction::Touch => ("touch", "", "session.touch"),
            SessionAction::IssueCsrf(hash) => ("issue-csrf", hash, "session.issue_csrf"),
            SessionAction::End => ("end", "", "session.end"),
            SessionAction::Revoke(id) => ("revoke", id, "session.revoke"),
            SessionAction::RevokeOthers => ("revoke-others", "", "session.revoke_others"),
            SessionAction::List => ("list", "", "session.list"),
        };
        let mut invocation = USE.prepare_invoke();
        invocation
            .key(format!("{session_keys}{}", session.id_hash))
            .key(format!("{csrf_keys}{}", session.id_hash))
            .key(self.index_key(tag));
        if let SessionAction::Revoke(target) = action {
            invocation
                .key(format!("{session_keys}{target}"))
                .key(format!("{csrf_keys}{target}"));
        }
        invocation
            .arg(name)
            .arg(&session.id_hash)
            .arg(policy.idle_timeout.map_or(0, millis))
            .arg(csrf_hash.unwrap_or(""))
            .arg(argument)
            .arg(millis(policy.csrf_ttl))
            .arg(policy.max_csrf_tokens)
            .arg(&session_keys)
            .arg(&csrf_keys);
        let reply: Value = self.gateway.invoke(label, &invocation).await?;
        parse_outcome(&session.id_hash, action, reply).map_err(malformed)
    }
}

fn malformed(what: &'static str) -> SessionStoreError {
    SessionStoreError(GatewayError::Command(redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "session script answered in an unexpected shape",
        what.to_owned(),
    ))))
}

fn detail_fields(details: &SessionDetails) -> [(&'static str, String); 8] {
    [
        ("user_id", details.user_id.clone()),
        ("organization_id", details.organization_id.clone()),
        ("role", details.role.clone()),
        ("permissions", details.permissions.join(" ")),
        ("ip_address", details.ip_address.clone()),
        ("user_agent", details.user_agent.clone()),
        ("session_type", details.session_type.clone()),
        ("auth_method", details.auth_method.clone()),
    ]
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        Value::Int(number) => Some(number.to_string()),
        _ => None,
    }
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Int(number) => u64::try_from(*number).ok(),
        other => text(other)?.parse().ok(),
    }
}

/// A session from the flat field/value array of `HGETALL`.
fn session_from_fields(id_hash: &str, fields: &Value) -> Option<Session> {
    let Value::Array(items) = fields else {
        return None;
    };
    let mut by_name = HashMap::new();
    for pair in items.chunks_exact(2) {
        by_name.insert(text(&pair[0])?, text(&pair[1])?);
    }
    let mut take = |name: &str| by_name.remove(name).unwrap_or_default();
    let details = SessionDetails {
        user_id: take("user_id"),
        organization_id: take("organization_id"),
        role: take("role"),
        permissions: take("permissions")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        ip_address: take("ip_address"),
        user_agent: take("user_agent"),
        session_type: take("session_type"),
        auth_method: take("auth_method"),
    };
    Some(Session {
        id_hash: id_hash.to_owned(),
        details,
        created_at_ms: take("created_at").parse().ok()?,
        last_seen_at_ms: take("last_seen_at").parse().ok()?,
        absolute_expires_at_ms: take("absolute_expires_at").parse().ok()?,
    })
}

fn parse_outcome(
    id_hash: &str,
    action: SessionAction<'_>,
    reply: Value,
) -> Result<SessionOutcome, &'static str> {
    let Value::Array(items) = reply else {
        return Err("reply");
    };
    let status = items.first().and_then(text).ok_or("status")?;
    match status.as_str() {
        "unknown" => return Ok(SessionOutcome::Unknown),
        "expired" => return Ok(SessionOutcome::Expired),
        "csrf-refused" => return Ok(SessionOutcome::CsrfRefused),
        "ok" => {}
        _ => return Err("status"),
    }
    let [_, now, fields, result] = items.as_slice() else {
        return Err("arity");
    };
    let session = session_from_fields(id_hash, fields).ok_or("session")?;
    let result = match action {
        SessionAction::Touch => ActionResult::Touched,
        SessionAction::End => ActionResult::Ended,
        SessionAction::IssueCsrf(_) => ActionResult::CsrfIssued {
            expires_at_ms: number(result).ok_or("csrf expiry")?,
        },
        SessionAction::Revoke(_) => ActionResult::Revoked(number(result) == Some(1)),
        SessionAction::RevokeOthers => {
            ActionResult::RevokedOthers(number(result).ok_or("revoked count")?)
        }
        SessionAction::List => ActionResult::Listed(listed_sessions(result)?),
    };
    Ok(SessionOutcome::Done {
        session: Box::new(session),
        now_ms: number(now).ok_or("time")?,
        result,
    })
}

fn listed_sessions(result: &Value) -> Result<Vec<Session>, &'static str> {
    let Value::Array(entries) = result else {
        // An empty Lua table comes back as an empty array or as nil.
        return Ok(Vec::new());
    };
    entries
        .iter()
        .map(|entry| match entry {
            Value::Array(pair) if pair.len() == 2 => {
                let id = text(&pair[0]).ok_or("listed id")?;
                session_from_fields(&id, &pair[1]).ok_or("listed session")
            }
            _ => Err("listed entry"),
        })
        .collect()
}
