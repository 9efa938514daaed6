//! The CLI's one conversion from engine byte offsets to 1-based rows and character columns.

use serde::Serialize;

use crate::engine::source::SourceFile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    pub row: usize,
    pub column: usize,
}

pub fn location(file: &SourceFile, offset: usize) -> Location {
    let text = file.text();
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let (line, _) = file.line_index().line_col(offset);
    let start = file.line_index().line_start(line);
    Location {
        row: line + 1,
        column: text[start..offset].chars().count() + 1,
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
