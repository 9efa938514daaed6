//! `inbatch rule CODE` and `inbatch rule --all`.

use super::{exit, print_stderr, print_stdout, RuleArgs};
use crate::engine::rules;

pub fn run(args: &RuleArgs) -> u8 {
    if args.all {
        let pages: Vec<String> = rules::all().map(|rule| rule.page()).collect();
        return printed(&format!("{}\n", pages.join("\n---\n\n")));
    }
    let code = args.code.as_deref().unwrap_or_default();
    match rules::find(code) {
        Some(rule) => printed(&rule.page()),
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
    use crate::engine::rules;

    #[test]
    fn the_page_says_whether_the_rule_is_on_by_default() {
        let inb001 = rules::find("INB001").unwrap().page();
        assert!(
            inb001.contains("Off by default") && inb001.contains("--extend-select INB001"),
            "{inb001}"
        );
        assert!(!inb001.contains("On by default"), "{inb001}");
        let inb201 = rules::find("INB201").unwrap().page();
        assert!(inb201.contains("On by default."), "{inb201}");
    }
}
