//! Java: JVM launchers, JDK tools and `JAVA_TOOL_OPTIONS`.
//!
//! The agent is added as ` -javaagent:<lib>/dd-java-agent.jar` at the end of
//! `JAVA_TOOL_OPTIONS`, which every JVM reads. The JVM ignores the variable past 1024
//! characters, so a longer result is not injected. Only the launcher options before the main
//! class, `-jar` or `-m` belong to the JVM; everything after belongs to the application.

use crate::decision::{Edit, Reason};
use crate::host::{FileKind, Host};
use crate::invocation::{plain_path, Invocation, Language};
use crate::layout::{in_library, join};
use crate::options::{remove_words, set_or_unset, with_words, words};
use crate::process::{file_name, major_minor, parent, Process};
use crate::runtime::Runtime;
use crate::service;
use alloc::vec;
use alloc::vec::Vec;

/// The agent in the library package.
const AGENT_JAR: &str = "dd-java-agent.jar";
/// The variable the JVM reads agents from.
const JAVA_TOOL_OPTIONS: &str = "JAVA_TOOL_OPTIONS";
/// The JVM's limit on `JAVA_TOOL_OPTIONS`.
pub const MAX_TOOL_OPTIONS: usize = 1024;
/// Variables whose options every JVM (or the `java` launcher) adds to its own.
const OPTION_VARIABLES: [&str; 3] = ["JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"];

/// Longest JDK tool name (`appletviewer`, `native2ascii`).
const TOOL_NAME_MAX: usize = 12;

/// JDK tool launchers: each starts a JVM but is never an application. NUL-padded rows, so that
/// the table holds no pointers (which the loader would relocate in every process) and the test
/// runs in every process in a few hundred instructions of compact code (`runtime::detect`).
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
    JDK_TOOLS.contains(&row)
}

/// Launcher options whose value is the next argument.
fn takes_value(option: &[u8]) -> bool {
    matches!(
        option,
        b"-cp"
            | b"-classpath"
            | b"--class-path"
            | b"-p"
            | b"--module-path"
            | b"--upgrade-module-path"
            | b"--add-modules"
            | b"--limit-modules"
            | b"--add-reads"
            | b"--add-exports"
            | b"--add-opens"
            | b"--patch-module"
            | b"--source"
            | b"--enable-native-access"
            | b"-d"
            | b"--describe-module"
    )
}

/// Whether a `-javaagent:` word is the library's own (any root, any version).
fn is_ours(word: &[u8]) -> bool {
    word.starts_with(b"-javaagent:") && in_library(word, Runtime::Java)
}

/// The Java runtime.
pub struct Java;

impl Language for Java {
    fn runtime(&self) -> Runtime {
        Runtime::Java
    }

    fn parse<'a>(&self, args: &[&'a [u8]]) -> Invocation<'a> {
        let mut inv = Invocation::default();
        let mut rest = args.iter().skip(1);
        while let Some(&arg) = rest.next() {
            if arg == b"-jar" {
                inv.options.push(arg);
                inv.program = rest.next().copied();
                break;
            }
            if arg == b"-m" || arg == b"--module" {
                inv.module = rest.next().copied();
                break;
            }
            if let Some(module) = arg.strip_prefix(b"--module=") {
                inv.module = Some(module);
                break;
            }
            // An argument file (`@file`) may name the main class: assume it does.
            if arg.starts_with(b"@") || !arg.starts_with(b"-") {
                inv.program = Some(arg);
                break;
            }
            inv.options.push(arg);
            if takes_value(arg) {
                if let Some(&value) = rest.next() {
                    inv.options.push(value);
                }
            }
        }
        inv.subcommand = rest.next().copied();
        inv
    }

    fn builtin_skip(&self, process: &Process, _: &Invocation) -> Option<Reason> {
        is_jdk_tool(file_name(process.exe)).then_some(Reason::JdkTool)
    }

    fn instrumented_by_other(&self, process: &Process, invocation: &Invocation) -> bool {
        let foreign = |w: &[u8]| w.starts_with(b"-javaagent:") && !is_ours(w);
        OPTION_VARIABLES
            .iter()
            .filter_map(|v| process.var(v))
            .any(|value| words(value).any(foreign))
            || invocation.options.iter().any(|w| foreign(w))
    }

    fn remove_inherited(&self, process: &Process) -> Vec<Edit> {
        let rest = process
            .var(JAVA_TOOL_OPTIONS)
            .and_then(|v| remove_words(v, is_ours));
        rest.map(|rest| set_or_unset(JAVA_TOOL_OPTIONS, rest))
            .into_iter()
            .collect()
    }

    fn entry_point(&self, _: &Process) -> (&'static str, FileKind) {
        (AGENT_JAR, FileKind::File)
    }

    /// Readable and a whole zip archive: it starts with a local file header and still has its
    /// end-of-central-directory record (a truncated or empty jar makes the JVM abort).
    fn usable<H: Host + ?Sized>(&self, path: &[u8], host: &H) -> bool {
        const END_OF_DIRECTORY: &[u8] = b"PK\x05\x06";
        match host.peek(path, 4, 22 + 0xffff) {
            Ok((head, tail)) => {
                head == b"PK\x03\x04" && tail.windows(4).any(|w| w == END_OF_DIRECTORY)
            }
            Err(_) => false,
        }
    }

    /// From the JDK's `release` file (`JAVA_VERSION="17.0.15"`, or `"1.8.0_292"` for 8),
    /// beside `bin/` (or above `jre/bin/` in a Java 8 JDK).
    fn version<H: Host + ?Sized>(
        &self,
        process: &Process,
        _: &Invocation,
        host: &H,
    ) -> Option<(u32, u32)> {
        let home = parent(parent(process.exe)?)?;
        let candidates = [
            join(home, "release"),
            join(parent(home).unwrap_or(home), "release"),
        ];
        let text = candidates
            .iter()
            .find_map(|path| host.read_file(path, 64 << 10).ok())?;
        let line = text
            .split(|&c| c == b'\n')
            .find_map(|l| l.strip_prefix(b"JAVA_VERSION="))?;
        let version = line.strip_prefix(b"\"").unwrap_or(line);
        match major_minor(version)? {
            (1, minor) => Some((minor, 0)),
            (major, _) => Some((major, 0)),
        }
    }

    fn min_version(&self) -> (u32, u32) {
        (8, 0)
    }

    /// The jar or war (`-jar payment-service.jar` → `payment-service`), the module, or the
    /// main class's simple name.
    fn service<H: Host + ?Sized>(
        &self,
        _: &Process,
        invocation: &Invocation,
        _: &H,
    ) -> Option<Vec<u8>> {
        if let Some(module) = invocation.module {
            return Some(module.split(|&c| c == b'/').next()?.to_vec());
        }
        let program = invocation.program.filter(|p| !p.starts_with(b"@"))?;
        if invocation.options.last() == Some(&&b"-jar"[..]) {
            return Some(service::stem(program).to_vec());
        }
        Some(program.rsplit(|&c| c == b'.').next()?.to_vec())
    }

    fn inject<H: Host + ?Sized>(
        &self,
        process: &Process,
        _: &Invocation,
        lib: &[u8],
        _: &H,
    ) -> Result<Vec<Edit>, Reason> {
        if !plain_path(lib) {
            return Err(Reason::UnsupportedLibraryPath);
        }
        let agent = [&b"-javaagent:"[..], &join(lib, AGENT_JAR)].concat();
        let Some(value) = with_words(process.var(JAVA_TOOL_OPTIONS), &[&agent], is_ours) else {
            return Ok(vec![]);
        };
        if value.len() > MAX_TOOL_OPTIONS {
            return Err(Reason::JavaToolOptionsTooLong);
        }
        Ok(vec![Edit::Set {
            name: JAVA_TOOL_OPTIONS,
            value,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(JDK_TOOLS.len(), 52);
    }

    fn parse(line: &str) -> Invocation<'_> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        Java.parse(&args)
    }

    #[test]
    fn launcher_options_end_at_the_program() {
        let inv = parse("java -Xmx1g -cp a:b com.example.Main -version");
        assert_eq!(inv.options, vec![&b"-Xmx1g"[..], b"-cp", b"a:b"]);
        assert_eq!(inv.program, Some(&b"com.example.Main"[..]));
        let inv = parse("java -Dversion=-version -jar app.jar --version");
        assert_eq!(inv.program, Some(&b"app.jar"[..]));
        assert_eq!(
            parse("java -m app/com.x.Main").module,
            Some(&b"app/com.x.Main"[..])
        );
        assert_eq!(parse("java -showversion").program, None);
        assert_eq!(
            parse("java -jar app.jar serve").subcommand,
            Some(&b"serve"[..])
        );
    }
}
