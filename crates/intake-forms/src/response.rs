//! The response model: [`ResponseContent`], the item model of a FHIR R4
//! `QuestionnaireResponse`, with FHIR's JSON names.
//!
//! Responses are PHI, and serde's error messages quote the value they
//! refused (`invalid type: string "Ada", expected i64`). So a response is not
//! parsed by derived `Deserialize` code: it is read into a `serde_json::Value`
//! (whose errors give a position only) and converted by hand, and every
//! message is written here, naming linkIds, keys and types, never content.
//! Shape errors come back as [`Problem`]s, so the HTTP layer can answer them
//! with the same 422 body as a response that does not match its form.
//!
//! As with forms, fields intake does not model (`extension`, `definition`...)
//! are accepted and dropped, and an unsupported `value[x]` type is refused.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::problem::Problem;
use crate::value::{AnswerValue, ValueKind};

/// A response to a form: its status and its items.
///
/// This is the body of `POST /api/forms/{id}/responses`; `id`, `formId`,
/// `formVersion` and `authored` belong to the stored response and are
/// ignored here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct ResponseContent {
    /// Whether the respondent has finished.
    pub status: ResponseStatus,
    /// The answered items, in form order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<ResponseItem>,
}

/// Whether a response is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ResponseStatus {
    /// Finished: validated in full against the form.
    #[serde(rename = "completed")]
    Completed,
    /// Saved part-way: only the shape of what is there is checked.
    #[serde(rename = "in-progress")]
    InProgress,
}

impl ResponseStatus {
    /// The FHIR code of the status.
    pub fn code(self) -> &'static str {
        match self {
            ResponseStatus::Completed => "completed",
            ResponseStatus::InProgress => "in-progress",
        }
    }
}

/// The response to one item of the form: a group's members, or a
/// question's answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseItem {
    /// The linkId of the form item this responds to.
    pub link_id: String,
    /// The item's text as the respondent saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The answers to a question; empty for groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answer: Vec<Answer>,
    /// A group's items; questions carry their nested items in their answers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<ResponseItem>,
}

/// One answer to a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The answer's `value[x]`.
    pub value: AnswerValue,
    /// Responses to the question's nested items.
    pub item: Vec<ResponseItem>,
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (key, value) = self.value.to_json_entry("value");
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(&key, &value)?;
        if !self.item.is_empty() {
            map.serialize_entry("item", &self.item)?;
        }
        map.end()
    }
}

/// An error reading a response; it never contains a value from the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseParseError {
    /// The body is not JSON at all.
    #[error("the response is not valid JSON (line {line}, column {column})")]
    NotJson {
        /// Line of the syntax error, from 1.
        line: usize,
        /// Column of the syntax error, from 1.
        column: usize,
    },
    /// The JSON does not have the shape of a QuestionnaireResponse.
    #[error("the response does not have the shape of a QuestionnaireResponse: {}", join(.0))]
    Shape(Vec<Problem>),
}

/// The problems as one line; they hold no values from the response.
fn join(problems: &[Problem]) -> String {
    let messages: Vec<String> = problems.iter().map(Problem::to_string).collect();
    messages.join("; ")
}

impl ResponseContent {
    /// Parses a response from JSON. See the module documentation for why this
    /// is hand-written and what its errors may contain.
    pub fn from_json(json: &[u8]) -> Result<Self, ResponseParseError> {
        let value: Value =
            serde_json::from_slice(json).map_err(|error| ResponseParseError::NotJson {
                line: error.line(),
                column: error.column(),
            })?;
        Self::try_from(value)
    }
}

impl TryFrom<Value> for ResponseContent {
    type Error = ResponseParseError;

    fn try_from(value: Value) -> Result<Self, Self::Error> {
        let mut problems = Vec::new();
        let parsed = parse_content(&value, &mut problems);
        match parsed {
            Some(content) if problems.is_empty() => Ok(content),
            _ => Err(ResponseParseError::Shape(problems)),
        }
    }
}

fn parse_content(value: &Value, problems: &mut Vec<Problem>) -> Option<ResponseContent> {
    let Some(object) = value.as_object() else {
        problems.push(Problem::whole("a response must be a JSON object"));
        return None;
    };
    let status = match object.get("status").and_then(Value::as_str) {
        Some("completed") => Some(ResponseStatus::Completed),
        Some("in-progress") => Some(ResponseStatus::InProgress),
        _ => {
            problems.push(Problem::whole(
                "status must be \"completed\" or \"in-progress\"",
            ));
            None
        }
    };
    let item = parse_items(object.get("item"), None, problems);
    Some(ResponseContent {
        status: status?,
        item,
    })
}

/// Parses an `item` array; `parent` is the linkId it belongs to, for the
/// problems of items that have no readable linkId of their own.
fn parse_items(
    value: Option<&Value>,
    parent: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Vec<ResponseItem> {
    let problem = |message: &str| Problem {
        link_id: parent.map(str::to_owned),
        message: message.to_owned(),
    };
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| parse_item(item, parent, problems))
            .collect(),
        Some(_) => {
            problems.push(problem("item must be a list"));
            Vec::new()
        }
    }
}

fn parse_item(
    value: &Value,
    parent: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<ResponseItem> {
    let problem = |message: &str| Problem {
        link_id: parent.map(str::to_owned),
        message: message.to_owned(),
    };
    let Some(object) = value.as_object() else {
        problems.push(problem("each item must be a JSON object"));
        return None;
    };
    let Some(link_id) = object.get("linkId").and_then(Value::as_str) else {
        problems.push(problem("each item needs a linkId"));
        return None;
    };
    let text = match object.get("text") {
        None => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            problems.push(Problem::at(link_id, "text must be a string"));
            None
        }
    };
    let answer = match object.get("answer") {
        None => Vec::new(),
        Some(Value::Array(answers)) => answers
            .iter()
            .filter_map(|answer| parse_answer(answer, link_id, problems))
            .collect(),
        Some(_) => {
            problems.push(Problem::at(link_id, "answer must be a list"));
            Vec::new()
        }
    };
    let item = parse_items(object.get("item"), Some(link_id), problems);
    Some(ResponseItem {
        link_id: link_id.to_owned(),
        text,
        answer,
        item,
    })
}

fn parse_answer(value: &Value, link_id: &str, problems: &mut Vec<Problem>) -> Option<Answer> {
    let Some(object) = value.as_object() else {
        problems.push(Problem::at(link_id, "each answer must be a JSON object"));
        return None;
    };
    let item = parse_items(object.get("item"), Some(link_id), problems);
    match answer_value(object) {
        Ok(value) => Some(Answer { value, item }),
        Err(message) => {
            problems.push(Problem::at(link_id, message));
            None
        }
    }
}

fn answer_value(object: &Map<String, Value>) -> Result<AnswerValue, String> {
    AnswerValue::from_object(object, "value", &ValueKind::ALL)
        .map_err(|message| format!("an answer {message}"))?
        .ok_or_else(|| "an answer needs a value[x]".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape_problems(json: Value) -> Vec<Problem> {
        match ResponseContent::from_json(json.to_string().as_bytes()) {
            Err(ResponseParseError::Shape(problems)) => problems,
            other => panic!("expected shape problems, got {other:?}"),
        }
    }

    #[test]
    fn a_response_parses_fhir_answers_and_nested_items() {
        let response = ResponseContent::from_json(
            json!({
                "status": "completed",
                "item": [{"linkId": "g", "item": [
                    {"linkId": "name", "text": "Name", "answer": [{"valueString": "Ada"}]},
                    {"linkId": "smoker", "answer": [{"valueBoolean": true, "item": [
                        {"linkId": "packs", "answer": [{"valueInteger": 2}]}
                    ]}]}
                ]}]
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();

        let group = &response.item[0];
        assert_eq!(response.status, ResponseStatus::Completed);
        assert_eq!(
            group.item[0].answer[0].value,
            AnswerValue::String("Ada".into())
        );
        assert_eq!(group.item[1].answer[0].item[0].link_id, "packs");
    }

    #[test]
    fn a_response_round_trips_through_json_unchanged() {
        let json = json!({
            "status": "in-progress",
            "item": [
                {"linkId": "weight", "answer": [{"valueQuantity": {"value": 70.5, "unit": "kg"}}]},
                {"linkId": "when", "text": "When?", "answer": [{"valueDateTime": "2024-05-01T09:30:00Z"}]}
            ]
        });

        let response: ResponseContent = serde_json::from_value(json.clone()).unwrap();

        assert_eq!(serde_json::to_value(&response).unwrap(), json);
    }

    #[test]
    fn shape_errors_name_the_link_id_and_never_the_value() {
        let problems = shape_problems(json!({
            "status": "completed",
            "item": [
                {"linkId": "born", "answer": [{"valueDate": 19900101}]},
                {"linkId": "name", "answer": [{"valueString": "Ada", "valueInteger": 7}]},
                {"linkId": "scan", "answer": [{"valueAttachment": {"title": "Ada's x-ray"}}]}
            ]
        }));

        let link_ids: Vec<_> = problems
            .iter()
            .map(|problem| problem.link_id.as_deref())
            .collect();
        assert_eq!(link_ids, [Some("born"), Some("name"), Some("scan")]);
        for problem in &problems {
            assert!(!problem.message.contains("19900101"), "{problem}");
            assert!(!problem.message.contains("Ada"), "{problem}");
        }
    }

    #[test]
    fn an_unknown_status_is_a_problem() {
        let problems = shape_problems(json!({"status": "amended", "item": []}));

        assert_eq!(problems[0].link_id, None);
        assert!(problems[0].message.contains("status"));
    }

    #[test]
    fn a_syntax_error_gives_only_a_position() {
        let error =
            ResponseContent::from_json(br#"{"status": "completed", "item": [Ada]}"#).unwrap_err();

        assert!(matches!(error, ResponseParseError::NotJson { line: 1, .. }));
        assert!(!error.to_string().contains("Ada"));
    }

    #[test]
    fn deserializing_through_serde_keeps_messages_free_of_values() {
        let error = serde_json::from_value::<ResponseContent>(json!({
            "status": "completed",
            "item": [{"linkId": "age", "answer": [{"valueInteger": "forty-two"}]}]
        }))
        .unwrap_err();

        assert!(!error.to_string().contains("forty-two"), "{error}");
    }
}
