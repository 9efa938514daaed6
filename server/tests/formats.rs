//! `inbatch check --format sarif` and `--format github` through the built binary. The SARIF log is
//! also validated against the SARIF 2.1.0 JSON schema in `tests/distribution/test_formats.py`.

mod common;

use std::process::Output;

use common::{check_in, check_stdin, run, stderr, stdout, N_PLUS_ONE};
use serde_json::Value;

fn sarif_of(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

fn json_of(args: &[&str]) -> Vec<Value> {
    let mut full = vec!["check", "--format", "json"];
    full.extend_from_slice(args);
    let output = run(&full);
    serde_json::from_str::<Value>(&stdout(&output))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn sarif_log_has_the_driver_with_every_rule() {
    let output = run(&["check", "--format", "sarif", "examples/"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let log = sarif_of(&output);
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"]
        .as_str()
        .unwrap()
        .ends_with("sarif-schema-2.1.0.json"));
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "inbatch");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        driver["informationUri"],
        "https://github.com/inbatch/inbatch"
    );
    let rules = driver["rules"].as_array().unwrap();
    let registry: Vec<_> = inbatch::engine::rules::all().collect();
    assert_eq!(rules.len(), registry.len());
    for (rule, info) in rules.iter().zip(&registry) {
        assert_eq!(rule["id"], info.code);
        assert_eq!(rule["name"], info.name);
        assert_eq!(rule["shortDescription"]["text"], info.summary);
        let full = rule["fullDescription"]["text"].as_str().unwrap();
        assert!(!full.is_empty() && !full.contains('\n'), "{full}");
        assert_eq!(rule["help"]["markdown"], info.documentation);
        assert!(rule["help"]["text"].as_str().unwrap().contains(info.code));
        // The page the link names is checked in (and equal to the rule's documentation, see
        // tests/tidy.rs).
        let page = format!("docs/rules/{}.md", info.code);
        assert_eq!(
            rule["helpUri"],
            format!("https://github.com/inbatch/inbatch/blob/main/{page}")
        );
        let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert!(repository.join(&page).is_file(), "{page} is missing");
    }
}

#[test]
fn sarif_results_match_the_json_output() {
    let output = run(&["check", "--format", "sarif", "examples/"]);
    let log = sarif_of(&output);
    let run0 = &log["runs"][0];
    assert_eq!(run0["columnKind"], "unicodeCodePoints");
    assert!(run0["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap()
        .starts_with("file://"));
    let results = run0["results"].as_array().unwrap();
    let json = json_of(&["examples/"]);
    assert_eq!(results.len(), json.len());
    // Other rules also report on the examples; INB001's two findings carry a fix.
    let inb001 = json.iter().filter(|d| d["code"] == "INB001").count();
    assert_eq!(inb001, 2);
    let mut fixes_seen = 0;
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    for (result, diagnostic) in results.iter().zip(&json) {
        assert_eq!(result["ruleId"], diagnostic["code"]);
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        let level = match diagnostic["severity"].as_str().unwrap() {
            "warning" => "warning",
            _ => "note",
        };
        assert_eq!(result["level"], level);
        assert_eq!(result["message"]["text"], diagnostic["message"]);
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], diagnostic["filename"]);
        assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        let region = &location["region"];
        assert_eq!(region["startLine"], diagnostic["location"]["row"]);
        assert_eq!(region["startColumn"], diagnostic["location"]["column"]);
        assert_eq!(region["endLine"], diagnostic["end_location"]["row"]);
        assert_eq!(region["endColumn"], diagnostic["end_location"]["column"]);

        let empty = Vec::new();
        let related = result["relatedLocations"].as_array().unwrap_or(&empty);
        let expected = diagnostic["related"].as_array().unwrap();
        assert_eq!(related.len(), expected.len());
        for (sarif, json) in related.iter().zip(expected) {
            assert_eq!(sarif["message"]["text"], json["message"]);
            let region = &sarif["physicalLocation"]["region"];
            assert_eq!(region["startLine"], json["location"]["row"]);
            assert_eq!(region["startColumn"], json["location"]["column"]);
            assert_eq!(region["endLine"], json["end_location"]["row"]);
            assert_eq!(region["endColumn"], json["end_location"]["column"]);
        }

        // A fix, when there is one, has the same edits as JSON's.
        let fix = &diagnostic["fix"];
        if diagnostic["code"] == "INB001" {
            assert!(fix.is_object(), "{diagnostic}");
        }
        if fix.is_null() {
            assert!(result.get("fixes").is_none(), "{result}");
            continue;
        }
        fixes_seen += 1;
        let fixes = result["fixes"].as_array().unwrap();
        assert_eq!(fixes.len(), 1);
        assert!(fixes[0]["description"]["text"]
            .as_str()
            .unwrap()
            .starts_with(fix["message"].as_str().unwrap()));
        let changes = fixes[0]["artifactChanges"].as_array().unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0]["artifactLocation"]["uri"],
            diagnostic["filename"]
        );
        let replacements = changes[0]["replacements"].as_array().unwrap();
        let edits = fix["edits"].as_array().unwrap();
        assert_eq!(replacements.len(), edits.len());
        for (replacement, edit) in replacements.iter().zip(edits) {
            assert_eq!(replacement["insertedContent"]["text"], edit["content"]);
            let region = &replacement["deletedRegion"];
            assert_eq!(region["startLine"], edit["location"]["row"]);
            assert_eq!(region["startColumn"], edit["location"]["column"]);
            assert_eq!(region["endLine"], edit["end_location"]["row"]);
            assert_eq!(region["endColumn"], edit["end_location"]["column"]);
        }
        assert_eq!(
            result["properties"]["fixApplicability"],
            fix["applicability"]
        );
    }
    assert!(fixes_seen >= 2);
}

#[test]
fn sarif_without_findings_is_an_empty_run_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clean.py"), "x = 1\n").unwrap();
    let output = check_in(dir.path(), &["--format", "sarif"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let log = sarif_of(&output);
    assert_eq!(log["runs"][0]["results"], Value::Array(Vec::new()));
    assert!(!log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn sarif_uris_are_percent_encoded_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("my pkg")).unwrap();
    std::fs::write(dir.path().join("my pkg").join("vüe,1.py"), N_PLUS_ONE).unwrap();
    let output = check_in(
        dir.path(),
        &["--extend-select", "INB001", "--format", "sarif"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let log = sarif_of(&output);
    let location = &log["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "my%20pkg/v%C3%BCe%2C1.py"
    );
}

#[test]
fn sarif_columns_count_characters() {
    let dir = tempfile::tempdir().unwrap();
    let source = "def f(session, ids):\n    for uid in ids:\n        é = session.get(User, uid)\n";
    std::fs::write(dir.path().join("a.py"), source).unwrap();
    let output = check_in(
        dir.path(),
        &["--extend-select", "INB001", "--format", "sarif", "a.py"],
    );
    let log = sarif_of(&output);
    let region = &log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"];
    // `é` is two bytes but one character: the query starts in character column 13.
    assert_eq!(region["startLine"], 3);
    assert_eq!(region["startColumn"], 13);
    assert_eq!(region["endColumn"], 13 + "session.get(User, uid)".len());
}

#[test]
fn sarif_reads_standard_input() {
    let output = check_stdin(
        &[
            "--extend-select",
            "INB001",
            "--format",
            "sarif",
            "--stdin-filename",
            "pkg/mod.py",
            "-",
        ],
        N_PLUS_ONE.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(1));
    let log = sarif_of(&output);
    assert_eq!(
        log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "pkg/mod.py"
    );
}

#[test]
fn github_lines_are_workflow_commands() {
    let output = run(&["check", "--format", "github", "examples/"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    let json = json_of(&["examples/"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), json.len());
    for (line, diagnostic) in lines.iter().zip(&json) {
        let command = match diagnostic["severity"].as_str().unwrap() {
            "warning" => "warning",
            _ => "notice",
        };
        let expected = format!(
            "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            diagnostic["filename"].as_str().unwrap(),
            diagnostic["location"]["row"],
            diagnostic["location"]["column"],
            diagnostic["end_location"]["row"],
            diagnostic["end_location"]["column"],
            diagnostic["code"].as_str().unwrap(),
            diagnostic["message"].as_str().unwrap(),
        );
        assert_eq!(*line, expected);
    }
    assert!(lines.iter().any(|line| line.starts_with(
        "::warning file=examples/analytics/n_plus_one.py,line=9,col=20,endLine=9,endColumn=62,title=INB001::"
    )));
}

#[test]
fn github_escapes_properties_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let source =
        "def f(session, ids):\n    for uid in ids:\n        session.get(User, \"%d,x:y\" % uid)\n";
    std::fs::write(dir.path().join("a,b:c.py"), source).unwrap();
    let output = check_in(
        dir.path(),
        &["--extend-select", "INB001", "--format", "github"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    let line = text.lines().next().unwrap();
    assert!(
        line.starts_with(
            "::warning file=a%2Cb%3Ac.py,line=3,col=9,endLine=3,endColumn=42,title=INB001::"
        ),
        "{line}"
    );
    let message = line.split_once("title=INB001::").unwrap().1;
    // The message keeps `,` and `:` but encodes `%`.
    assert!(
        message.starts_with("`session.get(User, \"%25d,x:y\" %25 uid)` runs once per `uid`"),
        "{message}"
    );
}

#[test]
fn github_without_findings_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clean.py"), "x = 1\n").unwrap();
    let output = check_in(dir.path(), &["--format", "github"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "");
}

#[test]
fn help_lists_the_new_formats() {
    let output = run(&["check", "--help"]);
    let text = stdout(&output);
    assert!(text.contains("sarif"), "{text}");
    assert!(text.contains("github"), "{text}");
}
