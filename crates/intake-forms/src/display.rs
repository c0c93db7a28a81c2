//! [`enabled_items`]: what a rendering of a response shows, item by item, in
//! form order: the PDF's body.
//!
//! Only enabled items appear. A group appears once per occurrence in the
//! response (once, with empty questions, when it was left out), its members
//! one level deeper. A question's nested items appear under it, once per
//! answer they were given in. Answers are turned into text here (`Yes`, a
//! coding's display, `61.5 kg`) so that the PDF renderer needs no knowledge of
//! FHIR.

use crate::definition::{FormDefinition, Item, ItemType};
use crate::enablement::{FormIndex, Position};
use crate::response::{Answer, ResponseContent, ResponseItem};
use crate::value::AnswerValue;

/// One line of a rendered response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayItem {
    /// Nesting depth: 0 for top-level items, 1 inside a group, and so on.
    pub depth: usize,
    /// The form item's linkId.
    pub link_id: String,
    /// The item's text, or its linkId when the form gives none.
    pub text: String,
    /// What kind of line this is.
    pub kind: DisplayKind,
    /// The answers as a person reads them; empty when unanswered, and always
    /// for groups and display items.
    pub answers: Vec<String>,
}

/// What kind of line a [`DisplayItem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisplayKind {
    /// A group heading; its members follow, one level deeper.
    Group,
    /// A question and its answers.
    Question,
    /// Text from the form.
    Display,
}

/// The enabled items of `form` with `response`'s answers, in form order.
pub fn enabled_items(form: &FormDefinition, response: &ResponseContent) -> Vec<DisplayItem> {
    let mut lister = Lister {
        index: FormIndex::new(form),
        lines: Vec::new(),
    };
    let mut position = Position::top(&response.item);
    lister.items(&form.item, &response.item, &mut position);
    lister.lines
}

struct Lister<'form> {
    index: FormIndex<'form>,
    lines: Vec<DisplayItem>,
}

impl<'form> Lister<'form> {
    fn items<'response>(
        &mut self,
        items: &'form [Item],
        answered: &'response [ResponseItem],
        position: &mut Position<'form, 'response>,
    ) {
        for item in items {
            if !position.is_enabled(&self.index, item) {
                continue;
            }
            let occurrences: Vec<&'response ResponseItem> = answered
                .iter()
                .filter(|response_item| response_item.link_id == item.link_id)
                .collect();
            match item.item_type {
                ItemType::Display => self.line(item, position, DisplayKind::Display, Vec::new()),
                ItemType::Group => self.group(item, &occurrences, position),
                _ => self.question(item, &occurrences, position),
            }
        }
    }

    fn group<'response>(
        &mut self,
        item: &'form Item,
        occurrences: &[&'response ResponseItem],
        position: &mut Position<'form, 'response>,
    ) {
        let member_lists: Vec<&'response [ResponseItem]> = if occurrences.is_empty() {
            vec![&[]]
        } else {
            occurrences
                .iter()
                .map(|occurrence| occurrence.item.as_slice())
                .collect()
        };
        for members in member_lists {
            self.line(item, position, DisplayKind::Group, Vec::new());
            position.enter(item, members);
            self.items(&item.item, members, position);
            position.leave();
        }
    }

    fn question<'response>(
        &mut self,
        item: &'form Item,
        occurrences: &[&'response ResponseItem],
        position: &mut Position<'form, 'response>,
    ) {
        let answers: Vec<&'response Answer> = occurrences
            .iter()
            .flat_map(|occurrence| &occurrence.answer)
            .collect();
        let texts = answers
            .iter()
            .map(|answer| answer_text(item, &answer.value))
            .collect();
        self.line(item, position, DisplayKind::Question, texts);
        if item.item.is_empty() {
            return;
        }
        for answer in answers {
            position.enter(item, &answer.item);
            self.items(&item.item, &answer.item, position);
            position.leave();
        }
    }

    fn line(
        &mut self,
        item: &Item,
        position: &Position<'_, '_>,
        kind: DisplayKind,
        answers: Vec<String>,
    ) {
        self.lines.push(DisplayItem {
            depth: position.path.len(),
            link_id: item.link_id.clone(),
            text: item.text.clone().unwrap_or_else(|| item.link_id.clone()),
            kind,
            answers,
        });
    }
}

/// The answer as text; a coding without a display takes the display of the
/// matching answer option.
fn answer_text(item: &Item, value: &AnswerValue) -> String {
    if let AnswerValue::Coding(coding) = value
        && coding.display.is_none()
    {
        let option_display = item
            .answer_option
            .iter()
            .find_map(|option| match &option.value {
                AnswerValue::Coding(option_coding) if option.value.same_as(value) => {
                    option_coding.display.clone()
                }
                _ => None,
            });
        if let Some(display) = option_display {
            return display;
        }
    }
    value.human_text()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use serde_json::json;

    fn lines(response: serde_json::Value) -> Vec<DisplayItem> {
        let response: ResponseContent = serde_json::from_value(response).unwrap();
        enabled_items(&sample::form(), &response)
    }

    #[test]
    fn enabled_items_follow_form_order_with_group_depth_and_readable_answers() {
        let lines = lines(sample::completed_response());

        let summary: Vec<(usize, &str, DisplayKind, Vec<&str>)> = lines
            .iter()
            .map(|line| {
                let answers = line.answers.iter().map(String::as_str).collect();
                (line.depth, line.link_id.as_str(), line.kind, answers)
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, "intro", DisplayKind::Display, vec![]),
                (0, "patient", DisplayKind::Group, vec![]),
                (1, "name", DisplayKind::Question, vec!["Ada Lovelace"]),
                (1, "birth-date", DisplayKind::Question, vec!["1815-12-10"]),
                (
                    1,
                    "website",
                    DisplayKind::Question,
                    vec!["https://ada.example/"]
                ),
                (0, "smoker", DisplayKind::Question, vec!["Yes"]),
                (0, "smoking", DisplayKind::Group, vec![]),
                (1, "packs-per-day", DisplayKind::Question, vec!["2"]),
                (
                    1,
                    "quit-methods",
                    DisplayKind::Question,
                    vec!["Nicotine patch", "cold turkey"]
                ),
                (0, "allergies", DisplayKind::Question, vec!["Peanuts"]),
                (0, "weight", DisplayKind::Question, vec!["61.5 kg"]),
                (
                    0,
                    "visit-time",
                    DisplayKind::Question,
                    vec!["2024-05-01T09:30:00+02:00"]
                ),
                (0, "wake-time", DisplayKind::Question, vec!["07:15:00"]),
                (0, "temperature", DisplayKind::Question, vec!["38.5"]),
                (
                    0,
                    "fever-notes",
                    DisplayKind::Question,
                    vec!["Since Tuesday."]
                ),
                (
                    0,
                    "clinic",
                    DisplayKind::Question,
                    vec!["Main Street Clinic"]
                ),
            ]
        );
        assert_eq!(lines[2].text, "Full name");
    }

    #[test]
    fn disabled_items_are_left_out() {
        let lines = lines(json!({"status": "completed", "item": [
            {"linkId": "smoker", "answer": [{"valueBoolean": false}]},
            {"linkId": "temperature", "answer": [{"valueDecimal": 36.6}]}
        ]}));

        let link_ids: Vec<&str> = lines.iter().map(|line| line.link_id.as_str()).collect();
        assert!(!link_ids.contains(&"smoking"));
        assert!(!link_ids.contains(&"packs-per-day"));
        assert!(!link_ids.contains(&"fever-notes"));
        assert!(
            link_ids.contains(&"name"),
            "unanswered enabled questions still show"
        );
    }

    #[test]
    fn each_occurrence_of_a_repeating_group_is_listed() {
        let form: FormDefinition = serde_json::from_value(json!({
            "title": "Family",
            "item": [{"linkId": "child", "type": "group", "text": "Child", "repeats": true, "item": [
                {"linkId": "child-name", "type": "string"}
            ]}]
        }))
        .unwrap();
        let response: ResponseContent = serde_json::from_value(json!({"status": "completed", "item": [
            {"linkId": "child", "item": [{"linkId": "child-name", "answer": [{"valueString": "A"}]}]},
            {"linkId": "child", "item": [{"linkId": "child-name", "answer": [{"valueString": "B"}]}]}
        ]}))
        .unwrap();

        let lines = enabled_items(&form, &response);

        let answers: Vec<_> = lines
            .iter()
            .map(|line| (line.depth, line.answers.clone()))
            .collect();
        assert_eq!(
            answers,
            [
                (0, vec![]),
                (1, vec!["A".to_owned()]),
                (0, vec![]),
                (1, vec!["B".to_owned()])
            ]
        );
    }
}
