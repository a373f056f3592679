//! A program's own use of the environment API after start-up (`getenv`, `setenv` with
//! overwrite 0 and 1, `putenv`, `unsetenv`, `clearenv`, empty values, 5,000 growing `setenv`
//! calls, `secure_getenv`) behaves identically with and without the library, under glibc and
//! musl: both when the library leaves the process alone and when it has just changed the
//! environment with the same libc's `setenv` (copies of the program named like runtimes).
//!
//! The fixture (`tests/fixtures/envapi.c`) prints a first line with the variables the library
//! may set, then everything it observes; all lines but the first must be identical.
#![forbid(unsafe_code)]

use apm_inject_tests::{fixture, install_as, run, stderr, stdout, Packages};
use std::process::Output;

/// Runs the fixture built for `libc` as `name` with `args`, under `packages`' launcher, with
/// the variables the fixture expects and `extra` ones.
fn run_envapi(
    packages: &Packages,
    libc: &str,
    name: &str,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Output {
    let program = install_as(
        &fixture(&format!("envapi-{libc}")),
        packages.dir.path(),
        name,
    );
    let mut cmd = packages.command(&program);
    cmd.args(args)
        .env_clear()
        .env("LD_PRELOAD", &packages.launcher)
        .env("T_KEEP", "kept")
        .env("T_EMPTY", "")
        .env("T_GONE", "x")
        .envs(extra.iter().copied());
    run(&mut cmd)
}

/// Runs the fixture as `name` with and without the library and checks that everything after
/// the first line is identical; returns the first line with the library, paths normalised.
fn compare(libc: &str, name: &str, args: &[&str], extra: &[(&str, &str)]) -> String {
    let ours = Packages::with_libraries();
    let baseline = Packages::baseline();
    let with = ours.normalise(&run_envapi(&ours, libc, name, args, extra));
    let without = baseline.normalise(&run_envapi(&baseline, libc, name, args, extra));
    assert_eq!(
        with.status.code(),
        Some(0),
        "{libc} {name}: {}",
        stderr(&with)
    );
    assert_eq!(without.status.code(), Some(0), "{libc} {name}");
    assert_eq!(stderr(&with), stderr(&without), "{libc} {name}: stderr");
    let (with, without) = (stdout(&with), stdout(&without));
    let (first, rest) = with.split_once('\n').unwrap();
    let (_, expected_rest) = without.split_once('\n').unwrap();
    assert_eq!(rest, expected_rest, "{libc} {name}: after start-up");
    assert!(
        rest.contains("5000 growing setenv: 0 failures, environ grew by 5001"),
        "{rest}"
    );
    first.to_string()
}

const UNTOUCHED: &str =
    "start NODE_OPTIONS=(unset) PYTHONPATH=(unset) JAVA_TOOL_OPTIONS=(unset) DD_INJECTION_ENABLED=(unset)";

#[test]
fn environment_api_is_unchanged_in_a_glibc_program() {
    assert_eq!(compare("glibc", "envapi", &[], &[]), UNTOUCHED);
}

#[test]
fn environment_api_is_unchanged_in_a_musl_program() {
    assert_eq!(compare("musl", "envapi", &[], &[]), UNTOUCHED);
}

const NODE_REQUIRE: &str =
    "--require=<packages>/opt/datadog-packages/datadog-apm-library-js/stable/bootstrap.cjs";
const PYTHON_LIB: &str = "<packages>/opt/datadog-packages/datadog-apm-library-python/stable";
const JAVA_AGENT: &str =
    "-javaagent:<packages>/opt/datadog-packages/datadog-apm-library-java/stable/dd-java-agent.jar -Ddd.trace.startup.logs=false";

/// The values of the fixture's first line: NODE_OPTIONS, PYTHONPATH, JAVA_TOOL_OPTIONS and
/// DD_INJECTION_ENABLED (values may contain spaces: split at the next name).
fn start_values(first: &str) -> [String; 4] {
    let rest = first.strip_prefix("start NODE_OPTIONS=").expect(first);
    let (node, rest) = rest.split_once(" PYTHONPATH=").expect(first);
    let (python, rest) = rest.split_once(" JAVA_TOOL_OPTIONS=").expect(first);
    let (java, enabled) = rest.split_once(" DD_INJECTION_ENABLED=").expect(first);
    [node, python, java, enabled].map(String::from)
}

/// The runtime copies: name and arguments.
const RUNTIMES: [(&str, &[&str]); 3] = [
    ("node", &["app.js"]),
    ("python3", &["app.py"]),
    ("java", &["-jar", "app.jar"]),
];

/// Checks that the library changed the runtime's variables to `expected` (NODE_OPTIONS,
/// PYTHONPATH, JAVA_TOOL_OPTIONS) and marked the process (`DD_INJECTION_ENABLED=tracer…`).
fn changed(libc: &str, name: &str, first: &str, expected: [String; 3]) {
    let [node, python, java, enabled] = start_values(first);
    assert_eq!([node, python, java], expected, "{libc} {name}");
    assert!(enabled.starts_with("tracer"), "{libc} {name}: {enabled}");
}

fn after_the_library_set_variables(libc: &str) {
    let unset = || "(unset)".to_string();
    let expected = [
        [NODE_REQUIRE.to_string(), unset(), unset()],
        [unset(), PYTHON_LIB.to_string(), unset()],
        [unset(), unset(), JAVA_AGENT.to_string()],
    ];
    for ((name, args), expected) in RUNTIMES.into_iter().zip(expected) {
        changed(libc, name, &compare(libc, name, args, &[]), expected);
    }
}

#[test]
fn glibc_program_uses_the_environment_normally_after_the_library_set_variables() {
    after_the_library_set_variables("glibc");
}

#[test]
fn musl_program_uses_the_environment_normally_after_the_library_set_variables() {
    after_the_library_set_variables("musl");
}

fn after_the_library_replaced_user_values(libc: &str) {
    // The library's setenv replaces an existing entry rather than adding one.
    let user = [
        ("NODE_OPTIONS", "--no-warnings"),
        ("PYTHONPATH", "/app"),
        ("JAVA_TOOL_OPTIONS", "-Xmx64m"),
    ];
    let mine = || user.map(|(_, v)| v.to_string());
    let mut expected = [mine(), mine(), mine()];
    expected[0][0] = format!("--no-warnings {NODE_REQUIRE}");
    expected[1][1] = format!("{PYTHON_LIB}:/app");
    expected[2][2] = format!("-Xmx64m {JAVA_AGENT}");
    for ((name, args), expected) in RUNTIMES.into_iter().zip(expected) {
        changed(libc, name, &compare(libc, name, args, &user), expected);
    }
}

#[test]
fn glibc_program_uses_the_environment_normally_after_the_library_replaced_user_values() {
    after_the_library_replaced_user_values("glibc");
}

#[test]
fn musl_program_uses_the_environment_normally_after_the_library_replaced_user_values() {
    after_the_library_replaced_user_values("musl");
}

fn after_the_library_removed_inherited_values(libc: &str) {
    // A `java -version` child of an instrumented Java: the library takes the inherited agent
    // and marker out with libc's unsetenv before main, leaving the environment as if the
    // parent had never been instrumented.
    let ours = Packages::with_libraries();
    let agent = format!(
        "-javaagent:{}/dd-java-agent.jar",
        ours.library("java").display()
    );
    let inherited = [
        ("JAVA_TOOL_OPTIONS", agent.as_str()),
        ("DD_INJECTION_ENABLED", "tracer"),
    ];
    let with = run_envapi(&ours, libc, "java", &["-version"], &inherited);
    let without = run_envapi(&Packages::baseline(), libc, "java", &["-version"], &[]);
    assert_eq!(with.status.code(), Some(0), "{libc}: {}", stderr(&with));
    assert!(
        stdout(&with).starts_with(UNTOUCHED),
        "{libc}: {}",
        stdout(&with)
    );
    assert_eq!(stdout(&with), stdout(&without), "{libc}");
}

#[test]
fn glibc_program_uses_the_environment_normally_after_the_library_removed_inherited_values() {
    after_the_library_removed_inherited_values("glibc");
}

#[test]
fn musl_program_uses_the_environment_normally_after_the_library_removed_inherited_values() {
    after_the_library_removed_inherited_values("musl");
}
