//! Whether an item is enabled: its enableWhen conditions evaluated against a
//! response's own answers.
//!
//! The semantics, from FHIR R4 `Questionnaire.item.enableWhen` with the
//! clarifications FHIR R5 made to its wording:
//!
//! - `exists` with `true` holds when the question has at least one answer,
//!   with `false` when it has none;
//! - `=` holds when some answer equals the value (codings by system and code);
//! - `!=` holds when no answer equals the value, so also when the question is
//!   unanswered;
//! - `>`, `<`, `>=`, `<=` hold when some answer compares so; values that do
//!   not compare (other units, dates of other precision) never satisfy them;
//! - `enableBehavior` `any` needs one condition to hold, `all` (and a missing
//!   behavior, which the publish checks allow only for a single condition)
//!   needs every one.
//!
//! Which answers count: when the question shares a repeating group with the
//! item, the answers in the same occurrence of that group (FHIR's "nearest
//! ancestor" rule); otherwise every answer to it in the response. Answers are
//! taken as they stand, even in an item that is itself disabled: a completed
//! response that passed validation has none there, so chains of conditions
//! resolve the same way.

use std::collections::HashMap;

use crate::definition::{EnableBehavior, EnableOperator, EnableWhen, FormDefinition, Item};
use crate::response::ResponseItem;
use crate::value::AnswerValue;

/// Every item of a form by linkId, with the linkIds of its ancestors.
pub(crate) struct FormIndex<'form> {
    entries: HashMap<&'form str, Entry<'form>>,
}

/// One item of a [`FormIndex`].
pub(crate) struct Entry<'form> {
    /// The item.
    pub(crate) item: &'form Item,
    /// The linkIds of the groups and questions it is nested in, outermost
    /// first.
    pub(crate) ancestors: Vec<&'form str>,
}

impl<'form> FormIndex<'form> {
    /// Indexes `form`; of two items with one linkId (which the publish checks
    /// refuse) the first wins.
    pub(crate) fn new(form: &'form FormDefinition) -> Self {
        let mut index = FormIndex {
            entries: HashMap::new(),
        };
        index.add(&form.item, &mut Vec::new());
        index
    }

    fn add(&mut self, items: &'form [Item], ancestors: &mut Vec<&'form str>) {
        for item in items {
            self.entries.entry(&item.link_id).or_insert_with(|| Entry {
                item,
                ancestors: ancestors.clone(),
            });
            ancestors.push(&item.link_id);
            self.add(&item.item, ancestors);
            ancestors.pop();
        }
    }

    /// The item with `link_id`, if the form has one.
    pub(crate) fn get(&self, link_id: &str) -> Option<&Entry<'form>> {
        self.entries.get(link_id)
    }

    /// Whether `item` is enabled.
    ///
    /// `path` holds the linkIds of the item's ancestors, outermost first, and
    /// `scopes` the response's item lists along that path: `scopes[0]` is the
    /// response's top-level items and `scopes[k]` the items inside the
    /// occurrence of `path[k - 1]` being walked, so `scopes.len()` is
    /// `path.len() + 1`.
    pub(crate) fn is_enabled(
        &self,
        item: &Item,
        path: &[&str],
        scopes: &[&[ResponseItem]],
    ) -> bool {
        if item.enable_when.is_empty() {
            return true;
        }
        let mut results = item
            .enable_when
            .iter()
            .map(|condition| condition_holds(condition, &self.answers_to(condition, path, scopes)));
        match item.enable_behavior {
            Some(EnableBehavior::Any) => results.any(|holds| holds),
            Some(EnableBehavior::All) | None => results.all(|holds| holds),
        }
    }

    fn answers_to<'response>(
        &self,
        condition: &EnableWhen,
        path: &[&str],
        scopes: &[&'response [ResponseItem]],
    ) -> Vec<&'response AnswerValue> {
        let Some(entry) = self.get(&condition.question) else {
            return Vec::new();
        };
        // The innermost item the question and the item are both nested in
        // decides which occurrence's answers count.
        let shared = entry
            .ancestors
            .iter()
            .zip(path)
            .take_while(|(question_ancestor, item_ancestor)| question_ancestor == item_ancestor)
            .count();
        let scope = scopes
            .get(shared)
            .or(scopes.last())
            .copied()
            .unwrap_or_default();
        let mut answers = Vec::new();
        collect_answers(scope, &condition.question, &mut answers);
        answers
    }
}

/// Where a walk over a form and a response is: the path of ancestor linkIds
/// and the response item lists along it, as [`FormIndex::is_enabled`] takes
/// them.
pub(crate) struct Position<'form, 'response> {
    /// The linkIds of the enclosing items, outermost first.
    pub(crate) path: Vec<&'form str>,
    /// The response's item lists along `path`, one longer than it.
    pub(crate) scopes: Vec<&'response [ResponseItem]>,
}

impl<'form, 'response> Position<'form, 'response> {
    /// The top of `items`, a response's top-level items.
    pub(crate) fn top(items: &'response [ResponseItem]) -> Self {
        Position {
            path: Vec::new(),
            scopes: vec![items],
        }
    }

    /// Steps into `item`, whose response items (in this occurrence) are
    /// `children`.
    pub(crate) fn enter(&mut self, item: &'form Item, children: &'response [ResponseItem]) {
        self.path.push(&item.link_id);
        self.scopes.push(children);
    }

    /// Steps back out of the item last entered.
    pub(crate) fn leave(&mut self) {
        self.path.pop();
        self.scopes.pop();
    }

    /// Whether `item`, directly inside this position, is enabled.
    pub(crate) fn is_enabled(&self, index: &FormIndex<'_>, item: &Item) -> bool {
        index.is_enabled(item, &self.path, &self.scopes)
    }
}

fn collect_answers<'response>(
    items: &'response [ResponseItem],
    link_id: &str,
    answers: &mut Vec<&'response AnswerValue>,
) {
    for item in items {
        if item.link_id == link_id {
            answers.extend(item.answer.iter().map(|answer| &answer.value));
        }
        collect_answers(&item.item, link_id, answers);
        for answer in &item.answer {
            collect_answers(&answer.item, link_id, answers);
        }
    }
}

/// Whether `condition` holds for a question with `answers`.
pub(crate) fn condition_holds(condition: &EnableWhen, answers: &[&AnswerValue]) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};

    let expected = &condition.answer;
    let compares = |accept: &[std::cmp::Ordering]| {
        answers.iter().any(|answer| {
            answer
                .compare(expected)
                .is_some_and(|ordering| accept.contains(&ordering))
        })
    };
    match condition.operator {
        EnableOperator::Exists => match expected {
            AnswerValue::Boolean(should_exist) => answers.is_empty() != *should_exist,
            _ => false,
        },
        EnableOperator::Equal => answers.iter().any(|answer| answer.same_as(expected)),
        EnableOperator::NotEqual => !answers.iter().any(|answer| answer.same_as(expected)),
        EnableOperator::Greater => compares(&[Greater]),
        EnableOperator::Less => compares(&[Less]),
        EnableOperator::GreaterOrEqual => compares(&[Greater, Equal]),
        EnableOperator::LessOrEqual => compares(&[Less, Equal]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::ResponseContent;
    use crate::value::{Coding, Quantity};
    use serde_json::{Value, json};

    fn condition(operator: EnableOperator, answer: AnswerValue) -> EnableWhen {
        EnableWhen {
            question: "q".into(),
            operator,
            answer,
        }
    }

    fn holds(operator: EnableOperator, expected: AnswerValue, answers: &[AnswerValue]) -> bool {
        let answers: Vec<&AnswerValue> = answers.iter().collect();
        condition_holds(&condition(operator, expected), &answers)
    }

    #[test]
    fn exists_true_holds_only_for_an_answered_question() {
        let answered = [AnswerValue::Integer(1)];

        assert!(holds(
            EnableOperator::Exists,
            AnswerValue::Boolean(true),
            &answered
        ));
        assert!(!holds(
            EnableOperator::Exists,
            AnswerValue::Boolean(true),
            &[]
        ));
    }

    #[test]
    fn exists_false_holds_only_for_an_unanswered_question() {
        let answered = [AnswerValue::Integer(1)];

        assert!(holds(
            EnableOperator::Exists,
            AnswerValue::Boolean(false),
            &[]
        ));
        assert!(!holds(
            EnableOperator::Exists,
            AnswerValue::Boolean(false),
            &answered
        ));
    }

    #[test]
    fn equal_holds_when_any_answer_matches() {
        let answers = [
            AnswerValue::String("a".into()),
            AnswerValue::String("b".into()),
        ];

        assert!(holds(
            EnableOperator::Equal,
            AnswerValue::String("b".into()),
            &answers
        ));
        assert!(!holds(
            EnableOperator::Equal,
            AnswerValue::String("c".into()),
            &answers
        ));
        assert!(!holds(
            EnableOperator::Equal,
            AnswerValue::String("c".into()),
            &[]
        ));
    }

    #[test]
    fn equal_matches_codings_by_system_and_code_not_display() {
        let coding = |code: &str, display: &str| {
            AnswerValue::Coding(Coding {
                system: Some("http://example.org/yn".into()),
                code: Some(code.into()),
                display: Some(display.into()),
            })
        };

        assert!(holds(
            EnableOperator::Equal,
            coding("y", "Yes"),
            &[coding("y", "Ja")]
        ));
        assert!(!holds(
            EnableOperator::Equal,
            coding("y", "Yes"),
            &[coding("n", "Yes")]
        ));
    }

    #[test]
    fn not_equal_holds_when_no_answer_matches_including_no_answer_at_all() {
        let answers = [AnswerValue::Boolean(false)];

        assert!(holds(
            EnableOperator::NotEqual,
            AnswerValue::Boolean(true),
            &answers
        ));
        assert!(holds(
            EnableOperator::NotEqual,
            AnswerValue::Boolean(true),
            &[]
        ));
        assert!(!holds(
            EnableOperator::NotEqual,
            AnswerValue::Boolean(false),
            &answers
        ));
    }

    #[test]
    fn greater_and_less_compare_numbers() {
        let answers = [AnswerValue::Integer(5)];

        assert!(holds(
            EnableOperator::Greater,
            AnswerValue::Integer(4),
            &answers
        ));
        assert!(!holds(
            EnableOperator::Greater,
            AnswerValue::Integer(5),
            &answers
        ));
        assert!(holds(
            EnableOperator::Less,
            AnswerValue::Decimal(5.5),
            &answers
        ));
        assert!(!holds(
            EnableOperator::Less,
            AnswerValue::Integer(5),
            &answers
        ));
    }

    #[test]
    fn greater_or_equal_and_less_or_equal_include_equality() {
        let answers = [AnswerValue::Date("2024-05-01".into())];
        let same_day = AnswerValue::Date("2024-05-01".into());

        assert!(holds(
            EnableOperator::GreaterOrEqual,
            same_day.clone(),
            &answers
        ));
        assert!(holds(EnableOperator::LessOrEqual, same_day, &answers));
        assert!(!holds(
            EnableOperator::GreaterOrEqual,
            AnswerValue::Date("2024-05-02".into()),
            &answers
        ));
        assert!(!holds(
            EnableOperator::LessOrEqual,
            AnswerValue::Date("2024-04-30".into()),
            &answers
        ));
    }

    #[test]
    fn ordering_operators_never_hold_for_values_that_do_not_compare() {
        let kilograms = AnswerValue::Quantity(Quantity {
            value: Some(80.0),
            unit: Some("kg".into()),
            ..Quantity::default()
        });
        let pounds = AnswerValue::Quantity(Quantity {
            value: Some(1.0),
            unit: Some("lb".into()),
            ..Quantity::default()
        });

        assert!(!holds(
            EnableOperator::Greater,
            pounds.clone(),
            std::slice::from_ref(&kilograms)
        ));
        assert!(!holds(EnableOperator::Less, pounds, &[kilograms]));
    }

    fn two_condition_form(behavior: &str) -> FormDefinition {
        serde_json::from_value(json!({
            "title": "t",
            "item": [
                {"linkId": "a", "type": "boolean"},
                {"linkId": "b", "type": "integer"},
                {"linkId": "c", "type": "string", "enableBehavior": behavior, "enableWhen": [
                    {"question": "a", "operator": "=", "answerBoolean": true},
                    {"question": "b", "operator": ">", "answerInteger": 10}
                ]}
            ]
        }))
        .unwrap()
    }

    fn response(items: Value) -> ResponseContent {
        serde_json::from_value(json!({"status": "completed", "item": items})).unwrap()
    }

    fn c_is_enabled(behavior: &str, items: Value) -> bool {
        let form = two_condition_form(behavior);
        let index = FormIndex::new(&form);
        let response = response(items);
        index.is_enabled(&form.item[2], &[], &[&response.item])
    }

    #[test]
    fn enable_behavior_all_needs_every_condition() {
        let one_holds = json!([
            {"linkId": "a", "answer": [{"valueBoolean": true}]},
            {"linkId": "b", "answer": [{"valueInteger": 3}]}
        ]);
        let both_hold = json!([
            {"linkId": "a", "answer": [{"valueBoolean": true}]},
            {"linkId": "b", "answer": [{"valueInteger": 30}]}
        ]);

        assert!(!c_is_enabled("all", one_holds));
        assert!(c_is_enabled("all", both_hold));
    }

    #[test]
    fn enable_behavior_any_needs_one_condition() {
        let one_holds = json!([
            {"linkId": "a", "answer": [{"valueBoolean": false}]},
            {"linkId": "b", "answer": [{"valueInteger": 30}]}
        ]);
        let none_holds = json!([
            {"linkId": "a", "answer": [{"valueBoolean": false}]},
            {"linkId": "b", "answer": [{"valueInteger": 3}]}
        ]);

        assert!(c_is_enabled("any", one_holds));
        assert!(!c_is_enabled("any", none_holds));
    }

    #[test]
    fn an_item_without_conditions_is_enabled_whatever_its_enable_behavior() {
        let form: FormDefinition = serde_json::from_value(json!({
            "title": "t",
            "item": [{"linkId": "a", "type": "boolean", "enableBehavior": "any"}]
        }))
        .unwrap();
        let index = FormIndex::new(&form);

        assert!(index.is_enabled(&form.item[0], &[], &[&[]]));
    }

    #[test]
    fn a_condition_inside_a_repeating_group_reads_the_same_occurrence() {
        let form: FormDefinition = serde_json::from_value(json!({
            "title": "t",
            "item": [{"linkId": "child", "type": "group", "repeats": true, "item": [
                {"linkId": "vaccinated", "type": "boolean"},
                {"linkId": "why-not", "type": "string", "enableWhen": [
                    {"question": "vaccinated", "operator": "=", "answerBoolean": false}
                ]}
            ]}]
        }))
        .unwrap();
        let response = response(json!([
            {"linkId": "child", "item": [{"linkId": "vaccinated", "answer": [{"valueBoolean": true}]}]},
            {"linkId": "child", "item": [{"linkId": "vaccinated", "answer": [{"valueBoolean": false}]}]}
        ]));
        let index = FormIndex::new(&form);
        let why_not = &form.item[0].item[1];

        let enabled: Vec<bool> = response
            .item
            .iter()
            .map(|occurrence| {
                index.is_enabled(why_not, &["child"], &[&response.item, &occurrence.item])
            })
            .collect();

        assert_eq!(enabled, [false, true]);
    }
}
