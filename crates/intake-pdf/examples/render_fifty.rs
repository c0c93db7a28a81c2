//! Measures how long rendering a 50-question response takes, and writes
//! the PDF so it can be looked at.
//!
//! ```text
//! cargo run --release --example render_fifty -p intake-pdf [-- out.pdf]
//! ```
//!
//! The first render includes parsing the embedded fonts; the figure that
//! matters for a server is the steady-state one after it.

use std::time::{Duration, Instant};

use intake_pdf::{PdfDocument, PdfItem, PdfItemKind, render};
use sha2::{Digest, Sha256};

const ROUNDS: u32 = 50;

fn main() {
    let items = fifty_questions();
    let checksum = hex(&Sha256::digest(b"canonical response"));
    let document = PdfDocument {
        organization: "Northside Family Clinic",
        form_title: "New patient intake",
        form_version: 7,
        response_id: "7c1e9a52-3f0b-4d7e-9a61-2b8d4c0f5e13",
        submitted_at: "2026-12-03 14:05 UTC",
        respondent: "Ada Lovelace",
        items: &items,
        sha256_hex: &checksum,
    };

    let started = Instant::now();
    let pdf = render(&document).expect("the document renders");
    let first = started.elapsed();

    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let again = render(&document).expect("the document renders");
        times.push(started.elapsed());
        assert!(again == pdf, "rendering is deterministic");
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / ROUNDS;
    let questions = items
        .iter()
        .filter(|item| item.kind == PdfItemKind::Question)
        .count();

    println!("questions: {questions}, items: {}", items.len());
    println!("pdf size: {} bytes", pdf.len());
    println!("first render (loads fonts): {first:.2?}");
    println!(
        "steady state over {ROUNDS} renders: mean {mean:.2?}, median {:.2?}, min {:.2?}, max {:.2?}",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );

    if let Some(path) = std::env::args().nth(1) {
        std::fs::write(&path, &pdf).expect("the PDF is written");
        println!("written to {path}");
    }
}

/// Five groups of ten questions, with short, multiple, empty, Cyrillic,
/// Greek and paragraph-long answers, and one nested group.
fn fifty_questions() -> Vec<PdfItem> {
    let answers: [&[&str]; 6] = [
        &["Yes"],
        &["Cough", "Fever", "Fatigue"],
        &[],
        &["Здравствуйте, мир"],
        &["Καλημέρα κόσμε"],
        &[
            "Occasional lower back pain after long drives, usually on the left side, \
           eased by stretching and ibuprofen; no numbness or weakness in the legs, \
           and no change in the last six months.",
        ],
    ];
    let mut items = Vec::new();
    for section in 1..=5 {
        items.push(item(
            0,
            PdfItemKind::Group,
            &format!("Section {section}"),
            &[],
        ));
        items.push(item(
            1,
            PdfItemKind::Display,
            "Answer as accurately as you can.",
            &[],
        ));
        for number in 1..=10 {
            let depth = if number > 7 { 2 } else { 1 };
            if number == 8 {
                items.push(item(1, PdfItemKind::Group, "Family history", &[]));
            }
            let text = format!("Question {section}.{number}: how would you describe it?");
            let answer = answers[(section + number) % answers.len()];
            items.push(item(depth, PdfItemKind::Question, &text, answer));
        }
    }
    items
}

fn item(depth: usize, kind: PdfItemKind, text: &str, answers: &[&str]) -> PdfItem {
    PdfItem {
        depth,
        kind,
        text: text.to_owned(),
        answers: answers.iter().map(|answer| answer.to_string()).collect(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
