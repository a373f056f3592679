//! Paths as byte strings (what `/proc/self/exe`, argv and the environment give): no `std`, no
//! allocation.

/// Last component of a path, e.g. `java` for `/usr/lib/jvm/x/bin/java`.
pub fn file_name(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => path.get(i + 1..).unwrap_or_default(),
        None => path,
    }
}

/// Everything before the last `/`, e.g. `/usr/bin` for `/usr/bin/java` (`None` without `/`).
pub fn parent(path: &[u8]) -> Option<&[u8]> {
    path.iter()
        .rposition(|&c| c == b'/')
        .and_then(|i| path.get(..i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_parent_and_name() {
        assert_eq!(file_name(b"/usr/bin/java"), b"java");
        assert_eq!(file_name(b"java"), b"java");
        assert_eq!(parent(b"/usr/bin/java"), Some(&b"/usr/bin"[..]));
        assert_eq!(parent(b"/java"), Some(&b""[..]));
        assert_eq!(parent(b"java"), None);
    }
}
