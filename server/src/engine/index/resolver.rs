//! Resolving the model names one file uses: its own models first, then what it imports
//! (`from .models import Payment as P`), then any model of that name in the project.

use std::collections::HashMap;

use super::models::{
    extract_class_writes, extract_models, extract_receivers, is_change_logging_base, ClassWrites,
    Model, PerRowBehaviour, Relationship, RowWrite, SignalReceiver, TREE_BASES,
};
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
    /// The file's own classes and signal receivers (see [`ModelResolver::per_row_behaviour`]).
    local_classes: Vec<ClassWrites>,
    local_receivers: Vec<SignalReceiver>,
}

/// How far [`ModelResolver::per_row_behaviour`] follows base classes.
const MAX_BASE_DEPTH: usize = 12;

impl<'i> ModelResolver<'i> {
    pub fn new(file: &SourceFile, index: &'i ProjectIndex) -> ModelResolver<'i> {
        let (local, local_query_methods, local_classes, local_receivers) =
            if may_declare_models(file.text()) {
                let methods = extract_query_methods(file);
                (
                    extract_models(file, ""),
                    super::merge_query_methods(methods.iter()),
                    extract_class_writes(file, ""),
                    extract_receivers(file, ""),
                )
            } else {
                (Vec::new(), HashMap::new(), Vec::new(), Vec::new())
            };
        let mut imports = HashMap::new();
        collect_imports(file, file.root(), &mut imports);
        ModelResolver {
            index,
            local,
            imports,
            local_accessors: std::cell::OnceCell::new(),
            local_query_methods,
            local_classes,
            local_receivers,
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

    /// What makes writing `model`'s rows one by one differ from a bulk form of `write`: a
    /// `save()`/`delete()` override on the model or a class it inherits from (this file's or the
    /// project's, followed by name), a tree or history base or field, a receiver of the signals
    /// Django sends around each row (one naming the model, or one without a sender that may run for
    /// any model). The first found, classes before receivers; `None` when nothing is known.
    pub fn per_row_behaviour(&self, model: &str, write: RowWrite) -> Option<PerRowBehaviour> {
        let model = model.rsplit('.').next().unwrap_or(model);
        for class in self.lineage(model) {
            if class.overrides.iter().any(|m| m == write.method()) {
                return Some(PerRowBehaviour::Override {
                    class: class.name.clone(),
                    method: write.method().to_string(),
                });
            }
            if let Some(field) = &class.history_field {
                return Some(PerRowBehaviour::History {
                    what: format!("`{field} = HistoricalRecords()` on `{}`", class.name),
                });
            }
            for base in &class.bases {
                if TREE_BASES.contains(&base.as_str()) {
                    return Some(PerRowBehaviour::Tree { base: base.clone() });
                }
                if is_change_logging_base(base) {
                    return Some(PerRowBehaviour::History {
                        what: format!("the change-logging base `{base}`"),
                    });
                }
            }
        }
        let signals = write.signals();
        self.local_receivers
            .iter()
            .chain(self.index.receivers())
            .filter(|r| signals.contains(&r.signal.as_str()))
            .filter(|r| r.sender.as_deref().is_none_or(|sender| sender == model))
            // A receiver naming the model explains more than one that may run for any model.
            .min_by_key(|r| r.sender.is_none())
            .map(|r| PerRowBehaviour::Receiver {
                signal: r.signal.clone(),
                handler: r.handler.clone(),
                module: r.module.clone(),
                sender: r.sender.clone(),
            })
    }

    /// Whether `model` or a class it inherits from defines `method` with a body that commits or
    /// flushes its session: the project's own `obj.save()` writes when called.
    pub fn writes_when_called(&self, model: &str, method: &str) -> bool {
        let model = model.rsplit('.').next().unwrap_or(model);
        self.lineage(model)
            .iter()
            .any(|class| class.commits.iter().any(|m| m == method))
    }

    /// The fields of `model` (and the classes it inherits from) declared with `auto_now=True`.
    pub fn auto_now_fields(&self, model: &str) -> Vec<String> {
        let model = model.rsplit('.').next().unwrap_or(model);
        self.lineage(model)
            .into_iter()
            .flat_map(|class| class.auto_now.iter().cloned())
            .collect()
    }

    /// The classes declared under `name` (this file's and the project's) and those they inherit
    /// from, followed by base name, nearest first.
    fn lineage(&self, name: &str) -> Vec<&ClassWrites> {
        let mut found = Vec::new();
        let mut pending = std::collections::VecDeque::from([(name.to_string(), 0)]);
        let mut seen = std::collections::HashSet::new();
        while let Some((name, depth)) = pending.pop_front() {
            if depth > MAX_BASE_DEPTH || !seen.insert(name.clone()) {
                continue;
            }
            let declared = self.local_classes.iter().filter(|c| c.name == name);
            for class in declared.chain(self.index.classes_named(&name)) {
                pending.extend(class.bases.iter().map(|base| (base.clone(), depth + 1)));
                found.push(class);
            }
        }
        found
    }

    /// A relationship of a model, reverse accessors included.
    pub fn relationship(&self, model: &str, attribute: &str) -> Option<Relationship> {
        let resolved = self.model(model)?;
        if let Some(found) = resolved.relationship(attribute) {
            return Some(found.clone());
        }
        self.index.reverse_relationship_of(resolved, attribute)
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
    use crate::engine::index::{PerRowBehaviour, RowWrite};

    fn declare(index: &mut ProjectIndex, path: &str, module: &str, text: &str) {
        index.replace_file(
            Path::new(path),
            super::super::extract_declarations(&SourceFile::parse(text), module, false),
        );
    }

    #[test]
    fn per_row_behaviour_follows_bases_and_receivers_across_files() {
        let mut index = ProjectIndex::new();
        declare(
            &mut index,
            "core/mixins.py",
            "core.mixins",
            "class TreeBase(MP_Node):\n    class Meta:\n        abstract = True\n\n\
             class Stamped:\n    updated = models.DateTimeField(auto_now=True)\n\n\
             class Audited:\n    def save(self, *args, **kwargs):\n        super().save()\n",
        );
        declare(
            &mut index,
            "shop/models.py",
            "shop.models",
            "class Shelf(TreeBase):\n    name = models.CharField()\n\n\
             class Tag(Stamped, models.Model):\n    name = models.CharField()\n\n\
             class Sku(Audited, models.Model):\n    code = models.CharField()\n\n\
             class Plain(models.Model):\n    name = models.CharField()\n",
        );
        declare(
            &mut index,
            "shop/signals.py",
            "shop.signals",
            "@receiver(post_save, sender=Tag)\ndef on_tag(sender, **kwargs):\n    pass\n\n\
             pre_delete.connect(on_plain_gone, sender=Plain)\n",
        );
        let file = SourceFile::parse("from shop.models import Shelf, Tag, Sku, Plain\n");
        let resolver = ModelResolver::new(&file, &index);
        assert_eq!(
            resolver.per_row_behaviour("Shelf", RowWrite::Save),
            Some(PerRowBehaviour::Tree {
                base: "MP_Node".to_string()
            }),
            "a tree base two classes up"
        );
        assert_eq!(
            resolver.per_row_behaviour("Sku", RowWrite::Save),
            Some(PerRowBehaviour::Override {
                class: "Audited".to_string(),
                method: "save".to_string()
            }),
            "a mixin that is no model still overrides save()"
        );
        assert_eq!(resolver.per_row_behaviour("Sku", RowWrite::Delete), None);
        assert_eq!(
            resolver.per_row_behaviour("models.Tag", RowWrite::Save),
            Some(PerRowBehaviour::Receiver {
                signal: "post_save".to_string(),
                handler: "on_tag".to_string(),
                module: "shop.signals".to_string(),
                sender: Some("Tag".to_string()),
            }),
            "a receiver in another file, which declares no model"
        );
        assert_eq!(resolver.per_row_behaviour("Tag", RowWrite::Delete), None);
        assert_eq!(resolver.auto_now_fields("Tag"), ["updated"]);
        assert_eq!(resolver.per_row_behaviour("Plain", RowWrite::Save), None);
        assert!(matches!(
            resolver.per_row_behaviour("Plain", RowWrite::Delete),
            Some(PerRowBehaviour::Receiver { signal, .. }) if signal == "pre_delete"
        ));

        // Re-indexing the signals file without its receivers forgets them.
        declare(&mut index, "shop/signals.py", "shop.signals", "x = 1\n");
        let resolver = ModelResolver::new(&file, &index);
        assert_eq!(resolver.per_row_behaviour("Tag", RowWrite::Save), None);

        // A receiver without a sender runs for every model.
        declare(
            &mut index,
            "shop/signals.py",
            "shop.signals",
            "@receiver(post_save)\ndef on_any(sender, **kwargs):\n    pass\n",
        );
        let resolver = ModelResolver::new(&file, &index);
        assert!(matches!(
            resolver.per_row_behaviour("Plain", RowWrite::Save),
            Some(PerRowBehaviour::Receiver { sender: None, handler, .. }) if handler == "on_any"
        ));
    }

    #[test]
    fn sqlalchemy_helpers_that_commit() {
        let mut index = ProjectIndex::new();
        declare(
            &mut index,
            "app/base.py",
            "app.base",
            "class DomainObject:\n    def save(self):\n        Session.add(self)\n        Session.commit()\n\n\
             \x20   def delete(self):\n        Session.delete(self)\n",
        );
        declare(
            &mut index,
            "app/models.py",
            "app.models",
            "class Member(DomainObject, Base):\n    __tablename__ = \"member\"\n    id = Column(Integer, primary_key=True)\n",
        );
        let file = SourceFile::parse("");
        let resolver = ModelResolver::new(&file, &index);
        assert!(resolver.writes_when_called("Member", "save"));
        assert!(!resolver.writes_when_called("Member", "delete"));
    }

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
