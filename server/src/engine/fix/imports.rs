//! Adding the imports a fix needs where isort and ruff (`I001`, default settings) would put them.
//!
//! A name from a module the file already imports from is merged into that `from ... import`, in
//! isort's member order (constants, classes, then the rest; case-insensitive, natural). Otherwise
//! the new statement goes into its section of the file's first import block (future, standard
//! library, third party, first party, local), in order: `import x` before `from x import y`,
//! modules case-insensitively. Without a fitting section, a new one is made, one blank line from its
//! neighbours. Nothing goes above the module docstring, a `from __future__` import, a shebang or an
//! encoding declaration: CPython refuses a `from __future__` import after any other statement, and
//! a docstring after an import is no docstring. Inserted text uses `\n`; the fix is then given the
//! file's own line endings (`fix::conform_fixes`).

use std::cmp::Ordering;

use tree_sitter::Node;

use super::edit_support::file_indent_unit;
use super::stdlib::STANDARD_LIBRARY;
use super::Edit;
use crate::engine::source::SourceFile;
use crate::engine::syntax::named_children;

/// isort's and ruff's default line length: a merged `from` import longer than this is wrapped.
const LINE_LENGTH: usize = 88;

/// An import a fix needs: `from module import name`, or `import module` without a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needed<'a> {
    pub module: &'a str,
    pub name: Option<&'a str>,
}

impl<'a> Needed<'a> {
    pub fn from(module: &'a str, name: &'a str) -> Needed<'a> {
        Needed {
            module,
            name: Some(name),
        }
    }

    pub fn module(module: &'a str) -> Needed<'a> {
        Needed { module, name: None }
    }
}

/// The edits that make every needed import available, none for those already there. The edits do
/// not overlap (insertions at one offset are joined), so they can go into one fix.
pub fn ensure_imports(file: &SourceFile, needed: &[Needed<'_>]) -> Vec<Edit> {
    let layout = Layout::read(file);
    let mut modules: Vec<&str> = needed.iter().map(|n| n.module).collect();
    modules.sort_unstable();
    modules.dedup();
    let mut edits = Vec::new();
    let mut statements: Vec<NewStatement> = Vec::new();
    for module in modules {
        let wants_module = needed
            .iter()
            .any(|n| n.module == module && n.name.is_none());
        if wants_module && !layout.imports_module(file, module) {
            statements.push(NewStatement::new(
                Style::Straight,
                module,
                format!("import {module}"),
            ));
        }
        let mut names: Vec<&str> = needed
            .iter()
            .filter(|n| n.module == module)
            .filter_map(|n| n.name)
            .filter(|name| !layout.imports_name(file, module, name))
            .collect();
        names.sort_by_key(|name| member_key(name));
        names.dedup();
        if names.is_empty() {
            continue;
        }
        match layout.existing_from_import(file, module) {
            Some(statement) => edits.extend(merge_names(file, statement, &names)),
            None => {
                let entries: Vec<String> = names.iter().map(|name| name.to_string()).collect();
                let text = from_statement_text(module, &entries, &layout.indent_unit);
                statements.push(NewStatement::new(Style::From, module, text));
            }
        }
    }
    edits.extend(layout.place(statements));
    super::edit_support::merge_insertions(&mut edits);
    edits
}

/// `import x` or `from x import y`: isort puts the first kind before the second in a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Style {
    Straight,
    From,
}

/// The sections of an import block, in isort's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Future,
    StandardLibrary,
    ThirdParty,
    /// A module neither in the standard library nor a known third-party package: most likely the
    /// project's own (isort asks the file system, which the engine does not read).
    FirstParty,
    Local,
}

/// Packages that are third party wherever they are imported: the ORMs inbatch knows and their
/// usual neighbours. They tell a third-party section from a first-party one.
const KNOWN_THIRD_PARTY: &[&str] = &[
    "aiohttp",
    "alembic",
    "asyncpg",
    "attr",
    "attrs",
    "boto3",
    "celery",
    "click",
    "django",
    "django_filters",
    "fastapi",
    "flask",
    "flask_login",
    "flask_migrate",
    "flask_sqlalchemy",
    "graphene",
    "httpx",
    "jinja2",
    "marshmallow",
    "numpy",
    "pandas",
    "peewee",
    "psycopg",
    "psycopg2",
    "pydantic",
    "pymysql",
    "pytest",
    "redis",
    "requests",
    "rest_framework",
    "sqlalchemy",
    "sqlalchemy_utils",
    "sqlmodel",
    "starlette",
    "tortoise",
    "typing_extensions",
    "werkzeug",
    "yaml",
];

fn section_of(module: &str) -> Section {
    if module.starts_with('.') {
        return Section::Local;
    }
    let top = module.split('.').next().unwrap_or(module);
    if top == "__future__" {
        Section::Future
    } else if STANDARD_LIBRARY.binary_search(&top).is_ok() {
        Section::StandardLibrary
    } else if KNOWN_THIRD_PARTY.contains(&top) {
        Section::ThirdParty
    } else {
        Section::FirstParty
    }
}

/// An import statement a fix adds, with what orders it.
struct NewStatement {
    section: Section,
    key: StatementKey,
    text: String,
}

impl NewStatement {
    fn new(style: Style, module: &str, text: String) -> NewStatement {
        NewStatement {
            section: section_of(module),
            key: StatementKey::new(style, module),
            text,
        }
    }
}

/// The order of statements within a section (ruff's `ModuleKey` with default settings).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct StatementKey {
    style: Style,
    /// Leading dots of a relative import: `.x` before `..x`.
    level: usize,
    lowercase: Natural,
    name: Natural,
}

impl StatementKey {
    fn new(style: Style, module: &str) -> StatementKey {
        let name = module.trim_start_matches('.');
        StatementKey {
            style,
            level: module.len() - name.len(),
            lowercase: Natural(name.to_lowercase()),
            name: Natural(name.to_string()),
        }
    }
}

/// The order of names in a `from` import (ruff's `MemberKey`): constants, classes, the rest.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct MemberKey {
    kind: MemberKind,
    lowercase: Natural,
    name: Natural,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum MemberKind {
    Constant,
    Class,
    Variable,
}

fn member_key(name: &str) -> MemberKey {
    let cased_upper = name.chars().any(char::is_uppercase) && !name.chars().any(char::is_lowercase);
    let kind = if name.chars().count() > 1 && cased_upper {
        MemberKind::Constant
    } else if name.chars().next().is_some_and(char::is_uppercase) {
        MemberKind::Class
    } else {
        MemberKind::Variable
    };
    MemberKey {
        kind,
        lowercase: Natural(name.to_lowercase()),
        name: Natural(name.to_string()),
    }
}

/// A string in natural order: runs of digits compare by value (`x2` before `x10`).
#[derive(Debug, PartialEq, Eq)]
struct Natural(String);

impl Ord for Natural {
    fn cmp(&self, other: &Natural) -> Ordering {
        let (mut a, mut b) = (self.0.as_str(), other.0.as_str());
        loop {
            match (a.chars().next(), b.chars().next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                    let digits = |s: &str| {
                        s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len()
                    };
                    let (da, db) = (digits(a), digits(b));
                    let (na, nb) = (
                        a[..da].trim_start_matches('0'),
                        b[..db].trim_start_matches('0'),
                    );
                    let order = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                    if order != Ordering::Equal {
                        return order;
                    }
                    a = &a[da..];
                    b = &b[db..];
                }
                (Some(x), Some(y)) => {
                    if x != y {
                        return x.cmp(&y);
                    }
                    a = &a[x.len_utf8()..];
                    b = &b[y.len_utf8()..];
                }
            }
        }
    }
}

impl PartialOrd for Natural {
    fn partial_cmp(&self, other: &Natural) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `from module import a, b`, wrapped in isort's parenthesised form when longer than a line.
fn from_statement_text(module: &str, entries: &[String], indent: &str) -> String {
    let line = format!("from {module} import {}", entries.join(", "));
    if line.chars().count() <= LINE_LENGTH {
        return line;
    }
    let mut wrapped = format!("from {module} import (\n");
    for entry in entries {
        wrapped.push_str(&format!("{indent}{entry},\n"));
    }
    wrapped.push(')');
    wrapped
}

/// One import statement of the file's first import block.
struct Member {
    section: Section,
    key: StatementKey,
    /// Where a statement that sorts before it goes: the start of its line, above the comments
    /// directly on top of it (they belong to it).
    before: usize,
}

/// Statements of the first import block that no blank line separates: one section.
struct Group {
    section: Section,
    members: Vec<Member>,
    /// The start of the line after its last statement.
    after: usize,
}

/// Where imports are and where a new one may go.
struct Layout<'f> {
    /// Every top-level `import` and `from ... import` (not `__future__`), in order.
    imports: Vec<Node<'f>>,
    /// The first block of imports (after the docstring), split at blank lines.
    groups: Vec<Group>,
    /// Where a first import goes when the file has none: after the BOM, shebang and encoding
    /// lines, the docstring, `__future__` imports and a leading comment block.
    header_end: usize,
    /// Whether `header_end` follows the module docstring (a blank line then separates them).
    after_docstring: bool,
    /// Blank lines needed after a new first import block at `header_end` (ruff wants two before a
    /// function or class, one before other code), minus those already there.
    missing_blank_lines: usize,
    /// The file's indentation unit, for a wrapped import.
    indent_unit: String,
    /// Where the text ends when its last line has no line break (which an insertion there keeps).
    unterminated_end: Option<usize>,
}

impl<'f> Layout<'f> {
    fn read(file: &'f SourceFile) -> Layout<'f> {
        let text = file.text();
        let index = file.line_index();
        let line_after =
            |offset: usize| index.line_start(index.line_of(offset) + 1).min(text.len());
        let statements: Vec<Node<'f>> = named_children(file.root())
            .filter(|node| node.kind() != "comment")
            .collect();
        let imports = statements
            .iter()
            .copied()
            .filter(|s| matches!(s.kind(), "import_statement" | "import_from_statement"))
            .collect();

        let has_docstring = statements.first().is_some_and(|first| is_docstring(*first));
        let mut rest = &statements[usize::from(has_docstring)..];
        let floor = header_floor(file);
        let mut header_end = floor;
        if has_docstring {
            header_end = header_end.max(line_after(statements[0].end_byte()));
        }
        // The first block: consecutive imports (comments between them are part of it).
        let mut groups: Vec<Group> = Vec::new();
        let mut previous_end: Option<usize> = None;
        while let Some((&statement, tail)) = rest.split_first() {
            let module = match statement.kind() {
                "future_import_statement" => "__future__".to_string(),
                "import_statement" | "import_from_statement" => module_of(file, statement),
                _ => break,
            };
            let style = if statement.kind() == "import_statement" {
                Style::Straight
            } else {
                Style::From
            };
            let before =
                attached_comments_start(file, statement, previous_end.unwrap_or(header_end));
            let member = Member {
                section: section_of(&module),
                key: StatementKey::new(style, &module),
                before,
            };
            let separated =
                previous_end.is_none_or(|end| has_blank_line(&text[end..statement.start_byte()]));
            let after = line_after(statement.end_byte());
            match groups.last_mut() {
                Some(group) if !separated => {
                    group.members.push(member);
                    group.after = after;
                }
                _ => groups.push(Group {
                    section: member.section,
                    members: vec![member],
                    after,
                }),
            }
            previous_end = Some(statement.end_byte());
            if statement.kind() == "future_import_statement" {
                header_end = header_end.max(after);
            }
            rest = tail;
        }
        for group in &mut groups {
            // A section is what its clearest member says: a known package settles a third-party one.
            group.section = group
                .members
                .iter()
                .map(|m| m.section)
                .min_by_key(|section| match section {
                    Section::FirstParty => 1,
                    _ => 0,
                })
                .unwrap_or(group.section);
        }
        if groups.is_empty() || groups.iter().all(|g| g.section == Section::Future) {
            // No import besides `__future__`: a new one goes after them, above leading comments
            // of the first statement.
            if let Some(first) = rest.first() {
                header_end = header_end.max(attached_comments_start(file, *first, header_end));
            }
        }
        let next_statement = rest.first().copied();
        let blank_lines = text[header_end.min(text.len())..]
            .split_inclusive('\n')
            .take_while(|line| line.trim().is_empty() && line.ends_with('\n'))
            .count();
        let wanted: usize = match next_statement {
            None => 0,
            Some(next) if is_definition(next) => 2,
            Some(_) => 1,
        };
        Layout {
            imports,
            groups,
            header_end,
            after_docstring: has_docstring && header_end == line_after(statements[0].end_byte()),
            missing_blank_lines: wanted.saturating_sub(blank_lines),
            indent_unit: file_indent_unit(text),
            unterminated_end: (!text.is_empty() && !text.ends_with(['\n', '\r']))
                .then_some(text.len()),
        }
    }

    /// Whether a top-level `from module import name` (or `... as name`) exists.
    fn imports_name(&self, file: &SourceFile, module: &str, name: &str) -> bool {
        self.imports.iter().any(|statement| {
            statement.kind() == "import_from_statement"
                && module_of(file, *statement) == module
                && import_entries(*statement).any(|entry| bound_name(file, entry) == name)
        })
    }

    /// Whether a top-level `import module` (not aliased) exists.
    fn imports_module(&self, file: &SourceFile, module: &str) -> bool {
        self.imports.iter().any(|statement| {
            statement.kind() == "import_statement"
                && import_entries(*statement)
                    .any(|entry| entry.kind() == "dotted_name" && file.node_text(entry) == module)
        })
    }

    /// The first top-level `from module import ...` that names can join (not `import *`).
    fn existing_from_import(&self, file: &SourceFile, module: &str) -> Option<Node<'f>> {
        self.imports.iter().copied().find(|statement| {
            statement.kind() == "import_from_statement"
                && module_of(file, *statement) == module
                && !named_children(*statement).any(|c| c.kind() == "wildcard_import")
                && import_entries(*statement).next().is_some()
        })
    }

    /// The insertions that put `statements` in place.
    fn place(&self, statements: Vec<NewStatement>) -> Vec<Edit> {
        // (offset, what kind of place, section, key, text)
        let mut placed: Vec<(usize, Place, Section, StatementKey, String)> = statements
            .into_iter()
            .map(|statement| {
                let (offset, place) = self.place_of(&statement);
                (
                    offset,
                    place,
                    statement.section,
                    statement.key,
                    statement.text,
                )
            })
            .collect();
        placed.sort_by(|a, b| (a.0, a.1, a.2, &a.3).cmp(&(b.0, b.1, b.2, &b.3)));
        let mut edits: Vec<Edit> = Vec::new();
        let mut start = 0;
        while start < placed.len() {
            let (offset, place) = (placed[start].0, placed[start].1);
            let end = start
                + placed[start..]
                    .iter()
                    .take_while(|p| p.0 == offset && p.1 == place)
                    .count();
            let mut lines = String::new();
            for (i, statement) in placed[start..end].iter().enumerate() {
                if i > 0 && placed[start + i - 1].2 != statement.2 {
                    lines.push('\n');
                }
                lines.push_str(&statement.4);
                lines.push('\n');
            }
            let content = match place {
                Place::InGroup => lines,
                Place::NewGroupBefore => format!("{lines}\n"),
                Place::NewGroupAfter => format!("\n{lines}"),
                Place::FirstBlock => {
                    let before = if self.after_docstring { "\n" } else { "" };
                    format!("{before}{lines}{}", "\n".repeat(self.missing_blank_lines))
                }
            };
            let content = if Some(offset) == self.unterminated_end {
                // After a last line without a line break: break it, and end without one again.
                format!("\n{}", content.trim_end_matches('\n'))
            } else {
                content
            };
            edits.push(Edit::insert(offset, content));
            start = end;
        }
        edits
    }

    fn place_of(&self, statement: &NewStatement) -> (usize, Place) {
        if self.groups.iter().all(|g| g.section == Section::Future) {
            return match self.groups.last() {
                Some(future) => (future.after, Place::NewGroupAfter),
                None => (self.header_end, Place::FirstBlock),
            };
        }
        let same_section = self.groups.iter().find(|g| g.section == statement.section);
        if let Some(group) = same_section {
            let at = group
                .members
                .iter()
                .find(|m| m.key > statement.key)
                .map_or(group.after, |m| m.before);
            return (at, Place::InGroup);
        }
        match self.groups.iter().find(|g| g.section > statement.section) {
            Some(next) => (next.members[0].before, Place::NewGroupBefore),
            None => {
                let last = self.groups.last().expect("some group exists");
                (last.after, Place::NewGroupAfter)
            }
        }
    }
}

/// Where a new statement lands relative to the existing ones; orders insertions at one offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    InGroup,
    NewGroupAfter,
    NewGroupBefore,
    FirstBlock,
}

/// The module a statement imports from (`collections`, `.models`), or the first module of `import`.
fn module_of(file: &SourceFile, statement: Node<'_>) -> String {
    let module = match statement.kind() {
        "import_from_statement" => statement.child_by_field_name("module_name"),
        _ => import_entries(statement)
            .next()
            .map(|entry| match entry.kind() {
                "aliased_import" => entry.child_by_field_name("name").unwrap_or(entry),
                _ => entry,
            }),
    };
    module
        .map(|m| file.node_text(m).split_whitespace().collect())
        .unwrap_or_default()
}

/// The entries of an import list: names and aliased names.
pub(super) fn import_entries<'t>(statement: Node<'t>) -> impl Iterator<Item = Node<'t>> {
    let module = statement.child_by_field_name("module_name");
    named_children(statement).filter(move |child| {
        Some(*child) != module && matches!(child.kind(), "dotted_name" | "aliased_import")
    })
}

/// The name an import entry binds: its alias, or itself.
fn bound_name<'s>(file: &'s SourceFile, entry: Node<'_>) -> &'s str {
    entry_part(file, entry, "alias")
}

/// The imported name of an entry (`b` of `b as c`), which orders it.
fn entry_name<'s>(file: &'s SourceFile, entry: Node<'_>) -> &'s str {
    entry_part(file, entry, "name")
}

/// A field of an aliased entry (`name` or `alias`); a plain entry is both.
fn entry_part<'s>(file: &'s SourceFile, entry: Node<'_>, field: &str) -> &'s str {
    match entry.kind() {
        "aliased_import" => entry
            .child_by_field_name(field)
            .map_or("", |part| file.node_text(part)),
        _ => file.node_text(entry),
    }
}

/// The edits adding `names` (sorted) to an existing `from ... import` statement.
fn merge_names(file: &SourceFile, statement: Node<'_>, names: &[&str]) -> Vec<Edit> {
    let text = file.text();
    let entries: Vec<Node<'_>> = import_entries(statement).collect();
    let keys: Vec<MemberKey> = entries
        .iter()
        .map(|e| member_key(entry_name(file, *e)))
        .collect();
    // For each name, the entry it goes before (None: after the last one).
    let positions: Vec<Option<usize>> = names
        .iter()
        .map(|name| {
            let key = member_key(name);
            keys.iter().position(|k| *k > key)
        })
        .collect();
    let statement_text = file.node_text(statement);
    let multi_line = statement_text.contains(['\n', '\r']);
    let parenthesised = named_or_anonymous(statement).any(|c| c.kind() == "(");
    let index = file.line_index();
    let line_of = |node: Node<'_>| index.line_of(node.start_byte());
    let one_per_line = entries
        .windows(2)
        .all(|pair| line_of(pair[0]) != line_of(pair[1]))
        && entries
            .first()
            .is_some_and(|first| line_of(*first) != index.line_of(statement.start_byte()));
    if multi_line && parenthesised && one_per_line {
        let last = *entries
            .last()
            .expect("statements without entries are not merged into");
        let comma_after_last = last.next_sibling().is_some_and(|next| next.kind() == ",");
        let line_start = |node: Node<'_>| index.line_start(line_of(node));
        let indent = |node: Node<'_>| text[line_start(node)..node.start_byte()].to_string();
        return names
            .iter()
            .zip(&positions)
            .map(|(name, position)| match position {
                Some(i) => Edit::insert(
                    line_start(entries[*i]),
                    format!("{}{name},\n", indent(entries[*i])),
                ),
                None if comma_after_last => {
                    let comma = last.next_sibling().expect("checked above");
                    let next_line = index.line_start(index.line_of(comma.end_byte()) + 1);
                    Edit::insert(next_line, format!("{}{name},\n", indent(last)))
                }
                None => Edit::insert(last.end_byte(), format!(",\n{}{name}", indent(last))),
            })
            .collect();
    }
    // One line (or a form isort would rewrite anyway): names go between the entries.
    let mut edits: Vec<Edit> = names
        .iter()
        .zip(&positions)
        .map(|(name, position)| match position {
            Some(i) => Edit::insert(entries[*i].start_byte(), format!("{name}, ")),
            None => Edit::insert(
                entries
                    .last()
                    .expect("statements without entries are not merged into")
                    .end_byte(),
                format!(", {name}"),
            ),
        })
        .collect();
    if multi_line || parenthesised {
        return edits;
    }
    let line = index.line_of(statement.start_byte());
    let line_range = index.line_range(line, text);
    let line_text = text[line_range.clone()].trim_end_matches(['\n', '\r']);
    let added: usize = edits.iter().map(|e| e.content.chars().count()).sum();
    let rest_of_line = &text[statement.end_byte()..line_range.start + line_text.len()];
    let alone = text[line_range.start..statement.start_byte()]
        .trim()
        .is_empty()
        && rest_of_line.trim().is_empty();
    if line_text.chars().count() + added > LINE_LENGTH && alone {
        // Too long for one line: isort's wrapped form, every entry on its own line.
        let mut all: Vec<(MemberKey, String)> = entries
            .iter()
            .map(|e| {
                (
                    member_key(entry_name(file, *e)),
                    file.node_text(*e).to_string(),
                )
            })
            .chain(
                names
                    .iter()
                    .map(|name| (member_key(name), name.to_string())),
            )
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let module = module_of(file, statement);
        let indent = file_indent_unit(text);
        let entries: Vec<String> = all.into_iter().map(|(_, entry)| entry).collect();
        edits = vec![Edit::replace(
            statement.byte_range(),
            from_statement_text(&module, &entries, &indent),
        )];
    }
    edits
}

/// Every child, anonymous tokens (`(`, `,`) included.
fn named_or_anonymous<'t>(node: Node<'t>) -> impl Iterator<Item = Node<'t>> {
    (0..node.child_count()).filter_map(move |i| node.child(i))
}

fn is_docstring(statement: Node<'_>) -> bool {
    statement.kind() == "expression_statement"
        && statement.named_child_count() == 1
        && named_children(statement)
            .next()
            .is_some_and(|e| e.kind() == "string")
}

fn is_definition(statement: Node<'_>) -> bool {
    matches!(
        statement.kind(),
        "function_definition" | "class_definition" | "decorated_definition"
    ) || (statement.kind() == "async_function_definition")
}

/// Whether the text between two statements holds an empty line.
fn has_blank_line(between: &str) -> bool {
    let mut lines = between.split('\n');
    lines.next();
    let mut lines: Vec<&str> = lines.collect();
    // The last piece is the indentation before the next statement, not a line of its own.
    lines.pop();
    lines.iter().any(|line| line.trim().is_empty())
}

/// The first offset where anything may be inserted: after a BOM, a shebang and an encoding
/// declaration (which must stay on the first two lines).
fn header_floor(file: &SourceFile) -> usize {
    let text = file.text();
    let index = file.line_index();
    let mut floor = if text.starts_with('\u{feff}') { 3 } else { 0 };
    for line in 0..2.min(index.line_count()) {
        let range = index.line_range(line, text);
        let content = text[range].trim_start_matches('\u{feff}');
        let is_shebang = line == 0 && content.starts_with("#!");
        // An encoding declaration counts on the second line too (after a shebang or a comment).
        if is_shebang || is_encoding_declaration(content) {
            floor = floor.max(index.line_start(line + 1));
        }
    }
    floor
}

/// PEP 263: a comment on line 1 or 2 matching `coding[:=]\s*([-\w.]+)`.
pub(super) fn is_encoding_declaration(line: &str) -> bool {
    let trimmed = line.trim_start_matches([' ', '\t', '\x0c']);
    let Some(comment) = trimmed.strip_prefix('#') else {
        return false;
    };
    comment.match_indices("coding").any(|(at, _)| {
        let after = &comment[at + "coding".len()..];
        let Some(rest) = after.strip_prefix([':', '=']) else {
            return false;
        };
        rest.trim_start_matches([' ', '\t'])
            .starts_with(|c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    })
}

/// The start of the comment lines directly above `statement` (no blank line between), not above
/// `floor`; the start of its own line when there are none, or when they reach up to `floor`.
fn attached_comments_start(file: &SourceFile, statement: Node<'_>, floor: usize) -> usize {
    let text = file.text();
    let index = file.line_index();
    let mut line = index.line_of(statement.start_byte());
    let own_line = index.line_start(line).max(floor);
    let mut start = own_line;
    while line > 0 {
        let above = index.line_start(line - 1);
        if above < floor {
            break;
        }
        let content = text[index.line_range(line - 1, text)].trim();
        if !content.starts_with('#') {
            break;
        }
        line -= 1;
        start = above;
    }
    if start == floor {
        // Comments from the top of the file (or from the docstring) down to the statement are the
        // file's own header: they stay first.
        own_line
    } else {
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` with the edits that make `needed` available.
    fn with_imports(text: &str, needed: &[Needed<'_>]) -> String {
        let file = SourceFile::parse(text);
        let edits = ensure_imports(&file, needed);
        let fix = super::super::Fix::new("imports", super::super::Applicability::Safe, edits);
        let (after, applied) = super::super::apply_fixes(text, [&fix]);
        assert!(
            applied == 1 || fix.edits.is_empty(),
            "overlapping edits for {text:?}"
        );
        after
    }

    const DEFAULTDICT: Needed<'static> = Needed {
        module: "collections",
        name: Some("defaultdict"),
    };

    #[test]
    fn a_first_import_goes_below_the_header_with_the_blank_lines_isort_wants() {
        let cases = [
            (
                "\"\"\"Doc.\"\"\"\n\n\ndef f():\n    pass\n",
                "\"\"\"Doc.\"\"\"\n\n\nfrom collections import defaultdict\n\n\ndef f():\n    pass\n",
            ),
            (
                "\"\"\"Doc.\"\"\"\ndef f():\n    pass\n",
                "\"\"\"Doc.\"\"\"\n\nfrom collections import defaultdict\n\n\ndef f():\n    pass\n",
            ),
            (
                "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nx = 1\n",
                "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nfrom collections import defaultdict\n\nx = 1\n",
            ),
            (
                "# Copyright\n\n# about f\ndef f():\n    pass\n",
                "# Copyright\n\nfrom collections import defaultdict\n\n\n# about f\ndef f():\n    pass\n",
            ),
            (
                "\u{feff}def f():\n    pass\n",
                "\u{feff}from collections import defaultdict\n\n\ndef f():\n    pass\n",
            ),
            (
                "from __future__ import annotations\n\n\ndef f():\n    pass\n",
                "from __future__ import annotations\n\nfrom collections import defaultdict\n\n\ndef f():\n    pass\n",
            ),
            (
                "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\n\nx = 1\n",
                "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\n\nfrom collections import defaultdict\n\nx = 1\n",
            ),
            ("\"\"\"Doc.\"\"\"", "\"\"\"Doc.\"\"\"\n\nfrom collections import defaultdict"),
            (
                "# Generated.\n# vim: set fileencoding=latin-1 :\nx = 1\n",
                "# Generated.\n# vim: set fileencoding=latin-1 :\nfrom collections import defaultdict\n\nx = 1\n",
            ),
        ];
        for (before, expected) in cases {
            assert_eq!(with_imports(before, &[DEFAULTDICT]), expected, "{before:?}");
        }
    }

    #[test]
    fn a_new_statement_goes_into_its_section_in_order() {
        let cases: [(&str, Needed<'_>, &str); 8] = [
            (
                "import os\nimport sys\n\nx = 1\n",
                DEFAULTDICT,
                "import os\nimport sys\nfrom collections import defaultdict\n\nx = 1\n",
            ),
            (
                "\"\"\"Doc.\"\"\"\nimport os\nfrom x import y\n",
                DEFAULTDICT,
                "\"\"\"Doc.\"\"\"\nimport os\nfrom collections import defaultdict\nfrom x import y\n",
            ),
            (
                "import os\nfrom typing import Any\n",
                DEFAULTDICT,
                "import os\nfrom collections import defaultdict\nfrom typing import Any\n",
            ),
            (
                "from sqlalchemy import select\n\nx = 1\n",
                DEFAULTDICT,
                "from collections import defaultdict\n\nfrom sqlalchemy import select\n\nx = 1\n",
            ),
            (
                "import os\n\nfrom app.models import User\n",
                Needed::from("sqlalchemy.orm", "selectinload"),
                "import os\n\nfrom sqlalchemy.orm import selectinload\n\nfrom app.models import User\n",
            ),
            (
                "from sqlalchemy import select\nfrom sqlalchemy.sql import func\n\nfrom app.models import User\n",
                Needed::from("sqlalchemy.orm", "selectinload"),
                "from sqlalchemy import select\nfrom sqlalchemy.orm import selectinload\nfrom sqlalchemy.sql import func\n\nfrom app.models import User\n",
            ),
            (
                "import os\n\nfrom .models import User\n",
                Needed::from("sqlalchemy.orm", "selectinload"),
                "import os\n\nfrom sqlalchemy.orm import selectinload\n\nfrom .models import User\n",
            ),
            (
                "from itertools import chain\n",
                Needed::module("itertools"),
                "import itertools\nfrom itertools import chain\n",
            ),
        ];
        for (before, needed, expected) in cases {
            assert_eq!(with_imports(before, &[needed]), expected, "{before:?}");
        }
    }

    #[test]
    fn names_join_an_existing_from_import_in_isort_order() {
        let cases: [(&str, &str, &str); 7] = [
            (
                "from collections import Counter\n",
                "defaultdict",
                "from collections import Counter, defaultdict\n",
            ),
            (
                "from collections import deque\n",
                "defaultdict",
                "from collections import defaultdict, deque\n",
            ),
            (
                "from collections import OrderedDict, deque\n",
                "Counter",
                "from collections import Counter, OrderedDict, deque\n",
            ),
            (
                "from collections import ABC, Klass, func\n",
                "Alpha",
                "from collections import ABC, Alpha, Klass, func\n",
            ),
            (
                "from collections import x10\n",
                "x9",
                "from collections import x9, x10\n",
            ),
            (
                "from collections import (\n    Counter,\n    deque,\n)\n",
                "defaultdict",
                "from collections import (\n    Counter,\n    defaultdict,\n    deque,\n)\n",
            ),
            (
                "from collections import (\n    Counter,\n    OrderedDict,\n)\n",
                "deque",
                "from collections import (\n    Counter,\n    OrderedDict,\n    deque,\n)\n",
            ),
        ];
        for (before, name, expected) in cases {
            assert_eq!(
                with_imports(before, &[Needed::from("collections", name)]),
                expected,
                "{before:?}"
            );
        }
    }

    #[test]
    fn a_merged_import_too_long_for_a_line_is_wrapped() {
        let before = "from sqlalchemy.orm import Mapped, Session, contains_eager, joinedload, mapped_column\n";
        assert_eq!(
            with_imports(before, &[Needed::from("sqlalchemy.orm", "selectinload")]),
            "from sqlalchemy.orm import (\n    Mapped,\n    Session,\n    contains_eager,\n    joinedload,\n    mapped_column,\n    selectinload,\n)\n"
        );
    }

    #[test]
    fn several_names_of_one_module_share_one_statement() {
        let needed = [
            Needed::from("sqlalchemy.orm", "selectinload"),
            Needed::from("sqlalchemy.orm", "joinedload"),
            DEFAULTDICT,
        ];
        assert_eq!(
            with_imports("import os\n\nfrom app import models\n", &needed),
            "import os\nfrom collections import defaultdict\n\nfrom sqlalchemy.orm import joinedload, selectinload\n\nfrom app import models\n"
        );
        assert_eq!(
            with_imports("x = 1\n", &needed),
            "from collections import defaultdict\n\nfrom sqlalchemy.orm import joinedload, selectinload\n\nx = 1\n"
        );
    }

    #[test]
    fn what_is_imported_already_is_not_added() {
        for text in [
            "from collections import defaultdict\n",
            "from collections import Counter, defaultdict\n",
            "from collections import (\n    defaultdict,\n)\n",
        ] {
            let file = SourceFile::parse(text);
            assert!(ensure_imports(&file, &[DEFAULTDICT]).is_empty(), "{text:?}");
        }
        let file = SourceFile::parse("import itertools\n");
        assert!(ensure_imports(&file, &[Needed::module("itertools")]).is_empty());
    }

    #[test]
    fn encoding_declarations_follow_pep_263() {
        for line in [
            "# -*- coding: latin-1 -*-",
            "# vim: set fileencoding=utf-8 :",
            "#coding=utf8",
        ] {
            assert!(is_encoding_declaration(line), "{line}");
        }
        for line in ["# no coding here", "x = 'coding: utf-8'", "# coding"] {
            assert!(!is_encoding_declaration(line), "{line}");
        }
    }
}
