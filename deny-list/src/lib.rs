//! The default deny list and the rule matcher.
//!
//! `deny-list.yaml` (beside this crate's `Cargo.toml`) is compiled by `build.rs` into the
//! binary form of `contract::rules`, embedded as byte arrays: no parsing and no relocations
//! in the library, which every process loads. [`default_rules`] reads the whole list in place,
//! [`default_rules_for`] the part that can apply to one runtime (what a decision walks: three
//! rules for Python instead of twenty-two); [`first_match`] matches a process against any
//! compiled rule set.
#![no_std]
#![forbid(unsafe_code)]
#[cfg(test)]
extern crate std;

pub mod glob;
pub mod matcher;

pub use matcher::{applies, first_match, unmet_requirement, Subject};

use contract::rules::RuleSet;

include!(concat!(env!("OUT_DIR"), "/default_rules.rs"));

/// The built-in deny list.
pub fn default_rules() -> RuleSet<'static> {
    // The build script checked the encoding; an empty set is the fail-safe answer regardless.
    RuleSet::parse(&DEFAULT_RULES).unwrap_or(RuleSet::EMPTY)
}

/// The rules of the built-in deny list that can apply to `runtime` (its own and those for any
/// runtime), in the list's order: the first of them to match a process of that runtime is the
/// first of the whole list to match it.
pub fn default_rules_for(runtime: &str) -> RuleSet<'static> {
    RUNTIME_RULES
        .get(runtime_range(runtime))
        .and_then(RuleSet::parse)
        .unwrap_or(RuleSet::EMPTY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Each runtime's part is the whole list's rules for it or for any runtime, in order.
    #[test]
    fn each_runtime_walks_its_own_rules_in_the_lists_order() {
        let all = default_rules();
        let runtimes = ["dotnet", "java", "node", "php", "python", "ruby", "unknown"];
        for runtime in runtimes {
            let expected: Vec<&[u8]> = all
                .rules()
                .filter(|r| r.runtime.is_empty() || r.runtime == runtime.as_bytes())
                .map(|r| r.id)
                .collect();
            let got: Vec<&[u8]> = default_rules_for(runtime).rules().map(|r| r.id).collect();
            assert_eq!(got, expected, "{runtime}");
            assert!(
                runtime == "unknown" || !got.is_empty(),
                "{runtime} has rules"
            );
        }
        let total: usize = runtimes[..6]
            .iter()
            .map(|r| default_rules_for(r).rules().count())
            .sum();
        assert_eq!(
            total,
            all.rules().count(),
            "every rule belongs to one runtime"
        );
    }
}
