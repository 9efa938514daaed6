//! Function summaries across files.
//!
//! Each checked file exports a [`FileSummary`] as plain data: for its functions, which parameters
//! reach an ORM query (the hop path located so that a shell can show it without the file's text),
//! and which calls pass parameters on to functions imported from other modules (edges, resolved
//! here, never by name alone). [`CallIndex`] holds the summaries of a project, replaced per file,
//! and resolves the edges up to `max-call-depth`: a call into another file is then seen by INB003
//! like a call into the same file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::diagnostic::{FilePosition, OtherFile};
use crate::engine::source::{SourceFile, TextRange};

pub use crate::engine::imports::{absolute_module, Import, Imports};

/// One step from a parameter to a query: a call to a further function, or the query itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Byte offsets in the file being checked, or in `file` when the hop is in another file.
    pub range: TextRange,
    /// `load_stats(uid)` for a call, the query as displayed for a query.
    pub display: String,
    /// The function the hop sits in (`Class.method` for a method).
    pub function: String,
    /// Set when the hop is in another file (from the project's summaries).
    pub file: Option<OtherFile>,
}

/// A parameter of a function that reaches a query as a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub parameter: usize,
    /// The calls taken, then the query; the last hop is always the query.
    pub path: Vec<Hop>,
    /// The query's model, when known.
    pub model: Option<String>,
    /// The query reads a relation of the parameter whole (`self.input_sources.all()`): a
    /// prefetch of that relation on the rows passed in serves it without a query.
    pub relation: Option<String>,
    /// The query is returned unevaluated (`return self.items.filter(...)`): it runs where the
    /// caller evaluates the call's value, not where it combines it into another query.
    pub returned: bool,
}

/// Which argument of a call: the receiver of a method call (`repo` of `repo.get(cid)`, bound to
/// `self`), or an argument by position (after what the call binds) or by keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgSlot {
    Receiver,
    Position(usize),
    Keyword(String),
}

/// How a function's first parameter is bound when it is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// A function of a module (or one nested in a function).
    Function,
    /// An instance method: `self` is the receiver.
    Method,
    /// `@property` / `@cached_property`: runs when the attribute is read, `self` is the receiver.
    Property,
    /// `@classmethod`: `cls` is bound.
    ClassMethod,
    /// `@staticmethod`: nothing is bound.
    StaticMethod,
}

/// How a call names its function: what it binds before the arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallForm {
    /// `load_stats(uid)`, `helpers.load_stats(uid)`.
    Plain,
    /// `repo.get(cid)`, `self.load(uid)`, `device.vc_interfaces()`, a property read.
    OnInstance,
    /// `Service.load_static(uid)`, `cls.first(uid)`.
    OnClass,
}

impl FunctionKind {
    /// The parameter (index into `parameters`) that a slot of a call in `form` binds.
    pub fn bind(self, form: CallForm, parameters: &[String], slot: &ArgSlot) -> Option<usize> {
        let receiver_is_self = form == CallForm::OnInstance
            && matches!(self, FunctionKind::Method | FunctionKind::Property);
        let index = match slot {
            ArgSlot::Receiver => receiver_is_self.then_some(0)?,
            ArgSlot::Position(position) => {
                let bound = receiver_is_self
                    || (self == FunctionKind::ClassMethod && form != CallForm::Plain);
                position + usize::from(bound)
            }
            ArgSlot::Keyword(name) => return parameters.iter().position(|p| p == name),
        };
        (index < parameters.len()).then_some(index)
    }

    /// Whether reading an attribute (no call) runs it.
    pub fn runs_on_read(self) -> bool {
        self == FunctionKind::Property
    }
}

/// A module-level class, by its absolute module and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClassRef {
    pub module: String,
    pub name: String,
}

/// What a receiver holds, as far as the code binding it says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InstanceRef {
    /// An instance of the class: a constructor call `CustomerRepository(session)`, an annotation
    /// `repo: CustomerRepository`, a row of a model.
    Instance(ClassRef),
    /// What a classmethod of the class returns when it returns `cls(...)`:
    /// `CustomerRepository.from_session(session)`.
    Made { class: ClassRef, factory: String },
    /// The class itself: `StatsService.load_static(uid)`.
    Class(ClassRef),
    /// Whatever a module binds at module level under a name: an instance
    /// (`product_service = ProductService()`) or a class.
    Global(ClassRef),
}

impl InstanceRef {
    /// The class (or, for [`InstanceRef::Global`], the module and name) it refers to.
    pub fn class(&self) -> &ClassRef {
        match self {
            InstanceRef::Instance(class)
            | InstanceRef::Made { class, .. }
            | InstanceRef::Class(class)
            | InstanceRef::Global(class) => class,
        }
    }
}

/// How a member is used: called, or only read (which runs only a property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberAccess {
    Call,
    Read,
}

/// A base class as its file resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseRef {
    /// A class of the same file, by index into its classes.
    Local(usize),
    /// A class imported from another module.
    Imported(ClassRef),
    /// Anything the project cannot show (`models.Model`, a library's class): a method not found
    /// before it may be defined there.
    Opaque,
}

/// A method of a class, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodEntry {
    pub name: String,
    pub kind: FunctionKind,
    /// A classmethod that returns `cls(...)`: calling it on a class makes an instance of it.
    pub factory: bool,
    /// Its summary, by index into the file's functions; `None` when it reaches no query and
    /// passes nothing on (it still hides the same method of the bases).
    pub function: Option<usize>,
}

/// A class of a file: its bases in order and its methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSummary {
    pub name: String,
    /// Defined at module level: the only classes other files (and names) can refer to.
    pub module_level: bool,
    /// Bases in order; generic arguments dropped (`Repository[Customer]` is `Repository`), and
    /// bases that define nothing (`object`, `Generic[T]`, `ABC`) left out.
    pub bases: Vec<BaseRef>,
    pub methods: Vec<MethodEntry>,
}

impl ClassSummary {
    fn method(&self, name: &str) -> Option<&MethodEntry> {
        self.methods.iter().find(|m| m.name == name)
    }
}

/// What a call in a summary calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallTarget {
    /// A function or method of the same file, by index into [`FileSummary::functions`].
    Local { function: usize, form: CallForm },
    /// `name` of another module, as imported (the module is absolute): a module-level function,
    /// or, when the module's last part is an object of its parent module
    /// (`from app.services import product_service; product_service.get(...)`), that object's
    /// method.
    Imported { module: String, name: String },
    /// A method of what a receiver holds, looked up through its class and the class's bases.
    Method {
        receiver: InstanceRef,
        name: String,
        access: MemberAccess,
    },
}

/// What a caller does with a call's value, which decides whether a query the callee returns
/// unevaluated runs there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallValue {
    /// Iterated, counted, tested, stored, passed on: the query runs (or may).
    Evaluated,
    /// Returned in turn: up to the caller's caller.
    Returned,
    /// Combined into a larger query (`qs |= f(x)`, `filter(pk__in=f(x))`): it never runs alone.
    Combined,
}

/// An argument of a call that derives from a parameter of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedArgument {
    pub slot: ArgSlot,
    /// The caller's parameter it derives from.
    pub parameter: usize,
    /// It is that parameter as written (`helper(order)`, not `helper(order.customer)`).
    pub as_is: bool,
}

/// A call that passes some of the caller's parameters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEdge {
    pub target: CallTarget,
    /// The call, located.
    pub hop: Hop,
    pub value: CallValue,
    pub arguments: Vec<PassedArgument>,
}

/// A function or method of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSummary {
    pub name: String,
    pub class: Option<String>,
    pub kind: FunctionKind,
    /// Defined at module level: the only functions other files can import.
    pub module_level: bool,
    pub parameters: Vec<String>,
    /// Its name in its definition, located (`display` is the qualified name, `Class.method`).
    pub definition: Hop,
    /// Parameters that reach a query within the file (every hop located).
    pub reaches: Vec<Reach>,
    pub calls: Vec<CallEdge>,
}

/// A call in a loop, with loop-dependent arguments, that the file's own summaries did not show
/// to reach a query: the project's summaries may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCall {
    pub target: CallTarget,
    pub arguments: Vec<ArgSlot>,
}

/// What a file tells the project about its functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub path: Arc<Path>,
    pub module: String,
    pub imports: Imports,
    pub functions: Vec<FunctionSummary>,
    pub classes: Vec<ClassSummary>,
    /// Module-level names bound to an instance of a class (`product_service = ProductService()`).
    pub instances: Vec<(String, InstanceRef)>,
    /// Shared: a file's pending calls run into thousands, and an incremental analysis hands the
    /// previous summary on at every keystroke.
    pub pending: Arc<[PendingCall]>,
}

impl FileSummary {
    /// Whether two summaries say the same but for where their hops are (byte ranges, lines and
    /// columns).
    pub fn same_but_positions(&self, other: &FileSummary) -> bool {
        if self == other {
            return true;
        }
        let hops = |summary: &FileSummary| {
            let mut copy = summary.clone();
            copy.for_each_hop(|hop| {
                hop.range = 0..0;
                if let Some(file) = &mut hop.file {
                    file.start = FilePosition::default();
                    file.end = FilePosition::default();
                }
            });
            copy
        };
        hops(self) == hops(other)
    }

    /// Calls `f` with every hop of the summary (definitions, reaches, calls).
    pub fn for_each_hop(&mut self, mut f: impl FnMut(&mut Hop)) {
        for function in &mut self.functions {
            f(&mut function.definition);
            for reach in &mut function.reaches {
                reach.path.iter_mut().for_each(&mut f);
            }
            for call in &mut function.calls {
                f(&mut call.hop);
            }
        }
    }

    fn module_function(&self, name: &str) -> Option<usize> {
        self.functions.iter().position(|f| {
            f.module_level
                && f.class.is_none()
                && f.kind == FunctionKind::Function
                && f.name == name
        })
    }

    fn module_class(&self, name: &str) -> Option<usize> {
        self.classes
            .iter()
            .position(|c| c.module_level && c.name == name)
    }

    /// The object a module-level name is bound to: an instance, or a class of the file.
    fn global(&self, name: &str) -> Option<InstanceRef> {
        if let Some((_, instance)) = self.instances.iter().find(|(n, _)| n == name) {
            return Some(instance.clone());
        }
        self.module_class(name).map(|_| {
            InstanceRef::Class(ClassRef {
                module: self.module.clone(),
                name: name.to_string(),
            })
        })
    }
}

/// Where a class hierarchy is read from: the classes of files, and what their bases resolve to.
/// The file being checked (with its current text) and the project's summaries are both one.
pub trait ClassGraph<'g> {
    type File: Copy + PartialEq;
    fn class(&self, file: Self::File, class: usize) -> Option<&'g ClassSummary>;
    /// Where a base of a class of `file` is defined, if the graph has it.
    fn base(&self, file: Self::File, base: &BaseRef) -> BaseLookup<Self::File>;
}

/// What a base resolves to.
pub enum BaseLookup<F> {
    Class(F, usize),
    /// A class of a module the graph has no summary of (yet).
    Missing,
    Opaque,
}

/// What looking a method up along a class's bases found.
pub enum MethodLookup<'g, F> {
    Found(F, &'g MethodEntry),
    /// A base on the way is a class the graph does not have (yet): the project may find it.
    Missing,
    /// Nowhere the code shows: not defined, or maybe in a library's base.
    Unknown,
}

/// How many classes a lookup reads at most: hierarchies deeper than this are not followed.
const MAX_CLASSES_SEARCHED: usize = 32;

/// Looks a method up the way Python's method resolution order finds it for single and
/// left-to-right inheritance: the class, then each base depth-first in order. A base the project
/// cannot show ends the search without an answer: the method may be defined there.
pub fn find_method<'g, G: ClassGraph<'g>>(
    graph: &G,
    file: G::File,
    class: usize,
    name: &str,
) -> MethodLookup<'g, G::File> {
    // Most classes have one base: the next class is kept aside, and the stack (which allocates)
    // only holds the later bases of classes with several. Cycles end at the bound; once a class
    // has several bases, a class reached twice (a diamond: mixins of one base) is read once.
    let mut next = Some(BaseLookup::Class(file, class));
    let mut later: Vec<BaseLookup<G::File>> = Vec::new();
    let mut seen: Vec<(G::File, usize)> = Vec::new();
    let mut branched = false;
    let mut searched = 0;
    while searched < MAX_CLASSES_SEARCHED {
        let Some(step) = next.take().or_else(|| later.pop()) else {
            return MethodLookup::Unknown;
        };
        let (file, class) = match step {
            BaseLookup::Class(file, class) => (file, class),
            // Reached in order: the method may be defined in a base nobody can read.
            BaseLookup::Missing => return MethodLookup::Missing,
            BaseLookup::Opaque => return MethodLookup::Unknown,
        };
        if branched {
            if seen.contains(&(file, class)) {
                continue;
            }
            seen.push((file, class));
        }
        searched += 1;
        let Some(summary) = graph.class(file, class) else {
            return MethodLookup::Unknown;
        };
        if let Some(entry) = summary.method(name) {
            return MethodLookup::Found(file, entry);
        }
        // Depth first, left to right: the first base (with its own bases) is searched first.
        if let Some((first, rest)) = summary.bases.split_first() {
            branched |= !rest.is_empty();
            later.extend(rest.iter().rev().map(|base| graph.base(file, base)));
            next = Some(graph.base(file, first));
        }
    }
    MethodLookup::Unknown
}

/// Whether an access runs a member of this kind: a read runs only a property of an instance; a
/// call runs anything but a property read through its class.
pub fn usable(kind: FunctionKind, form: CallForm, access: MemberAccess) -> bool {
    match access {
        MemberAccess::Read => kind.runs_on_read() && form == CallForm::OnInstance,
        MemberAccess::Call => !(kind.runs_on_read() && form == CallForm::OnClass),
    }
}

/// Bases that define no methods a project calls: leaving them out keeps a lookup going.
pub fn defines_nothing(base: &str) -> bool {
    matches!(
        base,
        "object"
            | "Generic"
            | "typing.Generic"
            | "ABC"
            | "abc.ABC"
            | "Protocol"
            | "typing.Protocol"
    )
}

/// A function as the project resolves it: its parameters and every parameter that reaches a
/// query, in its own file or through others.
#[derive(Debug, Clone)]
pub struct ResolvedFunction {
    pub module: String,
    pub name: String,
    pub kind: FunctionKind,
    pub parameters: Vec<String>,
    /// Its name in its definition, located; `display` is the qualified name.
    pub definition: Hop,
    pub reaches: Vec<Reach>,
}

/// The summaries of a project's files, and the reaches resolved across them.
#[derive(Debug, Clone, Default)]
pub struct CallIndex {
    files: HashMap<PathBuf, Arc<FileSummary>>,
    /// The files of each module name: several in a workspace of several projects (two services
    /// that each have `app/helpers.py`), told apart by the importing file's place.
    modules: HashMap<String, Vec<PathBuf>>,
    /// Module names by their last part, for the suffix lookup of [`CallIndex::module_file`].
    by_last: HashMap<String, Vec<String>>,
    /// Per file, per function (as in its summary), the reaches across files.
    resolved: HashMap<PathBuf, Vec<Vec<Reach>>>,
    max_depth: usize,
}

impl CallIndex {
    pub fn new() -> CallIndex {
        CallIndex::default()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// A copy with `summary` in place of its file's, resolved again; `None` when the summary is
    /// the one already there but for positions (the server calls this after each analysis of an
    /// open document: a keystroke that only moves lines must not make the project resolve again
    /// and the documents that import the file analyse again).
    pub fn with_file(&self, summary: FileSummary, max_depth: usize) -> Option<CallIndex> {
        if self
            .files
            .get(summary.path.as_ref())
            .is_some_and(|old| old.same_but_positions(&summary))
        {
            return None;
        }
        let mut copy = self.unresolved_copy();
        copy.replace_file(summary);
        copy.resolve(max_depth);
        Some(copy)
    }

    /// The depth of the last resolution.
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// A copy without the resolved reaches (they are computed again anyway).
    pub fn unresolved_copy(&self) -> CallIndex {
        CallIndex {
            files: self.files.clone(),
            modules: self.modules.clone(),
            by_last: self.by_last.clone(),
            resolved: HashMap::new(),
            max_depth: self.max_depth,
        }
    }

    /// The files indexed.
    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.files.keys()
    }

    pub fn file(&self, path: &Path) -> Option<&Arc<FileSummary>> {
        self.files.get(path)
    }

    pub fn has_module(&self, module: &str) -> bool {
        self.modules.contains_key(module)
    }

    /// Replaces a file's summary; false when it is the same as before. Call [`CallIndex::resolve`]
    /// after a batch of replacements.
    pub fn replace_file(&mut self, summary: FileSummary) -> bool {
        let path = summary.path.to_path_buf();
        if self.files.get(&path).is_some_and(|old| **old == summary) {
            return false;
        }
        self.remove_file(&path);
        let paths = self.modules.entry(summary.module.clone()).or_default();
        if paths.is_empty() {
            self.by_last
                .entry(last_part(&summary.module).to_string())
                .or_default()
                .push(summary.module.clone());
        }
        paths.push(path.clone());
        self.files.insert(path, Arc::new(summary));
        true
    }

    pub fn remove_file(&mut self, path: &Path) -> bool {
        let Some(old) = self.files.remove(path) else {
            return false;
        };
        if let Some(paths) = self.modules.get_mut(&old.module) {
            paths.retain(|p| p != path);
            if paths.is_empty() {
                self.modules.remove(&old.module);
                if let Some(list) = self.by_last.get_mut(last_part(&old.module)) {
                    list.retain(|m| *m != old.module);
                }
            }
        }
        self.resolved.remove(path);
        true
    }

    /// The file of a module as a file at `near` imports it: by its exact name, else the one
    /// module whose name ends with `.module` (a `src/` layout). Of several files with that name
    /// (one per project of the workspace), the one sharing the most folders with `near`; none
    /// when that does not decide.
    fn module_path(&self, module: &str, near: Option<&Path>) -> Option<&PathBuf> {
        if let Some(paths) = self.modules.get(module) {
            return nearest(paths.iter(), near);
        }
        let suffix = format!(".{module}");
        let mut found = self
            .by_last
            .get(last_part(module))?
            .iter()
            .filter(|name| name.ends_with(&suffix));
        let first = found.next()?;
        if found.next().is_some() {
            return None;
        }
        nearest(self.modules.get(first)?.iter(), near)
    }

    fn module_file(&self, module: &str, near: Option<&Path>) -> Option<&Arc<FileSummary>> {
        self.files.get(self.module_path(module, near)?)
    }

    /// A module-level definition `name` of `module` that `find` accepts in a file, following
    /// re-exports (`from .impl import load_stats` in a package's `__init__.py`) a few levels deep.
    fn find_definition<T>(
        &self,
        module: &str,
        name: &str,
        near: Option<&Path>,
        find: impl Fn(&FileSummary, &str) -> Option<T>,
    ) -> Option<(&PathBuf, T)> {
        let mut module = module.to_string();
        let mut name = name.to_string();
        for _ in 0..4 {
            let path = self.module_path(&module, near)?;
            let file = self.files.get(path)?;
            if let Some(found) = find(file, &name) {
                return Some((path, found));
            }
            let import = file.imports.list.iter().rev().find(|i| i.local == name)?;
            let next_name = import.name.clone()?;
            module = import.module.clone();
            name = next_name;
        }
        None
    }

    /// The module-level function `name` of `module`.
    fn locate(&self, module: &str, name: &str, near: Option<&Path>) -> Option<(&PathBuf, usize)> {
        self.find_definition(module, name, near, FileSummary::module_function)
    }

    /// A module-level class.
    fn find_class(&self, class: &ClassRef, near: Option<&Path>) -> Option<(&PathBuf, usize)> {
        self.find_definition(&class.module, &class.name, near, FileSummary::module_class)
    }

    /// The class a receiver holds an instance of (or is), and how calls on it bind.
    fn receiver_class(
        &self,
        receiver: &InstanceRef,
        near: Option<&Path>,
    ) -> Option<(&PathBuf, usize, CallForm)> {
        match receiver {
            InstanceRef::Instance(class) => {
                let (path, index) = self.find_class(class, near)?;
                Some((path, index, CallForm::OnInstance))
            }
            InstanceRef::Class(class) => {
                let (path, index) = self.find_class(class, near)?;
                Some((path, index, CallForm::OnClass))
            }
            InstanceRef::Made { class, factory } => {
                let (path, index) = self.find_class(class, near)?;
                match find_method(&self, path, index, factory) {
                    MethodLookup::Found(_, entry)
                        if entry.kind == FunctionKind::ClassMethod && entry.factory =>
                    {
                        Some((path, index, CallForm::OnInstance))
                    }
                    _ => None,
                }
            }
            InstanceRef::Global(object) => {
                let (_, found) =
                    self.find_definition(&object.module, &object.name, near, |file, name| {
                        file.global(name)
                    })?;
                match found {
                    InstanceRef::Global(_) => None,
                    found => self.receiver_class(&found, near),
                }
            }
        }
    }

    /// The method `name` of what `receiver` holds: its file, its index among the file's
    /// functions and how the call binds it. A member that is only read must be a property.
    fn method(
        &self,
        receiver: &InstanceRef,
        name: &str,
        access: MemberAccess,
        near: Option<&Path>,
    ) -> Option<(&PathBuf, usize, CallForm)> {
        let (path, class, form) = self.receiver_class(receiver, near)?;
        let MethodLookup::Found(found_in, entry) = find_method(&self, path, class, name) else {
            return None;
        };
        if !usable(entry.kind, form, access) {
            return None;
        }
        Some((found_in, entry.function?, form))
    }

    /// The function a call of the file at `caller` resolves to, and how it binds.
    fn target<'s>(
        &'s self,
        caller: Option<&'s PathBuf>,
        target: &CallTarget,
    ) -> Option<(&'s PathBuf, usize, CallForm)> {
        self.target_near(caller, caller.map(PathBuf::as_path), target)
    }

    fn target_near<'s>(
        &'s self,
        caller: Option<&'s PathBuf>,
        near: Option<&Path>,
        target: &CallTarget,
    ) -> Option<(&'s PathBuf, usize, CallForm)> {
        match target {
            CallTarget::Local { function, form } => Some((caller?, *function, *form)),
            CallTarget::Imported { module, name } => {
                if let Some((path, index)) = self.locate(module, name, near) {
                    return Some((path, index, CallForm::Plain));
                }
                // `product_service.get(...)` with `product_service` imported from its module.
                let (parent, object) = module.rsplit_once('.')?;
                let receiver = InstanceRef::Global(ClassRef {
                    module: parent.to_string(),
                    name: object.to_string(),
                });
                self.method(&receiver, name, MemberAccess::Call, near)
            }
            CallTarget::Method {
                receiver,
                name,
                access,
            } => self.method(receiver, name, *access, near),
        }
    }

    /// The function at `index` of the file at `path`, with its reaches across the project.
    pub fn function_at(&self, path: &PathBuf, index: usize) -> Option<ResolvedFunction> {
        let file = self.files.get(path)?;
        let function = file.functions.get(index)?;
        let reaches = self
            .resolved
            .get(path)
            .map_or_else(|| function.reaches.clone(), |all| all[index].clone());
        Some(ResolvedFunction {
            module: file.module.clone(),
            name: function.name.clone(),
            kind: function.kind,
            parameters: function.parameters.clone(),
            definition: function.definition.clone(),
            reaches,
        })
    }

    /// What a call of another file resolves to through the project: the function, with its
    /// reaches across the project, and how the call binds it.
    /// `near` is the calling file (of several modules of one name, the nearest is meant).
    pub fn function(
        &self,
        target: &CallTarget,
        near: Option<&Path>,
    ) -> Option<(ResolvedFunction, CallForm)> {
        let (path, index, form) = self.target_near(None, near, target)?;
        Some((self.function_at(path, index)?, form))
    }

    /// A class of the project by reference, for [`ClassGraph`] walks that start in another file.
    pub fn class_at(&self, class: &ClassRef, near: Option<&Path>) -> BaseLookup<&PathBuf> {
        match self.find_class(class, near) {
            Some((path, index)) => BaseLookup::Class(path, index),
            None if self.module_file(&class.module, near).is_some() => BaseLookup::Opaque,
            None => BaseLookup::Missing,
        }
    }

    /// Resolves every edge, up to `max_depth` hops per path, cycles safe: a parameter keeps the
    /// first (shortest) path found to a query.
    pub fn resolve(&mut self, max_depth: usize) {
        self.max_depth = max_depth;
        // Files by number while resolving: no path is hashed in the rounds.
        let paths: Vec<&PathBuf> = self.files.keys().collect();
        let ids: HashMap<&PathBuf, usize> =
            paths.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        let files: Vec<&FileSummary> = paths.iter().map(|path| &*self.files[*path]).collect();
        let mut resolved: Vec<Vec<Vec<Reach>>> = files
            .iter()
            .map(|file| file.functions.iter().map(|f| f.reaches.clone()).collect())
            .collect();
        // Each edge with its target located once: (file, caller, edge, target file, target).
        let mut edges: Vec<(usize, usize, &CallEdge, usize, usize, CallForm)> = Vec::new();
        for (file_id, file) in files.iter().enumerate() {
            for (caller, function) in file.functions.iter().enumerate() {
                for edge in &function.calls {
                    let target = self
                        .target(Some(paths[file_id]), &edge.target)
                        .and_then(|(path, index, form)| Some((*ids.get(path)?, index, form)));
                    if let Some((target_file, target_index, form)) = target {
                        edges.push((file_id, caller, edge, target_file, target_index, form));
                    }
                }
            }
        }
        for _ in 1..max_depth.max(1) {
            let mut added: Vec<(usize, usize, Reach)> = Vec::new();
            for &(file, caller, edge, target_file, target_index, form) in &edges {
                let target = &files[target_file].functions[target_index];
                for argument in &edge.arguments {
                    let Some(parameter) =
                        target.kind.bind(form, &target.parameters, &argument.slot)
                    else {
                        continue;
                    };
                    let Some(reach) = resolved[target_file][target_index]
                        .iter()
                        .find(|r| r.parameter == parameter && r.path.len() < max_depth)
                    else {
                        continue;
                    };
                    let known = resolved[file][caller]
                        .iter()
                        .any(|r| r.parameter == argument.parameter)
                        || added.iter().any(|(f, c, r)| {
                            *f == file && *c == caller && r.parameter == argument.parameter
                        });
                    if known {
                        continue;
                    }
                    let Some(reach) = reach.through_call(
                        argument.parameter,
                        edge.hop.clone(),
                        edge.value,
                        argument.as_is,
                    ) else {
                        continue;
                    };
                    added.push((file, caller, reach));
                }
            }
            if added.is_empty() {
                break;
            }
            for (file, caller, reach) in added {
                resolved[file][caller].push(reach);
            }
        }
        let resolved: HashMap<PathBuf, Vec<Vec<Reach>>> =
            paths.into_iter().cloned().zip(resolved).collect();
        self.resolved = resolved;
    }

    /// Whether a file's pending calls reach a query now that the project is resolved: only then
    /// does a check with the project's summaries report more than the file's own check did.
    pub fn reaches_pending(&self, path: &Path) -> bool {
        let Some((path, file)) = self.files.get_key_value(path) else {
            return false;
        };
        file.pending.iter().any(|call| {
            let Some((target_path, index, form)) = self.target(Some(path), &call.target) else {
                return false;
            };
            let function = &self.files[target_path].functions[index];
            let reaches = self
                .resolved
                .get(target_path)
                .map_or(&function.reaches, |all| &all[index]);
            call.arguments.iter().any(|slot| {
                function
                    .kind
                    .bind(form, &function.parameters, slot)
                    .is_some_and(|parameter| reaches.iter().any(|r| r.parameter == parameter))
            })
        })
    }

    /// Modules that pending calls, edges, base classes, instances and packages' re-exports name
    /// and no summary provides yet. For `app.services.product_service` (an object of
    /// `app.services`, or a module) both are candidates.
    pub fn missing_modules(&self) -> HashSet<String> {
        let mut named: Vec<&str> = Vec::new();
        for file in self.files.values() {
            let targets = file.pending.iter().map(|call| &call.target).chain(
                file.functions
                    .iter()
                    .flat_map(|f| f.calls.iter().map(|e| &e.target)),
            );
            for target in targets {
                match target {
                    CallTarget::Local { .. } => {}
                    CallTarget::Imported { module, .. } => {
                        named.push(module);
                        named.extend(module.rsplit_once('.').map(|(parent, _)| parent));
                    }
                    CallTarget::Method { receiver, .. } => named.push(&receiver.class().module),
                }
            }
            for class in &file.classes {
                for base in &class.bases {
                    if let BaseRef::Imported(base) = base {
                        named.push(&base.module);
                    }
                }
            }
            for (_, instance) in &file.instances {
                named.push(&instance.class().module);
            }
            // A package's `__init__.py` re-exports what its modules define.
            if file
                .path
                .file_name()
                .is_some_and(|name| name == "__init__.py")
            {
                named.extend(file.imports.modules());
            }
        }
        named
            .into_iter()
            .filter(|module| {
                !self.modules.contains_key(*module) && self.module_path(module, None).is_none()
            })
            .map(str::to_string)
            .collect()
    }

    /// The files whose imports reach `module`, directly or through other files' imports.
    pub fn dependents(&self, module: &str) -> HashSet<PathBuf> {
        let mut found: HashSet<PathBuf> = HashSet::new();
        let mut modules = vec![module.to_string()];
        let mut seen: HashSet<String> = HashSet::from([module.to_string()]);
        while let Some(current) = modules.pop() {
            for (path, file) in &self.files {
                let imports_it = file.imports.list.iter().any(|import| {
                    import.module == current
                        || import
                            .name
                            .as_ref()
                            .is_some_and(|name| format!("{}.{name}", import.module) == current)
                });
                if imports_it && found.insert(path.clone()) && seen.insert(file.module.clone()) {
                    modules.push(file.module.clone());
                }
            }
        }
        found
    }
}

impl<'a> ClassGraph<'a> for &'a CallIndex {
    type File = &'a PathBuf;

    fn class(&self, file: Self::File, class: usize) -> Option<&'a ClassSummary> {
        self.files.get(file)?.classes.get(class)
    }

    fn base(&self, file: Self::File, base: &BaseRef) -> BaseLookup<Self::File> {
        match base {
            BaseRef::Local(index) => BaseLookup::Class(file, *index),
            BaseRef::Imported(class) => self.class_at(class, Some(file)),
            BaseRef::Opaque => BaseLookup::Opaque,
        }
    }
}

/// Of `paths`, the one sharing the most leading folders with `near`; the only one without
/// `near`; none on a tie.
fn nearest<'p>(
    paths: impl Iterator<Item = &'p PathBuf>,
    near: Option<&Path>,
) -> Option<&'p PathBuf> {
    let paths: Vec<&PathBuf> = paths.collect();
    match (paths.as_slice(), near) {
        ([only], _) => Some(only),
        (_, None) => None,
        (_, Some(near)) => {
            let shared = |path: &PathBuf| {
                path.components()
                    .zip(near.components())
                    .take_while(|(a, b)| a == b)
                    .count()
            };
            let best = paths.iter().map(|p| shared(p)).max()?;
            let mut best_paths = paths.iter().filter(|p| shared(p) == best);
            let first = best_paths.next()?;
            best_paths.next().is_none().then_some(*first)
        }
    }
}

fn last_part(module: &str) -> &str {
    module.rsplit('.').next().unwrap_or(module)
}

/// A location in a file, for a shell that will not read that file's text.
pub fn locate(file: &SourceFile, path: &Arc<Path>, range: &std::ops::Range<usize>) -> OtherFile {
    OtherFile {
        path: path.clone(),
        start: position(file, range.start),
        end: position(file, range.end),
    }
}

fn position(file: &SourceFile, offset: usize) -> FilePosition {
    let text = file.text();
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let (line, utf8) = file.line_index().line_col(offset);
    let before = &text[offset - utf8..offset];
    FilePosition {
        line,
        utf8,
        utf16: before.encode_utf16().count(),
        chars: before.chars().count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_modules() {
        assert_eq!(
            absolute_module(".helpers", "app.views", false).as_deref(),
            Some("app.helpers")
        );
        assert_eq!(
            absolute_module(".helpers", "app", true).as_deref(),
            Some("app.helpers")
        );
        assert_eq!(
            absolute_module("..core.db", "app.api.views", false).as_deref(),
            Some("app.core.db")
        );
        assert_eq!(
            absolute_module(".", "app.views", false).as_deref(),
            Some("app")
        );
        assert_eq!(absolute_module("..x", "views", false), None);
        assert_eq!(
            absolute_module("app.helpers", "views", false).as_deref(),
            Some("app.helpers")
        );
    }

    #[test]
    fn calls_bind_parameters_by_kind_and_form() {
        let method = ["self", "key"].map(String::from);
        let function = ["key"].map(String::from);
        let position = ArgSlot::Position(0);
        let bind = |kind: FunctionKind, form, parameters: &[String], slot: &ArgSlot| {
            kind.bind(form, parameters, slot)
        };
        // `repo.get(key)`: the receiver is `self`, the first argument `key`.
        assert_eq!(
            bind(
                FunctionKind::Method,
                CallForm::OnInstance,
                &method,
                &ArgSlot::Receiver
            ),
            Some(0)
        );
        assert_eq!(
            bind(
                FunctionKind::Method,
                CallForm::OnInstance,
                &method,
                &position
            ),
            Some(1)
        );
        // `Repo.get(repo, key)`: nothing is bound.
        assert_eq!(
            bind(FunctionKind::Method, CallForm::OnClass, &method, &position),
            Some(0)
        );
        // `cls.first(key)` and `repo.first(key)` bind `cls`; a static method binds nothing.
        let classmethod = ["cls", "key"].map(String::from);
        assert_eq!(
            bind(
                FunctionKind::ClassMethod,
                CallForm::OnClass,
                &classmethod,
                &position
            ),
            Some(1)
        );
        assert_eq!(
            bind(
                FunctionKind::ClassMethod,
                CallForm::OnInstance,
                &classmethod,
                &ArgSlot::Receiver
            ),
            None
        );
        assert_eq!(
            bind(
                FunctionKind::StaticMethod,
                CallForm::OnInstance,
                &function,
                &position
            ),
            Some(0)
        );
        assert_eq!(
            bind(
                FunctionKind::StaticMethod,
                CallForm::OnInstance,
                &function,
                &ArgSlot::Receiver
            ),
            None
        );
        // A property read: only the receiver.
        assert_eq!(
            bind(
                FunctionKind::Property,
                CallForm::OnInstance,
                &["self".to_string()],
                &ArgSlot::Receiver
            ),
            Some(0)
        );
        assert_eq!(
            bind(
                FunctionKind::Function,
                CallForm::Plain,
                &function,
                &ArgSlot::Keyword("key".into())
            ),
            Some(0)
        );
        assert_eq!(
            bind(
                FunctionKind::Function,
                CallForm::Plain,
                &function,
                &ArgSlot::Position(1)
            ),
            None
        );
    }

    /// Classes of one file, by index, for lookups without a project.
    struct Classes(Vec<ClassSummary>);

    impl<'g> ClassGraph<'g> for &'g Classes {
        type File = ();

        fn class(&self, _: (), class: usize) -> Option<&'g ClassSummary> {
            self.0.get(class)
        }

        fn base(&self, _: (), base: &BaseRef) -> BaseLookup<()> {
            match base {
                BaseRef::Local(index) => BaseLookup::Class((), *index),
                BaseRef::Imported(_) => BaseLookup::Missing,
                BaseRef::Opaque => BaseLookup::Opaque,
            }
        }
    }

    fn class(name: &str, bases: Vec<BaseRef>, methods: &[(&str, usize)]) -> ClassSummary {
        ClassSummary {
            name: name.to_string(),
            module_level: true,
            bases,
            methods: methods
                .iter()
                .map(|(name, function)| MethodEntry {
                    name: name.to_string(),
                    kind: FunctionKind::Method,
                    factory: false,
                    function: Some(*function),
                })
                .collect(),
        }
    }

    fn found(classes: &Classes, start: usize, name: &str) -> Option<usize> {
        match find_method(&classes, (), start, name) {
            MethodLookup::Found((), entry) => entry.function,
            MethodLookup::Missing => Some(usize::MAX),
            MethodLookup::Unknown => None,
        }
    }

    #[test]
    fn methods_are_found_through_bases_in_order() {
        let imported = BaseRef::Imported(ClassRef {
            module: "lib".into(),
            name: "Mixin".into(),
        });
        let classes = Classes(vec![
            // 0: class Repository: get, describe
            class("Repository", vec![], &[("get", 10), ("describe", 11)]),
            // 1: class Cached(Repository): get (an override)
            class("Cached", vec![BaseRef::Local(0)], &[("get", 12)]),
            // 2: class Customers(Cached, <Mixin of another module>)
            class("Customers", vec![BaseRef::Local(1), imported.clone()], &[]),
            // 3: class Unknown(models.Model, Repository)
            class("Unknown", vec![BaseRef::Opaque, BaseRef::Local(0)], &[]),
            // 4: class Later(<Mixin>, Repository)
            class("Later", vec![imported, BaseRef::Local(0)], &[]),
        ]);
        assert_eq!(found(&classes, 1, "get"), Some(12), "the override wins");
        assert_eq!(
            found(&classes, 2, "describe"),
            Some(11),
            "the first base, depth first"
        );
        assert_eq!(
            found(&classes, 2, "other"),
            Some(usize::MAX),
            "then the unknown second base"
        );
        assert_eq!(
            found(&classes, 3, "get"),
            None,
            "an opaque base first may define it"
        );
        assert_eq!(
            found(&classes, 4, "get"),
            Some(usize::MAX),
            "a base the project lacks first"
        );
    }

    #[test]
    fn imports_name_functions_and_modules() {
        let file = SourceFile::parse(
            "from .helpers import load_stats as ls\nimport app.db as d\nimport app.core\nfrom app import services\n",
        );
        let imports = Imports::collect(&file, "app.views", false);
        assert_eq!(imports.function("ls"), Some(("app.helpers", "load_stats")));
        assert_eq!(imports.function("load_stats"), None);
        assert_eq!(imports.module("d").as_deref(), Some("app.db"));
        assert_eq!(imports.module("app.core").as_deref(), Some("app.core"));
        assert_eq!(imports.module("services").as_deref(), Some("app.services"));
        assert_eq!(imports.module("other"), None);
    }
}
