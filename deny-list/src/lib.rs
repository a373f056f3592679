//! The default deny list and the rule matcher.
//!
//! `deny-list.yaml` (beside this crate's `Cargo.toml`) is compiled by `build.rs` into the
//! binary form of `contract::rules`, embedded as one byte array: no parsing and no
//! relocations in the library, which every process loads. [`default_rules`] reads it in place;
//! [`first_match`] matches a process against it or any other compiled rule set.
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
