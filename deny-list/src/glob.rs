//! Glob patterns. On paths ([`matches`], [`matches_path`]): `*` is any run of characters
//! except `/`, `**` any run including `/`, `?` one character except `/`. On other text
//! ([`matches_text`]: arguments, variable names and values) `/` is an ordinary character, so
//! `-Dsolr.solr.home=*` matches `-Dsolr.solr.home=/var/solr`. Everything else is literal.
//!
//! A pattern with no `/` is matched against the last path component, so `keytool` matches
//! `/usr/lib/jvm/java-17/bin/keytool`; a pattern with a `/` is matched against the whole text,
//! e.g. `**/node_modules/npm/**`.

/// Whether `text` matches `pattern` (see the module docs for the path rule).
pub fn matches_path(pattern: &[u8], text: &[u8]) -> bool {
    if pattern.contains(&b'/') {
        matches(pattern, text)
    } else {
        let name = match text.iter().rposition(|&c| c == b'/') {
            Some(i) => text.get(i + 1..).unwrap_or_default(),
            None => text,
        };
        matches(pattern, name)
    }
}

/// Whether all of `text` matches `pattern`.
///
/// Iterative two-pointer matching, never recursive, so hostile inputs cannot blow the stack.
/// On a mismatch it retries from the last `*` (which cannot cross `/`, so earlier `*`s are
/// pinned to their component), and failing that from the last `**`.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    matches_with(pattern, text, b'/')
}

/// Whether all of `text` matches `pattern`, `/` being an ordinary character.
pub fn matches_text(pattern: &[u8], text: &[u8]) -> bool {
    // No byte is excluded from `*`: NUL never occurs in arguments or variables.
    matches_with(pattern, text, 0)
}

/// The matcher; `separator` is the byte `*` and `?` do not match.
fn matches_with(pattern: &[u8], text: &[u8], separator: u8) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // (pattern index after the star, text index the star's match ends at).
    let mut star: Option<(usize, usize)> = None;
    let mut double_star: Option<(usize, usize)> = None;
    loop {
        match (pattern.get(p), text.get(t)) {
            (Some(b'*'), _) => {
                if pattern.get(p + 1) == Some(&b'*') {
                    p += 2;
                    double_star = Some((p, t));
                    star = None;
                } else {
                    p += 1;
                    star = Some((p, t));
                }
            }
            (Some(b'?'), Some(&c)) if c != separator => {
                p += 1;
                t += 1;
            }
            (Some(&pc), Some(&tc)) if pc == tc && pc != b'?' => {
                p += 1;
                t += 1;
            }
            (None, None) => return true,
            _ => {
                if let Some((sp, st)) =
                    star.filter(|&(_, st)| text.get(st).is_some_and(|&c| c != separator))
                {
                    star = Some((sp, st + 1));
                    (p, t) = (sp, st + 1);
                } else if let Some((dp, dt)) = double_star.filter(|&(_, dt)| dt < text.len()) {
                    star = None;
                    double_star = Some((dp, dt + 1));
                    (p, t) = (dp, dt + 1);
                } else {
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_wildcards() {
        assert!(matches(b"java", b"java"));
        assert!(!matches(b"java", b"javac"));
        assert!(matches(b"pip3*", b"pip3.11"));
        assert!(matches(b"python?", b"python3"));
        assert!(!matches(b"*", b"a/b"));
        assert!(matches(b"**", b"a/b"));
        assert!(matches(b"**/java", b"/usr/lib/jvm/x/bin/java"));
        assert!(!matches(b"**/java", b"/usr/bin/javac"));
        assert!(matches(
            b"**/node_modules/npm/**",
            b"/usr/lib/node_modules/npm/bin/npm-cli.js"
        ));
        assert!(matches_text(
            b"-Dsolr.solr.home=*",
            b"-Dsolr.solr.home=/var/solr"
        ));
        assert!(matches(b"**/a*b", b"/a/a/ab"));
        assert!(matches(b"a**", b"a"));
        assert!(!matches(b"a*/b", b"ax/y/b"));
        assert!(matches(b"", b""));
        assert!(matches_text(
            b"*solr/server/start.jar",
            b"/opt/solr/server/start.jar"
        ));
        assert!(!matches(
            b"*solr/server/start.jar",
            b"/opt/solr/server/start.jar"
        ));
        assert!(!matches(b"", b"x"));
    }

    #[test]
    fn pattern_without_slash_matches_the_basename() {
        assert!(matches_path(
            b"keytool",
            b"/usr/lib/jvm/java-17/bin/keytool"
        ));
        assert!(matches_path(b"npm*", b"/usr/bin/npm"));
        assert!(!matches_path(b"bin/npm", b"/usr/bin/npm"));
        assert!(matches_path(b"**/bin/npm", b"/usr/bin/npm"));
    }

    #[test]
    fn hostile_patterns_stay_fast() {
        let text = std::vec![b'a'; 100_000];
        let pattern = b"*a*a*a*a*a*a*a*b";
        assert!(!matches(pattern, &text));
    }
}
