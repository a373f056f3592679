//! Editing the content of `/etc/ld.so.preload`: pure functions over the file's bytes.
//!
//! glibc's loader reads the file as entries separated by spaces, tabs, newlines or `:`, with
//! `#` starting a comment that runs to the end of the line. Lines without an entry of ours are
//! kept byte for byte; a line holding one is rewritten with its other entries, in order, and
//! its comment. An entry of ours is any launcher path of this product, whatever the root or
//! version: `…/datadog-apm-inject/<version>/inject/$LIB/launcher.preload.so` (what install
//! writes), the same with `$LIB` expanded (one or two directories), without it
//! (`…/inject/launcher.preload.so`, written by earlier versions), or the older
//! `/opt/datadog/apm/inject/launcher.preload.so`; installing replaces any of them in place.

use contract::layout::{INJECT_DIR, INJECT_PACKAGE, LAUNCHER};
use contract::path::{file_name, parent};

/// Bytes that separate entries.
const SEPARATORS: &[u8] = b" \t\n:";
/// Our launcher path in the older Datadog layout.
const OLD_LAUNCHER: &[u8] = b"/opt/datadog/apm/inject/launcher.preload.so";

/// Whether `entry` is a launcher path of ours, e.g.
/// `/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so`.
pub fn is_ours(entry: &[u8]) -> bool {
    if entry.ends_with(OLD_LAUNCHER) {
        return true;
    }
    if file_name(entry) != LAUNCHER.as_bytes() {
        return false;
    }
    // `inject` itself, or up to two directories below it (`$LIB`, `lib64`, `lib/x86_64-linux-gnu`).
    let Some(version_dir) = std::iter::successors(parent(entry), |d| parent(d))
        .take(3)
        .find(|d| file_name(d) == INJECT_DIR.as_bytes())
        .and_then(parent)
    else {
        return false;
    };
    // A version directory with a name, in a directory named as the injector package.
    !file_name(version_dir).is_empty()
        && parent(version_dir).is_some_and(|package| {
            file_name(package) == INJECT_PACKAGE.as_bytes() && parent(package).is_some()
        })
}

/// The entries the loader would read, in order, e.g. `["/a.so", "/b.so"]`.
pub fn entries(content: &[u8]) -> Vec<&[u8]> {
    content
        .split(|&c| c == b'\n')
        .flat_map(|line| tokens(split_comment(line).0))
        .collect()
}

/// `content` listing `entry` exactly once: the first entry of ours becomes `entry` in place,
/// other entries of ours go; without one, `entry` is appended on a line of its own. The result
/// ends with a newline.
pub fn with_entry(content: &[u8], entry: &[u8]) -> Vec<u8> {
    let (mut out, placed) = rewrite(content, Some(entry));
    if !placed {
        out.extend_from_slice(entry);
        out.push(b'\n');
    }
    out
}

/// `content` without any entry of ours, or `None` if nothing but blank space would remain
/// (the file should then be removed).
pub fn without_ours(content: &[u8]) -> Option<Vec<u8>> {
    let (out, _) = rewrite(content, None);
    (!out.iter().all(u8::is_ascii_whitespace)).then_some(out)
}

/// Rewrites the lines holding entries of ours, putting `replacement` (if any) in place of the
/// first one. Returns the content, ending with a newline unless empty, and whether
/// `replacement` was placed.
fn rewrite(content: &[u8], replacement: Option<&[u8]>) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(content.len() + 80);
    let mut placed = false;
    for line in content.split_inclusive(|&c| c == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let (code, comment) = split_comment(body);
        if !tokens(code).any(is_ours) {
            out.extend_from_slice(body);
            out.push(b'\n');
            continue;
        }
        let mut kept: Vec<&[u8]> = Vec::new();
        for token in tokens(code) {
            if !is_ours(token) {
                kept.push(token);
            } else if let Some(entry) = replacement.filter(|_| !placed) {
                kept.push(entry);
                placed = true;
            }
        }
        if kept.is_empty() && comment.is_empty() {
            continue;
        }
        let mut words = kept;
        if !comment.is_empty() {
            words.push(comment);
        }
        out.extend_from_slice(&words.join(&b' '));
        out.push(b'\n');
    }
    (out, placed)
}

/// A line split into its entries and its `#` comment (empty if none).
fn split_comment(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|&c| c == b'#') {
        Some(i) => line.split_at(i),
        None => (line, &[]),
    }
}

fn tokens(code: &[u8]) -> impl Iterator<Item = &[u8]> {
    code.split(|c| SEPARATORS.contains(c))
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STABLE: &[u8] =
        b"/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so";

    fn add(content: &str) -> String {
        String::from_utf8(with_entry(content.as_bytes(), STABLE)).unwrap()
    }

    fn remove(content: &str) -> Option<String> {
        without_ours(content.as_bytes()).map(|c| String::from_utf8(c).unwrap())
    }

    #[test]
    fn our_paths_are_recognised() {
        assert!(is_ours(STABLE));
        assert!(is_ours(
            b"/opt/datadog-packages/datadog-apm-inject/0.9.1-1/inject/launcher.preload.so"
        ));
        assert!(is_ours(
            b"/srv/x/datadog-apm-inject/1.0/inject/launcher.preload.so"
        ));
        assert!(is_ours(b"/opt/datadog/apm/inject/launcher.preload.so"));
        assert!(is_ours(
            b"/opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so"
        ));
        assert!(is_ours(
            b"/opt/datadog-packages/datadog-apm-inject/stable/inject/lib/x86_64-linux-gnu/launcher.preload.so"
        ));
        assert!(!is_ours(
            b"/opt/datadog-packages/datadog-apm-inject/stable/inject/a/b/c/launcher.preload.so"
        ));
        assert!(!is_ours(b"/usr/lib/libfoo.so"));
        assert!(!is_ours(b"/opt/other/inject/launcher.preload.so"));
        assert!(!is_ours(
            b"/opt/datadog-packages/datadog-apm-inject/inject/launcher.preload.so"
        ));
        assert!(!is_ours(
            b"/opt/datadog-packages/not-datadog-apm-inject/1/inject/launcher.preload.so"
        ));
    }

    #[test]
    fn entry_is_added_to_a_missing_or_empty_file() {
        let expected = format!("{}\n", String::from_utf8_lossy(STABLE));
        assert_eq!(add(""), expected);
        assert_eq!(add("\n"), format!("\n{expected}"));
    }

    #[test]
    fn other_entries_keep_their_order_and_bytes() {
        let before = "/usr/lib/a.so\n# keep me\n\t/usr/lib/b.so  /usr/lib/c.so\n";
        let after = add(before);
        assert_eq!(
            after,
            format!("{before}{}\n", String::from_utf8_lossy(STABLE))
        );
    }

    #[test]
    fn missing_trailing_newline_is_handled() {
        assert_eq!(
            add("/usr/lib/a.so"),
            format!("/usr/lib/a.so\n{}\n", String::from_utf8_lossy(STABLE))
        );
    }

    #[test]
    fn reinstall_never_duplicates() {
        let once = add("/usr/lib/a.so\n");
        assert_eq!(add(&once), once);
    }

    #[test]
    fn older_path_is_replaced_in_place() {
        let stable = String::from_utf8_lossy(STABLE);
        assert_eq!(
            add("/a.so\n/opt/datadog/apm/inject/launcher.preload.so\n/b.so"),
            format!("/a.so\n{stable}\n/b.so\n")
        );
        assert_eq!(
            add("/a.so:/opt/datadog-packages/datadog-apm-inject/0.9/inject/launcher.preload.so /b.so # x\n"),
            format!("/a.so {stable} /b.so # x\n")
        );
    }

    #[test]
    fn an_entry_without_lib_is_migrated_in_place() {
        let stable = String::from_utf8_lossy(STABLE);
        let plain = "/opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so";
        assert_eq!(
            add(&format!("/a.so\n{plain}\n/b.so\n")),
            format!("/a.so\n{stable}\n/b.so\n")
        );
    }

    #[test]
    fn duplicates_of_ours_collapse_into_the_first() {
        let stable = String::from_utf8_lossy(STABLE);
        let old = "/opt/datadog/apm/inject/launcher.preload.so";
        assert_eq!(
            add(&format!("{old}\n/a.so\n{stable}\n")),
            format!("{stable}\n/a.so\n")
        );
    }

    #[test]
    fn a_comment_naming_our_path_is_not_an_entry() {
        let before = "# /opt/datadog/apm/inject/launcher.preload.so\n";
        assert!(entries(before.as_bytes()).is_empty());
        assert_eq!(remove(before).as_deref(), Some(before));
    }

    #[test]
    fn removal_keeps_others_and_drops_an_emptied_file() {
        let stable = String::from_utf8_lossy(STABLE);
        assert_eq!(
            remove(&format!("/a.so\n{stable}\n/b.so")).as_deref(),
            Some("/a.so\n/b.so\n")
        );
        assert_eq!(remove(&format!("{stable}\n")), None);
        assert_eq!(remove(&format!("\n{stable}\n\n")), None);
        assert_eq!(remove("/a.so\n").as_deref(), Some("/a.so\n"));
    }

    #[test]
    fn entries_follow_the_loaders_separators() {
        assert_eq!(
            entries(b"/a.so:/b.so\t/c.so # /d.so\n/e.so"),
            vec![&b"/a.so"[..], b"/b.so", b"/c.so", b"/e.so"]
        );
    }
}
