//! The form model: [`FormDefinition`] and its [`Item`]s, the item model of a
//! FHIR R4 `Questionnaire`, with FHIR's JSON names.
//!
//! # What parsing accepts
//!
//! Parsing is strict about what changes a form's meaning and lenient about
//! what does not:
//!
//! - an unknown item `type`, enableWhen `operator` or `enableBehavior`, and an
//!   unsupported `value[x]` / `answer[x]` type (`valueReference`,
//!   `valueAttachment`), are errors that name the item's linkId;
//! - `modifierExtension` is an error: FHIR requires a system that does not
//!   understand a modifier extension to refuse the resource, since it may
//!   change what the item means;
//! - any other field intake does not model (`extension`, `prefix`,
//!   `definition`, a FHIR version's newer elements) is accepted and dropped.
//!   FHIR content routinely carries extensions, so `deny_unknown_fields` would
//!   refuse real Questionnaires, but a dropped field is never stored or echoed
//!   back: what intake serves is exactly what it understood.
//!
//! Parsing checks shape only. The rules that tie fields together (a group has
//! items, a display item has no answers...) are the publish-time checks of
//! [`FormDefinition::check`], in the `check` module.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::value::{AnswerValue, Coding, ValueKind};

/// A form: a title, a description and its items.
///
/// This is the body of `POST /api/forms`; `id`, `version` and `status` belong
/// to the stored form, not to its definition, and are ignored here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormDefinition {
    /// The form's title, shown to respondents and on the PDF.
    pub title: String,
    /// A longer description of the form's purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The form's top-level items, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<Item>,
}

/// An error parsing a form definition from JSON.
#[derive(Debug, thiserror::Error)]
#[error("the form definition is not valid: {0}")]
pub struct FormParseError(#[from] serde_json::Error);

impl FormDefinition {
    /// Parses a form definition from JSON. The error names the item at fault
    /// where there is one; form definitions are not PHI, so it may quote them.
    pub fn from_json(json: &[u8]) -> Result<Self, FormParseError> {
        Ok(serde_json::from_slice(json)?)
    }
}

/// One item of a form: a group, a display text or a question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawItem", rename_all = "camelCase")]
pub struct Item {
    /// The item's identifier, unique within the form; answers refer to it.
    pub link_id: String,
    /// The question, group heading or display text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// What kind of item this is and what type its answers have.
    #[serde(rename = "type")]
    pub item_type: ItemType,
    /// Codes for the item, e.g. a LOINC code for the question.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<Coding>,
    /// Whether a completed response must answer the item (when enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Whether the item may have several answers (or, for a group, occur
    /// several times).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeats: Option<bool>,
    /// Whether the respondent may not change the item's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// The most characters a text answer may have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// The answers a `choice` or `open-choice` item offers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answer_option: Vec<AnswerOption>,
    /// A value set of permitted answers. Parsed so that the publish checks can
    /// refuse it: intake has no terminology service to expand it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_value_set: Option<String>,
    /// Values the item starts with.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub initial: Vec<Initial>,
    /// Conditions under which the item is shown and may be answered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enable_when: Vec<EnableWhen>,
    /// Whether all or any of `enable_when` must hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_behavior: Option<EnableBehavior>,
    /// Nested items: a group's members, or a question's follow-up items.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<Item>,
}

impl Item {
    /// Whether the item is marked `required: true`.
    pub fn is_required(&self) -> bool {
        self.required == Some(true)
    }

    /// Whether the item is marked `repeats: true`.
    pub fn is_repeating(&self) -> bool {
        self.repeats == Some(true)
    }

    /// Whether the item is marked `readOnly: true`.
    pub fn is_read_only(&self) -> bool {
        self.read_only == Some(true)
    }

    /// The value kinds an answer to this item may have; empty for groups and
    /// display items, which take no answers.
    ///
    /// A `choice` item is answered with the kinds of its options (usually
    /// `valueCoding`); an `open-choice` item also with free text.
    pub fn answer_kinds(&self) -> Vec<ValueKind> {
        match self.item_type {
            ItemType::Group | ItemType::Display => vec![],
            ItemType::Boolean => vec![ValueKind::Boolean],
            ItemType::Decimal => vec![ValueKind::Decimal],
            ItemType::Integer => vec![ValueKind::Integer],
            ItemType::Date => vec![ValueKind::Date],
            ItemType::DateTime => vec![ValueKind::DateTime],
            ItemType::Time => vec![ValueKind::Time],
            ItemType::String | ItemType::Text => vec![ValueKind::String],
            ItemType::Url => vec![ValueKind::Uri],
            ItemType::Quantity => vec![ValueKind::Quantity],
            ItemType::Choice | ItemType::OpenChoice => {
                let mut kinds: Vec<ValueKind> = Vec::new();
                for option in &self.answer_option {
                    if !kinds.contains(&option.value.kind()) {
                        kinds.push(option.value.kind());
                    }
                }
                if kinds.is_empty() {
                    kinds.push(ValueKind::Coding);
                }
                if self.item_type == ItemType::OpenChoice && !kinds.contains(&ValueKind::String) {
                    kinds.push(ValueKind::String);
                }
                kinds
            }
        }
    }
}

/// The item types intake supports: those of FHIR R4 except `attachment` and
/// `reference`, which need storage and lookups intake does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemType {
    /// A section holding other items.
    Group,
    /// Text shown to the respondent; never answered.
    Display,
    /// A yes/no question.
    Boolean,
    /// A decimal number.
    Decimal,
    /// A whole number.
    Integer,
    /// A date.
    Date,
    /// A date and time.
    DateTime,
    /// A time of day.
    Time,
    /// A short line of text.
    String,
    /// Longer, multi-line text.
    Text,
    /// A URL.
    Url,
    /// One (or, when repeating, several) of the listed options.
    Choice,
    /// A listed option or free text.
    #[serde(rename = "open-choice")]
    OpenChoice,
    /// An amount with a unit.
    Quantity,
}

impl ItemType {
    const ALL: [ItemType; 14] = [
        ItemType::Group,
        ItemType::Display,
        ItemType::Boolean,
        ItemType::Decimal,
        ItemType::Integer,
        ItemType::Date,
        ItemType::DateTime,
        ItemType::Time,
        ItemType::String,
        ItemType::Text,
        ItemType::Url,
        ItemType::Choice,
        ItemType::OpenChoice,
        ItemType::Quantity,
    ];

    /// The FHIR code of the type, as in `"type": "open-choice"`.
    pub fn code(self) -> &'static str {
        match self {
            ItemType::Group => "group",
            ItemType::Display => "display",
            ItemType::Boolean => "boolean",
            ItemType::Decimal => "decimal",
            ItemType::Integer => "integer",
            ItemType::Date => "date",
            ItemType::DateTime => "dateTime",
            ItemType::Time => "time",
            ItemType::String => "string",
            ItemType::Text => "text",
            ItemType::Url => "url",
            ItemType::Choice => "choice",
            ItemType::OpenChoice => "open-choice",
            ItemType::Quantity => "quantity",
        }
    }

    /// The type with FHIR code `code`, if intake supports it.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|item_type| item_type.code() == code)
    }

    /// Whether items of this type are questions (take answers).
    pub fn is_question(self) -> bool {
        !matches!(self, ItemType::Group | ItemType::Display)
    }
}

/// One permitted answer of a `choice` or `open-choice` item.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerOption {
    /// The answer; `valueCoding`, `valueString`, `valueInteger`, `valueDate`
    /// or `valueTime`, as FHIR R4 allows.
    pub value: AnswerValue,
    /// Whether the option starts selected (FHIR's replacement for `initial`
    /// on items with options).
    pub initial_selected: bool,
}

/// One initial value of an item.
#[derive(Debug, Clone, PartialEq)]
pub struct Initial {
    /// The value.
    pub value: AnswerValue,
}

/// A condition on another item's answers that enables this one.
#[derive(Debug, Clone, PartialEq)]
pub struct EnableWhen {
    /// The linkId of the question whose answers are tested.
    pub question: String,
    /// How the answers are tested.
    pub operator: EnableOperator,
    /// The value tested against: a boolean for `exists`.
    pub answer: AnswerValue,
}

/// The operator of an [`EnableWhen`] condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EnableOperator {
    /// `exists`: the question has (true) or has no (false) answer.
    #[serde(rename = "exists")]
    Exists,
    /// `=`: some answer equals the value.
    #[serde(rename = "=")]
    Equal,
    /// `!=`: no answer equals the value.
    #[serde(rename = "!=")]
    NotEqual,
    /// `>`: some answer is greater than the value.
    #[serde(rename = ">")]
    Greater,
    /// `<`: some answer is less than the value.
    #[serde(rename = "<")]
    Less,
    /// `>=`: some answer is greater than or equal to the value.
    #[serde(rename = ">=")]
    GreaterOrEqual,
    /// `<=`: some answer is less than or equal to the value.
    #[serde(rename = "<=")]
    LessOrEqual,
}

impl EnableOperator {
    const ALL: [EnableOperator; 7] = [
        EnableOperator::Exists,
        EnableOperator::Equal,
        EnableOperator::NotEqual,
        EnableOperator::Greater,
        EnableOperator::Less,
        EnableOperator::GreaterOrEqual,
        EnableOperator::LessOrEqual,
    ];

    /// The FHIR code of the operator.
    pub fn code(self) -> &'static str {
        match self {
            EnableOperator::Exists => "exists",
            EnableOperator::Equal => "=",
            EnableOperator::NotEqual => "!=",
            EnableOperator::Greater => ">",
            EnableOperator::Less => "<",
            EnableOperator::GreaterOrEqual => ">=",
            EnableOperator::LessOrEqual => "<=",
        }
    }

    /// The operator with FHIR code `code`.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|operator| operator.code() == code)
    }

    /// Whether the operator orders values (`>`, `<`, `>=`, `<=`).
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            EnableOperator::Greater
                | EnableOperator::Less
                | EnableOperator::GreaterOrEqual
                | EnableOperator::LessOrEqual
        )
    }
}

/// How several [`EnableWhen`] conditions combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnableBehavior {
    /// Every condition must hold.
    All,
    /// At least one condition must hold.
    Any,
}

impl Serialize for AnswerOption {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (key, value) = self.value.to_json_entry("value");
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(&key, &value)?;
        if self.initial_selected {
            map.serialize_entry("initialSelected", &true)?;
        }
        map.end()
    }
}

impl Serialize for Initial {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (key, value) = self.value.to_json_entry("value");
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&key, &value)?;
        map.end()
    }
}

impl Serialize for EnableWhen {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (key, value) = self.answer.to_json_entry("answer");
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("question", &self.question)?;
        map.serialize_entry("operator", &self.operator)?;
        map.serialize_entry(&key, &value)?;
        map.end()
    }
}

/// The value kinds FHIR R4 allows in `answerOption.value[x]`.
const OPTION_KINDS: [ValueKind; 5] = [
    ValueKind::Coding,
    ValueKind::String,
    ValueKind::Integer,
    ValueKind::Date,
    ValueKind::Time,
];

/// The value kinds FHIR R4 allows in `enableWhen.answer[x]` (all but uri).
const CONDITION_KINDS: [ValueKind; 9] = [
    ValueKind::Boolean,
    ValueKind::Decimal,
    ValueKind::Integer,
    ValueKind::Date,
    ValueKind::DateTime,
    ValueKind::Time,
    ValueKind::String,
    ValueKind::Coding,
    ValueKind::Quantity,
];

/// An item as it arrives, before its type, operators and value[x] elements
/// are checked. Strings stand where an enum will be, so that the error can
/// name the item's linkId.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawItem {
    link_id: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(rename = "type")]
    item_type: String,
    #[serde(default)]
    code: Vec<Coding>,
    #[serde(default)]
    required: Option<bool>,
    #[serde(default)]
    repeats: Option<bool>,
    #[serde(default)]
    read_only: Option<bool>,
    #[serde(default)]
    max_length: Option<i64>,
    #[serde(default)]
    answer_option: Vec<Map<String, Value>>,
    #[serde(default)]
    answer_value_set: Option<String>,
    #[serde(default)]
    initial: Vec<Map<String, Value>>,
    #[serde(default)]
    enable_when: Vec<Map<String, Value>>,
    #[serde(default)]
    enable_behavior: Option<String>,
    #[serde(default)]
    modifier_extension: Option<Value>,
    #[serde(default)]
    item: Vec<Item>,
}

impl TryFrom<RawItem> for Item {
    type Error = String;

    fn try_from(raw: RawItem) -> Result<Self, Self::Error> {
        let link_id = raw.link_id;
        let fail = |message: String| format!("item {link_id:?}: {message}");
        if raw.modifier_extension.is_some() {
            return Err(fail(
                "modifierExtension is not supported; it could change what the item means"
                    .to_owned(),
            ));
        }
        let item_type = ItemType::from_code(&raw.item_type)
            .ok_or_else(|| fail(unknown_type_message(&raw.item_type)))?;
        let max_length = raw
            .max_length
            .map(|length| u32::try_from(length).map_err(|_| "maxLength must be positive"))
            .transpose()
            .map_err(|message| fail(message.to_owned()))?;
        let answer_option = raw
            .answer_option
            .iter()
            .map(parse_option)
            .collect::<Result<_, _>>()
            .map_err(&fail)?;
        let initial = raw
            .initial
            .iter()
            .map(parse_initial)
            .collect::<Result<_, _>>()
            .map_err(&fail)?;
        let enable_when = raw
            .enable_when
            .iter()
            .map(parse_condition)
            .collect::<Result<_, _>>()
            .map_err(&fail)?;
        let enable_behavior = raw
            .enable_behavior
            .map(|behavior| match behavior.as_str() {
                "all" => Ok(EnableBehavior::All),
                "any" => Ok(EnableBehavior::Any),
                other => Err(fail(format!(
                    "unknown enableBehavior {other:?}; expected \"all\" or \"any\""
                ))),
            })
            .transpose()?;
        Ok(Item {
            text: raw.text,
            item_type,
            code: raw.code,
            required: raw.required,
            repeats: raw.repeats,
            read_only: raw.read_only,
            max_length,
            answer_option,
            answer_value_set: raw.answer_value_set,
            initial,
            enable_when,
            enable_behavior,
            item: raw.item,
            link_id,
        })
    }
}

fn unknown_type_message(code: &str) -> String {
    match code {
        "attachment" | "reference" => format!("item type {code:?} is not supported by intake"),
        _ => format!(
            "unknown item type {code:?}; expected one of {}",
            ItemType::ALL.map(ItemType::code).join(", ")
        ),
    }
}

fn parse_option(object: &Map<String, Value>) -> Result<AnswerOption, String> {
    let value = AnswerValue::from_object(object, "value", &OPTION_KINDS)
        .map_err(|message| format!("an answerOption {message}"))?
        .ok_or("an answerOption has no value[x]")?;
    let initial_selected = match object.get("initialSelected") {
        None => false,
        Some(Value::Bool(selected)) => *selected,
        Some(_) => return Err("answerOption.initialSelected must be true or false".to_owned()),
    };
    Ok(AnswerOption {
        value,
        initial_selected,
    })
}

fn parse_initial(object: &Map<String, Value>) -> Result<Initial, String> {
    let value = AnswerValue::from_object(object, "value", &ValueKind::ALL)
        .map_err(|message| format!("an initial {message}"))?
        .ok_or("an initial has no value[x]")?;
    Ok(Initial { value })
}

fn parse_condition(object: &Map<String, Value>) -> Result<EnableWhen, String> {
    let question = object
        .get("question")
        .and_then(Value::as_str)
        .ok_or("an enableWhen needs a question (a linkId)")?
        .to_owned();
    let operator = object
        .get("operator")
        .and_then(Value::as_str)
        .ok_or("an enableWhen needs an operator")?;
    let operator = EnableOperator::from_code(operator).ok_or_else(|| {
        format!(
            "unknown enableWhen operator {operator:?}; expected one of {}",
            EnableOperator::ALL.map(EnableOperator::code).join(", ")
        )
    })?;
    let answer = AnswerValue::from_object(object, "answer", &CONDITION_KINDS)
        .map_err(|message| format!("an enableWhen {message}"))?
        .ok_or("an enableWhen has no answer[x]")?;
    Ok(EnableWhen {
        question,
        operator,
        answer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(json: Value) -> Result<FormDefinition, FormParseError> {
        FormDefinition::from_json(json.to_string().as_bytes())
    }

    #[test]
    fn an_unknown_item_type_is_an_error_naming_the_link_id() {
        let error = parse(json!({
            "title": "Intake",
            "item": [{"linkId": "g", "type": "group", "item": [
                {"linkId": "weight", "type": "float"}
            ]}]
        }))
        .unwrap_err();

        let message = error.to_string();
        assert!(message.contains("\"weight\""), "{message}");
        assert!(message.contains("unknown item type \"float\""), "{message}");
    }

    #[test]
    fn an_unknown_operator_is_an_error_naming_the_link_id() {
        let error = parse(json!({
            "title": "Intake",
            "item": [
                {"linkId": "smoker", "type": "boolean"},
                {"linkId": "packs", "type": "integer", "enableWhen": [
                    {"question": "smoker", "operator": "==", "answerBoolean": true}
                ]}
            ]
        }))
        .unwrap_err();

        let message = error.to_string();
        assert!(message.contains("\"packs\""), "{message}");
        assert!(
            message.contains("unknown enableWhen operator \"==\""),
            "{message}"
        );
    }

    #[test]
    fn attachment_items_are_refused_as_unsupported() {
        let error = parse(json!({
            "title": "Intake",
            "item": [{"linkId": "scan", "type": "attachment"}]
        }))
        .unwrap_err();

        assert!(error.to_string().contains("not supported"));
    }

    #[test]
    fn a_modifier_extension_is_refused() {
        let error = parse(json!({
            "title": "Intake",
            "item": [{"linkId": "q", "type": "string", "modifierExtension": [
                {"url": "http://example.org/negate", "valueBoolean": true}
            ]}]
        }))
        .unwrap_err();

        assert!(error.to_string().contains("modifierExtension"));
    }

    #[test]
    fn unknown_fields_are_accepted_and_never_echoed() {
        let form = parse(json!({
            "title": "Intake",
            "extension": [{"url": "http://example.org/x", "valueString": "top"}],
            "item": [{
                "linkId": "q", "type": "string", "prefix": "1.",
                "extension": [{"url": "http://example.org/y", "valueString": "inner"}]
            }]
        }))
        .unwrap();

        let written = serde_json::to_string(&form).unwrap();
        assert!(!written.contains("extension"), "{written}");
        assert!(!written.contains("prefix"), "{written}");
    }

    #[test]
    fn a_reference_option_is_refused() {
        let error = parse(json!({
            "title": "Intake",
            "item": [{"linkId": "gp", "type": "choice", "answerOption": [
                {"valueReference": {"reference": "Practitioner/1"}}
            ]}]
        }))
        .unwrap_err();

        let message = error.to_string();
        assert!(
            message.contains("\"gp\"") && message.contains("valueReference"),
            "{message}"
        );
    }

    #[test]
    fn a_form_round_trips_through_json_unchanged() {
        let json = json!({
            "title": "Intake",
            "description": "First visit",
            "item": [
                {"linkId": "smoker", "text": "Do you smoke?", "type": "boolean", "required": true},
                {"linkId": "since", "text": "Since when?", "type": "date",
                 "enableWhen": [{"question": "smoker", "operator": "=", "answerBoolean": true}]},
                {"linkId": "colour", "type": "choice", "repeats": true, "answerOption": [
                    {"valueCoding": {"system": "http://example.org/c", "code": "r", "display": "Red"},
                     "initialSelected": true},
                    {"valueCoding": {"system": "http://example.org/c", "code": "g", "display": "Green"}}
                ]},
                {"linkId": "name", "type": "string", "maxLength": 80, "readOnly": true,
                 "initial": [{"valueString": "unknown"}]},
                {"linkId": "about", "type": "group", "enableBehavior": "any", "item": [
                    {"linkId": "note", "type": "display", "text": "Thank you"}
                ]}
            ]
        });

        let form = parse(json.clone()).unwrap();

        assert_eq!(serde_json::to_value(&form).unwrap(), json);
    }
}
