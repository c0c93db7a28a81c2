//! The FHIR exports checked by an independent implementation: the Python
//! `fhir.resources` models, driven by `tests/fhir_validate.py`.
//!
//! The test needs `python3`. When `fhir.resources` is not installed it runs
//! `pip install 'fhir.resources>=7'` once, and fails with the reason when
//! that is impossible: a skipped check would look like a passing one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use intake_forms::{
    FormDefinition, ResponseContent, questionnaire_resource, questionnaire_response_resource,
    validate,
};
use serde_json::{Value, json};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fhir_validate.py")
}

fn python(arguments: &[&str]) -> Output {
    Command::new("python3")
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("FHIR validation needs python3 on the PATH: {error}"))
}

/// Makes sure `fhir.resources` can be imported, installing it if needed.
fn ensure_fhir_resources() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        if python(&["-c", "import fhir.resources"]).status.success() {
            return;
        }
        let install = python(&["-m", "pip", "install", "--quiet", "fhir.resources>=7"]);
        assert!(
            install.status.success() && python(&["-c", "import fhir.resources"]).status.success(),
            "FHIR validation needs the Python package fhir.resources, which is not installed \
             and could not be installed (pip install 'fhir.resources>=7'):\n{}",
            String::from_utf8_lossy(&install.stderr)
        );
    });
}

/// Writes each resource to a file and runs the validator on all of them.
fn run_validator(resources: &[(&str, &Value)]) -> Output {
    ensure_fhir_resources();
    let directory = tempfile::tempdir().expect("a temporary directory");
    let mut arguments = vec![script().to_string_lossy().into_owned()];
    for (name, resource) in resources {
        let path = directory.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(resource).unwrap()).unwrap();
        arguments.push(path.to_string_lossy().into_owned());
    }
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    let output = python(&arguments);
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn form() -> FormDefinition {
    serde_json::from_value(json!({
        "title": "New patient intake",
        "description": "Before your first visit",
        "extension": [{"url": "http://example.org/ignored", "valueString": "dropped"}],
        "item": [
            {"linkId": "intro", "type": "display", "text": "Your answers are confidential."},
            {"linkId": "patient", "type": "group", "text": "About you", "required": true, "item": [
                {"linkId": "name", "type": "string", "text": "Full name", "required": true,
                 "maxLength": 80, "code": [{"system": "http://loinc.org", "code": "54125-0"}]},
                {"linkId": "birth-date", "type": "date", "text": "Date of birth", "required": true},
                {"linkId": "website", "type": "url", "text": "Website"},
                {"linkId": "notes", "type": "text", "text": "Anything else?"}
            ]},
            {"linkId": "smoker", "type": "boolean", "text": "Do you smoke?", "required": true},
            {"linkId": "smoking", "type": "group", "text": "Smoking", "enableBehavior": "all",
             "enableWhen": [
                {"question": "smoker", "operator": "=", "answerBoolean": true},
                {"question": "smoker", "operator": "exists", "answerBoolean": true}
             ],
             "item": [
                {"linkId": "packs", "type": "integer", "text": "Packs per day", "required": true},
                {"linkId": "quit", "type": "open-choice", "repeats": true, "answerOption": [
                    {"valueCoding": {"system": "http://example.org/quit", "code": "patch",
                                     "display": "Nicotine patch"}, "initialSelected": true},
                    {"valueCoding": {"system": "http://example.org/quit", "code": "gum",
                                     "display": "Nicotine gum"}}
                ]}
             ]},
            {"linkId": "pain", "type": "choice", "text": "Pain (0-2)", "answerOption": [
                {"valueInteger": 0}, {"valueInteger": 1}, {"valueInteger": 2}
            ]},
            {"linkId": "weight", "type": "quantity", "text": "Weight"},
            {"linkId": "temperature", "type": "decimal", "text": "Temperature (°C)"},
            {"linkId": "fever", "type": "text", "text": "Describe the fever", "maxLength": 500,
             "enableWhen": [{"question": "temperature", "operator": ">=", "answerDecimal": 38.0}]},
            {"linkId": "visit", "type": "dateTime", "text": "Preferred visit time"},
            {"linkId": "wake", "type": "time", "text": "Usual wake-up time",
             "initial": [{"valueTime": "07:00:00"}]},
            {"linkId": "clinic", "type": "string", "text": "Clinic", "readOnly": true,
             "initial": [{"valueString": "Main Street Clinic"}]}
        ]
    }))
    .expect("the form parses")
}

fn response() -> ResponseContent {
    serde_json::from_value(json!({
        "status": "completed",
        "item": [
            {"linkId": "patient", "text": "About you", "item": [
                {"linkId": "name", "answer": [{"valueString": "Ada Lovelace"}]},
                {"linkId": "birth-date", "answer": [{"valueDate": "1815-12-10"}]},
                {"linkId": "website", "answer": [{"valueUri": "https://ada.example/"}]},
                {"linkId": "notes", "answer": [{"valueString": "Прошу позвонить заранее. Ευχαριστώ."}]}
            ]},
            {"linkId": "smoker", "answer": [{"valueBoolean": true}]},
            {"linkId": "smoking", "item": [
                {"linkId": "packs", "answer": [{"valueInteger": 1}]},
                {"linkId": "quit", "answer": [
                    {"valueCoding": {"system": "http://example.org/quit", "code": "gum",
                                     "display": "Nicotine gum"}},
                    {"valueString": "cold turkey"}
                ]}
            ]},
            {"linkId": "pain", "answer": [{"valueInteger": 2}]},
            {"linkId": "weight", "answer": [{"valueQuantity": {
                "value": 61.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"
            }}]},
            {"linkId": "temperature", "answer": [{"valueDecimal": 38.4}]},
            {"linkId": "fever", "answer": [{"valueString": "Since Tuesday"}]},
            {"linkId": "visit", "answer": [{"valueDateTime": "2024-05-01T09:30:00+02:00"}]},
            {"linkId": "wake", "answer": [{"valueTime": "06:45:00"}]},
            {"linkId": "clinic", "answer": [{"valueString": "Main Street Clinic"}]}
        ]
    }))
    .expect("the response parses")
}

#[test]
fn exported_questionnaire_and_response_validate_as_fhir() {
    let form = form();
    let response = response();
    assert_eq!(form.check(), Ok(()));
    assert_eq!(validate(&form, &response), Ok(()));
    let questionnaire =
        questionnaire_resource(&form, "4f1c2b8e-2d5a-4d8e-9a0b-1c2d3e4f5a6b", 3, "active");
    let questionnaire_response = questionnaire_response_resource(
        &response,
        "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "Questionnaire/4f1c2b8e-2d5a-4d8e-9a0b-1c2d3e4f5a6b|3",
        "2024-05-01T10:15:00Z",
    );

    let output = run_validator(&[
        ("questionnaire.json", &questionnaire),
        ("questionnaire-response.json", &questionnaire_response),
    ]);

    assert!(
        output.status.success(),
        "fhir_validate.py refused an export"
    );
    assert!(
        !questionnaire.to_string().contains("extension"),
        "extensions are never echoed"
    );
}

#[test]
fn every_form_status_exports_as_a_valid_publication_status() {
    let form = form();
    let exports: Vec<(String, Value)> = ["draft", "active", "retired"]
        .into_iter()
        .map(|status| {
            let resource = questionnaire_resource(&form, "form-1", 1, status);
            (format!("{status}.json"), resource)
        })
        .collect();
    let resources: Vec<(&str, &Value)> = exports
        .iter()
        .map(|(name, resource)| (name.as_str(), resource))
        .collect();

    let output = run_validator(&resources);

    assert!(
        output.status.success(),
        "fhir_validate.py refused an export"
    );
}

#[test]
fn the_validator_refuses_malformed_values_and_unknown_codes() {
    let malformed_date = json!({
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": [{"linkId": "q", "answer": [{"valueDate": "1990-13-45"}]}]
    });
    let unknown_codes = json!({
        "resourceType": "Questionnaire",
        "status": "published",
        "item": [{"linkId": "q", "type": "float"}]
    });

    let output = run_validator(&[
        ("malformed-date.json", &malformed_date),
        ("unknown-codes.json", &unknown_codes),
    ]);

    assert!(
        !output.status.success(),
        "fhir_validate.py accepted an invalid resource"
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(printed.matches("FAIL").count(), 2, "{printed}");
    assert!(
        !printed.contains("1990-13-45"),
        "the validator echoed a value: {printed}"
    );
}
