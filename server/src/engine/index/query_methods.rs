//! Custom query methods: what a project's own managers, querysets and query classes do.
//!
//! `LogEntry.objects.log_create(...)` and `Person.query.get_by_names(...)` end in methods no
//! ORM table knows. Whether such a chain runs SQL where it stands, or builds a queryset that runs
//! later (`Page.objects.live()`), is read from the method's definition in the project: a method
//! of a class deriving from a Django `Manager`/`QuerySet` or a SQLAlchemy `Query` that returns a
//! chain ending in a method that runs (`.get()`, `.first()`, `.create()`, `.all()` on a
//! SQLAlchemy query), or a computed value, runs; one that returns `self.filter(...)`,
//! `self.get_queryset()...` or `self` builds.

use tree_sitter::Node;

use crate::engine::orm::{self, Chain, Orm};
use crate::engine::source::SourceFile;
use crate::engine::syntax::{field, named_children};

pub use crate::engine::orm::QueryMethod;

/// The query methods of the manager, queryset and query classes a file declares, by name.
pub fn extract_query_methods(file: &SourceFile) -> Vec<(String, QueryMethod)> {
    let mut methods = Vec::new();
    collect(file, file.root(), &mut methods);
    methods
}

fn collect(file: &SourceFile, node: Node<'_>, out: &mut Vec<(String, QueryMethod)>) {
    for child in named_children(node) {
        let class = match child.kind() {
            "class_definition" => child,
            "decorated_definition" => match field(child, "definition") {
                Some(definition) if definition.kind() == "class_definition" => definition,
                _ => continue,
            },
            "if_statement" | "try_statement" | "block" => {
                collect(file, child, out);
                continue;
            }
            _ => continue,
        };
        let Some(body) = field(class, "body") else {
            continue;
        };
        // A query class may be nested in its model (`class Person(db.Model): class
        // PersonQuery(Query): ...`).
        collect(file, body, out);
        let Some(orm) = query_class_orm(file, class) else {
            continue;
        };
        for statement in named_children(body) {
            let function = match statement.kind() {
                "function_definition" => statement,
                "decorated_definition" => match field(statement, "definition") {
                    Some(definition) if definition.kind() == "function_definition" => definition,
                    _ => continue,
                },
                _ => continue,
            };
            let Some(name) = field(function, "name").map(|n| file.node_text(n)) else {
                continue;
            };
            if name.starts_with("__") {
                continue;
            }
            if let Some(body) = field(function, "body") {
                out.push((
                    name.to_string(),
                    QueryMethod {
                        runs: runs(file, body, orm),
                    },
                ));
            }
        }
    }
}

/// The ORM a class's bases say it extends a query class of: `models.Manager`, `QuerySet`,
/// `TreeManager`, `BaseQuery`, `Query`.
fn query_class_orm(file: &SourceFile, class: Node<'_>) -> Option<Orm> {
    let bases = field(class, "superclasses")?;
    named_children(bases).find_map(|base| {
        let text = file.node_text(base);
        let name = orm::last_component(text.split(['(', '[']).next().unwrap_or(text));
        if name.ends_with("Manager") || name.ends_with("QuerySet") {
            Some(Orm::Django)
        } else if name == "Query" || name == "BaseQuery" {
            Some(Orm::SqlAlchemy)
        } else {
            None
        }
    })
}

/// Whether a method body runs SQL: any `return` of a computed value or of a chain that runs,
/// or no `return` of a value at all (a method called for its effect).
fn runs(file: &SourceFile, body: Node<'_>, orm: Orm) -> bool {
    let mut returns = Vec::new();
    collect_returns(body, &mut returns);
    if returns.is_empty() {
        return true;
    }
    returns
        .iter()
        .any(|value| returned_value_runs(file, *value, orm))
}

fn collect_returns<'a>(node: Node<'a>, out: &mut Vec<Node<'a>>) {
    for child in named_children(node) {
        match child.kind() {
            "return_statement" => {
                if let Some(value) = named_children(child).next() {
                    out.push(value);
                }
            }
            // A nested function's returns are its own.
            "function_definition" | "lambda" | "class_definition" => {}
            _ => collect_returns(child, out),
        }
    }
}

fn returned_value_runs(file: &SourceFile, value: Node<'_>, orm: Orm) -> bool {
    let source = file.text();
    match value.kind() {
        "identifier" | "none" => false,
        "call" | "attribute" | "subscript" => {
            let chain = Chain::flatten(value, source);
            let tables = orm.tables();
            match chain
                .segments
                .iter()
                .rev()
                .find(|segment| segment.is_call())
            {
                // `return self.filter(...)` builds, `return qs.get(...)` runs; another custom
                // method (`self.live()`) is taken to build, as most chained ones do.
                Some(last) => tables.runs(last.name),
                // `return list(self.filter(...))` runs; `return self.model` is a value.
                None => {
                    chain.root.kind() == "call"
                        && crate::engine::syntax::callee_name(chain.root, source).is_some_and(
                            |callee| {
                                matches!(
                                    callee,
                                    "list" | "tuple" | "set" | "dict" | "sorted" | "len" | "bool"
                                )
                            },
                        )
                }
            }
        }
        _ => true,
    }
}
