//! The project index: what the rules need to know beyond one file. Built per file (pure) and
//! merged, so an edited file replaces only its own entries.
//!
//! It holds the ORM models (columns, nullability, uniqueness, foreign keys, relationships and
//! their loading strategy), read from source, never by importing it; and, in [`calls`], the
//! function summaries that let INB003 follow a call into another file.

pub mod calls;
mod models;
mod query_methods;
mod resolver;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::source::SourceFile;

pub use models::{
    extract_class_writes, extract_models, extract_receivers, reverse_relationship, ClassWrites,
    Column, Model, ModelOrm, PerRowBehaviour, Relationship, RelationshipKind, RowWrite,
    SignalReceiver, PER_ROW_SIGNALS,
};
pub use query_methods::{extract_query_methods, QueryMethod};
pub use resolver::ModelResolver;

/// What one file declares for the project: its model classes, its custom query methods, the class
/// names it imports (a package's `__init__.py` or a settings module re-exporting models), and what
/// decides whether its models' rows can be written in bulk (classes with their `save()`/`delete()`
/// overrides and bases, model signal receivers).
#[derive(Debug, Clone, Default)]
pub struct Declarations {
    pub models: Vec<Model>,
    pub query_methods: Vec<(String, QueryMethod)>,
    pub reexports: Option<ClassImports>,
    pub classes: Vec<ClassWrites>,
    pub receivers: Vec<SignalReceiver>,
}

/// A module and, per class name it binds by importing, the absolute module and name it comes
/// from.
#[derive(Debug, Clone, Default)]
pub struct ClassImports {
    pub module: String,
    pub names: HashMap<String, (String, String)>,
}

impl From<Vec<Model>> for Declarations {
    fn from(models: Vec<Model>) -> Declarations {
        Declarations {
            models,
            ..Declarations::default()
        }
    }
}

impl Declarations {
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
            && self.query_methods.is_empty()
            && self
                .reexports
                .as_ref()
                .is_none_or(|reexports| reexports.names.is_empty())
            && self.classes.is_empty()
            && self.receivers.is_empty()
    }
}

/// Everything a file declares for the project index; `package` when it is a package's
/// `__init__.py` (its relative imports start from the package itself).
pub fn extract_declarations(file: &SourceFile, module: &str, package: bool) -> Declarations {
    let imports = crate::engine::imports::Imports::collect(file, module, package);
    let reexports = imports
        .list
        .iter()
        .filter_map(|import| {
            let name = import.name.as_deref()?;
            crate::engine::orm::looks_like_class(name).then(|| {
                (
                    import.local.clone(),
                    (import.module.clone(), name.to_string()),
                )
            })
        })
        .collect();
    Declarations {
        models: extract_models(file, module),
        query_methods: extract_query_methods(file),
        reexports: Some(ClassImports {
            module: module.to_string(),
            names: reexports,
        }),
        classes: extract_class_writes(file, module),
        receivers: extract_receivers(file, module),
    }
}

/// Models of every indexed file, looked up by class name; and the function summaries the server
/// keeps for its workspace.
#[derive(Debug, Default, Clone)]
pub struct ProjectIndex {
    by_file: HashMap<PathBuf, Vec<Arc<Model>>>,
    by_name: HashMap<String, Vec<Arc<Model>>>,
    /// Function summaries of the workspace's files, resolved across them (the server's; a run
    /// of `inbatch check` passes its own through [`crate::engine::FileOrigin`]).
    pub calls: Arc<calls::CallIndex>,
    /// The folders module names are relative to (the workspace folders).
    pub roots: Vec<PathBuf>,
    /// Django's collection accessors by name (see [`ProjectIndex::related_accessor`]), built on
    /// first use after a change.
    accessors: std::sync::OnceLock<HashMap<String, Option<String>>>,
    /// Custom query methods per file, and by name (`None` where files disagree).
    query_methods_by_file: HashMap<PathBuf, Vec<(String, QueryMethod)>>,
    /// Per file, its module and the class names it imports (see [`Declarations::reexports`]).
    reexports_by_file: HashMap<PathBuf, ClassImports>,
    query_methods: std::sync::OnceLock<HashMap<String, Option<QueryMethod>>>,
    /// Classes with bases or per-row write methods, per file, and by name (built on first use).
    classes_by_file: HashMap<PathBuf, Vec<ClassWrites>>,
    classes: std::sync::OnceLock<HashMap<String, Vec<ClassWrites>>>,
    /// Model signal receivers, per file.
    receivers_by_file: HashMap<PathBuf, Vec<SignalReceiver>>,
}

impl ProjectIndex {
    pub fn new() -> ProjectIndex {
        ProjectIndex::default()
    }

    /// Replaces everything a file declared (on save, on a file-watch event, on first index).
    pub fn replace_file(&mut self, path: &Path, declarations: impl Into<Declarations>) {
        let Declarations {
            models,
            query_methods,
            reexports,
            classes,
            receivers,
        } = declarations.into();
        match reexports {
            Some(reexports) if !reexports.names.is_empty() => {
                self.reexports_by_file.insert(path.to_path_buf(), reexports);
            }
            _ => {
                self.reexports_by_file.remove(path);
            }
        }
        self.accessors = std::sync::OnceLock::new();
        self.query_methods = std::sync::OnceLock::new();
        self.classes = std::sync::OnceLock::new();
        replace_entries(&mut self.query_methods_by_file, path, query_methods);
        replace_entries(&mut self.classes_by_file, path, classes);
        replace_entries(&mut self.receivers_by_file, path, receivers);
        if let Some(old) = self.by_file.remove(path) {
            for model in old {
                if let Some(list) = self.by_name.get_mut(&model.name) {
                    list.retain(|m| !Arc::ptr_eq(m, &model));
                    if list.is_empty() {
                        self.by_name.remove(&model.name);
                    }
                }
            }
        }
        if models.is_empty() {
            return;
        }
        let models: Vec<Arc<Model>> = models.into_iter().map(Arc::new).collect();
        for model in &models {
            self.by_name
                .entry(model.name.clone())
                .or_default()
                .push(model.clone());
        }
        self.by_file.insert(path.to_path_buf(), models);
    }

    pub fn remove_file(&mut self, path: &Path) {
        self.replace_file(path, Vec::new());
    }

    /// The module name of a file: relative to the innermost root holding it, else to its folder.
    pub fn module_of(&self, path: &Path) -> String {
        let root = self
            .roots
            .iter()
            .filter(|root| path.starts_with(root))
            .max_by_key(|root| root.as_os_str().len())
            .map_or_else(|| path.parent().unwrap_or(path), PathBuf::as_path);
        module_name(path, root)
    }

    /// The model a class name refers to: the one declared in `module_hint` (the module it was
    /// imported from), else the only model of that name in the project. Two models of one name
    /// that no import tells apart resolve to none: guessing would invent lazy loads and hide
    /// real ones.
    pub fn model(&self, name: &str, module_hint: Option<&str>) -> Option<&Model> {
        self.model_through(name, module_hint, 0)
    }

    /// [`ProjectIndex::model`], following re-exports (`from app.models import Order` where
    /// `app/models/__init__.py` imports it from `app.models.order`) a few modules deep.
    fn model_through(&self, name: &str, module_hint: Option<&str>, depth: usize) -> Option<&Model> {
        let candidates = self.by_name.get(name)?;
        let preferred = module_hint.and_then(|hint| {
            let hint = hint.trim_start_matches('.');
            if hint.is_empty() {
                return None;
            }
            let declared = candidates
                .iter()
                .find(|m| m.module == hint || m.module.ends_with(&format!(".{hint}")));
            if declared.is_some() || depth >= 3 {
                return declared;
            }
            let reexported = self
                .reexports_by_file
                .values()
                .find(|imports| {
                    imports.module == hint || imports.module.ends_with(&format!(".{hint}"))
                })
                .and_then(|imports| imports.names.get(name))
                .and_then(|(module, original)| {
                    self.model_through(original, Some(module), depth + 1)
                });
            if let Some(model) = reexported {
                return candidates.iter().find(|m| std::ptr::eq(m.as_ref(), model));
            }
            // A package that imports its models from its own submodules.
            let mut in_package = candidates
                .iter()
                .filter(|m| m.module.starts_with(&format!("{hint}.")));
            match (in_package.next(), in_package.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        });
        let unique = match candidates.as_slice() {
            [only] => Some(only),
            _ => None,
        };
        preferred.or(unique).map(|model| model.as_ref())
    }

    /// A relationship attribute of a model: declared on it, or the reverse accessor another model
    /// declares for it (Django `related_name`/`<model>_set`, SQLAlchemy `backref`).
    pub fn relationship(&self, model: &str, attribute: &str) -> Option<Relationship> {
        if let Some(found) = self
            .model(model, None)
            .and_then(|m| m.relationship(attribute))
        {
            return Some(found.clone());
        }
        self.models().find_map(|other| {
            other
                .relationships
                .iter()
                .filter(|relationship| relationship.target.as_deref() == Some(model))
                .filter_map(|relationship| reverse_relationship(other, relationship))
                .find(|reverse| reverse.name == attribute)
        })
    }

    /// The reverse side, named `attribute`, of a relationship another model declares towards
    /// `model`. A relationship names its target by class name alone, so where two models share
    /// that name only a declaration in `model`'s own module counts.
    pub fn reverse_relationship_of(&self, model: &Model, attribute: &str) -> Option<Relationship> {
        let unique = self.models_named(&model.name).nth(1).is_none();
        self.models().find_map(|other| {
            other
                .relationships
                .iter()
                .filter(|relationship| relationship.target.as_deref() == Some(model.name.as_str()))
                .filter(|_| unique || other.module == model.module)
                .filter_map(|relationship| reverse_relationship(other, relationship))
                .find(|reverse| reverse.name == attribute)
        })
    }

    /// A Django many-valued accessor of this name declared somewhere in the project (a
    /// many-to-many field, a reverse foreign key's `related_name` or `<model>_set`): `Some` with
    /// the related model when every declaration agrees on it.
    pub fn related_accessor(&self, name: &str) -> Option<Option<String>> {
        self.accessors
            .get_or_init(|| django_accessors(self.models()))
            .get(name)
            .cloned()
    }

    /// What a custom query method of this name does, when the project declares it (and its
    /// declarations agree).
    pub fn query_method(&self, name: &str) -> Option<QueryMethod> {
        self.query_methods
            .get_or_init(|| merge_query_methods(self.query_methods_by_file.values().flatten()))
            .get(name)
            .copied()
            .flatten()
    }

    /// The classes declared under this name (models, abstract models, mixins) with their bases
    /// and per-row write methods.
    pub fn classes_named(&self, name: &str) -> &[ClassWrites] {
        self.classes
            .get_or_init(|| {
                let mut by_name: HashMap<String, Vec<ClassWrites>> = HashMap::new();
                for class in self.classes_by_file.values().flatten() {
                    by_name
                        .entry(class.name.clone())
                        .or_default()
                        .push(class.clone());
                }
                by_name
            })
            .get(name)
            .map_or(&[], Vec::as_slice)
    }

    /// Every model signal receiver of the project.
    pub fn receivers(&self) -> impl Iterator<Item = &SignalReceiver> {
        self.receivers_by_file.values().flatten()
    }

    /// Every model declared under this class name.
    pub fn models_named(&self, name: &str) -> impl Iterator<Item = &Model> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|model| model.as_ref())
    }

    pub fn models(&self) -> impl Iterator<Item = &Model> {
        self.by_file.values().flatten().map(|model| model.as_ref())
    }

    pub fn len(&self) -> usize {
        self.by_file.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keeps a file's entries in `by_file`, or none when it has none.
fn replace_entries<T>(by_file: &mut HashMap<PathBuf, Vec<T>>, path: &Path, entries: Vec<T>) {
    if entries.is_empty() {
        by_file.remove(path);
    } else {
        by_file.insert(path.to_path_buf(), entries);
    }
}

/// Django's collection accessors of `models`, by name, with the related model when all the
/// declarations of that name agree.
pub(crate) fn django_accessors<'m>(
    models: impl Iterator<Item = &'m Model>,
) -> HashMap<String, Option<String>> {
    let mut accessors: HashMap<String, Option<String>> = HashMap::new();
    let mut add = |name: &str, target: Option<&String>| {
        accessors
            .entry(name.to_string())
            .and_modify(|known| {
                if known.as_ref() != target {
                    *known = None;
                }
            })
            .or_insert_with(|| target.cloned());
    };
    for model in models.filter(|model| model.orm == ModelOrm::Django) {
        for relationship in &model.relationships {
            if relationship.kind == RelationshipKind::Collection {
                add(&relationship.name, relationship.target.as_ref());
            }
            if let Some(reverse) = reverse_relationship(model, relationship) {
                if reverse.kind == RelationshipKind::Collection {
                    add(&reverse.name, reverse.target.as_ref());
                }
            }
        }
    }
    accessors
}

/// Query methods by name; a name declared with different behaviours is `None`.
pub(crate) fn merge_query_methods<'m>(
    methods: impl Iterator<Item = &'m (String, QueryMethod)>,
) -> HashMap<String, Option<QueryMethod>> {
    let mut merged: HashMap<String, Option<QueryMethod>> = HashMap::new();
    for (name, method) in methods {
        merged
            .entry(name.clone())
            .and_modify(|known| {
                if *known != Some(*method) {
                    *known = None;
                }
            })
            .or_insert(Some(*method));
    }
    merged
}

/// A model name as shown to users: `Order` of `app.models:Order`.
pub fn display_model(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, name)| name)
}

/// Whether a file may declare models, by a cheap look at its text: only such files are parsed
/// when the index is built for a project.
pub fn may_declare_models(text: &str) -> bool {
    [
        "Column(",
        "mapped_column(",
        "relationship(",
        "Mapped[",
        "models.Model",
        "Field(",
        "db.Model",
        "Manager)",
        "QuerySet)",
        "Query)",
        "models import ",
        // What decides whether rows can be written in bulk: receivers (often in a `signals.py`
        // that declares no model), `save()`/`delete()` overrides of abstract models and mixins,
        // tree and history bases.
        "post_save",
        "pre_save",
        "post_delete",
        "pre_delete",
        "def save(",
        "def delete(",
        "MP_Node",
        "NS_Node",
        "AL_Node",
        "MPTTModel",
        "HistoricalRecords(",
        "ChangeLogged",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// The dotted module name of a file relative to a project root: `app/models.py` → `app.models`.
pub fn module_name(path: &Path, root: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if let Some(last) = parts.last_mut() {
        if let Some(stem) = last.strip_suffix(".py") {
            *last = stem.to_string();
        }
    }
    if parts.last().is_some_and(|last| last == "__init__") {
        parts.pop();
    }
    parts.join(".")
}
