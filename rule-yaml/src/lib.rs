//! YAML front end for rules: a position-carrying tree ([`tree`]) and the rule conditions read
//! from it ([`conditions`]), with `line:column` errors and strict validation (tabs, duplicate
//! keys, unknown keys and wrong types are errors).
//!
//! One reading of the rule language for the built-in deny list (`deny-list/build.rs` uses this
//! crate as a build dependency) and for users' files (`apm-inject config`); both produce the
//! model of `contract::rules`.
#![forbid(unsafe_code)]

pub mod conditions;
pub mod tree;
