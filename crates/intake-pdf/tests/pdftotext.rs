//! Renders documents and reads them back with poppler's `pdftotext` and
//! `pdffonts`, as a person copying text out of the PDF or searching it
//! would. `scripts/test` installs poppler-utils when it is missing.

use std::io::Write;
use std::process::Command;

use intake_pdf::{PdfDocument, PdfItem, PdfItemKind, render};

const SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn item(depth: usize, kind: PdfItemKind, text: &str, answers: &[&str]) -> PdfItem {
    PdfItem {
        depth,
        kind,
        text: text.to_owned(),
        answers: answers.iter().map(|answer| answer.to_string()).collect(),
    }
}

fn question(depth: usize, text: &str, answers: &[&str]) -> PdfItem {
    item(depth, PdfItemKind::Question, text, answers)
}

fn group(depth: usize, text: &str) -> PdfItem {
    item(depth, PdfItemKind::Group, text, &[])
}

fn document(items: &[PdfItem]) -> PdfDocument<'_> {
    PdfDocument {
        organization: "Northside Family Clinic",
        form_title: "New patient intake",
        form_version: 3,
        response_id: "7c1e9a52-3f0b-4d7e-9a61-2b8d4c0f5e13",
        submitted_at: "2026-12-03 14:05 UTC",
        respondent: "Ada Lovelace",
        items,
        sha256_hex: SHA256,
    }
}

/// A paragraph long enough to fill more than a page on its own.
fn long_text() -> String {
    let sentence = "The patient reports intermittent headaches in the morning, \
                    worse after poor sleep, relieved by rest and fluids. ";
    let mut text = String::new();
    for paragraph in 1..=12 {
        text.push_str(&format!("Paragraph {paragraph}. "));
        text.push_str(&sentence.repeat(6));
        text.push_str("\n\n");
    }
    text
}

/// Runs a poppler tool on `pdf` and returns what it printed.
fn poppler(tool: &str, arguments: &[&str], pdf: &[u8]) -> String {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(pdf).expect("the PDF is written");
    let mut command = Command::new(tool);
    command.args(arguments).arg(file.path());
    if tool == "pdftotext" {
        command.arg("-");
    }
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{tool} runs (install poppler-utils): {error}"));
    assert!(output.status.success(), "{tool} failed: {output:?}");
    String::from_utf8(output.stdout).expect("poppler prints UTF-8")
}

fn extract(pdf: &[u8]) -> String {
    poppler("pdftotext", &["-enc", "UTF-8"], pdf)
}

/// The text of each page; pdftotext ends every page with a form feed.
fn pages(pdf: &[u8]) -> Vec<String> {
    let text = extract(pdf);
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|page| page.trim().is_empty()) {
        pages.pop();
    }
    pages
}

/// The left edge of the first word `word` on the first page, from
/// `pdftotext -bbox`.
fn left_edge_of(bbox_html: &str, word: &str) -> f32 {
    let line = bbox_html
        .lines()
        .find(|line| {
            line.trim_start().starts_with("<word") && line.contains(&format!(">{word}</word>"))
        })
        .unwrap_or_else(|| panic!("{word} is in the PDF"));
    let start = line.find("xMin=\"").expect("a word has an xMin") + "xMin=\"".len();
    let end = start + line[start..].find('"').expect("the attribute is closed");
    line[start..end].parse().expect("xMin is a number")
}

#[test]
fn the_header_names_the_organization_form_version_response_submission_and_respondent() {
    let items = [question(0, "Reason for visit", &["Check-up"])];
    let text = extract(&render(&document(&items)).unwrap());
    for expected in [
        "Northside Family Clinic",
        "New patient intake",
        "Version 3",
        "7c1e9a52-3f0b-4d7e-9a61-2b8d4c0f5e13",
        "2026-12-03 14:05 UTC",
        "Ada Lovelace",
        "Reason for visit",
        "Check-up",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

#[test]
fn cyrillic_and_greek_answers_come_back_out_of_pdftotext() {
    let long = long_text();
    let items = [
        question(0, "Приветствие", &["Здравствуйте, мир"]),
        question(0, "Χαιρετισμός", &["Καλημέρα κόσμε"]),
        question(
            0,
            "Zusätzliche Angaben: Größe, Gewicht, Ärztin",
            &["Ça va, señor Øster"],
        ),
        question(0, "History of the present illness", &[&long]),
    ];
    let text = extract(&render(&document(&items)).unwrap());
    for expected in [
        "New patient intake",
        "Приветствие",
        "Здравствуйте, мир",
        "Χαιρετισμός",
        "Καλημέρα κόσμε",
        "Zusätzliche Angaben: Größe, Gewicht, Ärztin",
        "Ça va, señor Øster",
        "Page 1 of",
        "Page 2 of",
        SHA256,
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

#[test]
fn a_long_answer_wraps_over_pages_and_every_page_is_numbered_page_n_of_m() {
    let long = long_text();
    let items = [question(0, "History of the present illness", &[&long])];
    let pages = pages(&render(&document(&items)).unwrap());
    assert!(
        pages.len() >= 2,
        "the long answer spans pages, got {}",
        pages.len()
    );
    for (index, page) in pages.iter().enumerate() {
        let numbering = format!("Page {} of {}", index + 1, pages.len());
        assert!(
            page.contains(&numbering),
            "{numbering:?} missing from page:\n{page}"
        );
    }
    let all_text = pages.concat();
    for paragraph in 1..=12 {
        let marker = format!("Paragraph {paragraph}.");
        assert!(all_text.contains(&marker), "{marker:?} was lost");
    }
}

#[test]
fn every_page_carries_the_response_id_and_the_sha256_of_the_canonical_response() {
    let long = long_text();
    let items = [question(0, "Notes", &[&long])];
    let pages = pages(&render(&document(&items)).unwrap());
    assert!(pages.len() >= 2);
    for page in &pages {
        assert!(page.contains(&format!("SHA-256 of the canonical response: {SHA256}")));
        assert!(page.contains("Response 7c1e9a52-3f0b-4d7e-9a61-2b8d4c0f5e13"));
    }
}

#[test]
fn items_inside_a_group_are_printed_after_it_and_indented_further() {
    let items = [
        group(0, "Anamnesis"),
        question(1, "Medications", &["Ibuprofen"]),
        group(1, "Relatives"),
        question(2, "Mother", &["Hypertension"]),
        question(0, "Consent", &["Yes"]),
    ];
    let pdf = render(&document(&items)).unwrap();

    let text = extract(&pdf);
    let position = |word: &str| text.find(word).unwrap_or_else(|| panic!("{word} printed"));
    assert!(position("Anamnesis") < position("Medications"));
    assert!(position("Relatives") < position("Mother"));
    assert!(position("Mother") < position("Consent"));

    let bbox = poppler("pdftotext", &["-bbox"], &pdf);
    let x = |word: &str| left_edge_of(&bbox, word);
    assert!(x("Medications") > x("Anamnesis") + 10.0);
    assert!((x("Relatives") - x("Medications")).abs() < 0.5);
    assert!(x("Mother") > x("Relatives") + 10.0);
    assert!(
        x("Hypertension") > x("Mother"),
        "answers sit right of their question"
    );
    assert!((x("Consent") - x("Anamnesis")).abs() < 0.5);
}

#[test]
fn a_question_with_no_answers_prints_no_answer() {
    let items = [question(0, "Known allergies", &[])];
    let text = extract(&render(&document(&items)).unwrap());
    let after_question = &text[text
        .find("Known allergies")
        .expect("the question is printed")..];
    assert!(after_question.contains("(no answer)"), "{text}");
}

#[test]
fn several_answers_are_all_printed() {
    let items = [question(0, "Symptoms", &["Cough", "Fever", "Кашель"])];
    let text = extract(&render(&document(&items)).unwrap());
    for answer in ["Cough", "Fever", "Кашель"] {
        assert!(text.contains(answer), "{answer:?} missing from:\n{text}");
    }
}

#[test]
fn a_word_longer_than_a_line_is_broken_across_lines_and_kept_whole() {
    let token: String = (0..300)
        .map(|index| char::from(b'a' + (index % 26) as u8))
        .collect();
    let items = [question(0, "Reference", &[&token])];
    let text = extract(&render(&document(&items)).unwrap());
    let squeezed: String = text
        .chars()
        .filter(|character| !character.is_whitespace())
        .collect();
    assert!(squeezed.contains(&token), "the token was cut:\n{text}");
    assert!(
        !text.lines().any(|line| line.contains(&token)),
        "the token is on one line"
    );
}

#[test]
fn the_same_document_renders_to_the_same_bytes() {
    let long = long_text();
    let items = [group(0, "Notes"), question(1, "Details", &[&long])];
    let first = render(&document(&items)).unwrap();
    let second = render(&document(&items)).unwrap();
    assert!(first == second, "two renders differ");
}

#[test]
fn text_the_font_cannot_draw_does_not_fail_the_render() {
    let items = [
        question(0, "Name in Japanese", &["山田 太郎 🙂"]),
        question(0, "Age", &["42"]),
    ];
    let text = extract(&render(&document(&items)).unwrap());
    assert!(text.contains("42"));
}

#[test]
fn an_empty_form_still_renders_its_header_and_footer() {
    let text = extract(&render(&document(&[])).unwrap());
    assert!(text.contains("New patient intake"));
    assert!(text.contains("Page 1 of 1"));
    assert!(text.contains("(no questions)"));
}

#[test]
fn the_pdf_embeds_a_subset_of_its_fonts_and_needs_no_system_fonts() {
    let items = [question(0, "Приветствие", &["Καλημέρα κόσμε"])];
    let listing = poppler("pdffonts", &[], &render(&document(&items)).unwrap());
    let fonts: Vec<&str> = listing.lines().skip(2).collect();
    assert!(!fonts.is_empty(), "no fonts listed:\n{listing}");
    for font in fonts {
        let columns: Vec<&str> = font.split_whitespace().collect();
        // name, type (two words), encoding, then emb, sub, uni.
        let flags = &columns[columns.len() - 5..columns.len() - 2];
        assert_eq!(
            flags,
            ["yes", "yes", "yes"],
            "embedded, subset, unicode map: {font}"
        );
    }
}
