//! `install` and `uninstall` as a fleet runs them: several at once on the same root, output
//! piped into a closed pipe, interrupted by signals at every step, run by a user who is not
//! root. The tree and `/etc/ld.so.preload` are always either what they were or what was
//! asked for, and leftovers of a killed run are cleaned by the next one.
#![forbid(unsafe_code)]

use apm_inject_tests::{
    apm_inject, as_nobody, run, snapshot, spawn_retrying, stderr, stdout, system_root, Packages,
};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A tree whose JavaScript library has `files` files, so that copying it takes a while.
fn big_source(files: usize) -> Packages {
    let source = Packages::with_libraries();
    let dir = source
        .root
        .join("datadog-apm-library-js/1.0.0/node_modules/filler");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..files {
        std::fs::write(
            dir.join(format!("f{i}.js")),
            format!("module.exports = {i};\n"),
        )
        .unwrap();
    }
    source
}

fn action(source: &Packages, verb: &str, root: &Path) -> Command {
    apm_inject(
        &source.shipped_cli(),
        &[verb, "--root", root.to_str().unwrap()],
    )
}

fn succeeds(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{:?}\n{}\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// The package tree of `source` as installed: the listing of each version directory.
fn installed_files(root: &Path) -> String {
    snapshot(&root.join("opt/datadog-packages"))
}

#[test]
fn concurrent_installs_take_turns_and_leave_a_complete_tree() {
    let source = big_source(1500);
    let reference = system_root();
    succeeds(run(&mut action(&source, "install", reference.path())));

    let root = system_root();
    let children: Vec<_> = (0..3)
        .map(|_| {
            let mut cmd = action(&source, "install", root.path());
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            spawn_retrying(&mut cmd)
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in outputs {
        succeeds(out);
    }
    assert_eq!(
        installed_files(root.path()),
        installed_files(reference.path())
    );
    assert_eq!(
        std::fs::read(root.path().join("etc/ld.so.preload")).unwrap(),
        std::fs::read(reference.path().join("etc/ld.so.preload")).unwrap()
    );
}

#[test]
fn install_waits_for_the_holder_of_the_lock_and_says_so() {
    let source = Packages::new();
    let root = system_root();
    // `flock` holds the same lock as a running install would, for two seconds.
    let mut holder = Command::new("flock")
        .arg(root.path().join("etc"))
        .args(["sleep", "2"])
        .spawn()
        .unwrap();
    // Until `flock` holds it: a non-blocking attempt of ours then fails.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while Command::new("flock")
        .args(["--nonblock", "--conflict-exit-code", "75"])
        .arg(root.path().join("etc"))
        .arg("true")
        .status()
        .unwrap()
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "flock never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let started = std::time::Instant::now();
    let out = succeeds(run(&mut action(&source, "install", root.path())));
    assert!(started.elapsed().as_millis() > 1000, "did not wait");
    assert!(
        stderr(&out).contains(&format!("waiting for apm-inject (pid {})", holder.id())),
        "{}",
        stderr(&out)
    );
    holder.wait().unwrap();
}

#[test]
fn install_into_a_closed_pipe_completes() {
    let source = Packages::with_libraries();
    let reference = system_root();
    succeeds(run(&mut action(&source, "install", reference.path())));
    let root = system_root();
    // `apm-inject install | head -0`, for standard output and standard error alike.
    let mut cmd = action(&source, "install", root.path());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn_retrying(&mut cmd);
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(snapshot(root.path()), snapshot(reference.path()));
}

#[test]
fn install_as_a_regular_user_says_it_must_run_as_root() {
    let source = Packages::new();
    let root = system_root();
    let before = snapshot(root.path());
    let out = run(as_nobody(&mut action(&source, "install", root.path())));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("install must run as root"),
        "{}",
        stderr(&out)
    );
    let out = run(as_nobody(&mut action(&source, "uninstall", root.path())));
    assert!(
        stderr(&out).contains("uninstall must run as root"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(root.path()), before);
}

/// How a run ended and what it left: (signal that ended it, if any; snapshot of the root).
fn interrupted_run(cmd: &mut Command, root: &Path) -> (Option<i32>, Output, String) {
    let out = run(cmd);
    (out.status.signal(), out, snapshot(root))
}

/// Runs `verb` from `source` on fresh roots made by `setup`, interrupted by `signal` at its
/// first, second, … checkpoint until a run completes. Each interrupted run must leave the root
/// exactly as before or exactly as an uninterrupted run leaves it; both must be seen. Returns
/// how many checkpoints there were.
fn stopped_at_every_checkpoint(
    source: &Packages,
    verb: &str,
    setup: impl Fn(&Path),
    signal: i32,
) -> u32 {
    let fresh = || {
        let root = system_root();
        setup(root.path());
        root
    };
    let reference = fresh();
    let before = snapshot(reference.path());
    succeeds(run(&mut action(source, verb, reference.path())));
    let after = snapshot(reference.path());
    assert_ne!(before, after);
    let (mut old, mut new) = (0, 0);
    for n in 1.. {
        let root = fresh();
        let (stopped_by, out, state) = interrupted_run(
            action(source, verb, root.path())
                .env("APM_INJECT_TEST_SIGNAL_AT", format!("{n}:{signal}")),
            root.path(),
        );
        let Some(stopped_by) = stopped_by else {
            succeeds(out);
            assert_eq!(state, after, "run {n} was not interrupted");
            assert!(
                old > 0 && new > 0,
                "old state {old} times, new state {new} times"
            );
            return n - 1;
        };
        assert_eq!(stopped_by, signal, "{}", stderr(&out));
        if state == before {
            old += 1;
        } else {
            assert_eq!(state, after, "stopped at checkpoint {n}: {}", stderr(&out));
            new += 1;
        }
    }
    unreachable!()
}

/// A root with version 1.0.0 installed beside a foreign preload entry.
fn with_version_1(root: &Path) {
    std::fs::write(root.join("etc/ld.so.preload"), "/usr/lib/libother.so\n").unwrap();
    let v1 = Packages::versioned("1.0.0");
    succeeds(run(&mut action(&v1, "install", root)));
}

/// Makes `root` a system booted by systemd with a `/usr/bin`: install adds the CLI's link and
/// the boot unit (steps of the same transaction).
fn with_systemd(root: &Path) {
    for dir in ["usr/bin", "usr/lib/systemd", "etc/systemd/system"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("usr/lib/systemd/systemd"), "").unwrap();
}

/// Version 1.0.0 installed before systemd and `/usr/bin` appeared: upgrading adds the link and
/// the unit.
fn with_version_1_then_systemd(root: &Path) {
    with_version_1(root);
    with_systemd(root);
}

/// Version 1.0.0 installed with its link and unit: uninstalling removes them.
fn with_version_1_on_systemd(root: &Path) {
    with_systemd(root);
    with_version_1(root);
}

#[test]
fn upgrade_stopped_by_sigterm_at_any_step_is_rolled_back_or_finished() {
    let v2 = Packages::with_libraries();
    let checkpoints = stopped_at_every_checkpoint(&v2, "install", with_version_1_then_systemd, 15);
    assert!(checkpoints > 10, "{checkpoints} checkpoints");
}

#[test]
fn reinstall_stopped_by_sigint_at_any_step_keeps_one_whole_copy() {
    let source = Packages::with_libraries();
    // The installed copy differs from the shipped one, so that the two can be told apart.
    let setup = |root: &Path| {
        succeeds(run(&mut action(&source, "install", root)));
        let installed = root.join("opt/datadog-packages/datadog-apm-library-python/1.0.0");
        std::fs::write(installed.join("sitecustomize.py"), "# changed\n").unwrap();
    };
    stopped_at_every_checkpoint(&source, "install", setup, 2);
}

#[test]
fn uninstall_stopped_by_sigterm_at_any_step_is_rolled_back_or_finished() {
    let source = Packages::with_libraries();
    stopped_at_every_checkpoint(&source, "uninstall", with_version_1_on_systemd, 15);
}

/// A backup of `/etc/ld.so.preload` that, restored by hand, would make every program print
/// "cannot be preloaded" must never exist, even while a killed run waits for the next one.
fn assert_no_backup_names_a_missing_launcher(root: &Path, checkpoint: u32) {
    let backup = root.join("etc/ld.so.preload.apm-inject-backup");
    let Ok(text) = std::fs::read_to_string(&backup) else {
        return;
    };
    for entry in text.lines().filter(|l| l.contains("datadog-apm-inject")) {
        let launcher = root.join(entry.trim_start_matches('/').replace("$LIB/", ""));
        assert!(
            launcher.exists(),
            "killed at {checkpoint}: {} names {entry}, which is gone",
            backup.display()
        );
    }
}

/// Kills `verb` with SIGKILL at each checkpoint in turn: `doctor` must then report the
/// interrupted change (unless the root is exactly as before or after), and running `verb`
/// again must leave exactly what an uninterrupted run leaves.
fn killed_at_every_checkpoint(source: &Packages, verb: &str, setup: impl Fn(&Path)) {
    let fresh = || {
        let root = system_root();
        setup(root.path());
        root
    };
    let reference = fresh();
    let before = snapshot(reference.path());
    succeeds(run(&mut action(source, verb, reference.path())));
    let after = snapshot(reference.path());
    for n in 1.. {
        let root = fresh();
        let (stopped_by, out, state) = interrupted_run(
            action(source, verb, root.path()).env("APM_INJECT_TEST_SIGNAL_AT", format!("{n}:9")),
            root.path(),
        );
        if stopped_by.is_none() {
            succeeds(out);
            assert_eq!(state, after);
            assert!(n > 1, "never interrupted");
            return;
        }
        assert_eq!(stopped_by, Some(9));
        assert_no_backup_names_a_missing_launcher(root.path(), n);
        if state != before && state != after {
            let doctor = run(&mut action(source, "doctor", root.path()));
            assert_eq!(doctor.status.code(), Some(2), "{}", stdout(&doctor));
            assert!(
                stdout(&doctor)
                    .lines()
                    .any(|l| l.starts_with("FAIL  interrupted_change")),
                "killed at {n}: {}",
                stdout(&doctor)
            );
        }
        let out = succeeds(run(&mut action(source, verb, root.path())));
        assert_eq!(
            snapshot(root.path()),
            after,
            "killed at {n}, then: {}",
            stdout(&out)
        );
    }
}

#[test]
fn install_killed_at_any_step_is_completed_by_the_next_run() {
    killed_at_every_checkpoint(
        &Packages::with_libraries(),
        "install",
        with_version_1_then_systemd,
    );
}

#[test]
fn uninstall_killed_at_any_step_is_completed_by_the_next_run() {
    killed_at_every_checkpoint(
        &Packages::with_libraries(),
        "uninstall",
        with_version_1_on_systemd,
    );
}

#[test]
fn install_stopped_by_sigterm_at_random_times_is_rolled_back_or_finished() {
    let source = big_source(1500);
    let reference = system_root();
    with_version_1(reference.path());
    let before = snapshot(reference.path());
    succeeds(run(&mut action(&source, "install", reference.path())));
    let after = snapshot(reference.path());
    let started = std::time::Instant::now();
    succeeds(run(&mut action(&source, "install", system_root().path())));
    let duration = started.elapsed().as_millis() as u64;
    let mut seen = (0, 0);
    for i in 0..12u64 {
        let root = system_root();
        with_version_1(root.path());
        let mut cmd = action(&source, "install", root.path());
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = spawn_retrying(&mut cmd);
        // Spread over the whole run, from the lock to the clean-up.
        std::thread::sleep(std::time::Duration::from_millis(
            duration * (i * 7 % 12) / 11,
        ));
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().unwrap();
        let state = snapshot(root.path());
        if state == before {
            seen.0 += 1;
        } else {
            assert_eq!(
                state,
                after,
                "SIGTERM after {} ms",
                duration * (i * 7 % 12) / 11
            );
            seen.1 += 1;
        }
    }
    // Most signals land before the commit point (copying and proving take most of the time).
    assert!(seen.0 > 0, "{seen:?}");
}
