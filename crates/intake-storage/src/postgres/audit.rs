//! The `audit_events` table on PostgreSQL.

use crate::StorageError;
use crate::audit::{
    AuditEventRow, AuditFilter, AuditMac, AuditRow, NewAuditEvent, audit_columns, next_row,
};
use crate::postgres::PostgresStore;

/// The conditions of [`AuditFilter`], after `organization_id` (`$1`).
macro_rules! filter_conditions {
    () => {
        " sequence > $2 \
         AND ($3::timestamptz IS NULL OR occurred_at >= $3) \
         AND ($4::timestamptz IS NULL OR occurred_at <= $4) \
         AND ($5::text IS NULL OR event = $5) \
         ORDER BY sequence LIMIT $6"
    };
}

impl PostgresStore {
    /// Appends in a transaction that first locks the table in EXCLUSIVE
    /// mode: appenders, in this process or another, wait for each other,
    /// while readers (plain `SELECT`) go on. Waiting for the lock is bounded
    /// so that a stuck appender turns into errors, not a pile of requests.
    pub(crate) async fn append_audit_event(
        &self,
        event: &NewAuditEvent,
        key: &dyn AuditMac,
    ) -> Result<AuditRow, StorageError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query("SET LOCAL lock_timeout = '5s'")
            .execute(&mut *transaction)
            .await?;
        sqlx::query("LOCK TABLE audit_events IN EXCLUSIVE MODE")
            .execute(&mut *transaction)
            .await?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT sequence, mac FROM audit_events ORDER BY sequence DESC LIMIT 1")
                .fetch_optional(&mut *transaction)
                .await?;
        let row = next_row(last, event, key);
        let content = &row.content;
        sqlx::query(concat!(
            "INSERT INTO audit_events (",
            audit_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(row.sequence)
        .bind(content.occurred_at)
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
                " FROM audit_events WHERE organization_id = $1 AND",
                filter_conditions!()
            )),
            None => sqlx::query_as(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_events WHERE $1::text IS NULL AND",
                filter_conditions!()
            )),
        };
        let rows: Vec<AuditEventRow> = query
            .bind(organization_id)
            .bind(filter.after_sequence)
            .bind(filter.from)
            .bind(filter.to)
            .bind(&filter.event)
            .bind(i64::from(filter.limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(AuditRow::from).collect())
    }
}
