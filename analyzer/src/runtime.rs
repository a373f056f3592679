//! Which runtime an executable is, from its file name alone.
//!
//! The library calls [`detect`] in every process, on the executable's file name, so it is a
//! handful of byte comparisons and nothing else; everything that is not a candidate stops
//! there. Candidates: `java`, JDK tools and `jsvc`; `node`, `nodejs`, `nodeNN`; `python`,
//! `python3`, `python3.12`, `python3.13t`; `ruby`, `ruby3.1`; `php`, `php8.2`, `php-fpm8.2`,
//! `php-cgi8.2`; `dotnet`.

pub use contract::runtime::Runtime;

/// The runtime an executable file name denotes, e.g. `Some(Python)` for `python3.11`.
pub fn detect(file_name: &[u8]) -> Option<Runtime> {
    match file_name {
        b"java" | b"jsvc" => Some(Runtime::Java),
        b"node" | b"nodejs" => Some(Runtime::Node),
        b"dotnet" => Some(Runtime::Dotnet),
        _ => detect_versioned(file_name),
    }
}

fn detect_versioned(name: &[u8]) -> Option<Runtime> {
    if let Some(rest) = name.strip_prefix(b"python") {
        let suffix = rest
            .iter()
            .position(|c| !is_version_char(*c))
            .map_or(&[][..], |i| &rest[i..]);
        return (suffix.len() <= 2 && suffix.iter().all(|c| b"dmtu".contains(c)))
            .then_some(Runtime::Python);
    }
    if let Some(rest) = name.strip_prefix(b"node") {
        return (!rest.is_empty() && rest.iter().all(|c| is_version_char(*c)))
            .then_some(Runtime::Node);
    }
    if let Some(rest) = name.strip_prefix(b"ruby") {
        return rest
            .iter()
            .all(|c| is_version_char(*c))
            .then_some(Runtime::Ruby);
    }
    if let Some(rest) = name.strip_prefix(b"php") {
        let rest = rest
            .strip_prefix(b"-fpm")
            .or_else(|| rest.strip_prefix(b"-cgi"))
            .unwrap_or(rest);
        return rest
            .iter()
            .all(|c| is_version_char(*c))
            .then_some(Runtime::Php);
    }
    is_jdk_tool(name).then_some(Runtime::Java)
}

/// Longest JDK tool name (`appletviewer`, `native2ascii`).
const TOOL_NAME_MAX: usize = 12;

/// JDK tool launchers: each starts a JVM but is never an application, in byte order (searched
/// by halves). NUL-padded rows: the table holds no pointers (which the loader would relocate
/// in every process), and the test compiles to compact code without data (the library keeps
/// [`detect`] on one page).
static JDK_TOOLS: [[u8; TOOL_NAME_MAX]; 52] = [
    pad(b"appletviewer"),
    pad(b"extcheck"),
    pad(b"idlj"),
    pad(b"jaotc"),
    pad(b"jar"),
    pad(b"jarsigner"),
    pad(b"javac"),
    pad(b"javadoc"),
    pad(b"javah"),
    pad(b"javap"),
    pad(b"javaws"),
    pad(b"jcmd"),
    pad(b"jconsole"),
    pad(b"jdb"),
    pad(b"jdeprscan"),
    pad(b"jdeps"),
    pad(b"jfr"),
    pad(b"jhat"),
    pad(b"jhsdb"),
    pad(b"jimage"),
    pad(b"jinfo"),
    pad(b"jjs"),
    pad(b"jlink"),
    pad(b"jmap"),
    pad(b"jmc"),
    pad(b"jmod"),
    pad(b"jpackage"),
    pad(b"jps"),
    pad(b"jrunscript"),
    pad(b"jsadebugd"),
    pad(b"jshell"),
    pad(b"jstack"),
    pad(b"jstat"),
    pad(b"jstatd"),
    pad(b"jvisualvm"),
    pad(b"jwebserver"),
    pad(b"keytool"),
    pad(b"native2ascii"),
    pad(b"orbd"),
    pad(b"pack200"),
    pad(b"policytool"),
    pad(b"rmic"),
    pad(b"rmid"),
    pad(b"rmiregistry"),
    pad(b"schemagen"),
    pad(b"serialver"),
    pad(b"servertool"),
    pad(b"tnameserv"),
    pad(b"unpack200"),
    pad(b"wsgen"),
    pad(b"wsimport"),
    pad(b"xjc"),
];

/// `name` NUL-padded to a row of [`JDK_TOOLS`].
const fn pad(name: &[u8]) -> [u8; TOOL_NAME_MAX] {
    let mut row = [0; TOOL_NAME_MAX];
    let mut i = 0;
    while i < name.len() {
        row[i] = name[i];
        i += 1;
    }
    row
}

/// Whether `name` is a JDK tool launcher (a JVM, but never an application), e.g. `keytool`.
pub fn is_jdk_tool(name: &[u8]) -> bool {
    if name.is_empty() || name.len() > TOOL_NAME_MAX || name.contains(&0) {
        return false;
    }
    let mut row = [0; TOOL_NAME_MAX];
    row[..name.len()].copy_from_slice(name);
    // A binary search of the sorted rows: a few compares for the name of every process. The
    // table length the compiler cannot see keeps it a loop, small enough for the launcher's
    // start-up page, not a compare of every row unrolled.
    let rows = core::hint::black_box(JDK_TOOLS.len());
    JDK_TOOLS[..rows].binary_search(&row).is_ok()
}

fn is_version_char(c: u8) -> bool {
    c.is_ascii_digit() || c == b'.'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_are_recognised_by_file_name() {
        let cases: &[(&str, Option<Runtime>)] = &[
            ("java", Some(Runtime::Java)),
            ("keytool", Some(Runtime::Java)),
            ("jsvc", Some(Runtime::Java)),
            ("node", Some(Runtime::Node)),
            ("nodejs", Some(Runtime::Node)),
            ("node20", Some(Runtime::Node)),
            ("python", Some(Runtime::Python)),
            ("python3", Some(Runtime::Python)),
            ("python3.11", Some(Runtime::Python)),
            ("python3.13t", Some(Runtime::Python)),
            ("ruby", Some(Runtime::Ruby)),
            ("ruby3.1", Some(Runtime::Ruby)),
            ("php", Some(Runtime::Php)),
            ("php8.2", Some(Runtime::Php)),
            ("php-fpm8.2", Some(Runtime::Php)),
            ("php-cgi", Some(Runtime::Php)),
            ("dotnet", Some(Runtime::Dotnet)),
            ("ls", None),
            ("sh", None),
            ("notjava", None),
            ("javascript", None),
            ("python3-config", None),
            ("nodemon", None),
            ("rubocop", None),
            ("phpunit", None),
            ("", None),
        ];
        for (name, expected) in cases {
            assert_eq!(detect(name.as_bytes()), *expected, "{name}");
        }
    }

    #[test]
    fn jdk_tools_are_in_byte_order() {
        assert!(JDK_TOOLS.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn jdk_tools_are_known_by_their_exact_name() {
        for tool in [
            "appletviewer",
            "jar",
            "javac",
            "jshell",
            "keytool",
            "native2ascii",
            "xjc",
        ] {
            assert!(is_jdk_tool(tool.as_bytes()), "{tool}");
        }
        for other in [
            "",
            "ja",
            "jars",
            "javacc",
            "keytool\0",
            "appletviewers",
            "java",
            "xj",
        ] {
            assert!(!is_jdk_tool(other.as_bytes()), "{other:?}");
        }
    }
}
