//! Reading the `responses` table, on either backend. Inserting one reads
//! the form under a lock, which differs, so it lives in each backend's
//! `responses.rs`.

use super::BackendStore;
use crate::StorageError;
use crate::responses::{FormResponse, ResponseRow, response_columns};

impl BackendStore {
    pub(crate) async fn response(
        &self,
        organization_id: &str,
        response_id: &str,
    ) -> Result<Option<FormResponse>, StorageError> {
        let row: Option<ResponseRow> = sqlx::query_as(concat!(
            "SELECT ",
            response_columns!(),
            " FROM responses WHERE organization_id = $1 AND id = $2"
        ))
        .bind(organization_id)
        .bind(response_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(FormResponse::try_from).transpose()
    }

    pub(crate) async fn list_responses(
        &self,
        organization_id: &str,
        form_id: &str,
        respondent_id: Option<&str>,
    ) -> Result<Vec<FormResponse>, StorageError> {
        let query = match respondent_id {
            Some(respondent_id) => sqlx::query_as(concat!(
                "SELECT ",
                response_columns!(),
                " FROM responses WHERE organization_id = $1 AND form_id = $2 \
                 AND respondent_id = $3 ORDER BY authored_at DESC, id"
            ))
            .bind(organization_id)
            .bind(form_id)
            .bind(respondent_id),
            None => sqlx::query_as(concat!(
                "SELECT ",
                response_columns!(),
                " FROM responses WHERE organization_id = $1 AND form_id = $2 \
                 ORDER BY authored_at DESC, id"
            ))
            .bind(organization_id)
            .bind(form_id),
        };
        let rows: Vec<ResponseRow> = query.fetch_all(&self.pool).await?;
        rows.into_iter().map(FormResponse::try_from).collect()
    }
}
