//! Java: JVM launchers, JDK tools and `JAVA_TOOL_OPTIONS`.
//!
//! The agent is added as ` -javaagent:<lib>/dd-java-agent.jar` at the end of
//! `JAVA_TOOL_OPTIONS`, which every JVM reads. The JVM ignores the variable past 1024
//! characters, so a longer result is not injected. Only the launcher options before the main
//! class, `-jar` or `-m` belong to the JVM; everything after belongs to the application.

use crate::decision::Reason;
use crate::host::{FileKind, Host};
use crate::invocation::{Invocation, Word};
use crate::language::Language;
use crate::layout::{in_library, join};
use crate::process::{file_name, major_minor, parent, Process};
use crate::runtime::{is_jdk_tool, Runtime};
use crate::service;
use crate::variable::{words, Shape, Variable};
use alloc::vec;
use alloc::vec::Vec;

/// The agent in the library package.
const AGENT_JAR: &str = "dd-java-agent.jar";
/// The variable the JVM reads agents from.
const JAVA_TOOL_OPTIONS: &str = "JAVA_TOOL_OPTIONS";
/// The JVM's limit on `JAVA_TOOL_OPTIONS`.
const MAX_TOOL_OPTIONS: usize = 1024;
/// Variables whose options every JVM (or the `java` launcher) adds to its own.
const OPTION_VARIABLES: [&str; 3] = ["JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"];

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

/// The Java runtime.
pub struct Java;

impl Language for Java {
    fn runtime(&self) -> Runtime {
        Runtime::Java
    }

    fn word<'a>(&self, arg: &'a [u8]) -> Word<'a> {
        match arg {
            b"-jar" => Word::ProgramFollows { keep: true },
            b"-m" | b"--module" => Word::Module {
                attached: None,
                keep: false,
            },
            _ => match arg.strip_prefix(b"--module=") {
                Some(module) => Word::Module {
                    attached: Some(module),
                    keep: false,
                },
                // An argument file (`@file`) may name the main class: assume it does.
                None if arg.starts_with(b"@") || !arg.starts_with(b"-") => Word::Program,
                None => Word::Option {
                    takes_value: takes_value(arg),
                },
            },
        }
    }

    fn builtin_skip(&self, process: &Process, _: &Invocation) -> Option<Reason> {
        is_jdk_tool(file_name(process.exe)).then_some(Reason::JdkTool)
    }

    fn instrumented_by_other(&self, process: &Process, invocation: &Invocation) -> bool {
        let foreign = |w: &[u8]| w.starts_with(b"-javaagent:") && !self.is_ours(w);
        OPTION_VARIABLES
            .iter()
            .filter_map(|v| process.var(v))
            .any(|value| words(value).any(foreign))
            || invocation.options.iter().any(|w| foreign(w))
    }

    const VARIABLE: Variable = Variable {
        name: JAVA_TOOL_OPTIONS,
        shape: Shape::Words,
    };

    /// A `-javaagent:` of any version of the Java library package, under any root.
    fn is_ours(&self, word: &[u8]) -> bool {
        word.starts_with(b"-javaagent:") && in_library(word, Runtime::Java)
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

    fn additions<H: Host + ?Sized>(
        &self,
        _: &Process,
        _: &Invocation,
        lib: &[u8],
        _: &H,
    ) -> Vec<Vec<u8>> {
        vec![[&b"-javaagent:"[..], &join(lib, AGENT_JAR)].concat()]
    }

    /// The JVM ignores (or truncates) `JAVA_TOOL_OPTIONS` past 1024 characters.
    fn accepts(&self, value: &[u8]) -> Result<(), Reason> {
        if value.len() > MAX_TOOL_OPTIONS {
            return Err(Reason::JavaToolOptionsTooLong);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn version_comes_from_the_jdk_release_file() {
        use crate::host::memory::Files;
        for (asset, version) in [
            ("release-openjdk-17", (17, 0)),
            ("release-temurin-25", (25, 0)),
        ] {
            let files = Files::default().asset("/jdk/release", &["jdk/", asset].concat());
            let process = Process {
                exe: b"/jdk/bin/java",
                ..Process::default()
            };
            assert_eq!(
                Java.version(&process, &Invocation::default(), &files),
                Some(version)
            );
            let jre = Process {
                exe: b"/jdk/jre/bin/java",
                ..Process::default()
            };
            assert_eq!(
                Java.version(&jre, &Invocation::default(), &files),
                Some(version),
                "Java 8 layout"
            );
        }
    }
}
