//! [`validate`]: whether a response matches the form version it answers.
//!
//! A `completed` response is checked in full:
//!
//! - every response item's linkId is an item of the form, at the place the
//!   form has it (a group's members inside the group, a question's nested
//!   items inside its answer), and no item occurs twice unless it is a
//!   repeating group;
//! - every answer has the item's type (`valueDate` for a date item...), in a
//!   valid format (dates exist, dateTimes with a time have a zone, a url item
//!   is answered with an absolute URL, integers fit FHIR's 32 bits);
//! - a required item that is enabled has an answer (a group: an answer
//!   somewhere inside it). `required` holds wherever the item is enabled, also
//!   inside an optional group that was left out entirely: a clinic marks a
//!   question required because it needs the answer;
//! - a disabled item (enableWhen, see the `enablement` module) has no
//!   answers, and neither does anything inside it; display items never have
//!   answers;
//! - an item that does not repeat has at most one answer;
//! - a choice answer is one of the item's answerOptions (codings matched by
//!   system and code, other values by value); an open-choice answer is an
//!   option or free text in `valueString`;
//! - text answers (`valueString`, `valueUri`) are at most maxLength characters
//!   long. maxLength on boolean, decimal and integer items, which que-10
//!   allows, checks nothing: those answers are numbers whose written length
//!   the parsed value no longer has;
//! - a readOnly item is answered, if at all, with one of its initial values
//!   (or initially selected options): the client echoes the value the form
//!   filled in, and nothing else. A readOnly item without one takes no answer.
//!
//! An `in-progress` response is a draft: it is checked for everything above
//! except that required items may be missing and enableWhen is not evaluated
//! (a draft may hold answers the respondent is about to un-enable).
//!
//! Messages name what was expected, never the answer: "expected a date", not
//! the date that was given.

use crate::definition::{FormDefinition, Item, ItemType};
use crate::enablement::{FormIndex, Position};
use crate::primitive;
use crate::problem::Problem;
use crate::response::{ResponseContent, ResponseItem, ResponseStatus};
use crate::value::{AnswerValue, kinds_list};

/// Validates `response` against `form`; returns every problem found.
pub fn validate(form: &FormDefinition, response: &ResponseContent) -> Result<(), Vec<Problem>> {
    let mut validator = Validator {
        index: FormIndex::new(form),
        completed: response.status == ResponseStatus::Completed,
        problems: Vec::new(),
    };
    let mut position = Position::top(&response.item);
    validator.items(&form.item, &response.item, &mut position);
    // Several bad answers to one item would otherwise repeat its problem.
    validator.problems.dedup();
    if validator.problems.is_empty() {
        Ok(())
    } else {
        Err(validator.problems)
    }
}

struct Validator<'form> {
    index: FormIndex<'form>,
    completed: bool,
    problems: Vec<Problem>,
}

impl<'form> Validator<'form> {
    fn report(&mut self, link_id: &str, message: impl Into<String>) {
        self.problems.push(Problem::at(link_id, message));
    }

    /// Checks the response items `answered` against the form items `items`
    /// that belong at the same place.
    fn items<'response>(
        &mut self,
        items: &'form [Item],
        answered: &'response [ResponseItem],
        position: &mut Position<'form, 'response>,
    ) {
        for response_item in answered {
            if !items
                .iter()
                .any(|item| item.link_id == response_item.link_id)
            {
                let message = match self.index.get(&response_item.link_id) {
                    Some(_) => "this item is in the form, but not at this place",
                    None => "this item is not in the form",
                };
                self.report(&response_item.link_id, message);
            }
        }
        for item in items {
            let occurrences: Vec<&'response ResponseItem> = answered
                .iter()
                .filter(|response_item| response_item.link_id == item.link_id)
                .collect();
            self.item(item, &occurrences, position);
        }
    }

    fn item<'response>(
        &mut self,
        item: &'form Item,
        occurrences: &[&'response ResponseItem],
        position: &mut Position<'form, 'response>,
    ) {
        let is_repeating_group = item.item_type == ItemType::Group && item.is_repeating();
        if occurrences.len() > 1 && !is_repeating_group {
            self.report(
                &item.link_id,
                "this item occurs more than once; it does not repeat, or its answers belong in one item",
            );
        }
        let answered = occurrences.iter().any(|occurrence| has_answers(occurrence));
        if self.completed {
            if !position.is_enabled(&self.index, item) {
                if answered {
                    self.report(
                        &item.link_id,
                        "this item is disabled by its enableWhen conditions, so it must not be answered",
                    );
                }
                return;
            }
            if item.is_required() && !answered {
                self.report(&item.link_id, "required, but not answered");
            }
            if occurrences.is_empty() && item.item_type == ItemType::Group {
                // A left-out group's required members are still required.
                position.enter(item, &[]);
                self.items(&item.item, &[], position);
                position.leave();
            }
        }
        for occurrence in occurrences {
            self.occurrence(item, occurrence, position);
        }
    }

    fn occurrence<'response>(
        &mut self,
        item: &'form Item,
        occurrence: &'response ResponseItem,
        position: &mut Position<'form, 'response>,
    ) {
        match item.item_type {
            ItemType::Display => {
                if has_answers(occurrence) || !occurrence.item.is_empty() {
                    self.report(&item.link_id, "a display item takes no answers");
                }
            }
            ItemType::Group => {
                if !occurrence.answer.is_empty() {
                    self.report(
                        &item.link_id,
                        "a group takes no answers of its own; its members go in its item list",
                    );
                }
                position.enter(item, &occurrence.item);
                self.items(&item.item, &occurrence.item, position);
                position.leave();
            }
            _ => self.question(item, occurrence, position),
        }
    }

    fn question<'response>(
        &mut self,
        item: &'form Item,
        occurrence: &'response ResponseItem,
        position: &mut Position<'form, 'response>,
    ) {
        if !occurrence.item.is_empty() {
            self.report(
                &item.link_id,
                "the nested items of a question belong inside its answer, not beside it",
            );
        }
        if occurrence.answer.len() > 1 && !item.is_repeating() {
            self.report(
                &item.link_id,
                "only one answer is allowed; this item does not repeat",
            );
        }
        for answer in &occurrence.answer {
            if let Some(message) = answer_problem(item, &answer.value) {
                self.report(&item.link_id, message);
            }
            if item.item.is_empty() {
                if !answer.item.is_empty() {
                    self.report(&item.link_id, "this question has no nested items");
                }
                continue;
            }
            position.enter(item, &answer.item);
            self.items(&item.item, &answer.item, position);
            position.leave();
        }
    }
}

/// What is wrong with `value` as an answer to `item`, if anything. The
/// message never contains the value.
fn answer_problem(item: &Item, value: &AnswerValue) -> Option<String> {
    let kinds = item.answer_kinds();
    if !kinds.contains(&value.kind()) {
        return Some(format!("expected {}", kinds_list(&kinds, "value")));
    }
    if let Some(problem) = value.format_problem() {
        return Some(problem.to_owned());
    }
    match value {
        AnswerValue::Uri(text) if item.item_type == ItemType::Url && !primitive::is_url(text) => {
            return Some("expected an absolute URL, such as https://example.org".to_owned());
        }
        AnswerValue::String(text) | AnswerValue::Uri(text) => {
            if let Some(max_length) = item.max_length
                && text.chars().count() > max_length as usize
            {
                return Some(format!(
                    "the answer is longer than the maximum of {max_length} characters"
                ));
            }
        }
        _ => {}
    }
    let is_option = || {
        item.answer_option
            .iter()
            .any(|option| option.value.same_as(value))
    };
    let free_text =
        item.item_type == ItemType::OpenChoice && matches!(value, AnswerValue::String(_));
    let is_choice = matches!(item.item_type, ItemType::Choice | ItemType::OpenChoice);
    if is_choice && !free_text && !is_option() {
        return Some("the answer is not one of the item's answer options".to_owned());
    }
    if item.is_read_only() && !is_initial(item, value) {
        return Some(
            "this item is read-only: its only allowed answer is the form's initial value"
                .to_owned(),
        );
    }
    None
}

fn is_initial(item: &Item, value: &AnswerValue) -> bool {
    let initial = item.initial.iter().map(|initial| &initial.value);
    let selected = item
        .answer_option
        .iter()
        .filter(|option| option.initial_selected)
        .map(|option| &option.value);
    initial
        .chain(selected)
        .any(|allowed| allowed.same_as(value))
}

/// Whether a response item holds an answer anywhere inside it.
fn has_answers(item: &ResponseItem) -> bool {
    !item.answer.is_empty() || item.item.iter().any(has_answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use serde_json::{Value, json};

    fn problems_for(form: &FormDefinition, response: Value) -> Vec<Problem> {
        let response: ResponseContent = serde_json::from_value(response).unwrap();
        validate(form, &response).err().unwrap_or_default()
    }

    /// The sample's complete response with the top-level item `link_id`
    /// replaced by `replacement` (or removed, for `Value::Null`).
    fn sample_with(link_id: &str, replacement: Value) -> Value {
        let mut response = sample::completed_response();
        let items = response["item"].as_array_mut().unwrap();
        let at = items
            .iter()
            .position(|item| item["linkId"] == link_id)
            .unwrap();
        if replacement.is_null() {
            items.remove(at);
        } else {
            items[at] = replacement;
        }
        response
    }

    fn link_ids(problems: &[Problem]) -> Vec<&str> {
        problems
            .iter()
            .filter_map(|problem| problem.link_id.as_deref())
            .collect()
    }

    #[test]
    fn the_sample_response_is_valid() {
        let response: ResponseContent =
            serde_json::from_value(sample::completed_response()).unwrap();

        assert_eq!(validate(&sample::form(), &response), Ok(()));
    }

    #[test]
    fn a_missing_required_enabled_item_names_its_link_id() {
        let mut response = sample_with("smoker", Value::Null);
        response["item"]
            .as_array_mut()
            .unwrap()
            .retain(|item| item["linkId"] != "smoking");

        let problems = problems_for(&sample::form(), response);

        assert_eq!(link_ids(&problems), ["smoker"]);
        assert_eq!(problems[0].message, "required, but not answered");
    }

    #[test]
    fn a_missing_required_item_inside_an_enabled_group_names_its_link_id() {
        let smoking = json!({"linkId": "smoking", "item": [
            {"linkId": "quit-methods", "answer": [{"valueString": "gum"}]}
        ]});

        let problems = problems_for(&sample::form(), sample_with("smoking", smoking));

        assert_eq!(link_ids(&problems), ["packs-per-day"]);
    }

    #[test]
    fn a_required_item_of_a_left_out_group_is_still_required() {
        let problems = problems_for(&sample::form(), sample_with("smoking", Value::Null));

        assert_eq!(link_ids(&problems), ["packs-per-day"]);
    }

    #[test]
    fn a_required_item_under_a_disabled_condition_may_be_missing() {
        let mut response = sample_with("smoking", Value::Null);
        response["item"]
            .as_array_mut()
            .unwrap()
            .retain(|item| item["linkId"] != "notes");
        let not_a_smoker = json!({"linkId": "smoker", "answer": [{"valueBoolean": false}]});
        let items = response["item"].as_array_mut().unwrap();
        let at = items
            .iter()
            .position(|item| item["linkId"] == "smoker")
            .unwrap();
        items[at] = not_a_smoker;

        let problems = problems_for(&sample::form(), response);

        assert_eq!(problems, []);
    }

    #[test]
    fn an_answer_of_the_wrong_type_names_its_link_id() {
        let weight = json!({"linkId": "weight", "answer": [{"valueString": "heavy"}]});

        let problems = problems_for(&sample::form(), sample_with("weight", weight));

        assert_eq!(link_ids(&problems), ["weight"]);
        assert_eq!(problems[0].message, "expected valueQuantity");
    }

    #[test]
    fn a_malformed_date_names_its_link_id() {
        let patient = json!({"linkId": "patient", "item": [
            {"linkId": "name", "answer": [{"valueString": "Ada"}]},
            {"linkId": "birth-date", "answer": [{"valueDate": "1990-13-45"}]}
        ]});

        let problems = problems_for(&sample::form(), sample_with("patient", patient));

        assert_eq!(link_ids(&problems), ["birth-date"]);
        assert!(problems[0].message.starts_with("expected a date"));
    }

    #[test]
    fn an_answer_not_among_the_options_names_its_link_id() {
        let allergies = json!({"linkId": "allergies", "answer": [
            {"valueCoding": {"system": "http://example.org/allergy", "code": "latex"}}
        ]});

        let problems = problems_for(&sample::form(), sample_with("allergies", allergies));

        assert_eq!(link_ids(&problems), ["allergies"]);
        assert!(
            problems[0]
                .message
                .contains("not one of the item's answer options")
        );
    }

    #[test]
    fn a_coding_with_the_right_code_in_another_system_is_not_an_option() {
        let allergies = json!({"linkId": "allergies", "answer": [
            {"valueCoding": {"system": "http://example.org/other", "code": "peanut"}}
        ]});

        let problems = problems_for(&sample::form(), sample_with("allergies", allergies));

        assert_eq!(link_ids(&problems), ["allergies"]);
    }

    #[test]
    fn open_choice_takes_free_text_but_not_an_unknown_coding() {
        let smoking = |answer: Value| {
            json!({"linkId": "smoking", "item": [
                {"linkId": "packs-per-day", "answer": [{"valueInteger": 1}]},
                {"linkId": "quit-methods", "answer": [answer]}
            ]})
        };

        let free_text = smoking(json!({"valueString": "hypnosis"}));
        let unknown_coding = smoking(json!({"valueCoding": {"code": "hypnosis"}}));

        assert_eq!(
            problems_for(&sample::form(), sample_with("smoking", free_text)),
            []
        );
        let problems = problems_for(&sample::form(), sample_with("smoking", unknown_coding));
        assert_eq!(link_ids(&problems), ["quit-methods"]);
    }

    #[test]
    fn a_too_long_answer_names_its_link_id() {
        let patient = json!({"linkId": "patient", "item": [
            {"linkId": "name", "answer": [{"valueString": "Ada Augusta King, Countess of Lovelace"}]},
            {"linkId": "birth-date", "answer": [{"valueDate": "1815-12-10"}]}
        ]});

        let problems = problems_for(&sample::form(), sample_with("patient", patient));

        assert_eq!(link_ids(&problems), ["name"]);
        assert!(problems[0].message.contains("maximum of 20 characters"));
    }

    #[test]
    fn several_bad_answers_to_one_item_give_one_problem() {
        let allergies = json!({"linkId": "allergies", "answer": [
            {"valueCoding": {"system": "http://example.org/allergy", "code": "latex"}},
            {"valueCoding": {"system": "http://example.org/allergy", "code": "pollen"}}
        ]});

        let problems = problems_for(&sample::form(), sample_with("allergies", allergies));

        assert_eq!(link_ids(&problems), ["allergies"]);
    }

    #[test]
    fn two_answers_to_a_non_repeating_item_name_its_link_id() {
        let smoker = json!({"linkId": "smoker", "answer": [
            {"valueBoolean": true}, {"valueBoolean": false}
        ]});

        let problems = problems_for(&sample::form(), sample_with("smoker", smoker));

        assert_eq!(link_ids(&problems), ["smoker"]);
        assert!(problems[0].message.contains("does not repeat"));
    }

    #[test]
    fn the_same_item_twice_names_its_link_id() {
        let mut response = sample::completed_response();
        let weight =
            json!({"linkId": "weight", "answer": [{"valueQuantity": {"value": 70, "unit": "kg"}}]});
        response["item"].as_array_mut().unwrap().push(weight);

        let problems = problems_for(&sample::form(), response);

        assert_eq!(link_ids(&problems), ["weight"]);
        assert!(problems[0].message.contains("more than once"));
    }

    #[test]
    fn an_answer_to_a_disabled_item_names_its_link_id() {
        let not_a_smoker = json!({"linkId": "smoker", "answer": [{"valueBoolean": false}]});
        let mut response = sample_with("smoker", not_a_smoker);
        response["item"]
            .as_array_mut()
            .unwrap()
            .retain(|item| item["linkId"] != "notes");

        let problems = problems_for(&sample::form(), response);

        assert_eq!(link_ids(&problems), ["smoking"]);
        assert!(problems[0].message.contains("disabled"));
    }

    #[test]
    fn an_answer_to_a_display_item_names_its_link_id() {
        let mut response = sample::completed_response();
        let intro = json!({"linkId": "intro", "answer": [{"valueString": "read it"}]});
        response["item"].as_array_mut().unwrap().insert(0, intro);

        let problems = problems_for(&sample::form(), response);

        assert_eq!(link_ids(&problems), ["intro"]);
        assert!(problems[0].message.contains("display item"));
    }

    #[test]
    fn an_unknown_link_id_is_named() {
        let mut response = sample::completed_response();
        let stray = json!({"linkId": "shoe-size", "answer": [{"valueInteger": 42}]});
        response["item"].as_array_mut().unwrap().push(stray);

        let problems = problems_for(&sample::form(), response);

        assert_eq!(link_ids(&problems), ["shoe-size"]);
        assert_eq!(problems[0].message, "this item is not in the form");
    }

    #[test]
    fn a_group_member_answered_outside_its_group_is_named() {
        let mut response = sample::completed_response();
        let stray = json!({"linkId": "packs-per-day", "answer": [{"valueInteger": 1}]});
        response["item"].as_array_mut().unwrap().push(stray);

        let problems = problems_for(&sample::form(), response);

        assert_eq!(link_ids(&problems), ["packs-per-day"]);
        assert!(problems[0].message.contains("not at this place"));
    }

    #[test]
    fn a_read_only_item_accepts_only_its_initial_value() {
        let echoed = json!({"linkId": "clinic", "answer": [{"valueString": "Main Street Clinic"}]});
        let changed = json!({"linkId": "clinic", "answer": [{"valueString": "Elsewhere"}]});

        assert_eq!(
            problems_for(&sample::form(), sample_with("clinic", echoed)),
            []
        );
        let problems = problems_for(&sample::form(), sample_with("clinic", changed));
        assert_eq!(link_ids(&problems), ["clinic"]);
    }

    #[test]
    fn a_url_item_needs_an_absolute_url() {
        let patient = json!({"linkId": "patient", "item": [
            {"linkId": "name", "answer": [{"valueString": "Ada"}]},
            {"linkId": "birth-date", "answer": [{"valueDate": "1815-12-10"}]},
            {"linkId": "website", "answer": [{"valueUri": "ada.example"}]}
        ]});

        let problems = problems_for(&sample::form(), sample_with("patient", patient));

        assert_eq!(link_ids(&problems), ["website"]);
    }

    #[test]
    fn an_in_progress_response_skips_required_checks() {
        let response = json!({"status": "in-progress", "item": [
            {"linkId": "patient", "item": [{"linkId": "name", "answer": [{"valueString": "Ada"}]}]}
        ]});

        assert_eq!(problems_for(&sample::form(), response), []);
    }

    #[test]
    fn an_in_progress_response_may_hold_answers_to_disabled_items() {
        let response = json!({"status": "in-progress", "item": [
            {"linkId": "smoker", "answer": [{"valueBoolean": false}]},
            {"linkId": "smoking", "item": [{"linkId": "packs-per-day", "answer": [{"valueInteger": 3}]}]}
        ]});

        assert_eq!(problems_for(&sample::form(), response), []);
    }

    #[test]
    fn an_in_progress_response_still_gets_its_types_and_link_ids_checked() {
        let response = json!({"status": "in-progress", "item": [
            {"linkId": "smoker", "answer": [{"valueString": "yes"}]},
            {"linkId": "shoe-size", "answer": [{"valueInteger": 42}]}
        ]});

        let problems = problems_for(&sample::form(), response);

        assert_eq!(link_ids(&problems), ["shoe-size", "smoker"]);
    }

    #[test]
    fn a_repeating_group_may_occur_several_times_and_each_occurrence_is_checked() {
        let form: FormDefinition = serde_json::from_value(json!({
            "title": "Family",
            "item": [{"linkId": "child", "type": "group", "repeats": true, "item": [
                {"linkId": "child-name", "type": "string", "required": true}
            ]}]
        }))
        .unwrap();
        let response = json!({"status": "completed", "item": [
            {"linkId": "child", "item": [{"linkId": "child-name", "answer": [{"valueString": "A"}]}]},
            {"linkId": "child", "item": []}
        ]});

        let problems = problems_for(&form, response);

        assert_eq!(link_ids(&problems), ["child-name"]);
    }

    #[test]
    fn a_question_s_nested_items_are_checked_inside_its_answer() {
        let form: FormDefinition = serde_json::from_value(json!({
            "title": "Meds",
            "item": [{"linkId": "takes-meds", "type": "boolean", "item": [
                {"linkId": "which", "type": "string", "required": true}
            ]}]
        }))
        .unwrap();
        let response = json!({"status": "completed", "item": [
            {"linkId": "takes-meds", "answer": [{"valueBoolean": true, "item": [
                {"linkId": "which", "answer": [{"valueInteger": 3}]}
            ]}]}
        ]});

        let problems = problems_for(&form, response);

        assert_eq!(link_ids(&problems), ["which"]);
        assert_eq!(problems[0].message, "expected valueString");
    }

    #[test]
    fn no_problem_message_contains_the_offending_value() {
        let secrets = [
            "Ada Augusta King, Countess of Lovelace",
            "1990-13-45",
            "http//not a url",
            "latex-secret",
            "hypnosis-secret",
            "123456789012",
            "Elsewhere-secret",
        ];
        let response = json!({"status": "completed", "item": [
            {"linkId": "intro", "answer": [{"valueString": secrets[4]}]},
            {"linkId": "patient", "item": [
                {"linkId": "name", "answer": [{"valueString": secrets[0]}]},
                {"linkId": "birth-date", "answer": [{"valueDate": secrets[1]}]},
                {"linkId": "website", "answer": [{"valueUri": secrets[2]}]}
            ]},
            {"linkId": "smoker", "answer": [{"valueBoolean": false}]},
            {"linkId": "smoking", "item": [
                {"linkId": "packs-per-day", "answer": [{"valueInteger": 123_456_789_012_i64}]}
            ]},
            {"linkId": "allergies", "answer": [{"valueCoding": {"code": secrets[3]}}]},
            {"linkId": "clinic", "answer": [{"valueString": secrets[6]}]},
            {"linkId": "temperature", "answer": [{"valueString": secrets[4]}]}
        ]});
        let in_progress = {
            let mut draft = response.clone();
            draft["status"] = json!("in-progress");
            draft
        };

        let mut problems = problems_for(&sample::form(), response);
        problems.extend(problems_for(&sample::form(), in_progress));

        assert!(problems.len() >= 8, "{problems:?}");
        for problem in &problems {
            for secret in secrets {
                assert!(
                    !problem.message.contains(secret),
                    "{problem} contains {secret}"
                );
            }
        }
    }
}
