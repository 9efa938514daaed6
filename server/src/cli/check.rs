//! `inbatch check`: find files, analyse them in parallel, print, choose the exit code.

use std::io::{IsTerminal, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use super::output::{self, Checked};
use super::write::{self, Snapshot};
use super::{exit, CheckArgs, OutputFormat};
use crate::config::{self, Resolver};
use crate::engine::fix::{fix_file_until_stable, FixMode};
use crate::engine::index::calls::{CallIndex, FileSummary};
use crate::engine::index::{may_declare_models, ProjectIndex};
use crate::engine::rule_info::FixAvailability;
use crate::engine::rules::{inb003_query_in_loop_via_call, RuleSet};
use crate::engine::settings::Settings;
use crate::engine::source::SourceFile;
use crate::engine::Fixes;
use crate::engine::{self, FileOrigin};
use crate::project::discovery::{self, Found};
use crate::project::{calls, models, ProjectRoots};

/// A file to analyse with the settings that apply to it.
struct Task {
    path: PathBuf,
    settings: Arc<Settings>,
}

/// The rule choices made on the command line, layered over each file's settings.
struct RuleOverrides {
    select: Option<RuleSet>,
    extend_select: RuleSet,
    ignore: RuleSet,
}

impl RuleOverrides {
    /// The command line's choice over the configured rules, less what the configuration leaves
    /// out for this file (`per-file-ignores`, test code): a rule selected on the command line
    /// skips test code as it does when the configuration selects it.
    fn rules_for(&self, settings: &Settings, path: &Path) -> RuleSet {
        let chosen = self
            .select
            .unwrap_or(settings.rules)
            .union(self.extend_select)
            .difference(self.ignore);
        settings.restrict(chosen, Some(path))
    }
}

pub fn run(args: &CheckArgs) -> u8 {
    match run_inner(args) {
        Ok(code) => code,
        Err(message) => {
            super::print_stderr(&format!("error: {message}\n"));
            exit::ERROR
        }
    }
}

fn run_inner(args: &CheckArgs) -> Result<u8, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))?;
    let fixed = match &args.config {
        Some(path) => Some(config::load_explicit(path).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut resolver = Resolver::new(fixed, cwd.clone());
    // The one cache of project roots of the run: module names, the model index, the call index.
    // Files no project marker covers name modules from the folder the run started in, unless
    // that is `/` or the home folder: a project does not start there, and the model index would
    // walk all of it.
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let fallbacks = if cwd.parent().is_none() || home.as_ref() == Some(&cwd) {
        Vec::new()
    } else {
        vec![cwd.clone()]
    };
    let mut roots = ProjectRoots::new(fallbacks);
    let overrides = RuleOverrides {
        select: args
            .select
            .as_deref()
            .map(|s| selectors(s, "--select"))
            .transpose()?,
        extend_select: selectors(&args.extend_select, "--extend-select")?,
        ignore: selectors(&args.ignore, "--ignore")?,
    };
    let fixing = Fixing {
        apply: (args.fix || args.diff).then_some(FixMode {
            unsafe_fixes: args.unsafe_fixes,
        }),
        // Concise lines and GitHub annotations show no fix: the rewrites are not built for them.
        shown: if !args.statistics
            && matches!(args.format, OutputFormat::Concise | OutputFormat::Github)
        {
            Fixes::Skip
        } else {
            Fixes::Build
        },
    };

    let mut errors: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let reads_stdin = args.paths.iter().any(|p| p.as_os_str() == "-")
        || (args.paths.is_empty() && args.stdin_filename.is_some());
    if reads_stdin && args.paths.len() > 1 {
        return Err(
            "`-` (standard input) cannot be checked together with other paths; run inbatch \
             once for standard input and once for the files"
                .to_string(),
        );
    }
    let mut results: Vec<Checked> = if reads_stdin {
        let name = args
            .stdin_filename
            .clone()
            .unwrap_or_else(|| PathBuf::from("-"));
        let settings = resolver
            .settings_for(&cwd.join(&name))
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        let stdin_path = cwd.join(&name);
        let checked = if discovery::keeps_named(&stdin_path, &settings, args.force_exclude) {
            let text = String::from_utf8_lossy(&bytes).to_string();
            let index = models::build_index(
                std::slice::from_ref(&stdin_path),
                &mut roots,
                &mut lenient(&mut resolver, &settings),
                Some((&stdin_path, &text)),
            );
            analyse_bytes(
                &name,
                bytes,
                &settings,
                overrides.rules_for(&settings, &name),
                fixing,
                &index,
            )
        } else {
            // As ruff does: the file `--stdin-filename` names is excluded, so nothing is reported
            // and `--fix` gives the text back as it came.
            decode(&name, bytes).map(|text| Checked {
                path: name.clone(),
                file: SourceFile::parse(text).into(),
                diagnostics: Vec::new(),
                original: None,
                fixes_applied: 0,
            })
        };
        match checked {
            Ok(checked) => vec![checked],
            Err(error) => {
                errors.push(error);
                Vec::new()
            }
        }
    } else {
        let tasks = collect_tasks(args, &cwd, &mut resolver, &mut errors)?;
        let checked_paths: Vec<PathBuf> = tasks.iter().map(|task| task.path.clone()).collect();
        let index_settings = tasks
            .first()
            .map(|task| task.settings.clone())
            .unwrap_or_default();
        let write_fixes = args.fix && !args.diff;
        // Each file is read and parsed once. Files that may declare models are parsed first, for
        // the model index, and their trees are checked as they are; the others are parsed when
        // checked, and every tree is dropped once its file is checked, so the run never holds
        // the whole project's trees.
        let read_files: Vec<Result<(Loaded, Snapshot), String>> = tasks
            .par_iter()
            .map(|task| {
                let display = display_path(&task.path, &cwd);
                let (bytes, snapshot) =
                    write::read(&task.path).map_err(|e| format!("{display}: {e}"))?;
                let text = decode(Path::new(&display), bytes)?;
                let loaded = if may_declare_models(&text) {
                    Loaded::Parsed(SourceFile::parse(text))
                } else {
                    Loaded::Read(text)
                };
                Ok((loaded, snapshot))
            })
            .collect();
        // What each file was when read: a fixed file is written back only if it still is.
        let snapshots: Vec<Option<Snapshot>> = read_files
            .iter()
            .map(|read| read.as_ref().ok().map(|(_, snapshot)| snapshot.clone()))
            .collect();
        let loaded: Vec<Result<Loaded, String>> = read_files
            .into_iter()
            .map(|read| read.map(|(loaded, _)| loaded))
            .collect();
        let notes = Mutex::new(Vec::new());
        let read: Vec<(&Path, Option<&SourceFile>)> = tasks
            .iter()
            .zip(&loaded)
            .filter_map(|(task, loaded)| {
                let tree = match loaded.as_ref().ok()? {
                    Loaded::Parsed(file) => Some(file),
                    Loaded::Read(_) => None,
                };
                Some((task.path.as_path(), tree))
            })
            .collect();
        let index = models::build_index_parsed(
            &checked_paths,
            &read,
            &mut roots,
            &mut lenient(&mut resolver, &index_settings),
        );
        drop(read);
        // INB003 follows calls into other files: each check also returns its file's summary,
        // and only the files whose loop calls turn out to reach a query through another file are
        // checked again, with the project's summaries (every file, when fixing).
        let follow_calls = tasks.iter().any(|task| {
            overrides
                .rules_for(&task.settings, &task.path)
                .contains(&inb003_query_in_loop_via_call::RULE)
        });
        let origins: Vec<Option<(Arc<Path>, String)>> = tasks
            .iter()
            .map(|task| {
                follow_calls.then(|| {
                    let display: Arc<Path> = Arc::from(Path::new(&display_path(&task.path, &cwd)));
                    (display, roots.module(&task.path))
                })
            })
            .collect();
        let task_settings: Vec<(PathBuf, Arc<Settings>)> = tasks
            .iter()
            .map(|task| (task.path.clone(), task.settings.clone()))
            .collect();
        let no_calls = CallIndex::new();
        // Fixes wait for the project's summaries: INB901 must not remove a `# noqa: INB003`
        // that suppresses a finding only the summaries of other files show.
        let fix_after_resolving = follow_calls && fixing.apply.is_some();
        let first_pass = if fix_after_resolving {
            Fixing {
                apply: None,
                shown: Fixes::Skip,
            }
        } else {
            fixing
        };
        let outcomes: Vec<Outcome> = tasks
            .into_par_iter()
            .zip(loaded)
            .zip(origins.par_iter())
            .enumerate()
            .map(|(position, ((task, loaded), origin))| {
                let display = PathBuf::from(display_path(&task.path, &cwd));
                let rules = overrides.rules_for(&task.settings, &task.path);
                let file = loaded?.into_parsed();
                let origin = origin.as_ref().map(|(path, module)| FileOrigin {
                    path: path.clone(),
                    module: module.clone(),
                    calls: &no_calls,
                });
                let (checked, summary) = analyse_file(
                    &display,
                    file,
                    &task.settings,
                    rules,
                    first_pass,
                    &index,
                    origin.as_ref(),
                )?;
                if write_fixes && checked.original.is_some() {
                    let snapshot = snapshots[position]
                        .as_ref()
                        .expect("a checked file was read");
                    write_back(&task.path, &display, snapshot, checked.file.text(), &notes)?;
                }
                Ok((checked, summary, position))
            })
            .collect();
        let mut checked = Vec::with_capacity(outcomes.len());
        let mut summaries = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok((result, summary, position)) => {
                    checked.push((result, position));
                    summaries.extend(summary);
                }
                Err(error) => errors.push(error),
            }
        }
        if follow_calls {
            let calls = calls::build_index(
                summaries,
                &mut roots,
                &index_settings,
                &mut lenient(&mut resolver, &index_settings),
                &index,
                &|path| display_path(path, &cwd),
            );
            let again: Vec<(usize, String)> = checked
                .par_iter_mut()
                .filter_map(|(result, position)| {
                    let (path, module) = origins[*position].as_ref()?;
                    // Checked again: what the project's summaries may change (a pending loop
                    // call that reaches a query elsewhere), and, when fixing, what has
                    // something to fix; a file with neither says the same the second time.
                    let has_fixes = fix_after_resolving
                        && result
                            .diagnostics
                            .iter()
                            .any(|d| d.rule.fix != FixAvailability::None);
                    if !has_fixes && !calls.reaches_pending(path) {
                        return None;
                    }
                    let (absolute, settings) = &task_settings[*position];
                    let origin = FileOrigin {
                        path: path.clone(),
                        module: module.clone(),
                        calls: &calls,
                    };
                    let rules = overrides.rules_for(settings, absolute);
                    let file = SourceFile::parse(result.file.text().to_string());
                    let (again, _) = match analyse_file(
                        &result.path,
                        file,
                        settings,
                        rules,
                        fixing,
                        &index,
                        Some(&origin),
                    ) {
                        Ok(again) => again,
                        Err(error) => return Some((*position, error)),
                    };
                    result.diagnostics = again.diagnostics;
                    if again.original.is_some() {
                        result.fixes_applied += again.fixes_applied;
                        result.original = result.original.take().or(again.original);
                        result.file = again.file;
                        if write_fixes {
                            let snapshot = snapshots[*position]
                                .as_ref()
                                .expect("a checked file was read");
                            let text = result.file.text();
                            if let Err(error) =
                                write_back(absolute, &result.path, snapshot, text, &notes)
                            {
                                return Some((*position, error));
                            }
                        }
                    }
                    None
                })
                .collect();
            // A file that could not be checked again or written is reported by its error alone:
            // its diagnostics would describe a text that is not on disk.
            checked.retain(|(_, position)| again.iter().all(|(failed, _)| failed != position));
            errors.extend(again.into_iter().map(|(_, error)| error));
        }
        for note in notes.into_inner().unwrap_or_default() {
            warnings.push(note);
        }
        checked.into_iter().map(|(result, _)| result).collect()
    };
    results.sort_by(|a, b| a.path.cmp(&b.path));
    errors.sort();
    warnings.sort();
    for error in &errors {
        super::print_stderr(&format!("error: {error}\n"));
    }
    for warning in &warnings {
        super::print_stderr(&format!("warning: {warning}\n"));
    }

    if args.diff {
        let diff = output::diff(&results);
        super::print_stdout(&diff)?;
        return Ok(if !errors.is_empty() {
            exit::ERROR
        } else if diff.is_empty() {
            exit::CLEAN
        } else {
            exit::DIAGNOSTICS
        });
    }
    if reads_stdin && args.fix {
        // As ruff does: the fixed text goes to standard output, what is left to stderr.
        if let Some(checked) = results.first() {
            super::print_stdout(checked.file.text())?;
            super::print_stderr(&output::concise(&results));
        }
        return Ok(exit_code(&errors, &results));
    }

    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let rendered = if args.statistics {
        output::statistics(&results, args.format)
    } else {
        match args.format {
            OutputFormat::Text => output::text(&results, color, errors.len()),
            OutputFormat::Concise => output::concise(&results),
            OutputFormat::Json => output::json(&results),
            OutputFormat::Sarif => super::sarif::sarif(&results),
            OutputFormat::Github => super::github::github(&results),
        }
    };
    super::print_stdout(&rendered)?;
    Ok(exit_code(&errors, &results))
}

/// The settings of the project's files beyond the checked ones (for the model and call indexes):
/// where a configuration cannot be read there, `fallback`; a checked file's own is an error.
fn lenient<'r>(
    resolver: &'r mut Resolver,
    fallback: &'r Arc<Settings>,
) -> impl FnMut(&Path) -> Arc<Settings> + 'r {
    move |path| {
        resolver
            .settings_for(path)
            .unwrap_or_else(|_| fallback.clone())
    }
}

/// Writes a fixed file back (see [`write::replace`]); the message for the user when it was not.
fn write_back(
    path: &Path,
    display: &Path,
    snapshot: &Snapshot,
    text: &str,
    notes: &Mutex<Vec<String>>,
) -> Result<(), String> {
    let written = write::replace(path, snapshot, text.as_bytes())
        .map_err(|error| format!("{}: {error}", display.display()))?;
    if let Some(links) = written.detached_hard_links {
        let note = format!(
            "{}: had {links} hard links; the fixed text replaced this name only, the other \
             names keep the original text",
            display.display()
        );
        notes.lock().unwrap_or_else(|e| e.into_inner()).push(note);
    }
    Ok(())
}

fn exit_code(errors: &[String], results: &[Checked]) -> u8 {
    if !errors.is_empty() {
        exit::ERROR
    } else if results.iter().any(|r| !r.diagnostics.is_empty()) {
        exit::DIAGNOSTICS
    } else {
        exit::CLEAN
    }
}

fn selectors(values: &[String], flag: &str) -> Result<RuleSet, String> {
    let mut set = RuleSet::empty();
    for value in values.iter().filter(|v| !v.trim().is_empty()) {
        let rules = RuleSet::parse_selector(value).map_err(|error| format!("{flag}: {error}"))?;
        set = set.union(rules);
    }
    Ok(set)
}

/// Whether fixes are applied, and whether the reported diagnostics carry theirs.
#[derive(Debug, Clone, Copy)]
struct Fixing {
    apply: Option<FixMode>,
    shown: Fixes,
}

/// A checked file as first read: parsed already when the model index needed its tree.
enum Loaded {
    Read(String),
    Parsed(SourceFile),
}

impl Loaded {
    fn into_parsed(self) -> SourceFile {
        match self {
            Loaded::Read(text) => SourceFile::parse(text),
            Loaded::Parsed(file) => file,
        }
    }
}

/// A checked file with its function summary and its task's position, or why it was not checked.
type Outcome = Result<(Checked, Option<FileSummary>, usize), String>;

/// Reads, analyses and (with `--fix`/`--diff`) fixes one file's bytes.
fn analyse_bytes(
    display: &Path,
    bytes: Vec<u8>,
    settings: &Settings,
    rules: RuleSet,
    fixing: Fixing,
    index: &ProjectIndex,
) -> Result<Checked, String> {
    let file = SourceFile::parse(decode(display, bytes)?);
    analyse_file(display, file, settings, rules, fixing, index, None).map(|(checked, _)| checked)
}

fn decode(display: &Path, bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{}: not valid UTF-8 (invalid byte at offset {}); the file was not checked",
            display.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Analyses and (with `--fix`/`--diff`) fixes one parsed file.
fn analyse_file(
    display: &Path,
    file: SourceFile,
    settings: &Settings,
    rules: RuleSet,
    fixing: Fixing,
    index: &ProjectIndex,
    origin: Option<&FileOrigin<'_>>,
) -> Result<(Checked, Option<FileSummary>), String> {
    let mut original = None;
    let mut fixes_applied = 0;
    let mut file = file;
    if let Some(mode) = fixing.apply {
        // The fixer takes the parsed file over (one tree alive at a time); the text is kept for
        // the diff and the check that the file on disk is unchanged.
        let text = file.text().to_string();
        let fixed = fix_file_until_stable(file, mode, |file| {
            engine::diagnostic::fixes_of(
                engine::check_file(file, settings, rules, index, origin).diagnostics,
            )
        })
        .map_err(|error| format!("{}: {error}", display.display()))?;
        file = fixed.file;
        if fixed.applied > 0 {
            fixes_applied = fixed.applied;
            original = Some(text);
        }
    }
    let checked = engine::check_file_with(&file, settings, rules, index, origin, fixing.shown);
    Ok((
        Checked {
            path: display.to_path_buf(),
            file: file.into(),
            diagnostics: checked.diagnostics,
            original,
            fixes_applied,
        },
        checked.summary,
    ))
}

fn collect_tasks(
    args: &CheckArgs,
    cwd: &Path,
    resolver: &mut Resolver,
    errors: &mut Vec<String>,
) -> Result<Vec<Task>, String> {
    let named: Vec<PathBuf> = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut tasks = Vec::new();
    for root in named {
        let absolute = cwd.join(&root);
        let kind = match std::fs::metadata(&absolute) {
            Ok(metadata) => metadata.file_type(),
            Err(error) => {
                errors.push(format!(
                    "{}: {}",
                    root.display(),
                    unusable_path(&absolute, &error)
                ));
                continue;
            }
        };
        if !kind.is_file() && !kind.is_dir() {
            // Reading a FIFO would wait for a writer, a device may never end: named explicitly,
            // it is an error rather than something silently skipped.
            errors.push(format!(
                "{}: not a regular file or folder (a pipe, socket or device); not checked",
                root.display()
            ));
            continue;
        }
        let settings = resolver
            .settings_for(&absolute)
            .map_err(|e| e.to_string())?;
        if !discovery::keeps_named(&absolute, &settings, args.force_exclude) {
            continue;
        }
        if kind.is_file() {
            tasks.push(Task {
                path: absolute,
                settings,
            });
            continue;
        }
        discovery::walk(
            &absolute,
            &mut |path| resolver.settings_for(path).map_err(|e| e.to_string()),
            &mut |found| {
                match found {
                    Found::Python(path, settings) => tasks.push(Task {
                        path: path.to_path_buf(),
                        settings: settings.clone(),
                    }),
                    Found::Unreadable(error) => errors.push(error),
                    Found::Folder(_) => {}
                }
                ControlFlow::Continue(())
            },
        )?;
    }
    tasks.sort_by(|a, b| a.path.cmp(&b.path));
    tasks.dedup_by(|a, b| a.path == b.path);
    Ok(tasks)
}

/// Why a path named on the command line cannot be checked, in words: a missing file, a broken
/// link, a folder that may not be searched and a loop of links are different problems.
fn unusable_path(path: &Path, error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::NotFound {
        return if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink()) {
            "a symbolic link to a file or folder that does not exist".to_string()
        } else {
            "no such file or folder".to_string()
        };
    }
    if error.kind() == std::io::ErrorKind::PermissionDenied {
        return format!("permission denied ({error})");
    }
    format!("cannot be read: {error}")
}

fn display_path(path: &Path, cwd: &Path) -> String {
    let relative = path.strip_prefix(cwd).unwrap_or(path);
    let mut text = relative.display().to_string();
    if let Some(stripped) = text.strip_prefix("./") {
        text = stripped.to_string();
    }
    text
}
