//! `inbatch rule CODE` and `inbatch rule --all`.

use super::{exit, print_stderr, print_stdout, RuleArgs};
use crate::engine::rules::{self, FixAvailability, RuleInfo};

pub fn run(args: &RuleArgs) -> u8 {
    if args.all {
        let pages: Vec<String> = rules::all().map(render).collect();
        return printed(&format!("{}\n", pages.join("\n---\n\n")));
    }
    let code = args.code.as_deref().unwrap_or_default();
    match rules::find(code) {
        Some(rule) => printed(&render(rule)),
        None => {
            let known: Vec<&str> = rules::all().map(|rule| rule.code).collect();
            print_stderr(&format!(
                "error: unknown rule `{code}` (known rules: {})\n",
                known.join(", ")
            ));
            exit::ERROR
        }
    }
}

/// The page shown by `inbatch rule`: title, metadata, then the documentation.
pub fn render(rule: &RuleInfo) -> String {
    let fix = match rule.fix {
        FixAvailability::None => "no fix",
        FixAvailability::Sometimes => "fix sometimes available",
        FixAvailability::Always => "fix always available",
    };
    let default = if rule.enabled_by_default {
        "On by default.".to_string()
    } else {
        format!(
            "Off by default (under 90 % precise on real code): turn it on with \
             `extend-select = [\"{code}\"]` in `[tool.inbatch]` or `--extend-select {code}`.",
            code = rule.code
        )
    };
    format!(
        "# {} ({})\n\n{}. Severity: {}; {}. {}\n\n{}",
        rule.name,
        rule.code,
        rule.summary,
        rule.severity.as_str(),
        fix,
        default,
        rule.documentation
    )
}

fn printed(text: &str) -> u8 {
    match print_stdout(text) {
        Ok(()) => exit::CLEAN,
        Err(error) => {
            print_stderr(&format!("error: {error}\n"));
            exit::ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_says_whether_the_rule_is_on_by_default() {
        let inb001 = render(rules::find("INB001").unwrap());
        assert!(
            inb001.contains("Off by default") && inb001.contains("--extend-select INB001"),
            "{inb001}"
        );
        assert!(!inb001.contains("On by default"), "{inb001}");
        let inb201 = render(rules::find("INB201").unwrap());
        assert!(inb201.contains("On by default."), "{inb201}");
    }
}
