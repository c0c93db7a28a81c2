//! FHIR R4 exports: a form as a `Questionnaire` resource and a response as a
//! `QuestionnaireResponse` resource, for `GET /api/forms/{id}/fhir` and
//! `GET /api/responses/{id}/fhir`.
//!
//! Items serialize exactly as the model holds them, which is FHIR already; the
//! exports add the resource envelope. Nothing intake dropped while parsing
//! (extensions, unknown fields) comes back, and empty lists are left out,
//! since FHIR JSON forbids empty arrays.

use serde_json::{Map, Value, json};

use crate::definition::FormDefinition;
use crate::response::ResponseContent;

/// `form` as a FHIR R4 `Questionnaire`.
///
/// `id` must be a FHIR id (up to 64 letters, digits, `-` and `.`; a UUID
/// is one). `version` becomes the resource's `version` string. `status` is the
/// form's status; `draft`, `active` and `retired` are FHIR publication
/// statuses already, and anything else is exported as `unknown`.
pub fn questionnaire_resource(
    form: &FormDefinition,
    id: &str,
    version: u32,
    status: &str,
) -> Value {
    let status = match status {
        "draft" | "active" | "retired" => status,
        _ => "unknown",
    };
    let mut resource = Map::new();
    resource.insert("resourceType".into(), json!("Questionnaire"));
    resource.insert("id".into(), json!(id));
    resource.insert("version".into(), json!(version.to_string()));
    resource.insert("title".into(), json!(form.title));
    resource.insert("status".into(), json!(status));
    if let Some(description) = &form.description {
        resource.insert("description".into(), json!(description));
    }
    if !form.item.is_empty() {
        resource.insert("item".into(), to_json(&form.item));
    }
    Value::Object(resource)
}

/// `response` as a FHIR R4 `QuestionnaireResponse`.
///
/// `id` must be a FHIR id. `questionnaire` is the canonical reference of the
/// form version answered, e.g. `Questionnaire/{id}|{version}`. `authored` is
/// when the response was submitted, as an RFC 3339 date-time with a zone
/// (which is a FHIR dateTime).
pub fn questionnaire_response_resource(
    response: &ResponseContent,
    id: &str,
    questionnaire: &str,
    authored: &str,
) -> Value {
    let mut resource = Map::new();
    resource.insert("resourceType".into(), json!("QuestionnaireResponse"));
    resource.insert("id".into(), json!(id));
    resource.insert("questionnaire".into(), json!(questionnaire));
    resource.insert("status".into(), json!(response.status.code()));
    resource.insert("authored".into(), json!(authored));
    if !response.item.is_empty() {
        resource.insert("item".into(), to_json(&response.item));
    }
    Value::Object(resource)
}

fn to_json(value: &impl serde::Serialize) -> Value {
    // Items hold only strings, booleans, finite numbers and lists, all of
    // which serialize.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    #[test]
    fn a_questionnaire_carries_the_envelope_and_the_items_as_given() {
        let form = sample::form();

        let resource = questionnaire_resource(&form, "form-1", 3, "active");

        assert_eq!(resource["resourceType"], "Questionnaire");
        assert_eq!(resource["id"], "form-1");
        assert_eq!(resource["version"], "3");
        assert_eq!(resource["status"], "active");
        assert_eq!(resource["title"], "New patient intake");
        assert_eq!(resource["item"], sample::form_json()["item"]);
    }

    #[test]
    fn an_unknown_form_status_is_exported_as_unknown() {
        let resource = questionnaire_resource(&sample::form(), "form-1", 1, "archived");

        assert_eq!(resource["status"], "unknown");
    }

    #[test]
    fn a_questionnaire_response_carries_the_envelope_and_the_items_as_given() {
        let response: ResponseContent =
            serde_json::from_value(sample::completed_response()).unwrap();

        let resource = questionnaire_response_resource(
            &response,
            "response-1",
            "Questionnaire/form-1|3",
            "2024-05-01T10:00:00Z",
        );

        assert_eq!(resource["resourceType"], "QuestionnaireResponse");
        assert_eq!(resource["questionnaire"], "Questionnaire/form-1|3");
        assert_eq!(resource["status"], "completed");
        assert_eq!(resource["authored"], "2024-05-01T10:00:00Z");
        assert_eq!(resource["item"], sample::completed_response()["item"]);
    }
}
