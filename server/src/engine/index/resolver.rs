//! Resolving the model names one file uses: its own models first, then what it imports
//! (`from .models import Payment as P`), then any model of that name in the project.

use std::collections::HashMap;

use super::models::{extract_models, Model, Relationship};
use super::query_methods::{extract_query_methods, QueryMethod};
use super::{may_declare_models, ProjectIndex};
use crate::engine::source::SourceFile;
use crate::engine::syntax::{field, named_children};

pub struct ModelResolver<'i> {
    index: &'i ProjectIndex,
    local: Vec<Model>,
    /// Local name → (module as written, imported name).
    imports: HashMap<String, (String, String)>,
    /// The file's own Django accessors, built on first use.
    local_accessors: std::cell::OnceCell<HashMap<String, Option<String>>>,
    /// The file's own custom query methods.
    local_query_methods: HashMap<String, Option<QueryMethod>>,
}

impl<'i> ModelResolver<'i> {
    pub fn new(file: &SourceFile, index: &'i ProjectIndex) -> ModelResolver<'i> {
        let (local, local_query_methods) = if may_declare_models(file.text()) {
            let methods = extract_query_methods(file);
            (
                extract_models(file, ""),
                super::merge_query_methods(methods.iter()),
            )
        } else {
            (Vec::new(), HashMap::new())
        };
        let mut imports = HashMap::new();
        collect_imports(file, file.root(), &mut imports);
        ModelResolver {
            index,
            local,
            imports,
            local_accessors: std::cell::OnceCell::new(),
            local_query_methods,
        }
    }

    pub fn model(&self, name: &str) -> Option<&Model> {
        // `module:Name`: a model named from another one (a relationship's target), resolved in
        // the module that declares the relationship.
        if let Some((module, name)) = name.split_once(':') {
            if module.is_empty() {
                return self.local.iter().find(|m| m.name == name);
            }
            return self.index.model(name, Some(module));
        }
        if let Some(model) = self.local.iter().find(|m| m.name == name) {
            return Some(model);
        }
        let name = name.rsplit('.').next().unwrap_or(name);
        match self.imports.get(name) {
            Some((module, original)) => self.index.model(original, Some(module)),
            None => self.index.model(name, None),
        }
    }

    /// The model of this name that satisfies `fits`, in the same order of preference as
    /// [`ModelResolver::model`], for when a name is ambiguous across the project.
    pub fn model_where(&self, name: &str, fits: impl Fn(&Model) -> bool) -> Option<&Model> {
        if let Some(model) = self.model(name).filter(|m| fits(m)) {
            return Some(model);
        }
        self.index.models_named(name).find(|m| fits(m))
    }

    /// The module a name was imported from (`from app.models import Order` → `app.models`).
    pub fn imported_from(&self, name: &str) -> Option<&str> {
        self.imports.get(name).map(|(module, _)| module.as_str())
    }

    /// A Django many-valued accessor of this name, declared in this file or the project (see
    /// [`ProjectIndex::related_accessor`]).
    pub fn related_accessor(&self, name: &str) -> Option<Option<String>> {
        let local = self
            .local_accessors
            .get_or_init(|| super::django_accessors(self.local.iter()));
        if let Some(local) = local.get(name) {
            return Some(local.clone());
        }
        self.index.related_accessor(name)
    }

    /// What a custom query method does: declared in this file, else in the project.
    pub fn query_method(&self, name: &str) -> Option<QueryMethod> {
        match self.local_query_methods.get(name) {
            Some(local) => *local,
            None => self.index.query_method(name),
        }
    }

    /// A relationship of a model, reverse accessors included.
    pub fn relationship(&self, model: &str, attribute: &str) -> Option<Relationship> {
        let resolved = self.model(model)?;
        if let Some(found) = resolved.relationship(attribute) {
            return Some(found.clone());
        }
        self.index.relationship(&resolved.name, attribute)
    }

    /// The name a relationship's target goes by for later lookups: `module:Name` when the
    /// module that declares `owner` declares `target` too (a relationship names a model of its
    /// own module first), else the plain name.
    pub fn qualified_target(&self, owner: &str, target: &str) -> String {
        let Some(owner) = self.model(owner) else {
            return target.to_string();
        };
        let is_local = self.local.iter().any(|m| std::ptr::eq(m, owner));
        if is_local {
            if self.local.iter().any(|m| m.name == target) {
                return format!(":{target}");
            }
        } else if self
            .index
            .models_named(target)
            .any(|m| m.module == owner.module)
        {
            return format!("{}:{target}", owner.module);
        }
        target.to_string()
    }
}

fn collect_imports(
    file: &SourceFile,
    node: tree_sitter::Node<'_>,
    out: &mut HashMap<String, (String, String)>,
) {
    for statement in named_children(node) {
        match statement.kind() {
            "import_from_statement" => {
                let module = field(statement, "module_name")
                    .map(|m| file.node_text(m).to_string())
                    .unwrap_or_default();
                let mut cursor = statement.walk();
                for name in statement.children_by_field_name("name", &mut cursor) {
                    let (original, alias) = match name.kind() {
                        "aliased_import" => (
                            field(name, "name").map(|n| file.node_text(n)).unwrap_or(""),
                            field(name, "alias")
                                .map(|a| file.node_text(a))
                                .unwrap_or(""),
                        ),
                        _ => (file.node_text(name), file.node_text(name)),
                    };
                    out.insert(alias.to_string(), (module.clone(), original.to_string()));
                }
            }
            "if_statement" | "try_statement" | "block" | "else_clause" | "except_clause" => {
                collect_imports(file, statement, out)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn aliases_and_modules_pick_the_right_model() {
        let mut index = ProjectIndex::new();
        let declare = |text: &str, module: &str| extract_models(&SourceFile::parse(text), module);
        index.replace_file(
            Path::new("a/models.py"),
            declare(
                "class Payment(Base):\n    amount = Column(Numeric)\n",
                "a.models",
            ),
        );
        index.replace_file(
            Path::new("b/models.py"),
            declare(
                "class Payment(Base):\n    amount = Column(Numeric, nullable=False)\n",
                "b.models",
            ),
        );
        let file = SourceFile::parse("from b.models import Payment as P\n");
        let resolver = ModelResolver::new(&file, &index);
        assert!(
            !resolver
                .model("P")
                .unwrap()
                .column("amount")
                .unwrap()
                .nullable
        );
        let file = SourceFile::parse("from .models import Payment\n");
        assert!(ModelResolver::new(&file, &index).model("Payment").is_some());
        let local =
            SourceFile::parse("class Payment(Base):\n    id = Column(Integer, primary_key=True)\n");
        let resolver = ModelResolver::new(&local, &index);
        assert!(
            resolver
                .model("Payment")
                .unwrap()
                .column("amount")
                .is_none(),
            "the file's own model wins"
        );
    }
}
