//! INB101 quadratic-grouping.

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::edit_support::{
    body_indent_unit, ensure_import, indentation_at, NameTable,
};
use crate::engine::fix::{Applicability, Edit, Fix};
use tree_sitter::Node;

use crate::engine::semantic::{Loop, LoopId, LoopKind, SemanticModel};
use crate::engine::source::SourceFile;
use crate::engine::syntax::{display_code, field, named_children};

pub static RULE: RuleInfo = RuleInfo {
    code: "INB101",
    name: "quadratic-grouping",
    severity: Severity::Warning,
    summary: "Inside a loop over keys, a scan of a whole collection filtered by `== key`: O(N·M)",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Sometimes,
    enabled_by_default: false,
    category: Category::Performance,
};

const DOCUMENTATION: &str = r#"## What it does
Flags a comprehension inside a loop over keys that walks a whole collection, which does not change
with the loop, to keep the items whose attribute equals the key:
`[s for s in sessions.values() if s.user_id == uid]` inside `for uid in user_ids`.

## Why is this bad?
Every iteration scans every row: N keys times M rows comparisons. With 10,000 users and 100,000
sessions that is a billion comparisons in Python — the batched query that was meant to make the
loop fast ends up slower than the N+1 it replaced.

## Example
```python
for uid in user_ids:
    user_sessions = [s for s in sessions if s.user_id == uid]
```

## Use instead
```python
sessions_by_user_id = defaultdict(list)
for s in sessions:
    sessions_by_user_id[s.user_id].append(s)
for uid in user_ids:
    user_sessions = [s for s in sessions_by_user_id.get(uid, [])]
```

## Fix safety
The fix builds the index once before the loop and looks each key up in it. Each key still gets its
rows in the collection's order. It is unsafe when the loop body could change the collection, and
in general because the collection is now read once, before the loop, instead of on every iteration.
"#;

/// `[x for x in collection if x.attr == key]`: a scan that, inside a loop over keys, is O(N·M).
struct ScanCandidate<'a> {
    node: Node<'a>,
    variable: String,
    iterable: Node<'a>,
    attribute: String,
    key: Node<'a>,
    body: Node<'a>,
    /// Enclosing loops of the function, innermost last.
    loops: Vec<LoopId>,
}

/// Comprehensions with one `for` clause and one `if` clause comparing an attribute of the
/// variable with something else for equality.
fn scans<'a>(model: &SemanticModel<'a>) -> Vec<ScanCandidate<'a>> {
    let source = model.file.text();
    let text = |node: Node<'_>| &source[node.byte_range()];
    let mut scans = Vec::new();
    for comprehension in &model.comprehensions {
        let node = comprehension.node;
        if comprehension.kind == LoopKind::DictComprehension {
            continue;
        }
        let clauses: Vec<Node<'a>> = named_children(node)
            .filter(|c| c.kind() == "for_in_clause")
            .collect();
        let conditions: Vec<Node<'a>> = named_children(node)
            .filter(|c| c.kind() == "if_clause")
            .collect();
        let ([clause], [condition]) = (clauses.as_slice(), conditions.as_slice()) else {
            continue;
        };
        let (Some(left), Some(right), Some(body)) = (
            field(*clause, "left"),
            field(*clause, "right"),
            field(node, "body"),
        ) else {
            continue;
        };
        let Some(comparison) = named_children(*condition)
            .next()
            .filter(|c| c.kind() == "comparison_operator")
        else {
            continue;
        };
        let mut cursor = comparison.walk();
        let is_equality = comparison
            .children(&mut cursor)
            .filter(|c| !c.is_named())
            .map(|c| c.kind())
            .eq(["=="]);
        let operands: Vec<Node<'a>> = named_children(comparison).collect();
        if !is_equality || operands.len() != 2 || left.kind() != "identifier" {
            continue;
        }
        let variable = text(left);
        let is_attribute_of_variable = |n: Node<'a>| {
            n.kind() == "attribute" && field(n, "object").is_some_and(|o| text(o) == variable)
        };
        let (attribute, key) = if is_attribute_of_variable(operands[0]) {
            (operands[0], operands[1])
        } else if is_attribute_of_variable(operands[1]) {
            (operands[1], operands[0])
        } else {
            continue;
        };
        let Some(attribute_name) = field(attribute, "attribute").map(|a| text(a).to_string())
        else {
            continue;
        };
        scans.push(ScanCandidate {
            node,
            variable: variable.to_string(),
            iterable: right,
            attribute: attribute_name,
            key,
            body,
            loops: comprehension.loops.clone(),
        });
    }
    scans
}

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let model = context.model;
    let file = model.file;
    for scan in &scans(model) {
        let Some(&loop_id) = scan.loops.iter().rev().find(|&&id| {
            let lp = model.loop_(id);
            if !model.grows(id) {
                return false;
            }
            names_in(file, scan.key)
                .iter()
                .any(|n| lp.varying.contains(n))
                && !names_in(file, scan.iterable)
                    .iter()
                    .any(|n| lp.varying.contains(n))
        }) else {
            continue;
        };
        let lp = model.loop_(loop_id);
        let collection = display_code(file.node_text(scan.iterable), 40);
        let message = format!(
            "`{}` scans all of `{collection}` once per `{}`: O(N·M); index it by `{}` once before the loop",
            display_code(file.node_text(scan.node), 60),
            display_code(&lp.target, 30),
            scan.attribute
        );
        let mut diagnostic = Diagnostic::new(&RULE, message, scan.node.byte_range()).with_related(
            format!(
                "the loop over `{}` repeats the scan",
                display_code(&lp.target, 30)
            ),
            lp.header.clone(),
        );
        // The index is built before the loop: the collection must mean there what it means in
        // every iteration.
        let inner_names: Vec<String> = scan
            .loops
            .iter()
            .skip_while(|&&id| id != loop_id)
            .skip(1)
            .flat_map(|&id| model.loop_(id).varying.iter().cloned())
            .collect();
        let bound_inside = names_in(file, scan.iterable)
            .into_iter()
            .find(|name| inner_names.contains(name));
        // The name the collection is reached from: `rows` of `rows`, `by_room` of `by_room[r]`.
        let root = Some(crate::engine::orm::Chain::flatten(scan.iterable, file.text()).root)
            .filter(|root| root.kind() == "identifier")
            .map(|root| file.node_text(root));
        context.offer_fix(&mut diagnostic, || {
            if let Some(name) = &bound_inside {
                return Err(format!(
                    "`{collection}` reads `{name}`, which an inner loop binds: no single index before the loop"
                ));
            }
            if let Some(mutation) = root.and_then(|root| mutation_of(file, lp.node, root)) {
                return Err(format!(
                    "the loop changes `{collection}` (`{}`): an index built before it would go stale",
                    display_code(mutation, 40)
                ));
            }
            index_fix(model, file, scan, lp)
        });
        diagnostics.push(diagnostic);
    }
}

/// The first statement in `loop_node`'s body that changes the collection named `root`:
/// `rows.append(...)` and the other list, set and dict mutators, `rows += ...`, `rows = ...`,
/// `rows[i] = ...`, `del rows[i]`.
fn mutation_of<'a>(file: &'a SourceFile, loop_node: Node<'_>, root: &str) -> Option<&'a str> {
    const MUTATORS: [&str; 12] = [
        "append",
        "extend",
        "insert",
        "remove",
        "pop",
        "clear",
        "add",
        "discard",
        "update",
        "sort",
        "reverse",
        "setdefault",
    ];
    let names_root = |node: Node<'_>| {
        let text = file.node_text(node);
        text == root
            || text.starts_with(&format!("{root}["))
            || text.starts_with(&format!("{root}."))
    };
    let mut stack = vec![field(loop_node, "body")?];
    while let Some(node) = stack.pop() {
        let changes = match node.kind() {
            "call" => field(node, "function")
                .filter(|function| function.kind() == "attribute")
                .is_some_and(|function| {
                    field(function, "object").is_some_and(|object| file.node_text(object) == root)
                        && field(function, "attribute")
                            .is_some_and(|method| MUTATORS.contains(&file.node_text(method)))
                }),
            "assignment" | "augmented_assignment" => field(node, "left").is_some_and(names_root),
            "delete_statement" => named_children(node).any(names_root),
            _ => false,
        };
        if changes {
            return Some(file.node_text(node));
        }
        stack.extend(named_children(node));
    }
    None
}

fn names_in(file: &SourceFile, node: Node<'_>) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        match node.kind() {
            "identifier" => names.push(file.node_text(node).to_string()),
            "attribute" => {
                names.push(file.node_text(node).to_string());
                if let Some(object) = node.child_by_field_name("object") {
                    stack.push(object);
                }
            }
            "keyword_argument" => stack.extend(node.child_by_field_name("value")),
            _ => stack.extend(named_children(node)),
        }
    }
    names
}

fn index_fix(
    model: &SemanticModel<'_>,
    file: &SourceFile,
    scan: &ScanCandidate<'_>,
    lp: &Loop<'_>,
) -> Result<Fix, String> {
    if lp.kind != LoopKind::For {
        return Err("only scans inside a `for` statement are indexed automatically".to_string());
    }
    let _ = model;
    let mut names = NameTable::new(file, lp.node);
    let index = names.fresh(&format!(
        "{}_by_{}",
        scan.variable.trim_end_matches('_'),
        scan.attribute
    ));
    let row = names.fresh("item");
    let indent = indentation_at(file, lp.node.start_byte()).to_string();
    let unit = body_indent_unit(file, lp.node);
    let collection = file.node_text(scan.iterable);
    let prelude = format!(
        "{index} = defaultdict(list)\n{indent}for {row} in {collection}:\n{indent}{unit}{index}[{row}.{attribute}].append({row})\n{indent}",
        attribute = scan.attribute
    );
    let (open, close) = match scan.node.kind() {
        "list_comprehension" => ("[", "]"),
        "set_comprehension" => ("{", "}"),
        _ => ("(", ")"),
    };
    let lookup = format!(
        "{open}{} for {} in {index}.get({}, []){close}",
        file.node_text(scan.body),
        scan.variable,
        file.node_text(scan.key)
    );
    let mut edits = vec![
        Edit::insert(lp.node.start_byte(), prelude),
        Edit::replace(scan.node.byte_range(), lookup),
    ];
    edits.extend(ensure_import(file, "collections", "defaultdict"));
    Ok(Fix::new(
        format!(
            "Index `{}` by `{}` once before the loop",
            display_code(collection, 30),
            scan.attribute
        ),
        Applicability::Unsafe,
        edits,
    ))
}
