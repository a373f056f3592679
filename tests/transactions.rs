//! `install` and `uninstall` as a fleet runs them: several at once on the same root, output
//! piped into a closed pipe, interrupted by signals at every step, run by a user who is not
//! root. The tree and `/etc/ld.so.preload` are always either what they were or what was
//! asked for, and leftovers of a killed run are cleaned by the next one.

use apm_inject_tests::{
    apm_inject, as_nobody, run, snapshot, spawn_retrying, stderr, stdout, system_root, Packages,
};
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
    std::thread::sleep(std::time::Duration::from_millis(300));
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
