//! Which rules run where: rules off by default, the `orm` setting, and test code.

mod common;

use common::{check_in, stdout};

fn temp_project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

/// The codes of `inbatch check --format concise` in `dir`, one per finding.
fn codes(dir: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut full = vec!["--format", "concise"];
    full.extend_from_slice(args);
    let output = check_in(dir, &full);
    stdout(&output)
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap_or("").to_string())
        .collect()
}

const SQLALCHEMY_AND_DJANGO: &str = "\
from sqlalchemy import select
from app.models import Order, User


def sqlalchemy_loop(session, user_ids):
    for uid in user_ids:
        print(session.execute(select(Order).where(Order.user_id == uid)).all())


def django_loop(user_ids):
    for uid in user_ids:
        print(Order.objects.filter(user_id=uid).count())
";

/// The N+1 rules (INB001, INB002, INB003, INB005) are under 90 % precise on real code: off until
/// the configuration or the command line selects them.
#[test]
fn the_n_plus_one_rules_are_off_until_selected() {
    let plain = temp_project(&[("app/views.py", SQLALCHEMY_AND_DJANGO)]);
    assert!(codes(plain.path(), &["."]).is_empty());
    let output = check_in(plain.path(), &["."]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    for config in [
        ("inbatch.toml", "extend-select = [\"INB001\"]\n"),
        (
            "pyproject.toml",
            "[tool.inbatch]\nextend-select = [\"INB001\"]\n",
        ),
        (
            "pyproject.toml",
            "[tool.inbatch]\nextend-select = [\"INB001\", \"INB002\", \"INB003\", \"INB005\"]\n",
        ),
    ] {
        let extended = temp_project(&[("app/views.py", SQLALCHEMY_AND_DJANGO), config]);
        assert_eq!(
            codes(extended.path(), &["."]),
            ["INB001", "INB001"],
            "{config:?}"
        );
    }
    assert_eq!(
        codes(plain.path(), &["--extend-select", "INB001", "."]),
        ["INB001", "INB001"]
    );
    assert_eq!(
        codes(
            plain.path(),
            &["--extend-select", "INB001,INB002,INB003,INB005", "."]
        ),
        ["INB001", "INB001"]
    );
    assert_eq!(
        codes(plain.path(), &["--select", "INB001", "."]),
        ["INB001", "INB001"]
    );
}

#[test]
fn the_orm_setting_limits_what_is_recognised() {
    let both = temp_project(&[
        ("app/views.py", SQLALCHEMY_AND_DJANGO),
        ("inbatch.toml", "extend-select = [\"INB001\"]\n"),
    ]);
    assert_eq!(codes(both.path(), &["."]), ["INB001", "INB001"]);

    let django = temp_project(&[
        ("app/views.py", SQLALCHEMY_AND_DJANGO),
        (
            "inbatch.toml",
            "orm = \"django\"\nextend-select = [\"INB001\"]\n",
        ),
    ]);
    let output = check_in(django.path(), &["--format", "concise", "."]);
    let text = stdout(&output);
    assert_eq!(text.lines().filter(|l| l.contains("INB001")).count(), 1);
    assert!(text.contains("Order.objects.filter"), "{text}");

    let sqlalchemy = temp_project(&[
        ("app/views.py", SQLALCHEMY_AND_DJANGO),
        (
            "inbatch.toml",
            "orm = \"sqlalchemy\"\nextend-select = [\"INB001\"]\n",
        ),
    ]);
    let text = stdout(&check_in(sqlalchemy.path(), &["--format", "concise", "."]));
    assert_eq!(text.lines().filter(|l| l.contains("INB001")).count(), 1);
    assert!(text.contains("session.execute"), "{text}");
}

#[test]
fn test_code_skips_the_performance_rules_unless_asked() {
    let files = [
        ("app/views.py", SQLALCHEMY_AND_DJANGO),
        ("app/tests/test_views.py", SQLALCHEMY_AND_DJANGO),
        ("app/conftest.py", SQLALCHEMY_AND_DJANGO),
    ];
    let mut selecting = files.to_vec();
    selecting.push(("inbatch.toml", "extend-select = [\"INB001\"]\n"));
    let project = temp_project(&selecting);
    let output = check_in(project.path(), &["--format", "concise", "."]);
    let text = stdout(&output);
    assert!(
        text.lines().all(|line| line.starts_with("app/views.py")),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2, "{text}");

    // Selected on the command line, a performance rule still skips test code.
    let project = temp_project(&files);
    for select in ["--select", "--extend-select"] {
        let text = stdout(&check_in(
            project.path(),
            &[select, "INB001", "--format", "concise", "."],
        ));
        assert!(
            text.lines().all(|line| line.starts_with("app/views.py")),
            "{select}: {text}"
        );
        assert_eq!(text.lines().count(), 2, "{select}: {text}");
    }

    let mut checking = files.to_vec();
    checking.push((
        "inbatch.toml",
        "check-tests = true\nextend-select = [\"INB001\"]\n",
    ));
    let project = temp_project(&checking);
    assert_eq!(codes(project.path(), &["."]).len(), 6);
}

const OFF_BY_DEFAULT: &str = "\
from app.models import Order


def unbounded_in_list(ids):
    return Order.query.filter(Order.id.in_(ids)).all()
";

#[test]
fn rules_off_by_default_run_when_selected() {
    let project = temp_project(&[("app/views.py", OFF_BY_DEFAULT)]);
    assert!(codes(project.path(), &["."]).is_empty());
    assert_eq!(
        codes(project.path(), &["--select", "INB301", "."]),
        ["INB301"]
    );
    assert_eq!(codes(project.path(), &["--select", "ALL", "."]), ["INB301"]);

    let extended = temp_project(&[
        ("app/views.py", OFF_BY_DEFAULT),
        ("inbatch.toml", "extend-select = [\"INB301\"]\n"),
    ]);
    assert_eq!(codes(extended.path(), &["."]), ["INB301"]);
}
