//! The `organizations` table, on either backend.

use super::BackendStore;
use crate::StorageError;
use crate::organizations::{Organization, OrganizationRow, organization_columns};

impl BackendStore {
    pub(crate) async fn insert_organization(
        &self,
        id: &str,
        name: &str,
    ) -> Result<Organization, StorageError> {
        let row: OrganizationRow = sqlx::query_as(concat!(
            "INSERT INTO organizations (id, name) VALUES ($1, $2) RETURNING ",
            organization_columns!()
        ))
        .bind(id)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.into())
    }

    pub(crate) async fn organization_by_id(
        &self,
        id: &str,
    ) -> Result<Option<Organization>, StorageError> {
        let row: Option<OrganizationRow> = sqlx::query_as(concat!(
            "SELECT ",
            organization_columns!(),
            " FROM organizations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Organization::from))
    }

    pub(crate) async fn organization_by_name(
        &self,
        name: &str,
    ) -> Result<Option<Organization>, StorageError> {
        let row: Option<OrganizationRow> = sqlx::query_as(concat!(
            "SELECT ",
            organization_columns!(),
            " FROM organizations WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Organization::from))
    }
}
