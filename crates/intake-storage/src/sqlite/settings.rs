//! The `settings` table on SQLite.

use crate::StorageError;
use crate::sqlite::SqliteStore;

impl SqliteStore {
    /// Stores `value` under `name` unless a value is already there, and
    /// returns whichever value is stored.
    ///
    /// SQLite runs one write at a time, so of two racing inserts one stores
    /// its value and the other does nothing; both then read the winner's.
    pub(crate) async fn get_or_insert_setting(
        &self,
        name: &str,
        value: &[u8],
    ) -> Result<Vec<u8>, StorageError> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES (?, ?) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;

        let stored = sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(stored)
    }
}
