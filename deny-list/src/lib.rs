//! The default deny list and the rule matcher.
//!
//! `deny-list.yaml` (beside this crate's `Cargo.toml`) is compiled by `build.rs` into the
//! binary form described in [`model`], embedded as one byte array: no parsing and no
//! relocations in the library, which every process loads. [`default_rules`] reads it in place.
#![no_std]
#[cfg(test)]
extern crate std;

extern crate alloc;

pub mod compiled;
pub mod cursor;
pub mod glob;
pub mod model;

pub use compiled::{RuleRef, RuleSet, Subject};

include!(concat!(env!("OUT_DIR"), "/default_rules.rs"));

/// The built-in deny list.
pub fn default_rules() -> RuleSet<'static> {
    // The build script checked the encoding; an empty set is the fail-safe answer regardless.
    RuleSet::parse(&DEFAULT_RULES).unwrap_or(RuleSet::EMPTY)
}
