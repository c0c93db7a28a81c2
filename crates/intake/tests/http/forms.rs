//! Forms, responses, FHIR exports and PDFs (SPEC section 8), with tenant
//! isolation and roles, against the in-process coordinator and real Redis.

use std::process::Command;
use std::time::Instant;

use intake_testkit::database::TestDatabase;
use intake_testkit::redis::RedisServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{SignedIn, TestApp, config, redis_variables};

const KEY: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// Two organizations and users of every role.
struct Clinic {
    app: TestApp,
    staff: SignedIn,
    respondent: SignedIn,
    other_respondent: SignedIn,
    outsider: SignedIn,
}

async fn clinic(extra: &[(&str, &str)]) -> Clinic {
    clinic_on(TestDatabase::sqlite(), extra).await
}

async fn clinic_on(database: TestDatabase, extra: &[(&str, &str)]) -> Clinic {
    let mut pairs = vec![("RATE_LIMIT_AUTH", "100/60s+0"), ("INTAKE_SECRET_KEY", KEY)];
    pairs.extend_from_slice(extra);
    let app = TestApp::spawn_with(config(&database, &pairs), database).await;
    app.add_user("Riverside", "staff@riverside.example", "staff")
        .await;
    app.add_user("Riverside", "pat@riverside.example", "respondent")
        .await;
    app.add_user("Riverside", "sam@riverside.example", "respondent")
        .await;
    app.add_user("Hillcrest", "staff@hillcrest.example", "staff")
        .await;
    Clinic {
        staff: app.sign_in("staff@riverside.example").await,
        respondent: app.sign_in("pat@riverside.example").await,
        other_respondent: app.sign_in("sam@riverside.example").await,
        outsider: app.sign_in("staff@hillcrest.example").await,
        app,
    }
}

/// A form with a required item, an enableWhen, a choice and a nested group.
fn intake_form() -> Value {
    json!({
        "title": "New patient intake",
        "description": "Please answer before your first visit.",
        "item": [
            {"linkId": "name", "text": "Full name", "type": "string", "required": true, "maxLength": 60},
            {"linkId": "smoker", "text": "Do you smoke?", "type": "boolean", "required": true},
            {"linkId": "packs", "text": "Packs per day", "type": "integer", "required": true,
             "enableWhen": [{"question": "smoker", "operator": "=", "answerBoolean": true}]},
            {"linkId": "visit", "text": "Reason for the visit", "type": "choice", "required": true,
             "answerOption": [
                {"valueCoding": {"system": "http://example.org/visit", "code": "checkup", "display": "Check-up"}},
                {"valueCoding": {"system": "http://example.org/visit", "code": "pain", "display": "Pain"}}
             ]},
            {"linkId": "history", "text": "History", "type": "group", "item": [
                {"linkId": "history.allergies", "text": "Allergies", "type": "text"},
                {"linkId": "history.surgery", "text": "Past surgery", "type": "boolean", "required": true}
            ]}
        ]
    })
}

fn answer(link_id: &str, value: Value) -> Value {
    json!({"linkId": link_id, "answer": [value]})
}

fn good_response(name: &str) -> Value {
    json!({"status": "completed", "item": [
        answer("name", json!({"valueString": name})),
        answer("smoker", json!({"valueBoolean": true})),
        answer("packs", json!({"valueInteger": 1})),
        answer("visit", json!({"valueCoding": {"system": "http://example.org/visit", "code": "checkup"}})),
        {"linkId": "history", "item": [
            answer("history.allergies", json!({"valueString": "Пыльца и орехи; γύρη"})),
            answer("history.surgery", json!({"valueBoolean": false}))
        ]}
    ]})
}

/// Creates and publishes the intake form; returns its id.
async fn published_form(clinic: &Clinic) -> String {
    let (status, form) = clinic
        .staff
        .call(&clinic.app, Method::POST, "/api/forms", Some(intake_form()))
        .await;
    assert_eq!(status, 201, "{form}");
    assert_eq!(
        (form["version"].clone(), form["status"].clone()),
        (json!(1), json!("draft"))
    );
    let id = form["id"].as_str().unwrap().to_owned();
    let (status, published) = clinic
        .staff
        .call(
            &clinic.app,
            Method::POST,
            &format!("/api/forms/{id}/publish"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["status"], "active");
    id
}

#[tokio::test]
async fn a_form_is_created_published_and_answered_and_bad_responses_name_the_item() {
    let clinic = clinic(&[]).await;
    let form = published_form(&clinic).await;
    let path = format!("/api/forms/{form}/responses");

    let (status, stored) = clinic
        .respondent
        .call(
            &clinic.app,
            Method::POST,
            &path,
            Some(good_response("Ada Lovelace")),
        )
        .await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["formVersion"], 1);
    assert_eq!(stored["status"], "completed");

    let mut missing_required = good_response("Ada");
    missing_required["item"].as_array_mut().unwrap().remove(2); // packs, enabled by smoker
    let mut wrong_type = good_response("Ada");
    wrong_type["item"][1] = answer("smoker", json!({"valueString": "yes"}));
    let mut not_an_option = good_response("Ada");
    not_an_option["item"][3] = answer(
        "visit",
        json!({"valueCoding": {"system": "http://example.org/visit", "code": "golf"}}),
    );
    let too_long = good_response(&"A".repeat(61));
    let mut disabled_answered = good_response("Ada");
    disabled_answered["item"][1] = answer("smoker", json!({"valueBoolean": false}));

    for (bad, link_id) in [
        (missing_required, "packs"),
        (wrong_type, "smoker"),
        (not_an_option, "visit"),
        (too_long, "name"),
        (disabled_answered, "packs"),
    ] {
        let (status, refusal) = clinic
            .respondent
            .call(&clinic.app, Method::POST, &path, Some(bad))
            .await;
        assert_eq!(status, 422, "{refusal}");
        assert_eq!(refusal["error"], "Response does not match the form");
        let named: Vec<&str> = refusal["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|detail| detail["linkId"].as_str())
            .collect();
        assert!(named.contains(&link_id), "{link_id} not named in {refusal}");
        assert!(!refusal.to_string().contains("golf") && !refusal.to_string().contains("AAAA"));
    }

    let in_progress =
        json!({"status": "in-progress", "item": [answer("name", json!({"valueString": "Ada"}))]});
    let (status, _) = clinic
        .respondent
        .call(&clinic.app, Method::POST, &path, Some(in_progress))
        .await;
    assert_eq!(
        status, 201,
        "an in-progress response skips the completeness checks"
    );
}

#[tokio::test]
async fn another_organization_and_other_respondents_see_nothing_they_should_not() {
    let clinic = clinic(&[]).await;
    let form = published_form(&clinic).await;
    let app = &clinic.app;
    let (_, stored) = clinic
        .respondent
        .call(
            app,
            Method::POST,
            &format!("/api/forms/{form}/responses"),
            Some(good_response("Ada")),
        )
        .await;
    let response = stored["id"].as_str().unwrap();

    for path in [
        format!("/api/forms/{form}"),
        format!("/api/forms/{form}/fhir"),
        format!("/api/forms/{form}/responses"),
        format!("/api/responses/{response}"),
        format!("/api/responses/{response}/fhir"),
    ] {
        let (status, body) = clinic.outsider.call(app, Method::GET, &path, None).await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, json!({"error": "Not found"})),
            "{path}"
        );
    }
    let (status, _) = clinic
        .outsider
        .call(
            app,
            Method::PUT,
            &format!("/api/forms/{form}"),
            Some(intake_form()),
        )
        .await;
    assert_eq!(status, 404);
    let (_, listed) = clinic
        .outsider
        .call(app, Method::GET, "/api/forms", None)
        .await;
    assert_eq!(listed, json!({"forms": []}));

    let (status, body) = clinic
        .respondent
        .call(app, Method::POST, "/api/forms", Some(intake_form()))
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::FORBIDDEN, json!({"error": "Forbidden"}))
    );
    let (status, _) = clinic
        .other_respondent
        .call(
            app,
            Method::GET,
            &format!("/api/responses/{response}"),
            None,
        )
        .await;
    assert_eq!(
        status, 404,
        "a respondent cannot read another respondent's response"
    );
    let (status, own) = clinic
        .respondent
        .call(
            app,
            Method::GET,
            &format!("/api/responses/{response}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(own["id"], response);
    let (_, others_list) = clinic
        .other_respondent
        .call(
            app,
            Method::GET,
            &format!("/api/forms/{form}/responses"),
            None,
        )
        .await;
    assert_eq!(others_list, json!({"responses": []}));
    let (_, staff_list) = clinic
        .staff
        .call(
            app,
            Method::GET,
            &format!("/api/forms/{form}/responses"),
            None,
        )
        .await;
    assert_eq!(staff_list["responses"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn editing_a_published_form_makes_a_new_version_and_old_responses_keep_theirs() {
    let clinic = clinic(&[]).await;
    let form = published_form(&clinic).await;
    let app = &clinic.app;
    let path = format!("/api/forms/{form}/responses");
    let (_, first) = clinic
        .respondent
        .call(app, Method::POST, &path, Some(good_response("Ada")))
        .await;

    let mut edited = intake_form();
    edited["title"] = json!("New patient intake (2027)");
    let (status, draft) = clinic
        .staff
        .call(
            app,
            Method::PUT,
            &format!("/api/forms/{form}"),
            Some(edited),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(draft["version"], 2);
    assert_eq!(draft["published"], false);
    // Until version 2 is published, responses still answer version 1.
    let (_, still_first) = clinic
        .respondent
        .call(app, Method::POST, &path, Some(good_response("Bo")))
        .await;
    assert_eq!(still_first["formVersion"], 1);

    clinic
        .staff
        .call(
            app,
            Method::POST,
            &format!("/api/forms/{form}/publish"),
            None,
        )
        .await;
    let (_, second) = clinic
        .respondent
        .call(app, Method::POST, &path, Some(good_response("Cy")))
        .await;
    assert_eq!(second["formVersion"], 2);
    let (_, reread) = clinic
        .staff
        .call(
            app,
            Method::GET,
            &format!("/api/responses/{}", first["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(reread["formVersion"], 1);

    let (status, retired) = clinic
        .staff
        .call(app, Method::DELETE, &format!("/api/forms/{form}"), None)
        .await;
    assert_eq!(
        (status, retired["status"].clone()),
        (StatusCode::OK, json!("retired"))
    );
    let (status, body) = clinic
        .respondent
        .call(app, Method::POST, &path, Some(good_response("Di")))
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::CONFLICT,
            json!({"error": "Form is not accepting responses"})
        )
    );
}

#[tokio::test]
async fn publishing_refuses_a_form_that_breaks_the_questionnaire_rules() {
    let clinic = clinic(&[]).await;
    let broken = json!({"title": "Broken", "item": [
        {"linkId": "a", "text": "A", "type": "string"},
        {"linkId": "a", "text": "Again A", "type": "string"},
        {"linkId": "note", "text": "Read this", "type": "display", "required": true}
    ]});
    let (_, form) = clinic
        .staff
        .call(&clinic.app, Method::POST, "/api/forms", Some(broken))
        .await;
    let id = form["id"].as_str().unwrap();
    let (status, refusal) = clinic
        .staff
        .call(
            &clinic.app,
            Method::POST,
            &format!("/api/forms/{id}/publish"),
            None,
        )
        .await;
    assert_eq!(status, 422, "{refusal}");
    assert!(
        refusal["details"].as_array().unwrap().len() >= 2,
        "{refusal}"
    );
}

#[tokio::test]
async fn the_fhir_exports_pass_a_fhir_r4_model_validator() {
    let clinic = clinic(&[]).await;
    let form = published_form(&clinic).await;
    let app = &clinic.app;
    let (_, stored) = clinic
        .respondent
        .call(
            app,
            Method::POST,
            &format!("/api/forms/{form}/responses"),
            Some(good_response("Ada")),
        )
        .await;
    let (_, questionnaire) = clinic
        .staff
        .call(app, Method::GET, &format!("/api/forms/{form}/fhir"), None)
        .await;
    let response_path = format!("/api/responses/{}/fhir", stored["id"].as_str().unwrap());
    let (_, questionnaire_response) = clinic
        .staff
        .call(app, Method::GET, &response_path, None)
        .await;
    assert_eq!(questionnaire["resourceType"], "Questionnaire");
    assert_eq!(
        questionnaire_response["resourceType"],
        "QuestionnaireResponse"
    );

    let directory = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, resource) in [
        ("q.json", &questionnaire),
        ("qr.json", &questionnaire_response),
    ] {
        let file = directory.path().join(name);
        std::fs::write(&file, resource.to_string()).unwrap();
        files.push(file);
    }
    let validator = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../intake-forms/tests/fhir_validate.py"
    );
    ensure_fhir_resources();
    let output = Command::new("python3")
        .arg(validator)
        .args(&files)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{report}");
}

/// Installs the Python FHIR models the validator needs, when missing.
fn ensure_fhir_resources() {
    let present = Command::new("python3")
        .args(["-c", "import fhir.resources"])
        .status();
    if present.is_ok_and(|status| status.success()) {
        return;
    }
    let installed = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "fhir.resources>=7"])
        .status()
        .expect("pip runs");
    assert!(
        installed.success(),
        "could not install fhir.resources for the FHIR validator"
    );
}

#[tokio::test]
async fn the_pdf_holds_the_title_greek_and_cyrillic_answers_and_pages() {
    let clinic = clinic(&[]).await;
    let form = published_form(&clinic).await;
    let app = &clinic.app;
    let mut response = good_response("Καλημέρα Ζωή");
    let long_text = "Здравствуйте, мир. ".repeat(400);
    response["item"][4]["item"][0] = answer("history.allergies", json!({"valueString": long_text}));
    let (_, stored) = clinic
        .respondent
        .call(
            app,
            Method::POST,
            &format!("/api/forms/{form}/responses"),
            Some(response),
        )
        .await;
    let id = stored["id"].as_str().unwrap();

    let started = Instant::now();
    let pdf = clinic
        .staff
        .send(
            app,
            Method::POST,
            &format!("/api/responses/{id}/generate-pdf"),
            None,
        )
        .await;
    println!(
        "PDF generation answered in {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let bytes = pdf.bytes().await.unwrap();
    let text = pdf_text(&bytes);
    for needle in [
        "New patient intake",
        "Καλημέρα Ζωή",
        "Здравствуйте, мир",
        "Page 1 of",
        "Page 2 of",
        "Riverside",
    ] {
        assert!(text.contains(needle), "{needle} not in the PDF text");
    }

    let (status, _) = clinic
        .respondent
        .call(
            app,
            Method::POST,
            &format!("/api/responses/{id}/generate-pdf"),
            None,
        )
        .await;
    assert_eq!(status, 403, "a respondent holds no generate:pdf");
}

fn pdf_text(pdf: &[u8]) -> String {
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("response.pdf");
    std::fs::write(&file, pdf).unwrap();
    let output = Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_pdf_whose_lock_is_held_elsewhere_is_refused_and_the_holders_key_untouched() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let variables = redis_variables(&server);
    let pairs: Vec<(&str, &str)> = variables
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let clinic = clinic(&pairs).await;
    let form = published_form(&clinic).await;
    let app = &clinic.app;
    let (_, stored) = clinic
        .respondent
        .call(
            app,
            Method::POST,
            &format!("/api/forms/{form}/responses"),
            Some(good_response("Ada")),
        )
        .await;
    let id = stored["id"].as_str().unwrap();
    let key = format!("intake:lock:{{pdf:{id}}}");
    server.cli(&["SET", &key, "another-owner", "PX", "60000"]);

    let refused = clinic
        .staff
        .send(
            app,
            Method::POST,
            &format!("/api/responses/{id}/generate-pdf"),
            None,
        )
        .await;

    assert_eq!(refused.status(), 409);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"error": "PDF generation is already in progress for this response"})
    );
    assert_eq!(server.cli(&["GET", &key]), "another-owner");
    let ttl: i64 = server.cli(&["PTTL", &key]).parse().unwrap();
    assert!(ttl > 50_000, "the holder's lease is untouched");

    server.cli(&["DEL", &key]);
    let generated = clinic
        .staff
        .send(
            app,
            Method::POST,
            &format!("/api/responses/{id}/generate-pdf"),
            None,
        )
        .await;
    assert_eq!(generated.status(), 200);
    assert_eq!(
        server.cli(&["EXISTS", &key]),
        "0",
        "the lock is released after generation"
    );

    // A distinctive answer never reaches Redis.
    for found in server.cli(&["--scan"]).lines() {
        let value = match server.cli(&["TYPE", found]).as_str() {
            "hash" => server.cli(&["HGETALL", found]),
            "zset" => server.cli(&["ZRANGE", found, "0", "-1"]),
            "string" => server.cli(&["GET", found]),
            _ => String::new(),
        };
        assert!(
            !value.contains("Ada") && !found.contains("Ada"),
            "an answer is in Redis: {found}"
        );
    }
}

#[tokio::test]
async fn the_audit_trail_records_the_form_flow_and_holds_no_answer() {
    let clinic = clinic(&[]).await;
    let form = published_form(&clinic).await;
    let app = &clinic.app;
    let distinctive = "Wombat-Amoxicillin-9023";
    let mut response = good_response(distinctive);
    response["item"][4]["item"][0] =
        answer("history.allergies", json!({"valueString": distinctive}));
    let (_, stored) = clinic
        .respondent
        .call(
            app,
            Method::POST,
            &format!("/api/forms/{form}/responses"),
            Some(response),
        )
        .await;
    let id = stored["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/api/responses/{id}")),
        (Method::GET, format!("/api/responses/{id}/fhir")),
        (Method::POST, format!("/api/responses/{id}/generate-pdf")),
    ] {
        assert_eq!(
            clinic.staff.send(app, method, &path, None).await.status(),
            200,
            "{path}"
        );
    }

    let filter = intake_storage::AuditFilter {
        from: None,
        to: None,
        event: None,
        after_sequence: 0,
        limit: 1000,
    };
    let rows = app.app.database.audit_events(None, &filter).await.unwrap();
    let events: Vec<&str> = rows.iter().map(|row| row.content.event.as_str()).collect();
    for expected in [
        "form.created",
        "form.published",
        "response.submitted",
        "response.read",
        "lock.acquired",
        "lock.released",
        "pdf.generated",
    ] {
        assert!(
            events.contains(&expected),
            "{expected} missing from {events:?}"
        );
    }
    let everything = format!("{rows:?}");
    assert!(
        !everything.contains(distinctive),
        "an answer reached the audit trail"
    );
    assert!(
        !everything.contains("riverside.example"),
        "an e-mail reached the audit trail"
    );
}

#[tokio::test]
async fn the_whole_form_flow_runs_on_postgresql_too() {
    let Some(database) = TestDatabase::postgres() else {
        eprintln!("skipping: no PostgreSQL answers on 127.0.0.1:5432");
        return;
    };
    let clinic = clinic_on(database, &[]).await;
    let app = &clinic.app;
    let form = published_form(&clinic).await;
    let path = format!("/api/forms/{form}/responses");
    let (status, stored) = clinic
        .respondent
        .call(app, Method::POST, &path, Some(good_response("Ada")))
        .await;
    assert_eq!(status, 201, "{stored}");
    let id = stored["id"].as_str().unwrap();

    let mut edited = intake_form();
    edited["title"] = json!("New patient intake (2027)");
    let (_, draft) = clinic
        .staff
        .call(
            app,
            Method::PUT,
            &format!("/api/forms/{form}"),
            Some(edited),
        )
        .await;
    assert_eq!(draft["version"], 2);
    let pdf = clinic
        .staff
        .send(
            app,
            Method::POST,
            &format!("/api/responses/{id}/generate-pdf"),
            None,
        )
        .await;
    assert_eq!(pdf.status(), 200);
    let (status, _) = clinic
        .outsider
        .call(app, Method::GET, &format!("/api/responses/{id}"), None)
        .await;
    assert_eq!(status, 404);

    let verification = app.app.audit.verify(100).await.unwrap();
    println!("PostgreSQL audit chain: {verification:?}");
    assert!(verification.broken.is_none(), "{verification:?}");
    assert!(verification.events >= 5, "{verification:?}");
}
