//! The rule model and its compact binary encoding.
//!
//! Rules are written in YAML (the default deny list, user configuration) and compiled into a
//! small binary form that the library reads in place, with no parsing library and no
//! relocations: [`encode`] writes it (the deny list's build script, `apm-inject config apply`,
//! `requirements.json` deny entries), [`RuleSet::parse`] validates it and [`RuleRef`] reads it
//! (the matcher is `deny_list::first_match`).
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

use crate::cursor::Cursor;
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
    /// A process this rule does not apply to is not instrumented (the OpenTelemetry injector's
    /// `include_*` settings, read from its configuration file); never a first match.
    Require = 2,
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

/// The bytes that tag each kind of clause in the encoding.
mod kind {
    pub const EXE: u8 = 1;
    pub const PROGRAM: u8 = 2;
    pub const NO_PROGRAM: u8 = 3;
    pub const MODULE: u8 = 4;
    pub const OPTIONS: u8 = 5;
    pub const ARG: u8 = 6;
    pub const ENV: u8 = 7;
    pub const CWD: u8 = 8;
    pub const SUBCOMMAND: u8 = 9;
}

impl Clause {
    /// The byte that tags this clause in the encoding.
    pub fn kind(&self) -> u8 {
        match self {
            Clause::Exe(_) => kind::EXE,
            Clause::Program(_) => kind::PROGRAM,
            Clause::NoProgram => kind::NO_PROGRAM,
            Clause::Module(_) => kind::MODULE,
            Clause::Options(_) => kind::OPTIONS,
            Clause::Arg { .. } => kind::ARG,
            Clause::Env { .. } => kind::ENV,
            Clause::Cwd(_) => kind::CWD,
            Clause::Subcommand(_) => kind::SUBCOMMAND,
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

/// A validated compiled rule set, read in place.
#[derive(Clone, Copy, Debug)]
pub struct RuleSet<'a> {
    count: u16,
    body: &'a [u8],
}

/// One rule of a rule set.
#[derive(Clone, Copy, Debug)]
pub struct RuleRef<'a> {
    /// Stable identifier, e.g. `java_version`.
    pub id: &'a [u8],
    /// Human description.
    pub description: &'a [u8],
    /// Runtime the rule applies to; empty for any.
    pub runtime: &'a [u8],
    /// Deny or allow.
    pub action: Action,
    alternatives: &'a [u8],
}

/// One clause of a compiled rule, as [`Clause`] but borrowed from the encoding.
#[derive(Clone, Copy, Debug)]
pub enum ClauseRef<'a> {
    /// See [`Clause::Exe`].
    Exe(Patterns<'a>),
    /// See [`Clause::Program`].
    Program(Patterns<'a>),
    /// See [`Clause::NoProgram`].
    NoProgram,
    /// See [`Clause::Module`].
    Module(Patterns<'a>),
    /// See [`Clause::Options`].
    Options(Patterns<'a>),
    /// See [`Clause::Arg`].
    Arg {
        /// argv index to look at, or any.
        position: Option<u16>,
        /// Globs, any of which may match.
        patterns: Patterns<'a>,
    },
    /// See [`Clause::Env`].
    Env {
        /// Glob on the variable name.
        name: &'a [u8],
        /// Glob on the value; `None` means present with any value.
        value: Option<&'a [u8]>,
    },
    /// See [`Clause::Cwd`].
    Cwd(Patterns<'a>),
    /// See [`Clause::Subcommand`].
    Subcommand(Patterns<'a>),
}

/// A validated list of strings (patterns or words) inside a compiled rule.
#[derive(Clone, Copy, Debug)]
pub struct Patterns<'a> {
    count: u16,
    data: &'a [u8],
}

impl<'a> Patterns<'a> {
    /// The items, in order.
    pub fn items(self) -> impl Iterator<Item = &'a [u8]> {
        let mut cursor = Cursor(self.data);
        (0..self.count).map_while(move |_| cursor.str())
    }

    /// Whether `f` holds for one of the items.
    pub fn any(self, f: impl FnMut(&'a [u8]) -> bool) -> bool {
        self.items().any(f)
    }
}

/// Reads a list of strings, leaving the cursor after it.
fn patterns<'a>(cursor: &mut Cursor<'a>) -> Option<Patterns<'a>> {
    let count = cursor.u16()?;
    let start = cursor.0;
    for _ in 0..count {
        cursor.str()?;
    }
    let len = start.len() - cursor.0.len();
    Some(Patterns {
        count,
        data: start.get(..len)?,
    })
}

/// Reads one clause; `None` on malformed data.
fn read_clause<'a>(cursor: &mut Cursor<'a>) -> Option<ClauseRef<'a>> {
    Some(match cursor.u8()? {
        kind::EXE => ClauseRef::Exe(patterns(cursor)?),
        kind::PROGRAM => ClauseRef::Program(patterns(cursor)?),
        kind::NO_PROGRAM => ClauseRef::NoProgram,
        kind::MODULE => ClauseRef::Module(patterns(cursor)?),
        kind::OPTIONS => ClauseRef::Options(patterns(cursor)?),
        kind::ARG => {
            let position = cursor.u16()?;
            ClauseRef::Arg {
                position: (position != ANY_POSITION).then_some(position),
                patterns: patterns(cursor)?,
            }
        }
        kind::ENV => {
            let name = cursor.str()?;
            let has_value = match cursor.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let value = cursor.str()?;
            ClauseRef::Env {
                name,
                value: has_value.then_some(value),
            }
        }
        kind::CWD => ClauseRef::Cwd(patterns(cursor)?),
        kind::SUBCOMMAND => ClauseRef::Subcommand(patterns(cursor)?),
        _ => return None,
    })
}

/// Reads one rule, checking all its clauses; `None` on malformed data.
fn read_rule<'a>(cursor: &mut Cursor<'a>) -> Option<RuleRef<'a>> {
    let id = cursor.str()?;
    let description = cursor.str()?;
    let runtime = cursor.str()?;
    let action = match cursor.u8()? {
        0 => Action::Deny,
        1 => Action::Allow,
        2 => Action::Require,
        _ => return None,
    };
    let start = cursor.0;
    let alternatives = cursor.u8()?;
    for _ in 0..alternatives {
        let clauses = cursor.u8()?;
        for _ in 0..clauses {
            read_clause(cursor)?;
        }
    }
    let len = start.len() - cursor.0.len();
    Some(RuleRef {
        id,
        description,
        runtime,
        action,
        alternatives: start.get(..len)?,
    })
}

impl<'a> RuleSet<'a> {
    /// A rule set with no rules.
    pub const EMPTY: RuleSet<'static> = RuleSet {
        count: 0,
        body: &[],
    };

    /// Validates `data` as a compiled rule set; `None` if it is malformed in any way.
    pub fn parse(data: &'a [u8]) -> Option<RuleSet<'a>> {
        let mut cursor = Cursor(data);
        if cursor.take(4)? != MAGIC || cursor.u8()? != VERSION {
            return None;
        }
        let count = cursor.u16()?;
        let body = cursor.0;
        for _ in 0..count {
            read_rule(&mut cursor)?;
        }
        cursor.0.is_empty().then_some(RuleSet { count, body })
    }

    /// The rules, in order.
    pub fn rules(&self) -> impl Iterator<Item = RuleRef<'a>> {
        let mut cursor = Cursor(self.body);
        (0..self.count).map_while(move |_| read_rule(&mut cursor))
    }
}

impl<'a> RuleRef<'a> {
    /// The rule's alternatives (any of which makes it apply), each an iterator over its
    /// clauses (all of which must hold).
    pub fn alternatives(&self) -> impl Iterator<Item = impl Iterator<Item = ClauseRef<'a>>> {
        let mut cursor = Cursor(self.alternatives);
        let count = cursor.u8().unwrap_or(0);
        (0..count).map_while(move |_| {
            let clauses = cursor.u8()?;
            let mut alternative = cursor;
            for _ in 0..clauses {
                read_clause(&mut cursor)?;
            }
            Some((0..clauses).map_while(move |_| read_clause(&mut alternative)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn strings(p: Patterns) -> Vec<String> {
        p.items()
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect()
    }

    fn text(s: &[u8]) -> String {
        String::from_utf8(s.to_vec()).unwrap()
    }

    /// The model again, from the encoding.
    fn decode(set: &RuleSet) -> Vec<Rule> {
        set.rules()
            .map(|r| Rule {
                id: text(r.id),
                description: text(r.description),
                runtime: (!r.runtime.is_empty()).then(|| text(r.runtime)),
                action: r.action,
                alternatives: r
                    .alternatives()
                    .map(|clauses| {
                        clauses
                            .map(|c| match c {
                                ClauseRef::Exe(p) => Clause::Exe(strings(p)),
                                ClauseRef::Program(p) => Clause::Program(strings(p)),
                                ClauseRef::NoProgram => Clause::NoProgram,
                                ClauseRef::Module(p) => Clause::Module(strings(p)),
                                ClauseRef::Options(p) => Clause::Options(strings(p)),
                                ClauseRef::Arg { position, patterns } => Clause::Arg {
                                    position,
                                    patterns: strings(patterns),
                                },
                                ClauseRef::Env { name, value } => Clause::Env {
                                    name: text(name),
                                    value: value.map(text),
                                },
                                ClauseRef::Cwd(p) => Clause::Cwd(strings(p)),
                                ClauseRef::Subcommand(p) => Clause::Subcommand(strings(p)),
                            })
                            .collect()
                    })
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn every_clause_round_trips_and_corruption_is_refused() {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rules = vec![
            Rule {
                id: "java_version".into(),
                description: "prints the version".into(),
                runtime: Some("java".into()),
                action: Action::Deny,
                alternatives: vec![
                    vec![Clause::Options(list(&["-version", "--version"]))],
                    vec![Clause::NoProgram, Clause::Exe(list(&["**/java"]))],
                ],
            },
            Rule {
                id: "batch".into(),
                description: String::new(),
                runtime: None,
                action: Action::Allow,
                alternatives: vec![vec![
                    Clause::Program(list(&["*.jar"])),
                    Clause::Module(list(&["pip"])),
                    Clause::Arg {
                        position: Some(1),
                        patterns: list(&["-jar"]),
                    },
                    Clause::Arg {
                        position: None,
                        patterns: list(&["--batch", ""]),
                    },
                    Clause::Env {
                        name: "STAGE".into(),
                        value: Some("prod*".into()),
                    },
                    Clause::Env {
                        name: "BATCH".into(),
                        value: None,
                    },
                    Clause::Cwd(list(&["/srv/**"])),
                    Clause::Subcommand(list(&["install"])),
                ]],
            },
        ];
        let bytes = encode(&rules).unwrap();
        let set = RuleSet::parse(&bytes).unwrap();
        assert_eq!(decode(&set), rules);
        for cut in 0..bytes.len() {
            assert!(
                RuleSet::parse(&bytes[..cut]).is_none(),
                "truncated at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(RuleSet::parse(&extra).is_none());
        assert_eq!(
            RuleSet::parse(&encode(&[]).unwrap())
                .unwrap()
                .rules()
                .count(),
            0
        );
    }

    #[test]
    fn oversized_fields_are_refused_by_the_encoder() {
        let rule = Rule {
            id: "x".repeat(70_000),
            description: String::new(),
            runtime: None,
            action: Action::Deny,
            alternatives: vec![vec![Clause::NoProgram]],
        };
        assert!(encode(&[rule]).is_err());
    }
}
