//! The CLI's one conversion from engine byte offsets to 1-based rows and character columns.

use serde::Serialize;

use crate::engine::source::{LineIndex, SourceFile};

/// A checked file's text and line index: what output needs, without the tree (a project's trees
/// are dropped as soon as each file is checked).
pub struct SourceText {
    text: String,
    line_index: LineIndex,
}

impl SourceText {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn line_index(&self) -> &LineIndex {
        &self.line_index
    }
}

impl From<SourceFile> for SourceText {
    fn from(file: SourceFile) -> SourceText {
        let (text, line_index) = file.into_text();
        SourceText { text, line_index }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    pub row: usize,
    pub column: usize,
}

pub fn location(file: &SourceText, offset: usize) -> Location {
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
