//! Java: JVM launchers, JDK tools and `JAVA_TOOL_OPTIONS`.
//!
//! The agent is added as ` -javaagent:<lib>/dd-java-agent.jar` at the end of
//! `JAVA_TOOL_OPTIONS`, which every JVM reads. The JVM ignores the variable past 1024
//! characters, so a longer result is not injected. Only the launcher options before the main
//! class, `-jar` or `-m` belong to the JVM; everything after belongs to the application.
//!
//! dd-java-agent (1.68) prints its `DATADOG TRACER CONFIGURATION` banner on standard error even
//! with `DD_TRACE_STARTUP_LOGS=false` in the environment: it sets its log level at start from
//! the system property, which only `-Ddd.trace.startup.logs=false` sets in time (as an agent
//! argument it comes too late as well). So the agent is followed by that option where the user
//! has not configured startup logs (the variable set to anything but false, or the option on the
//! command line or in a JVM options variable).
//!
//! The agent appends its jar to the boot class path, and a JVM with class-data sharing on (the
//! default since JDK 12) then prints `Sharing is only supported for boot loader classes because
//! bootstrap classpath has been appended` on standard error. So the agent is also followed by
//! `-Xshare:off` where the JDK has a default archive (`lib/server/classes.jsa`, HotSpot 12+:
//! without one there is no sharing to warn about, and other JVMs such as OpenJ9 are not given a
//! HotSpot option) and the user has not configured class-data sharing (`-Xshare:`,
//! `-XX:SharedArchiveFile`, … on the command line or in a JVM options variable).
//!
//! The options right after our agent are ours by their place: they go with it from a child that
//! is not instrumented, and a user's identical option elsewhere is the user's.
//!
//! With the OpenTelemetry SDK the agent is the OpenTelemetry Java agent,
//! ` -javaagent:<lib>/opentelemetry-javaagent.jar`: it appends its jar to the boot class path as
//! well (hence `-Xshare:off` alike) and has no Datadog banner to turn off.

use crate::datadog::STARTUP_LOGS;
use crate::decision::Reason;
use crate::host::{FileKind, Host};
use crate::invocation::{Invocation, Word};
use crate::language::Language;
use crate::layout::{in_library, join};
use crate::process::{file_name, is_false, major_minor, parent, Process};
use crate::runtime::{is_jdk_tool, Runtime};
use crate::sdk::Sdk;
use crate::service;
use crate::variable::{words, Shape, Variable};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;

/// The agent in Datadog's library package.
const AGENT_JAR: &str = "dd-java-agent.jar";
/// The agent in the OpenTelemetry library package.
const OTEL_AGENT_JAR: &str = "opentelemetry-javaagent.jar";
/// The variable the JVM reads agents from.
const JAVA_TOOL_OPTIONS: &str = "JAVA_TOOL_OPTIONS";
/// The JVM's limit on `JAVA_TOOL_OPTIONS`.
const MAX_TOOL_OPTIONS: usize = 1024;
/// Variables whose options every JVM (or the `java` launcher) adds to its own.
const OPTION_VARIABLES: [&str; 3] = ["JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"];

/// The values of [`OPTION_VARIABLES`] in `process`, in order. Looked up one by one, not in a loop
/// over the names: a loop would keep the names as a table of pointers, which the loader
/// relocates in every process.
fn option_values<'a>(process: &Process<'a>) -> [Option<&'a [u8]>; 3] {
    [
        process.var(OPTION_VARIABLES[0]),
        process.var(OPTION_VARIABLES[1]),
        process.var(OPTION_VARIABLES[2]),
    ]
}
/// The system property that turns the agent's configuration banner on or off.
const STARTUP_LOGS_PROPERTY: &[u8] = b"-Ddd.trace.startup.logs=";
/// The option that turns it off, added after the agent.
const STARTUP_LOGS_OFF: &[u8] = b"-Ddd.trace.startup.logs=false";
/// The option that turns class-data sharing off, added after the agent.
const SHARING_OFF: &[u8] = b"-Xshare:off";
/// The JDK's default class-data sharing archives (with compressed pointers or without),
/// relative to its home: HotSpot shares by default where one of them is.
const DEFAULT_ARCHIVES: [&str; 2] = ["lib/server/classes.jsa", "lib/server/classes_nocoops.jsa"];
/// The options by which a user configures class-data sharing (JDK 8 to 25): with any of them,
/// sharing is left as the user set it.
const SHARING_OPTIONS: [&[u8]; 6] = [
    b"-Xshare:",
    b"-XX:SharedArchiveFile=",
    b"-XX:ArchiveClassesAtExit=",
    b"-XX:+AutoCreateSharedArchive",
    b"-XX:SharedClassListFile=",
    b"-XX:+UseAppCDS",
];
/// The options the library adds right after its agent (when the user has not configured what
/// they set), in this order.
const FOLLOWERS: [&[u8]; 2] = [STARTUP_LOGS_OFF, SHARING_OFF];

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

/// The Java runtime, given the agent of SDK family `sdk`.
pub struct Java {
    /// Whose agent: `dd-java-agent` or the OpenTelemetry Java agent.
    pub sdk: Sdk,
}

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
        option_values(process)
            .into_iter()
            .flatten()
            .any(|value| words(value).any(foreign))
            || invocation.options.iter().any(|w| foreign(w))
    }

    const VARIABLE: Variable = Variable {
        name: JAVA_TOOL_OPTIONS,
        shape: Shape::Words,
    };

    /// dd-java-agent runs the forwarder at every start to report `complete` (its own telemetry
    /// does not carry the entry-point points): a process per JVM start.
    const GETS_FORWARDER: bool = false;

    /// A `-javaagent:` of any version of the Java library package, under any root.
    fn is_ours(&self, word: &[u8]) -> bool {
        word.starts_with(b"-javaagent:") && in_library(word, Runtime::Java)
    }

    fn entry_point(&self, _: &Process) -> (&'static str, FileKind) {
        (self.agent(), FileKind::File)
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

    /// The agent, then (Datadog's) `-Ddd.trace.startup.logs=false` unless the user configured
    /// startup logs, and `-Xshare:off` where the JDK shares classes by default and the user
    /// configured no sharing.
    fn additions<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        lib: &[u8],
        host: &H,
    ) -> Vec<Vec<u8>> {
        let users = self.users_options(process, invocation);
        let configured = |prefixes: &[&[u8]]| {
            users
                .iter()
                .any(|w| prefixes.iter().any(|p| w.starts_with(p)))
        };
        let startup_logs = process.var(STARTUP_LOGS).is_some_and(|v| !is_false(v))
            || configured(&[STARTUP_LOGS_PROPERTY]);
        let mut additions = vec![[&b"-javaagent:"[..], &join(lib, self.agent())].concat()];
        if !startup_logs && self.sdk == Sdk::Datadog {
            additions.push(STARTUP_LOGS_OFF.to_vec());
        }
        if shares_by_default(process, host) && !configured(&SHARING_OPTIONS) {
            additions.push(SHARING_OFF.to_vec());
        }
        additions
    }

    /// Our agent, and the options of [`FOLLOWERS`] right after it.
    fn ours_in_order(&self) -> impl Fn(&[u8]) -> bool + '_ {
        let after_ours = Cell::new(false);
        move |word| {
            let ours = self.is_ours(word) || (after_ours.get() && FOLLOWERS.contains(&word));
            after_ours.set(ours);
            ours
        }
    }

    /// The JVM ignores (or truncates) `JAVA_TOOL_OPTIONS` past 1024 characters.
    fn accepts(&self, value: &[u8]) -> Result<(), Reason> {
        if value.len() > MAX_TOOL_OPTIONS {
            return Err(Reason::JavaToolOptionsTooLong);
        }
        Ok(())
    }
}

/// Whether the JDK of `process` (`<home>/bin/java`) has a default class-data sharing archive.
fn shares_by_default<H: Host + ?Sized>(process: &Process, host: &H) -> bool {
    let Some(home) = parent(process.exe).and_then(parent) else {
        return false;
    };
    DEFAULT_ARCHIVES
        .iter()
        .any(|a| host.is_file(&join(home, a)))
}

impl Java {
    /// The agent's file name in the library package.
    fn agent(&self) -> &'static str {
        match self.sdk {
            Sdk::Datadog => AGENT_JAR,
            Sdk::OpenTelemetry => OTEL_AGENT_JAR,
        }
    }

    /// The JVM options the user gave: the command line's and those of the JVM options variables,
    /// without the library's own (inherited from an instrumented parent).
    fn users_options<'a>(
        &self,
        process: &Process<'a>,
        invocation: &Invocation<'a>,
    ) -> Vec<&'a [u8]> {
        let mut options: Vec<&[u8]> = invocation.options.clone();
        for value in option_values(process).into_iter().flatten() {
            let ours = self.ours_in_order();
            options.extend(words(value).filter(|w| !ours(w)));
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::memory::Files;

    fn parse(line: &str) -> Invocation<'_> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        DATADOG.parse(&args)
    }

    const DATADOG: Java = Java { sdk: Sdk::Datadog };

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

    const AGENT: &[u8] =
        b"-javaagent:/opt/datadog-packages/datadog-apm-library-java/stable/dd-java-agent.jar";

    fn process<'a>(env: &[&'a [u8]], args: &[&'a [u8]]) -> Process<'a> {
        Process {
            exe: b"/jdk/bin/java",
            env: env.to_vec(),
            args: args.to_vec(),
            ..Process::default()
        }
    }

    /// The additions for `/jdk/bin/java -jar app.jar` (after `options`) in environment `env`,
    /// with a default class-data sharing archive in `/jdk`.
    fn additions(env: &[&[u8]], options: &[&[u8]]) -> Vec<Vec<u8>> {
        let jdk = Files::default().with("/jdk/lib/server/classes.jsa", "");
        additions_in(&jdk, env, options)
    }

    fn additions_in(jdk: &Files, env: &[&[u8]], options: &[&[u8]]) -> Vec<Vec<u8>> {
        let args: Vec<&[u8]> = [&[&b"java"[..]][..], options, &[b"-jar", b"app.jar"]].concat();
        let p = process(env, &args);
        let invocation = DATADOG.parse(&p.args);
        let lib = b"/opt/datadog-packages/datadog-apm-library-java/stable";
        DATADOG.additions(&p, &invocation, lib, jdk)
    }

    #[test]
    fn startup_logs_are_turned_off_unless_the_user_configured_them() {
        let off = vec![
            AGENT.to_vec(),
            STARTUP_LOGS_OFF.to_vec(),
            SHARING_OFF.to_vec(),
        ];
        assert_eq!(additions(&[], &[]), off);
        assert_eq!(additions(&[b"DD_TRACE_STARTUP_LOGS=false"], &[]), off);
        let on = vec![AGENT.to_vec(), SHARING_OFF.to_vec()];
        assert_eq!(additions(&[b"DD_TRACE_STARTUP_LOGS=true"], &[]), on);
        assert_eq!(
            additions(&[b"JDK_JAVA_OPTIONS=-Ddd.trace.startup.logs=true"], &[]),
            on
        );
        assert_eq!(additions(&[], &[b"-Ddd.trace.startup.logs=false"]), on);
    }

    #[test]
    fn class_data_sharing_is_turned_off_unless_the_user_configured_it() {
        let off = vec![
            AGENT.to_vec(),
            STARTUP_LOGS_OFF.to_vec(),
            SHARING_OFF.to_vec(),
        ];
        assert_eq!(additions(&[b"JAVA_TOOL_OPTIONS=-Xmx1g"], &[]), off);
        let kept = vec![AGENT.to_vec(), STARTUP_LOGS_OFF.to_vec()];
        assert_eq!(additions(&[], &[b"-Xshare:on"]), kept);
        assert_eq!(additions(&[], &[b"-XX:SharedArchiveFile=app.jsa"]), kept);
        assert_eq!(
            additions(&[b"_JAVA_OPTIONS=-XX:+AutoCreateSharedArchive"], &[]),
            kept
        );
        assert_eq!(additions(&[b"JAVA_TOOL_OPTIONS=-Xshare:auto"], &[]), kept);
        // A JDK without a default archive (or another JVM) shares nothing by default.
        let nocoops = Files::default().with("/jdk/lib/server/classes_nocoops.jsa", "");
        assert_eq!(additions_in(&nocoops, &[], &[]), off);
        assert_eq!(additions_in(&Files::default(), &[], &[]), kept);
    }

    #[test]
    fn inherited_additions_are_not_the_users_configuration() {
        let inherited = [
            &b"JAVA_TOOL_OPTIONS=-Xmx1g "[..],
            AGENT,
            b" ",
            STARTUP_LOGS_OFF,
            b" ",
            SHARING_OFF,
        ]
        .concat();
        let off = vec![
            AGENT.to_vec(),
            STARTUP_LOGS_OFF.to_vec(),
            SHARING_OFF.to_vec(),
        ];
        assert_eq!(additions(&[&inherited], &[]), off);
    }

    /// The removal test of a child that is not instrumented, over `value`.
    fn without_ours(value: &[u8]) -> Vec<u8> {
        let entry = [&b"JAVA_TOOL_OPTIONS="[..], value].concat();
        let p = process(&[&entry], &[]);
        match DATADOG.remove_inherited(&p).pop() {
            Some(crate::decision::Edit::Set { value, .. }) => value,
            Some(crate::decision::Edit::Unset { .. }) => b"<unset>".to_vec(),
            None => value.to_vec(),
        }
    }

    #[test]
    fn the_options_after_our_agent_go_with_it() {
        let ours = [AGENT, b" ", STARTUP_LOGS_OFF, b" ", SHARING_OFF].concat();
        assert_eq!(without_ours(&ours), b"<unset>");
        let mixed = [b"-Xmx1g ", &ours[..], b" -Dx=1"].concat();
        assert_eq!(without_ours(&mixed), b"-Xmx1g -Dx=1");
        let logs_only = [b"-Xmx1g ", AGENT, b" ", STARTUP_LOGS_OFF, b" -Xshare:auto"].concat();
        assert_eq!(without_ours(&logs_only), b"-Xmx1g -Xshare:auto");
        // The user's own options, anywhere else, stay.
        let users = [b"-Ddd.trace.startup.logs=false -Xshare:off ", AGENT].concat();
        assert_eq!(
            without_ours(&users),
            b"-Ddd.trace.startup.logs=false -Xshare:off"
        );
        let foreign = b"-javaagent:/my/agent.jar -Ddd.trace.startup.logs=false -Xshare:off";
        assert_eq!(without_ours(foreign), foreign);
    }

    #[test]
    fn the_opentelemetry_agent_comes_without_datadogs_options() {
        let otel = Java {
            sdk: Sdk::OpenTelemetry,
        };
        let jdk = Files::default().with("/jdk/lib/server/classes.jsa", "");
        let p = process(&[], &[b"java", b"-jar", b"app.jar"]);
        let lib = b"/p/opentelemetry-apm-library-java/stable";
        let agent =
            b"-javaagent:/p/opentelemetry-apm-library-java/stable/opentelemetry-javaagent.jar";
        assert_eq!(
            otel.additions(&p, &otel.parse(&p.args), lib, &jdk),
            vec![agent.to_vec(), SHARING_OFF.to_vec()]
        );
        // Inherited from a parent given the other family's agent: still ours.
        let inherited = [&agent[..], b" ", SHARING_OFF].concat();
        assert_eq!(without_ours(&inherited), b"<unset>");
        assert!(!otel.instrumented_by_other(
            &process(&[&[b"JAVA_TOOL_OPTIONS=", AGENT].concat()], &[]),
            &otel.parse(&[])
        ));
    }

    #[test]
    fn version_comes_from_the_jdk_release_file() {
        for (asset, version) in [
            ("release-openjdk-17", (17, 0)),
            ("release-temurin-25", (25, 0)),
        ] {
            let files = Files::default().asset("/jdk/release", &["jdk/", asset].concat());
            let jdk = Process {
                exe: b"/jdk/bin/java",
                ..Process::default()
            };
            assert_eq!(
                DATADOG.version(&jdk, &Invocation::default(), &files),
                Some(version),
                "{asset}: bin/ beside the release file"
            );
            let jre = Process {
                exe: b"/jdk/jre/bin/java",
                ..Process::default()
            };
            assert_eq!(
                DATADOG.version(&jre, &Invocation::default(), &files),
                Some(version),
                "{asset}: jre/bin/ below it (Java 8 layout)"
            );
        }
    }
}
