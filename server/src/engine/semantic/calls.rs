//! Call sites and function summaries.
//!
//! The builder records every call whose callee is a plain name (`load_stats(uid)`) or a method of
//! a dotted receiver (`self.load(uid)`, `session.commit()`, `order.save()`), with the loops around
//! it. From those, [`summaries`] computes for each function which of its parameters reach an ORM
//! query as a key: directly, or through calls to further functions of the same file, up to a
//! depth, cycles safe. A call that cannot be resolved to a definition is skipped, never guessed.

use std::collections::{HashMap, HashSet};

use tree_sitter::Node;

use super::types::RowType;
use super::{LoopId, SemanticModel};
use crate::engine::orm::{self, RefContext};
use crate::engine::source::TextRange;
use crate::engine::syntax::{dotted_path, field, named_children};

/// What a call calls, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callee {
    /// `load_stats(uid)`
    Name(String),
    /// `self.load(uid)`, `session.commit()`: the receiver as a dotted path and the method.
    Method { receiver: String, method: String },
}

#[derive(Debug)]
pub struct CallSite<'a> {
    pub node: Node<'a>,
    pub callee: Callee,
    /// The receiver expression of a method call.
    pub receiver: Option<Node<'a>>,
    /// The receiver is a session or connection.
    pub receiver_is_session: bool,
    /// What rows the receiver holds, when known (`order.save()` on a row of `Order`).
    pub receiver_type: Option<RowType>,
    /// Loops of the function around the call, innermost last.
    pub loops: Vec<LoopId>,
    /// The enclosing `function_definition` or `lambda`, or the module.
    pub scope: Node<'a>,
}

/// Records a call site; `None` for calls of anything but a name or a method of a dotted path.
pub(super) fn call_site<'a>(
    node: Node<'a>,
    source: &'a str,
    scope: &dyn orm::Scope<'a>,
    loops: Vec<LoopId>,
    function: Node<'a>,
    row_type: impl FnOnce(Node<'a>) -> Option<RowType>,
) -> Option<CallSite<'a>> {
    let callee = field(node, "function")?;
    match callee.kind() {
        "identifier" => Some(CallSite {
            node,
            callee: Callee::Name(source[callee.byte_range()].to_string()),
            receiver: None,
            receiver_is_session: false,
            receiver_type: None,
            loops,
            scope: function,
        }),
        "attribute" => {
            let object = field(callee, "object")?;
            let receiver = dotted_path(object, source)?;
            let method = source[field(callee, "attribute")?.byte_range()].to_string();
            Some(CallSite {
                node,
                receiver_is_session: scope.is_session(&receiver),
                receiver_type: row_type(object),
                callee: Callee::Method { receiver, method },
                receiver: Some(object),
                loops,
                scope: function,
            })
        }
        _ => None,
    }
}

/// A function or method defined in the file.
#[derive(Debug, Clone)]
pub struct FunctionDef<'a> {
    pub node: Node<'a>,
    pub name: String,
    /// The class a method is defined in.
    pub class: Option<String>,
    /// Parameter names in order (`self` included for methods).
    pub parameters: Vec<String>,
}

impl FunctionDef<'_> {
    /// Whether calls go through `self.`/`cls.`: the first parameter is then bound already.
    fn is_method(&self) -> bool {
        self.class.is_some()
    }
}

/// One step from a parameter to a query: a call to a further function, or the query itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub range: TextRange,
    /// `load_stats(uid)` for a call, the query as displayed for a query.
    pub display: String,
    /// The function the hop sits in.
    pub function: String,
}

/// A parameter of a function that reaches a query as a key.
#[derive(Debug, Clone)]
pub struct Reach {
    pub parameter: usize,
    /// The calls taken, then the query; the last hop is always the query.
    pub path: Vec<Hop>,
    /// The query's model, when known.
    pub model: Option<String>,
}

/// Per function (index into [`functions`]), the parameters that reach a query.
pub struct Summaries<'a> {
    pub functions: Vec<FunctionDef<'a>>,
    pub reaches: Vec<Vec<Reach>>,
}

impl<'a> Summaries<'a> {
    /// The function a call resolves to in this file: a module-level function for a plain name
    /// (unless the caller binds that name itself), a method of the caller's class for
    /// `self.method(...)` / `cls.method(...)`.
    pub fn resolve(&self, model: &SemanticModel<'a>, call: &CallSite<'a>) -> Option<usize> {
        let source = model.file.text();
        match &call.callee {
            Callee::Name(name) => {
                let caller = model.scope_of(call.node);
                if caller.parameters.contains(name) || caller.values.contains_key(name) {
                    return None;
                }
                self.functions
                    .iter()
                    .position(|f| f.class.is_none() && &f.name == name && is_module_level(f.node))
            }
            Callee::Method { receiver, method } if receiver == "self" || receiver == "cls" => {
                let class = enclosing_class(call.scope, source)?;
                self.functions
                    .iter()
                    .position(|f| f.class.as_deref() == Some(class) && &f.name == method)
            }
            Callee::Method { .. } => None,
        }
    }

    /// The reaches of the function a call resolves to whose parameter receives an argument
    /// accepted by `takes` (the argument's expression).
    pub fn reaching_arguments(
        &self,
        model: &SemanticModel<'a>,
        call: &CallSite<'a>,
        mut takes: impl FnMut(Node<'a>) -> bool,
    ) -> Vec<(Node<'a>, &Reach)> {
        let Some(target) = self.resolve(model, call) else {
            return Vec::new();
        };
        let function = &self.functions[target];
        let mut found = Vec::new();
        for (argument, parameter) in bind_arguments(call, function, model.file.text()) {
            if !takes(argument) {
                continue;
            }
            if let Some(reach) = self.reaches[target]
                .iter()
                .find(|r| r.parameter == parameter)
            {
                found.push((argument, reach));
            }
        }
        found
    }
}

/// Every function of the file and which of its parameters reach a query, through at most
/// `max_depth` calls.
pub fn summaries<'a>(model: &SemanticModel<'a>, max_depth: usize) -> Summaries<'a> {
    let source = model.file.text();
    let functions: Vec<FunctionDef<'a>> = model
        .scopes
        .iter()
        .filter(|scope| scope.node.kind() == "function_definition")
        .filter_map(|scope| function_def(scope.node, source))
        .collect();
    let mut summaries = Summaries {
        reaches: vec![Vec::new(); functions.len()],
        functions,
    };
    // Names each function derives from each parameter (`key = uid`, `k = str(uid)`).
    let derived: Vec<Vec<HashSet<String>>> = summaries
        .functions
        .iter()
        .map(|function| {
            let record = model.scope_of(function.body());
            function
                .parameters
                .iter()
                .map(|p| derived_names(p, &record.values, source))
                .collect()
        })
        .collect();
    let function_of = |node: Node<'a>| {
        let scope = model.scope_of(node).node;
        summaries.functions.iter().position(|f| f.node == scope)
    };
    // Direct reaches: a query in the function reads a parameter as a key.
    for query in &model.queries {
        if query.call.access != orm::Access::Read {
            continue;
        }
        let Some(index) = function_of(query.call.node) else {
            continue;
        };
        for (parameter, names) in derived[index].iter().enumerate() {
            let reads = query
                .call
                .refs
                .iter()
                .any(|r| r.context == RefContext::Key && names.contains(&r.name));
            if reads
                && !summaries.reaches[index]
                    .iter()
                    .any(|r| r.parameter == parameter)
            {
                summaries.reaches[index].push(Reach {
                    parameter,
                    path: vec![Hop {
                        range: query.call.node.byte_range(),
                        display: query.call.display.clone(),
                        function: summaries.functions[index].name.clone(),
                    }],
                    model: query.call.model.clone(),
                });
            }
        }
    }
    // Through calls: each round adds one more hop; a bounded number of rounds ends cycles.
    for _ in 1..max_depth.max(1) {
        let mut added = Vec::new();
        for call in &model.calls {
            let Some(caller) = function_of(call.node) else {
                continue;
            };
            let Some(target) = summaries.resolve(model, call) else {
                continue;
            };
            for (argument, parameter) in bind_arguments(call, &summaries.functions[target], source)
            {
                let Some(reach) = summaries.reaches[target]
                    .iter()
                    .find(|r| r.parameter == parameter)
                else {
                    continue;
                };
                let mut names = Vec::new();
                collect_identifiers(argument, source, &mut names);
                for (caller_parameter, derived_names) in derived[caller].iter().enumerate() {
                    if !names.iter().any(|name| derived_names.contains(name)) {
                        continue;
                    }
                    let known = summaries.reaches[caller]
                        .iter()
                        .any(|r| r.parameter == caller_parameter)
                        || added.iter().any(|(c, r): &(usize, Reach)| {
                            *c == caller && r.parameter == caller_parameter
                        });
                    if known {
                        continue;
                    }
                    let mut path = vec![Hop {
                        range: call.node.byte_range(),
                        display: crate::engine::syntax::display_code(
                            &source[call.node.byte_range()],
                            60,
                        ),
                        function: summaries.functions[caller].name.clone(),
                    }];
                    path.extend(reach.path.iter().cloned());
                    added.push((
                        caller,
                        Reach {
                            parameter: caller_parameter,
                            path,
                            model: reach.model.clone(),
                        },
                    ));
                }
            }
        }
        if added.is_empty() {
            break;
        }
        for (caller, reach) in added {
            summaries.reaches[caller].push(reach);
        }
    }
    summaries
}

impl<'a> FunctionDef<'a> {
    fn body(&self) -> Node<'a> {
        field(self.node, "body").unwrap_or(self.node)
    }
}

fn function_def<'a>(node: Node<'a>, source: &str) -> Option<FunctionDef<'a>> {
    let name = source[field(node, "name")?.byte_range()].to_string();
    let mut parameters = Vec::new();
    for parameter in named_children(field(node, "parameters")?) {
        let name = match parameter.kind() {
            "identifier" => Some(parameter),
            "typed_parameter" | "default_parameter" | "typed_default_parameter" => {
                field(parameter, "name")
                    .or_else(|| named_children(parameter).find(|c| c.kind() == "identifier"))
            }
            // `*args`, `**kwargs`, `*`, `/`: positions after them are not plain.
            _ => None,
        };
        match name {
            Some(name) => parameters.push(source[name.byte_range()].to_string()),
            None => break,
        }
    }
    let class = enclosing_class(node, source).map(str::to_string);
    Some(FunctionDef {
        node,
        name,
        class,
        parameters,
    })
}

/// The class a function is a method of (directly, not through a nested function).
fn enclosing_class<'s>(function: Node<'_>, source: &'s str) -> Option<&'s str> {
    let mut current = function.parent();
    while let Some(node) = current {
        match node.kind() {
            "class_definition" => return field(node, "name").map(|n| &source[n.byte_range()]),
            "function_definition" | "lambda" | "module" => return None,
            _ => current = node.parent(),
        }
    }
    None
}

fn is_module_level(function: Node<'_>) -> bool {
    let mut parent = function.parent();
    if parent.is_some_and(|p| p.kind() == "decorated_definition") {
        parent = parent.and_then(|p| p.parent());
    }
    parent.is_some_and(|p| p.kind() == "module")
}

/// Pairs a call's arguments with the callee's parameter indices: positional by position
/// (after `self` for a method), keywords by name. Splats end the pairing.
fn bind_arguments<'a>(
    call: &CallSite<'a>,
    function: &FunctionDef<'_>,
    source: &str,
) -> Vec<(Node<'a>, usize)> {
    let Some(arguments) = field(call.node, "arguments") else {
        return Vec::new();
    };
    let offset = usize::from(function.is_method());
    let mut bound = Vec::new();
    let mut position = offset;
    for argument in named_children(arguments) {
        match argument.kind() {
            "keyword_argument" => {
                let Some(name) = field(argument, "name").map(|n| &source[n.byte_range()]) else {
                    continue;
                };
                let Some(value) = field(argument, "value") else {
                    continue;
                };
                if let Some(index) = function.parameters.iter().position(|p| p == name) {
                    bound.push((value, index));
                }
            }
            "list_splat" | "dictionary_splat" => break,
            "comment" => {}
            _ => {
                if position < function.parameters.len() {
                    bound.push((argument, position));
                }
                position += 1;
            }
        }
    }
    bound
}

/// The parameter and every name assigned (last assignment, flow-insensitively) from it.
fn derived_names(
    parameter: &str,
    values: &HashMap<String, Node<'_>>,
    source: &str,
) -> HashSet<String> {
    let mut names: HashSet<String> = HashSet::from([parameter.to_string()]);
    loop {
        let before = names.len();
        for (name, value) in values {
            if names.contains(name) {
                continue;
            }
            let mut read = Vec::new();
            collect_identifiers(*value, source, &mut read);
            if read.iter().any(|r| names.contains(r)) {
                names.insert(name.clone());
            }
        }
        if names.len() == before {
            return names;
        }
    }
}

/// Names and dotted paths an expression reads; nested functions and lambdas excluded.
pub(crate) fn collect_identifiers(node: Node<'_>, source: &str, out: &mut Vec<String>) {
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        match node.kind() {
            "identifier" => out.push(source[node.byte_range()].to_string()),
            "attribute" => {
                if let Some(path) = dotted_path(node, source) {
                    out.push(path);
                }
                stack.extend(field(node, "object"));
            }
            "keyword_argument" => stack.extend(field(node, "value")),
            "lambda" | "comment" | "string" => {}
            _ => stack.extend(named_children(node)),
        }
    }
}
