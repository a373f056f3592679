//! The rule model and its compact binary encoding.
//!
//! Rules are written in YAML (the default deny list, user configuration) and compiled into a
//! small binary form that the library reads in place, with no parsing library and no
//! relocations. This file is also compiled into the build script, which encodes the default
//! deny list at build time.
//!
//! Encoding (all integers little-endian; `str` is a u16 length then bytes; `list` is a u16
//! count then items):
//! ```text
//! "APMR" u8 version
//! u16 rule count, then per rule:
//!   str id, str description, str runtime ("" = any), u8 action (0 deny, 1 allow)
//!   u8 alternative count, then per alternative: u8 clause count, then per clause:
//!     u8 kind, then: Exe/Program/Module/Options/Cwd/Subcommand: list of str;
//!                    Arg: u16 position (0xffff = any), list of str;
//!                    Env: str name glob, u8 has value, str value glob; NoProgram: nothing
//! ```

use alloc::string::String;
use alloc::vec::Vec;

/// Magic bytes that start every compiled rule set.
pub const MAGIC: &[u8; 4] = b"APMR";
/// Version of the encoding.
pub const VERSION: u8 = 1;
/// `position` value meaning "at any position".
pub const ANY_POSITION: u16 = u16::MAX;

/// What a matching rule decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Do not instrument.
    Deny = 0,
    /// Instrument (user rules only).
    Allow = 1,
}

/// One condition on a process; all clauses of an alternative must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clause {
    /// The executable path matches one of these globs, e.g. `**/keytool`.
    Exe(Vec<String>),
    /// The program the runtime runs (script, jar, main class) matches one of these globs.
    Program(Vec<String>),
    /// The runtime runs no program at all (e.g. `java -showversion` alone).
    NoProgram,
    /// The module run with `-m` (Python) or `--module` (Java) matches one of these globs.
    Module(Vec<String>),
    /// One of these exact words is among the runtime's own options (before the program).
    Options(Vec<String>),
    /// An argument at `position` (argv index, 0 = the command; `None` = any) matches a glob.
    Arg {
        /// argv index to look at, or any.
        position: Option<u16>,
        /// Globs, any of which may match.
        patterns: Vec<String>,
    },
    /// An environment variable whose name matches `name` is present (and, if `value` is set,
    /// has a value matching that glob).
    Env {
        /// Glob on the variable name.
        name: String,
        /// Glob on the value; `None` means present with any value.
        value: Option<String>,
    },
    /// The working directory matches one of these globs.
    Cwd(Vec<String>),
    /// The program's first argument (its subcommand, e.g. `install` in `bundle install`)
    /// matches one of these globs.
    Subcommand(Vec<String>),
}

impl Clause {
    /// The byte that tags this clause in the encoding.
    pub fn kind(&self) -> u8 {
        match self {
            Clause::Exe(_) => 1,
            Clause::Program(_) => 2,
            Clause::NoProgram => 3,
            Clause::Module(_) => 4,
            Clause::Options(_) => 5,
            Clause::Arg { .. } => 6,
            Clause::Env { .. } => 7,
            Clause::Cwd(_) => 8,
            Clause::Subcommand(_) => 9,
        }
    }
}

/// A named rule: it applies when any of its alternatives holds entirely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable identifier used as the skip reason, e.g. `java_version`.
    pub id: String,
    /// One sentence for people reading `explain`.
    pub description: String,
    /// Runtime the rule is about (`java`, `node`, `python`, …), or `None` for any.
    pub runtime: Option<String>,
    /// Deny or allow.
    pub action: Action,
    /// Alternatives (OR) of clause lists (AND).
    pub alternatives: Vec<Vec<Clause>>,
}

/// Encodes `rules`, or says which field is too large for the encoding.
pub fn encode(rules: &[Rule]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    put_count(&mut out, rules.len(), "rules")?;
    for rule in rules {
        put_str(&mut out, &rule.id)?;
        put_str(&mut out, &rule.description)?;
        put_str(&mut out, rule.runtime.as_deref().unwrap_or(""))?;
        out.push(rule.action as u8);
        let alternatives = u8::try_from(rule.alternatives.len())
            .map_err(|_| [&rule.id, ": too many alternatives"].concat())?;
        out.push(alternatives);
        for clauses in &rule.alternatives {
            let count = u8::try_from(clauses.len())
                .map_err(|_| [&rule.id, ": too many conditions"].concat())?;
            out.push(count);
            for clause in clauses {
                out.push(clause.kind());
                match clause {
                    Clause::Exe(l)
                    | Clause::Program(l)
                    | Clause::Module(l)
                    | Clause::Options(l)
                    | Clause::Cwd(l)
                    | Clause::Subcommand(l) => put_list(&mut out, l)?,
                    Clause::NoProgram => {}
                    Clause::Arg { position, patterns } => {
                        out.extend_from_slice(&position.unwrap_or(ANY_POSITION).to_le_bytes());
                        put_list(&mut out, patterns)?;
                    }
                    Clause::Env { name, value } => {
                        put_str(&mut out, name)?;
                        out.push(value.is_some() as u8);
                        put_str(&mut out, value.as_deref().unwrap_or(""))?;
                    }
                }
            }
        }
    }
    Ok(out)
}

fn put_count(out: &mut Vec<u8>, n: usize, what: &str) -> Result<(), String> {
    // No `format!`: the library links this, and formatting machinery costs relocations.
    let n = u16::try_from(n).map_err(|_| ["too many ", what, " (at most 65535)"].concat())?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

/// Appends `s` as a u16 length and its bytes, or says it is too long.
pub fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
    put_count(out, s.len(), "bytes in one string")?;
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_list(out: &mut Vec<u8>, items: &[String]) -> Result<(), String> {
    put_count(out, items.len(), "patterns in one list")?;
    items.iter().try_for_each(|s| put_str(out, s))
}
