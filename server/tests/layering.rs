//! The layering invariants of ARCHITECTURE.md, checked on the source: the layers form no cycle,
//! the engine knows nothing of the shells, rules never import each other, and the server never
//! depends on the command line. A `use` that breaks one fails here with the file that has it.
//!
//! A layer is a top-level module (`cli`, `lsp`, `project`, `config`, `exit`) or a module of the engine
//! (`engine::rules`, `engine::index`, ...). References are the `crate::` and `super::` paths of
//! the code outside `#[cfg(test)]` and comments.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `engine/rules/mod.rs` → `["engine", "rules"]`; `engine/fix/imports.rs` → `["engine", "fix",
/// "imports"]`.
fn module_of(path: &Path) -> Vec<String> {
    let relative = path.strip_prefix(source_root()).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn layer_of(parts: &[String]) -> Option<String> {
    match parts {
        [] => None,
        [engine, module, ..] if engine == "engine" => Some(format!("engine::{module}")),
        [first, ..] => Some(first.clone()),
    }
}

/// The code of a file that counts: before its test module, without comment lines.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or(text);
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first segment of each item of a path's tail: `orm::{Chain, Orm}` → `orm`,
/// `{calls::Hop, orm}` → `calls`, `orm`.
fn heads(tail: &str) -> Vec<String> {
    let tail = tail.trim_start();
    if let Some(group) = tail.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut current = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        items.push(current);
        return items
            .iter()
            .filter_map(|item| heads(item).into_iter().next())
            .collect();
    }
    let head: String = tail.chars().take_while(|&c| is_ident(c)).collect();
    if head.is_empty() {
        Vec::new()
    } else {
        vec![head]
    }
}

/// The modules a file's code refers to, as absolute paths of one or more segments.
fn references(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let boundary = at == 0 || !is_ident(bytes[at - 1] as char) && bytes[at - 1] != b':';
        let start = if boundary && rest.starts_with("crate::") {
            Some((Vec::new(), "crate::".len()))
        } else if boundary && rest.starts_with("super::") {
            let mut ups = 0;
            let mut len = 0;
            while code[at + len..].starts_with("super::") {
                ups += 1;
                len += "super::".len();
            }
            // `module_of` names `a/mod.rs` `a` and `a/b.rs` `a::b`: `super` is the parent of either.
            let base = module[..module.len().saturating_sub(ups)].to_vec();
            Some((base, len))
        } else {
            None
        };
        let Some((mut base, len)) = start else {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let mut tail = &code[at + len..];
        // Follow `a::b::` segments, then the last segment or group.
        loop {
            let segment: String = tail.chars().take_while(|&c| is_ident(c)).collect();
            if segment.is_empty() || !tail[segment.len()..].starts_with("::") {
                break;
            }
            base.push(segment.clone());
            tail = &tail[segment.len() + 2..];
        }
        for head in heads(tail) {
            let mut path = base.clone();
            if head != "self" {
                path.push(head);
            }
            found.push(path);
        }
        at += len;
    }
    found
}

struct Source {
    path: PathBuf,
    module: Vec<String>,
    code: String,
}

fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(&source_root(), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| Source {
            module: module_of(&path),
            code: code_of(&fs::read_to_string(&path).unwrap()),
            path,
        })
        .collect()
}

fn display(path: &Path) -> String {
    path.strip_prefix(source_root())
        .unwrap()
        .display()
        .to_string()
}

/// Layer → layer it uses → files that make the edge.
fn layer_graph(sources: &[Source]) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let layers: BTreeSet<String> = sources.iter().filter_map(|s| layer_of(&s.module)).collect();
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for source in sources {
        let Some(from) = layer_of(&source.module) else {
            continue;
        };
        for reference in references(&source.code, &source.module) {
            let Some(mut to) = layer_of(&reference) else {
                continue;
            };
            if !layers.contains(&to) && to.starts_with("engine::") {
                // An item of the engine's facade (`engine/mod.rs`): an edge to the facade.
                to = "engine".to_string();
            }
            if to != from && layers.contains(&to) {
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .insert(display(&source.path));
            }
        }
    }
    graph
}

#[test]
fn layers_form_no_cycle() {
    let graph = layer_graph(&sources());
    // Depth-first search for a back edge; report the cycle with a file for each edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|edges| edges.keys()) {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            let edges: Vec<String> = cycle
                .windows(2)
                .map(|pair| {
                    let files = &graph[&pair[0]][&pair[1]];
                    format!("{} -> {} (in {files:?})", pair[0], pair[1])
                })
                .collect();
            panic!("the layers form a cycle:\n  {}", edges.join("\n  "));
        }
    }
}

/// Fails when a file of `layer` names one of `layers` or uses one of `crates`; `why` ends the
/// message.
fn assert_knows_nothing_of(layer: &str, layers: &[&str], crates: &[&str], why: &str) {
    for source in sources() {
        if source.module.first().map(String::as_str) != Some(layer) {
            continue;
        }
        for reference in references(&source.code, &source.module) {
            let used = reference.first().map(String::as_str).unwrap_or_default();
            assert!(
                !layers.contains(&used),
                "{} uses crate::{}: {why}",
                display(&source.path),
                reference.join("::")
            );
        }
        for shell_crate in crates {
            assert!(
                !source.code.contains(&format!("{shell_crate}::")),
                "{} uses {shell_crate}: {why}",
                display(&source.path)
            );
        }
    }
}

const SHELL_CRATES: [&str; 5] = [
    "tokio",
    "tower_lsp_server",
    "ropey",
    "annotate_snippets",
    "clap",
];

#[test]
fn the_engine_knows_nothing_of_the_shells() {
    assert_knows_nothing_of(
        "engine",
        &["cli", "lsp", "config", "project"],
        &SHELL_CRATES,
        "the engine is pure analysis and knows neither the shells nor the file system",
    );
}

#[test]
fn the_project_layer_knows_nothing_of_the_shells() {
    assert_knows_nothing_of(
        "project",
        &["cli", "lsp"],
        &SHELL_CRATES,
        "the project layer serves both shells and knows neither",
    );
}

#[test]
fn only_the_project_layer_walks_folders() {
    for source in sources() {
        let layer = source.module.first().map(String::as_str);
        if layer == Some("project") {
            continue;
        }
        for walker in ["WalkBuilder", "read_dir("] {
            assert!(
                !source.code.contains(walker),
                "{} walks the file system ({walker}): file discovery belongs to `project::discovery`, \
                 so that both shells find the same files",
                display(&source.path)
            );
        }
    }
}

#[test]
fn rules_never_import_each_other() {
    for source in sources() {
        let own = match source.module.as_slice() {
            [engine, rules, rule, ..] if engine == "engine" && rules == "rules" => rule.clone(),
            _ => continue,
        };
        for reference in references(&source.code, &source.module) {
            if let [engine, rules, other, ..] = reference.as_slice() {
                assert!(
                    !(engine == "engine"
                        && rules == "rules"
                        && other.starts_with("inb")
                        && *other != own),
                    "{} uses {}: a rule shares code through the engine's facts, not another rule",
                    display(&source.path),
                    reference.join("::")
                );
            }
        }
    }
}

#[test]
fn the_server_does_not_depend_on_the_command_line() {
    let graph = layer_graph(&sources());
    if let Some(files) = graph.get("lsp").and_then(|edges| edges.get("cli")) {
        panic!("lsp uses cli in {files:?}: shared code belongs below both");
    }
}

#[test]
fn references_resolve_relative_paths() {
    let module = vec![
        "engine".to_string(),
        "rules".to_string(),
        "inb001".to_string(),
    ];
    let found = references(
        "use super::super::orm::{Chain, Orm};\nuse super::{Context, RuleInfo};\nlet x = crate::engine::index::display_model(m);",
        &module,
    );
    let path = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Vec<String>>();
    assert!(found.contains(&path(&["engine", "orm", "Chain"])));
    assert!(found.contains(&path(&["engine", "orm", "Orm"])));
    assert!(found.contains(&path(&["engine", "rules", "Context"])));
    assert!(found.contains(&path(&["engine", "index", "display_model"])));
    assert_eq!(found.len(), 5, "{found:?}");
}
