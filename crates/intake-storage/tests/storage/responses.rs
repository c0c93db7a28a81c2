//! Responses: pinned to the published version when stored and kept on it
//! after later publishes; refused by drafts and retired forms; checked
//! against a version that moved; another organization's invisible; the
//! respondent filter.

use std::collections::BTreeSet;

use intake_storage::forms::{DRAFT, RETIRED};
use intake_storage::responses::{COMPLETED, IN_PROGRESS};
use intake_storage::{Database, FormResponse, NewResponse, StorageError};
use intake_testkit::database::TestDatabase;

use crate::forms::published_form;
use crate::forms::{Clinic, EDITED_ITEMS, INTAKE_ITEMS, clinic, edit, migrated, new_form};

/// Answers to [`INTAKE_ITEMS`]; PHI as far as storage knows.
const ANSWERS: &str = r#"[{"linkId":"name","answer":[{"valueString":"Ada Lovelace"}]}]"#;

fn new_response(clinic: &Clinic, form_id: &str) -> NewResponse {
    NewResponse {
        organization_id: clinic.id().to_owned(),
        form_id: form_id.to_owned(),
        form_version: None,
        respondent_id: clinic.respondent.id.clone(),
        status: COMPLETED.to_owned(),
        content: ANSWERS.to_owned(),
    }
}

async fn respond(database: &Database, clinic: &Clinic, form_id: &str) -> FormResponse {
    database
        .create_response(new_response(clinic, form_id))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_response_is_pinned_to_the_published_version_and_read_back() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let form = published_form(&database, &clinic).await;

        let created = respond(&database, &clinic, &form.id).await;
        let found = database.response(clinic.id(), &created.id).await.unwrap();
        let listed = database
            .list_responses(clinic.id(), &form.id, None)
            .await
            .unwrap();

        assert_eq!(created.form_id, form.id, "{backend}");
        assert_eq!(created.form_version, 1, "{backend}");
        assert_eq!(created.organization_id, clinic.organization.id, "{backend}");
        assert_eq!(created.respondent_id, clinic.respondent.id, "{backend}");
        assert_eq!(created.status, COMPLETED, "{backend}");
        assert_eq!(created.content, ANSWERS, "{backend}");
        assert_eq!(found.as_ref(), Some(&created), "{backend}");
        assert_eq!(listed, vec![created], "{backend}");
    }
}

#[tokio::test]
async fn publishing_version_2_moves_new_responses_to_it_while_old_ones_keep_version_1() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let form = published_form(&database, &clinic).await;
        let before_edit = respond(&database, &clinic, &form.id).await;
        edit(&database, &clinic, &form).await;

        let while_version_2_is_unpublished = respond(&database, &clinic, &form.id).await;
        database.publish_form(clinic.id(), &form.id).await.unwrap();
        let after_publish = respond(&database, &clinic, &form.id).await;

        assert_eq!(before_edit.form_version, 1, "{backend}");
        assert_eq!(while_version_2_is_unpublished.form_version, 1, "{backend}");
        assert_eq!(after_publish.form_version, 2, "{backend}");
        let stored = database
            .response(clinic.id(), &before_edit.id)
            .await
            .unwrap();
        assert_eq!(stored.unwrap().form_version, 1, "{backend}");
        let answered = database
            .form_version(clinic.id(), &form.id, before_edit.form_version)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answered.definition, INTAKE_ITEMS, "{backend}");
        let answered = database
            .form_version(clinic.id(), &form.id, after_publish.form_version)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answered.definition, EDITED_ITEMS, "{backend}");
    }
}

#[tokio::test]
async fn a_draft_refuses_responses() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let draft = database
            .create_form(new_form(&clinic, "Intake"))
            .await
            .unwrap();

        let error = database
            .create_response(new_response(&clinic, &draft.id))
            .await
            .unwrap_err();

        assert!(
            matches!(&error, StorageError::WrongFormStatus { status } if status == DRAFT),
            "{backend}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_retired_form_refuses_new_responses_and_keeps_its_old_ones_readable() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let form = published_form(&database, &clinic).await;
        let old = respond(&database, &clinic, &form.id).await;
        database.retire_form(clinic.id(), &form.id).await.unwrap();

        let error = database
            .create_response(new_response(&clinic, &form.id))
            .await
            .unwrap_err();

        assert!(
            matches!(&error, StorageError::WrongFormStatus { status } if status == RETIRED),
            "{backend}: {error:?}"
        );
        let listed = database
            .list_responses(clinic.id(), &form.id, None)
            .await
            .unwrap();
        assert_eq!(listed, vec![old.clone()], "{backend}");
        let read = database.response(clinic.id(), &old.id).await.unwrap();
        assert_eq!(read, Some(old), "{backend}");
    }
}

#[tokio::test]
async fn a_response_checked_against_a_version_no_longer_published_is_a_conflict() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let form = published_form(&database, &clinic).await;
        edit(&database, &clinic, &form).await;
        database.publish_form(clinic.id(), &form.id).await.unwrap();
        let checked_against = |version| NewResponse {
            form_version: Some(version),
            ..new_response(&clinic, &form.id)
        };

        let stale = database.create_response(checked_against(1)).await;
        let current = database.create_response(checked_against(2)).await;

        let error = stale.unwrap_err();
        assert!(
            matches!(error, StorageError::Conflict { .. }),
            "{backend}: {error:?}"
        );
        assert_eq!(current.unwrap().form_version, 2, "{backend}");
        let listed = database
            .list_responses(clinic.id(), &form.id, None)
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "{backend}");
    }
}

#[tokio::test]
async fn another_organizations_forms_and_responses_are_invisible() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let own = clinic(&database, "own").await;
        let other = clinic(&database, "other").await;
        let form = published_form(&database, &own).await;
        let response = respond(&database, &own, &form.id).await;

        let read = database.response(other.id(), &response.id).await;
        let listed = database.list_responses(other.id(), &form.id, None).await;
        let listed_for_respondent = database
            .list_responses(other.id(), &form.id, Some(&own.respondent.id))
            .await;
        let created = database
            .create_response(new_response(&other, &form.id))
            .await;

        assert_eq!(read.unwrap(), None, "{backend}");
        assert_eq!(listed.unwrap(), vec![], "{backend}");
        assert_eq!(listed_for_respondent.unwrap(), vec![], "{backend}");
        let error = created.unwrap_err();
        assert!(
            matches!(error, StorageError::NotFound),
            "{backend}: {error:?}"
        );
        let own_responses = database
            .list_responses(own.id(), &form.id, None)
            .await
            .unwrap();
        assert_eq!(own_responses, vec![response], "{backend}");
    }
}

#[tokio::test]
async fn a_respondent_outside_the_organization_or_an_unknown_form_is_not_found() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let own = clinic(&database, "own").await;
        let other = clinic(&database, "other").await;
        let form = published_form(&database, &own).await;
        let foreign_respondent = NewResponse {
            respondent_id: other.respondent.id.clone(),
            ..new_response(&own, &form.id)
        };
        let unknown_form = new_response(&own, "00000000-0000-4000-8000-000000000000");

        let foreign_respondent = database.create_response(foreign_respondent).await;
        let unknown_form = database.create_response(unknown_form).await;

        for error in [foreign_respondent.unwrap_err(), unknown_form.unwrap_err()] {
            assert!(
                matches!(error, StorageError::NotFound),
                "{backend}: {error:?}"
            );
        }
        let unknown = database
            .response(own.id(), "00000000-0000-4000-8000-000000000000")
            .await;
        assert_eq!(unknown.unwrap(), None, "{backend}");
    }
}

#[tokio::test]
async fn the_respondent_filter_lists_only_that_respondents_responses() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let form = published_form(&database, &clinic).await;
        let by_respondent = respond(&database, &clinic, &form.id).await;
        let by_staff = database
            .create_response(NewResponse {
                respondent_id: clinic.staff.id.clone(),
                status: IN_PROGRESS.to_owned(),
                ..new_response(&clinic, &form.id)
            })
            .await
            .unwrap();

        let respondents = database
            .list_responses(clinic.id(), &form.id, Some(&clinic.respondent.id))
            .await
            .unwrap();
        let everyones = database
            .list_responses(clinic.id(), &form.id, None)
            .await
            .unwrap();

        assert_eq!(respondents, vec![by_respondent.clone()], "{backend}");
        let ids: BTreeSet<_> = everyones.iter().map(|response| &response.id).collect();
        assert_eq!(
            ids,
            BTreeSet::from([&by_respondent.id, &by_staff.id]),
            "{backend}"
        );
        assert!(
            everyones
                .windows(2)
                .all(|pair| pair[0].authored_at >= pair[1].authored_at),
            "{backend}: {everyones:?}"
        );
    }
}

#[tokio::test]
async fn an_unknown_response_status_is_refused_without_echoing_the_content() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let form = published_form(&database, &clinic).await;
        let amended = NewResponse {
            status: "amended".to_owned(),
            ..new_response(&clinic, &form.id)
        };

        let error = database.create_response(amended).await.unwrap_err();

        assert!(
            matches!(error, StorageError::Other { .. }),
            "{backend}: {error:?}"
        );
        assert!(
            !error.to_string().contains("Lovelace"),
            "{backend}: {error}"
        );
        assert!(!format!("{error:?}").contains("Lovelace"), "{backend}");
    }
}

#[tokio::test]
async fn responses_racing_publishes_are_each_pinned_to_a_version_that_was_published() {
    const RESPONDENTS: usize = 8;
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let form = published_form(&database, &clinic).await;
        edit(&database, &clinic, &form).await;

        let responses: Vec<_> = (0..RESPONDENTS)
            .map(|_| {
                let database = database.clone();
                let new_response = new_response(&clinic, &form.id);
                tokio::spawn(async move { database.create_response(new_response).await })
            })
            .collect();
        let publish = database.publish_form(clinic.id(), &form.id).await;
        let mut versions = BTreeSet::new();
        for response in responses {
            versions.insert(response.await.unwrap().unwrap().form_version);
        }

        assert_eq!(publish.unwrap().unwrap().version, 2, "{backend}");
        assert!(
            versions.is_subset(&BTreeSet::from([1, 2])),
            "{backend}: {versions:?}"
        );
    }
}
