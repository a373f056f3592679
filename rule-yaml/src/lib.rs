//! YAML front end for rules: a position-carrying tree ([`tree`]) and the rule conditions read
//! from it ([`conditions`]), with `line:column` errors and strict validation (tabs, duplicate
//! keys, unknown keys and wrong types are errors).
//!
//! `tree.rs` and `conditions.rs` are also compiled into `deny-list/build.rs`, which turns the
//! default deny list into the library's binary form: one reading of the rule language for the
//! built-in list and for users' files. They refer to the rule model as `crate::model`.

pub mod conditions;
pub mod tree;

pub use deny_list::model;
