//! Programs of another ELF class or machine on an x86_64 host: 32-bit i386 programs
//! (`gcc -m32`) and aarch64 and armhf programs run under qemu-user. Preload lists name the
//! launcher as `…/inject/$LIB/launcher.preload.so`; each loader expands `$LIB` to its own
//! directory and finds there the real launcher or a no-op object of its own class and machine,
//! so these programs start exactly as without the launcher, through `/etc/ld.so.preload` (as
//! `apm-inject install` writes it) and through `LD_PRELOAD` (as images set it), while 64-bit
//! glibc and musl runtimes are still instrumented.
#![forbid(unsafe_code)]

use apm_inject_tests::{fixture, install_as, private_host, run, stderr, stdout, Packages};
use std::ffi::OsStr;
use std::process::Command;

/// The entry `apm-inject install` writes into `/etc/ld.so.preload`.
const ENTRY: &str =
    "/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so";
const PYTHON_LIBRARY: &str = "/opt/datadog-packages/datadog-apm-library-python/stable";

/// Shell commands that run each foreign program with its standard error merged into standard
/// output (qemu-user directly, with the cross libc as its library prefix).
fn foreign_programs() -> String {
    format!(
        "{i386} 2>&1\n\
         qemu-aarch64-static -L /usr/aarch64-linux-gnu {aarch64} 2>&1\n\
         qemu-arm-static -L /usr/arm-linux-gnueabihf {armhf} 2>&1\n",
        i386 = fixture("hello-i386").display(),
        aarch64 = fixture("hello-aarch64").display(),
        armhf = fixture("hello-armhf").display(),
    )
}

#[test]
fn foreign_programs_print_only_their_output_without_the_launcher() {
    // The baseline the other tests compare with: the programs and qemu-user work here.
    let out = run(Command::new("sh")
        .args(["-c", &foreign_programs()])
        .env_remove("LD_PRELOAD"));
    assert_eq!(stdout(&out), "ok\nok\nok\n", "{}", stderr(&out));
}

#[test]
fn foreign_programs_are_silent_under_the_installed_etc_ld_so_preload() {
    let source = Packages::with_libraries();
    let script = format!(
        r#""$1" install > /dev/null || exit 10
        grep -qxF '{ENTRY}' /etc/ld.so.preload || exit 11
        {}
        /usr/bin/python3 -c 'import os; print(os.environ.get("PYTHONPATH"))'"#,
        foreign_programs()
    );
    let scratch = tempfile::tempdir().unwrap();
    let cli = source.shipped_cli();
    let argv = [
        OsStr::new("sh"),
        OsStr::new("-c"),
        OsStr::new(&script),
        OsStr::new("sh"),
        cli.as_os_str(),
    ];
    let out = run(private_host(scratch.path(), &argv).env_remove("LD_PRELOAD"));
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    assert_eq!(stdout(&out), format!("ok\nok\nok\n{PYTHON_LIBRARY}\n"));
}

#[test]
fn foreign_programs_are_silent_with_the_lib_entry_in_ld_preload() {
    let p = Packages::with_libraries();
    let entry = p
        .root
        .join("datadog-apm-inject/stable/inject/$LIB/launcher.preload.so");
    let out = run(Command::new("sh")
        .args(["-c", &foreign_programs()])
        .env("LD_PRELOAD", &entry));
    assert_eq!(stdout(&out), "ok\nok\nok\n", "{}", stderr(&out));
}

#[test]
fn glibc_and_musl_runtimes_are_instrumented_through_the_lib_entry() {
    let p = Packages::with_libraries();
    let entry = p
        .root
        .join("datadog-apm-inject/stable/inject/$LIB/launcher.preload.so");
    for probe in ["envprobe-glibc", "envprobe-musl"] {
        let dir = tempfile::tempdir().unwrap();
        let python = install_as(&fixture(probe), dir.path(), "python3");
        let out = run(Command::new(&python)
            .arg("PYTHONPATH")
            .env_remove("PYTHONPATH")
            .env("LD_PRELOAD", &entry));
        let first = stdout(&out).lines().next().unwrap_or_default().to_string();
        assert_eq!(
            first,
            format!("PYTHONPATH={}", p.library("python").display()),
            "{probe}: {}",
            stderr(&out)
        );
        assert_eq!(stderr(&out), "", "{probe}");
    }
}
