//! The Ruby library package's bootstrap (`libraries/ruby/host_inject.rb`) under the library,
//! with a fixture `datadog` gem (RubyGems is not reachable here): the tracer loads, with and
//! without Bundler, and nothing is ever written in the application's directory.
#![forbid(unsafe_code)]

use apm_inject_tests::{run, source_fixture, stderr, stdout, workspace, Packages};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const APP: &str = "puts \"app ran, tracer: #{defined?(Datadog::Tracing).inspect}\"\n";

/// A package tree whose Ruby package holds the real bootstrap and, if `with_gem`, the
/// fixture tracer gem installed the way a package build would (`gem install --install-dir`).
fn packages(with_gem: bool) -> Packages {
    let p = Packages::with_libraries();
    let package = p.library("ruby");
    std::fs::copy(
        workspace().join("libraries/ruby/host_inject.rb"),
        package.join("host_inject.rb"),
    )
    .unwrap();
    if with_gem {
        let build = p.dir.path().join("gem-build");
        copy_dir(&source_fixture("datadog-gem"), &build);
        let ok = |cmd: &mut Command| {
            assert!(run(cmd).status.success(), "{cmd:?}");
        };
        ok(Command::new("gem")
            .args(["build", "datadog.gemspec"])
            .current_dir(&build));
        ok(Command::new("gem")
            .args(["install", "--local", "--no-document", "--install-dir"])
            .arg(package.join("gems"))
            .arg(build.join("datadog-0.0.1.gem")));
        ok(Command::new("chmod")
            .args(["-R", "go-w,a+rX"])
            .arg(&package));
    }
    p
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file of `dir` with its contents, to prove nothing was written.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    files
}

fn app_dir(p: &Packages, lock: &str) -> PathBuf {
    let dir = p.dir.path().join("app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.rb"), APP).unwrap();
    std::fs::write(dir.join("Gemfile"), "# the application's bundle\n").unwrap();
    std::fs::write(dir.join("Gemfile.lock"), lock).unwrap();
    dir
}

const EMPTY_LOCK: &str =
    "GEM\n  specs:\n\nPLATFORMS\n  x86_64-linux\n\nDEPENDENCIES\n\nBUNDLED WITH\n   2.3.27\n";

#[test]
fn tracer_loads_without_bundler() {
    let p = packages(true);
    let dir = p.dir.path().join("plain");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("app.rb"), APP).unwrap();
    let before = snapshot(&dir);
    let out = run(p.command("ruby").arg("app.rb").current_dir(&dir));
    assert_eq!(
        stdout(&out),
        "app ran, tracer: \"constant\"\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out), "fixture datadog tracer loaded\n");
    assert_eq!(
        snapshot(&dir),
        before,
        "nothing written in the application's directory"
    );
}

#[test]
fn tracer_loads_under_bundle_exec_and_the_bundle_is_untouched() {
    let p = packages(true);
    let dir = app_dir(&p, EMPTY_LOCK);
    let before = snapshot(&dir);
    let out = run(p
        .command("bundle3.1")
        .args(["exec", "ruby", "app.rb"])
        .current_dir(&dir));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "app ran, tracer: \"constant\"\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(
        snapshot(&dir),
        before,
        "Gemfile and lockfile untouched, no file added"
    );
}

#[test]
fn app_bundling_its_own_tracer_keeps_it() {
    let p = packages(true);
    let lock = EMPTY_LOCK.replace("  specs:\n", "  specs:\n    datadog (2.3.0)\n");
    let dir = app_dir(&p, &lock);
    let out = run(p
        .command("ruby")
        .arg("app.rb")
        .current_dir(&dir)
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert_eq!(stdout(&out), "app ran, tracer: nil\n");
    assert!(
        stderr(&out).contains(
            "datadog host_inject: not instrumented: the application bundles its own tracer"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_tracer_gems_leave_the_app_running_and_say_why() {
    let p = packages(false);
    let dir = app_dir(&p, EMPTY_LOCK);
    let out = run(p.command("ruby").arg("app.rb").current_dir(&dir));
    assert_eq!(
        (stdout(&out).as_str(), stderr(&out).as_str()),
        ("app ran, tracer: nil\n", ""),
        "silent without debug"
    );
    let out = run(p
        .command("ruby")
        .arg("app.rb")
        .current_dir(&dir)
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert_eq!(stdout(&out), "app ran, tracer: nil\n");
    assert!(
        stderr(&out).contains("not instrumented: no tracer gems in"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rubyopt_without_the_launcher_loads_nothing() {
    // RUBYOPT inherited by a Ruby the launcher never saw (LD_PRELOAD removed): only a process
    // the launcher decided on loads the tracer.
    let p = packages(true);
    let dir = p.dir.path().join("plain");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("app.rb"), APP).unwrap();
    let bootstrap = p.library("ruby").join("host_inject");
    let out = run(Command::new("ruby")
        .arg("app.rb")
        .current_dir(&dir)
        .env_remove("LD_PRELOAD")
        .env("RUBYOPT", format!("-r{}", bootstrap.display()))
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert_eq!(stdout(&out), "app ran, tracer: nil\n", "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}
