//! [`Problem`]: one thing wrong with a form or a response, tied to the item it
//! is about.
//!
//! A problem is shown to the person who sent the form or the response (the
//! 422 body's `details`) and may end up in an audit record, so its message is
//! written from the form's side only: it names the item and what was expected,
//! never the value that was given. Answers are PHI.

use std::fmt;

use serde::Serialize;

/// One thing wrong with a form or a response.
///
/// Serializes as `{"linkId": ..., "message": ...}`, the shape of one entry of
/// the 422 body's `details`; `linkId` is `null` for a problem about the whole
/// form or response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The item the problem is about, if it is about one item.
    #[serde(rename = "linkId")]
    pub link_id: Option<String>,
    /// What is wrong, in words that never repeat an answer's value.
    pub message: String,
}

impl Problem {
    /// A problem with the item `link_id`.
    pub fn at(link_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            link_id: Some(link_id.into()),
            message: message.into(),
        }
    }

    /// A problem with the form or the response as a whole.
    pub fn whole(message: impl Into<String>) -> Self {
        Self {
            link_id: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.link_id {
            Some(link_id) => write!(formatter, "item {link_id:?}: {}", self.message),
            None => formatter.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_serializes_with_a_fhir_link_id_field() {
        let problem = Problem::at("q1", "required, but not answered");

        let json = serde_json::to_value(&problem).unwrap();

        assert_eq!(
            json,
            serde_json::json!({"linkId": "q1", "message": "required, but not answered"})
        );
    }

    #[test]
    fn a_problem_with_the_whole_form_has_a_null_link_id() {
        let json = serde_json::to_value(Problem::whole("title is empty")).unwrap();

        assert_eq!(json["linkId"], serde_json::Value::Null);
    }
}
