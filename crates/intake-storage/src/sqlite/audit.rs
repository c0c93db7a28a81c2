//! The `audit_events` table on SQLite.
//!
//! `occurred_at` is bound as text of one fixed shape (UTC, six fractional
//! digits) so that comparing it as text compares instants; sqlx's own
//! encoding drops trailing zeros, and `...:05Z` would then sort before
//! `...:05.5Z`.

use time::OffsetDateTime;

use crate::StorageError;
use crate::audit::{
    AuditEventRow, AuditFilter, AuditMac, AuditRow, NewAuditEvent, audit_columns, next_row,
};
use crate::sqlite::SqliteStore;

/// The conditions of [`AuditFilter`], after `organization_id` (`?1`).
macro_rules! filter_conditions {
    () => {
        " sequence > ?2 \
         AND (?3 IS NULL OR occurred_at >= ?3) \
         AND (?4 IS NULL OR occurred_at <= ?4) \
         AND (?5 IS NULL OR event = ?5) \
         ORDER BY sequence LIMIT ?6"
    };
}

impl SqliteStore {
    /// Appends in a `BEGIN IMMEDIATE` transaction: it takes the database's
    /// write lock before reading the last row, so no other connection, in
    /// this process or another, appends in between.
    pub(crate) async fn append_audit_event(
        &self,
        event: &NewAuditEvent,
        key: &dyn AuditMac,
    ) -> Result<AuditRow, StorageError> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT sequence, mac FROM audit_events ORDER BY sequence DESC LIMIT 1")
                .fetch_optional(&mut *transaction)
                .await?;
        let row = next_row(last, event, key);
        let content = &row.content;
        sqlx::query(concat!(
            "INSERT INTO audit_events (",
            audit_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(row.sequence)
        .bind(sortable_text(content.occurred_at))
        .bind(&content.event)
        .bind(&content.outcome)
        .bind(content.security)
        .bind(&content.actor_user_id)
        .bind(&content.organization_id)
        .bind(&content.client_ip)
        .bind(&content.request_id)
        .bind(&content.resource_type)
        .bind(&content.resource_id)
        .bind(&row.previous_mac)
        .bind(&row.mac)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(row)
    }

    pub(crate) async fn audit_events(
        &self,
        organization_id: Option<&str>,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRow>, StorageError> {
        // Both arms take the same parameters, so one chain of binds serves;
        // the unscoped one only checks that no organization was given.
        let query = match organization_id {
            Some(_) => sqlx::query_as(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_events WHERE organization_id = ?1 AND",
                filter_conditions!()
            )),
            None => sqlx::query_as(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_events WHERE (?1 IS NULL) AND",
                filter_conditions!()
            )),
        };
        let rows: Vec<AuditEventRow> = query
            .bind(organization_id)
            .bind(filter.after_sequence)
            .bind(filter.from.map(sortable_text))
            .bind(filter.to.map(sortable_text))
            .bind(&filter.event)
            .bind(i64::from(filter.limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(AuditRow::from).collect())
    }
}

/// `instant` (already in UTC, whole microseconds) as
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, which is RFC 3339 and sorts as text.
fn sortable_text(instant: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        instant.year(),
        u8::from(instant.month()),
        instant.day(),
        instant.hour(),
        instant.minute(),
        instant.second(),
        instant.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_one_width_so_text_order_is_time_order() {
        let whole = OffsetDateTime::from_unix_timestamp(1_700_000_005).unwrap();
        let half = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_005_500_000_000).unwrap();

        assert_eq!(sortable_text(whole), "2023-11-14T22:13:25.000000Z");
        assert_eq!(sortable_text(half), "2023-11-14T22:13:25.500000Z");
        assert!(sortable_text(whole) < sortable_text(half));
    }
}
