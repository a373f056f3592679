//! Builds the end-to-end test fixtures into `$OUT_DIR/fixtures` (exported to the tests as
//! `APM_FIXTURES`): C probes for glibc and musl (environment, environment API, open
//! descriptors), static launchers (plain, with an empty argv, from a deleted file), an empty and a noisy
//! preload library,
//! the constructor-window libraries (what another preload's constructor costs), a libc-free Go program, a Java agent jar, and programs of other ELF classes and machines (i386
//! with gcc-multilib; aarch64 and armhf assembled with binutils against Debian's cross libcs). A missing tool (musl-gcc, go, javac) fails the build: tests never skip.
#![forbid(unsafe_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let src = PathBuf::from("tests/fixtures");
    println!("cargo:rerun-if-changed=tests/fixtures");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("fixtures");
    std::fs::create_dir_all(&out).unwrap();
    let c = |compiler: &str, flags: &[&str], source: &str, output: &str| {
        let mut cmd = Command::new(compiler);
        cmd.args(flags)
            .arg("-O2")
            .arg("-o")
            .arg(out.join(output))
            .arg(src.join(source));
        run(cmd, compiler);
    };
    c("gcc", &[], "envprobe.c", "envprobe-glibc");
    c("musl-gcc", &[], "envprobe.c", "envprobe-musl");
    c("gcc", &["-static"], "static_exec.c", "static-exec");
    c("gcc", &[], "envapi.c", "envapi-glibc");
    c("musl-gcc", &[], "envapi.c", "envapi-musl");
    c("gcc", &[], "fds.c", "fds-glibc");
    c("musl-gcc", &[], "fds.c", "fds-musl");
    c("gcc", &["-static"], "exec_argc0.c", "exec-argc0");
    c("gcc", &["-static"], "exec_deleted.c", "exec-deleted");
    c(
        "gcc",
        &["-shared", "-fPIC", "-nostartfiles"],
        "empty.c",
        "empty-preload.so",
    );
    c(
        "gcc",
        &["-shared", "-fPIC"],
        "noisy_preload.c",
        "noisy-preload.so",
    );
    c(
        "gcc",
        &["-shared", "-fPIC", "-DWINDOW_START"],
        "constructor_window.c",
        "window-start.so",
    );
    c(
        "gcc",
        &["-shared", "-fPIC"],
        "constructor_window.c",
        "window-end.so",
    );
    c(
        "gcc",
        &["-shared", "-fPIC"],
        "failing_setenv.c",
        "failing-setenv.so",
    );

    c("gcc", &["-m32"], "hello.c", "hello-i386");
    foreign(
        &src,
        &out,
        "aarch64-linux-gnu",
        "ld-linux-aarch64.so.1",
        "hello_aarch64.s",
        "hello-aarch64",
    );
    foreign(
        &src,
        &out,
        "arm-linux-gnueabihf",
        "ld-linux-armhf.so.3",
        "hello_armhf.s",
        "hello-armhf",
    );

    let mut go = Command::new("go");
    go.args(["build", "-buildmode=pie", "-o"])
        .arg(out.join("goprobe"))
        .arg(".")
        .current_dir(src.join("goprobe"))
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", out.join("gocache"))
        .env("GOPATH", out.join("gopath"))
        .env("GOFLAGS", "-mod=mod");
    run(go, "go (Debian package golang-go)");

    let classes = out.join("classes");
    std::fs::create_dir_all(&classes).unwrap();
    let mut javac = Command::new("javac");
    javac
        .args(["--release", "8", "-d"])
        .arg(&classes)
        .arg(src.join("FixtureAgent.java"))
        .arg(src.join("Hello.java"))
        .arg(src.join("PrintEnv.java"));
    run(javac, "javac");
    jar(
        &out,
        &classes,
        "dd-java-agent.jar",
        "Premain-Class: FixtureAgent\n",
        "FixtureAgent.class",
    );
    jar(
        &out,
        &classes,
        "hello.jar",
        "Main-Class: Hello\n",
        "Hello.class",
    );
    jar(
        &out,
        &classes,
        "printenv.jar",
        "Main-Class: PrintEnv\n",
        "PrintEnv.class",
    );
    println!("cargo:rustc-env=APM_FIXTURES={}", out.display());
}

/// Assembles `source` and links it dynamically against the cross glibc in `/usr/<triplet>/lib`.
fn foreign(src: &Path, out: &Path, triplet: &str, loader: &str, source: &str, output: &str) {
    let object = out.join(format!("{output}.o"));
    let mut as_ = Command::new(format!("{triplet}-as"));
    as_.arg("-o").arg(&object).arg(src.join(source));
    run(
        as_,
        &format!("{triplet}-as (Debian package binutils-{triplet})"),
    );
    let mut ld = Command::new(format!("{triplet}-ld"));
    ld.arg("-o")
        .arg(out.join(output))
        .arg("-dynamic-linker")
        .arg(format!("/lib/{loader}"))
        .arg(format!("-L/usr/{triplet}/lib"))
        .arg(&object)
        .arg("-lc");
    run(
        ld,
        &format!("{triplet}-ld and the cross libc (libc6-dev-*-cross)"),
    );
}

fn jar(out: &Path, classes: &Path, name: &str, manifest: &str, class: &str) {
    let manifest_path = out.join(format!("{name}.mf"));
    std::fs::write(&manifest_path, manifest).unwrap();
    let mut cmd = Command::new("jar");
    cmd.arg("cfm")
        .arg(out.join(name))
        .arg(&manifest_path)
        .arg("-C")
        .arg(classes)
        .arg(class);
    run(cmd, "jar");
}

fn run(mut cmd: Command, tool: &str) {
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("building test fixtures: {tool} failed ({s}): {cmd:?}"),
        Err(e) => panic!("building test fixtures needs {tool}: {e} (run .ci/run or install it)"),
    }
}
