//! What the fuzz targets share: the invariants they assert and the structure-aware generators
//! (a small Python grammar, fixture splicing, N+1 loops of every query shape) driven by libFuzzer's
//! bytes through `arbitrary::Unstructured`.

use std::ops::Range;

use arbitrary::{Result, Unstructured};
use inbatch::engine::diagnostic::Diagnostic;
use inbatch::engine::fix::{fix_until_stable, FixMode};
use inbatch::engine::settings::Settings;
use inbatch::engine::source::SourceFile;
use inbatch::engine::{self};
use inbatch::lsp::position::{self, PositionEncoding};
use ropey::Rope;

/// The default settings with the N+1 rules (INB001, INB002, INB003, INB005) selected: they are
/// off by default, and the generators write N+1 loops for them.
pub fn settings() -> &'static Settings {
    static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();
    SETTINGS.get_or_init(|| {
        let mut settings = Settings::default();
        for code in ["INB001", "INB002", "INB003", "INB005"] {
            settings
                .rules
                .insert(inbatch::engine::rules::find(code).expect("a rule of the registry"));
        }
        settings
    })
}

/// The Python files the generators splice from (the same files seed the corpora).
pub const FIXTURES: &[&str] = &[
    include_str!("../../tests/fixtures/rules/INB001/async_and_sqlmodel.py"),
    include_str!("../../tests/fixtures/rules/INB001/dependence.py"),
    include_str!("../../tests/fixtures/rules/INB001/django_managers.py"),
    include_str!("../../tests/fixtures/rules/INB001/flask_model_query.py"),
    include_str!("../../tests/fixtures/rules/INB001/loop_forms.py"),
    include_str!("../../tests/fixtures/rules/INB001/negatives.py"),
    include_str!("../../tests/fixtures/rules/INB001/sqlalchemy_20.py"),
    include_str!("../../tests/fixtures/rules/INB001/sqlalchemy_legacy.py"),
    include_str!("../../tests/fixtures/rules/INB001/suppressed.py"),
    include_str!("../../tests/fixtures/rules/INB001/syntax_errors.py"),
    include_str!("../../tests/fixtures/fixes/several_queries/original.py"),
    include_str!("../../tests/fixtures/fixes/spec_example/original.py"),
    include_str!("../../examples/analytics/n_plus_one.py"),
];

fn check_range(text: &str, range: &Range<usize>, what: &str) {
    assert!(
        range.start <= range.end && range.end <= text.len(),
        "{what} {range:?} outside a text of {} bytes",
        text.len()
    );
    assert!(
        text.is_char_boundary(range.start) && text.is_char_boundary(range.end),
        "{what} {range:?} not on char boundaries"
    );
}

/// Every range inside the text, on char boundaries, surviving the LSP position round trip; fix
/// edits sorted and disjoint.
pub fn check_diagnostics(text: &str, diagnostics: &[Diagnostic]) {
    let rope = Rope::from_str(text);
    for diagnostic in diagnostics {
        let mut ranges = vec![diagnostic.range.clone()];
        ranges.extend(diagnostic.related.iter().map(|r| r.range.clone()));
        if let Some(fix) = &diagnostic.fix {
            ranges.extend(fix.edits.iter().map(|e| e.range.clone()));
            for pair in fix.edits.windows(2) {
                assert!(
                    pair[0].range.end <= pair[1].range.start,
                    "fix edits overlap"
                );
            }
        }
        for range in ranges {
            check_range(text, &range, "range");
            for encoding in [PositionEncoding::Utf8, PositionEncoding::Utf16] {
                let lsp = position::range(&rope, &range, encoding);
                assert_eq!(
                    position::text_range(&rope, lsp, encoding),
                    Some(range.clone())
                );
            }
        }
    }
}

/// Parses and checks `text`, asserting the range invariants.
pub fn analyse(text: String) -> Vec<Diagnostic> {
    let file = SourceFile::parse(text);
    let diagnostics = engine::check(&file, settings(), None);
    check_diagnostics(file.text(), &diagnostics);
    diagnostics
}

/// Fixes until stable (unsafe fixes included): no error, the result parses when the input did,
/// and a second pass changes nothing. Returns how many fixes applied.
pub fn check_fix(text: &str) -> usize {
    let check =
        |file: &SourceFile| engine::diagnostic::fixes_of(engine::check(file, settings(), None));
    let parses = !SourceFile::parse(text).has_syntax_errors();
    let mode = FixMode { unsafe_fixes: true };
    let outcome = fix_until_stable(text, mode, check);
    if !parses {
        return outcome.applied;
    }
    assert!(outcome.error.is_none(), "{:?} for:\n{text}", outcome.error);
    let fixed = SourceFile::parse(outcome.text.clone());
    assert!(
        !fixed.has_syntax_errors(),
        "the fix does not parse:\n{}\n--- from:\n{text}",
        outcome.text
    );
    check_diagnostics(fixed.text(), &engine::check(&fixed, settings(), None));
    let again = fix_until_stable(&outcome.text, mode, check);
    assert_eq!(
        again.applied, 0,
        "a second pass still fixes:\n{}",
        outcome.text
    );
    assert_eq!(again.text, outcome.text);
    outcome.applied
}

const NAMES: &[&str] = &[
    "uid",
    "user_ids",
    "ids",
    "row",
    "item",
    "order",
    "x",
    "i",
    "key",
    "chunk",
    "start",
    "keys",
    "result",
    "rows",
    "self",
    "session",
    "db",
    "s",
    "conn",
    "𝔲𝔦𝔡",
    "ключ",
    "ü",
];
const MODELS: &[&str] = &["User", "Order", "Item", "Payment", "Node", "M"];
const COLUMNS: &[&str] = &["id", "user_id", "order_id", "email", "parent_id", "pk"];
const SESSIONS: &[&str] = &[
    "session",
    "db.session",
    "self.session",
    "s",
    "conn",
    "cache",
];

/// One of a fixed set of query expressions with a key expression.
fn query(u: &mut Unstructured, key: &str) -> Result<String> {
    let m = *u.choose(MODELS)?;
    let c = *u.choose(COLUMNS)?;
    let s = *u.choose(SESSIONS)?;
    Ok(match u.int_in_range(0..=17)? {
        0 => format!("{s}.query({m}).filter({m}.{c} == {key}).all()"),
        1 => format!("{s}.query({m}).filter_by({c}={key}).all()"),
        2 => format!("{m}.query.filter_by({c}={key}).first()"),
        3 => format!("{s}.query({m}).filter({m}.{c} == {key}).one()"),
        4 => format!("{s}.query({m}).filter_by({c}={key}).one_or_none()"),
        5 => format!("{s}.query({m}).filter_by({c}={key}).count()"),
        6 => format!("{s}.get({m}, {key})"),
        7 => format!("{m}.query.get({key})"),
        8 => format!("{s}.scalars(select({m}).where({m}.{c} == {key})).all()"),
        9 => format!("{s}.execute(select({m}).where({m}.{c} == {key})).scalars().all()"),
        10 => format!("list({m}.objects.filter({c}_id={key}))"),
        11 => format!("{m}.objects.get(pk={key})"),
        12 => format!("{m}.objects.filter({c}_id={key}).exists()"),
        13 => format!("{m}.objects.filter({c}_id={key}).count()"),
        14 => format!("{s}.query({m}).filter({m}.{c} == {key}).order_by({m}.id).first()"),
        15 => format!("await {s}.scalars(select({m}).where({m}.{c} == {key}))"),
        16 => format!("{s}.query({m}).filter({m}.{c}.in_(chunk)).all()"),
        _ => format!("{s}.query({m}).offset({key}).limit(10).all()"),
    })
}

fn key(u: &mut Unstructured, var: &str) -> Result<String> {
    Ok(match u.int_in_range(0..=5)? {
        0 | 1 => var.to_string(),
        2 => format!("{var}.id"),
        3 => format!("{var}[\"id\"]"),
        4 => format!("f\"{{{var}}}@x\""),
        _ => (*u.choose(NAMES)?).to_string(),
    })
}

fn expression(u: &mut Unstructured, var: &str, depth: usize) -> Result<String> {
    if depth > 3 {
        return Ok(var.to_string());
    }
    Ok(match u.int_in_range(0..=7)? {
        0..=2 => {
            let k = key(u, var)?;
            query(u, &k)?
        }
        3 => format!(
            "[{} for {var} in {}]",
            expression(u, var, depth + 1)?,
            u.choose(NAMES)?
        ),
        4 => format!(
            "{{{var}: {} for {var} in ids}}",
            expression(u, var, depth + 1)?
        ),
        5 => format!("({} or None)", expression(u, var, depth + 1)?),
        6 => format!("lambda: {}", expression(u, var, depth + 1)?),
        _ => (*u.choose(NAMES)?).to_string(),
    })
}

/// A random Python program from a small grammar of loops, queries and the statements around them.
pub fn python(u: &mut Unstructured) -> Result<String> {
    let mut out = String::from("from sqlalchemy import select\nfrom app.models import User, Order, Item, Payment, Node, M\n\n");
    let count = u.int_in_range(1..=6)?;
    for _ in 0..count {
        statement(u, &mut out, "", "uid", 0)?;
    }
    Ok(out)
}

fn indent_unit(u: &mut Unstructured) -> Result<&'static str> {
    Ok(*u.choose(&["    ", "    ", "  ", "\t"])?)
}

fn statement(
    u: &mut Unstructured,
    out: &mut String,
    indent: &str,
    var: &str,
    depth: usize,
) -> Result<()> {
    let deeper = format!("{indent}{}", indent_unit(u)?);
    let nested = depth < 5;
    match u.int_in_range(0..=15)? {
        0 | 1 if nested => {
            let var = *u.choose(NAMES)?;
            let kind = *u.choose(&["for", "async for"])?;
            out.push_str(&format!("{indent}{kind} {var} in {}:\n", u.choose(NAMES)?));
            block(u, out, &deeper, var, depth)?;
            if u.ratio(1, 8)? {
                out.push_str(&format!("{indent}else:\n{deeper}pass\n"));
            }
        }
        2 if nested => {
            out.push_str(&format!("{indent}while {var}:\n"));
            block(u, out, &deeper, var, depth)?;
        }
        3 if nested => {
            let name = *u.choose(NAMES)?;
            let prefix = *u.choose(&["def", "async def"])?;
            out.push_str(&format!("{indent}{prefix} f_{depth}(session, {name}):\n"));
            block(u, out, &deeper, var, depth)?;
        }
        4 if nested => {
            out.push_str(&format!("{indent}class C{depth}:\n"));
            block(u, out, &deeper, var, depth)?;
        }
        5 if nested => {
            out.push_str(&format!("{indent}with Session(engine) as s:\n"));
            block(u, out, &deeper, var, depth)?;
        }
        6 if nested => {
            out.push_str(&format!("{indent}if {var}:\n"));
            block(u, out, &deeper, var, depth)?;
            if u.ratio(1, 3)? {
                out.push_str(&format!("{indent}else:\n"));
                block(u, out, &deeper, var, depth)?;
            }
        }
        7 if nested => {
            out.push_str(&format!("{indent}try:\n"));
            block(u, out, &deeper, var, depth)?;
            out.push_str(&format!("{indent}except Exception:\n{deeper}raise\n"));
        }
        8 => {
            let target = *u.choose(NAMES)?;
            let e = expression(u, var, 0)?;
            out.push_str(&format!("{indent}{target} = {e}\n"));
        }
        9 => {
            let e = expression(u, var, 0)?;
            let comment = *u.choose(&[
                "",
                "  # noqa",
                "  # noqa: INB001",
                "  # inbatch: ignore[INB001]",
                "  # café noqa",
            ])?;
            out.push_str(&format!("{indent}print({e}){comment}\n"));
        }
        10 => out.push_str(&format!("{indent}{} = {var}.parent_id\n", u.choose(NAMES)?)),
        11 => out.push_str(&format!(
            "{indent}{}\n",
            u.choose(&[
                "break",
                "continue",
                "return rows",
                "pass",
                "session.commit()",
                "row.save()"
            ])?
        )),
        12 => out.push_str(&format!("{indent}{}.add({var})\n", u.choose(NAMES)?)),
        13 => out.push_str(&format!("{indent}result[{var}] = rows\n")),
        14 => {
            // A fixture's line, re-indented: real code in generated context.
            let fixture = *u.choose(FIXTURES)?;
            let lines: Vec<&str> = fixture.lines().collect();
            if !lines.is_empty() {
                let line = lines[u.choose_index(lines.len())?];
                out.push_str(&format!("{indent}{}\n", line.trim_start()));
            }
        }
        _ => out.push_str(&format!("{indent}{}\n", expression(u, var, 0)?)),
    }
    Ok(())
}

fn block(
    u: &mut Unstructured,
    out: &mut String,
    indent: &str,
    var: &str,
    depth: usize,
) -> Result<()> {
    let count = u.int_in_range(1..=3)?;
    for _ in 0..count {
        statement(u, out, indent, var, depth + 1)?;
    }
    Ok(())
}

/// Fixture splicing: pieces of fixture files (line ranges), joined in random order.
pub fn splice(u: &mut Unstructured) -> Result<String> {
    let mut out = String::new();
    let pieces = u.int_in_range(1..=5)?;
    for _ in 0..pieces {
        let fixture = *u.choose(FIXTURES)?;
        let lines: Vec<&str> = fixture.split_inclusive('\n').collect();
        if lines.is_empty() {
            continue;
        }
        let start = u.choose_index(lines.len())?;
        let len = u.int_in_range(1..=40)?;
        let end = (start + len).min(lines.len());
        for line in &lines[start..end] {
            out.push_str(line);
        }
    }
    Ok(out)
}

/// A loop the fix applies to: one function, one `for` loop, one to three queries of any shape
/// on a key from the loop, and ordinary code around them.
pub fn n_plus_one(u: &mut Unstructured) -> Result<String> {
    let i = indent_unit(u)?;
    let var = *u.choose(&["uid", "user", "row", "𝔲𝔦𝔡", "key", "x"])?;
    let ids = *u.choose(&["user_ids", "ids", "rows", "users", "keys_"])?;
    let mut out = String::from(
        "from collections import defaultdict\nfrom sqlalchemy import select\nfrom app.models import User, Order, Item, Payment, Node, M\n\n\n",
    );
    let method = u.ratio(1, 4)?;
    let (fi, bi) = if method {
        out.push_str("class Service:\n");
        out.push_str(&format!("{i}def run(self, session, {ids}):\n"));
        (format!("{i}{i}"), format!("{i}{i}{i}"))
    } else {
        out.push_str(&format!("def run(session, {ids}):\n"));
        (i.to_string(), format!("{i}{i}"))
    };
    out.push_str(&format!("{fi}result = {{}}\n"));
    if u.ratio(1, 4)? {
        out.push_str(&format!("{fi}{ids} = list({ids})\n"));
    }
    out.push_str(&format!("{fi}for {var} in {ids}:\n"));
    let queries = u.int_in_range(1..=3)?;
    let mut names = Vec::new();
    for q in 0..queries {
        let k = match u.int_in_range(0..=2)? {
            0 => var.to_string(),
            1 => format!("{var}.id"),
            _ => format!("{var}[\"id\"]"),
        };
        let e = query(u, &k)?;
        let name = format!("q{q}");
        out.push_str(&format!("{bi}{name} = {e}\n"));
        names.push(name);
    }
    if u.ratio(1, 3)? {
        out.push_str(&format!("{bi}print({var})\n"));
    }
    out.push_str(&format!("{bi}result[{var}] = ({},)\n", names.join(", ")));
    out.push_str(&format!("{fi}return result\n"));
    Ok(out)
}
