//! What a file imports: each local name with the absolute module (and name) it comes from.
//!
//! Shared by the semantic model (which library symbol a name is: [`Imports::target_of`]) and
//! the project's function summaries (which module a call goes to).

use crate::engine::hashing::FastMap;
use crate::engine::source::SourceFile;
use crate::engine::syntax::{field, named_children};

/// A name a module binds by importing: `from m import n as local` (`name` is `Some(n)`), or
/// `import m as local` / `import m` (`name` is `None`; for `import a.b`, `local` is `a.b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub local: String,
    /// The absolute module.
    pub module: String,
    pub name: Option<String>,
}

/// The imports of one file, with relative modules made absolute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imports {
    pub list: Vec<Import>,
    /// The last import of each local name, by index into `list`.
    by_local: FastMap<String, usize>,
}

impl Imports {
    /// Reads the module-level imports (also under `if`/`try`) of a file whose module is `module`;
    /// `package` when the file is a package's `__init__.py`. Relative imports that climb above
    /// the project are dropped.
    pub fn collect(file: &SourceFile, module: &str, package: bool) -> Imports {
        let mut imports = Vec::new();
        collect(file, file.root(), module, package, &mut imports);
        let by_local = imports
            .iter()
            .enumerate()
            .map(|(index, import): (usize, &Import)| (import.local.clone(), index))
            .collect();
        Imports {
            list: imports,
            by_local,
        }
    }

    /// The module and name a plain-name call `name(...)` refers to, when `name` was imported
    /// with `from m import name`.
    pub fn function(&self, name: &str) -> Option<(&str, &str)> {
        let import = &self.list[*self.by_local.get(name)?];
        Some((import.module.as_str(), import.name.as_deref()?))
    }

    /// The module a dotted receiver `h`, `app.helpers` or `helpers` names through `import m as
    /// h`, `import app.helpers` or `from app import helpers`.
    pub fn module(&self, receiver: &str) -> Option<String> {
        self.list.iter().rev().find_map(|import| {
            let rest = if receiver == import.local {
                ""
            } else {
                receiver
                    .strip_prefix(import.local.as_str())
                    .filter(|rest| rest.starts_with('.'))?
            };
            let base = match &import.name {
                Some(name) => format!("{}.{name}", import.module),
                None => import.module.clone(),
            };
            Some(format!("{base}{rest}"))
        })
    }

    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|import| import.module.as_str())
    }
}

fn collect(
    file: &SourceFile,
    node: tree_sitter::Node<'_>,
    module: &str,
    package: bool,
    out: &mut Vec<Import>,
) {
    for statement in named_children(node) {
        match statement.kind() {
            "if_statement" | "try_statement" | "block" | "else_clause" | "except_clause"
            | "finally_clause" => collect(file, statement, module, package, out),
            _ => collect_statement(file, statement, module, package, out),
        }
    }
}

fn collect_statement(
    file: &SourceFile,
    statement: tree_sitter::Node<'_>,
    module: &str,
    package: bool,
    out: &mut Vec<Import>,
) {
    {
        match statement.kind() {
            "import_from_statement" => {
                let Some(written) = field(statement, "module_name").map(|m| file.node_text(m))
                else {
                    return;
                };
                let Some(from) = absolute_module(written, module, package) else {
                    return;
                };
                let mut cursor = statement.walk();
                for name in statement.children_by_field_name("name", &mut cursor) {
                    let (original, local) = match name.kind() {
                        "aliased_import" => (
                            field(name, "name").map(|n| file.node_text(n)),
                            field(name, "alias").map(|a| file.node_text(a)),
                        ),
                        _ => (Some(file.node_text(name)), Some(file.node_text(name))),
                    };
                    if let (Some(original), Some(local)) = (original, local) {
                        out.push(Import {
                            local: local.to_string(),
                            module: from.clone(),
                            name: Some(original.to_string()),
                        });
                    }
                }
            }
            "import_statement" => {
                let mut cursor = statement.walk();
                for name in statement.children_by_field_name("name", &mut cursor) {
                    let (dotted, local) = match name.kind() {
                        "aliased_import" => (
                            field(name, "name").map(|n| file.node_text(n)),
                            field(name, "alias").map(|a| file.node_text(a)),
                        ),
                        _ => (Some(file.node_text(name)), Some(file.node_text(name))),
                    };
                    if let (Some(dotted), Some(local)) = (dotted, local) {
                        out.push(Import {
                            local: local.to_string(),
                            module: dotted.to_string(),
                            name: None,
                        });
                    }
                }
            }
            _ => {}
        }
    }
}

/// `.helpers` in module `app.views` → `app.helpers`; `..core` climbs one more package; an
/// absolute module is returned as written.
pub fn absolute_module(written: &str, module: &str, package: bool) -> Option<String> {
    let dots = written.len() - written.trim_start_matches('.').len();
    if dots == 0 {
        return Some(written.to_string());
    }
    let mut parts: Vec<&str> = module.split('.').filter(|p| !p.is_empty()).collect();
    // The package a relative import starts from: the module itself for an `__init__.py`.
    if !package && parts.pop().is_none() {
        return None;
    }
    for _ in 1..dots {
        parts.pop()?;
    }
    let rest = &written[dots..];
    if !rest.is_empty() {
        parts.push(rest);
    }
    Some(parts.join("."))
}

impl Imports {
    /// The module and name a dotted path stands for through the imports: `sa.select` with
    /// `import sqlalchemy as sa` is (`sqlalchemy`, `select`); `orm.Session` with `from
    /// sqlalchemy import orm` is (`sqlalchemy.orm`, `Session`); `sa` alone is (`sqlalchemy`,
    /// none).
    pub fn target_of(&self, path: &str) -> Option<(String, Option<String>)> {
        self.list.iter().rev().find_map(|import| {
            let rest = if path == import.local {
                ""
            } else {
                path.strip_prefix(import.local.as_str())
                    .filter(|rest| rest.starts_with('.'))?
            };
            let mut module = import.module.clone();
            let mut name = import.name.clone();
            for part in rest.split('.').filter(|part| !part.is_empty()) {
                if let Some(previous) = name.take() {
                    module.push('.');
                    module.push_str(&previous);
                }
                name = Some(part.to_string());
            }
            Some((module, name))
        })
    }

    /// Adds the imports of one statement (a function's own `import` inside its body).
    pub fn add_statement(
        &mut self,
        file: &SourceFile,
        statement: tree_sitter::Node<'_>,
        module: &str,
        package: bool,
    ) {
        let start = self.list.len();
        collect_statement(file, statement, module, package, &mut self.list);
        for index in start..self.list.len() {
            self.by_local.insert(self.list[index].local.clone(), index);
        }
    }
}
