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
    /// The function the hop sits in.
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
}

/// Which argument of a call: by position (after `self` for a method) or by keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgSlot {
    Position(usize),
    Keyword(String),
}

/// What a call in a summary calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallTarget {
    /// A function of the same file, by index into [`FileSummary::functions`].
    Local(usize),
    /// A function of another module, as imported (the module is absolute).
    Imported { module: String, name: String },
}

/// A call that passes some of the caller's parameters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEdge {
    pub target: CallTarget,
    /// The call, located.
    pub hop: Hop,
    /// The argument slots and the caller's parameter each one derives from.
    pub arguments: Vec<(ArgSlot, usize)>,
}

/// A function or method of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSummary {
    pub name: String,
    pub class: Option<String>,
    /// Defined at module level: the only functions other files can import.
    pub module_level: bool,
    pub parameters: Vec<String>,
    /// Parameters that reach a query within the file (every hop located).
    pub reaches: Vec<Reach>,
    pub calls: Vec<CallEdge>,
}

impl FunctionSummary {
    /// The parameter a slot binds, as [`crate::engine::semantic::calls`] binds arguments.
    pub fn bind(&self, slot: &ArgSlot) -> Option<usize> {
        match slot {
            ArgSlot::Position(position) => {
                let index = position + usize::from(self.class.is_some());
                (index < self.parameters.len()).then_some(index)
            }
            ArgSlot::Keyword(name) => self.parameters.iter().position(|p| p == name),
        }
    }
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
    pub pending: Vec<PendingCall>,
}

impl FileSummary {
    fn module_function(&self, name: &str) -> Option<usize> {
        self.functions
            .iter()
            .position(|f| f.module_level && f.class.is_none() && f.name == name)
    }
}

/// A function as the project resolves it: its parameters and every parameter that reaches a
/// query, in its own file or through others.
#[derive(Debug, Clone)]
pub struct ResolvedFunction {
    pub module: String,
    pub name: String,
    pub parameters: Vec<String>,
    pub reaches: Vec<Reach>,
}

/// The summaries of a project's files, and the reaches resolved across them.
#[derive(Debug, Clone, Default)]
pub struct CallIndex {
    files: HashMap<PathBuf, Arc<FileSummary>>,
    modules: HashMap<String, PathBuf>,
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
    /// the one already there (the server calls this after each analysis of an open document).
    pub fn with_file(&self, summary: FileSummary, max_depth: usize) -> Option<CallIndex> {
        if self
            .files
            .get(summary.path.as_ref())
            .is_some_and(|old| **old == summary)
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
        self.modules.insert(summary.module.clone(), path.clone());
        self.by_last
            .entry(last_part(&summary.module).to_string())
            .or_default()
            .push(summary.module.clone());
        self.files.insert(path, Arc::new(summary));
        true
    }

    pub fn remove_file(&mut self, path: &Path) -> bool {
        let Some(old) = self.files.remove(path) else {
            return false;
        };
        if self.modules.get(&old.module).is_some_and(|p| p == path) {
            self.modules.remove(&old.module);
            if let Some(list) = self.by_last.get_mut(last_part(&old.module)) {
                list.retain(|m| *m != old.module);
            }
        }
        self.resolved.remove(path);
        true
    }

    /// The file of a module: by its exact name, else the one module whose name ends with
    /// `.module` (a `src/` layout), else none.
    fn module_file(&self, module: &str) -> Option<&Arc<FileSummary>> {
        if let Some(path) = self.modules.get(module) {
            return self.files.get(path);
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
        self.files.get(self.modules.get(first)?)
    }

    /// The module-level function `name` of `module`, following re-exports
    /// (`from .impl import load_stats` in a package's `__init__.py`) a few levels deep.
    fn locate(&self, module: &str, name: &str) -> Option<(&PathBuf, usize)> {
        let mut module = module.to_string();
        let mut name = name.to_string();
        for _ in 0..4 {
            let file = self.module_file(&module)?;
            if let Some(index) = file.module_function(&name) {
                let path = self.modules.get(&file.module)?;
                return Some((path, index));
            }
            let import = file.imports.list.iter().rev().find(|i| i.local == name)?;
            let next_name = import.name.clone()?;
            module = import.module.clone();
            name = next_name;
        }
        None
    }

    /// A module-level function of another module, with its reaches across the project.
    pub fn function(&self, module: &str, name: &str) -> Option<ResolvedFunction> {
        let (path, index) = self.locate(module, name)?;
        let file = &self.files[path];
        let function = &file.functions[index];
        let reaches = self
            .resolved
            .get(path)
            .map_or_else(|| function.reaches.clone(), |all| all[index].clone());
        Some(ResolvedFunction {
            module: file.module.clone(),
            name: function.name.clone(),
            parameters: function.parameters.clone(),
            reaches,
        })
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
        let mut edges: Vec<(usize, usize, &CallEdge, usize, usize)> = Vec::new();
        for (file_id, file) in files.iter().enumerate() {
            for (caller, function) in file.functions.iter().enumerate() {
                for edge in &function.calls {
                    let target = match &edge.target {
                        CallTarget::Local(index) => Some((file_id, *index)),
                        CallTarget::Imported { module, name } => self
                            .locate(module, name)
                            .and_then(|(path, index)| Some((*ids.get(path)?, index))),
                    };
                    if let Some((target_file, target_index)) = target {
                        edges.push((file_id, caller, edge, target_file, target_index));
                    }
                }
            }
        }
        for _ in 1..max_depth.max(1) {
            let mut added: Vec<(usize, usize, Reach)> = Vec::new();
            for &(file, caller, edge, target_file, target_index) in &edges {
                let target = &files[target_file].functions[target_index];
                for (slot, caller_parameter) in &edge.arguments {
                    let Some(parameter) = target.bind(slot) else {
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
                        .any(|r| r.parameter == *caller_parameter)
                        || added.iter().any(|(f, c, r)| {
                            *f == file && *c == caller && r.parameter == *caller_parameter
                        });
                    if known {
                        continue;
                    }
                    let mut hops = vec![edge.hop.clone()];
                    hops.extend(reach.path.iter().cloned());
                    added.push((
                        file,
                        caller,
                        Reach {
                            parameter: *caller_parameter,
                            path: hops,
                            model: reach.model.clone(),
                        },
                    ));
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
        let Some(file) = self.files.get(path) else {
            return false;
        };
        file.pending.iter().any(|call| {
            let target = match &call.target {
                CallTarget::Local(index) => Some((path, *index)),
                CallTarget::Imported { module, name } => self
                    .locate(module, name)
                    .map(|(path, index)| (path.as_path(), index)),
            };
            let Some((target_path, index)) = target else {
                return false;
            };
            let function = &self.files[target_path].functions[index];
            let reaches = self
                .resolved
                .get(target_path)
                .map_or(&function.reaches, |all| &all[index]);
            call.arguments.iter().any(|slot| {
                function
                    .bind(slot)
                    .is_some_and(|parameter| reaches.iter().any(|r| r.parameter == parameter))
            })
        })
    }

    /// Modules imported by pending calls and edges that no summary provides yet.
    pub fn missing_modules(&self) -> HashSet<String> {
        let mut missing = HashSet::new();
        for file in self.files.values() {
            let targets = file.pending.iter().map(|call| &call.target).chain(
                file.functions
                    .iter()
                    .flat_map(|f| f.calls.iter().map(|e| &e.target)),
            );
            for target in targets {
                if let CallTarget::Imported { module, .. } = target {
                    if self.module_file(module).is_none() {
                        missing.insert(module.clone());
                    }
                }
            }
        }
        missing
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
