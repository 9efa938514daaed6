//! The one place where LSP positions meet byte offsets.
//!
//! The engine speaks byte offsets; the protocol speaks lines and columns counted in the
//! negotiated encoding. Every conversion in either direction goes through this module, against
//! the document's rope, whose lines end at `\n`, `\r\n` or a lone `\r` exactly as LSP lines do.
//! Out-of-range positions are clamped, never rejected: past the last line is the end of the text,
//! past the end of a line is the end of that line's content, and a column inside a character (a
//! UTF-8 sequence or a UTF-16 surrogate pair) is that character's start.

use ropey::Rope;
use tower_lsp_server::ls_types::{Position, PositionEncodingKind, Range};

use crate::engine::diagnostic::{FilePosition, OtherFile};
use crate::engine::source::TextRange;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PositionEncoding {
    Utf8,
    /// The protocol's default when the client names no encoding.
    #[default]
    Utf16,
}

impl PositionEncoding {
    /// UTF-8 when the client offers it (no transcoding at all), else the mandatory UTF-16.
    pub fn negotiate(offered: Option<&[PositionEncodingKind]>) -> PositionEncoding {
        let offers_utf8 = offered.is_some_and(|kinds| kinds.contains(&PositionEncodingKind::UTF8));
        if offers_utf8 {
            PositionEncoding::Utf8
        } else {
            PositionEncoding::Utf16
        }
    }

    pub fn kind(self) -> PositionEncodingKind {
        match self {
            PositionEncoding::Utf8 => PositionEncodingKind::UTF8,
            PositionEncoding::Utf16 => PositionEncodingKind::UTF16,
        }
    }
}

/// The byte offset of `position`, clamped into the text.
pub fn offset(rope: &Rope, position: Position, encoding: PositionEncoding) -> usize {
    let line = position.line as usize;
    if line >= rope.len_lines() {
        return rope.len_bytes();
    }
    let start = rope.line_to_byte(line);
    let end = line_content_end(rope, line);
    let column = position.character as usize;
    match encoding {
        PositionEncoding::Utf8 => {
            let byte = start.saturating_add(column).min(end);
            rope.char_to_byte(rope.byte_to_char(byte))
        }
        PositionEncoding::Utf16 => {
            let start_unit = rope.char_to_utf16_cu(rope.byte_to_char(start));
            let end_unit = rope.char_to_utf16_cu(rope.byte_to_char(end));
            let unit = start_unit.saturating_add(column).min(end_unit);
            rope.char_to_byte(rope.utf16_cu_to_char(unit))
        }
    }
}

/// The position of a byte offset (clamped into the text, rounded down to a character start).
pub fn position(rope: &Rope, offset: usize, encoding: PositionEncoding) -> Position {
    let offset = offset.min(rope.len_bytes());
    let char_index = rope.byte_to_char(offset);
    let line = rope.char_to_line(char_index);
    let line_start_char = rope.line_to_char(line);
    let character = match encoding {
        PositionEncoding::Utf8 => rope.char_to_byte(char_index) - rope.line_to_byte(line),
        PositionEncoding::Utf16 => {
            rope.char_to_utf16_cu(char_index) - rope.char_to_utf16_cu(line_start_char)
        }
    };
    Position::new(to_u32(line), to_u32(character))
}

/// The range of a location in another file, from the positions the engine computed there (the
/// server may not have that file's text).
pub fn other_file_range(other: &OtherFile, encoding: PositionEncoding) -> Range {
    let convert = |position: &FilePosition| {
        let character = match encoding {
            PositionEncoding::Utf8 => position.utf8,
            PositionEncoding::Utf16 => position.utf16,
        };
        Position::new(to_u32(position.line), to_u32(character))
    };
    Range::new(convert(&other.start), convert(&other.end))
}

pub fn range(rope: &Rope, range: &TextRange, encoding: PositionEncoding) -> Range {
    Range::new(
        position(rope, range.start, encoding),
        position(rope, range.end, encoding),
    )
}

/// The range an editor underlines for a diagnostic at `range`: `range` itself on one line; over
/// several lines, its part on the first line, up to the end of the code there. Editors underline
/// every column of a range, so a query written over four lines had the indentation of three of
/// them underlined; the first line names the query, and hover and code actions still answer
/// anywhere in the whole range.
pub fn shown_range(rope: &Rope, range: &TextRange, encoding: PositionEncoding) -> Range {
    let start = range.start.min(rope.len_bytes());
    let line = rope.byte_to_line(start);
    if rope.byte_to_line(range.end.min(rope.len_bytes())) == line {
        return self::range(rope, range, encoding);
    }
    let content_end = line_content_end(rope, line);
    let code = rope.byte_slice(start..content_end);
    let trailing_spaces: usize = code
        .chars_at(code.len_chars())
        .reversed()
        .take_while(|c| c.is_whitespace())
        .map(char::len_utf8)
        .sum();
    let end = content_end - trailing_spaces;
    self::range(rope, &(start..end), encoding)
}

/// The byte range of an LSP range; `None` when its end comes before its start.
pub fn text_range(rope: &Rope, range: Range, encoding: PositionEncoding) -> Option<TextRange> {
    let start = offset(rope, range.start, encoding);
    let end = offset(rope, range.end, encoding);
    (start <= end).then_some(start..end)
}

/// The tree-sitter point of a byte offset. Rows are LSP lines, which are tree-sitter's rows
/// unless the text holds a lone `\r`; the engine reads only byte offsets, so such a file's
/// points being off by its lone `\r`s changes no result.
pub fn point(rope: &Rope, offset: usize) -> tree_sitter::Point {
    let offset = offset.min(rope.len_bytes());
    let line = rope.byte_to_line(offset);
    tree_sitter::Point::new(line, offset - rope.line_to_byte(line))
}

/// The byte offset where a line's content ends, before its terminator.
fn line_content_end(rope: &Rope, line: usize) -> usize {
    let next = rope.line_to_byte(line + 1);
    let slice = rope.line(line);
    let len = slice.len_chars();
    let terminator = match (
        len.checked_sub(2).map(|i| slice.char(i)),
        len.checked_sub(1).map(|i| slice.char(i)),
    ) {
        (Some('\r'), Some('\n')) => 2,
        (_, Some('\n' | '\r')) => 1,
        _ => 0,
    };
    next - terminator
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTF8: PositionEncoding = PositionEncoding::Utf8;
    const UTF16: PositionEncoding = PositionEncoding::Utf16;

    fn pos(line: u32, character: u32) -> Position {
        Position::new(line, character)
    }

    #[test]
    fn a_range_over_several_lines_is_shown_on_its_first() {
        let text = "rows = (\n    session.query(M)   \r\n        .all()\n)\n";
        let rope = Rope::from_str(text);
        let start = text.find("session").unwrap();
        let end = text.find(".all()").unwrap() + ".all()".len();
        let shown = shown_range(&rope, &(start..end), PositionEncoding::Utf16);
        assert_eq!(shown, Range::new(pos(1, 4), pos(1, 20)));
        let one_line = start..start + "session".len();
        assert_eq!(
            shown_range(&rope, &one_line, PositionEncoding::Utf16),
            range(&rope, &one_line, PositionEncoding::Utf16)
        );
    }

    #[test]
    fn negotiation_prefers_utf8() {
        let both = [PositionEncodingKind::UTF16, PositionEncodingKind::UTF8];
        assert_eq!(PositionEncoding::negotiate(Some(&both)), UTF8);
        let utf32 = [PositionEncodingKind::UTF32];
        assert_eq!(PositionEncoding::negotiate(Some(&utf32)), UTF16);
        assert_eq!(PositionEncoding::negotiate(None), UTF16);
    }

    #[test]
    fn astral_characters_count_two_utf16_units_and_four_bytes() {
        // 🎉 is U+1F389: 4 bytes, 2 UTF-16 units, 1 char.
        let rope = Rope::from_str("a🎉b\nx = q(🎉)\n");
        assert_eq!(offset(&rope, pos(0, 3), UTF16), 5);
        assert_eq!(offset(&rope, pos(0, 5), UTF8), 5);
        assert_eq!(position(&rope, 5, UTF16), pos(0, 3));
        assert_eq!(position(&rope, 5, UTF8), pos(0, 5));
        let call = "a🎉b\nx = q(".len();
        assert_eq!(position(&rope, call, UTF16), pos(1, 6));
        assert_eq!(position(&rope, call + 4, UTF16), pos(1, 8));
    }

    #[test]
    fn columns_inside_a_character_round_down() {
        let rope = Rope::from_str("a🎉b");
        assert_eq!(offset(&rope, pos(0, 2), UTF16), 1);
        assert_eq!(offset(&rope, pos(0, 3), UTF8), 1);
        assert_eq!(position(&rope, 3, UTF8), pos(0, 1));
    }

    #[test]
    fn out_of_range_positions_are_clamped() {
        let rope = Rope::from_str("ab\r\ncd\n");
        assert_eq!(offset(&rope, pos(0, 99), UTF16), 2);
        assert_eq!(offset(&rope, pos(1, 99), UTF8), 6);
        assert_eq!(offset(&rope, pos(2, 0), UTF8), 7);
        assert_eq!(offset(&rope, pos(2, 5), UTF8), 7);
        assert_eq!(offset(&rope, pos(u32::MAX, u32::MAX), UTF16), 7);
        assert_eq!(position(&rope, 1000, UTF16), pos(2, 0));
    }

    #[test]
    fn every_lsp_line_ending_counts() {
        let rope = Rope::from_str("a\rb\r\nc\nd");
        assert_eq!(offset(&rope, pos(1, 0), UTF16), 2);
        assert_eq!(offset(&rope, pos(2, 0), UTF16), 5);
        assert_eq!(offset(&rope, pos(3, 1), UTF16), 8);
        assert_eq!(position(&rope, 8, UTF8), pos(3, 1));
    }

    #[test]
    fn reversed_ranges_are_rejected() {
        let rope = Rope::from_str("abc");
        let reversed = Range::new(pos(0, 2), pos(0, 1));
        assert_eq!(text_range(&rope, reversed, UTF8), None);
        assert_eq!(
            text_range(&rope, Range::new(pos(0, 1), pos(0, 9)), UTF8),
            Some(1..3)
        );
    }
}
