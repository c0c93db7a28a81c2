//! `GET /api/audit`: the audit trail of the caller's organization (SPEC
//! sections 8 and 9), for holders of `read:audit`.
//!
//! Only events that name the caller's organization are listed; events that
//! name none (a refused login for an unknown address, a rate limit) belong to
//! no tenant and are read with database access, not through the API.
//!
//! Pages follow the trail's order: `?after=` takes the last `sequence` of
//! the page before. `?from=` and `?to=` bound the time, both inclusive.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use intake_storage::{AuditFilter, AuditRow};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::ApiError;
use super::json::rfc3339;
use super::session::CurrentSession;
use crate::app::App;

/// Events in a page unless `?limit=` says otherwise.
pub const DEFAULT_LIMIT: u32 = 100;

/// The most events one page may hold.
pub const MAX_LIMIT: u32 = 1000;

/// The longest event name `?event=` accepts.
const MAX_EVENT_NAME: usize = 64;

/// `GET /api/audit` query, as text: each value is parsed by hand so that a
/// bad one gets an answer naming it.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    limit: Option<String>,
    after: Option<String>,
    from: Option<String>,
    to: Option<String>,
    event: Option<String>,
}

/// `GET /api/audit`: `{"events": [...]}`, oldest first.
pub async fn get_audit(
    State(app): State<App>,
    CurrentSession(authenticated): CurrentSession,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    authenticated.require("read:audit")?;

    let Query(query) = query.map_err(|_| bad_query("Malformed query string"))?;
    let filter = audit_filter(&query)?;

    let organization_id = authenticated.organization_id();
    let rows = app
        .database
        .audit_events(Some(organization_id), &filter)
        .await?;

    let events: Vec<Value> = rows.iter().map(event_json).collect();
    Ok(Json(json!({ "events": events })).into_response())
}

/// The storage filter `query` asks for; 400 naming the first bad value.
fn audit_filter(query: &AuditQuery) -> Result<AuditFilter, ApiError> {
    let limit = match &query.limit {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| bad_query("limit must be a whole number from 1 to 1000"))?,
    };
    let after_sequence = match &query.after {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|after| *after >= 0)
            .ok_or_else(|| bad_query("after must be the sequence of an event (0 or more)"))?,
    };
    let from = query
        .from
        .as_deref()
        .map(|text| instant("from", text))
        .transpose()?;
    let to = query
        .to
        .as_deref()
        .map(|text| instant("to", text))
        .transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(bad_query("from must not be later than to"));
    }
    let event = query.event.clone();
    if event.as_deref().is_some_and(|name| !is_event_name(name)) {
        return Err(bad_query(
            "event must be an event name such as login.succeeded",
        ));
    }
    Ok(AuditFilter {
        from,
        to,
        event,
        after_sequence,
        limit,
    })
}

/// An RFC 3339 date-time from `?name=`. A `+` of an offset that arrived
/// unescaped reads as a space in a query string, so a space is taken back.
fn instant(name: &'static str, text: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(&text.replace(' ', "+"), &Rfc3339).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{name} must be an RFC 3339 date-time, e.g. 2024-01-31T00:00:00Z"),
        )
    })
}

/// Whether `name` has the shape of an event name: lowercase dotted words.
fn is_event_name(name: &str) -> bool {
    (1..=MAX_EVENT_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"._".contains(&byte))
}

fn bad_query(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// One event as the API shows it.
fn event_json(row: &AuditRow) -> Value {
    let content = &row.content;
    json!({
        "sequence": row.sequence,
        "occurredAt": rfc3339(content.occurred_at),
        "event": content.event,
        "outcome": content.outcome,
        "security": content.security,
        "actorUserId": content.actor_user_id,
        "organizationId": content.organization_id,
        "clientIp": content.client_ip,
        "requestId": content.request_id,
        "resourceType": content.resource_type,
        "resourceId": content.resource_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> AuditQuery {
        let value = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        AuditQuery {
            limit: value("limit"),
            after: value("after"),
            from: value("from"),
            to: value("to"),
            event: value("event"),
        }
    }

    fn refusal(pairs: &[(&str, &str)]) -> StatusCode {
        audit_filter(&query(pairs)).unwrap_err().status()
    }

    #[test]
    fn no_query_is_the_first_hundred_events() {
        let filter = audit_filter(&AuditQuery::default()).unwrap();
        assert_eq!(filter, AuditFilter::default());
        assert_eq!(filter.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn every_value_is_parsed() {
        let filter = audit_filter(&query(&[
            ("limit", "1000"),
            ("after", "41"),
            ("from", "2024-01-01T00:00:00Z"),
            ("to", "2024-01-31T00:00:00 01:00"),
            ("event", "login.succeeded"),
        ]))
        .unwrap();

        assert_eq!(filter.limit, 1000);
        assert_eq!(filter.after_sequence, 41);
        assert_eq!(filter.from.unwrap().unix_timestamp(), 1_704_067_200);
        assert_eq!(filter.to.unwrap().unix_timestamp(), 1_706_655_600);
        assert_eq!(filter.event.as_deref(), Some("login.succeeded"));
    }

    #[test]
    fn bad_values_are_400() {
        for pairs in [
            &[("limit", "0")][..],
            &[("limit", "1001")],
            &[("limit", "ten")],
            &[("after", "-1")],
            &[("from", "yesterday")],
            &[("to", "2024-13-01T00:00:00Z")],
            &[
                ("from", "2024-02-01T00:00:00Z"),
                ("to", "2024-01-01T00:00:00Z"),
            ],
            &[("event", "Login Succeeded")],
            &[("event", "")],
        ] {
            assert_eq!(refusal(pairs), StatusCode::BAD_REQUEST, "{pairs:?}");
        }
    }
}
