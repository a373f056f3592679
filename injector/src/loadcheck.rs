//! Proving a launcher before any process depends on it: a few programs run with it in
//! `LD_PRELOAD` and must exit with status 0 without the loader complaining about it.
//!
//! For a root other than `/`, the root's own programs run, chrooted, with the launcher's path
//! as seen inside the root (the image's libc is the one that matters); if they cannot run at
//! all (an empty or foreign-architecture root), this host's programs run with the launcher's
//! path from here.

use crate::layout::Root;
use contract::layout::LAUNCHER;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Programs every check runs (each if present), then runtimes (each if present).
const PROGRAMS: &[&[&str]] = &[
    &["/bin/true"],
    &["/bin/sh", "-c", ":"],
    &["/usr/bin/python3", "-c", "pass"],
    &["/usr/local/bin/python3", "-c", "pass"],
    &["/usr/bin/node", "-e", "0"],
    &["/usr/local/bin/node", "-e", "0"],
    &["/usr/bin/java", "-version"],
];
/// How long one program may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How much of a program's standard error is kept for the report.
const STDERR_LIMIT: u64 = 64 * 1024;

/// Runs the programs with `launcher` (a path inside `root`) preloaded. Returns what ran, e.g.
/// `/bin/true, /bin/sh -c : (this host's programs)`, or why the launcher must not be used.
pub fn prove(root: &Root, launcher: &Path) -> Result<String, String> {
    if !root.path(launcher).is_file() {
        return Err(format!("{} is missing", root.path(launcher).display()));
    }
    let chroot = (!root.is_host() && run(Some(&root.dir), &["/bin/true"], None).is_ok())
        .then(|| root.dir.clone());
    let (programs_root, preload, whose) = match &chroot {
        Some(dir) => (
            dir.clone(),
            launcher.to_path_buf(),
            "the root's own programs",
        ),
        None => (
            PathBuf::from("/"),
            root.path(launcher),
            "this host's programs",
        ),
    };
    let mut ran = Vec::new();
    for argv in PROGRAMS {
        let program = programs_root.join(&argv[0][1..]);
        if std::fs::symlink_metadata(&program).is_err() {
            continue;
        }
        run(chroot.as_deref(), argv, Some(&preload)).map_err(|reason| {
            format!(
                "the launcher {} breaks `{}` ({whose}): {reason}",
                preload.display(),
                argv.join(" ")
            )
        })?;
        ran.push(argv.join(" "));
    }
    if ran.is_empty() {
        return Err(format!("no program to check the launcher with ({whose})"));
    }
    Ok(format!("{} ({whose})", ran.join(", ")))
}

/// Runs `argv` (in `chroot` if given) with a minimal environment (`PATH`, and
/// `PYTHONDONTWRITEBYTECODE`: proving writes nothing in the packages) and `preload` as
/// `LD_PRELOAD`; fails on a non-zero status, a time-out, or a loader message naming the
/// launcher on standard error.
fn run(chroot: Option<&Path>, argv: &[&str], preload: Option<&Path>) -> Result<(), String> {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        // Proving writes nothing: Python would otherwise cache byte-code in the packages.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(preload) = preload {
        cmd.env("LD_PRELOAD", preload);
    }
    if let Some(dir) = chroot {
        let dir = dir.to_path_buf();
        // SAFETY: the closure runs in the forked child before exec and only makes the chroot(2)
        // and chdir(2) system calls; this CLI has no other thread when it forks (the reader
        // thread below is joined before `run` returns), so allocating there is sound too.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                std::os::unix::fs::chroot(&dir)?;
                std::env::set_current_dir("/")
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = (&mut stderr).take(STDERR_LIMIT).read_to_end(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if started.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("still running after {} s", TIMEOUT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => break Err(format!("cannot wait for it: {e}")),
        }
    };
    let stderr = reader.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr);
    let status = status?;
    if !status.success() || stderr.contains(LAUNCHER) {
        return Err(format!("{status}, standard error: {:?}", stderr.trim_end()));
    }
    Ok(())
}

/// What the loader says when `/bin/true` starts with `LD_PRELOAD` set to `value` (e.g.
/// `ERROR: ld.so: object 'x.so' from LD_PRELOAD cannot be preloaded …: ignored.`), if it says
/// anything: the message every program started with that value would print.
pub fn loader_complaint(value: &std::ffi::OsStr) -> Option<String> {
    let out = Command::new("/bin/true")
        .env_clear()
        .env("LD_PRELOAD", value)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find(|l| l.contains("ld.so") || l.contains("LD_PRELOAD"))
        .map(str::to_owned)
}
