//! Data-driven rule tests. Every fixture under `tests/fixtures/rules/<CODE>/` marks each line that
//! must be flagged with `# expect: <CODE>`; the test asserts that exactly those lines are flagged
//! and snapshots the rendered output (reviewed with `cargo insta review`).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// (row, code) pairs the fixture marks with `# expect: CODE`.
fn expected(text: &str) -> BTreeSet<(u64, String)> {
    let mut expected = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        for part in line.split("# expect: ").skip(1) {
            for code in part.split([',', ' ']).filter(|c| c.starts_with("INB")) {
                expected.insert((index as u64 + 1, code.to_string()));
            }
        }
    }
    expected
}

fn check_fixture(path: &Path) {
    let relative = path
        .strip_prefix(common::repo_root())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let code = path
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(path).unwrap();
    // A fixture may select more rules than its own on its first line (INB901 needs the rules
    // whose suppressions it judges): `# select: INB001,INB901`.
    let select = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("# select: "))
        .map(|codes| codes.trim().to_string())
        .unwrap_or_else(|| code.clone());

    let output = common::run(&["check", "--select", &select, "--format", "json", &relative]);
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    let found: BTreeSet<(u64, String)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["location"]["row"].as_u64().unwrap(),
                d["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(u64, String)> = expected(&text)
        .into_iter()
        .filter(|(_, c)| *c == code)
        .collect();
    let missing: Vec<_> = expected.difference(&found).collect();
    let unexpected: Vec<_> = found.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{relative}: missing {missing:?}, unexpected {unexpected:?}"
    );

    // Concise lines build no fixes: they must report exactly the diagnostics JSON does.
    let concise = common::run(&[
        "check", "--select", &select, "--format", "concise", &relative,
    ]);
    let concise: Vec<String> = common::stdout(&concise)
        .lines()
        .filter(|line| line.starts_with(relative.as_str()))
        .map(str::to_string)
        .collect();
    let from_json: Vec<String> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{relative}:{}:{}: {} {}",
                d["location"]["row"],
                d["location"]["column"],
                d["code"].as_str().unwrap(),
                d["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(concise, from_json, "{relative}: concise output differs");

    let rendered = common::run(&["check", "--select", &select, "--no-color", &relative]);
    let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
    insta::assert_snapshot!(format!("{code}__{stem}"), common::stdout(&rendered));

    check_fixes(&relative, &select, &code, &stem, &json);
}

/// Snapshots the fixes as a diff, then applies them to a copy and checks that they are stable:
/// a second run changes nothing, and only the findings that had no fix are left.
fn check_fixes(relative: &str, select: &str, code: &str, stem: &str, before: &Value) {
    let diff = common::run(&[
        "check",
        "--select",
        select,
        "--diff",
        "--unsafe-fixes",
        relative,
    ]);
    insta::assert_snapshot!(format!("{code}__{stem}__fix"), common::stdout(&diff));

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(format!("{stem}.py"));
    std::fs::copy(common::repo_root().join(relative), &copy).unwrap();
    let copy = copy.to_str().unwrap();
    common::run(&["check", "--select", select, "--fix", "--unsafe-fixes", copy]);
    let again = common::run(&[
        "check",
        "--select",
        select,
        "--diff",
        "--unsafe-fixes",
        copy,
    ]);
    assert_eq!(
        common::stdout(&again),
        "",
        "{stem}: fixes are not idempotent"
    );
    let after = common::run(&["check", "--select", select, "--format", "json", copy]);
    let after: Value = serde_json::from_slice(&after.stdout).unwrap();
    let unfixable = before
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["fix"].is_null())
        .count();
    assert_eq!(
        after.as_array().unwrap().len(),
        unfixable,
        "{stem}: fixed loops still flagged: {after:#}"
    );
}

#[test]
fn inb001_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB001", "*.py", |path| {
        check_fixture(path)
    });
}

#[test]
fn inb002_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB002", "*.py", check_fixture);
}

#[test]
fn inb006_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB006", "*.py", check_fixture);
}

#[test]
fn inb007_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB007", "*.py", check_fixture);
}

#[test]
fn inb003_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB003", "*.py", check_fixture);
}

/// A folder under `tests/fixtures/rules/<CODE>/` is one project (a `setup.cfg` marks its root):
/// its files are checked together, so that calls are followed from one file into another (INB003)
/// and the model index sees what other files declare (INB005: receivers in a `signals.py`,
/// overrides in a mixin module). Every line marked `# expect: CODE` in any of its files must be
/// exactly the flagged ones (of the `select`ed rules: INB003 with INB901, which judges the
/// suppressions of cross-file findings), and the text output, which shows the locations in other
/// files and the reasons a fix is not offered, is a snapshot.
fn check_project_fixture(dir: &Path, code: &str, select: &str) {
    let relative = dir
        .strip_prefix(common::repo_root())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let case = dir.file_name().unwrap().to_str().unwrap().to_string();
    let output = common::run(&["check", "--select", select, "--format", "json", &relative]);
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    let found: BTreeSet<(String, u64, String)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["filename"].as_str().unwrap().to_string(),
                d["location"]["row"].as_u64().unwrap(),
                d["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut expected_lines = BTreeSet::new();
    for file in python_files(dir) {
        let name = file
            .strip_prefix(common::repo_root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        for (row, code) in expected(&text) {
            expected_lines.insert((name.clone(), row, code));
        }
    }
    let missing: Vec<_> = expected_lines.difference(&found).collect();
    let unexpected: Vec<_> = found.difference(&expected_lines).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{relative}: missing {missing:?}, unexpected {unexpected:?}"
    );
    let rendered = common::run(&["check", "--select", select, "--no-color", &relative]);
    insta::assert_snapshot!(
        format!("{code}__project__{case}"),
        common::stdout(&rendered)
    );
}

fn python_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(python_files(&path));
        } else if path.extension().is_some_and(|e| e == "py") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The project folders under `tests/fixtures/rules/<code>/`.
fn project_cases(code: &str) -> Vec<std::path::PathBuf> {
    let root = common::repo_root().join("tests/fixtures/rules").join(code);
    let mut cases: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

#[test]
fn inb003_project_fixtures() {
    let cases = project_cases("INB003");
    assert!(cases.len() >= 5, "the multi-file cases are there");
    for case in cases {
        check_project_fixture(&case, "INB003", "INB003,INB901");
    }
}

#[test]
fn inb005_project_fixtures() {
    let cases = project_cases("INB005");
    assert!(!cases.is_empty(), "the multi-file cases are there");
    for case in cases {
        check_project_fixture(&case, "INB005", "INB005");
    }
}

#[test]
fn inb004_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB004", "*.py", check_fixture);
}

#[test]
fn inb005_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB005", "*.py", check_fixture);
}

#[test]
fn inb901_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB901", "*.py", check_fixture);
}

#[test]
fn inb101_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB101", "*.py", check_fixture);
}

#[test]
fn inb102_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB102", "*.py", check_fixture);
}

#[test]
fn inb201_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB201", "*.py", check_fixture);
}

#[test]
fn inb301_fixtures() {
    insta::glob!("../../tests/fixtures/rules/INB301", "*.py", check_fixture);
}

/// The fixture corpus keeps its promised size: at least 40 flagged and 25 clean snippets.
#[test]
fn inb001_fixture_corpus_size() {
    let dir = common::repo_root().join("tests/fixtures/rules/INB001");
    let mut positives = 0;
    let mut negatives = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        positives += expected(&text).len();
        // A clean snippet is a function without any expectation inside.
        for function in text
            .split("\ndef ")
            .skip(1)
            .chain(text.split("\nasync def ").skip(1))
        {
            let body = function
                .split("\ndef ")
                .next()
                .unwrap()
                .split("\nasync def ")
                .next()
                .unwrap();
            if !body.contains("# expect:") {
                negatives += 1;
            }
        }
    }
    assert!(positives >= 40, "only {positives} positive snippets");
    assert!(negatives >= 25, "only {negatives} negative snippets");
}
