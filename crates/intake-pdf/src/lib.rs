//! Renders a filled form to PDF, and nothing else.
//!
//! [`render`] takes a [`PdfDocument`] (the organization, the form's title
//! and version, the response's id, submission time and respondent, the
//! enabled items in order with their answers, and the SHA-256 of the
//! canonical response) and returns the bytes of an A4 PDF: a header, then
//! every item, groups' contents indented by depth, long answers wrapped
//! over as many pages as they need, and on every page a footer with the
//! response id, "Page N of M" and the checksum.
//!
//! - `fonts`: the embedded DejaVu Sans faces, and shaping text in them.
//! - `text`: cleaning text and breaking it into lines of a given width.
//! - `layout`: styles, rows and pagination (the first pass).
//! - `draw`: writing the pages and their footers (the second pass).
//!
//! # Why krilla
//!
//! The PDF is written with [krilla](https://docs.rs/krilla) 0.8, built
//! without its default features (no image decoders). It embeds a subset of
//! a TrueType font with a ToUnicode map, so text in any script the font
//! covers is real, extractable and searchable text. `typst` lays out better,
//! but it writes its PDFs through krilla too and adds a whole compiler on
//! top, for a one-column document; `printpdf` 0.12 pulls in an HTML layout
//! engine by default; `genpdf` is unmaintained. krilla does no layout, so
//! this crate shapes text with rustybuzz (the shaper krilla's own
//! `simple-text` uses), measures and draws the same glyphs, and wraps and
//! paginates itself, which a form's one column of questions and answers
//! makes simple.
//!
//! # What this crate must not do
//!
//! It owns no SQL, HTTP or Redis, reads no files at run time (the fonts are
//! compiled in) and logs nothing: the answers are PHI. Its error messages
//! never contain document text, and the `Debug` output of its types shows
//! a document's shape, not its content.
//!
//! Rendering is CPU-bound (about 7 ms for fifty questions on five pages in
//! a release build, `examples/render_fifty.rs`): async callers should run it
//! on the blocking pool. The output is deterministic: the same document
//! gives the same bytes.
//!
//! TODO: the PDF is untagged (no structure tree), so screen readers get the
//! text in drawing order without headings; krilla supports tagging, and
//! PDF/UA would need it.
//!
//! TODO: DejaVu Sans has no CJK, Indic or emoji glyphs, and there is no font
//! fallback or bidirectional layout: such text renders as empty boxes (and
//! Hebrew or Arabic runs unordered) instead of failing. Adding a Noto face
//! per script with fallback would fix it at the cost of binary size.

mod draw;
mod fonts;
mod layout;
mod text;

use std::fmt;

/// Everything printed on a response's PDF. Strings are borrowed from the
/// caller and printed as given; `submitted_at` is already formatted for
/// the reader (time zone included).
#[derive(Clone, Copy)]
pub struct PdfDocument<'a> {
    /// The organization the form belongs to, printed above the title.
    pub organization: &'a str,
    /// The form's title.
    pub form_title: &'a str,
    /// The form version the response answered.
    pub form_version: u32,
    /// The response's id, printed in the header and on every page.
    pub response_id: &'a str,
    /// When the response was submitted, formatted for people.
    pub submitted_at: &'a str,
    /// Who submitted the response, as it should be printed.
    pub respondent: &'a str,
    /// The enabled items in form order, with nesting given by `depth`.
    pub items: &'a [PdfItem],
    /// The SHA-256 of the canonical response, in hex, printed on every page.
    pub sha256_hex: &'a str,
}

/// One enabled item of the form, flattened: a group's children follow it
/// with a depth one greater.
#[derive(Clone, PartialEq, Eq)]
pub struct PdfItem {
    /// Nesting level: 0 at the top, 1 inside a top-level group, and so on.
    pub depth: usize,
    /// Whether this is a group heading, a question or display text.
    pub kind: PdfItemKind,
    /// The heading, question or display text.
    pub text: String,
    /// The answers, formatted for print, one entry per answer; empty when
    /// the question was not answered (printed as "(no answer)"). Ignored
    /// for groups and display items.
    pub answers: Vec<String>,
}

/// What an item is, which decides how it is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdfItemKind {
    /// A heading whose children follow, indented.
    Group,
    /// A question and its answers.
    Question,
    /// Text shown to the respondent, with no answer.
    Display,
}

/// Why a PDF could not be rendered. Neither variant can be caused by the
/// document's content; both are bugs or resource limits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PdfError {
    /// The compiled-in fonts could not be parsed.
    #[error("Failed to load the embedded fonts")]
    Font,
    /// krilla refused to write the PDF.
    #[error("Failed to write the PDF: {0}")]
    Write(String),
}

/// Renders `document` to the bytes of a PDF.
///
/// Pure and deterministic: no I/O, no clock, no randomness. CPU-bound, so
/// call it from a blocking thread in async code.
pub fn render(document: &PdfDocument<'_>) -> Result<Vec<u8>, PdfError> {
    let shaper = fonts::Shaper::new()?;
    let rows = layout::compose(document, &shaper);
    let pages = layout::paginate(rows);
    draw::draw(document, &pages, &shaper)
}

/// Shows the document's shape; the respondent and answers are PHI.
impl fmt::Debug for PdfDocument<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PdfDocument")
            .field("form_version", &self.form_version)
            .field("response_id", &self.response_id)
            .field("items", &self.items.len())
            .finish_non_exhaustive()
    }
}

/// Shows the item's shape; its text and answers may be PHI.
impl fmt::Debug for PdfItem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PdfItem")
            .field("depth", &self.depth)
            .field("kind", &self.kind)
            .field("answers", &self.answers.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_answer_or_respondent() {
        let items = [PdfItem {
            depth: 0,
            kind: PdfItemKind::Question,
            text: "Diagnosis".to_owned(),
            answers: vec!["secret condition".to_owned()],
        }];
        let document = PdfDocument {
            organization: "Clinic",
            form_title: "Intake",
            form_version: 2,
            response_id: "r-1",
            submitted_at: "now",
            respondent: "Ada Lovelace",
            items: &items,
            sha256_hex: "00",
        };
        let printed = format!("{document:?} {:?}", items[0]);
        assert!(!printed.contains("secret"));
        assert!(!printed.contains("Ada"));
        assert!(!printed.contains("Diagnosis"));
    }
}
