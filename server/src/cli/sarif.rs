//! `--format sarif`: a SARIF 2.1.0 log for code scanning (GitHub, Azure DevOps, IDE viewers).
//!
//! One run whose tool driver lists every rule of the registry, whether selected or not, so that a
//! result's `ruleIndex` is its rule's position in the registry. Locations use the same 1-based rows
//! and character columns as the other formats (`columnKind: unicodeCodePoints`); end columns are
//! exclusive, as SARIF's are.

use std::fmt::Write;
use std::path::{Component, Path};

use serde_json::{json, Value};

use super::location::{location, SourceText};
use super::output::{other_location, Checked};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::Fix;
use crate::engine::rule_info::REPOSITORY_URL;
use crate::engine::rules::{self, RuleInfo};
use crate::engine::source::TextRange;

pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// The project's home page: its repository.
pub const INFORMATION_URI: &str = REPOSITORY_URL;
/// The base that relative artifact URIs resolve against: the folder `inbatch check` ran in.
const SRCROOT: &str = "%SRCROOT%";

pub fn sarif(results: &[Checked]) -> String {
    let registry: Vec<&'static RuleInfo> = rules::all().collect();
    let rule_descriptors: Vec<Value> = registry.iter().map(|rule| rule_descriptor(rule)).collect();
    let mut sarif_results = Vec::new();
    for checked in results {
        let uri = artifact_uri(&checked.path);
        for diagnostic in &checked.diagnostics {
            let index = registry
                .iter()
                .position(|rule| rule.code == diagnostic.rule.code);
            sarif_results.push(result(diagnostic, index, &checked.file, &uri));
        }
    }
    let mut run = json!({
        "tool": {
            "driver": {
                "name": "inbatch",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": INFORMATION_URI,
                "rules": rule_descriptors,
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": sarif_results,
    });
    if let Some(root) = srcroot_uri() {
        run["originalUriBaseIds"] = json!({ SRCROOT: { "uri": root } });
    }
    let log = json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [run],
    });
    let mut out = serde_json::to_string_pretty(&log).expect("the SARIF log serialises");
    out.push('\n');
    out
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Warning => "warning",
        Severity::Information => "note",
    }
}

fn rule_descriptor(rule: &RuleInfo) -> Value {
    let help_uri = rule.docs_url();
    json!({
        "id": rule.code,
        "name": rule.name,
        "shortDescription": { "text": rule.summary },
        "fullDescription": {
            "text": full_description(rule),
            "markdown": rule.documentation,
        },
        "help": {
            "text": format!("{} See {help_uri} or run `inbatch rule {}`.", sentence(rule.summary), rule.code),
            "markdown": rule.documentation,
        },
        "helpUri": help_uri,
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": { "tags": ["performance", "orm", "n-plus-one"] },
    })
}

/// The rule documentation's "What it does" section as one plain paragraph (the whole
/// documentation is in `markdown`).
fn full_description(rule: &RuleInfo) -> String {
    let mut lines = rule
        .documentation
        .lines()
        .skip_while(|line| !line.starts_with("## What it does"))
        .skip(1)
        .take_while(|line| !line.starts_with("## "))
        .map(str::trim)
        .peekable();
    let mut text = String::new();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            if !text.is_empty() && lines.peek().is_some_and(|next| !next.is_empty()) {
                text.push(' ');
            }
            continue;
        }
        if !text.is_empty() && !text.ends_with(' ') {
            text.push(' ');
        }
        text.push_str(line);
    }
    if text.is_empty() {
        sentence(rule.summary)
    } else {
        text
    }
}

fn sentence(text: &str) -> String {
    if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

fn result(
    diagnostic: &Diagnostic,
    rule_index: Option<usize>,
    file: &SourceText,
    uri: &Value,
) -> Value {
    let mut result = json!({
        "ruleId": diagnostic.rule.code,
        "level": level(diagnostic.severity()),
        "message": { "text": diagnostic.message },
        "locations": [{ "physicalLocation": physical_location(uri, file, &diagnostic.range) }],
    });
    if let Some(index) = rule_index {
        result["ruleIndex"] = json!(index);
    }
    if !diagnostic.related.is_empty() {
        result["relatedLocations"] = Value::Array(
            diagnostic
                .related
                .iter()
                .enumerate()
                .map(|(id, related)| {
                    let physical = match &related.file {
                        None => physical_location(uri, file, &related.range),
                        Some(other) => {
                            let start = other_location(&other.start);
                            let end = other_location(&other.end);
                            json!({
                                "artifactLocation": artifact_uri(&other.path),
                                "region": {
                                    "startLine": start.row,
                                    "startColumn": start.column,
                                    "endLine": end.row,
                                    "endColumn": end.column,
                                },
                            })
                        }
                    };
                    json!({
                        "id": id,
                        "message": { "text": related.message },
                        "physicalLocation": physical,
                    })
                })
                .collect(),
        );
    }
    if let Some(fix) = &diagnostic.fix {
        result["fixes"] = json!([sarif_fix(fix, file, uri)]);
    }
    let mut properties = json!({ "name": diagnostic.rule.name });
    if let Some(fix) = &diagnostic.fix {
        properties["fixApplicability"] = json!(fix.applicability.as_str());
    }
    if let Some(reason) = &diagnostic.no_fix_reason {
        properties["noFixReason"] = json!(reason);
    }
    result["properties"] = properties;
    result
}

fn sarif_fix(fix: &Fix, file: &SourceText, uri: &Value) -> Value {
    json!({
        "description": { "text": format!("{} ({} fix)", fix.message, fix.applicability.as_str()) },
        "artifactChanges": [{
            "artifactLocation": uri,
            "replacements": fix.edits.iter().map(|edit| json!({
                "deletedRegion": region(file, &edit.range),
                "insertedContent": { "text": edit.content },
            })).collect::<Vec<_>>(),
        }],
    })
}

fn physical_location(uri: &Value, file: &SourceText, range: &TextRange) -> Value {
    json!({
        "artifactLocation": uri,
        "region": region(file, range),
    })
}

fn region(file: &SourceText, range: &TextRange) -> Value {
    let start = location(file, range.start);
    let end = location(file, range.end.max(range.start));
    json!({
        "startLine": start.row,
        "startColumn": start.column,
        "endLine": end.row,
        "endColumn": end.column,
    })
}

/// The artifact location of a checked file: relative to `%SRCROOT%` (the folder `inbatch check`
/// ran in) when the shown path is relative, a `file:` URI when it is absolute.
fn artifact_uri(path: &Path) -> Value {
    if path.is_absolute() {
        return json!({ "uri": file_uri(path) });
    }
    let relative: Vec<String> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(part) => Some(percent_encode(&part.to_string_lossy())),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect();
    json!({ "uri": relative.join("/"), "uriBaseId": SRCROOT })
}

fn srcroot_uri() -> Option<String> {
    let cwd = std::env::current_dir().ok()?;
    let mut uri = file_uri(&cwd);
    if !uri.ends_with('/') {
        uri.push('/');
    }
    Some(uri)
}

fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    let text = path.to_string_lossy().replace('\\', "/");
    if !text.starts_with('/') {
        // A Windows drive path: file:///C:/...
        uri.push('/');
    }
    for (i, part) in text.split('/').enumerate() {
        if i > 0 {
            uri.push('/');
        }
        // Keep a drive letter's colon readable.
        if i == 0 && part.len() == 2 && part.ends_with(':') {
            uri.push_str(part);
        } else {
            uri.push_str(&percent_encode(part));
        }
    }
    uri
}

/// Percent-encodes one path segment: everything but RFC 3986's unreserved characters.
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(percent_encode("a b#é.py"), "a%20b%23%C3%A9.py");
        assert_eq!(
            artifact_uri(Path::new("./pkg/my file.py")),
            json!({ "uri": "pkg/my%20file.py", "uriBaseId": SRCROOT })
        );
        assert_eq!(
            artifact_uri(Path::new("/srv/app/x.py")),
            json!({ "uri": "file:///srv/app/x.py" })
        );
    }

    #[test]
    fn every_rule_has_a_plain_full_description() {
        for rule in rules::all() {
            let text = full_description(rule);
            assert!(
                !text.is_empty() && !text.contains('\n'),
                "{}: {text}",
                rule.code
            );
        }
    }
}
