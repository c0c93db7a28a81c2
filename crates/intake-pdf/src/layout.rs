//! Where everything goes: the page geometry, the text styles, the rows a
//! document is made of, and how rows are dealt out onto pages.
//!
//! Layout is the first of two passes. It turns a [`PdfDocument`] into rows
//! (one line of text, or a rule, each with its height) and then into pages.
//! Only when the page count is known does [`crate::draw`] write the pages,
//! so every footer can say "Page N of M".
//!
//! Rows carry `keep_with_next`, so a group heading is never the last line
//! of a page and a question is never separated from the first line of its
//! answer.

use crate::fonts::{Shaper, Weight};
use crate::text::{clean, truncate, wrap};
use crate::{PdfDocument, PdfItem, PdfItemKind};

/// A4 in points.
pub(crate) const PAGE_WIDTH: f32 = 595.28;
pub(crate) const PAGE_HEIGHT: f32 = 841.89;
/// 20 mm on either side.
pub(crate) const MARGIN_X: f32 = 56.7;
pub(crate) const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN_X;
const BODY_TOP: f32 = 56.7;
/// Rows end here; the footer lives below.
const BODY_BOTTOM: f32 = PAGE_HEIGHT - 72.0;
/// The footer: a rule, then two lines of small print.
pub(crate) const FOOTER_RULE_Y: f32 = PAGE_HEIGHT - 60.0;
pub(crate) const FOOTER_FIRST_BASELINE: f32 = PAGE_HEIGHT - 47.0;
pub(crate) const FOOTER_SECOND_BASELINE: f32 = PAGE_HEIGHT - 36.0;

/// How far each level of group nesting moves its items right.
const INDENT_STEP: f32 = 16.0;
/// Deeper nesting stops indenting, so text keeps a readable width.
const MAX_INDENT_DEPTH: usize = 8;
/// Answers sit this far right of their question.
const ANSWER_INDENT: f32 = 12.0;
/// The header's labels ("Respondent") sit in a column this wide.
const LABEL_COLUMN: f32 = 80.0;

/// Line height as a multiple of the font size.
const LINE_SPACING: f32 = 1.35;
/// Baseline below the top of a row, as a multiple of the font size: half
/// the leading plus DejaVu Sans's ascender (0.928 em).
const BASELINE_OFFSET: f32 = (LINE_SPACING - 1.164) / 2.0 + 0.928;

/// What a piece of text is, which decides its face, size and colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    Organization,
    Title,
    Subtitle,
    Label,
    Value,
    Group,
    Question,
    Answer,
    /// Display items, "(no answer)" and other quiet text.
    Muted,
    Footer,
}

impl Style {
    pub(crate) fn weight(self) -> Weight {
        match self {
            Style::Title | Style::Group | Style::Question => Weight::Bold,
            _ => Weight::Regular,
        }
    }

    pub(crate) fn size(self) -> f32 {
        match self {
            Style::Title => 17.0,
            Style::Group => 12.0,
            Style::Organization | Style::Subtitle | Style::Label => 9.5,
            Style::Footer => 7.5,
            Style::Value | Style::Question | Style::Answer | Style::Muted => 10.0,
        }
    }

    /// Red, green, blue.
    pub(crate) fn color(self) -> (u8, u8, u8) {
        match self {
            Style::Organization | Style::Subtitle | Style::Label => (85, 85, 85),
            Style::Muted | Style::Footer => (110, 110, 110),
            Style::Group => (20, 50, 90),
            _ => (0, 0, 0),
        }
    }

    fn line_height(self) -> f32 {
        self.size() * LINE_SPACING
    }
}

/// Something drawn on a row, at an absolute x.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Piece {
    Text {
        x: f32,
        text: String,
        style: Style,
    },
    /// A thin horizontal line through the middle of the row.
    Rule {
        x: f32,
        width: f32,
    },
}

/// One line of the document, not yet given a page.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    pub(crate) pieces: Vec<Piece>,
    pub(crate) height: f32,
    /// From the top of the row to the text's baseline.
    pub(crate) baseline: f32,
    /// Space above the row, dropped at the top of a page.
    pub(crate) space_before: f32,
    /// Whether the row must share a page with the row after it.
    pub(crate) keep_with_next: bool,
}

/// A row given its page and its top edge on that page.
#[derive(Debug)]
pub(crate) struct PlacedRow {
    pub(crate) top: f32,
    pub(crate) row: Row,
}

/// Measures text in the embedded fonts.
pub(crate) fn measure(shaper: &Shaper, style: Style) -> impl Fn(&str) -> f32 + '_ {
    move |text| shaper.width(text, style.weight(), style.size())
}

/// Shortens one line of text with an ellipsis to fit `width`.
pub(crate) fn fit(shaper: &Shaper, text: &str, style: Style, width: f32) -> String {
    truncate(
        &clean(text).replace('\n', " "),
        width,
        &measure(shaper, style),
    )
}

/// Turns the document into rows: the header, then every item.
pub(crate) fn compose(document: &PdfDocument<'_>, shaper: &Shaper) -> Vec<Row> {
    let mut rows = Builder::new(shaper);
    rows.header(document);
    if document.items.is_empty() {
        rows.paragraph("(no questions)", Style::Muted, MARGIN_X, 8.0, false);
    }
    for item in document.items {
        rows.item(item);
    }
    rows.rows
}

/// Deals rows onto pages, top to bottom, moving a row (and whatever it
/// must be kept with) to a new page when it would cross the footer.
pub(crate) fn paginate(rows: Vec<Row>) -> Vec<Vec<PlacedRow>> {
    let heights: Vec<(f32, f32, bool)> = rows
        .iter()
        .map(|row| (row.space_before, row.height, row.keep_with_next))
        .collect();
    let mut pages = vec![Vec::new()];
    let mut cursor = BODY_TOP;
    for (index, row) in rows.into_iter().enumerate() {
        let at_top = cursor == BODY_TOP;
        // A blank line between paragraphs means nothing at a page's top.
        let blank = row.pieces.is_empty();
        if at_top && blank {
            continue;
        }
        let space = if at_top { 0.0 } else { row.space_before };
        // Only the first row of a chain looks ahead: a chain taller than a
        // page breaks wherever its rows run out of room.
        let starts_chain = index == 0 || !heights[index - 1].2;
        let kept = if starts_chain {
            kept_height(&heights[index..])
        } else {
            row.height
        };
        let fits_a_page = kept <= BODY_BOTTOM - BODY_TOP;
        let overflows = cursor + space + kept > BODY_BOTTOM
            && (fits_a_page || cursor + space + row.height > BODY_BOTTOM);
        let mut top = cursor + space;
        if overflows && !at_top {
            if blank {
                continue;
            }
            pages.push(Vec::new());
            top = BODY_TOP;
        }
        cursor = top + row.height;
        let placed = PlacedRow { top, row };
        pages
            .last_mut()
            .expect("pages starts non-empty")
            .push(placed);
    }
    pages
}

/// The height of the first row and every row it is kept with, counting
/// the spaces between them.
fn kept_height(rows: &[(f32, f32, bool)]) -> f32 {
    let mut total = 0.0;
    for (index, &(space_before, height, keep_with_next)) in rows.iter().enumerate() {
        total += height + if index == 0 { 0.0 } else { space_before };
        if !keep_with_next {
            break;
        }
    }
    total
}

/// Accumulates rows while reading the document.
struct Builder<'f> {
    shaper: &'f Shaper,
    rows: Vec<Row>,
}

impl<'f> Builder<'f> {
    fn new(shaper: &'f Shaper) -> Self {
        Self {
            shaper,
            rows: Vec::new(),
        }
    }

    fn header(&mut self, document: &PdfDocument<'_>) {
        self.paragraph(
            document.organization,
            Style::Organization,
            MARGIN_X,
            0.0,
            true,
        );
        self.paragraph(document.form_title, Style::Title, MARGIN_X, 4.0, true);
        let version = format!("Version {}", document.form_version);
        self.paragraph(&version, Style::Subtitle, MARGIN_X, 1.0, true);
        let fields = [
            ("Response ID", document.response_id),
            ("Submitted", document.submitted_at),
            ("Respondent", document.respondent),
        ];
        for (index, (label, value)) in fields.into_iter().enumerate() {
            let space_before = if index == 0 { 10.0 } else { 2.0 };
            self.labelled(label, value, space_before);
        }
        self.rule(8.0);
    }

    fn item(&mut self, item: &PdfItem) {
        let indent = MARGIN_X + item.depth.min(MAX_INDENT_DEPTH) as f32 * INDENT_STEP;
        match item.kind {
            PdfItemKind::Group => {
                self.paragraph(&item.text, Style::Group, indent, 14.0, true);
            }
            PdfItemKind::Display => {
                self.paragraph(&item.text, Style::Muted, indent, 8.0, false);
            }
            PdfItemKind::Question => {
                self.paragraph(&item.text, Style::Question, indent, 9.0, true);
                self.answers(&item.answers, indent + ANSWER_INDENT);
            }
        }
    }

    /// Each answer on its own lines; several answers get bullets with a
    /// hanging indent.
    fn answers(&mut self, answers: &[String], indent: f32) {
        let answers: Vec<String> = answers
            .iter()
            .map(|answer| clean(answer))
            .filter(|answer| !answer.trim().is_empty())
            .collect();
        match answers.as_slice() {
            [] => self.paragraph("(no answer)", Style::Muted, indent, 2.0, false),
            [only] => self.paragraph(only, Style::Answer, indent, 2.0, false),
            several => {
                for answer in several {
                    self.bulleted(answer, indent);
                }
            }
        }
    }

    fn bulleted(&mut self, answer: &str, indent: f32) {
        let bullet = "•";
        let hang = measure(self.shaper, Style::Answer)("•  ");
        let first = self.rows.len();
        self.paragraph(answer, Style::Answer, indent + hang, 2.0, false);
        self.rows[first]
            .pieces
            .insert(0, text_piece(indent, bullet, Style::Answer));
    }

    fn labelled(&mut self, label: &str, value: &str, space_before: f32) {
        let first = self.rows.len();
        let value = if value.trim().is_empty() {
            "—"
        } else {
            value
        };
        self.paragraph(
            value,
            Style::Value,
            MARGIN_X + LABEL_COLUMN,
            space_before,
            true,
        );
        self.rows[first]
            .pieces
            .insert(0, text_piece(MARGIN_X, label, Style::Label));
    }

    /// Wraps `text` between `x` and the right margin into rows. Empty text
    /// adds nothing.
    fn paragraph(&mut self, text: &str, style: Style, x: f32, space_before: f32, keep: bool) {
        let text = clean(text);
        if text.trim().is_empty() {
            return;
        }
        let width = MARGIN_X + CONTENT_WIDTH - x;
        let lines = wrap(text.trim(), width, &measure(self.shaper, style));
        for (index, line) in lines.into_iter().enumerate() {
            let pieces = if line.is_empty() {
                Vec::new()
            } else {
                vec![text_piece(x, &line, style)]
            };
            self.rows.push(Row {
                pieces,
                height: style.line_height(),
                baseline: style.size() * BASELINE_OFFSET,
                space_before: if index == 0 { space_before } else { 0.0 },
                keep_with_next: keep,
            });
        }
    }

    fn rule(&mut self, space_before: f32) {
        self.rows.push(Row {
            pieces: vec![Piece::Rule {
                x: MARGIN_X,
                width: CONTENT_WIDTH,
            }],
            height: 8.0,
            baseline: 4.0,
            space_before,
            keep_with_next: false,
        });
    }
}

fn text_piece(x: f32, text: &str, style: Style) -> Piece {
    Piece::Text {
        x,
        text: text.to_owned(),
        style,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(height: f32, keep_with_next: bool) -> Row {
        Row {
            pieces: vec![Piece::Rule {
                x: MARGIN_X,
                width: 10.0,
            }],
            height,
            baseline: height * 0.75,
            space_before: 0.0,
            keep_with_next,
        }
    }

    fn document(items: &[PdfItem]) -> PdfDocument<'_> {
        PdfDocument {
            organization: "Clinic",
            form_title: "Intake",
            form_version: 1,
            response_id: "r-1",
            submitted_at: "2026-01-02 10:00 UTC",
            respondent: "Ada",
            items,
            sha256_hex: "00",
        }
    }

    fn question(depth: usize, text: &str, answers: &[&str]) -> PdfItem {
        PdfItem {
            depth,
            kind: PdfItemKind::Question,
            text: text.to_owned(),
            answers: answers.iter().map(|answer| answer.to_string()).collect(),
        }
    }

    fn texts(rows: &[Row]) -> Vec<(f32, String)> {
        rows.iter()
            .flat_map(|row| &row.pieces)
            .filter_map(|piece| match piece {
                Piece::Text { x, text, .. } => Some((*x, text.clone())),
                Piece::Rule { .. } => None,
            })
            .collect()
    }

    #[test]
    fn rows_that_fit_share_one_page() {
        let pages = paginate(vec![line(100.0, false); 5]);
        assert_eq!(pages.len(), 1);
        let tops: Vec<f32> = pages[0].iter().map(|placed| placed.top).collect();
        assert_eq!(
            tops,
            [
                BODY_TOP,
                BODY_TOP + 100.0,
                BODY_TOP + 200.0,
                BODY_TOP + 300.0,
                BODY_TOP + 400.0
            ]
        );
    }

    #[test]
    fn a_row_that_would_cross_the_footer_starts_a_new_page() {
        let rows_per_page = ((BODY_BOTTOM - BODY_TOP) / 100.0).floor() as usize;
        let pages = paginate(vec![line(100.0, false); rows_per_page + 1]);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[1].len(), 1);
        assert_eq!(pages[1][0].top, BODY_TOP);
    }

    #[test]
    fn a_heading_moves_to_the_next_page_with_the_row_it_is_kept_with() {
        let room = BODY_BOTTOM - BODY_TOP;
        let mut rows = vec![
            line(room - 30.0, false),
            line(20.0, true),
            line(20.0, false),
        ];
        rows[1].space_before = 5.0;
        let pages = paginate(rows);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].len(), 1);
        assert_eq!(pages[1].len(), 2);
        assert_eq!(
            pages[1][0].top, BODY_TOP,
            "space before is dropped at the top"
        );
    }

    #[test]
    fn a_blank_line_that_would_open_a_page_is_dropped() {
        let rows_per_page = ((BODY_BOTTOM - BODY_TOP) / 100.0).floor() as usize;
        let mut rows = vec![line(100.0, false); rows_per_page];
        let blank = Row {
            pieces: Vec::new(),
            ..line(100.0, false)
        };
        rows.extend([blank, line(100.0, false)]);
        let pages = paginate(rows);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[1].len(), 1);
        assert!(!pages[1][0].row.pieces.is_empty());
    }

    #[test]
    fn a_chain_taller_than_a_page_breaks_where_it_must() {
        let room = BODY_BOTTOM - BODY_TOP;
        let rows_per_page = (room / 50.0).floor() as usize;
        let mut rows = vec![line(50.0, false)];
        rows.extend(vec![line(50.0, true); rows_per_page * 2]);
        let pages = paginate(rows);
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[0].len(), rows_per_page);
    }

    #[test]
    fn items_inside_a_group_are_indented_further_than_the_group() {
        let shaper = Shaper::new().unwrap();
        let items = [
            PdfItem {
                depth: 0,
                kind: PdfItemKind::Group,
                text: "History".to_owned(),
                answers: Vec::new(),
            },
            question(1, "Allergies?", &["None"]),
        ];
        let texts = texts(&compose(&document(&items), &shaper));
        let x_of = |wanted: &str| texts.iter().find(|(_, text)| text == wanted).unwrap().0;
        assert!(x_of("Allergies?") > x_of("History"));
        assert!(x_of("None") > x_of("Allergies?"));
    }

    #[test]
    fn a_question_without_answers_says_so() {
        let shaper = Shaper::new().unwrap();
        let items = [
            question(0, "Medications?", &[]),
            question(0, "Other?", &["  "]),
        ];
        let texts = texts(&compose(&document(&items), &shaper));
        let quiet = texts
            .iter()
            .filter(|(_, text)| text == "(no answer)")
            .count();
        assert_eq!(quiet, 2);
    }

    #[test]
    fn several_answers_are_bulleted() {
        let shaper = Shaper::new().unwrap();
        let items = [question(0, "Symptoms?", &["Cough", "Fever"])];
        let texts = texts(&compose(&document(&items), &shaper));
        assert_eq!(texts.iter().filter(|(_, text)| text == "•").count(), 2);
    }

    #[test]
    fn no_line_of_a_long_answer_runs_past_the_right_margin() {
        let shaper = Shaper::new().unwrap();
        let answer = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(40);
        let items = [question(3, "Notes", &[&answer])];
        let rows = compose(&document(&items), &shaper);
        for row in &rows {
            for piece in &row.pieces {
                if let Piece::Text { x, text, style } = piece {
                    let right = x + shaper.width(text, style.weight(), style.size());
                    assert!(right <= MARGIN_X + CONTENT_WIDTH + 0.01, "{right}");
                }
            }
        }
    }
}
