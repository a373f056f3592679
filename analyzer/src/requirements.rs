//! `requirements.json`: the guardrails a library package ships.
//!
//! ```text
//! {"version":1,
//!  "native_deps":{"glibc":[{"arch":"x64","supported":true,"min":"2.17"}],"musl":[{"arch":"x64","supported":false}]},
//!  "deny":[{"id":"java_version","description":"…","cmds":["**/java"],
//!           "args":[{"args":["-version"],"position":1}],"envars":null}]}
//! ```
//! `native_deps`: the process's libc must be listed for this architecture, supported, and not
//! older than `min` (an unknown libc version passes). `deny`: an entry applies when one of its
//! `cmds` globs matches the executable, each `args` item has one of its globs at `position`
//! (argv index, 0 is the command; null: anywhere) and each `envars` variable is present (null)
//! or matches its value glob. A file that cannot be read or parsed blocks injection: the
//! tracer's guardrails cannot be checked.

use crate::decision::Reason;
use crate::json::{self, Value};
use crate::process::{major_minor, Process};
use alloc::string::String;
use alloc::vec::Vec;
use contract::layout::REQUIREMENTS;
use contract::rules::{encode, Action, Clause, Rule, RuleSet};
use deny_list::Subject;

/// Largest file read.
pub const LIMIT: usize = 256 << 10;
/// This machine's architecture as `requirements.json` names it.
pub const ARCH: &str = if cfg!(target_arch = "aarch64") {
    "arm64"
} else {
    "x64"
};

/// Checks `text` (the file's contents) for `process`.
pub fn check(text: &[u8], process: &Process, subject: &Subject) -> Result<(), Reason> {
    let doc = json::parse(text).ok_or(Reason::InvalidRequirements)?;
    if let Some(deps) = doc.get("native_deps") {
        native_deps(deps, process)?;
    }
    let rules: Vec<Rule> = doc
        .get("deny")
        .map(Value::items)
        .unwrap_or_default()
        .iter()
        .filter_map(rule)
        .collect();
    let compiled = encode(&rules).map_err(|_| Reason::InvalidRequirements)?;
    let set = RuleSet::parse(&compiled).ok_or(Reason::InvalidRequirements)?;
    match deny_list::first_match(&set, subject) {
        Some(r) => Err(Reason::Rule {
            id: String::from_utf8_lossy(r.id).into_owned(),
            description: String::from_utf8_lossy(r.description).into_owned(),
            source: String::from(REQUIREMENTS),
        }),
        None => Ok(()),
    }
}

fn native_deps(deps: &Value, process: &Process) -> Result<(), Reason> {
    let entries = deps
        .get(process.libc.flavor.name())
        .map(Value::items)
        .unwrap_or_default();
    let entry = entries
        .iter()
        .find(|e| e.get("arch").and_then(Value::as_str) == Some(ARCH.as_bytes()));
    let Some(entry) = entry else {
        return Err(Reason::IncompatibleLibc);
    };
    if entry.get("supported") != Some(&Value::Bool(true)) {
        return Err(Reason::IncompatibleLibc);
    }
    let min = entry
        .get("min")
        .and_then(Value::as_str)
        .and_then(major_minor);
    match (min, process.libc.version) {
        (Some(min), Some(have)) if have < min => Err(Reason::IncompatibleLibc),
        _ => Ok(()),
    }
}

/// A `deny` entry as a rule; `None` for an entry without id or without any condition.
fn rule(entry: &Value) -> Option<Rule> {
    let text = |v: &Value| v.as_str().map(|s| String::from_utf8_lossy(s).into_owned());
    let mut clauses = Vec::new();
    let cmds: Vec<String> = entry
        .get("cmds")
        .map(Value::items)
        .unwrap_or_default()
        .iter()
        .filter_map(text)
        .collect();
    if !cmds.is_empty() {
        clauses.push(Clause::Exe(cmds));
    }
    for arg in entry.get("args").map(Value::items).unwrap_or_default() {
        let patterns: Vec<String> = arg
            .get("args")
            .map(Value::items)
            .unwrap_or_default()
            .iter()
            .filter_map(text)
            .collect();
        let position = match arg.get("position") {
            Some(Value::Number(n)) => Some(core::str::from_utf8(n).ok()?.parse().ok()?),
            _ => None,
        };
        clauses.push(Clause::Arg { position, patterns });
    }
    if let Some(Value::Object(vars)) = entry.get("envars") {
        for (name, value) in vars {
            clauses.push(Clause::Env {
                name: String::from_utf8_lossy(name).into_owned(),
                value: text(value),
            });
        }
    }
    let id = entry.get("id").and_then(text)?;
    (!clauses.is_empty()).then(|| Rule {
        id,
        description: entry.get("description").and_then(text).unwrap_or_default(),
        runtime: None,
        action: Action::Deny,
        alternatives: alloc::vec![clauses],
    })
}
