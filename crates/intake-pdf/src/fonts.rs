//! The fonts the PDF is set in, and the shaping that both measures and
//! draws text in them.
//!
//! DejaVu Sans (regular and bold) is compiled into the binary, so a render
//! never reads the file system and every machine produces the same bytes.
//! It covers Latin, Greek and Cyrillic in full; krilla embeds only the
//! glyphs a document uses, so the PDF stays small and self-contained. The
//! licence is in `fonts/LICENSE-DejaVu.txt` next to the font files.
//!
//! Text is shaped here with rustybuzz (kerning, accents placed over their
//! letters) and krilla is handed the glyphs. Shaping once for both the
//! measure and the drawing means a line is exactly as wide as measured, and
//! keeping the shape plans for a whole render, rather than krilla's
//! `draw_text` building a face and a plan for every line, makes a render
//! about twice as fast.

use std::cell::RefCell;
use std::sync::LazyLock;

use krilla::text::{Font, GlyphId, KrillaGlyph};
use rustybuzz::{Direction, Face, GlyphBuffer, Script, ShapePlan, UnicodeBuffer};

use crate::PdfError;

static REGULAR_DATA: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD_DATA: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// Parsed once per process: parsing and hashing the font data costs about
/// as much as rendering a short form.
static FONTS: LazyLock<Option<Fonts>> = LazyLock::new(|| {
    Some(Fonts {
        regular: Typeface::new(REGULAR_DATA)?,
        bold: Typeface::new(BOLD_DATA)?,
    })
});

/// Which of the two embedded faces a piece of text is set in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Weight {
    Regular,
    Bold,
}

/// The embedded faces, shared by every render.
struct Fonts {
    regular: Typeface,
    bold: Typeface,
}

/// One face as krilla embeds it and as rustybuzz shapes it.
struct Typeface {
    pdf: Font,
    shaper: Face<'static>,
    units_per_em: f32,
}

impl Typeface {
    fn new(data: &'static [u8]) -> Option<Self> {
        let shaper = Face::from_slice(data, 0)?;
        let units_per_em = shaper.units_per_em() as f32;
        Some(Self {
            pdf: Font::new(data.into(), 0)?,
            shaper,
            units_per_em,
        })
    }
}

/// Shapes text for one render, keeping a shape plan per face, direction
/// and script (a handful per document). Not shared between threads.
pub(crate) struct Shaper {
    fonts: &'static Fonts,
    plans: RefCell<Vec<Plan>>,
}

struct Plan {
    weight: Weight,
    direction: Direction,
    script: Script,
    plan: ShapePlan,
}

impl Shaper {
    /// A shaper over the process-wide fonts, loading them on first use.
    pub(crate) fn new() -> Result<Self, PdfError> {
        let fonts = FONTS.as_ref().ok_or(PdfError::Font)?;
        Ok(Self {
            fonts,
            plans: RefCell::new(Vec::new()),
        })
    }

    /// The krilla font for `weight`; cloning it is cheap.
    pub(crate) fn pdf_font(&self, weight: Weight) -> Font {
        self.face(weight).pdf.clone()
    }

    /// The advance width of `text` on one line, in points.
    pub(crate) fn width(&self, text: &str, weight: Weight, size: f32) -> f32 {
        if text.is_empty() {
            return 0.0;
        }
        let shaped = self.shape(text, weight);
        let units: i64 = shaped
            .glyph_positions()
            .iter()
            .map(|position| i64::from(position.x_advance))
            .sum();
        units as f32 * size / self.face(weight).units_per_em
    }

    /// The glyphs of `text` as krilla draws them: metrics in ems, and each
    /// glyph mapped back to its characters, from which krilla writes the
    /// ToUnicode map that makes the text extractable.
    pub(crate) fn glyphs(&self, text: &str, weight: Weight) -> Vec<KrillaGlyph> {
        let shaped = self.shape(text, weight);
        let em = self.face(weight).units_per_em;
        let infos = shaped.glyph_infos();
        // A cluster ends where the next one (in text order) begins; this
        // holds whichever way the glyphs run.
        let mut starts: Vec<usize> = infos.iter().map(|info| info.cluster as usize).collect();
        starts.sort_unstable();
        starts.dedup();
        infos
            .iter()
            .zip(shaped.glyph_positions())
            .map(|(info, position)| {
                let start = info.cluster as usize;
                let end = starts
                    .iter()
                    .find(|&&next| next > start)
                    .copied()
                    .unwrap_or(text.len());
                KrillaGlyph::new(
                    GlyphId::new(info.glyph_id),
                    position.x_advance as f32 / em,
                    position.x_offset as f32 / em,
                    position.y_offset as f32 / em,
                    position.y_advance as f32 / em,
                    start..end,
                    None,
                )
            })
            .collect()
    }

    fn shape(&self, text: &str, weight: Weight) -> GlyphBuffer {
        let face = &self.face(weight).shaper;
        let mut buffer = UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.guess_segment_properties();
        let (direction, script) = (buffer.direction(), buffer.script());

        let mut plans = self.plans.borrow_mut();
        let index = match plans.iter().position(|plan| {
            plan.weight == weight && plan.direction == direction && plan.script == script
        }) {
            Some(index) => index,
            None => {
                let plan = ShapePlan::new(face, direction, Some(script), None, &[]);
                plans.push(Plan {
                    weight,
                    direction,
                    script,
                    plan,
                });
                plans.len() - 1
            }
        };
        rustybuzz::shape_with_plan(face, &plans[index].plan, buffer)
    }

    fn face(&self, weight: Weight) -> &Typeface {
        match weight {
            Weight::Regular => &self.fonts.regular,
            Weight::Bold => &self.fonts.bold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_embedded_faces_load() {
        let shaper = Shaper::new().expect("the embedded fonts parse");
        assert!(shaper.width("A", Weight::Regular, 10.0) > 0.0);
        assert!(shaper.width("A", Weight::Bold, 10.0) > 0.0);
    }

    #[test]
    fn width_grows_with_the_text_and_the_size() {
        let shaper = Shaper::new().unwrap();
        let short = shaper.width("Καλημέρα", Weight::Regular, 10.0);
        let long = shaper.width("Καλημέρα κόσμε", Weight::Regular, 10.0);
        assert!(long > short);
        let double = shaper.width("Καλημέρα", Weight::Regular, 20.0);
        assert!((double - 2.0 * short).abs() < 0.01);
    }

    #[test]
    fn bold_text_is_wider_than_regular_text() {
        let shaper = Shaper::new().unwrap();
        let text = "Здравствуйте, мир";
        let bold = shaper.width(text, Weight::Bold, 10.0);
        assert!(bold > shaper.width(text, Weight::Regular, 10.0));
    }

    #[test]
    fn glyph_advances_add_up_to_the_measured_width() {
        let shaper = Shaper::new().unwrap();
        let text = "AVATAR Това";
        let advances: f32 = shaper
            .glyphs(text, Weight::Regular)
            .iter()
            .map(|glyph| glyph.x_advance * 10.0)
            .sum();
        assert!((advances - shaper.width(text, Weight::Regular, 10.0)).abs() < 0.001);
    }

    #[test]
    fn every_character_belongs_to_exactly_one_glyph_cluster() {
        let shaper = Shaper::new().unwrap();
        // "e" followed by a combining acute accent: one cluster, two glyphs
        // or one, but the ranges must tile the text.
        let text = "Cafe\u{301} Ёж";
        let mut ranges: Vec<_> = shaper
            .glyphs(text, Weight::Regular)
            .into_iter()
            .map(|glyph| glyph.text_range)
            .collect();
        ranges.dedup();
        assert_eq!(ranges.first().unwrap().start, 0);
        assert_eq!(ranges.last().unwrap().end, text.len());
        assert!(ranges.windows(2).all(|pair| pair[0].end == pair[1].start));
    }

    #[test]
    fn a_shape_plan_is_built_once_per_face_direction_and_script() {
        let shaper = Shaper::new().unwrap();
        for text in ["one", "two", "три", "Καλη", "four"] {
            shaper.width(text, Weight::Regular, 10.0);
        }
        shaper.width("five", Weight::Bold, 10.0);
        assert_eq!(shaper.plans.borrow().len(), 4);
    }
}
