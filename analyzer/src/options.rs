//! Editing the two shapes of variable the runtimes read: whitespace-separated option strings
//! (`JAVA_TOOL_OPTIONS`, `NODE_OPTIONS`) and `:`-separated path lists (`PYTHONPATH`).
//!
//! Additions go at one end and removals take out only the library's own words, so the user's
//! value is always kept byte for byte: removing what was appended gives back the original.

use crate::decision::Edit;
use alloc::vec::Vec;

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Words of an option string, e.g. `["-Xmx1g", "-javaagent:/a.jar"]`.
pub fn words(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&c| is_space(c)).filter(|w| !w.is_empty())
}

/// `value` without the words for which `remove` holds, each with the whitespace before it;
/// `None` if no word was removed.
pub fn remove_words(value: &[u8], remove: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
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
pub fn append_word(value: Option<&[u8]>, word: &[u8]) -> Vec<u8> {
    match value {
        Some(v) if !v.iter().all(|&c| is_space(c)) => [v, b" ", word].concat(),
        _ => word.to_vec(),
    }
}

/// An option string with the words `ours` appended, the user's words kept and other additions
/// of ours (`is_ours`) taken out; `None` when all of `ours` are already there.
pub fn with_words(
    current: Option<&[u8]>,
    ours: &[&[u8]],
    is_ours: impl Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    if current.is_some_and(|v| ours.iter().all(|o| words(v).any(|w| w == *o))) {
        return None;
    }
    let user = current.map(|v| remove_words(v, is_ours).unwrap_or_else(|| v.to_vec()));
    Some(ours.iter().fold(user.unwrap_or_default(), |value, word| {
        append_word(Some(&value), word)
    }))
}

/// The edit that leaves `name` with `rest`: unset when nothing is left.
pub fn set_or_unset(name: &'static str, rest: Vec<u8>) -> Edit {
    if rest.is_empty() {
        Edit::Unset { name }
    } else {
        Edit::Set { name, value: rest }
    }
}

/// `value` without the `:`-separated entries for which `remove` holds; `None` if none was.
pub fn remove_entries(value: &[u8], remove: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    let kept: Vec<&[u8]> = value.split(|&c| c == b':').filter(|e| !remove(e)).collect();
    let total = value.split(|&c| c == b':').count();
    (kept.len() != total).then(|| kept.join(&b':'))
}

/// `entry`, then `:` and `value` if `value` is set and not empty.
pub fn prepend_entry(value: Option<&[u8]>, entry: &[u8]) -> Vec<u8> {
    match value {
        Some(v) if !v.is_empty() => [entry, b":", v].concat(),
        _ => entry.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_word_is_removed_leaving_the_original() {
        let original = &b"-Xmx1g  -Dx=1"[..];
        let added = append_word(Some(original), b"-javaagent:/a.jar");
        assert_eq!(added, b"-Xmx1g  -Dx=1 -javaagent:/a.jar");
        assert_eq!(
            remove_words(&added, |w| w == b"-javaagent:/a.jar").unwrap(),
            original
        );
        assert_eq!(append_word(None, b"w"), b"w");
        assert_eq!(append_word(Some(b"  "), b"w"), b"w");
    }

    #[test]
    fn removing_the_only_word_leaves_nothing() {
        assert_eq!(
            remove_words(b" -javaagent:/a.jar", |w| w.starts_with(b"-javaagent")).unwrap(),
            b""
        );
        assert_eq!(remove_words(b"-Xmx1g", |_| false), None);
    }

    #[test]
    fn path_entries() {
        assert_eq!(prepend_entry(Some(b"/app"), b"/lib"), b"/lib:/app");
        assert_eq!(prepend_entry(Some(b""), b"/lib"), b"/lib");
        assert_eq!(
            remove_entries(b"/lib:/app::/x", |e| e == b"/lib").unwrap(),
            b"/app::/x"
        );
        assert_eq!(remove_entries(b"/lib", |e| e == b"/lib").unwrap(), b"");
        assert_eq!(remove_entries(b"/app", |e| e == b"/lib"), None);
    }
}
