//! Cleaning text for print and breaking it into lines that fit a width.
//!
//! The functions take the measure as a closure, so they can be tested with
//! a fixed-width "font" and know nothing about PDF.
//!
//! Breaking is greedy at white space, which suits the Latin, Greek and
//! Cyrillic scripts this renderer promises. A word wider than the line is
//! broken between characters, keeping combining marks with their base
//! letter. Hard line breaks in an answer are kept; runs of spaces are not.

/// Prepares user text for drawing: line breaks become `\n`, tabs become
/// spaces, and other control characters, which no font draws, are dropped.
pub(crate) fn clean(text: &str) -> String {
    let unified = text.replace("\r\n", "\n");
    unified
        .chars()
        .filter_map(|character| match character {
            '\r' | '\u{2028}' | '\u{2029}' => Some('\n'),
            '\t' => Some(' '),
            '\n' => Some('\n'),
            other if other.is_control() => None,
            other => Some(other),
        })
        .collect()
}

/// Breaks `text` into lines no wider than `width`, as measured by
/// `measure`. Every `\n` starts a new line; an empty paragraph gives an
/// empty line, so blank lines in an answer survive. Returns at least one
/// line.
pub(crate) fn wrap(text: &str, width: f32, measure: &dyn Fn(&str) -> f32) -> Vec<String> {
    let space = measure(" ");
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = Line::default();
        for word in paragraph.split_whitespace() {
            let word_width = measure(word);
            if line.fits(word_width, space, width) {
                line.push(word, word_width, space);
                continue;
            }
            if !line.text.is_empty() {
                lines.push(std::mem::take(&mut line).text);
            }
            if word_width <= width {
                line.push(word, word_width, space);
            } else {
                let mut pieces = break_word(word, width, measure);
                let last = pieces.pop().unwrap_or_default();
                lines.extend(pieces);
                line.width = measure(&last);
                line.text = last;
            }
        }
        lines.push(line.text);
    }
    lines
}

/// Shortens `text` with an ellipsis so that it fits `width`.
pub(crate) fn truncate(text: &str, width: f32, measure: &dyn Fn(&str) -> f32) -> String {
    if measure(text) <= width {
        return text.to_owned();
    }
    let ellipsis = "…";
    let available = width - measure(ellipsis);
    let mut kept = String::new();
    let mut kept_width = 0.0;
    for cluster in clusters(text) {
        let cluster_width = measure(cluster);
        if kept_width + cluster_width > available {
            break;
        }
        kept.push_str(cluster);
        kept_width += cluster_width;
    }
    kept.truncate(kept.trim_end().len());
    kept.push_str(ellipsis);
    kept
}

/// A line being filled. Its width is the sum of its words and spaces:
/// kerning across a space is ignored, which the margin absorbs.
#[derive(Default)]
struct Line {
    text: String,
    width: f32,
}

impl Line {
    fn fits(&self, word_width: f32, space: f32, limit: f32) -> bool {
        if self.text.is_empty() {
            word_width <= limit
        } else {
            self.width + space + word_width <= limit
        }
    }

    fn push(&mut self, word: &str, word_width: f32, space: f32) {
        if !self.text.is_empty() {
            self.text.push(' ');
            self.width += space;
        }
        self.text.push_str(word);
        self.width += word_width;
    }
}

/// Cuts a word that is wider than a line into line-wide pieces. A piece
/// always holds at least one character, so an absurdly narrow width still
/// makes progress.
fn break_word(word: &str, width: f32, measure: &dyn Fn(&str) -> f32) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut piece = String::new();
    let mut piece_width = 0.0;
    for cluster in clusters(word) {
        let cluster_width = measure(cluster);
        if !piece.is_empty() && piece_width + cluster_width > width {
            pieces.push(std::mem::take(&mut piece));
            piece_width = 0.0;
        }
        piece.push_str(cluster);
        piece_width += cluster_width;
    }
    pieces.push(piece);
    pieces
}

/// Splits text into characters, each with the combining marks that follow
/// it, so a break never separates an accent from its letter.
fn clusters(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let mut characters = rest.char_indices();
        characters.next()?;
        let end = characters
            .find(|(_, character)| !is_combining_mark(*character))
            .map_or(rest.len(), |(index, _)| index);
        let (cluster, after) = rest.split_at(end);
        rest = after;
        Some(cluster)
    })
}

/// The combining-mark blocks used with Latin, Greek and Cyrillic, plus the
/// zero-width joiners and variation selectors that must not start a line.
fn is_combining_mark(character: char) -> bool {
    matches!(
        character,
        '\u{0300}'..='\u{036F}'
            | '\u{0483}'..='\u{0489}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{200C}'..='\u{200D}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character is one point wide.
    fn monospace(text: &str) -> f32 {
        text.chars().count() as f32
    }

    #[test]
    fn words_fill_a_line_greedily_and_never_exceed_the_width() {
        let lines = wrap(
            "the quick brown fox jumps over the lazy dog",
            15.0,
            &monospace,
        );
        assert_eq!(lines, ["the quick brown", "fox jumps over", "the lazy dog"]);
        assert!(lines.iter().all(|line| monospace(line) <= 15.0));
    }

    #[test]
    fn a_word_longer_than_the_line_is_broken_into_pieces_that_fit() {
        let lines = wrap("see abcdefghijklmnopqrstuvwxyz end", 10.0, &monospace);
        assert_eq!(lines, ["see", "abcdefghij", "klmnopqrst", "uvwxyz end"]);
    }

    #[test]
    fn hard_line_breaks_and_blank_lines_are_kept() {
        let lines = wrap("first\n\nsecond", 40.0, &monospace);
        assert_eq!(lines, ["first", "", "second"]);
    }

    #[test]
    fn runs_of_white_space_collapse_to_one_space() {
        assert_eq!(wrap("  a    b  ", 40.0, &monospace), ["a b"]);
    }

    #[test]
    fn empty_text_gives_one_empty_line() {
        assert_eq!(wrap("", 40.0, &monospace), [""]);
    }

    #[test]
    fn a_combining_accent_stays_with_its_letter_when_a_word_is_broken() {
        let word = "abcde\u{0301}fgh";
        let pieces = break_word(word, 5.0, &monospace);
        assert_eq!(pieces.concat(), word);
        assert!(pieces.iter().all(|piece| !piece.starts_with('\u{0301}')));
    }

    #[test]
    fn an_impossibly_narrow_width_still_puts_one_character_per_line() {
        assert_eq!(wrap("abc", 0.5, &monospace), ["a", "b", "c"]);
    }

    #[test]
    fn clean_unifies_line_breaks_and_drops_control_characters() {
        assert_eq!(clean("a\r\nb\rc\td\u{7}e\u{0}"), "a\nb\nc de");
    }

    #[test]
    fn truncate_keeps_text_that_fits_and_shortens_text_that_does_not() {
        assert_eq!(truncate("short", 10.0, &monospace), "short");
        assert_eq!(truncate("a much longer text", 8.0, &monospace), "a much…");
    }
}
