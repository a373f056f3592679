//! Which processes the library decides for: exactly those whose executable, as
//! `/proc/self/exe` names it, is a runtime (or a .NET apphost), however they were started.
//! Most processes are ruled out from the path given to `execve` without reading `/proc`
//! (`launcher-preload/src/screen.rs`); these are the cases where that path and the executable
//! differ or could be mistaken for one another.
//!
//! A decision shows as the debug log's `process_exe: '<executable>'` line. The programs are
//! copies of the environment probe named like runtimes (`node`), which the library decides for
//! like the real ones.
#![forbid(unsafe_code)]

use apm_inject_tests::{fixture, install_as, run, stderr, Packages};
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A package tree and a directory of programs laid out by each test.
struct Scene {
    packages: Packages,
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        Scene {
            packages: Packages::with_libraries(),
            dir,
        }
    }

    /// `<dir>/<relative>`.
    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// A copy of the glibc (or musl) probe at `relative`.
    fn program(&self, relative: &str, libc: &str) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        install_as(
            &fixture(&format!("envprobe-{libc}")),
            path.parent().unwrap(),
            path.file_name().unwrap().to_str().unwrap(),
        )
    }

    /// A symbolic link at `relative` to `target`.
    fn link(&self, relative: &str, target: impl AsRef<Path>) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(target, &path).unwrap();
        path
    }

    /// An executable `#!` script at `relative`.
    fn script(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path(relative);
        std::fs::write(&path, text).unwrap();
        install_as(&path.clone(), path.parent().unwrap(), "tmp-script");
        std::fs::rename(self.path("tmp-script"), &path).unwrap();
        path
    }

    /// The executables the library decided for while `cmd` ran (its process and children).
    fn decided(&self, cmd: &mut Command) -> Vec<PathBuf> {
        let log = self.path("debug.log");
        let _ = std::fs::remove_file(&log);
        let out = run(cmd
            .env("LD_PRELOAD", &self.packages.launcher)
            .env("DD_APM_INSTRUMENTATION_DEBUG", "true")
            .env("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", &log));
        assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once("process_exe: '").map(|(_, exe)| exe))
            .map(|exe| PathBuf::from(exe.trim_end_matches('\'')))
            .collect()
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap()
}

#[test]
fn runtime_started_through_links_under_other_names_is_decided() {
    let s = Scene::new();
    let node = s.program("opt/v1/node", "glibc");
    s.link("opt/current", "v1");
    s.link("bin/service", "../opt/current/node"); // relative, through a directory link
    s.link("bin/chain", "service"); // a link to a link
    s.link("usr/bin/absolute", &node);
    for started in ["bin/service", "bin/chain", "usr/bin/absolute"] {
        assert_eq!(
            s.decided(&mut Command::new(s.path(started))),
            [canonical(&node)],
            "{started}"
        );
    }
}

#[test]
fn runtime_started_by_a_relative_path_is_decided() {
    let s = Scene::new();
    let node = s.program("node", "glibc");
    s.link("app", "node");
    for started in ["./node", "./app"] {
        let mut cmd = Command::new(started);
        cmd.current_dir(s.dir.path());
        assert_eq!(s.decided(&mut cmd), [canonical(&node)], "{started}");
    }
}

#[test]
fn runtime_under_another_name_is_not_decided_for_a_copy_or_a_hard_link() {
    // /proc/self/exe names a hard link by the name it was run by, as it always did.
    let s = Scene::new();
    let node = s.program("node", "glibc");
    std::fs::hard_link(&node, s.path("hard")).unwrap();
    s.program("renamed", "glibc");
    assert!(s.decided(&mut Command::new(s.path("hard"))).is_empty());
    assert!(s.decided(&mut Command::new(s.path("renamed"))).is_empty());
    assert_eq!(s.decided(&mut Command::new(&node)), [canonical(&node)]);
}

#[test]
fn non_runtime_reached_through_a_link_named_like_a_runtime_is_not_decided() {
    let s = Scene::new();
    s.link("python3", "/bin/true");
    s.link("java", "/bin/sh");
    assert!(s.decided(&mut Command::new(s.path("python3"))).is_empty());
    assert!(s
        .decided(Command::new(s.path("java")).args(["-c", ":"]))
        .is_empty());
}

#[test]
fn scripts_are_decided_by_their_interpreter() {
    let s = Scene::new();
    let node = s.program("runtime/node", "glibc");
    s.link("interp", &node);
    let direct = s.script("direct", &format!("#!{}\n", node.display()));
    let linked = s.script(
        "linked",
        &format!("#!{} --flag\n", s.path("interp").display()),
    );
    let nested = s.script("nested", &format!("#!{}\n", direct.display()));
    for script in [&direct, &linked, &nested] {
        assert_eq!(
            s.decided(&mut Command::new(script)),
            [canonical(&node)],
            "{}",
            script.display()
        );
    }
    // A script named like a runtime, run by a shell, is the shell's business.
    let shell = s.script("node", "#!/bin/sh\nexit 0\n");
    assert!(s.decided(&mut Command::new(shell)).is_empty());
}

#[test]
fn runtime_found_by_env_is_decided_and_env_is_not() {
    let s = Scene::new();
    let node = s.program("bin/node", "glibc");
    let script = s.script("app", "#!/usr/bin/env node\n");
    let path = format!("{}:/usr/bin:/bin", s.path("bin").display());
    assert_eq!(
        s.decided(Command::new(&script).env("PATH", &path)),
        [canonical(&node)]
    );
    assert_eq!(
        s.decided(Command::new("env").arg("node").env("PATH", &path)),
        [canonical(&node)]
    );
}

#[test]
fn argv_zero_does_not_change_what_is_decided() {
    let s = Scene::new();
    let node = s.program("node", "glibc");
    // Spoofed through execve's argv, and with bash's exec -a.
    assert!(s.decided(Command::new("/bin/true").arg0("node")).is_empty());
    assert!(s
        .decided(Command::new("/bin/true").arg0("/usr/bin/python3"))
        .is_empty());
    assert_eq!(
        s.decided(Command::new(&node).arg0("service")),
        [canonical(&node)]
    );
    let exec_a = |name: &str, program: &Path| {
        let mut cmd = Command::new("bash");
        cmd.args(["-c", &format!("exec -a {name} {}", program.display())]);
        cmd
    };
    assert!(s
        .decided(&mut exec_a("node", Path::new("/bin/true")))
        .is_empty());
    assert_eq!(s.decided(&mut exec_a("myapp", &node)), [canonical(&node)]);
}

#[test]
fn program_given_its_own_path_as_an_argument_is_decided_as_usual() {
    // The path among the first arguments looks like a script run by an interpreter: the
    // library then asks /proc, with the same answer.
    let s = Scene::new();
    let node = s.program("node", "glibc");
    let link = s.link("service", &node);
    assert_eq!(
        s.decided(Command::new(&link).arg(&link)),
        [canonical(&node)]
    );
    assert!(s.decided(Command::new("/bin/ls").arg("/bin/ls")).is_empty());
}

#[test]
fn musl_programs_are_decided_from_proc_alike() {
    // musl gives constructors nothing: the library asks /proc.
    let s = Scene::new();
    let node = s.program("opt/node", "musl");
    s.link("bin/service", "../opt/node");
    s.program("bin/other", "musl");
    assert_eq!(
        s.decided(&mut Command::new(s.path("bin/service"))),
        [canonical(&node)]
    );
    assert!(s.decided(&mut Command::new(s.path("bin/other"))).is_empty());
}

#[test]
fn apphost_is_decided_through_a_link() {
    let s = Scene::new();
    let app = s.program("app/Shop.Api", "glibc");
    std::fs::write(s.path("app/Shop.Api.runtimeconfig.json"), "{}").unwrap();
    s.link("bin/shop", &app);
    for started in ["app/Shop.Api", "bin/shop"] {
        assert_eq!(
            s.decided(&mut Command::new(s.path(started))),
            [canonical(&app)],
            "{started}"
        );
    }
    std::fs::remove_file(s.path("app/Shop.Api.runtimeconfig.json")).unwrap();
    assert!(s.decided(&mut Command::new(s.path("bin/shop"))).is_empty());
}

#[test]
fn program_run_by_the_dynamic_loader_itself_is_decided_as_the_loader() {
    // /proc/self/exe names the loader, which is no runtime: as before, nothing is decided.
    let s = Scene::new();
    let node = s.program("node", "glibc");
    assert!(s
        .decided(Command::new("/lib64/ld-linux-x86-64.so.2").arg(&node))
        .is_empty());
}

/// Whether the library went on to name the executable in a run of `program` (a libc-free
/// program has no `setenv`, so a decision stops before logging): it read `/proc/self/exe`, or
/// walked the directories of the program's path (`canonical`), which the screen never does.
fn reaches_the_exact_test(packages: &Packages, program: &Path) -> bool {
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=readlinkat"])
        .arg("-E")
        .arg(format!("LD_PRELOAD={}", packages.launcher.display()))
        .arg(program)
        .output()
        .expect("strace (make deps)");
    let calls = String::from_utf8_lossy(&out.stderr);
    let dir = format!("\"{}\"", program.parent().unwrap().display());
    calls.contains("\"/proc/self/exe\"") || calls.contains(&dir)
}

#[test]
fn libc_free_program_named_like_a_runtime_reaches_the_decision() {
    let s = Scene::new();
    let go = fixture("goprobe");
    let named = install_as(&go, s.dir.path(), "node");
    let other = install_as(&go, s.dir.path(), "goprobe");
    assert!(reaches_the_exact_test(&s.packages, &named));
    assert!(!reaches_the_exact_test(&s.packages, &other));
}
