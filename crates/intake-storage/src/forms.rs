//! Forms: versioned questionnaires an organization designs and publishes.
//!
//! A form has versions 1, 2, ... (SPEC section 8). The latest version is
//! where edits go; publishing freezes it, and from then on nothing changes
//! that version: editing a published form adds the next version instead,
//! while the published one keeps answering until the new one is published
//! in turn. So a response, pinned to the version it answered (see
//! [`crate::responses`]), can always be read with the exact questions it
//! answered.
//!
//! Status ([`Form::status`]):
//!
//! | status | meaning | responses |
//! |---|---|---|
//! | `draft` | never published | refused |
//! | `active` | published; a newer unpublished version may exist | answer [`Form::published_version`] |
//! | `retired` | closed for good: no edit, publish or response | refused |
//!
//! Tenant isolation (SPEC section 5): every method takes the caller's
//! organization and finds nothing in another one, so another organization's
//! form id behaves exactly like an id that does not exist (`Ok(None)`). A
//! handler cannot forget the check because there is no unscoped lookup.
//!
//! Concurrency: every write reads the form's row under a lock (`SELECT ...
//! FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite) and decides from
//! what it read, so instances editing and publishing the same form at once
//! take turns: two edits of a published form make one new version, which
//! the second edit then changes in place. The decisions themselves are made
//! once, here, in `FormHead`; the backends only run the SQL.
//!
//! The definition is opaque JSON text to this crate: `intake-forms` parses
//! and validates it. It is not PHI, so a [`Form`] may be debug-printed.

use time::OffsetDateTime;

use crate::database::{Store, new_id};
use crate::{Database, StorageError};

/// The status of a form that was never published.
pub const DRAFT: &str = "draft";
/// The status of a published form that takes responses.
pub const ACTIVE: &str = "active";
/// The status of a form closed for good.
pub const RETIRED: &str = "retired";

/// One version of a form, with the form's own fields alongside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// Random UUID v4, as text; the same for every version.
    pub id: String,
    /// The organization that owns the form.
    pub organization_id: String,
    /// [`DRAFT`], [`ACTIVE`] or [`RETIRED`]: the form's status now, whichever
    /// version this record shows.
    pub status: String,
    /// The version this record shows, from 1.
    pub version: u32,
    /// The version responses answer now; `None` until the first publish.
    pub published_version: Option<u32>,
    /// This version's title.
    pub title: String,
    /// This version's description.
    pub description: Option<String>,
    /// This version's FHIR Questionnaire items, as the JSON text given.
    pub definition: String,
    /// Whether this version is published, and so frozen.
    pub published: bool,
    /// When this version was published, by the database's clock.
    pub published_at: Option<OffsetDateTime>,
    /// The id of the user who created the form (its first version).
    pub created_by: String,
    /// When the form was created, by the database's clock.
    pub created_at: OffsetDateTime,
    /// When the form last changed: an edit, a publish or its retirement.
    pub updated_at: OffsetDateTime,
}

/// What [`Database::create_form`] needs to make a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewForm {
    /// An existing organization's id.
    pub organization_id: String,
    /// The id of a user of that organization: the author.
    pub created_by: String,
    /// The first version's title.
    pub title: String,
    /// The first version's description.
    pub description: Option<String>,
    /// The first version's FHIR Questionnaire items, as JSON text; stored
    /// as given, without being parsed.
    pub definition: String,
}

impl Database {
    /// Creates a form with a new random id, as a `draft` whose version 1 is
    /// unpublished.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] when `organization_id` names no
    /// organization or `created_by` no user of it;
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn create_form(&self, new_form: NewForm) -> Result<Form, StorageError> {
        let id = new_id();
        match self.store() {
            Store::Sqlite(store) => store.insert_form(&id, &new_form).await,
            Store::Postgres(store) => store.insert_form(&id, &new_form).await,
        }
    }

    /// The form's latest version: the one edits go to, published or not.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn form(
        &self,
        organization_id: &str,
        form_id: &str,
    ) -> Result<Option<Form>, StorageError> {
        self.form_at(organization_id, form_id, Version::Latest)
            .await
    }

    /// The form's version `version`, published or not; `None` when the form
    /// or that version does not exist. This is how a response's questions are
    /// read: with its [`crate::FormResponse::form_version`].
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn form_version(
        &self,
        organization_id: &str,
        form_id: &str,
        version: u32,
    ) -> Result<Option<Form>, StorageError> {
        // A version past i32::MAX cannot be stored, so it does not exist.
        let Ok(version) = i32::try_from(version) else {
            return Ok(None);
        };
        self.form_at(organization_id, form_id, Version::Exact(version))
            .await
    }

    /// The published version: the one a response made now would answer.
    /// `None` when the form does not exist or was never published.
    ///
    /// A retired form still has one (its last), for reading; that it takes no
    /// more responses is said by [`Form::status`].
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn published_form(
        &self,
        organization_id: &str,
        form_id: &str,
    ) -> Result<Option<Form>, StorageError> {
        self.form_at(organization_id, form_id, Version::Published)
            .await
    }

    /// Every form of the organization, in its latest version, newest form
    /// first; retired forms included (their status says so).
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    // TODO: no pagination. An organization's forms are expected to number in
    // the hundreds at most; past that, this needs a limit and a cursor.
    pub async fn list_forms(&self, organization_id: &str) -> Result<Vec<Form>, StorageError> {
        match self.store() {
            Store::Sqlite(store) => store.list_forms(organization_id).await,
            Store::Postgres(store) => store.list_forms(organization_id).await,
        }
    }

    /// Changes what the form asks, and returns its latest version.
    ///
    /// When the latest version is unpublished it is changed in place. When
    /// it is published (frozen), the change becomes a new version, latest +
    /// 1, unpublished; the form keeps its status, and its published version
    /// keeps answering until [`Database::publish_form`].
    ///
    /// Instances editing the same form at once take turns, so two edits of a
    /// published form make one new version, not two with the same number.
    ///
    /// # Errors
    ///
    /// [`StorageError::WrongFormStatus`] when the form is retired;
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn update_form(
        &self,
        organization_id: &str,
        form_id: &str,
        title: &str,
        description: Option<&str>,
        definition: &str,
    ) -> Result<Option<Form>, StorageError> {
        let content = FormContent {
            title,
            description,
            definition,
        };
        match self.store() {
            Store::Sqlite(store) => store.update_form(organization_id, form_id, &content).await,
            Store::Postgres(store) => store.update_form(organization_id, form_id, &content).await,
        }
    }

    /// Publishes the latest version: freezes it, makes it the one responses
    /// answer, and makes the form `active`. Returns the form's latest (now
    /// published) version.
    ///
    /// Idempotent: when the latest version is already published, nothing
    /// changes and the form is returned as it is, so a client retrying a
    /// publish gets the same answer rather than an error.
    ///
    /// # Errors
    ///
    /// [`StorageError::WrongFormStatus`] when the form is retired;
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn publish_form(
        &self,
        organization_id: &str,
        form_id: &str,
    ) -> Result<Option<Form>, StorageError> {
        match self.store() {
            Store::Sqlite(store) => store.publish_form(organization_id, form_id).await,
            Store::Postgres(store) => store.publish_form(organization_id, form_id).await,
        }
    }

    /// Retires the form: it takes no more responses and can no longer be
    /// edited or published, while it and its responses can still be read.
    /// Returns its latest version. Retiring a retired form changes nothing.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn retire_form(
        &self,
        organization_id: &str,
        form_id: &str,
    ) -> Result<Option<Form>, StorageError> {
        match self.store() {
            Store::Sqlite(store) => store.retire_form(organization_id, form_id).await,
            Store::Postgres(store) => store.retire_form(organization_id, form_id).await,
        }
    }

    async fn form_at(
        &self,
        organization_id: &str,
        form_id: &str,
        version: Version,
    ) -> Result<Option<Form>, StorageError> {
        match self.store() {
            Store::Sqlite(store) => store.form(organization_id, form_id, version).await,
            Store::Postgres(store) => store.form(organization_id, form_id, version).await,
        }
    }
}

/// Which of a form's versions a read wants.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Version {
    Latest,
    Published,
    Exact(i32),
}

/// What an edit writes into a version.
#[derive(Debug)]
pub(crate) struct FormContent<'a> {
    pub(crate) title: &'a str,
    pub(crate) description: Option<&'a str>,
    pub(crate) definition: &'a str,
}

impl<'a> From<&'a NewForm> for FormContent<'a> {
    fn from(new_form: &'a NewForm) -> Self {
        Self {
            title: &new_form.title,
            description: new_form.description.as_deref(),
            definition: &new_form.definition,
        }
    }
}

/// The `forms` row's own state, read under its lock by every write, and
/// the decisions that follow from it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct FormHead {
    pub(crate) status: String,
    pub(crate) latest_version: i32,
    pub(crate) published_version: Option<i32>,
}

/// Where an edit goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edit {
    /// The latest version is unpublished: change it.
    InPlace(i32),
    /// The latest version is frozen: insert this one after it.
    NewVersion(i32),
}

impl FormHead {
    /// Where an edit of this form goes.
    pub(crate) fn edit(&self) -> Result<Edit, StorageError> {
        self.refuse_retired()?;
        if self.published_version == Some(self.latest_version) {
            Ok(Edit::NewVersion(self.latest_version + 1))
        } else {
            Ok(Edit::InPlace(self.latest_version))
        }
    }

    /// The version a publish freezes, or `None` when the latest one is
    /// already published and there is nothing to do.
    pub(crate) fn publish(&self) -> Result<Option<i32>, StorageError> {
        self.refuse_retired()?;
        if self.published_version == Some(self.latest_version) {
            Ok(None)
        } else {
            Ok(Some(self.latest_version))
        }
    }

    /// Whether a retire has anything to change.
    pub(crate) fn is_retired(&self) -> bool {
        self.status == RETIRED
    }

    /// The version a new response is pinned to: the published one, if the
    /// form takes responses and, when the caller names the version it
    /// checked the response against, if that is still the one.
    pub(crate) fn respond(&self, expected_version: Option<u32>) -> Result<i32, StorageError> {
        let published = match (self.status.as_str(), self.published_version) {
            (ACTIVE, Some(published)) => published,
            _ => {
                return Err(StorageError::WrongFormStatus {
                    status: self.status.clone(),
                });
            }
        };
        match expected_version {
            Some(expected) if i64::from(expected) != i64::from(published) => {
                Err(StorageError::Conflict {
                    reason: "the form's published version changed".to_owned(),
                })
            }
            _ => Ok(published),
        }
    }

    fn refuse_retired(&self) -> Result<(), StorageError> {
        if self.is_retired() {
            return Err(StorageError::WrongFormStatus {
                status: self.status.clone(),
            });
        }
        Ok(())
    }
}

/// `SELECT` of every column [`FormRow`] reads, from `forms` joined with one
/// of its versions, as a literal for `concat!` (see
/// `organization_columns!`). Callers add the `WHERE` that picks the
/// organization, the form and the version.
macro_rules! select_forms {
    () => {
        "SELECT f.id, f.organization_id, f.status, v.version, f.published_version, \
         v.title, v.description, v.definition, v.published_at, f.created_by, \
         f.created_at, f.updated_at \
         FROM forms f JOIN form_versions v ON v.form_id = f.id"
    };
}
pub(crate) use select_forms;

/// A row of [`select_forms!`] as both backends return it.
#[derive(sqlx::FromRow)]
pub(crate) struct FormRow {
    id: String,
    organization_id: String,
    status: String,
    version: i32,
    published_version: Option<i32>,
    title: String,
    description: Option<String>,
    definition: String,
    published_at: Option<OffsetDateTime>,
    created_by: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<FormRow> for Form {
    type Error = StorageError;

    fn try_from(row: FormRow) -> Result<Self, StorageError> {
        Ok(Self {
            id: row.id,
            organization_id: row.organization_id,
            status: row.status,
            version: version_from_column(row.version)?,
            published_version: row.published_version.map(version_from_column).transpose()?,
            title: row.title,
            description: row.description,
            definition: row.definition,
            published: row.published_at.is_some(),
            published_at: row.published_at,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A version number as read from a column the tables keep at 1 or more.
pub(crate) fn version_from_column(version: i32) -> Result<u32, StorageError> {
    u32::try_from(version).map_err(|_| StorageError::Other {
        reason: format!("a stored form version is negative: {version}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: &str, latest_version: i32, published_version: Option<i32>) -> FormHead {
        FormHead {
            status: status.to_owned(),
            latest_version,
            published_version,
        }
    }

    #[test]
    fn a_draft_is_edited_in_place_and_published_at_its_latest_version() {
        let draft = head(DRAFT, 1, None);

        assert_eq!(draft.edit().unwrap(), Edit::InPlace(1));
        assert_eq!(draft.publish().unwrap(), Some(1));
    }

    #[test]
    fn an_edit_of_a_published_version_makes_the_next_one() {
        let active = head(ACTIVE, 3, Some(3));

        assert_eq!(active.edit().unwrap(), Edit::NewVersion(4));
        assert_eq!(active.publish().unwrap(), None);
    }

    #[test]
    fn an_unpublished_version_on_top_of_a_published_one_is_edited_in_place() {
        let active = head(ACTIVE, 4, Some(3));

        assert_eq!(active.edit().unwrap(), Edit::InPlace(4));
        assert_eq!(active.publish().unwrap(), Some(4));
        assert_eq!(active.respond(None).unwrap(), 3);
    }

    #[test]
    fn a_retired_form_refuses_edits_publishes_and_responses() {
        let retired = head(RETIRED, 2, Some(2));

        for error in [
            retired.edit().unwrap_err(),
            retired.publish().unwrap_err(),
            retired.respond(None).unwrap_err(),
        ] {
            assert!(
                matches!(&error, StorageError::WrongFormStatus { status } if status == RETIRED),
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_draft_refuses_responses() {
        let error = head(DRAFT, 1, None).respond(None).unwrap_err();

        assert!(
            matches!(&error, StorageError::WrongFormStatus { status } if status == DRAFT),
            "{error:?}"
        );
    }

    #[test]
    fn a_response_checked_against_a_superseded_version_is_a_conflict() {
        let active = head(ACTIVE, 2, Some(2));

        let error = active.respond(Some(1)).unwrap_err();

        assert!(matches!(error, StorageError::Conflict { .. }), "{error:?}");
        assert_eq!(active.respond(Some(2)).unwrap(), 2);
    }
}
