//! [`AnswerValue`]: the typed value of FHIR's `value[x]` and `answer[x]`
//! choice elements, shared by answers, initial values, answer options and
//! enableWhen conditions.
//!
//! FHIR spells a choice element as one key whose suffix names the type
//! (`valueDate`, `answerCoding`). Parsing looks for exactly one such key and
//! refuses suffixes intake does not support (`valueAttachment`,
//! `valueReference`) rather than dropping them, because dropping an answer
//! would silently lose data.
//!
//! Every error message here names keys and types only, never the value it
//! refused, because the same code parses patients' answers.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::primitive;

/// A FHIR `Coding`: a code from a code system, with its display text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Coding {
    /// The code system's URI, e.g. `http://loinc.org`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The code within the system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable text for the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A FHIR `Quantity`: a measured amount with its unit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Quantity {
    /// The numerical value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The unit as a person reads it, e.g. `kg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The unit's code system, usually UCUM (`http://unitsofmeasure.org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The unit's code in that system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// The type of a value, the suffix of its `value[x]` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// `valueBoolean`.
    Boolean,
    /// `valueDecimal`.
    Decimal,
    /// `valueInteger`.
    Integer,
    /// `valueDate`.
    Date,
    /// `valueDateTime`.
    DateTime,
    /// `valueTime`.
    Time,
    /// `valueString`.
    String,
    /// `valueUri`.
    Uri,
    /// `valueCoding`.
    Coding,
    /// `valueQuantity`.
    Quantity,
}

impl ValueKind {
    /// Every kind intake supports.
    pub const ALL: [ValueKind; 10] = [
        ValueKind::Boolean,
        ValueKind::Decimal,
        ValueKind::Integer,
        ValueKind::Date,
        ValueKind::DateTime,
        ValueKind::Time,
        ValueKind::String,
        ValueKind::Uri,
        ValueKind::Coding,
        ValueKind::Quantity,
    ];

    /// The FHIR type name as it appears after `value` or `answer`.
    pub fn suffix(self) -> &'static str {
        match self {
            ValueKind::Boolean => "Boolean",
            ValueKind::Decimal => "Decimal",
            ValueKind::Integer => "Integer",
            ValueKind::Date => "Date",
            ValueKind::DateTime => "DateTime",
            ValueKind::Time => "Time",
            ValueKind::String => "String",
            ValueKind::Uri => "Uri",
            ValueKind::Coding => "Coding",
            ValueKind::Quantity => "Quantity",
        }
    }

    fn from_suffix(suffix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.suffix() == suffix)
    }

    /// Whether values of this kind have an order (for `>`, `<`, `>=`, `<=`).
    pub fn is_ordered(self) -> bool {
        matches!(
            self,
            ValueKind::Decimal
                | ValueKind::Integer
                | ValueKind::Date
                | ValueKind::DateTime
                | ValueKind::Time
                | ValueKind::Quantity
        )
    }
}

/// The value of an answer, an initial value, an answer option or an
/// enableWhen condition.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerValue {
    /// A yes/no answer.
    Boolean(bool),
    /// A decimal number.
    Decimal(f64),
    /// A whole number; FHIR allows the 32-bit range, which the checks enforce.
    Integer(i64),
    /// A FHIR date (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`), as written.
    Date(String),
    /// A FHIR dateTime, as written.
    DateTime(String),
    /// A FHIR time (`hh:mm:ss`), as written.
    Time(String),
    /// Free text.
    String(String),
    /// A URI.
    Uri(String),
    /// A coded answer.
    Coding(Coding),
    /// An amount with a unit.
    Quantity(Quantity),
}

impl AnswerValue {
    /// The kind of this value.
    pub fn kind(&self) -> ValueKind {
        match self {
            AnswerValue::Boolean(_) => ValueKind::Boolean,
            AnswerValue::Decimal(_) => ValueKind::Decimal,
            AnswerValue::Integer(_) => ValueKind::Integer,
            AnswerValue::Date(_) => ValueKind::Date,
            AnswerValue::DateTime(_) => ValueKind::DateTime,
            AnswerValue::Time(_) => ValueKind::Time,
            AnswerValue::String(_) => ValueKind::String,
            AnswerValue::Uri(_) => ValueKind::Uri,
            AnswerValue::Coding(_) => ValueKind::Coding,
            AnswerValue::Quantity(_) => ValueKind::Quantity,
        }
    }

    /// What is wrong with this value's format, if anything: a date that is
    /// not a FHIR date, an integer outside FHIR's 32-bit range, and so on.
    /// The message never contains the value.
    pub(crate) fn format_problem(&self) -> Option<&'static str> {
        match self {
            AnswerValue::Integer(number) if i32::try_from(*number).is_err() => {
                Some("valueInteger is outside FHIR's 32-bit integer range")
            }
            AnswerValue::Date(text) if !primitive::is_date(text) => {
                Some("expected a date (YYYY, YYYY-MM or YYYY-MM-DD)")
            }
            AnswerValue::DateTime(text) if !primitive::is_date_time(text) => {
                Some("expected a dateTime (a date, or YYYY-MM-DDThh:mm:ss with a time zone)")
            }
            AnswerValue::Time(text) if !primitive::is_time(text) => {
                Some("expected a time (hh:mm:ss)")
            }
            AnswerValue::Uri(text) if text.is_empty() || text.contains(char::is_whitespace) => {
                Some("expected a URI without spaces")
            }
            AnswerValue::String(text) if text.is_empty() => Some("an answer cannot be empty text"),
            AnswerValue::Coding(coding) if coding.code.is_none() => Some("a coding needs a code"),
            AnswerValue::Quantity(quantity) if quantity.value.is_none() => {
                Some("a quantity needs a value")
            }
            _ => None,
        }
    }

    /// Whether two values are the same answer: codings by system and code,
    /// numbers by value, dates and times as instants where they compare.
    pub(crate) fn same_as(&self, other: &AnswerValue) -> bool {
        match (self, other) {
            (AnswerValue::Coding(left), AnswerValue::Coding(right)) => {
                left.code.is_some() && left.system == right.system && left.code == right.code
            }
            (AnswerValue::Quantity(left), AnswerValue::Quantity(right)) => {
                same_unit(left, right) && left.value == right.value
            }
            (AnswerValue::Boolean(left), AnswerValue::Boolean(right)) => left == right,
            (AnswerValue::String(left), AnswerValue::String(right))
            | (AnswerValue::Uri(left), AnswerValue::Uri(right)) => left == right,
            _ => self.compare(other) == Some(Ordering::Equal),
        }
    }

    /// Orders two values of ordered kinds, or `None` when they do not compare
    /// (different kinds or units, dates of different precision).
    pub(crate) fn compare(&self, other: &AnswerValue) -> Option<Ordering> {
        match (self, other) {
            (AnswerValue::Integer(left), AnswerValue::Integer(right)) => Some(left.cmp(right)),
            (AnswerValue::Integer(_) | AnswerValue::Decimal(_), _)
            | (_, AnswerValue::Integer(_) | AnswerValue::Decimal(_)) => {
                self.as_number()?.partial_cmp(&other.as_number()?)
            }
            (AnswerValue::Date(left), AnswerValue::Date(right)) => {
                primitive::compare_dates(left, right)
            }
            (AnswerValue::DateTime(left), AnswerValue::DateTime(right)) => {
                primitive::compare_date_times(left, right)
            }
            (AnswerValue::Time(left), AnswerValue::Time(right)) => {
                primitive::compare_times(left, right)
            }
            (AnswerValue::Quantity(left), AnswerValue::Quantity(right))
                if same_unit(left, right) =>
            {
                left.value?.partial_cmp(&right.value?)
            }
            _ => None,
        }
    }

    fn as_number(&self) -> Option<f64> {
        match self {
            // A FHIR integer fits in 32 bits, which f64 holds exactly.
            AnswerValue::Integer(number) => Some(*number as f64),
            AnswerValue::Decimal(number) => Some(*number),
            _ => None,
        }
    }

    /// The value as a person reads it, for the PDF.
    pub fn human_text(&self) -> String {
        match self {
            AnswerValue::Boolean(true) => "Yes".to_owned(),
            AnswerValue::Boolean(false) => "No".to_owned(),
            AnswerValue::Decimal(number) => number.to_string(),
            AnswerValue::Integer(number) => number.to_string(),
            AnswerValue::Date(text)
            | AnswerValue::DateTime(text)
            | AnswerValue::Time(text)
            | AnswerValue::String(text)
            | AnswerValue::Uri(text) => text.clone(),
            AnswerValue::Coding(coding) => coding_text(coding),
            AnswerValue::Quantity(quantity) => {
                let number = quantity
                    .value
                    .map(|value| value.to_string())
                    .unwrap_or_default();
                match quantity.unit.as_ref().or(quantity.code.as_ref()) {
                    Some(unit) => format!("{number} {unit}"),
                    None => number,
                }
            }
        }
    }

    /// The `(key, value)` pair of this value under `prefix` (`value` or
    /// `answer`), e.g. `("valueDate", "2024-01-31")`.
    pub(crate) fn to_json_entry(&self, prefix: &str) -> (String, Value) {
        let key = format!("{prefix}{}", self.kind().suffix());
        let value = match self {
            AnswerValue::Boolean(flag) => Value::Bool(*flag),
            AnswerValue::Decimal(number) => {
                serde_json::Number::from_f64(*number).map_or(Value::Null, Value::Number)
            }
            AnswerValue::Integer(number) => Value::from(*number),
            AnswerValue::Date(text)
            | AnswerValue::DateTime(text)
            | AnswerValue::Time(text)
            | AnswerValue::String(text)
            | AnswerValue::Uri(text) => Value::String(text.clone()),
            AnswerValue::Coding(coding) => to_json(coding),
            AnswerValue::Quantity(quantity) => to_json(quantity),
        };
        (key, value)
    }

    /// Finds the one `<prefix><Type>` key of `object` and parses its value.
    ///
    /// Returns `Ok(None)` when there is no such key; an error when there are
    /// several, when the type is not among `allowed`, or when the JSON does not
    /// have the type's shape.
    pub(crate) fn from_object(
        object: &Map<String, Value>,
        prefix: &str,
        allowed: &[ValueKind],
    ) -> Result<Option<AnswerValue>, String> {
        let mut found = None;
        for (key, json) in object {
            let Some(suffix) = choice_suffix(key, prefix) else {
                continue;
            };
            if found.is_some() {
                return Err(format!(
                    "has more than one {prefix}[x]; exactly one is allowed"
                ));
            }
            let kind = ValueKind::from_suffix(suffix)
                .filter(|kind| allowed.contains(kind))
                .ok_or_else(|| format!("{key} is not supported here"))?;
            let value = AnswerValue::from_json(kind, json)
                .ok_or_else(|| format!("{key} does not have the shape of a FHIR {suffix}"))?;
            found = Some(value);
        }
        Ok(found)
    }

    fn from_json(kind: ValueKind, json: &Value) -> Option<AnswerValue> {
        let text = || json.as_str().map(str::to_owned);
        Some(match kind {
            ValueKind::Boolean => AnswerValue::Boolean(json.as_bool()?),
            ValueKind::Decimal => AnswerValue::Decimal(json.as_f64()?),
            ValueKind::Integer => AnswerValue::Integer(json.as_i64()?),
            ValueKind::Date => AnswerValue::Date(text()?),
            ValueKind::DateTime => AnswerValue::DateTime(text()?),
            ValueKind::Time => AnswerValue::Time(text()?),
            ValueKind::String => AnswerValue::String(text()?),
            ValueKind::Uri => AnswerValue::Uri(text()?),
            // serde's messages quote the offending value; they are dropped
            // here and the caller reports only the key.
            ValueKind::Coding => AnswerValue::Coding(Coding::deserialize(json).ok()?),
            ValueKind::Quantity => AnswerValue::Quantity(Quantity::deserialize(json).ok()?),
        })
    }
}

/// The suffix of `key` when it is `prefix` followed by a capitalized type
/// name (`valueDate` under `value`), so `valueSet` style names of other
/// elements are not mistaken for a choice when the prefix differs.
fn choice_suffix<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    key.strip_prefix(prefix)
        .filter(|suffix| suffix.starts_with(|first: char| first.is_ascii_uppercase()))
}

/// The keys a value of one of `kinds` may have under `prefix`, for messages:
/// `"valueDate"` or `"one of valueCoding, valueString"`.
pub(crate) fn kinds_list(kinds: &[ValueKind], prefix: &str) -> String {
    let keys: Vec<String> = kinds
        .iter()
        .map(|kind| format!("{prefix}{}", kind.suffix()))
        .collect();
    match keys.as_slice() {
        [one] => one.clone(),
        _ => format!("one of {}", keys.join(", ")),
    }
}

fn same_unit(left: &Quantity, right: &Quantity) -> bool {
    if left.code.is_some() || right.code.is_some() {
        left.system == right.system && left.code == right.code
    } else {
        left.unit == right.unit
    }
}

fn coding_text(coding: &Coding) -> String {
    coding
        .display
        .clone()
        .or_else(|| coding.code.clone())
        .unwrap_or_default()
}

fn to_json(value: &impl Serialize) -> Value {
    // Coding and Quantity hold only strings and finite numbers, which always
    // serialize.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(json: Value) -> Map<String, Value> {
        json.as_object().cloned().unwrap()
    }

    #[test]
    fn a_value_is_found_by_its_typed_key() {
        let found = AnswerValue::from_object(
            &object(json!({"valueDate": "2024-01-31", "extension": []})),
            "value",
            &ValueKind::ALL,
        );

        assert_eq!(found, Ok(Some(AnswerValue::Date("2024-01-31".into()))));
    }

    #[test]
    fn two_values_in_one_element_are_refused() {
        let found = AnswerValue::from_object(
            &object(json!({"valueString": "a", "valueInteger": 1})),
            "value",
            &ValueKind::ALL,
        );

        assert!(found.unwrap_err().contains("more than one"));
    }

    #[test]
    fn an_unsupported_value_type_is_refused_by_its_key_not_its_content() {
        let found = AnswerValue::from_object(
            &object(json!({"valueAttachment": {"data": "c2VjcmV0"}})),
            "value",
            &ValueKind::ALL,
        );

        let message = found.unwrap_err();
        assert!(message.contains("valueAttachment"));
        assert!(!message.contains("c2VjcmV0"));
    }

    #[test]
    fn a_value_of_the_wrong_json_shape_is_refused_without_quoting_it() {
        let found = AnswerValue::from_object(
            &object(json!({"valueInteger": "Ada Lovelace"})),
            "value",
            &ValueKind::ALL,
        );

        let message = found.unwrap_err();
        assert!(message.contains("valueInteger"));
        assert!(!message.contains("Ada"));
    }

    #[test]
    fn codings_are_the_same_answer_when_system_and_code_match() {
        let coded = |system: &str, code: &str, display: &str| {
            AnswerValue::Coding(Coding {
                system: Some(system.into()),
                code: Some(code.into()),
                display: Some(display.into()),
            })
        };

        assert!(coded("s", "y", "Yes").same_as(&coded("s", "y", "Oui")));
        assert!(!coded("s", "y", "Yes").same_as(&coded("t", "y", "Yes")));
    }

    #[test]
    fn integers_and_decimals_compare_as_numbers() {
        let ordering = AnswerValue::Integer(3).compare(&AnswerValue::Decimal(2.5));

        assert_eq!(ordering, Some(Ordering::Greater));
        assert!(AnswerValue::Integer(2).same_as(&AnswerValue::Decimal(2.0)));
    }

    #[test]
    fn quantities_in_different_units_do_not_compare() {
        let kilograms = Quantity {
            value: Some(70.0),
            unit: Some("kg".into()),
            ..Quantity::default()
        };
        let pounds = Quantity {
            value: Some(150.0),
            unit: Some("lb".into()),
            ..Quantity::default()
        };

        let ordering = AnswerValue::Quantity(kilograms).compare(&AnswerValue::Quantity(pounds));

        assert_eq!(ordering, None);
    }

    #[test]
    fn a_value_round_trips_through_its_json_entry() {
        let value = AnswerValue::Quantity(Quantity {
            value: Some(1.5),
            unit: Some("kg".into()),
            system: Some("http://unitsofmeasure.org".into()),
            code: Some("kg".into()),
        });

        let (key, json) = value.to_json_entry("answer");
        let parsed = AnswerValue::from_object(
            &Map::from_iter([(key.clone(), json)]),
            "answer",
            &ValueKind::ALL,
        );

        assert_eq!(key, "answerQuantity");
        assert_eq!(parsed, Ok(Some(value)));
    }
}
