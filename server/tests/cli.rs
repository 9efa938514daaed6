//! End-to-end tests of `inbatch check` and `inbatch rule` through the built binary.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{check_in, check_stdin, run, stderr, stdout, N_PLUS_ONE};
use serde_json::Value;

fn temp_project(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

/// `inbatch check --format concise <args>` from the repository root.
fn check_concise(args: &[&str]) -> std::process::Output {
    let mut full = vec!["check", "--format", "concise"];
    full.extend_from_slice(args);
    run(&full)
}

#[test]
fn examples_report_the_two_filter_by_queries_and_exit_1() {
    let output = check_concise(&["--select", "INB001", "examples/"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("examples/analytics/n_plus_one.py:9:20: INB001 `Session.query.filter_by(user_id=uid)` runs once per `uid` of `user_ids`"));
    assert!(lines[1].starts_with(
        "examples/analytics/n_plus_one.py:10:20: INB001 `Payment.query.filter_by(user_id=uid)`"
    ));
}

/// SPEC §1: the N+1 version has two INB001 and one INB201; the half-fixed version batches its SQL
/// and is still wrong three ways: INB102 ×2, INB301 ×2, INB101 ×2, INB201 ×1.
#[test]
fn examples_report_every_finding_of_the_spec() {
    let output = run(&["check", "--format", "json", "examples/"]);
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let found: Vec<(String, u64, String)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let file = d["filename"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            (
                file,
                d["location"]["row"].as_u64().unwrap(),
                d["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, u64, String)> = [
        ("half_fixed.py", 7, "INB102"),
        ("half_fixed.py", 7, "INB301"),
        ("half_fixed.py", 8, "INB102"),
        ("half_fixed.py", 8, "INB301"),
        ("half_fixed.py", 11, "INB101"),
        ("half_fixed.py", 12, "INB101"),
        ("half_fixed.py", 15, "INB201"),
        ("n_plus_one.py", 9, "INB001"),
        ("n_plus_one.py", 10, "INB001"),
        ("n_plus_one.py", 13, "INB201"),
    ]
    .iter()
    .map(|(f, r, c)| (f.to_string(), *r, c.to_string()))
    .collect();
    assert_eq!(found, expected);
}

/// `--fix --unsafe-fixes` turns the N+1 version into SPEC §1's target shape.
#[test]
fn fixing_the_n_plus_one_example_gives_the_spec_target() {
    let dir = tempfile::tempdir().unwrap();
    let analytics = dir.path().join("analytics");
    std::fs::create_dir_all(&analytics).unwrap();
    for name in ["models.py", "n_plus_one.py", "__init__.py"] {
        std::fs::copy(
            common::repo_root().join("examples/analytics").join(name),
            analytics.join(name),
        )
        .unwrap();
    }
    let output = check_in(
        dir.path(),
        &[
            "--extend-select",
            "INB001",
            "--fix",
            "--unsafe-fixes",
            "analytics/n_plus_one.py",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let fixed = std::fs::read_to_string(analytics.join("n_plus_one.py")).unwrap();
    for line in [
        "from collections import defaultdict",
        "    sessions_by_user_id = defaultdict(list)",
        "    payments_by_user_id = defaultdict(list)",
        "    keys = list(dict.fromkeys(user_ids))",
        "    for start in range(0, len(keys), 1000):",
        "        chunk = keys[start:start + 1000]",
        "        for row in Session.query.filter(Session.user_id.in_(chunk)).all():",
        "            sessions_by_user_id[row.user_id].append(row)",
        "        for row in Payment.query.filter(Payment.user_id.in_(chunk)).all():",
        "            payments_by_user_id[row.user_id].append(row)",
        "        sessions = sessions_by_user_id.get(uid, [])",
        "        payments = payments_by_user_id.get(uid, [])",
        "            \"total_revenue\": sum((p.amount or 0) for p in payments),",
    ] {
        assert!(fixed.contains(line), "missing `{line}` in:\n{fixed}");
    }
}

#[test]
fn text_output_shows_the_source_line_underlined() {
    let output = run(&[
        "check",
        "--select",
        "INB001",
        "--no-color",
        "examples/analytics/n_plus_one.py",
    ]);
    let text = stdout(&output);
    assert!(
        text.contains(" --> examples/analytics/n_plus_one.py:9:20"),
        "{text}"
    );
    assert!(
        text.contains("9 |         sessions = Session.query.filter_by(user_id=uid).all()"),
        "{text}"
    );
    let underline = format!(
        "{}{} INB001",
        " ".repeat(19),
        "^".repeat("Session.query.filter_by(user_id=uid).all()".len())
    );
    assert!(text.contains(&underline), "{text}");
    assert!(
        text.contains("loop over `uid` of `user_ids` repeats the query"),
        "{text}"
    );
    assert!(text.contains("Found 2 diagnostics."), "{text}");
}

#[test]
fn json_output_has_every_field_of_the_spec() {
    let output = run(&[
        "check",
        "--select",
        "INB001",
        "--format",
        "json",
        "examples/analytics/n_plus_one.py",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let first = &list[0];
    assert_eq!(first["code"], "INB001");
    assert_eq!(first["name"], "query-in-loop");
    assert_eq!(first["severity"], "warning");
    assert_eq!(first["filename"], "examples/analytics/n_plus_one.py");
    assert_eq!(
        first["location"],
        serde_json::json!({"row": 9, "column": 20})
    );
    assert_eq!(
        first["end_location"],
        serde_json::json!({"row": 9, "column": 62})
    );
    assert!(first["message"]
        .as_str()
        .unwrap()
        .contains("N+1 queries on `Session`"));
    let related = first["related"].as_array().unwrap();
    assert_eq!(related.len(), 1);
    assert_eq!(related[0]["filename"], "examples/analytics/n_plus_one.py");
    assert_eq!(
        related[0]["location"],
        serde_json::json!({"row": 8, "column": 5})
    );
    assert_eq!(
        related[0]["end_location"],
        serde_json::json!({"row": 8, "column": 24})
    );
    assert!(related[0]["message"].is_string());
    assert!(first.as_object().unwrap().contains_key("fix"));
}

#[test]
fn columns_count_characters_not_bytes() {
    let text = "def f(session, ids):\n    for uid in ids:\n        x = '😀'; print(session.get(User, uid))\n";
    let dir = temp_project(&[("a.py", text.as_bytes())]);
    let output = check_in(
        dir.path(),
        &["--extend-select", "INB001", "--format", "json", "a.py"],
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json[0]["location"],
        serde_json::json!({"row": 3, "column": 24})
    );
}

#[test]
fn clean_files_exit_0() {
    let output = run(&[
        "check",
        "--select",
        "INB001",
        "examples/analytics/half_fixed.py",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("All checks passed!"));
}

#[test]
fn select_and_ignore() {
    let ignored = run(&["check", "--ignore", "INB", "examples/"]);
    assert_eq!(ignored.status.code(), Some(0));
    let selected = check_concise(&["--select", "INB0", "examples/"]);
    assert_eq!(selected.status.code(), Some(1));
    assert_eq!(stdout(&selected).lines().count(), 2);
    let unknown = run(&["check", "--select", "XYZ9", "examples/"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("XYZ9"));
}

/// A code that looks like a rule's but names none (`INB999`) used to select no rule at all and
/// print "All checks passed!": it is an error, on the command line and in the configuration.
#[test]
fn rule_codes_that_name_no_rule_are_errors() {
    for selector in ["INB999", "INB4", "INB0011"] {
        let output = run(&["check", "--select", selector, "examples/"]);
        assert_eq!(output.status.code(), Some(2), "{selector}");
        assert!(
            stderr(&output).contains(&format!("`{selector}`")),
            "{}",
            stderr(&output)
        );
        assert!(stderr(&output).contains("INB001"), "lists the known rules");
        assert!(!stdout(&output).contains("All checks passed"));
        let ignore = run(&["check", "--ignore", selector, "examples/"]);
        assert_eq!(ignore.status.code(), Some(2), "{selector}");
    }
    let dir = temp_project(&[("inbatch.toml", b"select = ['INB999']\n"), ("a.py", b"")]);
    let output = check_in(dir.path(), &["a.py"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("INB999"));
}

#[test]
fn stdin_with_filename() {
    let output = check_stdin(
        &[
            "--extend-select",
            "INB001",
            "--format",
            "json",
            "--stdin-filename",
            "pkg/view.py",
            "-",
        ],
        N_PLUS_ONE.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json[0]["filename"], "pkg/view.py");
    assert_eq!(json[0]["location"]["row"], 3);
}

/// `--force-exclude` applies to the file `--stdin-filename` names, as in ruff: an editor or hook
/// that pipes an excluded file gets no finding, and with `--fix` its text back unchanged.
#[test]
fn force_exclude_applies_to_the_stdin_filename() {
    let dir = temp_project(&[(
        "pyproject.toml",
        b"[tool.inbatch]\nextend-exclude = [\"legacy\"]\n",
    )]);
    let piped = |extra: &[&str]| {
        let mut command = common::inbatch();
        command
            .current_dir(dir.path())
            .args(["check", "--extend-select", "INB001", "--format", "concise"])
            .args(["--stdin-filename", "legacy/view.py"])
            .args(extra);
        common::output_with_stdin(command, N_PLUS_ONE.as_bytes())
    };
    assert_eq!(piped(&[]).status.code(), Some(1), "named, so checked");
    let excluded = piped(&["--force-exclude"]);
    assert_eq!(excluded.status.code(), Some(0), "{}", stderr(&excluded));
    let fixed = piped(&["--force-exclude", "--fix", "--unsafe-fixes"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", stderr(&fixed));
    assert_eq!(stdout(&fixed), N_PLUS_ONE);
}

#[test]
fn missing_path_is_reported_and_other_files_still_checked() {
    let output = check_concise(&[
        "--select",
        "INB001",
        "does/not/exist.py",
        "examples/analytics/n_plus_one.py",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let errors = stderr(&output);
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert!(errors.contains("does/not/exist.py"), "{errors}");
    assert_eq!(stdout(&output).lines().count(), 2);
}

#[test]
fn invalid_utf8_file_is_named_and_others_still_checked() {
    let dir = temp_project(&[
        ("bad.py", b"x = '\xff\xfe'\n"),
        ("good.py", N_PLUS_ONE.as_bytes()),
    ]);
    let output = check_in(
        dir.path(),
        &["--extend-select", "INB001", "--format", "concise", "."],
    );
    assert_eq!(output.status.code(), Some(2));
    let errors = stderr(&output);
    assert!(errors.contains("bad.py: not valid UTF-8"), "{errors}");
    assert_eq!(errors.lines().count(), 1);
    assert!(stdout(&output).contains("good.py:3:15: INB001"));
}

#[test]
fn syntax_error_file_is_still_checked_where_sound() {
    let text = "def broken(:\n    pass\n\ndef f(session, ids):\n    for uid in ids:\n        print(session.get(User, uid))\n";
    let dir = temp_project(&[("a.py", text.as_bytes())]);
    let output = check_in(
        dir.path(),
        &["--extend-select", "INB001", "--format", "concise", "a.py"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("a.py:6:15: INB001"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn unknown_config_key_is_an_error_naming_key_and_file() {
    let dir = temp_project(&[
        ("pyproject.toml", b"[tool.inbatch]\nbatch-sise = 10\n"),
        ("a.py", N_PLUS_ONE.as_bytes()),
    ]);
    let output = check_in(dir.path(), &["a.py"]);
    assert_eq!(output.status.code(), Some(2));
    let errors = stderr(&output);
    assert!(
        errors.contains("batch-sise") && errors.contains("pyproject.toml"),
        "{errors}"
    );
}

#[test]
fn invalid_toml_and_bad_values_are_errors() {
    let dir = temp_project(&[("inbatch.toml", b"select = [\n"), ("a.py", b"")]);
    assert_eq!(check_in(dir.path(), &["a.py"]).status.code(), Some(2));
    let dir = temp_project(&[("inbatch.toml", b"select = ['NOPE1']\n"), ("a.py", b"")]);
    let output = check_in(dir.path(), &["a.py"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("NOPE1"));
}

#[test]
fn config_ignore_and_per_file_ignores_apply() {
    let dir = temp_project(&[
        (
            "pyproject.toml",
            b"[tool.inbatch]\nextend-select = [\"INB001\"]\nper-file-ignores = { \"tests/*\" = [\"INB001\"] }\n",
        ),
        ("tests/a.py", N_PLUS_ONE.as_bytes()),
        ("app/a.py", N_PLUS_ONE.as_bytes()),
    ]);
    let output = check_in(dir.path(), &["--format", "concise"]);
    let text = stdout(&output);
    assert!(text.contains("app/a.py"), "{text}");
    assert!(!text.contains("tests/a.py"), "{text}");

    // `ignore` wins over `extend-select` in one configuration; `--ignore` over the configuration.
    let dir = temp_project(&[
        (
            "inbatch.toml",
            b"extend-select = [\"INB001\"]\nignore = [\"INB001\"]\n",
        ),
        ("a.py", N_PLUS_ONE.as_bytes()),
    ]);
    assert_eq!(check_in(dir.path(), &["a.py"]).status.code(), Some(0));
    let dir = temp_project(&[
        ("inbatch.toml", b"extend-select = [\"INB001\"]\n"),
        ("a.py", N_PLUS_ONE.as_bytes()),
    ]);
    assert_eq!(check_in(dir.path(), &["a.py"]).status.code(), Some(1));
    let output = check_in(dir.path(), &["--ignore", "INB001", "a.py"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn explicit_config_flag() {
    let dir = temp_project(&[
        ("custom.toml", b"extend-select = [\"INB001\"]\n"),
        ("inbatch.toml", b"ignore = [\"INB001\"]\n"),
        ("a.py", N_PLUS_ONE.as_bytes()),
    ]);
    // The file named wins over the discovered `inbatch.toml`, which would hide the finding.
    assert_eq!(
        check_in(dir.path(), &["--config", "custom.toml", "a.py"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(check_in(dir.path(), &["a.py"]).status.code(), Some(0));
    assert_eq!(
        check_in(dir.path(), &["--config", "missing.toml", "a.py"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn gitignore_virtualenvs_and_default_excludes_are_skipped() {
    let dir = temp_project(&[
        (".gitignore", b"generated/\n"),
        ("generated/a.py", N_PLUS_ONE.as_bytes()),
        ("env/pyvenv.cfg", b"home = /usr\n"),
        ("env/lib/b.py", N_PLUS_ONE.as_bytes()),
        ("node_modules/c.py", N_PLUS_ONE.as_bytes()),
        ("src/d.py", N_PLUS_ONE.as_bytes()),
    ]);
    let output = check_in(
        dir.path(),
        &["--extend-select", "INB001", "--format", "concise"],
    );
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("src/d.py:"), "{text}");
}

/// Paths named on the command line are checked whatever `exclude` says; `--force-exclude` (as
/// pre-commit passes it) applies the settings to them too, to files and folders alike, as ruff
/// does.
#[test]
fn force_exclude_applies_the_settings_to_named_files_and_folders() {
    let dir = temp_project(&[
        (
            "pyproject.toml",
            b"[tool.inbatch]\nextend-exclude = [\"legacy\"]\n",
        ),
        ("legacy/a.py", N_PLUS_ONE.as_bytes()),
        ("legacy/sub/b.py", N_PLUS_ONE.as_bytes()),
        ("app/c.py", N_PLUS_ONE.as_bytes()),
    ]);
    let findings = |paths: &[&str], force: bool| {
        let mut args = vec!["--extend-select", "INB001", "--format", "concise"];
        if force {
            args.push("--force-exclude");
        }
        args.extend_from_slice(paths);
        let text = stdout(&check_in(dir.path(), &args));
        let mut files: Vec<String> = text
            .lines()
            .map(|line| line.split(':').next().unwrap().to_string())
            .collect();
        files.dedup();
        files
    };
    assert_eq!(findings(&["."], false), ["app/c.py"]);
    assert_eq!(
        findings(&["legacy/a.py", "legacy/sub", "app/c.py"], false),
        ["app/c.py", "legacy/a.py", "legacy/sub/b.py"]
    );
    assert_eq!(
        findings(&["legacy/a.py", "legacy/sub", "app/c.py"], true),
        ["app/c.py"]
    );
}

/// A method inherited by another file's class is looked up in the base that file imports: of two
/// modules of one name (`app.base` in two services), the one of that file's project, not the
/// one nearest the checked file.
#[test]
fn an_inherited_method_resolves_its_base_near_the_class_that_imports_it() {
    let pure = "class Base:\n    def load(self, session, uid):\n        return {\"id\": uid}\n";
    let querying = "class Base:\n    def load(self, session, uid):\n        \
                    return session.query(User).filter(User.id == uid).first()\n";
    let dir = temp_project(&[
        ("a/pyproject.toml", b""),
        ("a/app/__init__.py", b""),
        ("a/app/base.py", pure.as_bytes()),
        (
            "a/app/views.py",
            b"from lib.repo import Repo\n\n\ndef view(session, ids):\n    repo = Repo()\n    \
              return [repo.load(session, i) for i in ids]\n",
        ),
        ("b/pyproject.toml", b""),
        ("b/app/__init__.py", b""),
        ("b/app/base.py", querying.as_bytes()),
        ("b/lib/__init__.py", b""),
        (
            "b/lib/repo.py",
            b"from app.base import Base\n\n\nclass Repo(Base):\n    pass\n",
        ),
    ]);
    let output = check_in(dir.path(), &["--select", "INB003", "--format", "concise"]);
    let text = stdout(&output);
    assert!(
        text.starts_with("a/app/views.py:6:13: INB003") && text.contains("`Base.load`"),
        "{text}"
    );
}

#[test]
fn output_is_sorted_by_file_and_position() {
    let files: Vec<(String, String)> = (0..12)
        .map(|i| (format!("m{i:02}.py"), N_PLUS_ONE.repeat(2)))
        .collect();
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_bytes()))
        .collect();
    let dir = temp_project(&borrowed);
    let text = stdout(&check_in(
        dir.path(),
        &["--extend-select", "INB001", "--format", "concise"],
    ));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 24);
    let mut sorted = lines.clone();
    sorted.sort_by_key(|line| {
        let mut parts = line.split(':');
        (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().parse::<u32>().unwrap(),
        )
    });
    assert_eq!(lines, sorted);
}

#[test]
fn statistics_count_per_rule() {
    let output = run(&["check", "--statistics", "examples/"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("2\tINB001\t"), "{text}");
    let json = run(&["check", "--statistics", "--format", "json", "examples/"]);
    let value: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value[0]["code"], "INB001");
    assert_eq!(value[0]["count"], 2);
}

#[test]
fn rule_documentation() {
    let output = run(&["rule", "INB001"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for section in [
        "## What it does",
        "## Why is this bad?",
        "## Example",
        "## Use instead",
        "## Fix safety",
    ] {
        assert!(text.contains(section), "missing {section}");
    }
    assert_eq!(run(&["rule", "query-in-loop"]).status.code(), Some(0));
    assert_eq!(run(&["rule", "--all"]).status.code(), Some(0));
    let unknown = run(&["rule", "INB999"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("INB999"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["check", "--format", "yaml"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
}

/// INB003 follows a loop's call into another file; the text output shows where the query is in
/// that file (path, row, character column), whether that file is checked too or only imported.
#[test]
fn text_output_shows_the_query_in_another_file() {
    let dir = temp_project(&[
        ("pyproject.toml", b"[project]\nname = 'app'\n"),
        ("app/__init__.py", b""),
        (
            "app/helpers.py",
            "from app.models import Stat\n\n\ndef load_stats(user_id):\n    return {\"é\": session.get(Stat, user_id)}\n".as_bytes(),
        ),
        (
            "app/views.py",
            b"from .helpers import load_stats as ls\n\n\ndef report(user_ids):\n    for uid in user_ids:\n        ls(uid)\n",
        ),
    ]);
    for paths in [&["."][..], &["app/views.py"][..]] {
        let mut args = vec!["--select", "INB003", "--no-color"];
        args.extend(paths);
        let output = check_in(dir.path(), &args);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(text.contains(" --> app/views.py:6:9"), "{text}");
        assert!(
            text.contains(
                "= note: app/helpers.py:5:18: the query in `load_stats`: `session.get(Stat, user_id)`"
            ),
            "{paths:?}: {text}"
        );
        assert!(text.contains("Found 1 diagnostic."), "{text}");
    }
    let output = check_in(dir.path(), &["--select", "INB003", "--format", "json", "."]);
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let related = &json[0]["related"];
    let query = related
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["filename"] == "app/helpers.py")
        .unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(query["location"]["row"], 5);
    assert_eq!(query["location"]["column"], 18);
    let output = check_in(
        dir.path(),
        &["--select", "INB003", "--format", "sarif", "."],
    );
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    let locations = &sarif["runs"][0]["results"][0]["relatedLocations"];
    assert!(
        locations.as_array().unwrap().iter().any(|l| {
            l["physicalLocation"]["artifactLocation"]["uri"] == "app/helpers.py"
                && l["physicalLocation"]["region"]["startColumn"] == 18
        }),
        "{sarif:#}"
    );
}

/// Checking one file, INB003 reads the classes of the files it imports too: a repository method
/// inherited from a generic base class, re-exported by a package, in files that are not checked.
#[test]
fn one_file_follows_a_method_into_the_base_classes_it_imports() {
    let dir = temp_project(&[
        ("pyproject.toml", b"[project]\nname = 'app'\n"),
        ("app/__init__.py", b""),
        (
            "app/repositories/__init__.py",
            b"from .customers import CustomerRepository\n",
        ),
        (
            "app/repositories/base.py",
            b"from typing import Generic, TypeVar\n\nT = TypeVar('T')\n\n\nclass Repository(Generic[T]):\n    def __init__(self, session):\n        self.session = session\n\n    def get_by_id(self, key):\n        return self.session.get(self.model, key)\n",
        ),
        (
            "app/repositories/customers.py",
            b"from app.models import Customer\n\nfrom .base import Repository\n\n\nclass CustomerRepository(Repository[Customer]):\n    model = Customer\n",
        ),
        (
            "app/views.py",
            b"from app.repositories import CustomerRepository\n\n\ndef report(session, ids):\n    repo = CustomerRepository(session)\n    return [repo.get_by_id(i) for i in ids]\n",
        ),
    ]);
    let output = check_in(
        dir.path(),
        &["--select", "INB003", "--no-color", "app/views.py"],
    );
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains(" --> app/views.py:6:13"), "{text}");
    assert!(
        text.contains(
            "= note: app/repositories/base.py:10:9: `repo.get_by_id` runs `Repository.get_by_id`"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "= note: app/repositories/base.py:11:16: the query in `Repository.get_by_id`"
        ),
        "{text}"
    );
}

/// `--fix` waits for the project's summaries: the unused-suppression fix keeps a `# noqa: INB003`
/// that suppresses a finding through another file, and removes one that suppresses nothing.
#[test]
fn fix_keeps_a_suppression_of_a_finding_through_another_file() {
    let dir = temp_project(&[
        ("pyproject.toml", b"[project]\nname = 'app'\n"),
        ("app/__init__.py", b""),
        (
            "app/helpers.py",
            b"def load_stats(user_id):\n    return session.get(Stat, user_id)\n",
        ),
        (
            "app/views.py",
            b"from app.helpers import load_stats\n\n\ndef report(user_ids):\n    for uid in user_ids:\n        load_stats(uid)  # noqa: INB003\n        print(uid)  # noqa: INB003\n",
        ),
    ]);
    let output = check_in(dir.path(), &["--extend-select", "INB003", "--fix", "."]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let views = std::fs::read_to_string(dir.path().join("app/views.py")).unwrap();
    assert!(
        views.contains("load_stats(uid)  # noqa: INB003\n"),
        "{views}"
    );
    assert!(views.contains("        print(uid)\n"), "{views}");
}

/// `inbatch check ... | head -1`: the reader goes away after one line. The rest of the output is
/// dropped, the exit code is the run's (1: findings), and nothing panics (was exit 101).
#[test]
fn a_closed_standard_output_ends_the_run_normally() {
    let many: String = (0..2000)
        .map(|i| N_PLUS_ONE.replace("def f(", &format!("def f{i}(")) + "\n\n")
        .collect();
    let dir = temp_project(&[("many.py", many.as_bytes())]);
    let mut child = common::inbatch()
        .current_dir(dir.path())
        .args([
            "check",
            "--extend-select",
            "INB001",
            "--format",
            "concise",
            ".",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    assert!(
        first_line.starts_with("many.py:3:15: INB001"),
        "{first_line}"
    );
    // The reader is dropped here: the rest of the output (200 KB, more than a pipe holds) meets a
    // closed pipe.
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

/// Runs `inbatch check <args>` in `dir`, failing the test (and killing inbatch) after 30 s: the
/// cases below used to wait forever.
fn check_within_30_seconds(dir: &Path, args: &[&str]) -> Output {
    let child = common::inbatch()
        .current_dir(dir)
        .arg("check")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    match receiver.recv_timeout(Duration::from_secs(30)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("inbatch check {args:?} did not finish in 30 s");
        }
    }
}

#[test]
fn a_pipe_or_device_named_on_the_command_line_is_an_error_not_a_wait() {
    let dir = temp_project(&[("good.py", N_PLUS_ONE.as_bytes())]);
    let status = Command::new("mkfifo")
        .arg(dir.path().join("pipe.py"))
        .status()
        .unwrap();
    assert!(status.success());
    for special in ["pipe.py", "/dev/null", "/dev/zero"] {
        let output = check_within_30_seconds(
            dir.path(),
            &[
                "--extend-select",
                "INB001",
                "--format",
                "concise",
                special,
                "good.py",
            ],
        );
        assert_eq!(output.status.code(), Some(2), "{special}");
        let errors = stderr(&output);
        assert!(
            errors.contains(&format!("{special}: not a regular file or folder")),
            "{errors}"
        );
        // The other file is still checked.
        assert!(
            stdout(&output).contains("good.py:3:15: INB001"),
            "{special}"
        );
    }
}

#[test]
fn errors_are_never_followed_by_all_checks_passed() {
    let dir = temp_project(&[("clean.py", b"x = 1\n")]);
    let output = check_in(dir.path(), &["missing.py", "clean.py"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("missing.py: no such file or folder"));
    assert!(
        !stdout(&output).contains("All checks passed"),
        "{}",
        stdout(&output)
    );
    // Without an error the summary is still there.
    let clean = check_in(dir.path(), &["clean.py"]);
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(stdout(&clean), "All checks passed!\n");
}

#[test]
fn standard_input_together_with_paths_is_a_usage_error() {
    let dir = temp_project(&[("other.py", N_PLUS_ONE.as_bytes())]);
    let output = common::inbatch()
        .current_dir(dir.path())
        .args(["check", "-", "other.py"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("`-` (standard input) cannot be checked together with other paths"),
        "{}",
        stderr(&output)
    );
}

/// Default excludes (`dist`, `node_modules`, ...) apply below the folder named, never to the folders
/// above it: `cd / && inbatch check /srv/dist/proj` checked nothing.
#[test]
fn excludes_do_not_match_the_folders_above_what_is_checked() {
    let dir = temp_project(&[
        ("dist/proj/app.py", N_PLUS_ONE.as_bytes()),
        ("dist/proj/node_modules/generated.py", N_PLUS_ONE.as_bytes()),
    ]);
    let project = dir.path().join("dist/proj");
    for (cwd, path) in [
        (dir.path().to_path_buf(), "dist/proj".to_string()),
        (PathBuf::from("/"), project.display().to_string()),
    ] {
        let output = check_in(
            &cwd,
            &["--extend-select", "INB001", "--format", "concise", &path],
        );
        assert_eq!(output.status.code(), Some(1), "from {}", cwd.display());
        let lines = stdout(&output);
        assert_eq!(lines.lines().count(), 1, "{lines}");
        assert!(lines.contains("app.py:3:15: INB001"), "{lines}");
    }
}

/// A path that cannot be used says why: not "no such file" for a loop of links, a broken link or
/// a folder that may not be searched.
#[test]
fn unusable_paths_are_reported_with_their_reason() {
    let dir = temp_project(&[
        ("locked/app.py", N_PLUS_ONE.as_bytes()),
        ("good.py", N_PLUS_ONE.as_bytes()),
    ]);
    std::os::unix::fs::symlink("loop.py", dir.path().join("loop.py")).unwrap();
    std::os::unix::fs::symlink("gone.py", dir.path().join("dangling.py")).unwrap();
    let cases = [
        (
            "loop.py",
            "loop.py: cannot be read: Too many levels of symbolic links",
        ),
        (
            "dangling.py",
            "dangling.py: a symbolic link to a file or folder that does not exist",
        ),
        ("missing.py", "missing.py: no such file or folder"),
    ];
    for (path, message) in cases {
        let output = check_in(
            dir.path(),
            &[
                "--extend-select",
                "INB001",
                "--format",
                "concise",
                path,
                "good.py",
            ],
        );
        assert_eq!(output.status.code(), Some(2), "{path}");
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
        assert!(stdout(&output).contains("good.py:3:15: INB001"), "{path}");
    }

    // A folder its owner closed: run as an unprivileged user when root (root may read anything).
    let locked = dir.path().join("locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    let mut command = common::inbatch();
    if running_as_root() {
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::process::CommandExt::uid(&mut command, 65534);
        std::os::unix::process::CommandExt::gid(&mut command, 65534);
        std::os::unix::fs::chown(dir.path().join("good.py"), Some(65534), Some(65534)).unwrap();
    } else {
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    }
    let output = command
        .current_dir(dir.path())
        .args([
            "check",
            "--extend-select",
            "INB001",
            "--format",
            "concise",
            "locked/app.py",
            "good.py",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("locked/app.py: permission denied"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).contains("good.py:3:15: INB001"));
}

fn running_as_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("`id` runs");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// `--config /dev/zero` read forever; a configuration must be a regular file of sensible size.
#[test]
fn a_configuration_that_is_not_a_regular_file_is_refused() {
    let big = "# padding\n".repeat(1_200_000);
    let dir = temp_project(&[
        ("a.py", N_PLUS_ONE.as_bytes()),
        ("big.toml", big.as_bytes()),
    ]);
    let cases = [
        (
            "/dev/zero",
            "invalid configuration in /dev/zero: not a regular file",
        ),
        (
            "big.toml",
            "invalid configuration in big.toml: larger than 10 MiB",
        ),
    ];
    for (config, message) in cases {
        let output = check_within_30_seconds(dir.path(), &["--config", config, "a.py"]);
        assert_eq!(output.status.code(), Some(2), "{config}");
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
    }
}

/// Every `--flag` the READMEs (the project's and editors/') write is one of inbatch's (some subcommand's `--help` lists it) or
/// one of another tool's, named here with its tool: the README once documented an
/// `inbatch server --interval-ms` that never existed.
#[test]
fn every_flag_the_readme_documents_exists() {
    const OTHER_TOOLS: &[(&str, &str)] = &[
        ("--release", "cargo build"),
        ("--path", "cargo install"),
        ("--test", "cargo test"),
        ("--nocapture", "cargo test"),
        ("--sanitizer", "cargo fuzz"),
        ("--call-graph", "perf record"),
        ("--install-extension", "code"),
        ("--quick", "tests/bench/run"),
        ("--only", "tests/bench/run"),
        ("--jobs", "semgrep"),
        ("--edits", "tests/bench/lsp_latency.py"),
        ("--peer", "tests/bench/lsp_latency.py"),
    ];
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let mut known: Vec<String> = Vec::new();
    for command in [
        &["check", "--help"][..],
        &["server", "--help"],
        &["rule", "--help"],
    ] {
        let help = stdout(&run(command));
        known.extend(flags(&help));
    }
    assert!(known.iter().any(|f| f == "--unsafe-fixes"), "{known:?}");
    let mut unknown: Vec<String> = flags(&readme)
        .into_iter()
        .filter(|flag| !known.contains(flag))
        .filter(|flag| !OTHER_TOOLS.iter().any(|(other, _)| other == flag))
        .collect();
    unknown.dedup();
    assert!(
        unknown.is_empty(),
        "the README documents flags nothing has: {unknown:?}"
    );
}

/// The `--flag` tokens of `text`, in order, without duplicates.
fn flags(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(found) = text[i..].find("--") {
        let start = i + found;
        let mut end = start + 2;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'-')
        {
            end += 1;
        }
        let before_ok =
            start == 0 || !bytes[start - 1].is_ascii_alphanumeric() && bytes[start - 1] != b'-';
        if before_ok && end > start + 2 && bytes[start + 2].is_ascii_lowercase() {
            let flag = text[start..end].trim_end_matches('-').to_string();
            if !out.contains(&flag) {
                out.push(flag);
            }
        }
        i = end.max(start + 2);
    }
    out
}
