//! Which runtime an executable is, from its file name alone.
//!
//! The library calls [`detect`] in every process, right after reading `/proc/self/exe`, so it
//! is a handful of byte comparisons and nothing else; everything that is not a candidate stops
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

/// Whether `name` is a JDK tool launcher (a JVM, but never an application), e.g. `keytool`.
pub fn is_jdk_tool(name: &[u8]) -> bool {
    matches!(
        name,
        b"appletviewer"
            | b"extcheck"
            | b"idlj"
            | b"jaotc"
            | b"jar"
            | b"jarsigner"
            | b"javac"
            | b"javadoc"
            | b"javah"
            | b"javap"
            | b"javaws"
            | b"jcmd"
            | b"jconsole"
            | b"jdb"
            | b"jdeprscan"
            | b"jdeps"
            | b"jfr"
            | b"jhat"
            | b"jhsdb"
            | b"jimage"
            | b"jinfo"
            | b"jjs"
            | b"jlink"
            | b"jmap"
            | b"jmc"
            | b"jmod"
            | b"jpackage"
            | b"jps"
            | b"jrunscript"
            | b"jsadebugd"
            | b"jshell"
            | b"jstack"
            | b"jstat"
            | b"jstatd"
            | b"jvisualvm"
            | b"jwebserver"
            | b"keytool"
            | b"native2ascii"
            | b"orbd"
            | b"pack200"
            | b"policytool"
            | b"rmic"
            | b"rmid"
            | b"rmiregistry"
            | b"schemagen"
            | b"serialver"
            | b"servertool"
            | b"tnameserv"
            | b"unpack200"
            | b"wsgen"
            | b"wsimport"
            | b"xjc"
    )
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
}
