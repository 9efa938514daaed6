//! Classes of the file and what receivers hold, for following method calls (INB003).
//!
//! `repo.get_by_id(cid)` calls a method only the receiver's class can say: [`Receivers::holds`]
//! reads what `repo` is bound to (a constructor call `CustomerRepository(session)`, a classmethod
//! factory `CustomerRepository.from_session(session)` that returns `cls(...)`, an annotation
//! `repo: CustomerRepository`, `self.repo = CustomerRepository()` in a method of the caller's
//! class, a module-level instance, a row of a model, `self`/`cls`), and [`find_member`] looks the
//! method up through the class and its bases (generic bases `Repository[Customer]` read as
//! `Repository`), in this file and, through the project's summaries, in others. Whatever cannot be
//! read that way is not followed.

use std::path::{Path, PathBuf};

use tree_sitter::Node;

use super::calls::{CallSite, FastMap, FastSet, FunctionDef};
use super::{ScopeRecord, SemanticModel};
use crate::engine::index::calls::{
    defines_nothing, find_method, usable, BaseLookup, BaseRef, CallForm, CallIndex, ClassGraph,
    ClassRef, ClassSummary, FunctionKind, Imports, InstanceRef, MemberAccess, MethodEntry,
    MethodLookup,
};
use crate::engine::index::ModelResolver;
use crate::engine::orm::looks_like_class;
use crate::engine::semantic::types::RowType;
use crate::engine::syntax::{callee_name, dotted_path, field, named_children};

/// The classes defined in the file, as the project would read them from its summary.
pub struct FileClasses<'a> {
    pub nodes: Vec<Node<'a>>,
    /// Per class (same index as `nodes`): bases resolved in the file, methods by index into the
    /// file's functions.
    pub summaries: Vec<ClassSummary>,
    by_node: FastMap<usize, usize>,
    /// Module-level classes by name (a later definition replaces an earlier one, as in Python).
    by_name: FastMap<String, usize>,
    /// Per class: it or a base may define a property (a base of another file may). Reading an
    /// attribute of an instance of any other class runs nothing, and reads are many.
    may_have_properties: Vec<bool>,
}

impl<'a> FileClasses<'a> {
    pub fn build(
        model: &SemanticModel<'a>,
        functions: &[FunctionDef<'a>],
        statements: &[Node<'a>],
        imports: &Imports,
    ) -> FileClasses<'a> {
        let source = model.file.text();
        let nodes = model.classes.clone();
        let by_node: FastMap<usize, usize> = nodes
            .iter()
            .enumerate()
            .map(|(index, node)| (node.id(), index))
            .collect();
        let mut by_name: FastMap<String, usize> = FastMap::default();
        let mut summaries = Vec::with_capacity(nodes.len());
        for (index, node) in nodes.iter().enumerate() {
            let name = field(*node, "name").map_or("", |n| &source[n.byte_range()]);
            let module_level = is_module_statement(*node, statements);
            if module_level {
                by_name.insert(name.to_string(), index);
            }
            summaries.push(ClassSummary {
                name: name.to_string(),
                module_level,
                bases: Vec::new(),
                methods: Vec::new(),
            });
        }
        for (index, node) in nodes.iter().enumerate() {
            summaries[index].bases = base_paths(*node, source)
                .into_iter()
                .filter(|base| !defines_nothing(base.as_deref().unwrap_or("")))
                .map(|base| match base {
                    Some(path) => match by_name.get(&path) {
                        Some(local) => BaseRef::Local(*local),
                        None => match imports.target_of(&path) {
                            Some((module, Some(name))) => {
                                BaseRef::Imported(ClassRef { module, name })
                            }
                            _ => BaseRef::Opaque,
                        },
                    },
                    None => BaseRef::Opaque,
                })
                .collect();
        }
        // Methods in definition order; a later definition of a name replaces an earlier one,
        // except a property's setter or deleter, which leaves reading the name to the getter.
        let mut in_order: Vec<usize> = (0..functions.len()).collect();
        in_order.sort_by_key(|&index| functions[index].node.start_byte());
        for index in in_order {
            let function = &functions[index];
            let Some(class) = function
                .class_node
                .and_then(|node| by_node.get(&node.id()).copied())
            else {
                continue;
            };
            if function.accessor {
                continue;
            }
            let entry = MethodEntry {
                name: function.name.clone(),
                kind: function.kind,
                factory: function.factory,
                function: Some(index),
            };
            let methods = &mut summaries[class].methods;
            match methods.iter_mut().find(|m| m.name == entry.name) {
                Some(existing) => *existing = entry,
                None => methods.push(entry),
            }
        }
        let may_have_properties = (0..summaries.len())
            .map(|class| may_have_properties(&summaries, class))
            .collect();
        FileClasses {
            nodes,
            summaries,
            by_node,
            by_name,
            may_have_properties,
        }
    }

    /// Whether reading an attribute of an instance of the class may run a property.
    pub fn may_have_properties(&self, class: usize) -> bool {
        self.may_have_properties[class]
    }

    pub fn of_node(&self, node: Node<'_>) -> Option<usize> {
        self.by_node.get(&node.id()).copied()
    }

    fn named(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}

/// Whether a class of the file or one of its bases defines a property, or has a base of
/// another file (which may).
fn may_have_properties(classes: &[ClassSummary], class: usize) -> bool {
    let mut stack = vec![class];
    let mut seen = Vec::new();
    while let Some(class) = stack.pop() {
        if seen.contains(&class) {
            continue;
        }
        seen.push(class);
        let summary = &classes[class];
        if summary.methods.iter().any(|m| m.kind.runs_on_read()) {
            return true;
        }
        for base in &summary.bases {
            match base {
                BaseRef::Local(index) => stack.push(*index),
                BaseRef::Imported(_) => return true,
                BaseRef::Opaque => {}
            }
        }
    }
    false
}

/// The bases of a class as dotted paths (`None` for what is not one), generic arguments
/// dropped; keyword arguments (`metaclass=`) are not bases.
fn base_paths(class: Node<'_>, source: &str) -> Vec<Option<String>> {
    let Some(arguments) = field(class, "superclasses") else {
        return Vec::new();
    };
    named_children(arguments)
        .filter(|argument| !matches!(argument.kind(), "keyword_argument" | "comment"))
        .map(|argument| {
            let base = if argument.kind() == "subscript" {
                field(argument, "value")?
            } else {
                argument
            };
            dotted_path(base, source)
        })
        .collect()
}

/// Whether a definition is one of the module's `statements` (in order), decorated or not.
pub(super) fn is_module_statement(definition: Node<'_>, statements: &[Node<'_>]) -> bool {
    let after = statements.partition_point(|s| s.start_byte() <= definition.start_byte());
    let Some(statement) = after.checked_sub(1).map(|at| statements[at]) else {
        return false;
    };
    statement == definition
        || (statement.kind() == "decorated_definition"
            && field(statement, "definition") == Some(definition))
}

/// A class as the file knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassAt {
    /// One of the file's own, by index into [`FileClasses`].
    Here(usize),
    /// One imported from another module (or a model the project declares elsewhere).
    There(ClassRef),
}

/// What a receiver holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holds {
    Instance(ClassAt),
    /// What the classmethod (second) of the class returns, if it is a factory.
    Made(ClassAt, String),
    Class(ClassAt),
}

/// How deep a name's value is followed to the instance it holds (`repo = r`, `r = Repo()`).
const MAX_VALUE_DEPTH: usize = 3;

/// What receivers hold in the file.
pub struct Receivers<'s, 'a> {
    model: &'s SemanticModel<'a>,
    functions: &'s [FunctionDef<'a>],
    classes: &'s FileClasses<'a>,
    imports: &'s Imports,
    models: &'s ModelResolver<'s>,
    /// The file's module, for its own classes as others refer to them.
    module: &'s str,
    /// `self.<attr> = value` in the methods of each class (by class index): the values, with
    /// the function (by index) each assignment sits in.
    attributes: FastMap<(usize, String), Vec<(Node<'a>, usize)>>,
    /// Scopes (by node id) that bind models with `apps.get_model(...)`: a Django migration's
    /// historical models, whose rows have none of the project's methods or properties.
    historical: FastSet<usize>,
}

impl<'s, 'a> Receivers<'s, 'a> {
    pub fn new(
        model: &'s SemanticModel<'a>,
        functions: &'s [FunctionDef<'a>],
        classes: &'s FileClasses<'a>,
        imports: &'s Imports,
        models: &'s ModelResolver<'s>,
        module: &'s str,
        function_of: &dyn Fn(Node<'a>) -> Option<usize>,
    ) -> Receivers<'s, 'a> {
        let source = model.file.text();
        let mut attributes: FastMap<(usize, String), Vec<(Node<'a>, usize)>> = FastMap::default();
        for store in &model.stores {
            if store.augmented || store.left.kind() != "attribute" {
                continue;
            }
            let (Some(object), Some(attribute)) =
                (field(store.left, "object"), field(store.left, "attribute"))
            else {
                continue;
            };
            if &source[object.byte_range()] != "self" {
                continue;
            }
            let Some(function) = function_of(store.node) else {
                continue;
            };
            let Some(class) = functions[function]
                .class_node
                .and_then(|node| classes.of_node(node))
            else {
                continue;
            };
            attributes
                .entry((class, source[attribute.byte_range()].to_string()))
                .or_default()
                .push((store.right, function));
        }
        let historical = model
            .scopes
            .iter()
            .filter(|record| {
                record.values.values().any(|value| {
                    value.kind() == "call" && callee_name(*value, source) == Some("get_model")
                })
            })
            .map(|record| record.node.id())
            .collect();
        Receivers {
            model,
            functions,
            classes,
            imports,
            models,
            module,
            attributes,
            historical,
        }
    }

    fn text(&self, node: Node<'_>) -> &'a str {
        &self.model.file.text()[node.byte_range()]
    }

    /// What the receiver of a method call or attribute read holds, in the function `caller`
    /// (by index) or at module level, whose record is `record`.
    pub fn holds(
        &self,
        call: &CallSite<'a>,
        caller: Option<usize>,
        record: &ScopeRecord<'a>,
    ) -> Option<Holds> {
        let receiver = call.callee.receiver()?;
        let module = self.model.scopes.last()?;
        let from_rows = || match &call.receiver_type {
            // A model name the code binds itself is not the declared class: a migration's
            // `Device = apps.get_model("dcim", "Device")` has no methods or properties.
            Some(RowType::Row(model))
                if !binds(record, model)
                    && !binds(module, model)
                    && !self.historical.contains(&record.node.id()) =>
            {
                self.model_class(model).map(Holds::Instance)
            }
            _ => None,
        };
        let caller_def = caller.map(|index| &self.functions[index]);
        if receiver == "self" || receiver == "cls" {
            let function = caller_def?;
            let class = self.classes.of_node(function.class_node?)?;
            return match (receiver, function.kind) {
                ("self", FunctionKind::Method | FunctionKind::Property) => {
                    Some(Holds::Instance(ClassAt::Here(class)))
                }
                ("cls", FunctionKind::ClassMethod) => Some(Holds::Class(ClassAt::Here(class))),
                _ => None,
            };
        }
        if let Some(attribute) = receiver.strip_prefix("self.") {
            let function = caller_def?;
            if attribute.contains('.') || function.kind == FunctionKind::StaticMethod {
                return from_rows();
            }
            let class = self.classes.of_node(function.class_node?)?;
            return self.attribute_holds(class, attribute).or_else(from_rows);
        }
        if receiver.contains('.') {
            return from_rows();
        }
        if record.parameters.contains(receiver) {
            let annotated = caller_def.and_then(|function| {
                let position = function.parameters.iter().position(|p| p == receiver)?;
                self.annotation_holds(function.annotations[position]?)
            });
            return annotated.or_else(from_rows);
        }
        let annotation = record.annotations.get(receiver);
        let value = record.values.get(receiver);
        if annotation.is_some() || value.is_some() {
            return annotation
                .and_then(|annotation| self.annotation_holds(*annotation))
                .or_else(|| self.value_holds(*value?, record, 0))
                .or_else(from_rows);
        }
        if let Some(found) = from_rows() {
            return Some(found);
        }
        // A loop of the function binds the name (`for repo in repos`): not the module's.
        let bound_by_loop = call.loops.iter().any(|&id| {
            self.model.loop_(id).varying.contains(receiver)
                || self.model.loop_bound[id].contains(receiver)
        });
        if std::ptr::eq(record, module) || bound_by_loop {
            return None;
        }
        // A module-level instance or class the function reads without binding it.
        self.bound_in(module, receiver).or_else(|| {
            self.classes
                .named(receiver)
                .map(|class| Holds::Class(ClassAt::Here(class)))
        })
    }

    /// What a name bound in a scope holds: by its annotation, else by its value.
    fn bound_in(&self, record: &ScopeRecord<'a>, name: &str) -> Option<Holds> {
        if let Some(annotation) = record.annotations.get(name) {
            if let Some(found) = self.annotation_holds(*annotation) {
                return Some(found);
            }
        }
        let value = record.values.get(name)?;
        self.value_holds(*value, record, 0)
    }

    /// What an expression evaluates to: an instance of a class called (`Repo(session)`), what a
    /// classmethod of a class returns (`Repo.from_session(session)`), or what a name holds.
    fn value_holds(
        &self,
        value: Node<'a>,
        record: &ScopeRecord<'a>,
        depth: usize,
    ) -> Option<Holds> {
        if depth > MAX_VALUE_DEPTH {
            return None;
        }
        match value.kind() {
            "await" | "parenthesized_expression" => {
                self.value_holds(named_children(value).next()?, record, depth + 1)
            }
            "call" => {
                let path = dotted_path(field(value, "function")?, self.model.file.text())?;
                if let Some(class) = self.class_named(&path) {
                    return Some(Holds::Instance(class));
                }
                let (owner, method) = path.rsplit_once('.')?;
                Some(Holds::Made(self.class_named(owner)?, method.to_string()))
            }
            "identifier" => {
                let name = self.text(value);
                let bound = record.values.get(name)?;
                self.value_holds(*bound, record, depth + 1)
            }
            _ => None,
        }
    }

    /// `self.<attribute>` in a method of `class`: what every assignment of it in the class's
    /// methods holds, when they agree (`None` assignments aside).
    fn attribute_holds(&self, class: usize, attribute: &str) -> Option<Holds> {
        let values = self.attributes.get(&(class, attribute.to_string()))?;
        let mut found: Option<Holds> = None;
        for (value, function) in values {
            if value.kind() == "none" {
                continue;
            }
            let function = &self.functions[*function];
            let parameter = (value.kind() == "identifier")
                .then(|| {
                    function
                        .parameters
                        .iter()
                        .position(|p| p == self.text(*value))
                })
                .flatten();
            let holds = match parameter {
                // `def __init__(self, repo: CustomerRepository): self.repo = repo`
                Some(position) => function.annotations[position]
                    .and_then(|annotation| self.annotation_holds(annotation)),
                None => self.value_holds(*value, self.model.scope_of(*value), 0),
            }?;
            if found.as_ref().is_some_and(|other| *other != holds) {
                return None;
            }
            found = Some(holds);
        }
        found
    }

    /// An annotation naming a class: `CustomerRepository`, `"CustomerRepository"`,
    /// `Optional[CustomerRepository]`, `CustomerRepository | None`, `Annotated[Repo, Depends()]`.
    fn annotation_holds(&self, annotation: Node<'a>) -> Option<Holds> {
        let path = annotated_class(self.text(annotation))?;
        self.class_named(path).map(Holds::Instance)
    }

    /// The class a dotted name refers to: a module-level class of the file, or a class imported
    /// from another module (a CapWords name; the project decides whether it is a class).
    fn class_named(&self, path: &str) -> Option<ClassAt> {
        if let Some(class) = self.classes.named(path) {
            return Some(ClassAt::Here(class));
        }
        match self.imports.target_of(path)? {
            (module, Some(name)) if looks_like_class(&name) => {
                Some(ClassAt::There(ClassRef { module, name }))
            }
            _ => None,
        }
    }

    /// The class of a model's rows: the file's or an imported one, else where the project's
    /// model index declares it.
    fn model_class(&self, model: &str) -> Option<ClassAt> {
        if let Some(class) = self.class_named(model) {
            return Some(class);
        }
        let declared = self.models.model(model)?;
        (!declared.module.is_empty()).then(|| {
            ClassAt::There(ClassRef {
                module: declared.module.clone(),
                name: model.to_string(),
            })
        })
    }

    /// A class as other files refer to it: only module-level classes have a name there.
    fn class_ref(&self, class: &ClassAt) -> Option<ClassRef> {
        match class {
            ClassAt::There(class) => Some(class.clone()),
            ClassAt::Here(index) => {
                let summary = &self.classes.summaries[*index];
                (summary.module_level && !self.module.is_empty()).then(|| ClassRef {
                    module: self.module.to_string(),
                    name: summary.name.clone(),
                })
            }
        }
    }

    /// What a receiver holds, as the project resolves it.
    pub fn instance_ref(&self, holds: &Holds) -> Option<InstanceRef> {
        Some(match holds {
            Holds::Instance(class) => InstanceRef::Instance(self.class_ref(class)?),
            Holds::Made(class, factory) => InstanceRef::Made {
                class: self.class_ref(class)?,
                factory: factory.clone(),
            },
            Holds::Class(class) => InstanceRef::Class(self.class_ref(class)?),
        })
    }

    /// The module-level names bound to instances of classes, by name, for other files that
    /// import them (`from app.services import product_service`).
    pub fn module_instances(&self) -> Vec<(String, InstanceRef)> {
        let Some(module) = self.model.scopes.last() else {
            return Vec::new();
        };
        let mut instances: Vec<(String, InstanceRef)> = module
            .values
            .keys()
            .chain(module.annotations.keys())
            .filter_map(|name| {
                let holds = self.bound_in(module, name)?;
                if matches!(holds, Holds::Class(_)) {
                    return None;
                }
                Some((name.clone(), self.instance_ref(&holds)?))
            })
            .collect();
        instances.sort_by(|a, b| a.0.cmp(&b.0));
        instances.dedup_by(|a, b| a.0 == b.0);
        instances
    }
}

/// Whether a scope binds a name itself (a parameter or an assignment).
fn binds(record: &ScopeRecord<'_>, name: &str) -> bool {
    record.parameters.contains(name) || record.values.contains_key(name)
}

/// The class an annotation names, unwrapping `Optional[...]`, `Annotated[..., ...]`, `X | None`
/// and quotes; `None` for anything else (`list[Repo]`, `type[Repo]`).
fn annotated_class(annotation: &str) -> Option<&str> {
    let mut text = annotation.trim().trim_matches(['"', '\'']).trim();
    loop {
        if let Some(inner) = text
            .strip_prefix("Optional[")
            .or_else(|| text.strip_prefix("typing.Optional["))
            .and_then(|rest| rest.strip_suffix(']'))
        {
            text = inner.trim().trim_matches(['"', '\'']).trim();
            continue;
        }
        if let Some(inner) = text
            .strip_prefix("Annotated[")
            .or_else(|| text.strip_prefix("typing.Annotated["))
        {
            text = inner
                .split(',')
                .next()?
                .trim()
                .trim_matches(['"', '\''])
                .trim();
            continue;
        }
        if text.contains('|') {
            let mut parts = text.split('|').map(str::trim).filter(|p| *p != "None");
            let only = parts.next()?;
            if parts.next().is_some() {
                return None;
            }
            text = only.trim_matches(['"', '\'']);
            continue;
        }
        break;
    }
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    plain.then_some(text)
}

/// Where a class of the lookup is: this file (its current text) or another file of the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side<'g> {
    Here,
    There(&'g PathBuf),
}

/// The file's classes, then the project's.
pub struct Graph<'g> {
    pub here: &'g [ClassSummary],
    pub project: Option<&'g CallIndex>,
    /// The checked file's path, which decides between modules of one name in the project.
    pub near: Option<&'g Path>,
}

impl<'g> ClassGraph<'g> for Graph<'g> {
    type File = Side<'g>;

    fn class(&self, file: Side<'g>, class: usize) -> Option<&'g ClassSummary> {
        match file {
            Side::Here => self.here.get(class),
            Side::There(path) => ClassGraph::class(&self.project?, path, class),
        }
    }

    fn base(&self, file: Side<'g>, base: &BaseRef) -> BaseLookup<Side<'g>> {
        match (file, base) {
            (_, BaseRef::Opaque) => BaseLookup::Opaque,
            (file, BaseRef::Local(index)) => BaseLookup::Class(file, *index),
            (Side::Here, BaseRef::Imported(class)) => self.in_project(class, self.near),
            // A base imported by another file's class is the one nearest that file, as the
            // project's own walks (`ClassGraph for &CallIndex`) resolve it: of two modules of one
            // name, that file's import means its own project's.
            (Side::There(path), BaseRef::Imported(class)) => {
                self.in_project(class, Some(path.as_path()))
            }
        }
    }
}

impl<'g> Graph<'g> {
    /// A class of the project, `near` the file that names it.
    fn in_project(&self, class: &ClassRef, near: Option<&Path>) -> BaseLookup<Side<'g>> {
        let Some(project) = self.project else {
            return BaseLookup::Missing;
        };
        match project.class_at(class, near) {
            BaseLookup::Class(path, index) => BaseLookup::Class(Side::There(path), index),
            BaseLookup::Missing => BaseLookup::Missing,
            BaseLookup::Opaque => BaseLookup::Opaque,
        }
    }

    fn lookup(&self, class: &ClassAt, name: &str) -> MethodLookup<'g, Side<'g>> {
        match class {
            ClassAt::Here(index) => find_method(self, Side::Here, *index, name),
            ClassAt::There(class) => match self.in_project(class, self.near) {
                BaseLookup::Class(file, index) => find_method(self, file, index, name),
                BaseLookup::Missing => MethodLookup::Missing,
                BaseLookup::Opaque => MethodLookup::Unknown,
            },
        }
    }
}

/// Where a member resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'g> {
    /// A function of this file, by index.
    Here(usize),
    /// A function of another file of the project, by index into its summary.
    There(&'g PathBuf, usize),
    /// In a class the project has no summary of yet: the project may resolve it later.
    Missing,
}

/// The method (or, for a read, the property) `name` of what a receiver holds, and how a call
/// binds it; `None` when it is not defined where the code shows, or not run by this access.
pub fn find_member<'g>(
    graph: &Graph<'g>,
    holds: &Holds,
    name: &str,
    access: MemberAccess,
) -> Option<(Member<'g>, CallForm)> {
    let (class, form) = match holds {
        Holds::Instance(class) => (class, CallForm::OnInstance),
        Holds::Class(class) => (class, CallForm::OnClass),
        Holds::Made(class, factory) => match graph.lookup(class, factory) {
            MethodLookup::Found(_, entry)
                if entry.kind == FunctionKind::ClassMethod && entry.factory =>
            {
                (class, CallForm::OnInstance)
            }
            MethodLookup::Missing => return Some((Member::Missing, CallForm::OnInstance)),
            _ => return None,
        },
    };
    match graph.lookup(class, name) {
        MethodLookup::Found(side, entry) => {
            if !usable(entry.kind, form, access) {
                return None;
            }
            let function = entry.function?;
            Some(match side {
                Side::Here => (Member::Here(function), form),
                Side::There(path) => (Member::There(path, function), form),
            })
        }
        MethodLookup::Missing => Some((Member::Missing, form)),
        MethodLookup::Unknown => None,
    }
}

#[cfg(test)]
mod tests {
    use super::annotated_class;

    #[test]
    fn annotations_name_their_class() {
        assert_eq!(
            annotated_class("CustomerRepository"),
            Some("CustomerRepository")
        );
        assert_eq!(annotated_class("'repos.Repo'"), Some("repos.Repo"));
        assert_eq!(annotated_class("Optional[Repo]"), Some("Repo"));
        assert_eq!(annotated_class("Repo | None"), Some("Repo"));
        assert_eq!(annotated_class("None | \"Repo\""), Some("Repo"));
        assert_eq!(
            annotated_class("Annotated[Repo, Depends(get_repo)]"),
            Some("Repo")
        );
        assert_eq!(annotated_class("list[Repo]"), None);
        assert_eq!(annotated_class("Repo | Other"), None);
    }
}
