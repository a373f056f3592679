//! `apm-inject uninstall --root DIR`: the launcher entry goes first, then the packages; other
//! entries stay; a hand-deleted tree is repaired; bad input changes nothing.
#![forbid(unsafe_code)]

use apm_inject_tests::{apm_inject, names_in, run, stderr, stdout, system_root, Packages};
use std::path::Path;
use std::process::Output;

fn command(source: &Packages, action: &str, root: &Path) -> Output {
    run(&mut apm_inject(
        &source.shipped_cli(),
        &[action, "--root", root.to_str().unwrap()],
    ))
}

fn succeeds(out: Output) -> Output {
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

#[test]
fn uninstall_keeps_other_entries_and_removes_the_packages() {
    let source = Packages::with_libraries();
    let root = system_root();
    let preload = root.path().join("etc/ld.so.preload");
    std::fs::write(&preload, "/usr/lib/liba.so\n# audit\n/usr/lib/libb.so\n").unwrap();
    succeeds(command(&source, "install", root.path()));
    succeeds(command(&source, "uninstall", root.path()));
    assert_eq!(
        std::fs::read_to_string(&preload).unwrap(),
        "/usr/lib/liba.so\n# audit\n/usr/lib/libb.so\n"
    );
    assert!(!root.path().join("opt/datadog-packages").exists());
}

#[test]
fn uninstall_removes_the_file_when_the_launcher_was_its_only_entry() {
    let source = Packages::with_libraries();
    let root = system_root();
    succeeds(command(&source, "install", root.path()));
    let out = succeeds(command(&source, "uninstall", root.path()));
    assert!(
        stdout(&out).contains("the launcher was its only entry"),
        "{}",
        stdout(&out)
    );
    assert!(!root.path().join("etc/ld.so.preload").exists());
}

#[test]
fn uninstall_repairs_a_tree_deleted_by_hand() {
    let source = Packages::new();
    let root = system_root();
    let preload = root.path().join("etc/ld.so.preload");
    std::fs::write(&preload, "/usr/lib/liba.so\n").unwrap();
    succeeds(command(&source, "install", root.path()));
    std::fs::remove_dir_all(root.path().join("opt/datadog-packages")).unwrap();
    succeeds(command(&source, "uninstall", root.path()));
    assert_eq!(
        std::fs::read_to_string(&preload).unwrap(),
        "/usr/lib/liba.so\n"
    );
}

#[test]
fn uninstall_without_our_entry_leaves_the_file_byte_for_byte() {
    let source = Packages::new();
    let root = system_root();
    let preload = root.path().join("etc/ld.so.preload");
    std::fs::write(&preload, "/usr/lib/liba.so").unwrap();
    let out = succeeds(command(&source, "uninstall", root.path()));
    assert!(
        stdout(&out).contains("no launcher entry"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read(&preload).unwrap(), b"/usr/lib/liba.so");
    assert!(!root
        .path()
        .join("etc/ld.so.preload.apm-inject-backup")
        .exists());
}

#[test]
fn uninstall_refuses_a_preload_directory_and_keeps_the_packages() {
    let source = Packages::new();
    let root = system_root();
    succeeds(command(&source, "install", root.path()));
    let preload = root.path().join("etc/ld.so.preload");
    std::fs::remove_file(&preload).unwrap();
    std::fs::create_dir(&preload).unwrap();
    let out = command(&source, "uninstall", root.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));
    assert!(root
        .path()
        .join("opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so")
        .is_file());
}

#[test]
fn uninstall_leaves_no_backup_naming_the_removed_launcher() {
    let source = Packages::with_libraries();
    let root = system_root();
    succeeds(command(&source, "install", root.path()));
    succeeds(command(&source, "uninstall", root.path()));
    // Nothing was there before install: nothing is left, no backup that, restored, would
    // make every process print "cannot be preloaded".
    assert_eq!(names_in(&root.path().join("etc")), Vec::<String>::new());

    std::fs::write(root.path().join("etc/ld.so.preload"), "/usr/lib/liba.so\n").unwrap();
    succeeds(command(&source, "install", root.path()));
    succeeds(command(&source, "uninstall", root.path()));
    assert_eq!(names_in(&root.path().join("etc")), ["ld.so.preload"]);
}

#[test]
fn a_backup_left_by_an_earlier_version_is_removed() {
    let source = Packages::new();
    let root = system_root();
    succeeds(command(&source, "install", root.path()));
    let backup = root.path().join("etc/ld.so.preload.apm-inject-backup");
    std::fs::write(
        &backup,
        "/opt/datadog-packages/datadog-apm-inject/0.9/inject/launcher.preload.so\n",
    )
    .unwrap();
    let out = succeeds(command(&source, "uninstall", root.path()));
    assert!(!backup.exists(), "{}", stdout(&out));
}

#[test]
fn purge_also_removes_the_configuration() {
    let source = Packages::new();
    let root = system_root();
    let config = root.path().join("etc/datadog-agent/inject");
    let install_with_config = || {
        succeeds(command(&source, "install", root.path()));
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("host_config.yaml"), "env: prod\n").unwrap();
    };
    install_with_config();
    succeeds(command(&source, "uninstall", root.path()));
    assert!(config.join("host_config.yaml").is_file());

    install_with_config();
    succeeds(run(&mut apm_inject(
        &source.shipped_cli(),
        &[
            "uninstall",
            "--purge",
            "--root",
            root.path().to_str().unwrap(),
        ],
    )));
    assert!(!root.path().join("etc/datadog-agent").exists());
    assert!(!root.path().join("opt/datadog-packages").exists());
}
