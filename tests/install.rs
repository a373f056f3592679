//! `apm-inject install --root DIR`: package layout, `/etc/ld.so.preload` editing, the launcher
//! pre-check, and refusals that leave everything as it was. Everything happens in temporary
//! roots; `tests/host.rs` covers the host's own paths.
#![forbid(unsafe_code)]

use apm_inject_tests::{
    apm_inject, cli, fixture, names_in, run, snapshot, stderr, stdout, system_root, Packages,
    VERSION,
};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STABLE_LAUNCHER: &str =
    "/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so";

fn install(source: &Packages, root: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["install", "--root", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&mut apm_inject(&source.shipped_cli(), &args))
}

/// `install --root ROOT`, to be run.
fn install_command(source: &Packages, root: &Path) -> Command {
    apm_inject(
        &source.shipped_cli(),
        &["install", "--root", root.to_str().unwrap()],
    )
}

fn install_ok(source: &Packages, root: &Path) -> Output {
    let out = install(source, root, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

fn preload(root: &Path) -> String {
    std::fs::read_to_string(root.join("etc/ld.so.preload")).unwrap()
}

fn packages(root: &Path) -> PathBuf {
    root.join("opt/datadog-packages")
}

fn stable(root: &Path, package: &str) -> String {
    let link = packages(root).join(package).join("stable");
    std::fs::read_link(link)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn install_lays_out_packages_with_fixed_modes_whatever_the_umask() {
    let source = Packages::with_libraries();
    // Owner-only modes in the source: installed files must still be readable by everyone.
    let private = |path: PathBuf, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let tool = source.inject_dir().join("inject/tool");
    std::fs::write(&tool, "#!/bin/sh\n").unwrap();
    private(tool, 0o700);
    private(source.library("python").join("sitecustomize.py"), 0o600);
    let root = system_root();
    install_ok(&source, root.path());
    let tree = packages(root.path());
    assert_eq!(stable(root.path(), "datadog-apm-inject"), VERSION);
    for lang in ["java", "js", "python"] {
        assert_eq!(
            stable(root.path(), &format!("datadog-apm-library-{lang}")),
            "1.0.0"
        );
    }
    let walk = Command::new("find").arg(&tree).output().unwrap();
    let mut checked = 0;
    for line in stdout(&walk).lines() {
        let path = Path::new(line);
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{line}");
        let relative = path.strip_prefix(&tree).unwrap();
        // The manifest install writes into each version is the only file not from the source.
        let from_source = source.root.join(relative);
        let source_mode = match relative.ends_with(".apm-inject-manifest") {
            true => 0o600,
            false => mode(&from_source),
        };
        let expected = if meta.file_type().is_symlink() {
            continue;
        } else if meta.is_dir() || source_mode & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        assert_eq!(mode(path), expected, "{line}");
        checked += 1;
    }
    assert!(checked > 15, "{}", stdout(&walk));
    let installed = |relative: &str| mode(&tree.join(relative));
    assert_eq!(
        installed("datadog-apm-library-python/1.0.0/sitecustomize.py"),
        0o644
    );
    assert_eq!(
        installed(&format!("datadog-apm-inject/{VERSION}/inject/apm-inject")),
        0o755
    );
    assert_eq!(preload(root.path()), format!("{STABLE_LAUNCHER}\n"));
    assert_eq!(mode(&root.path().join("etc/ld.so.preload")), 0o644);
}

#[test]
fn reinstall_lists_the_launcher_once() {
    let source = Packages::with_libraries();
    let root = system_root();
    install_ok(&source, root.path());
    let out = install_ok(&source, root.path());
    assert!(stdout(&out).contains("already lists"), "{}", stdout(&out));
    assert_eq!(preload(root.path()), format!("{STABLE_LAUNCHER}\n"));
    let inject = packages(root.path()).join("datadog-apm-inject");
    assert_eq!(names_in(&inject), [VERSION, "stable"]);
    assert!(inject
        .join(VERSION)
        .join("inject/launcher.preload.so")
        .is_file());
}

#[test]
fn upgrade_switches_stable_and_removes_the_old_version() {
    let root = system_root();
    install_ok(&Packages::versioned("1.0.0"), root.path());
    let out = install_ok(&Packages::versioned("2.0.0"), root.path());
    let inject = packages(root.path()).join("datadog-apm-inject");
    assert_eq!(names_in(&inject), ["2.0.0", "stable"]);
    assert_eq!(stable(root.path(), "datadog-apm-inject"), "2.0.0");
    assert!(stdout(&out).contains("removed"), "{}", stdout(&out));
    assert_eq!(preload(root.path()), format!("{STABLE_LAUNCHER}\n"));
}

#[test]
fn foreign_entries_stay_in_order_and_an_older_path_is_replaced_in_place() {
    let root = system_root();
    let before =
        "/usr/lib/libfirst.so\n/opt/datadog/apm/inject/launcher.preload.so\n/usr/lib/liblast.so";
    std::fs::write(root.path().join("etc/ld.so.preload"), before).unwrap();
    std::fs::set_permissions(
        root.path().join("etc/ld.so.preload"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    install_ok(&Packages::new(), root.path());
    assert_eq!(
        preload(root.path()),
        format!("/usr/lib/libfirst.so\n{STABLE_LAUNCHER}\n/usr/lib/liblast.so\n")
    );
    assert_eq!(mode(&root.path().join("etc/ld.so.preload")), 0o644);
    // The previous content is kept only until the change is committed.
    assert_eq!(names_in(&root.path().join("etc")), ["ld.so.preload"]);
}

#[test]
fn container_install_prints_the_env_line() {
    let root = system_root();
    let out = install(&Packages::new(), root.path(), &["--container"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l == format!("ENV LD_PRELOAD={}", STABLE_LAUNCHER.replace('$', "\\$"))),
        "{}",
        stdout(&out)
    );
}

/// Installs a good 1.0.0 next to a foreign entry, then tries `broken` (a 2.0.0 tree whose
/// launcher is made unusable by `break_it`): the install must fail and change nothing.
fn broken_upgrade_changes_nothing(break_it: impl FnOnce(&Path)) -> String {
    let root = system_root();
    std::fs::write(
        root.path().join("etc/ld.so.preload"),
        "/usr/lib/libother.so\n",
    )
    .unwrap();
    install_ok(&Packages::versioned("1.0.0"), root.path());
    let before = preload(root.path());
    let broken = Packages::versioned("2.0.0");
    break_it(&broken.inject_dir().join("inject/launcher.preload.so"));
    let out = install(&broken, root.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("nothing was changed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(preload(root.path()), before);
    let inject = packages(root.path()).join("datadog-apm-inject");
    assert_eq!(names_in(&inject), ["1.0.0", "stable"]);
    assert_eq!(stable(root.path(), "datadog-apm-inject"), "1.0.0");
    stderr(&out)
}

#[test]
fn launcher_that_is_not_an_elf_fails_the_pre_check() {
    let err = broken_upgrade_changes_nothing(|launcher| {
        std::fs::write(launcher, "not a shared library\n").unwrap();
    });
    assert!(err.contains("breaks `/bin/true`"), "{err}");
    assert!(err.contains("cannot be preloaded"), "{err}");
}

#[test]
fn launcher_with_a_missing_dependency_fails_the_pre_check() {
    let err = broken_upgrade_changes_nothing(|launcher| {
        let build = tempfile::tempdir().unwrap();
        let dir = build.path();
        std::fs::write(dir.join("dep.c"), "int dep(void) { return 0; }\n").unwrap();
        std::fs::write(
            dir.join("lib.c"),
            "int dep(void); int f(void) { return dep(); }\n",
        )
        .unwrap();
        let gcc = |args: &[&str]| {
            let out = run(Command::new("gcc").args(args).current_dir(dir));
            assert!(out.status.success(), "{}", stderr(&out));
        };
        gcc(&["-shared", "-fPIC", "-o", "libapm_gone.so", "dep.c"]);
        gcc(&[
            "-shared",
            "-fPIC",
            "-o",
            "broken.so",
            "lib.c",
            "-L.",
            "-lapm_gone",
        ]);
        std::fs::copy(dir.join("broken.so"), launcher).unwrap();
    });
    assert!(err.contains("libapm_gone.so"), "{err}");
}

#[test]
fn pre_check_uses_the_roots_own_programs_when_they_run() {
    // A musl root whose /bin/true and /bin/sh are a musl program: the launcher is proven
    // against the image's libc, under the path the image will use.
    let root = system_root();
    for dir in ["bin", "lib"] {
        std::fs::create_dir(root.path().join(dir)).unwrap();
    }
    std::fs::copy(
        "/lib/ld-musl-x86_64.so.1",
        root.path().join("lib/ld-musl-x86_64.so.1"),
    )
    .unwrap();
    for program in ["true", "sh"] {
        apm_inject_tests::install_as(&fixture("envprobe-musl"), &root.path().join("bin"), program);
    }
    let out = install_ok(&Packages::new(), root.path());
    assert!(
        stdout(&out).contains("/bin/true, /bin/sh -c : (the root's own programs)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn preload_file_that_is_a_directory_is_refused() {
    let root = system_root();
    std::fs::create_dir(root.path().join("etc/ld.so.preload")).unwrap();
    let out = install(&Packages::new(), root.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("ld.so.preload is a directory"),
        "{}",
        stderr(&out)
    );
    assert!(!root.path().join("opt").exists());
}

#[test]
fn preload_file_that_is_a_fifo_is_refused_without_blocking() {
    let root = system_root();
    let fifo = root.path().join("etc/ld.so.preload");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let started = std::time::Instant::now();
    let out = install(&Packages::new(), root.path(), &[]);
    assert!(started.elapsed().as_secs() < 30);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("ld.so.preload is a FIFO"),
        "{}",
        stderr(&out)
    );
    assert!(std::fs::symlink_metadata(&fifo).is_ok());
    assert!(!root.path().join("opt").exists());
}

#[test]
fn missing_launcher_is_refused() {
    let source = Packages::new();
    std::fs::remove_file(source.inject_dir().join("inject/launcher.preload.so")).unwrap();
    let root = system_root();
    let out = install(&source, root.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("inject/$LIB/launcher.preload.so is missing"),
        "{}",
        stderr(&out)
    );
    assert!(!root.path().join("opt").exists());
}

#[test]
fn install_outside_a_package_tree_is_refused() {
    let root = system_root();
    let out = run(&mut apm_inject(
        &cli(),
        &["install", "--root", root.path().to_str().unwrap()],
    ));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not in a package tree"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn root_without_etc_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let out = install(&Packages::new(), root.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the root of a system?"),
        "{}",
        stderr(&out)
    );
    assert!(!root.path().join("opt").exists());
}

#[test]
fn installed_cli_reinstalls_from_its_own_tree() {
    let root = system_root();
    install_ok(&Packages::with_libraries(), root.path());
    std::fs::write(root.path().join("etc/ld.so.preload"), "/usr/lib/liba.so\n").unwrap();
    let installed_cli = packages(root.path()).join("datadog-apm-inject/stable/inject/apm-inject");
    let out = run(&mut apm_inject(
        &installed_cli,
        &["install", "--root", root.path().to_str().unwrap()],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        preload(root.path()),
        format!("/usr/lib/liba.so\n{STABLE_LAUNCHER}\n")
    );
    let python = packages(root.path()).join("datadog-apm-library-python");
    assert_eq!(names_in(&python), ["1.0.0", "stable"]);
    assert!(python.join("1.0.0/sitecustomize.py").is_file());
}

/// A system root with the directories a Debian system has for commands, manual pages and
/// completions.
fn root_with_usr() -> tempfile::TempDir {
    let root = system_root();
    for dir in [
        "usr/bin",
        "usr/share/man/man1",
        "usr/share/bash-completion/completions",
    ] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    root
}

/// A tree whose injector ships its manual pages and completion, as `make dist` makes them.
fn with_manual() -> Packages {
    let source = Packages::with_libraries();
    let inject = source.inject_dir().join("inject");
    let out = run(Command::new(cli()).arg("man").arg(inject.join("man")));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(Command::new(cli()).args(["completions", "bash"]));
    std::fs::write(inject.join("apm-inject.bash"), &out.stdout).unwrap();
    source
}

#[test]
fn install_links_the_cli_its_manual_and_completion_and_uninstall_takes_them_away() {
    let source = with_manual();
    let root = root_with_usr();
    // Someone else's file holds one of the names: it is left alone.
    let foreign = root
        .path()
        .join("usr/share/bash-completion/completions/apm-inject");
    std::fs::write(&foreign, "# not ours\n").unwrap();
    let out = install_ok(&source, root.path());
    assert!(
        stdout(&out).contains(&format!("left alone: {}", foreign.display())),
        "{}",
        stdout(&out)
    );
    let stable = "/opt/datadog-packages/datadog-apm-inject/stable/inject";
    let link = |relative: &str| {
        std::fs::read_link(root.path().join(relative))
            .unwrap_or_else(|e| panic!("{relative}: {e}"))
            .display()
            .to_string()
    };
    assert_eq!(link("usr/bin/apm-inject"), format!("{stable}/apm-inject"));
    assert_eq!(
        link("usr/share/man/man1/apm-inject.1"),
        format!("{stable}/man/apm-inject.1")
    );
    assert_eq!(
        link("usr/share/man/man1/apm-inject-install.1"),
        format!("{stable}/man/apm-inject-install.1")
    );
    let out = run(&mut apm_inject(
        &source.shipped_cli(),
        &["uninstall", "--root", root.path().to_str().unwrap()],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(names_in(&root.path().join("usr/bin")).is_empty());
    assert!(names_in(&root.path().join("usr/share/man/man1")).is_empty());
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "# not ours\n");
}

#[test]
fn install_enables_a_boot_unit_where_systemd_starts_the_root() {
    let source = Packages::with_libraries();
    let root = system_root();
    std::fs::create_dir_all(root.path().join("usr/lib/systemd")).unwrap();
    std::fs::write(root.path().join("usr/lib/systemd/systemd"), "").unwrap();
    std::fs::create_dir_all(root.path().join("etc/systemd/system")).unwrap();
    install_ok(&source, root.path());
    let unit = root.path().join("etc/systemd/system/apm-inject.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(
            "ExecStart=/opt/datadog-packages/datadog-apm-inject/stable/inject/apm-inject boot\n"
        ),
        "{text}"
    );
    assert_eq!(mode(&unit), 0o644);
    assert_eq!(
        std::fs::read_link(
            root.path()
                .join("etc/systemd/system/sysinit.target.wants/apm-inject.service")
        )
        .unwrap(),
        Path::new("/etc/systemd/system/apm-inject.service")
    );
    let out = run(&mut apm_inject(
        &source.shipped_cli(),
        &["uninstall", "--root", root.path().to_str().unwrap()],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        names_in(&root.path().join("etc/systemd/system")),
        Vec::<String>::new()
    );

    // A root without systemd gets no unit.
    let plain = system_root();
    install_ok(&source, plain.path());
    assert!(!plain.path().join("etc/systemd").exists());
}

#[test]
fn manual_and_completion_come_from_the_cli_definition() {
    let page = run(Command::new("sh")
        .arg("-c")
        .arg(format!("{} man | man -l -", cli().display())));
    let text = stdout(&page);
    for expected in [
        "apm-inject - Single-step APM instrumentation",
        "install",
        "doctor",
        "flare",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    // bash completes subcommands from the generated script.
    let script = format!(
        r#"source <({} completions bash)
        COMP_WORDS=(apm-inject uni); COMP_CWORD=1; COMP_LINE="apm-inject uni"; COMP_POINT=14
        $(complete -p apm-inject | sed -n 's/.*-F \([^ ]*\) .*/\1/p') apm-inject uni apm-inject
        echo "${{COMPREPLY[@]}}""#,
        cli().display()
    );
    let out = run(Command::new("bash").arg("-c").arg(script));
    assert_eq!(stdout(&out).trim(), "uninstall", "{}", stderr(&out));
}

#[test]
fn docker_is_never_pointed_at_a_shim_the_package_lacks() {
    // A package without `inject/auto_inject_runc` (the fixture's) on a root where Docker is
    // present: naming the missing shim in daemon.json would fail every container start.
    let source = Packages::new();
    let root = system_root();
    std::fs::create_dir_all(root.path().join("etc/docker")).unwrap();
    let out = install_ok(&source, root.path());
    assert!(stdout(&out).contains("Docker: skipped"), "{}", stdout(&out));
    assert!(!root.path().join("etc/docker/daemon.json").exists());
    assert_eq!(preload(root.path()), format!("{STABLE_LAUNCHER}\n"));
    // Asked for, it is a clear error and nothing changes.
    let other = system_root();
    std::fs::create_dir_all(other.path().join("etc/docker")).unwrap();
    let out = install(&source, other.path(), &["--docker"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("auto_inject_runc is missing"),
        "{}",
        stderr(&out)
    );
    assert!(!other.path().join("etc/docker/daemon.json").exists());
    assert!(!other.path().join("opt").exists());
}

/// Writes the manifest of every version directory of `source`, as `make dist` and
/// `make libraries` do.
fn with_manifests(source: &Packages) {
    for package in std::fs::read_dir(&source.root).unwrap() {
        let package = package.unwrap().path();
        for version in names_in(&package).into_iter().filter(|v| v != "stable") {
            let out = run(Command::new(cli())
                .arg("manifest")
                .arg(package.join(version)));
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
}

/// What a damaged file went through, and how to do it to a file.
type Damage = (&'static str, fn(&Path));

#[test]
fn a_package_that_differs_from_its_manifest_is_refused_before_anything_switches() {
    // Version 1.0.0 of the injector is installed; 0.1.0's Python library, copied after the
    // injector and the Java and Node.js libraries, is damaged after its manifest was written.
    let library = |source: &Packages| {
        source
            .root
            .join("datadog-apm-library-python/1.0.0/sitecustomize.py")
    };
    let damages: [Damage; 4] = [
        ("truncated", |file| {
            let text = std::fs::read(file).unwrap();
            std::fs::write(file, &text[..text.len() / 2]).unwrap();
        }),
        ("same size, other bytes", |file| {
            let mut text = std::fs::read(file).unwrap();
            text[0] ^= 1;
            std::fs::write(file, text).unwrap();
        }),
        ("missing", |file| std::fs::remove_file(file).unwrap()),
        ("a link instead", |file| {
            std::fs::remove_file(file).unwrap();
            std::os::unix::fs::symlink("/etc/passwd", file).unwrap();
        }),
    ];
    for (what, damage) in damages {
        let root = system_root();
        std::fs::write(root.path().join("etc/ld.so.preload"), "/usr/lib/liba.so\n").unwrap();
        install_ok(&Packages::versioned("1.0.0"), root.path());
        let before = snapshot(root.path());
        let source = Packages::with_libraries();
        with_manifests(&source);
        damage(&library(&source));
        let out = install(&source, root.path(), &[]);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("sitecustomize.py"),
            "{what}: {}",
            stderr(&out)
        );
        assert_eq!(snapshot(root.path()), before, "{what}: the root changed");
    }

    // A file the manifest does not list is not installed.
    let source = Packages::with_libraries();
    with_manifests(&source);
    std::fs::write(
        library(&source).with_file_name("dropped-in.py"),
        "import os\n",
    )
    .unwrap();
    let root = system_root();
    install_ok(&source, root.path());
    let installed = packages(root.path()).join("datadog-apm-library-python/1.0.0");
    assert!(installed.join("sitecustomize.py").is_file());
    assert!(!installed.join("dropped-in.py").exists());
}

/// Docker is installed (`/etc/docker` exists) but no dockerd runs: the default install does the
/// host and writes `daemon.json`, says it applies when dockerd starts, and does not wait.
#[test]
fn docker_without_a_running_dockerd_is_configured_for_its_next_start() {
    let source = Packages::new();
    let cli = source.shipped_cli();
    std::os::unix::fs::symlink("apm-inject", cli.with_file_name("auto_inject_runc")).unwrap();
    let root = system_root();
    std::fs::create_dir(root.path().join("etc/docker")).unwrap();
    let before = b"{\"log-level\": \"warn\"}";
    std::fs::write(root.path().join("etc/docker/daemon.json"), before).unwrap();
    let started = std::time::Instant::now();
    let out = install(&source, root.path(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stdout(&out).contains("no dockerd reads it now: it applies when dockerd starts"),
        "{}",
        stdout(&out)
    );
    assert_eq!(preload(root.path()), format!("{STABLE_LAUNCHER}\n"));
    let daemon: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.path().join("etc/docker/daemon.json")).unwrap())
            .unwrap();
    assert_eq!(daemon["default-runtime"], "dd-shim");
    assert_eq!(
        daemon["runtimes"]["dd-shim"]["path"],
        "/opt/datadog-packages/datadog-apm-inject/stable/inject/auto_inject_runc"
    );
    assert_eq!(daemon["log-level"], "warn", "other keys kept");
    assert!(
        !root
            .path()
            .join("etc/docker/daemon.json.apm-inject-backup")
            .exists(),
        "the backup goes once the install is committed"
    );
    let shim = packages(root.path()).join("datadog-apm-inject/stable/inject/auto_inject_runc");
    assert!(shim.exists(), "the shim daemon.json names is installed");
}

/// `DD_APM_INSTRUMENTATION_ENABLED` chooses the targets as Datadog's install script does when
/// neither `--host` nor `--docker` is given.
#[test]
fn instrumentation_enabled_variable_chooses_host_or_docker() {
    let source = Packages::new();
    let cli = source.shipped_cli();
    std::os::unix::fs::symlink("apm-inject", cli.with_file_name("auto_inject_runc")).unwrap();
    for (enabled, host, docker) in [
        ("host", true, false),
        ("docker", false, true),
        ("all", true, true),
    ] {
        let root = system_root();
        std::fs::create_dir(root.path().join("etc/docker")).unwrap();
        let out =
            run(install_command(&source, root.path())
                .env("DD_APM_INSTRUMENTATION_ENABLED", enabled));
        assert!(out.status.success(), "{enabled}: {}", stderr(&out));
        assert_eq!(
            root.path().join("etc/ld.so.preload").exists(),
            host,
            "{enabled}"
        );
        assert_eq!(
            root.path().join("etc/docker/daemon.json").exists(),
            docker,
            "{enabled}"
        );
    }
    let root = system_root();
    let out =
        run(install_command(&source, root.path())
            .env("DD_APM_INSTRUMENTATION_ENABLED", "everything"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stderr(&out).contains("expected host, docker or all"),
        "{}",
        stderr(&out)
    );
}
