// The independent oracle for LSP positions, shared by `lsp::document`'s unit tests and
// `tests/properties.rs` through `include!`: the code under test is the rope-based
// `lsp::position::offset`, so this one must not call it. The including module imports `Position`
// (tower-lsp-server's) and `PositionEncoding`.

/// The byte offset of an LSP position computed the slow, obvious way (lines end at `\n`, `\r\n`
/// or a lone `\r`; out-of-range positions clamp; a column inside a character rounds down).
fn naive_offset(text: &str, position: Position, encoding: PositionEncoding) -> usize {
    let bytes = text.as_bytes();
    let mut line_starts = vec![0];
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            line_starts.push(i + 1);
        }
    }
    let Some(&start) = line_starts.get(position.line as usize) else {
        return text.len();
    };
    let mut units = 0;
    for (i, c) in text[start..].char_indices() {
        if c == '\n' || c == '\r' {
            return start + i;
        }
        let width = match encoding {
            PositionEncoding::Utf8 => c.len_utf8(),
            PositionEncoding::Utf16 => c.len_utf16(),
        };
        if units + width > position.character as usize {
            return start + i;
        }
        units += width;
    }
    text.len()
}
