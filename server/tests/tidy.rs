//! What CONTRIBUTING.md asks of every rule, checked: its documentation has the fixed sections,
//! its fixtures have findings and near-misses that must stay silent, the README lists it, and a
//! rule that offers a fix has a case in the fix harness, which runs original and fixed code
//! against SQLite; the checked-in rule pages (`docs/rules/`) are generated from the rule modules.

use std::fs;
use std::path::{Path, PathBuf};

use inbatch::engine::rules::{FixAvailability, REGISTRY};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn python_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            python_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
}

/// The top-level functions of a fixture, as (name, body lines).
fn functions(text: &str) -> Vec<(String, Vec<&str>)> {
    let mut found: Vec<(String, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        let header = line
            .strip_prefix("async def ")
            .or_else(|| line.strip_prefix("def "));
        if let Some(header) = header {
            let name = header.split('(').next().unwrap_or(header).to_string();
            found.push((name, vec![line]));
        } else if line.starts_with(|c: char| !c.is_whitespace() && c != '#' && c != ')') {
            // Module-level code ends the function before it.
            found.push((String::new(), Vec::new()));
        } else if let Some((_, body)) = found.last_mut() {
            body.push(line);
        }
    }
    found.retain(|(name, _)| !name.is_empty());
    found
}

fn expects(line: &str, code: &str) -> bool {
    line.split("# expect:")
        .nth(1)
        .is_some_and(|codes| codes.split([',', ' ']).any(|c| c.trim() == code))
}

#[test]
fn every_rule_documents_the_fixed_sections() {
    for entry in REGISTRY {
        let info = entry.info;
        for section in [
            "## What it does",
            "## Why is this bad?",
            "## Example",
            "## Use instead",
            "## Fix safety",
        ] {
            assert!(
                info.documentation.contains(section),
                "{}: its documentation has no `{section}` section",
                info.code
            );
        }
    }
}

#[test]
fn every_rule_has_positive_and_negative_fixtures() {
    let root = repository().join("tests/fixtures/rules");
    for entry in REGISTRY {
        let code = entry.info.code;
        let mut files = Vec::new();
        python_files(&root.join(code), &mut files);
        assert!(
            !files.is_empty(),
            "{code}: no fixtures in tests/fixtures/rules/{code}/"
        );
        let (mut positive, mut negative) = (0, 0);
        for file in &files {
            let text = fs::read_to_string(file).unwrap();
            for (_, body) in functions(&text) {
                if body.iter().any(|line| expects(line, code)) {
                    positive += 1;
                } else {
                    negative += 1;
                }
            }
        }
        assert!(
            positive > 0,
            "{code}: no fixture function expects a finding (`# expect: {code}`)"
        );
        assert!(
            negative > 0,
            "{code}: no fixture function is a near miss that must stay silent"
        );
    }
}

#[test]
fn every_rule_has_a_row_in_the_readme() {
    let readme = fs::read_to_string(repository().join("README.md")).unwrap();
    for entry in REGISTRY {
        let info = entry.info;
        let row = format!("| {} | {} |", info.code, info.name);
        assert!(
            readme.contains(&row),
            "README.md: the rules table has no row starting `{row}`"
        );
    }
}

/// The pages of `docs/rules/`: one per rule, as `inbatch rule CODE` prints it, and an index.
fn rule_docs() -> Vec<(String, String)> {
    let mut index = String::from(
        "# Rules\n\nGenerated from the rule modules (`server/src/engine/rules/`), as `inbatch rule \
         CODE` prints them; regenerate with `UPDATE_RULE_DOCS=1 cargo test -p inbatch --test \
         tidy rule_docs`.\n\n| code | name | on by default | what it flags |\n|---|---|---|---|\n",
    );
    let mut pages = Vec::new();
    let mut rules: Vec<_> = REGISTRY.iter().map(|entry| entry.info).collect();
    rules.sort_by_key(|info| info.code);
    for info in rules {
        let default = if info.enabled_by_default { "yes" } else { "no" };
        index.push_str(&format!(
            "| [{code}]({code}.md) | {} | {default} | {} |\n",
            info.name,
            info.summary.replace('|', "\\|"),
            code = info.code
        ));
        pages.push((format!("{}.md", info.code), info.page()));
    }
    pages.push(("README.md".to_string(), index));
    pages
}

/// The checked-in rule pages (which diagnostics link) are the rule modules' documentation.
#[test]
fn rule_docs_are_generated_from_the_rule_modules() {
    let folder = repository().join(inbatch::engine::rule_info::RULE_DOCS_FOLDER);
    let expected = rule_docs();
    if std::env::var_os("UPDATE_RULE_DOCS").is_some() {
        if folder.is_dir() {
            fs::remove_dir_all(&folder).unwrap();
        }
        fs::create_dir_all(&folder).unwrap();
        for (name, text) in &expected {
            fs::write(folder.join(name), text).unwrap();
        }
    }
    let regenerate = "regenerate them with `UPDATE_RULE_DOCS=1 cargo test -p inbatch --test tidy \
                      rule_docs` and commit the result";
    for (name, text) in &expected {
        let found = fs::read_to_string(folder.join(name)).unwrap_or_default();
        assert!(
            found == *text,
            "docs/rules/{name} is not what the rule modules generate; {regenerate}"
        );
    }
    let mut checked_in: Vec<String> = fs::read_dir(&folder)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    checked_in.retain(|name| expected.iter().all(|(generated, _)| generated != name));
    assert!(
        checked_in.is_empty(),
        "docs/rules/ holds pages of no rule: {checked_in:?}; {regenerate}"
    );
}

/// Fixes whose effect no program run can show, and why.
const NOT_EXECUTABLE: &[(&str, &str)] = &[("INB901", "it removes a comment")];

#[test]
fn every_fixing_rule_has_a_case_in_the_fix_harness() {
    let cases = repository().join("tests/fixtures/fixes");
    let mut covered: Vec<String> = Vec::new();
    for case in fs::read_dir(&cases).unwrap() {
        let case = case.unwrap().path();
        let Ok(text) = fs::read_to_string(case.join("case.toml")) else {
            continue;
        };
        let table: toml::Table = text.parse().unwrap();
        match table.get("rules").and_then(|rules| rules.as_array()) {
            Some(rules) => {
                covered.extend(rules.iter().filter_map(|r| r.as_str().map(String::from)))
            }
            // The harness's default: an INB001 batch rewrite.
            None => covered.push("INB001".to_string()),
        }
    }
    for entry in REGISTRY {
        let info = entry.info;
        if info.fix == FixAvailability::None
            || NOT_EXECUTABLE.iter().any(|(code, _)| *code == info.code)
        {
            continue;
        }
        assert!(
            covered.iter().any(|code| code == info.code),
            "{}: offers a fix but no case in tests/fixtures/fixes/ runs it (case.toml `rules`)",
            info.code
        );
    }
}

#[test]
fn fixture_functions_are_split_at_module_level_code() {
    let text =
        "import x\n\ndef a():\n    q()  # expect: INB001\n\n\nX = 1\n\nasync def b():\n    pass\n";
    let found = functions(text);
    assert_eq!(found.len(), 2);
    assert!(found[0].1.iter().any(|line| expects(line, "INB001")));
    assert!(!found[1].1.iter().any(|line| expects(line, "INB001")));
}
