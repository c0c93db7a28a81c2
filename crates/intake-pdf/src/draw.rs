//! The second pass: writing laid-out pages, and the footer that needs the
//! page count, with krilla.
//!
//! Each line is drawn from the glyphs [`Shaper`] made; krilla embeds a
//! subset of the font and writes a ToUnicode map from the glyphs' text
//! ranges, which is what lets `pdftotext` and a viewer's search read the
//! text back. Nothing here decides where text goes: that
//! is [`crate::layout`]'s job.

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;

use crate::fonts::Shaper;
use crate::layout::{
    CONTENT_WIDTH, FOOTER_FIRST_BASELINE, FOOTER_RULE_Y, FOOTER_SECOND_BASELINE, MARGIN_X,
    PAGE_HEIGHT, PAGE_WIDTH, Piece, PlacedRow, Style, fit,
};
use crate::{PdfDocument, PdfError};

/// The grey of rules.
const RULE_COLOR: (u8, u8, u8) = (170, 170, 170);
const RULE_THICKNESS: f32 = 0.6;

/// Writes `pages` as a PDF, numbering them and adding the footer.
pub(crate) fn draw(
    document: &PdfDocument<'_>,
    pages: &[Vec<PlacedRow>],
    shaper: &Shaper,
) -> Result<Vec<u8>, PdfError> {
    let mut pdf = Document::new();
    let title = fit(shaper, document.form_title, Style::Title, f32::INFINITY);
    pdf.set_metadata(Metadata::new().title(title).creator("intake".to_owned()));

    let footer = Footer::new(document, shaper);
    for (index, rows) in pages.iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
            .ok_or_else(|| PdfError::Write("invalid page size".to_owned()))?;
        let mut page = pdf.start_page_with(settings);
        let mut surface = page.surface();
        let mut pen = Pen::new(&mut surface, shaper);
        for placed in rows {
            pen.row(placed);
        }
        pen.footer(&footer, index + 1, pages.len());
        surface.finish();
        page.finish();
    }

    // krilla's errors describe fonts and PDF limits, never the text drawn,
    // so their messages carry no PHI.
    pdf.finish()
        .map_err(|error| PdfError::Write(error.to_string()))
}

/// The parts of the footer that are the same on every page.
struct Footer {
    response: String,
    checksum: String,
}

impl Footer {
    fn new(document: &PdfDocument<'_>, shaper: &Shaper) -> Self {
        // Leave room on the right for the widest plausible "Page N of M".
        let response_width = CONTENT_WIDTH - 90.0;
        let response = format!("Response {}", document.response_id);
        let checksum = format!("SHA-256 of the canonical response: {}", document.sha256_hex);
        Self {
            response: fit(shaper, &response, Style::Footer, response_width),
            checksum: fit(shaper, &checksum, Style::Footer, CONTENT_WIDTH),
        }
    }
}

/// Draws on one page's surface, remembering the fill colour in use so it
/// is set only when it changes.
struct Pen<'s, 'p> {
    surface: &'s mut Surface<'p>,
    shaper: &'s Shaper,
    color: Option<(u8, u8, u8)>,
}

impl<'s, 'p> Pen<'s, 'p> {
    fn new(surface: &'s mut Surface<'p>, shaper: &'s Shaper) -> Self {
        Self {
            surface,
            shaper,
            color: None,
        }
    }

    fn row(&mut self, placed: &PlacedRow) {
        let baseline = placed.top + placed.row.baseline;
        for piece in &placed.row.pieces {
            match piece {
                Piece::Text { x, text, style } => self.text(*x, baseline, text, *style),
                Piece::Rule { x, width } => self.rule(*x, baseline, *width),
            }
        }
    }

    fn footer(&mut self, footer: &Footer, page: usize, pages: usize) {
        self.rule(MARGIN_X, FOOTER_RULE_Y, CONTENT_WIDTH);
        self.text(
            MARGIN_X,
            FOOTER_FIRST_BASELINE,
            &footer.response,
            Style::Footer,
        );
        let numbering = format!("Page {page} of {pages}");
        let width = self
            .shaper
            .width(&numbering, Style::Footer.weight(), Style::Footer.size());
        let right = MARGIN_X + CONTENT_WIDTH - width;
        self.text(right, FOOTER_FIRST_BASELINE, &numbering, Style::Footer);
        self.text(
            MARGIN_X,
            FOOTER_SECOND_BASELINE,
            &footer.checksum,
            Style::Footer,
        );
    }

    fn text(&mut self, x: f32, baseline: f32, text: &str, style: Style) {
        self.fill(style.color());
        let glyphs = self.shaper.glyphs(text, style.weight());
        self.surface.draw_glyphs(
            Point::from_xy(x, baseline),
            &glyphs,
            self.shaper.pdf_font(style.weight()),
            text,
            style.size(),
            false,
        );
    }

    /// A hairline centred on `y`, drawn as a filled rectangle.
    fn rule(&mut self, x: f32, y: f32, width: f32) {
        let top = y - RULE_THICKNESS / 2.0;
        let Some(rect) = Rect::from_xywh(x, top, width, RULE_THICKNESS) else {
            return;
        };
        let mut path = PathBuilder::new();
        path.push_rect(rect);
        if let Some(path) = path.finish() {
            self.fill(RULE_COLOR);
            self.surface.draw_path(&path);
        }
    }

    fn fill(&mut self, color: (u8, u8, u8)) {
        if self.color == Some(color) {
            return;
        }
        let (red, green, blue) = color;
        self.surface.set_fill(Some(Fill {
            paint: rgb::Color::new(red, green, blue).into(),
            opacity: NormalizedF32::ONE,
            rule: Default::default(),
        }));
        self.color = Some(color);
    }
}
