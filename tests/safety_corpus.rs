//! The safety corpus: every distinct program in `/usr/bin` and `/usr/sbin` that is not a
//! runtime, run with `--version` with and without the library, must give byte-identical
//! standard output, standard error and exit status.
//!
//! Each program runs as `nobody` (so that no program can harm the machine), in a session of
//! its own (no terminal), with standard input closed, a fixed environment, a 10 s limit and an
//! empty working directory of its own. "Without the library" is an empty preload library at a
//! path of the same length, so the loader does the same work and `env` prints the same
//! `LD_PRELOAD` after normalisation.
//!
//! Both SDK families are covered at no extra cost: every other program (by its place in the
//! sorted corpus) runs with `DD_APM_INSTRUMENTATION_SDK=opentelemetry` and the OpenTelemetry
//! packages beside Datadog's, the rest with `DD_APM_INSTRUMENTATION_SDK=datadog`, in all three of
//! its runs (the variable is read only once a runtime is recognised, so neither may change a
//! thing).
//!
//! Left out, by rule:
//! - runtimes (`analyzer::runtime::detect` on the file name, the one `/proc/self/exe` shows)
//!   and `#!` scripts run by one: changing those is the library's job (`runtimes.rs`);
//! - setuid/setgid programs (glibc ignores `LD_PRELOAD` there; `secure_execution.rs`) and
//!   fully static ones (no loader, no preload library; `libc_flavours.rs`);
//! - [`DENIED`], a short list of programs that act on the machine or on other processes;
//! - programs whose two baseline runs differ or do not finish in time: not deterministic;
//! - programs that start a runtime (the library's debug log, kept in a file, names one):
//!   instrumenting that child is the library's job. Every process that logs must be a runtime.
#![forbid(unsafe_code)]

use apm_inject_tests::{as_nobody, fixture, run_limited, Packages, NOBODY};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Programs never run, with the reason.
const DENIED: &[(&str, &str)] = &[
    ("halt", "controls the machine"),
    ("poweroff", "controls the machine"),
    ("reboot", "controls the machine"),
    ("shutdown", "controls the machine"),
    ("init", "controls the machine"),
    ("telinit", "controls the machine"),
    ("ctrlaltdel", "controls the machine"),
    ("kill", "signals other processes"),
    ("killall", "signals other processes"),
    ("killall5", "signals other processes"),
    ("pkill", "signals other processes"),
    ("skill", "signals other processes"),
    ("snice", "signals other processes"),
    ("xkill", "signals other processes"),
];

const LIMIT: Duration = Duration::from_secs(10);
const WORKERS: usize = 6;
const MINIMUM: usize = 200;

/// One program of the corpus.
struct Program {
    /// Path as found, e.g. `/usr/bin/gunzip`.
    path: PathBuf,
}

/// What one program's runs showed.
enum Verdict {
    Compared,
    NotDeterministic,
    StartsRuntime,
    Differs(String),
}

#[test]
fn programs_on_this_machine_behave_identically_with_the_library() {
    let started = Instant::now();
    let (programs, mut excluded) = corpus();
    let ours = Packages::with_libraries();
    let otel_bootstrap = ours.dir.path().join("otel-sitecustomize.py");
    std::fs::write(&otel_bootstrap, "").unwrap();
    for lang in ["python", "js", "java"] {
        ours.install_opentelemetry(lang, &[("sitecustomize.py", &otel_bootstrap)]);
    }
    let baseline = Packages::baseline();
    let scratch = tempfile::Builder::new()
        .prefix("apm-inject-corpus")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let next = AtomicUsize::new(0);
    let verdicts: Mutex<Vec<(String, Verdict)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for worker in 0..WORKERS {
            let (programs, next, verdicts) = (&programs, &next, &verdicts);
            let (ours, baseline, scratch) = (&ours, &baseline, scratch.path());
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(program) = programs.get(i) else {
                    break;
                };
                let dir = scratch.join(format!("w{worker}"));
                let sdk = if i % 2 == 0 {
                    "datadog"
                } else {
                    "opentelemetry"
                };
                let verdict = judge(program, &dir, ours, baseline, sdk);
                let name = program.path.display().to_string();
                verdicts.lock().unwrap().push((name, verdict));
            });
        }
    });

    let mut verdicts = verdicts.into_inner().unwrap();
    verdicts.sort_by(|a, b| a.0.cmp(&b.0));
    let mut compared = 0;
    let mut failures = Vec::new();
    let (mut unstable, mut starters) = (Vec::new(), Vec::new());
    for (name, verdict) in verdicts {
        match verdict {
            Verdict::Compared => compared += 1,
            Verdict::NotDeterministic => unstable.push(name),
            Verdict::StartsRuntime => starters.push(name),
            Verdict::Differs(diff) => failures.push(format!("{name}: {diff}")),
        }
    }
    excluded.insert("not deterministic", unstable.len());
    excluded.insert("starts a runtime", starters.len());
    // Straight to the process's standard error, past the test harness's capture: the count
    // belongs in every CI log.
    let _ = writeln!(
        std::io::stderr(),
        "safety corpus: {compared} distinct programs compared byte for byte, {} differ \
         ({:.0?})\nleft out: {excluded:?}\nnot deterministic: {}\nstart a runtime: {}",
        failures.len(),
        started.elapsed(),
        unstable.join(" "),
        starters.join(" "),
    );
    assert!(
        failures.is_empty(),
        "programs behave differently with the library:\n{}",
        failures.join("\n")
    );
    assert!(
        compared >= MINIMUM,
        "only {compared} programs compared (at least {MINIMUM} required)"
    );
}

#[test]
fn a_library_that_writes_one_stray_byte_is_caught() {
    // The check that the comparison can fail: a preload library that writes "!" to standard
    // error at start-up, in place of ours.
    let noisy = Packages::with_libraries();
    std::fs::copy(fixture("noisy-preload.so"), &noisy.launcher).unwrap();
    let baseline = Packages::baseline();
    let scratch = tempfile::Builder::new()
        .prefix("apm-inject-corpus")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for name in ["/usr/bin/true", "/usr/bin/ls", "/usr/bin/env"] {
        let program = Program { path: name.into() };
        let verdict = judge(&program, scratch.path(), &noisy, &baseline, "opentelemetry");
        match verdict {
            Verdict::Differs(diff) => assert!(diff.contains("with:\n!"), "{name}: {diff}"),
            _ => panic!("{name}: the stray byte went unnoticed"),
        }
    }
}

/// The distinct programs of `/usr/bin` and `/usr/sbin` (by file identity, first name in
/// order), and how many were left out before running, by reason.
fn corpus() -> (Vec<Program>, BTreeMap<&'static str, usize>) {
    let mut paths: Vec<PathBuf> = ["/usr/bin", "/usr/sbin"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let mut seen = HashSet::new();
    let mut programs = Vec::new();
    let mut excluded: BTreeMap<&'static str, usize> = BTreeMap::new();
    for path in paths {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue; // dangling link
        };
        if !meta.is_file() || meta.mode() & 0o111 == 0 || !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let reason = if meta.mode() & 0o6000 != 0 {
            Some("setuid or setgid")
        } else if DENIED.iter().any(|(n, _)| path.file_name().unwrap() == *n) {
            Some("denied (acts on the machine or other processes)")
        } else {
            match kind(&path) {
                Kind::Runtime => Some("runtime or script run by one"),
                Kind::Static => Some("fully static"),
                Kind::Other => None,
            }
        };
        match reason {
            Some(reason) => *excluded.entry(reason).or_default() += 1,
            None => programs.push(Program { path }),
        }
    }
    (programs, excluded)
}

enum Kind {
    Runtime,
    Static,
    Other,
}

fn is_runtime(path: &Path) -> bool {
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    [path, &resolved].iter().any(|p| {
        p.file_name()
            .is_some_and(|n| analyzer::runtime::detect(n.as_encoded_bytes()).is_some())
    })
}

/// Runtime (by name, or a `#!` script whose interpreter is one), fully static ELF, or other.
fn kind(path: &Path) -> Kind {
    if is_runtime(path) {
        return Kind::Runtime;
    }
    let Ok(bytes) = std::fs::read(path) else {
        return Kind::Other;
    };
    if let Some(line) = bytes.strip_prefix(b"#!") {
        let line = &line[..line.iter().position(|&c| c == b'\n').unwrap_or(line.len())];
        let mut words = line
            .split(|c| c.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let mut interpreter = words.next().unwrap_or_default();
        if interpreter.ends_with(b"/env") {
            interpreter = words.find(|w| !w.starts_with(b"-")).unwrap_or_default();
        }
        let interpreter = Path::new(std::ffi::OsStr::from_bytes(interpreter));
        return if is_runtime(interpreter) {
            Kind::Runtime
        } else {
            Kind::Other
        };
    }
    match goblin::elf::Elf::parse(&bytes) {
        Ok(elf) if elf.interpreter.is_none() => Kind::Static,
        _ => Kind::Other,
    }
}

/// Runs `program` without, with, and again without the library (up to three rounds if the
/// library's run differs while the baseline is stable), and says what that showed.
fn judge(
    program: &Program,
    dir: &Path,
    ours: &Packages,
    baseline: &Packages,
    sdk: &str,
) -> Verdict {
    let mut last = String::new();
    for _round in 0..3 {
        let Some(before) = run_once(program, dir, baseline, false, sdk) else {
            return Verdict::NotDeterministic;
        };
        let Some(with) = run_once(program, dir, ours, true, sdk) else {
            return Verdict::NotDeterministic;
        };
        let Some(after) = run_once(program, dir, baseline, false, sdk) else {
            return Verdict::NotDeterministic;
        };
        let (before, after) = (baseline.normalise(&before.0), baseline.normalise(&after.0));
        if !same(&before, &after) {
            return Verdict::NotDeterministic;
        }
        let (with, log) = (ours.normalise(&with.0), with.1);
        if let Some(problem) = log_problem(&log) {
            return Verdict::Differs(problem);
        }
        if !log.is_empty() {
            return Verdict::StartsRuntime;
        }
        if same(&with, &before) {
            return Verdict::Compared;
        }
        last = describe_difference(&before, &with);
    }
    Verdict::Differs(last)
}

/// One run in a fresh empty working directory, with SDK family `sdk`; `None` on timeout. With
/// the library, also the debug log the run left.
fn run_once(
    program: &Program,
    dir: &Path,
    packages: &Packages,
    ours: bool,
    sdk: &str,
) -> Option<(Output, String)> {
    let cwd = dir.join("cwd");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(&cwd).unwrap();
    std::os::unix::fs::chown(&cwd, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let log = dir.join("debug.log");
    let mut cmd = Command::new(&program.path);
    cmd.arg("--version")
        .current_dir(&cwd)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", &cwd)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env("LD_PRELOAD", &packages.launcher)
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true")
        .env("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", &log)
        .env("DD_APM_INSTRUMENTATION_SDK", sdk);
    as_nobody(&mut cmd);
    let output = run_limited(&mut cmd, LIMIT)?;
    let log = if ours {
        std::fs::read_to_string(&log).unwrap_or_default()
    } else {
        String::new()
    };
    Some((output, log))
}

/// A debug log may only come from runtimes; a non-runtime that logs is a bug.
fn log_problem(log: &str) -> Option<String> {
    log.lines()
        .filter_map(|l| l.split_once("process_exe: '").map(|(_, exe)| exe))
        .map(|exe| exe.trim_end_matches('\''))
        .find(|exe| !is_runtime(Path::new(exe)))
        .map(|exe| format!("a non-runtime wrote a debug log: {exe}\n{log}"))
}

fn same(a: &Output, b: &Output) -> bool {
    a.status == b.status && a.stdout == b.stdout && a.stderr == b.stderr
}

fn describe_difference(without: &Output, with: &Output) -> String {
    let short = |b: &[u8]| {
        let text = String::from_utf8_lossy(b);
        text.chars().take(600).collect::<String>()
    };
    let mut parts = Vec::new();
    if without.status != with.status {
        parts.push(format!("status {} vs {}", without.status, with.status));
    }
    if without.stdout != with.stdout {
        parts.push(format!(
            "stdout without:\n{}\nwith:\n{}",
            short(&without.stdout),
            short(&with.stdout)
        ));
    }
    if without.stderr != with.stderr {
        parts.push(format!(
            "stderr without:\n{}\nwith:\n{}",
            short(&without.stderr),
            short(&with.stderr)
        ));
    }
    parts.join("; ")
}
