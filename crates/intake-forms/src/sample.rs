//! A sample intake form and a complete response to it, shared by the unit
//! tests: required items, enableWhen, choice and open-choice items, nested
//! groups and every supported answer type.

use serde_json::{Value, json};

use crate::definition::FormDefinition;

/// The sample form as JSON.
pub(crate) fn form_json() -> Value {
    json!({
        "title": "New patient intake",
        "description": "Please fill this in before your first visit.",
        "item": [
            {"linkId": "intro", "type": "display",
             "text": "Your answers are confidential."},
            {"linkId": "patient", "type": "group", "text": "About you", "required": true, "item": [
                {"linkId": "name", "type": "string", "text": "Full name",
                 "required": true, "maxLength": 20},
                {"linkId": "birth-date", "type": "date", "text": "Date of birth", "required": true},
                {"linkId": "website", "type": "url", "text": "Personal website"}
            ]},
            {"linkId": "smoker", "type": "boolean", "text": "Do you smoke?", "required": true},
            {"linkId": "smoking", "type": "group", "text": "Smoking",
             "enableWhen": [{"question": "smoker", "operator": "=", "answerBoolean": true}],
             "item": [
                {"linkId": "packs-per-day", "type": "integer", "text": "Packs per day",
                 "required": true},
                {"linkId": "quit-methods", "type": "open-choice", "repeats": true,
                 "text": "What have you tried to quit?", "answerOption": [
                    {"valueCoding": {"system": "http://example.org/quit", "code": "patch",
                                     "display": "Nicotine patch"}},
                    {"valueCoding": {"system": "http://example.org/quit", "code": "gum",
                                     "display": "Nicotine gum"}}
                ]}
            ]},
            {"linkId": "allergies", "type": "choice", "repeats": true, "text": "Allergies",
             "answerOption": [
                {"valueCoding": {"system": "http://example.org/allergy", "code": "peanut",
                                 "display": "Peanuts"}},
                {"valueCoding": {"system": "http://example.org/allergy", "code": "penicillin",
                                 "display": "Penicillin"}}
            ]},
            {"linkId": "weight", "type": "quantity", "text": "Weight"},
            {"linkId": "visit-time", "type": "dateTime", "text": "Preferred visit time"},
            {"linkId": "wake-time", "type": "time", "text": "When do you usually wake up?"},
            {"linkId": "temperature", "type": "decimal", "text": "Temperature today (°C)"},
            {"linkId": "fever-notes", "type": "text", "text": "Describe the fever",
             "maxLength": 500,
             "enableWhen": [{"question": "temperature", "operator": ">=", "answerDecimal": 38.0}]},
            {"linkId": "clinic", "type": "string", "text": "Clinic", "readOnly": true,
             "initial": [{"valueString": "Main Street Clinic"}]}
        ]
    })
}

/// The sample form.
pub(crate) fn form() -> FormDefinition {
    serde_json::from_value(form_json()).expect("the sample form parses")
}

/// A complete, valid response to the sample form, as JSON.
pub(crate) fn completed_response() -> Value {
    json!({
        "status": "completed",
        "item": [
            {"linkId": "patient", "text": "About you", "item": [
                {"linkId": "name", "answer": [{"valueString": "Ada Lovelace"}]},
                {"linkId": "birth-date", "answer": [{"valueDate": "1815-12-10"}]},
                {"linkId": "website", "answer": [{"valueUri": "https://ada.example/"}]}
            ]},
            {"linkId": "smoker", "answer": [{"valueBoolean": true}]},
            {"linkId": "smoking", "item": [
                {"linkId": "packs-per-day", "answer": [{"valueInteger": 2}]},
                {"linkId": "quit-methods", "answer": [
                    {"valueCoding": {"system": "http://example.org/quit", "code": "patch"}},
                    {"valueString": "cold turkey"}
                ]}
            ]},
            {"linkId": "allergies", "answer": [
                {"valueCoding": {"system": "http://example.org/allergy", "code": "peanut",
                                 "display": "Peanuts"}}
            ]},
            {"linkId": "weight", "answer": [{"valueQuantity": {
                "value": 61.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"
            }}]},
            {"linkId": "visit-time", "answer": [{"valueDateTime": "2024-05-01T09:30:00+02:00"}]},
            {"linkId": "wake-time", "answer": [{"valueTime": "07:15:00"}]},
            {"linkId": "temperature", "answer": [{"valueDecimal": 38.5}]},
            {"linkId": "fever-notes", "answer": [{"valueString": "Since Tuesday."}]},
            {"linkId": "clinic", "answer": [{"valueString": "Main Street Clinic"}]}
        ]
    })
}
