//! The variable each runtime loads its tracer through, and the shapes such a variable has:
//! whitespace-separated options (`JAVA_TOOL_OPTIONS`, `NODE_OPTIONS`, `RUBYOPT`), `:`-separated
//! path lists (`PYTHONPATH`, `PHP_INI_SCAN_DIR`), or one path (`CORECLR_PROFILER_PATH`).
//!
//! A runtime module declares its [`Variable`] and which items of it are the library's own (its
//! marker, `Language::is_ours`); adding and taking out is shared here. Additions go at one end
//! and removals take out only the library's own items, so the user's value is always kept byte
//! for byte: removing what was added gives back the original, and adding twice adds nothing.

use crate::decision::Edit;
use crate::process::Process;
use alloc::vec::Vec;

/// How a variable's value is made of items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Whitespace-separated words; ours are appended, e.g.
    /// `-Xmx1g -javaagent:<lib>/dd-java-agent.jar`.
    Words,
    /// A `:`-separated path list where ours comes first (`PYTHONPATH`: the first
    /// `sitecustomize` found wins); no empty entry is ever added (it would mean the working
    /// directory).
    PathsFirst,
    /// A `:`-separated path list where ours comes last; an unset variable becomes `:<ours>`,
    /// whose empty entry keeps the runtime's default (`PHP_INI_SCAN_DIR`).
    PathsLast,
    /// One path.
    Path,
}

/// A variable the tracer is loaded through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Its name, e.g. `JAVA_TOOL_OPTIONS`.
    pub name: &'static str,
    /// How its value is made of items.
    pub shape: Shape,
}

impl Variable {
    /// Whether the library directory `lib` can be written into this variable: no whitespace or
    /// quotes among words, no `:` in a path list.
    pub fn can_hold(&self, lib: &[u8]) -> bool {
        match self.shape {
            Shape::Words => plain_path(lib),
            Shape::PathsFirst | Shape::PathsLast => !lib.contains(&b':'),
            Shape::Path => true,
        }
    }

    /// The items of `value`: its words or its entries.
    pub fn items<'v>(&self, value: &'v [u8]) -> impl Iterator<Item = &'v [u8]> {
        let words = self.shape == Shape::Words;
        value
            .split(move |&c| if words { is_space(c) } else { c == b':' })
            .filter(move |item| !(words && item.is_empty()))
    }

    /// The edit that takes the items for which `is_ours` holds out of the process's value
    /// (unset when nothing is left); `None` if there are none.
    pub fn remove(&self, process: &Process, is_ours: impl Fn(&[u8]) -> bool) -> Option<Edit> {
        let rest = self.without(process.var(self.name)?, is_ours)?;
        Some(if rest.is_empty() {
            Edit::Unset { name: self.name }
        } else {
            Edit::Set {
                name: self.name,
                value: rest,
            }
        })
    }

    /// The edit that adds `ours` to the process's value, keeping the user's items and taking
    /// out other items of ours (`is_ours`); `None` when `ours` are already where they belong.
    pub fn add(
        &self,
        process: &Process,
        ours: &[&[u8]],
        is_ours: impl Fn(&[u8]) -> bool,
    ) -> Option<Edit> {
        let current = process.var(self.name);
        if ours.is_empty() || current.is_some_and(|v| self.holds(v, ours)) {
            return None;
        }
        let user = current.map(|v| self.without(v, &is_ours).unwrap_or_else(|| v.to_vec()));
        let value = match self.shape {
            Shape::Words => ours.iter().fold(user.unwrap_or_default(), |value, word| {
                append_word(Some(&value), word)
            }),
            Shape::PathsFirst => ours
                .iter()
                .rev()
                .fold(user.unwrap_or_default(), |value, entry| {
                    prepend_entry(Some(&value), entry)
                }),
            Shape::PathsLast => ours.iter().fold(user.unwrap_or_default(), |value, entry| {
                [&value[..], b":", entry].concat()
            }),
            Shape::Path => ours.concat(),
        };
        Some(Edit::Set {
            name: self.name,
            value,
        })
    }

    /// Whether `value` already has `ours` where they belong: among the words, first in a list
    /// that puts ours first, anywhere in one that puts ours last, as the whole path.
    fn holds(&self, value: &[u8], ours: &[&[u8]]) -> bool {
        match self.shape {
            Shape::Words | Shape::PathsLast => ours
                .iter()
                .all(|o| self.items(value).any(|item| item == *o)),
            Shape::PathsFirst => self.items(value).take(ours.len()).eq(ours.iter().copied()),
            Shape::Path => ours.concat() == value,
        }
    }

    /// `value` without the items for which `remove` holds; `None` if there were none.
    fn without(&self, value: &[u8], remove: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        match self.shape {
            Shape::Words => remove_words(value, remove),
            Shape::PathsFirst | Shape::PathsLast => remove_entries(value, remove),
            Shape::Path => remove(value).then(Vec::new),
        }
    }
}

/// Whether `path` can be put in an option string unquoted.
fn plain_path(path: &[u8]) -> bool {
    !path
        .iter()
        .any(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b'\\'))
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Words of an option string, e.g. `["-Xmx1g", "-javaagent:/a.jar"]`.
pub fn words(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&c| is_space(c)).filter(|w| !w.is_empty())
}

/// `value` without the words for which `remove` holds, each with the whitespace before it;
/// `None` if no word was removed.
fn remove_words(value: &[u8], remove: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len());
    let mut removed = false;
    let mut i = 0;
    while i < value.len() {
        let space_end = value[i..]
            .iter()
            .position(|&c| !is_space(c))
            .map_or(value.len(), |n| i + n);
        let word_end = value[space_end..]
            .iter()
            .position(|&c| is_space(c))
            .map_or(value.len(), |n| space_end + n);
        let word = &value[space_end..word_end];
        if !word.is_empty() && remove(word) {
            removed = true;
        } else {
            out.extend_from_slice(&value[i..word_end]);
        }
        i = word_end;
    }
    if removed && out.iter().all(|&c| is_space(c)) {
        out.clear();
    }
    removed.then_some(out)
}

/// `value` followed by a space and `word` (just `word` when `value` is unset or blank).
fn append_word(value: Option<&[u8]>, word: &[u8]) -> Vec<u8> {
    match value {
        Some(v) if !v.iter().all(|&c| is_space(c)) => [v, b" ", word].concat(),
        _ => word.to_vec(),
    }
}

/// `value` without the `:`-separated entries for which `remove` holds; `None` if none was.
fn remove_entries(value: &[u8], remove: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    let kept: Vec<&[u8]> = value.split(|&c| c == b':').filter(|e| !remove(e)).collect();
    let total = value.split(|&c| c == b':').count();
    (kept.len() != total).then(|| kept.join(&b':'))
}

/// `entry`, then `:` and `value` if `value` is set and not empty.
fn prepend_entry(value: Option<&[u8]>, entry: &[u8]) -> Vec<u8> {
    match value {
        Some(v) if !v.is_empty() => [entry, b":", v].concat(),
        _ => entry.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn process(env: &[&'static [u8]]) -> Process<'static> {
        Process {
            env: env.to_vec(),
            ..Process::default()
        }
    }

    fn value(edit: Option<Edit>) -> Option<Vec<u8>> {
        match edit? {
            Edit::Set { value, .. } => Some(value),
            Edit::Unset { .. } => Some(b"<unset>".to_vec()),
        }
    }

    const WORDS: Variable = Variable {
        name: "OPTS",
        shape: Shape::Words,
    };
    const FIRST: Variable = Variable {
        name: "PATHS",
        shape: Shape::PathsFirst,
    };
    const LAST: Variable = Variable {
        name: "PATHS",
        shape: Shape::PathsLast,
    };

    fn ours(item: &[u8]) -> bool {
        item.starts_with(b"/lib") || item.starts_with(b"-javaagent:/lib")
    }

    #[test]
    fn appended_word_is_removed_leaving_the_original() {
        let p = process(&[b"OPTS=-Xmx1g  -Dx=1"]);
        let added = value(WORDS.add(&p, &[b"-javaagent:/lib/a.jar"], ours)).unwrap();
        assert_eq!(added, b"-Xmx1g  -Dx=1 -javaagent:/lib/a.jar");
        let child = process(&[b"OPTS=-Xmx1g  -Dx=1 -javaagent:/lib/a.jar"]);
        assert_eq!(value(WORDS.remove(&child, ours)).unwrap(), b"-Xmx1g  -Dx=1");
        assert_eq!(WORDS.add(&child, &[b"-javaagent:/lib/a.jar"], ours), None);
        assert_eq!(
            value(WORDS.add(&process(&[]), &[b"w"], ours)).unwrap(),
            b"w"
        );
        assert_eq!(
            value(WORDS.add(&process(&[b"OPTS=  "]), &[b"w"], ours)).unwrap(),
            b"w"
        );
    }

    #[test]
    fn removing_the_only_word_leaves_nothing() {
        let p = process(&[b"OPTS= -javaagent:/lib/a.jar"]);
        assert_eq!(value(WORDS.remove(&p, ours)).unwrap(), b"<unset>");
        assert_eq!(WORDS.remove(&process(&[b"OPTS=-Xmx1g"]), ours), None);
    }

    #[test]
    fn path_lists_put_ours_first_or_last() {
        let p = process(&[b"PATHS=/app"]);
        assert_eq!(
            value(FIRST.add(&p, &[b"/lib"], ours)).unwrap(),
            b"/lib:/app"
        );
        assert_eq!(value(LAST.add(&p, &[b"/lib"], ours)).unwrap(), b"/app:/lib");
        assert_eq!(
            value(FIRST.add(&process(&[]), &[b"/lib"], ours)).unwrap(),
            b"/lib"
        );
        assert_eq!(
            value(LAST.add(&process(&[]), &[b"/lib"], ours)).unwrap(),
            b":/lib"
        );
        let moved = process(&[b"PATHS=/app:/lib"]);
        assert_eq!(
            value(FIRST.add(&moved, &[b"/lib"], ours)).unwrap(),
            b"/lib:/app"
        );
        assert_eq!(LAST.add(&moved, &[b"/lib"], ours), None);
        let inherited = process(&[b"PATHS=/lib:/app::/x"]);
        assert_eq!(value(FIRST.remove(&inherited, ours)).unwrap(), b"/app::/x");
        assert_eq!(
            value(FIRST.remove(&process(&[b"PATHS=/lib"]), ours)).unwrap(),
            b"<unset>"
        );
        assert_eq!(FIRST.remove(&p, ours), None);
        assert!(!FIRST.can_hold(b"/a:b") && WORDS.can_hold(b"/a:b") && !WORDS.can_hold(b"/a b"));
    }

    #[test]
    fn a_path_variable_is_ours_or_not() {
        let path = Variable {
            name: "P",
            shape: Shape::Path,
        };
        assert_eq!(
            path.add(&process(&[b"P=/lib/x.so"]), &[b"/lib/x.so"], ours),
            None
        );
        assert_eq!(
            value(path.add(&process(&[b"P=/other"]), &[b"/lib/x.so"], ours)).unwrap(),
            b"/lib/x.so"
        );
        assert_eq!(
            path.remove(&process(&[b"P=/lib/x.so"]), ours),
            Some(Edit::Unset { name: "P" })
        );
        assert_eq!(path.remove(&process(&[b"P=/other"]), ours), None);
        assert_eq!(
            vec![&b"a"[..], b"b"],
            WORDS.items(b" a  b ").collect::<Vec<_>>()
        );
    }
}
