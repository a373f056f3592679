//! Reads compiled rule sets (see `model` for the encoding) in place and matches processes
//! against them. No allocation; malformed input is refused by `RuleSet::parse`, never trusted.

use crate::cursor::Cursor;
use crate::glob;
use crate::model::{Action, ANY_POSITION, MAGIC, VERSION};

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

/// A validated compiled rule set.
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

/// A list of strings: its items, as a cursor over exactly the list's bytes.
fn list<'a>(cursor: &mut Cursor<'a>) -> Option<List<'a>> {
    let count = cursor.u16()?;
    let start = cursor.0;
    for _ in 0..count {
        cursor.str()?;
    }
    let len = start.len() - cursor.0.len();
    Some(List {
        count,
        data: start.get(..len)?,
    })
}

/// A validated list of strings.
#[derive(Clone, Copy)]
struct List<'a> {
    count: u16,
    data: &'a [u8],
}

impl<'a> List<'a> {
    fn items(self) -> impl Iterator<Item = &'a [u8]> {
        let mut cursor = Cursor(self.data);
        (0..self.count).map_while(move |_| cursor.str())
    }
    fn any(self, f: impl FnMut(&'a [u8]) -> bool) -> bool {
        self.items().any(f)
    }
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

    /// The first rule (in order) that applies to `subject`.
    pub fn first_match(&self, subject: &Subject) -> Option<RuleRef<'a>> {
        self.rules().find(|rule| rule.applies_to(subject))
    }
}

fn read_rule<'a>(cursor: &mut Cursor<'a>) -> Option<RuleRef<'a>> {
    let id = cursor.str()?;
    let description = cursor.str()?;
    let runtime = cursor.str()?;
    let action = match cursor.u8()? {
        0 => Action::Deny,
        1 => Action::Allow,
        _ => return None,
    };
    let start = cursor.0;
    let alternatives = cursor.u8()?;
    for _ in 0..alternatives {
        let clauses = cursor.u8()?;
        for _ in 0..clauses {
            skip_clause(cursor)?;
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

fn skip_clause(cursor: &mut Cursor) -> Option<()> {
    match cursor.u8()? {
        1 | 2 | 4 | 5 | 8 | 9 => {
            list(cursor)?;
        }
        3 => {}
        6 => {
            cursor.u16()?;
            list(cursor)?;
        }
        7 => {
            cursor.str()?;
            if cursor.u8()? > 1 {
                return None;
            }
            cursor.str()?;
        }
        _ => return None,
    }
    Some(())
}

impl RuleRef<'_> {
    /// Whether the rule applies to `subject`: its runtime matches and one alternative holds.
    pub fn applies_to(&self, subject: &Subject) -> bool {
        if !self.runtime.is_empty() && self.runtime != subject.runtime.as_bytes() {
            return false;
        }
        let mut cursor = Cursor(self.alternatives);
        let alternatives = cursor.u8().unwrap_or(0);
        for _ in 0..alternatives {
            let Some(clauses) = cursor.u8() else {
                return false;
            };
            let mut all = true;
            for _ in 0..clauses {
                match clause_holds(&mut cursor, subject) {
                    Some(holds) => all &= holds,
                    None => return false,
                }
            }
            if all {
                return true;
            }
        }
        false
    }
}

/// Reads one clause and evaluates it; `None` only on malformed data.
fn clause_holds(cursor: &mut Cursor, s: &Subject) -> Option<bool> {
    let holds = match cursor.u8()? {
        1 => list(cursor)?.any(|p| glob::matches_path(p, s.exe)),
        2 => {
            let list = list(cursor)?;
            s.program
                .is_some_and(|prog| list.any(|p| glob::matches_path(p, prog)))
        }
        3 => s.program.is_none() && s.module.is_none(),
        4 => {
            let list = list(cursor)?;
            s.module
                .is_some_and(|m| list.any(|p| glob::matches_text(p, m)))
        }
        5 => {
            let list = list(cursor)?;
            s.options.iter().any(|o| list.any(|w| w == *o))
        }
        6 => {
            let position = cursor.u16()?;
            let list = list(cursor)?;
            if position == ANY_POSITION {
                s.args
                    .iter()
                    .skip(1)
                    .any(|a| list.any(|p| glob::matches_text(p, a)))
            } else {
                s.args
                    .get(position as usize)
                    .is_some_and(|a| list.any(|p| glob::matches_text(p, a)))
            }
        }
        7 => {
            let name = cursor.str()?;
            let has_value = cursor.u8()? == 1;
            let value = cursor.str()?;
            s.env.iter().any(|entry| {
                let (n, v) = split_entry(entry);
                glob::matches_text(name, n) && (!has_value || glob::matches_text(value, v))
            })
        }
        8 => {
            let list = list(cursor)?;
            s.cwd.is_some_and(|cwd| list.any(|p| glob::matches(p, cwd)))
        }
        9 => {
            let list = list(cursor)?;
            s.subcommand
                .is_some_and(|c| list.any(|p| glob::matches_text(p, c)))
        }
        _ => return None,
    };
    Some(holds)
}

/// Splits `NAME=value` at the first `=` (an entry without one is a name with empty value).
pub fn split_entry(entry: &[u8]) -> (&[u8], &[u8]) {
    match entry.iter().position(|&c| c == b'=') {
        Some(i) => (
            entry.get(..i).unwrap_or_default(),
            entry.get(i + 1..).unwrap_or_default(),
        ),
        None => (entry, &[]),
    }
}
