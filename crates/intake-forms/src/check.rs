//! Publish-time checks: [`FormDefinition::check`], the FHIR R4 Questionnaire
//! invariants that concern items, and the rules intake adds so that every
//! published form can be answered and validated.
//!
//! The FHIR R4 invariants, as the specification states them:
//!
//! | key | rule |
//! |---|---|
//! | que-1 | group items must have nested items, display items cannot have nested items |
//! | que-2 | linkIds are unique within the questionnaire |
//! | que-3 | display items cannot have a `code` |
//! | que-4 | a question cannot have both answerOption and answerValueSet |
//! | que-5 | only choice and open-choice items have answerValueSet or answerOption (see below) |
//! | que-6 | required and repeats are not permitted on display items |
//! | que-7 | an `exists` enableWhen has a boolean answer |
//! | que-8 | groups and display items have no initial values |
//! | que-9 | display items cannot be readOnly |
//! | que-10 | maxLength only on boolean, decimal, integer, string, text, url and open-choice |
//! | que-11 | an item with answerOption has no initial (answerOption.initialSelected instead) |
//! | que-12 | more than one enableWhen needs an enableBehavior |
//! | que-13 | only repeating items have more than one initial value |
//!
//! que-0 (the resource's `name`) concerns no item. que-5 is stricter here
//! than R4's FHIRPath, which also lets date, string, integer... items carry
//! options: intake validates answers against options only for choice and
//! open-choice items, so it refuses options anywhere else rather than ignore
//! them.
//!
//! Added by intake: a non-empty title and at least one item; non-empty
//! linkIds; no answerValueSet at all (there is no terminology service to
//! expand it); a choice item lists its options; initial values, options and
//! enableWhen answers are well-formed and of the item's answer type; an
//! enableWhen names another item that is a question, with an answer of that
//! question's type and an ordering operator only for ordered types; at most
//! one initially selected option on a non-repeating item; maxLength of at
//! least 1; a required read-only item has an initial value (else nobody could
//! answer it).

use std::collections::HashSet;

use crate::definition::{EnableOperator, FormDefinition, Item, ItemType};
use crate::enablement::FormIndex;
use crate::problem::Problem;
use crate::value::{AnswerValue, ValueKind, kinds_list};

/// The item types que-10 allows maxLength on.
const MAX_LENGTH_TYPES: [ItemType; 7] = [
    ItemType::Boolean,
    ItemType::Decimal,
    ItemType::Integer,
    ItemType::String,
    ItemType::Text,
    ItemType::Url,
    ItemType::OpenChoice,
];

impl FormDefinition {
    /// Checks the form before it is published; returns every problem found,
    /// in form order.
    pub fn check(&self) -> Result<(), Vec<Problem>> {
        let mut checker = Checker {
            index: FormIndex::new(self),
            seen: HashSet::new(),
            problems: Vec::new(),
        };
        if self.title.trim().is_empty() {
            checker
                .problems
                .push(Problem::whole("the form needs a title"));
        }
        if self.item.is_empty() {
            checker
                .problems
                .push(Problem::whole("the form needs at least one item"));
        }
        for item in &self.item {
            checker.item(item);
        }
        checker.problems.dedup();
        if checker.problems.is_empty() {
            Ok(())
        } else {
            Err(checker.problems)
        }
    }
}

struct Checker<'form> {
    index: FormIndex<'form>,
    seen: HashSet<&'form str>,
    problems: Vec<Problem>,
}

impl<'form> Checker<'form> {
    fn item(&mut self, item: &'form Item) {
        self.identity(item);
        self.structure(item);
        self.options(item);
        self.initial_values(item);
        self.max_length(item);
        self.conditions(item);
        for child in &item.item {
            self.item(child);
        }
    }

    fn report(&mut self, item: &Item, message: impl Into<String>) {
        self.problems
            .push(Problem::at(item.link_id.clone(), message));
    }

    fn identity(&mut self, item: &'form Item) {
        if item.link_id.trim().is_empty() {
            self.report(item, "linkId must not be empty");
        }
        if !self.seen.insert(&item.link_id) {
            self.report(item, "que-2: linkId is used by more than one item");
        }
    }

    fn structure(&mut self, item: &Item) {
        let is_display = item.item_type == ItemType::Display;
        if item.item_type == ItemType::Group && item.item.is_empty() {
            self.report(item, "que-1: a group must contain items");
        }
        if is_display && !item.item.is_empty() {
            self.report(item, "que-1: a display item cannot contain items");
        }
        if is_display && !item.code.is_empty() {
            self.report(item, "que-3: a display item cannot have a code");
        }
        if is_display && (item.required.is_some() || item.repeats.is_some()) {
            self.report(item, "que-6: a display item cannot be required or repeat");
        }
        if is_display && item.read_only.is_some() {
            self.report(item, "que-9: a display item cannot be readOnly");
        }
        if item.is_required() && item.is_read_only() && !has_initial_answer(item) {
            self.report(
                item,
                "a required readOnly item needs an initial value, or nobody can answer it",
            );
        }
    }

    fn options(&mut self, item: &Item) {
        let has_options = !item.answer_option.is_empty();
        let is_choice = matches!(item.item_type, ItemType::Choice | ItemType::OpenChoice);
        if has_options && item.answer_value_set.is_some() {
            self.report(
                item,
                "que-4: an item cannot have both answerOption and answerValueSet",
            );
        }
        if !is_choice && (has_options || item.answer_value_set.is_some()) {
            self.report(
                item,
                "que-5: only choice and open-choice items can have answerOption or answerValueSet",
            );
        }
        if item.answer_value_set.is_some() {
            self.report(
                item,
                "answerValueSet is not supported (intake cannot expand value sets); list the answers in answerOption",
            );
        }
        if item.item_type == ItemType::Choice && !has_options {
            self.report(item, "a choice item needs at least one answerOption");
        }
        for option in &item.answer_option {
            if let Some(problem) = option.value.format_problem() {
                self.report(item, format!("an answerOption is not valid: {problem}"));
            }
        }
        let selected = item
            .answer_option
            .iter()
            .filter(|option| option.initial_selected);
        if selected.count() > 1 && !item.is_repeating() {
            self.report(
                item,
                "que-13: only a repeating item can have more than one initialSelected option",
            );
        }
    }

    fn initial_values(&mut self, item: &Item) {
        if item.initial.is_empty() {
            return;
        }
        if !item.item_type.is_question() {
            self.report(
                item,
                "que-8: groups and display items cannot have initial values",
            );
            return;
        }
        if !item.answer_option.is_empty() {
            self.report(
                item,
                "que-11: an item with answerOption cannot have initial; use answerOption.initialSelected",
            );
        }
        if item.initial.len() > 1 && !item.is_repeating() {
            self.report(
                item,
                "que-13: only a repeating item can have more than one initial value",
            );
        }
        let kinds = item.answer_kinds();
        for initial in &item.initial {
            if !kinds.contains(&initial.value.kind()) {
                let message = format!("an initial value must be {}", kinds_list(&kinds, "value"));
                self.report(item, message);
            } else if let Some(problem) = initial.value.format_problem() {
                self.report(item, format!("an initial value is not valid: {problem}"));
            }
        }
    }

    fn max_length(&mut self, item: &Item) {
        let Some(max_length) = item.max_length else {
            return;
        };
        if !MAX_LENGTH_TYPES.contains(&item.item_type) {
            self.report(
                item,
                "que-10: maxLength is only allowed on boolean, decimal, integer, string, text, url and open-choice items",
            );
        }
        if max_length == 0 {
            self.report(item, "maxLength must be at least 1");
        }
    }

    fn conditions(&mut self, item: &Item) {
        if item.enable_when.len() > 1 && item.enable_behavior.is_none() {
            self.report(
                item,
                "que-12: more than one enableWhen needs an enableBehavior",
            );
        }
        for condition in &item.enable_when {
            let mut problems = Vec::new();
            if condition.operator == EnableOperator::Exists
                && condition.answer.kind() != ValueKind::Boolean
            {
                problems.push("que-7: an exists enableWhen needs answerBoolean".to_owned());
            }
            if let Some(problem) = condition.answer.format_problem() {
                problems.push(format!("an enableWhen answer is not valid: {problem}"));
            }
            problems.extend(self.condition_target(item, &condition.question));
            if let Some(question) = self.index.get(&condition.question).map(|entry| entry.item)
                && condition.operator != EnableOperator::Exists
            {
                problems.extend(condition_type(
                    condition.operator,
                    &condition.answer,
                    question,
                ));
            }
            for problem in problems {
                self.report(item, problem);
            }
        }
    }

    fn condition_target(&self, item: &Item, question: &str) -> Option<String> {
        if question == item.link_id {
            return Some("an enableWhen cannot refer to its own item".to_owned());
        }
        match self.index.get(question) {
            None => Some(format!(
                "an enableWhen refers to {question:?}, which is not in the form"
            )),
            Some(entry) if !entry.item.item_type.is_question() => Some(format!(
                "an enableWhen refers to {question:?}, which is a {} item and has no answers",
                entry.item.item_type.code()
            )),
            Some(_) => None,
        }
    }
}

/// What is wrong with comparing `question`'s answers to `answer` with
/// `operator`, if anything.
fn condition_type(
    operator: EnableOperator,
    answer: &AnswerValue,
    question: &Item,
) -> Option<String> {
    let kinds = question.answer_kinds();
    if !kinds.contains(&answer.kind()) {
        return Some(format!(
            "an enableWhen on {:?} must have {}",
            question.link_id,
            kinds_list(&kinds, "answer")
        ));
    }
    if operator.is_ordering() && !answer.kind().is_ordered() {
        return Some(format!(
            "the enableWhen operator {} needs a number, date, time or quantity",
            operator.code()
        ));
    }
    None
}

fn has_initial_answer(item: &Item) -> bool {
    !item.initial.is_empty()
        || item
            .answer_option
            .iter()
            .any(|option| option.initial_selected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn form(items: Value) -> FormDefinition {
        serde_json::from_value(json!({"title": "Intake", "item": items})).unwrap()
    }

    /// The problems of a form with `items`, as (linkId, message) pairs.
    fn problems(items: Value) -> Vec<(Option<String>, String)> {
        match form(items).check() {
            Ok(()) => Vec::new(),
            Err(problems) => problems
                .into_iter()
                .map(|problem| (problem.link_id, problem.message))
                .collect(),
        }
    }

    /// Asserts that `items` fail exactly one check, on `link_id`, whose
    /// message starts with `start`.
    fn assert_fails(items: Value, link_id: &str, start: &str) {
        let found = problems(items);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0.as_deref(), Some(link_id), "{found:?}");
        assert!(found[0].1.starts_with(start), "{found:?}");
    }

    #[test]
    fn the_sample_form_passes_every_check() {
        assert_eq!(crate::sample::form().check(), Ok(()));
    }

    #[test]
    fn a_form_needs_a_title_and_an_item() {
        let form: FormDefinition = serde_json::from_value(json!({"title": " "})).unwrap();

        let problems = form.check().unwrap_err();

        assert_eq!(problems.len(), 2);
        assert!(problems.iter().all(|problem| problem.link_id.is_none()));
    }

    #[test]
    fn que_1_a_group_without_items_fails() {
        assert_fails(json!([{"linkId": "g", "type": "group"}]), "g", "que-1");
    }

    #[test]
    fn que_1_a_display_item_with_items_fails() {
        assert_fails(
            json!([{"linkId": "d", "type": "display", "item": [{"linkId": "q", "type": "string"}]}]),
            "d",
            "que-1",
        );
    }

    #[test]
    fn que_2_a_repeated_link_id_fails() {
        assert_fails(
            json!([
                {"linkId": "q", "type": "string"},
                {"linkId": "g", "type": "group", "item": [{"linkId": "q", "type": "integer"}]}
            ]),
            "q",
            "que-2",
        );
    }

    #[test]
    fn que_3_a_display_item_with_a_code_fails() {
        assert_fails(
            json!([{"linkId": "d", "type": "display", "code": [{"system": "http://loinc.org", "code": "1-8"}]}]),
            "d",
            "que-3",
        );
    }

    #[test]
    fn que_4_answer_option_and_answer_value_set_together_fail() {
        let found = problems(json!([{
            "linkId": "c", "type": "choice",
            "answerOption": [{"valueString": "a"}],
            "answerValueSet": "http://example.org/vs"
        }]));

        assert!(
            found.iter().any(|(link_id, message)| {
                link_id.as_deref() == Some("c") && message.starts_with("que-4")
            }),
            "{found:?}"
        );
    }

    #[test]
    fn que_5_options_on_a_string_item_fail() {
        assert_fails(
            json!([{"linkId": "s", "type": "string", "answerOption": [{"valueString": "a"}]}]),
            "s",
            "que-5",
        );
    }

    #[test]
    fn an_answer_value_set_is_refused_as_unsupported() {
        assert_fails(
            json!([{"linkId": "c", "type": "open-choice", "answerValueSet": "http://example.org/vs"}]),
            "c",
            "answerValueSet is not supported",
        );
    }

    #[test]
    fn que_6_a_required_display_item_fails() {
        assert_fails(
            json!([{"linkId": "d", "type": "display", "required": true}]),
            "d",
            "que-6",
        );
    }

    #[test]
    fn que_6_a_repeating_display_item_fails() {
        assert_fails(
            json!([{"linkId": "d", "type": "display", "repeats": false}]),
            "d",
            "que-6",
        );
    }

    #[test]
    fn que_7_an_exists_condition_without_a_boolean_fails() {
        assert_fails(
            json!([
                {"linkId": "a", "type": "integer"},
                {"linkId": "b", "type": "string", "enableWhen": [
                    {"question": "a", "operator": "exists", "answerInteger": 1}
                ]}
            ]),
            "b",
            "que-7",
        );
    }

    #[test]
    fn que_8_an_initial_value_on_a_group_fails() {
        assert_fails(
            json!([{"linkId": "g", "type": "group", "initial": [{"valueString": "x"}],
                    "item": [{"linkId": "q", "type": "string"}]}]),
            "g",
            "que-8",
        );
    }

    #[test]
    fn que_9_a_read_only_display_item_fails() {
        assert_fails(
            json!([{"linkId": "d", "type": "display", "readOnly": true}]),
            "d",
            "que-9",
        );
    }

    #[test]
    fn que_10_max_length_on_a_date_fails() {
        assert_fails(
            json!([{"linkId": "d", "type": "date", "maxLength": 10}]),
            "d",
            "que-10",
        );
    }

    #[test]
    fn que_11_options_with_an_initial_value_fail() {
        assert_fails(
            json!([{"linkId": "c", "type": "choice",
                    "answerOption": [{"valueString": "a"}], "initial": [{"valueString": "a"}]}]),
            "c",
            "que-11",
        );
    }

    #[test]
    fn que_12_two_conditions_without_an_enable_behavior_fail() {
        assert_fails(
            json!([
                {"linkId": "a", "type": "boolean"},
                {"linkId": "b", "type": "string", "enableWhen": [
                    {"question": "a", "operator": "=", "answerBoolean": true},
                    {"question": "a", "operator": "exists", "answerBoolean": true}
                ]}
            ]),
            "b",
            "que-12",
        );
    }

    #[test]
    fn que_13_two_initial_values_on_a_non_repeating_item_fail() {
        assert_fails(
            json!([{"linkId": "s", "type": "string",
                    "initial": [{"valueString": "a"}, {"valueString": "b"}]}]),
            "s",
            "que-13",
        );
    }

    #[test]
    fn que_13_two_selected_options_on_a_non_repeating_item_fail() {
        assert_fails(
            json!([{"linkId": "c", "type": "choice", "answerOption": [
                {"valueString": "a", "initialSelected": true},
                {"valueString": "b", "initialSelected": true}
            ]}]),
            "c",
            "que-13",
        );
    }

    #[test]
    fn an_enable_when_on_an_unknown_item_fails() {
        assert_fails(
            json!([{"linkId": "b", "type": "string", "enableWhen": [
                {"question": "nowhere", "operator": "exists", "answerBoolean": true}
            ]}]),
            "b",
            "an enableWhen refers to \"nowhere\"",
        );
    }

    #[test]
    fn an_enable_when_on_its_own_item_fails() {
        assert_fails(
            json!([{"linkId": "b", "type": "string", "enableWhen": [
                {"question": "b", "operator": "exists", "answerBoolean": true}
            ]}]),
            "b",
            "an enableWhen cannot refer to its own item",
        );
    }

    #[test]
    fn an_enable_when_on_a_group_fails() {
        assert_fails(
            json!([
                {"linkId": "g", "type": "group", "item": [{"linkId": "q", "type": "string"}]},
                {"linkId": "b", "type": "string", "enableWhen": [
                    {"question": "g", "operator": "exists", "answerBoolean": true}
                ]}
            ]),
            "b",
            "an enableWhen refers to \"g\", which is a group item",
        );
    }

    #[test]
    fn an_enable_when_answer_of_the_wrong_type_fails() {
        assert_fails(
            json!([
                {"linkId": "age", "type": "integer"},
                {"linkId": "b", "type": "string", "enableWhen": [
                    {"question": "age", "operator": "=", "answerString": "18"}
                ]}
            ]),
            "b",
            "an enableWhen on \"age\" must have answerInteger",
        );
    }

    #[test]
    fn an_ordering_operator_on_a_coded_question_fails() {
        assert_fails(
            json!([
                {"linkId": "c", "type": "choice", "answerOption": [{"valueCoding": {"code": "x"}}]},
                {"linkId": "b", "type": "string", "enableWhen": [
                    {"question": "c", "operator": ">", "answerCoding": {"code": "x"}}
                ]}
            ]),
            "b",
            "the enableWhen operator > needs",
        );
    }

    #[test]
    fn an_initial_value_of_the_wrong_type_fails() {
        assert_fails(
            json!([{"linkId": "born", "type": "date", "initial": [{"valueString": "yesterday"}]}]),
            "born",
            "an initial value must be valueDate",
        );
    }

    #[test]
    fn a_malformed_initial_date_fails() {
        assert_fails(
            json!([{"linkId": "born", "type": "date", "initial": [{"valueDate": "2024-02-30"}]}]),
            "born",
            "an initial value is not valid: expected a date",
        );
    }

    #[test]
    fn a_coding_option_without_a_code_fails() {
        assert_fails(
            json!([{"linkId": "c", "type": "choice", "answerOption": [
                {"valueCoding": {"display": "Something"}}
            ]}]),
            "c",
            "an answerOption is not valid: a coding needs a code",
        );
    }

    #[test]
    fn a_choice_item_without_options_fails() {
        assert_fails(
            json!([{"linkId": "c", "type": "choice"}]),
            "c",
            "a choice item needs",
        );
    }

    #[test]
    fn a_required_read_only_item_without_an_initial_value_fails() {
        assert_fails(
            json!([{"linkId": "s", "type": "string", "required": true, "readOnly": true}]),
            "s",
            "a required readOnly item needs an initial value",
        );
    }

    #[test]
    fn a_zero_max_length_fails() {
        assert_fails(
            json!([{"linkId": "s", "type": "string", "maxLength": 0}]),
            "s",
            "maxLength must be at least 1",
        );
    }
}
