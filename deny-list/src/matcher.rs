//! Matches processes against compiled rule sets (see `contract::rules` for the encoding):
//! the default deny list, users' rules and `requirements.json` deny entries. No allocation.

use crate::glob;
use contract::rules::{Action, ClauseRef, RuleRef, RuleSet};

/// What a rule is matched against: one process, as the analyzer understands it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Subject<'a> {
    /// Runtime name, e.g. `java`.
    pub runtime: &'a str,
    /// Resolved executable path, e.g. `/usr/lib/jvm/java-17-openjdk-amd64/bin/java`.
    pub exe: &'a [u8],
    /// The whole command line; `args[0]` is the command as invoked.
    pub args: &'a [&'a [u8]],
    /// The runtime's own options, before the program, e.g. `["-Xmx1g", "-version"]`.
    pub options: &'a [&'a [u8]],
    /// The program run: script path, jar path or main class.
    pub program: Option<&'a [u8]>,
    /// The module run (`python -m pip`, `java -m app/Main`).
    pub module: Option<&'a [u8]>,
    /// Environment entries, `NAME=value`.
    pub env: &'a [&'a [u8]],
    /// Working directory, if known.
    pub cwd: Option<&'a [u8]>,
    /// The program's first argument, e.g. `install` in `ruby /usr/bin/bundle install`.
    pub subcommand: Option<&'a [u8]>,
}

/// The first rule of `rules` (in order) that applies to `subject`.
pub fn first_match<'a>(rules: &RuleSet<'a>, subject: &Subject) -> Option<RuleRef<'a>> {
    rules
        .rules()
        .find(|rule| rule.action != Action::Require && applies(rule, subject))
}

/// The first requirement (`Action::Require`) of `rules` that does not apply to `subject`.
pub fn unmet_requirement<'a>(rules: &RuleSet<'a>, subject: &Subject) -> Option<RuleRef<'a>> {
    rules
        .rules()
        .find(|rule| rule.action == Action::Require && !applies(rule, subject))
}

/// Whether `rule` applies to `subject`: its runtime matches and one alternative holds.
pub fn applies(rule: &RuleRef, subject: &Subject) -> bool {
    if !rule.runtime.is_empty() && rule.runtime != subject.runtime.as_bytes() {
        return false;
    }
    rule.alternatives()
        .any(|mut clauses| clauses.all(|clause| holds(clause, subject)))
}

/// Whether one clause holds for `s`.
fn holds(clause: ClauseRef, s: &Subject) -> bool {
    match clause {
        ClauseRef::Exe(list) => list.any(|p| glob::matches_path(p, s.exe)),
        ClauseRef::Program(list) => s
            .program
            .is_some_and(|prog| list.any(|p| glob::matches_path(p, prog))),
        ClauseRef::NoProgram => s.program.is_none() && s.module.is_none(),
        ClauseRef::Module(list) => s
            .module
            .is_some_and(|m| list.any(|p| glob::matches_text(p, m))),
        ClauseRef::Options(list) => s.options.iter().any(|o| list.any(|w| w == *o)),
        ClauseRef::Arg {
            position: None,
            patterns,
        } => s
            .args
            .iter()
            .skip(1)
            .any(|a| patterns.any(|p| glob::matches_text(p, a))),
        ClauseRef::Arg {
            position: Some(position),
            patterns,
        } => s
            .args
            .get(position as usize)
            .is_some_and(|a| patterns.any(|p| glob::matches_text(p, a))),
        ClauseRef::Env { name, value } => s.env.iter().any(|entry| {
            let (n, v) = split_entry(entry);
            glob::matches_text(name, n) && value.is_none_or(|value| glob::matches_text(value, v))
        }),
        ClauseRef::Cwd(list) => s.cwd.is_some_and(|cwd| list.any(|p| glob::matches(p, cwd))),
        ClauseRef::Subcommand(list) => s
            .subcommand
            .is_some_and(|c| list.any(|p| glob::matches_text(p, c))),
    }
}

/// Splits `NAME=value` at the first `=` (an entry without one is a name with empty value).
fn split_entry(entry: &[u8]) -> (&[u8], &[u8]) {
    match entry.iter().position(|&c| c == b'=') {
        Some(i) => (
            entry.get(..i).unwrap_or_default(),
            entry.get(i + 1..).unwrap_or_default(),
        ),
        None => (entry, &[]),
    }
}
