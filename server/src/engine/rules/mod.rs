//! The rule registry. Each rule lives in its own module with its documentation, its check and
//! its fix; adding a rule means adding its module and one line to [`REGISTRY`].

pub mod inb001_query_in_loop;
pub mod inb002_lazy_load_in_loop;
pub mod inb003_query_in_loop_via_call;
pub mod inb004_loop_invariant_query;
pub mod inb005_write_in_loop;
pub mod inb006_fk_through_relationship;
pub mod inb007_unused_eager_load;
pub mod inb101_quadratic_grouping;
pub mod inb102_lossy_grouping;
pub mod inb201_sum_over_nullable;
pub mod inb301_unbounded_in_list;
pub mod inb901_unused_suppression;

use super::diagnostic::Diagnostic;
use super::fix::Fix;
use super::index::ModelResolver;
pub use super::rule_info::{Category, FixAvailability, RuleInfo};
use super::semantic::calls::Summaries;
use super::semantic::SemanticModel;

/// What a rule's check reads.
pub struct Context<'m, 'a> {
    pub model: &'m SemanticModel<'a>,
    pub options: RuleOptions,
    pub index: &'m ModelResolver<'m>,
    /// The file's function summaries (with the project's, when checked in one), computed when
    /// INB003 runs or the project asks for them.
    pub summaries: Option<&'m Summaries<'a>>,
    pub fixes: Fixes,
}

/// The settings the rules read (the shells' [`super::settings::Settings`] make them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleOptions {
    /// Keys per chunk in the batched rewrites (`batch-size`).
    pub batch_size: usize,
    /// The database the queries run on (`database`), for its bind-parameter limit.
    pub database: Option<Database>,
}

/// The databases whose limits the rules know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Database {
    Postgresql,
    Sqlite,
    Mysql,
    Oracle,
    Mssql,
}

/// Whether a check builds fixes. Building and verifying a rewrite costs more than finding the
/// problem, so output that shows no fix (concise lines, an editor's diagnostics until a code
/// action or hover asks) skips it. Diagnostics are the same either way; only `fix` and
/// `no_fix_reason` stay empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixes {
    Build,
    Skip,
}

impl Context<'_, '_> {
    /// Gives `diagnostic` its fix, or the reason it has none, unless this check skips fixes.
    pub fn offer_fix(
        &self,
        diagnostic: &mut Diagnostic,
        build: impl FnOnce() -> Result<Fix, String>,
    ) {
        if self.fixes == Fixes::Skip {
            return;
        }
        match build() {
            Ok(fix) => diagnostic.fix = Some(fix),
            Err(reason) => diagnostic.no_fix_reason = Some(reason),
        }
    }
}

pub type CheckFn = fn(&Context<'_, '_>, &mut Vec<Diagnostic>);

pub struct RuleEntry {
    pub info: &'static RuleInfo,
    pub check: CheckFn,
}

pub static REGISTRY: &[RuleEntry] = &[
    RuleEntry {
        info: &inb001_query_in_loop::RULE,
        check: inb001_query_in_loop::check,
    },
    RuleEntry {
        info: &inb002_lazy_load_in_loop::RULE,
        check: inb002_lazy_load_in_loop::check,
    },
    RuleEntry {
        info: &inb006_fk_through_relationship::RULE,
        check: inb006_fk_through_relationship::check,
    },
    RuleEntry {
        info: &inb007_unused_eager_load::RULE,
        check: inb007_unused_eager_load::check,
    },
    RuleEntry {
        info: &inb101_quadratic_grouping::RULE,
        check: inb101_quadratic_grouping::check,
    },
    RuleEntry {
        info: &inb102_lossy_grouping::RULE,
        check: inb102_lossy_grouping::check,
    },
    RuleEntry {
        info: &inb201_sum_over_nullable::RULE,
        check: inb201_sum_over_nullable::check,
    },
    RuleEntry {
        info: &inb301_unbounded_in_list::RULE,
        check: inb301_unbounded_in_list::check,
    },
    RuleEntry {
        info: &inb004_loop_invariant_query::RULE,
        check: inb004_loop_invariant_query::check,
    },
    RuleEntry {
        info: &inb005_write_in_loop::RULE,
        check: inb005_write_in_loop::check,
    },
    RuleEntry {
        info: &inb901_unused_suppression::RULE,
        check: inb901_unused_suppression::check,
    },
    RuleEntry {
        info: &inb003_query_in_loop_via_call::RULE,
        check: inb003_query_in_loop_via_call::check,
    },
];

pub fn all() -> impl Iterator<Item = &'static RuleInfo> {
    REGISTRY.iter().map(|entry| entry.info)
}

/// Looks a rule up by code (`INB001`, case-insensitive) or name (`query-in-loop`).
pub fn find(code_or_name: &str) -> Option<&'static RuleInfo> {
    all().find(|rule| rule.code.eq_ignore_ascii_case(code_or_name) || rule.name == code_or_name)
}

/// A set of rules, one bit per registry entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleSet(u64);

impl RuleSet {
    pub fn all() -> RuleSet {
        RuleSet((1u64 << REGISTRY.len()) - 1)
    }

    /// The rules of a category.
    pub fn of_category(category: Category) -> RuleSet {
        let mut set = RuleSet::empty();
        for rule in all().filter(|rule| rule.category == category) {
            set.insert(rule);
        }
        set
    }

    /// The rules that run when nothing is selected.
    pub fn defaults() -> RuleSet {
        let mut set = RuleSet::empty();
        for rule in all().filter(|rule| rule.enabled_by_default) {
            set.insert(rule);
        }
        set
    }

    pub fn empty() -> RuleSet {
        RuleSet(0)
    }

    fn bit(rule: &RuleInfo) -> u64 {
        let index = REGISTRY
            .iter()
            .position(|entry| entry.info.code == rule.code)
            .expect("every RuleInfo is in the registry");
        1 << index
    }

    pub fn contains(self, rule: &RuleInfo) -> bool {
        self.0 & RuleSet::bit(rule) != 0
    }

    pub fn insert(&mut self, rule: &RuleInfo) {
        self.0 |= RuleSet::bit(rule);
    }

    pub fn remove(&mut self, rule: &RuleInfo) {
        self.0 &= !RuleSet::bit(rule);
    }

    pub fn union(self, other: RuleSet) -> RuleSet {
        RuleSet(self.0 | other.0)
    }

    pub fn difference(self, other: RuleSet) -> RuleSet {
        RuleSet(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Rules matching a selector: `ALL`, a full code, a code prefix such as `INB0`, or a rule's
    /// name. `None` when it matches no rule: a selector that names nothing is a typo, and taking
    /// it as "no rules" would turn every check off without a word.
    pub fn from_selector(selector: &str) -> Option<RuleSet> {
        let selector = selector.trim();
        if selector.eq_ignore_ascii_case("ALL") {
            return Some(RuleSet::all());
        }
        let mut set = RuleSet::empty();
        for rule in all() {
            let code_match = rule.code.len() >= selector.len()
                && rule.code[..selector.len()].eq_ignore_ascii_case(selector);
            if code_match || rule.name == selector {
                set.insert(rule);
            }
        }
        (!selector.is_empty() && !set.is_empty()).then_some(set)
    }

    /// [`RuleSet::from_selector`], with the error every shell reports for a selector that
    /// matches no rule.
    pub fn parse_selector(selector: &str) -> Result<RuleSet, String> {
        RuleSet::from_selector(selector).ok_or_else(|| unknown_selector(selector))
    }
}

/// "unknown rule selector `INB999` (known rules: ...)".
fn unknown_selector(selector: &str) -> String {
    let known: Vec<&str> = all().map(|rule| rule.code).collect();
    format!(
        "unknown rule selector `{selector}` (known rules: {}; a prefix such as `INB0`, a rule \
         name, or `ALL`)",
        known.join(", ")
    )
}

#[cfg(test)]
mod selector_tests {
    use super::*;

    #[test]
    fn selectors_must_match_a_rule() {
        assert_eq!(RuleSet::from_selector("ALL"), Some(RuleSet::all()));
        assert!(RuleSet::from_selector("INB0")
            .is_some_and(|set| set.contains(&inb001_query_in_loop::RULE)
                && !set.contains(&inb101_quadratic_grouping::RULE)));
        assert!(RuleSet::from_selector("query-in-loop")
            .is_some_and(|set| set.contains(&inb001_query_in_loop::RULE)));
        for typo in ["INB999", "INB4", "INB0011", "", "E501"] {
            assert_eq!(RuleSet::from_selector(typo), None, "{typo}");
        }
        let error = RuleSet::parse_selector("INB999").unwrap_err();
        assert!(
            error.contains("`INB999`") && error.contains("INB001"),
            "{error}"
        );
    }
}
