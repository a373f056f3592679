//! Stress: 2,000 instrumented `python3` starts and 20,000 non-runtime starts at the same time,
//! across both cores: no failure, no zombie, no process left behind, and every Python
//! instrumented exactly once.
#![deny(clippy::undocumented_unsafe_blocks)]

use apm_inject_tests::{spawn_retrying, Packages};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const PYTHON_STARTS: usize = 2_000;
const OTHER_STARTS: usize = 20_000;
const PYTHON_WORKERS: usize = 2;
const OTHER_WORKERS: usize = 3;

fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn_retrying(cmd).wait_with_output().unwrap()
}

extern "C" {
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
}

/// `PR_SET_CHILD_SUBREAPER`: orphaned descendants are re-parented to this process, so a
/// process the library left behind in a child would show up among our children.
const PR_SET_CHILD_SUBREAPER: i32 = 36;

#[test]
fn thousands_of_concurrent_starts_all_succeed() {
    // SAFETY: plain system call on this process.
    assert_eq!(unsafe { prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }, 0);
    let p = Packages::with_libraries();
    let expected_path = format!("{}\n", p.library("python").display());
    let started = Instant::now();
    let failures = std::sync::Mutex::new(Vec::<String>::new());
    let fail = |what: String| {
        let mut f = failures.lock().unwrap();
        if f.len() < 20 {
            f.push(what);
        }
    };
    let (python_next, other_next) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let instrumented = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..PYTHON_WORKERS {
            s.spawn(|| {
                while python_next.fetch_add(1, Ordering::Relaxed) < PYTHON_STARTS {
                    let out = output(
                        p.command("/usr/bin/python3")
                            .args(["-c", "import os; print(os.environ['PYTHONPATH'])"])
                            .env_clear()
                            .env("LD_PRELOAD", &p.launcher),
                    );
                    let ok = out.status.success()
                        && out.stdout == expected_path.as_bytes()
                        && out.stderr == b"fixture sitecustomize loaded\n";
                    if ok {
                        instrumented.fetch_add(1, Ordering::Relaxed);
                    } else {
                        fail(format!("python3: {out:?}"));
                    }
                }
            });
        }
        for _ in 0..OTHER_WORKERS {
            s.spawn(|| loop {
                let i = other_next.fetch_add(1, Ordering::Relaxed);
                if i >= OTHER_STARTS {
                    break;
                }
                // Alternately a silent program with an exit status and one that prints.
                let out = if i % 2 == 0 {
                    output(&mut p.command("/usr/bin/false"))
                } else {
                    output(p.command("/usr/bin/echo").arg(i.to_string()))
                };
                let ok = if i % 2 == 0 {
                    out.status.code() == Some(1) && out.stdout.is_empty()
                } else {
                    out.status.success() && out.stdout == format!("{i}\n").as_bytes()
                };
                if !ok || !out.stderr.is_empty() {
                    fail(format!("start {i}: {out:?}"));
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let failures = failures.into_inner().unwrap();
    let (zombies, left) = children();
    let _ = writeln!(
        std::io::stderr(),
        "stress: {} python3 instrumented of {PYTHON_STARTS}, {OTHER_STARTS} other starts, \
         {} failures, {zombies} zombies, {left} processes left, {elapsed:.1?}",
        instrumented.load(Ordering::Relaxed),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(instrumented.load(Ordering::Relaxed), PYTHON_STARTS);
    assert_eq!(zombies, 0, "zombie children");
    assert_eq!(left, 0, "children still running");
}

/// This process's children (descendants too, being a subreaper): how many are zombies, and
/// how many are still there at all.
fn children() -> (usize, usize) {
    let me = std::process::id().to_string();
    let (mut zombies, mut all) = (0, 0);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may contain spaces, so split after its ')'.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let state = fields.next().unwrap_or_default();
        if fields.next() == Some(me.as_str()) {
            all += 1;
            if state == "Z" {
                zombies += 1;
            }
        }
    }
    (zombies, all)
}
