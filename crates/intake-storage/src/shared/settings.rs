//! The `settings` table, on either backend.

use super::BackendStore;
use crate::StorageError;

impl BackendStore {
    /// Stores `value` under `name` unless a value is already there, and
    /// returns whichever value is stored.
    ///
    /// Two statements, on purpose. SQLite runs one write at a time, so of two
    /// racing inserts one stores its value and the other does nothing; both
    /// then read the winner's. On PostgreSQL, when another instance inserted
    /// first, the `INSERT` waits for its transaction and then does nothing;
    /// the `SELECT` then takes a fresh snapshot (read committed) and sees that
    /// row. A single statement reading its own snapshot could miss a row
    /// committed after it began and return nothing.
    pub(crate) async fn get_or_insert_setting(
        &self,
        name: &str,
        value: &[u8],
    ) -> Result<Vec<u8>, StorageError> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;

        let stored = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(stored)
    }
}
