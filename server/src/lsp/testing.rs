//! Hooks for the end-to-end tests, compiled into debug builds only.
//!
//! `INBATCH_TEST_PANIC_ON=<marker>` panics while analysing any document that contains the marker,
//! so the tests can prove a panic is contained. `INBATCH_TEST_FIX=safe|unsafe` replaces every
//! diagnostic's fix with one that replaces the flagged code with `[]`, so that the fix plumbing
//! (diagnostic data, quick fixes, `codeAction/resolve`, `source.fixAll`) is tested on fixes whose
//! result the tests know, whatever the rules' own fixes do.

use crate::engine::diagnostic::Diagnostic;

#[cfg(debug_assertions)]
pub fn before_analysis(text: &str) {
    if let Some(marker) = std::env::var("INBATCH_TEST_PANIC_ON")
        .ok()
        .filter(|m| !m.is_empty())
    {
        if text.contains(&marker) {
            panic!("INBATCH_TEST_PANIC_ON: the document contains {marker:?}");
        }
    }
}

#[cfg(not(debug_assertions))]
pub fn before_analysis(_text: &str) {}

#[cfg(debug_assertions)]
pub fn after_analysis(diagnostics: &mut [Diagnostic]) {
    use crate::engine::fix::{Applicability, Edit, Fix};

    let applicability = match std::env::var("INBATCH_TEST_FIX").as_deref() {
        Ok("safe") => Applicability::Safe,
        Ok("unsafe") => Applicability::Unsafe,
        _ => return,
    };
    for diagnostic in diagnostics.iter_mut() {
        diagnostic.fix = Some(Fix::new(
            "Replace the query with an empty list",
            applicability,
            vec![Edit::replace(diagnostic.range.clone(), "[]")],
        ));
    }
}

#[cfg(not(debug_assertions))]
pub fn after_analysis(_diagnostics: &mut [Diagnostic]) {}
