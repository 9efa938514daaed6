//! INB102 lossy-grouping.

use tree_sitter::Node;

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::edit_support::{
    body_indent_unit, indentation_at, merge_insertions, NameTable,
};
use crate::engine::fix::imports::{ensure_imports, Needed};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::semantic::types::RowType;
use crate::engine::semantic::SemanticModel;
use crate::engine::source::SourceFile;
use crate::engine::syntax::{display_code, field, named_children, text_without_comments};

pub static RULE: RuleInfo = RuleInfo {
    code: "INB102",
    name: "lossy-grouping",
    severity: Severity::Warning,
    summary:
        "A dict of query rows keyed by a non-unique column keeps one row per key and drops the rest",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Sometimes,
    enabled_by_default: false,
    category: Category::Correctness,
};

const DOCUMENTATION: &str = r#"## What it does
Flags a dict built from query rows — `{s.user_id: s for s in rows}` or `by_user[s.user_id] = s` in a
loop — keyed by a column that is not unique: a foreign key or any column that is neither the primary
key nor declared `unique=True` (nor alone in a unique constraint), according to the indexed models.
When the model is unknown, a `*_id` key that is not `id` is flagged with lower confidence.

## Why is this bad?
Later rows overwrite earlier ones. A user with three sessions keeps one; the other two vanish
without an error, and every total computed from the dict is silently wrong. This is the classic
half-fix of an N+1 loop: the SQL is batched, the grouping is lossy.

## Example
```python
sessions_by_user = {s.user_id: s for s in Session.query.filter(Session.user_id.in_(ids)).all()}
```

## Use instead
```python
sessions_by_user = defaultdict(list)
for s in Session.query.filter(Session.user_id.in_(ids)).all():
    sessions_by_user[s.user_id].append(s)
```

## Fix safety
The fix groups into `defaultdict(list)` and rewrites the dict's readers in the same function that
iterate its values (`d.values()` becomes `chain.from_iterable(d.values())`). It is unsafe: the dict
now holds every row, which changes what its readers see — that is the point. When the dict is read
in any other way (`d[k]`, `d.get(k)`, returned, passed on), no fix is offered, since those readers
expect one row per key.
"#;

/// A dict keyed by a row attribute: `{s.user_id: s for s in rows}` or `by_key[s.user_id] = s`.
struct KeyedStore<'a> {
    /// The dict comprehension, or the assignment statement.
    node: Node<'a>,
    /// The name the dict is bound to, when it is.
    dict: Option<String>,
    model: String,
    key: String,
    /// The `s.user_id` expression.
    key_node: Node<'a>,
    /// What the finding points at: the comprehension's `key: value` pair (the loss is there, and a
    /// long comprehension is not underlined whole), or the assignment.
    flagged: Node<'a>,
}

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let file = context.model.file;
    for store in keyed_stores(context.model) {
        let (unique, confident) = match context.index.model(&store.model) {
            Some(model) if model.column(&store.key).is_some() || model.is_unique(&store.key) => {
                (model.is_unique(&store.key), true)
            }
            // Unknown model or column: only a `*_id` key other than `id` looks like a foreign key.
            _ => (!(store.key.ends_with("_id") && store.key != "id"), false),
        };
        if unique {
            continue;
        }
        let certainty = if confident {
            format!(
                "`{}.{}` is not unique",
                crate::engine::index::display_model(&store.model),
                store.key
            )
        } else {
            format!(
                "`{}` looks like a foreign key, so probably not unique",
                store.key
            )
        };
        let what = display_code(&text_without_comments(file.text(), store.node), 50);
        let message = format!(
            "`{what}` keys `{}` rows by `{}`, but {certainty}: each key keeps only its last row and the others are lost",
            crate::engine::index::display_model(&store.model),
            store.key
        );
        let mut diagnostic = Diagnostic::new(&RULE, message, store.flagged.byte_range());
        context.offer_fix(&mut diagnostic, || {
            grouping_fix(file, context.model.scope_of(store.node).node, &store)
        });
        diagnostics.push(diagnostic);
    }
}

fn grouping_fix(file: &SourceFile, scope: Node<'_>, store: &KeyedStore<'_>) -> Result<Fix, String> {
    let dict = store
        .dict
        .as_deref()
        .ok_or("the dict is not bound to a name")?;
    let mut edits = Vec::new();
    if store.node.kind() == "dictionary_comprehension" {
        let statement = store
            .node
            .parent()
            .filter(|p| p.kind() == "assignment")
            .and_then(|p| p.parent())
            .filter(|p| p.kind() == "expression_statement")
            .ok_or("the dict comprehension is not a plain assignment")?;
        let clause = named_children(store.node)
            .find(|c| c.kind() == "for_in_clause")
            .ok_or("no for clause")?;
        if named_children(store.node).any(|c| c.kind() == "if_clause") {
            return Err("the comprehension filters rows; rewrite it by hand".to_string());
        }
        let (variable, iterable) = (
            field(clause, "left").ok_or("no target")?,
            field(clause, "right").ok_or("no iterable")?,
        );
        let indent = indentation_at(file, statement.start_byte());
        let unit = body_indent_unit(file, statement);
        let variable = file.node_text(variable);
        let key = file.node_text(store.key_node);
        let replacement = format!(
            "{dict} = defaultdict(list)\n{indent}for {variable} in {}:\n{indent}{unit}{dict}[{key}].append({variable})",
            file.node_text(iterable)
        );
        edits.push(Edit::replace(statement.byte_range(), replacement));
    } else {
        // `d[row.key] = row` in a loop: append instead, and start from `defaultdict(list)`.
        let (Some(left), Some(right)) = (field(store.node, "left"), field(store.node, "right"))
        else {
            return Err("not an assignment".to_string());
        };
        let initial = find_initialisation(file, scope, dict)
            .ok_or("the dict is not created as `{}` in this function")?;
        edits.push(Edit::replace(initial.byte_range(), "defaultdict(list)"));
        edits.push(Edit::replace(
            store.node.byte_range(),
            format!("{}.append({})", file.node_text(left), file.node_text(right)),
        ));
    }
    // `chain` may already name something the function uses: then go through the module.
    let names = NameTable::new(file, store.node);
    let chain_is_free = !names.is_taken("chain");
    let chain = if chain_is_free {
        "chain"
    } else {
        "itertools.chain"
    };
    let mut uses_chain = false;
    for reader in readers(file, scope, dict, store.node) {
        let parent = reader.parent().ok_or("no parent")?;
        let is_values_call = parent.kind() == "attribute"
            && field(parent, "attribute").is_some_and(|a| file.node_text(a) == "values")
            && parent.parent().is_some_and(|call| call.kind() == "call");
        if !is_values_call {
            return Err(format!(
                "`{dict}` is also read as a mapping to single rows (`{}`); those readers need rewriting by hand",
                display_code(file.node_text(parent), 40)
            ));
        }
        let call = parent.parent().expect("checked above");
        edits.push(Edit::replace(
            call.byte_range(),
            format!("{chain}.from_iterable({})", file.node_text(call)),
        ));
        uses_chain = true;
    }
    let mut needed = vec![Needed::from("collections", "defaultdict")];
    if uses_chain && chain_is_free {
        needed.push(Needed::from("itertools", "chain"));
    } else if uses_chain {
        let imported = file
            .text()
            .lines()
            .any(|line| line.trim() == "import itertools");
        if !imported && names.is_taken("itertools") {
            return Err("both `chain` and `itertools` are names in use here".to_string());
        }
        needed.push(Needed::module("itertools"));
    }
    edits.extend(ensure_imports(file, &needed));
    merge_insertions(&mut edits);
    Ok(Fix::new(
        format!(
            "Group every row per `{}` with `defaultdict(list)`",
            store.key
        ),
        Applicability::Unsafe,
        edits,
    ))
}

/// Reads of `name` in the function outside the store itself and outside assignments to it.
fn readers<'a>(file: &SourceFile, scope: Node<'a>, name: &str, store: Node<'a>) -> Vec<Node<'a>> {
    let mut found = Vec::new();
    let mut stack = vec![scope];
    while let Some(node) = stack.pop() {
        if node == store {
            continue;
        }
        if node.kind() == "identifier" && file.node_text(node) == name {
            let parent = node.parent();
            let is_assignment_target =
                parent.is_some_and(|p| p.kind() == "assignment" && field(p, "left") == Some(node));
            let is_store_target = parent.is_some_and(|p| {
                p.kind() == "subscript"
                    && p.parent()
                        .is_some_and(|a| a.kind() == "assignment" && field(a, "left") == Some(p))
            });
            if !is_assignment_target && !is_store_target {
                found.push(node);
            }
        }
        let mut cursor = node.walk();
        stack.extend(
            node.named_children(&mut cursor)
                .filter(|c| c.kind() != "function_definition" || *c == scope),
        );
    }
    found.sort_by_key(|n| n.start_byte());
    found
}

/// The `{}` / `dict()` assigned to `name` in the function.
fn find_initialisation<'a>(file: &SourceFile, scope: Node<'a>, name: &str) -> Option<Node<'a>> {
    let mut stack = vec![scope];
    while let Some(node) = stack.pop() {
        if node.kind() == "assignment"
            && field(node, "left").is_some_and(|l| file.node_text(l) == name)
        {
            let right = field(node, "right")?;
            if matches!(file.node_text(right), "{}" | "dict()") {
                return Some(right);
            }
        }
        let mut cursor = node.walk();
        stack.extend(node.named_children(&mut cursor));
    }
    None
}

/// Every dict of rows keyed by a row attribute: dict comprehensions over rows and
/// `by_key[row.key] = row` assignments.
fn keyed_stores<'a>(model: &SemanticModel<'a>) -> Vec<KeyedStore<'a>> {
    let source = model.file.text();
    let text = |node: Node<'_>| &source[node.byte_range()];
    let mut stores = Vec::new();
    for comprehension in &model.comprehensions {
        if comprehension.kind != crate::engine::semantic::LoopKind::DictComprehension {
            continue;
        }
        let [Some(RowType::Rows(rows_model))] = comprehension.iterated.as_slice() else {
            continue;
        };
        let Some(clause) = named_children(comprehension.node).find(|c| c.kind() == "for_in_clause")
        else {
            continue;
        };
        let (Some(left), Some(body)) = (field(clause, "left"), field(comprehension.node, "body"))
        else {
            continue;
        };
        let (Some(key), Some(value)) = (field(body, "key"), field(body, "value")) else {
            continue;
        };
        if text(value) != text(left)
            || key.kind() != "attribute"
            || field(key, "object").map(text) != Some(text(left))
        {
            continue;
        }
        let Some(key_name) = field(key, "attribute").map(|a| text(a).to_string()) else {
            continue;
        };
        stores.push(KeyedStore {
            node: comprehension.node,
            dict: comprehension.assigned_to.clone(),
            model: rows_model.clone(),
            key: key_name,
            key_node: key,
            flagged: body,
        });
    }
    for store in model.stores.iter().filter(|store| !store.augmented) {
        let (left, right) = (store.left, store.right);
        if left.kind() != "subscript" {
            continue;
        }
        let (Some(dict), Some(key)) = (field(left, "value"), field(left, "subscript")) else {
            continue;
        };
        if dict.kind() != "identifier" || key.kind() != "attribute" || right.kind() != "identifier"
        {
            continue;
        }
        if field(key, "object").map(text) != Some(text(right)) {
            continue;
        }
        let Some(RowType::Row(row_model)) = &store.value_type else {
            continue;
        };
        let Some(key_name) = field(key, "attribute").map(|a| text(a).to_string()) else {
            continue;
        };
        stores.push(KeyedStore {
            node: store.node,
            dict: Some(text(dict).to_string()),
            model: row_model.clone(),
            key: key_name,
            key_node: key,
            flagged: store.node,
        });
    }
    stores.sort_by_key(|store| store.node.start_byte());
    stores
}
