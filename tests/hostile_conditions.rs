//! Hostile and broken conditions: each must leave the process running normally, with the exit
//! status and output it has without the library (an empty preload library at a path of the
//! same length). Where the library may instrument the process, the only differences allowed
//! are the instrumentation's own marks: the fixture tracer's line on standard error, and for
//! Java the agent and its startup logs option in `JAVA_TOOL_OPTIONS`.
#![forbid(unsafe_code)]

use apm_inject_tests::{
    as_nobody, cli, fixture, install_as, run, stderr, stdout, with_sigchld_ignored,
    with_std_fds_closed, Packages,
};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const PYTHON: &str = "/usr/bin/python3";

/// The runtime under test, and so the marks its instrumentation leaves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Runtime {
    Python,
    Node,
    Java,
}

impl Runtime {
    /// `output` without the instrumentation's marks, and whether it had any. Java runs with
    /// `JAVA_TOOL_OPTIONS=-Dx=1`, so the agent is appended after a space.
    fn strip(self, output: &Output) -> (Output, bool) {
        let (out, err) = (stdout(output), stderr(output));
        let (out, err, marked) = match self {
            Runtime::Python => match err.strip_prefix("fixture sitecustomize loaded\n") {
                Some(rest) => (out, rest.to_string(), true),
                None => (out, err, false),
            },
            Runtime::Node => match err.strip_prefix("fixture dd-trace loaded\n") {
                Some(rest) => (out, rest.to_string(), true),
                None => (out, err, false),
            },
            Runtime::Java => {
                let agent = " -javaagent:<packages>/opt/datadog-packages/datadog-apm-library-java/stable/dd-java-agent.jar -Ddd.trace.startup.logs=false -Xshare:off";
                let marked = err.contains(agent);
                let err = err
                    .replace(agent, "")
                    .replace("fixture java agent loaded\n", "");
                (out.replace(agent, ""), err, marked)
            }
        };
        let output = Output {
            status: output.status,
            stdout: out.into_bytes(),
            stderr: err.into_bytes(),
        };
        (output, marked)
    }
}

/// What the library may do to the process under test.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// The runtime is instrumented.
    Instrumented,
    /// Instrumented or not: the condition gives the library no safe way to decide, or the
    /// library does not look at what is broken.
    Either,
}

/// Runs the command `make` builds, once for a tree with our library and once for the
/// baseline tree; requires the same exit status, standard output and standard error but for
/// `runtime`'s marks, which must be there if `expect` says instrumented. Returns our run.
fn check(runtime: Runtime, expect: Expect, make: impl Fn(&Packages) -> Command) -> Output {
    let ours = Packages::with_libraries();
    let baseline = Packages::baseline();
    let with = ours.normalise(&run(&mut make(&ours)));
    let without = baseline.normalise(&run(&mut make(&baseline)));
    compare(runtime, expect, &with, &without);
    with
}

fn compare(runtime: Runtime, expect: Expect, with: &Output, without: &Output) {
    let (stripped, marked) = runtime.strip(with);
    assert_eq!(
        stripped.status,
        without.status,
        "exit status; standard error with the library:\n{}\nwithout:\n{}",
        stderr(with),
        stderr(without)
    );
    assert_eq!(stdout(&stripped), stdout(without), "standard output");
    assert_eq!(stderr(&stripped), stderr(without), "standard error");
    if expect == Expect::Instrumented {
        assert!(marked, "not instrumented: {}", stderr(with));
    }
}

/// Like [`check`] for the `envapi` fixture (copies named like runtimes): everything but its
/// first line, which shows the variables the library may have set, must be identical, and its
/// own use of the environment must succeed. Returns that first line with the library.
fn check_probe(make: impl Fn(&Packages) -> Command) -> String {
    let ours = Packages::with_libraries();
    let baseline = Packages::baseline();
    let with = ours.normalise(&run(&mut make(&ours)));
    let without = baseline.normalise(&run(&mut make(&baseline)));
    assert_eq!(with.status.code(), Some(0), "{}", stderr(&with));
    assert_eq!(without.status.code(), Some(0), "{}", stderr(&without));
    assert_eq!(stderr(&with), stderr(&without));
    let (with, without) = (stdout(&with), stdout(&without));
    let (first, rest) = with.split_once('\n').expect("a first line");
    assert!(
        Some(rest) == without.split_once('\n').map(|(_, r)| r),
        "the program's own use of the environment differs"
    );
    assert!(rest.contains("5000 growing setenv: 0 failures"), "{rest}");
    first.to_string()
}

/// The `envapi` fixture for `libc`, copied into `p`'s tree as `name`.
fn probe(p: &Packages, libc: &str, name: &str) -> std::path::PathBuf {
    install_as(&fixture(&format!("envapi-{libc}")), p.dir.path(), name)
}

/// `python3 -c script` under `p`'s launcher, with a small fixed environment.
fn python(p: &Packages, script: &str) -> Command {
    let mut cmd = p.command(PYTHON);
    cmd.env_clear()
        .env("LD_PRELOAD", &p.launcher)
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C.UTF-8")
        .args(["-c", script]);
    cmd
}

/// `sh -c script sh args...` in a private mount namespace.
fn in_private_mount_namespace(script: &str) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
    ]);
    cmd
}

/// Python's view of its arguments and environment, less what instrumentation adds:
/// `argc argv-bytes variables` (PATH, LC_ALL and LD_PRELOAD, plus those a test adds).
const REPORT: &str = "import os, sys; print(len(sys.argv), sum(map(len, sys.argv)), len([k for k in os.environ if k not in ('PYTHONPATH', 'DD_INJECTION_ENABLED', 'DD_TRACE_STARTUP_LOGS', 'DD_TELEMETRY_FORWARDER_PATH')]))";

// ---- /proc ----

const WITHOUT_PROC: &str = r#"umount -l /proc || exit 99; exec "$@""#;

#[test]
fn proc_not_mounted_leaves_python_running() {
    let out = check(Runtime::Python, Expect::Either, |p| {
        let mut cmd = in_private_mount_namespace(WITHOUT_PROC);
        cmd.arg(PYTHON)
            .args([
                "-c",
                "import os; print(os.path.exists('/proc/self'), 6 * 7)",
            ])
            .env("LD_PRELOAD", &p.launcher);
        cmd
    });
    assert_eq!(stdout(&out), "False 42\n");
}

#[test]
fn proc_not_mounted_leaves_glibc_and_musl_runtimes_running() {
    for libc in ["glibc", "musl"] {
        check_probe(|p| {
            let mut cmd = in_private_mount_namespace(WITHOUT_PROC);
            cmd.arg(probe(p, libc, "node"))
                .arg("app.js")
                .env("LD_PRELOAD", &p.launcher);
            cmd
        });
    }
}

#[test]
fn chroot_without_proc_leaves_python_running() {
    // A root with the machine's /usr and /etc bind-mounted, the package tree at its own path,
    // and no /proc, /dev or /sys.
    let out = check(Runtime::Python, Expect::Either, |p| {
        let root = p.dir.path().join("root");
        for dir in ["usr", "etc", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for (link, target) in [
            ("bin", "usr/bin"),
            ("sbin", "usr/sbin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
        ] {
            std::os::unix::fs::symlink(target, root.join(link)).unwrap();
        }
        let tree = p.dir.path();
        let inside = root.join(tree.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        let mut cmd = in_private_mount_namespace(
            r#"mount --rbind /usr "$1/usr" && mount --bind /etc "$1/etc" && mount --bind "$2" "$3" || exit 99
               root=$1; shift 3; exec chroot "$root" "$@""#,
        );
        cmd.arg(&root)
            .arg(tree)
            .arg(&inside)
            .arg(PYTHON)
            .args(["-c", "import os; print(os.path.exists('/proc'), 6 * 7)"])
            .env("LD_PRELOAD", &p.launcher);
        cmd
    });
    assert_eq!(stdout(&out), "False 42\n");
}

// ---- command line and environment sizes ----

/// Strings of at most `size` bytes each (NUL included), `total` bytes in all.
fn strings_totalling(total: usize, size: usize, fill: u8) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut left = total;
    while left > 1 {
        let n = left.min(size);
        out.push(vec![fill; n - 1]);
        left -= n;
    }
    out
}

/// `ARG_MAX` here: 2 MiB for arguments and environment together (a quarter of the 8 MiB stack).
const ARG_MAX: usize = 2 << 20;
/// The kernel's cap on one argument or variable (`MAX_ARG_STRLEN`), NUL included.
const MAX_ARG_STRLEN: usize = 128 << 10;

#[test]
fn command_line_near_arg_max_leaves_python_running() {
    // 2 MiB less 8 KiB for the environment and the kernel's pointer bookkeeping.
    let args = strings_totalling(ARG_MAX - (8 << 10), MAX_ARG_STRLEN, b'a');
    let out = check(Runtime::Python, Expect::Instrumented, |p| {
        let mut cmd = python(p, REPORT);
        cmd.args(args.iter().map(|a| OsStr::from_bytes(a)));
        cmd
    });
    // sys.argv is ["-c", args...].
    let argv_bytes = args.iter().map(Vec::len).sum::<usize>() + "-c".len();
    assert!(argv_bytes > 2_000_000);
    assert_eq!(stdout(&out), format!("{} {argv_bytes} 3\n", args.len() + 1));
}

#[test]
fn hundred_thousand_arguments_leave_python_running() {
    let out = check(Runtime::Python, Expect::Instrumented, |p| {
        let mut cmd = python(p, REPORT);
        cmd.args(std::iter::repeat_n("x", 100_000));
        cmd
    });
    assert_eq!(stdout(&out), "100001 100002 3\n");
}

#[test]
fn non_utf8_bytes_in_argv_and_environment_leave_python_running() {
    let script = "import os, sys; print(os.fsencode(sys.argv[1]), os.environb[b'BYTES\\xff'], os.environb[b'DD_SERVICE'])";
    let out = check(Runtime::Python, Expect::Instrumented, |p| {
        let mut cmd = python(p, script);
        cmd.arg(OsStr::from_bytes(b"arg\xff\xfe\x80"))
            .env(
                OsStr::from_bytes(b"BYTES\xff"),
                OsStr::from_bytes(b"\xc3\x28"),
            )
            .env("DD_SERVICE", OsStr::from_bytes(b"svc\xff"))
            .env("PYTHONPATH", OsStr::from_bytes(b"/app/\xe9t\xe9"));
        cmd
    });
    assert_eq!(
        stdout(&out),
        "b'arg\\xff\\xfe\\x80' b'\\xc3(' b'svc\\xff'\n"
    );
}

#[test]
fn non_utf8_executable_path_leaves_the_runtime_running() {
    for libc in ["glibc", "musl"] {
        let first = check_probe(|p| {
            let dir = p.dir.path().join(OsStr::from_bytes(b"bin\xff\xfe"));
            std::fs::create_dir_all(&dir).unwrap();
            let node = install_as(&fixture(&format!("envapi-{libc}")), &dir, "node");
            let mut cmd = p.command(node);
            cmd.arg(OsStr::from_bytes(b"app\xff.js"));
            cmd
        });
        assert!(first.contains("NODE_OPTIONS=--require="), "{libc}: {first}");
    }
}

#[test]
fn variable_near_128_kib_leaves_python_running() {
    // An unrelated variable and PYTHONPATH itself at the kernel's per-string cap.
    let big = vec![b'v'; MAX_ARG_STRLEN - "BIG=".len() - 1];
    let path = [
        b"/".as_slice(),
        &vec![b'p'; MAX_ARG_STRLEN - "PYTHONPATH=/".len() - 1],
    ]
    .concat();
    let script = "import os; print(len(os.environ['BIG']), len(os.environ['PYTHONPATH']) > 131000)";
    let out = check(Runtime::Python, Expect::Instrumented, |p| {
        let mut cmd = python(p, script);
        cmd.env("BIG", OsStr::from_bytes(&big))
            .env("PYTHONPATH", OsStr::from_bytes(&path));
        cmd
    });
    assert_eq!(stdout(&out), format!("{} True\n", big.len()));
}

#[test]
fn options_variable_near_128_kib_leaves_the_runtimes_running() {
    // NODE_OPTIONS and JAVA_TOOL_OPTIONS at the cap, read and rewritten by the library.
    for (name, variable, args) in [
        ("node", "NODE_OPTIONS", &["app.js"][..]),
        ("java", "JAVA_TOOL_OPTIONS", &["-jar", "app.jar"][..]),
    ] {
        let value = vec![b'o'; MAX_ARG_STRLEN - variable.len() - 2];
        for libc in ["glibc", "musl"] {
            check_probe(|p| {
                let mut cmd = p.command(probe(p, libc, name));
                cmd.args(args).env(variable, OsStr::from_bytes(&value));
                cmd
            });
        }
    }
}

#[test]
fn environment_near_arg_max_leaves_python_running() {
    let vars = strings_totalling(ARG_MAX - (16 << 10), 100_000, b'e');
    let out = check(Runtime::Python, Expect::Instrumented, |p| {
        let mut cmd = python(p, REPORT);
        for (i, value) in vars.iter().enumerate() {
            let name = format!("FILL_{i:02}");
            cmd.env(&name, OsStr::from_bytes(&value[name.len() + 1..]));
        }
        cmd
    });
    assert_eq!(stdout(&out), format!("1 2 {}\n", vars.len() + 3));
}

#[test]
fn empty_argv_leaves_python_running() {
    // argc 0: Linux >= 5.18 gives the process one empty argument; older kernels none at all.
    let out = check(Runtime::Python, Expect::Either, |p| {
        let mut cmd = p.command(fixture("exec-argc0"));
        cmd.arg(PYTHON);
        cmd
    });
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn empty_argv_leaves_glibc_and_musl_runtimes_running() {
    for libc in ["glibc", "musl"] {
        for name in ["node", "python3", "java"] {
            check_probe(|p| {
                let mut cmd = p.command(fixture("exec-argc0"));
                cmd.arg(probe(p, libc, name));
                cmd
            });
        }
    }
}

// ---- process state at start ----

#[test]
fn closed_standard_descriptors_leave_python_running() {
    // Nothing to write to, and the library's own files would get descriptors 0, 1 and 2:
    // Python writes what it sees to a file instead.
    let script = "import os, sys; open(sys.argv[1], 'w').write(repr((sorted(os.listdir('/proc/self/fd')), sys.stdout, sys.stderr)))";
    let report = |p: &Packages| {
        let file = p.dir.path().join("report");
        let mut cmd = python(p, script);
        cmd.arg(&file)
            .env("DD_APM_INSTRUMENTATION_DEBUG", "true")
            .env(
                "DD_APM_INSTRUMENTATION_OUTPUT_PATHS",
                format!("stderr,{}", p.dir.path().join("debug.log").display()),
            );
        with_std_fds_closed(&mut cmd);
        let status = cmd.status().unwrap();
        (status, std::fs::read_to_string(file).unwrap())
    };
    let ours = Packages::with_libraries();
    let (status, with) = report(&ours);
    let (baseline_status, without) = report(&Packages::baseline());
    assert!(status.success() && baseline_status.success());
    assert_eq!(with, without, "what python sees");
    assert!(with.contains("], None, None)"), "{with}");
    let log = std::fs::read_to_string(ours.dir.path().join("debug.log")).unwrap();
    assert!(log.contains("injected python"), "{log}");
}

#[test]
fn closed_standard_descriptors_leave_glibc_and_musl_runtimes_running() {
    for libc in ["glibc", "musl"] {
        let report = |p: &Packages| {
            let node = install_as(&fixture(&format!("fds-{libc}")), p.dir.path(), "node");
            let file = p.dir.path().join("report");
            let mut cmd = p.command(node);
            cmd.arg(&file)
                .env("DD_APM_INSTRUMENTATION_DEBUG", "true")
                .env(
                    "DD_APM_INSTRUMENTATION_OUTPUT_PATHS",
                    format!("stderr,{}", p.dir.path().join("debug.log").display()),
                );
            with_std_fds_closed(&mut cmd);
            let status = cmd.status().unwrap();
            (status, std::fs::read_to_string(file).unwrap())
        };
        let (status, with) = report(&Packages::with_libraries());
        let (baseline_status, without) = report(&Packages::baseline());
        assert!(status.success() && baseline_status.success(), "{libc}");
        assert_eq!(
            with,
            without.replace("NODE_OPTIONS unset", "NODE_OPTIONS set"),
            "{libc}: descriptors"
        );
        assert!(
            with.contains("NODE_OPTIONS set")
                && !with
                    .lines()
                    .any(|l| ["fd 0 ", "fd 1 ", "fd 2 "].iter().any(|f| l.starts_with(f))),
            "{libc}: {with}"
        );
    }
}

#[test]
fn ignored_sigchld_leaves_python_running() {
    // SIG_IGN survives execve; children are then reaped by the kernel and waits fail.
    let script = "import signal, subprocess; print(signal.getsignal(signal.SIGCHLD), subprocess.run(['/bin/echo', 'child']).returncode)";
    let out = check(Runtime::Python, Expect::Instrumented, |p| {
        let mut cmd = python(p, script);
        with_sigchld_ignored(&mut cmd);
        cmd
    });
    assert_eq!(stdout(&out), "child\n1 0\n", "SIG_IGN prints as 1");
}

#[test]
fn unprivileged_user_runs_instrumented_python() {
    let out = check(Runtime::Python, Expect::Instrumented, |p| {
        let mut cmd = python(p, "import os; print(os.getuid(), 6 * 7)");
        as_nobody(&mut cmd);
        cmd
    });
    assert_eq!(stdout(&out), "65534 42\n");
}

#[test]
fn deleted_executable_leaves_the_runtime_running() {
    // Started from a file deleted just before (a package upgrade replacing the runtime):
    // /proc/self/exe names "<path> (deleted)".
    for libc in ["glibc", "musl"] {
        check_probe(|p| {
            let mut cmd = p.command(fixture("exec-deleted"));
            cmd.arg(probe(p, libc, "node")).arg("app.js");
            cmd
        });
    }
    let out = check(Runtime::Python, Expect::Either, |p| {
        let copy = install_as(Path::new(PYTHON), p.dir.path(), "python3");
        let mut cmd = p.command(fixture("exec-deleted"));
        cmd.arg(copy).args([
            "-c",
            "import os; print(os.readlink('/proc/self/exe').endswith(' (deleted)'))",
        ]);
        cmd
    });
    assert_eq!(stdout(&out), "True\n");
}

// ---- descriptors ----

#[test]
fn no_descriptor_stays_open_after_start_up() {
    // The library opens /proc files and, with debug logging, a log file: all closed again.
    for libc in ["glibc", "musl"] {
        for name in ["node", "python3", "fds"] {
            let listing = |p: &Packages| {
                let program = install_as(&fixture(&format!("fds-{libc}")), p.dir.path(), name);
                let log = p.dir.path().join("debug.log");
                let mut cmd = p.command(program);
                cmd.env("DD_APM_INSTRUMENTATION_DEBUG", "true").env(
                    "DD_APM_INSTRUMENTATION_OUTPUT_PATHS",
                    format!("stderr,{}", log.display()),
                );
                run(&mut cmd)
            };
            let with = listing(&Packages::with_libraries());
            let without = listing(&Packages::baseline());
            let fds = |o: &Output| {
                stdout(o)
                    .lines()
                    .filter(|l| l.starts_with("fd "))
                    .map(String::from)
                    .collect::<Vec<_>>()
            };
            assert_eq!(fds(&with), fds(&without), "{libc} {name}");
            assert!(fds(&with).len() >= 3, "{libc} {name}: the listing works");
            if name != "fds" {
                assert!(
                    stderr(&with).contains("apm-inject["),
                    "{libc} {name}: the library decided: {}",
                    stderr(&with)
                );
            }
        }
    }
}

#[test]
fn no_descriptor_stays_open_in_python() {
    let script = "import os; print(sorted(os.listdir('/proc/self/fd')))";
    let out = check(Runtime::Python, Expect::Instrumented, |p| python(p, script));
    assert!(stdout(&out).starts_with("['0', '1', "), "{}", stdout(&out));
}

// ---- broken package and configuration files ----
//
// An entry point the runtime cannot use (unreadable for the process, an empty or truncated
// jar) makes Java and node refuse to start: the library must not point them at it.

/// How a file of a library package or of the configuration is broken.
#[derive(Clone, Copy, Debug)]
enum Breakage {
    Missing,
    ZeroLength,
    /// Cut to half its size.
    Truncated,
    /// Mode 0000: unreadable for the unprivileged user the process runs as.
    Unreadable,
    /// A directory where a file is expected.
    Directory,
}

const ALL_BREAKAGES: [Breakage; 5] = [
    Breakage::Missing,
    Breakage::ZeroLength,
    Breakage::Truncated,
    Breakage::Unreadable,
    Breakage::Directory,
];

fn break_file(path: &Path, how: Breakage) {
    match how {
        Breakage::Missing => {
            let _ = std::fs::remove_file(path);
        }
        Breakage::ZeroLength => std::fs::write(path, b"").unwrap(),
        Breakage::Truncated => {
            let data = std::fs::read(path)
                .unwrap_or_else(|_| br#"{"version": 1, "deny": [{"id": "x"}]}"#.to_vec());
            std::fs::write(path, &data[..data.len() / 2]).unwrap();
        }
        Breakage::Unreadable => {
            if !path.exists() {
                std::fs::write(path, b"{}").unwrap();
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000)).unwrap();
        }
        Breakage::Directory => {
            let _ = std::fs::remove_file(path);
            std::fs::create_dir_all(path).unwrap();
        }
    }
}

/// The runtime of library package `lang`, running a small program as `nobody`.
fn runtime_of(lang: &str) -> (Runtime, fn(&Packages) -> Command) {
    match lang {
        "python" => (Runtime::Python, |p| {
            let mut cmd = python(p, "print(6 * 7)");
            as_nobody(&mut cmd);
            cmd
        }),
        "js" => (Runtime::Node, |p| {
            let mut cmd = p.command("/usr/bin/node");
            cmd.args(["-e", "console.log(6 * 7)"]);
            as_nobody(&mut cmd);
            cmd
        }),
        _ => (Runtime::Java, |p| {
            let jar = p.dir.path().join("hello.jar");
            std::fs::copy(fixture("hello.jar"), &jar).unwrap();
            std::fs::set_permissions(&jar, std::fs::Permissions::from_mode(0o644)).unwrap();
            let mut cmd = p.command("/usr/bin/java");
            cmd.arg("-jar").arg(jar).env("JAVA_TOOL_OPTIONS", "-Dx=1");
            as_nobody(&mut cmd);
            cmd
        }),
    }
}

/// Runs library package `lang`'s runtime with the package's `file` broken `how`: it must run
/// as without the library.
fn broken_package_file(lang: &str, file: &str, how: Breakage) {
    let (runtime, make) = runtime_of(lang);
    let ours = Packages::with_libraries();
    break_file(&ours.library(lang).join(file), how);
    let baseline = Packages::baseline();
    let with = ours.normalise(&run(&mut make(&ours)));
    let without = baseline.normalise(&run(&mut make(&baseline)));
    eprintln!("{lang} {file} {how:?}");
    compare(runtime, Expect::Either, &with, &without);
}

const ENTRY_POINTS: [(&str, &str); 3] = [
    ("python", "sitecustomize.py"),
    ("js", "bootstrap.cjs"),
    ("java", "dd-java-agent.jar"),
];

#[test]
fn missing_library_files_leave_runtimes_running() {
    for (lang, file) in ENTRY_POINTS {
        broken_package_file(lang, file, Breakage::Missing);
    }
}

#[test]
fn directory_shaped_library_files_leave_runtimes_running() {
    for (lang, file) in ENTRY_POINTS {
        broken_package_file(lang, file, Breakage::Directory);
    }
}

#[test]
fn zero_length_python_and_node_entry_points_leave_them_running() {
    broken_package_file("python", "sitecustomize.py", Breakage::ZeroLength);
    broken_package_file("js", "bootstrap.cjs", Breakage::ZeroLength);
    broken_package_file("js", "node_modules/dd-trace/init.js", Breakage::ZeroLength);
}

#[test]
fn zero_length_java_agent_leaves_java_running() {
    broken_package_file("java", "dd-java-agent.jar", Breakage::ZeroLength);
}

#[test]
fn truncated_java_agent_leaves_java_running() {
    broken_package_file("java", "dd-java-agent.jar", Breakage::Truncated);
}

#[test]
fn unreadable_sitecustomize_leaves_python_running() {
    broken_package_file("python", "sitecustomize.py", Breakage::Unreadable);
}

#[test]
fn unreadable_node_bootstrap_or_tracer_leaves_node_running() {
    broken_package_file("js", "bootstrap.cjs", Breakage::Unreadable);
    broken_package_file("js", "node_modules/dd-trace/init.js", Breakage::Unreadable);
}

#[test]
fn unreadable_java_agent_leaves_java_running() {
    broken_package_file("java", "dd-java-agent.jar", Breakage::Unreadable);
}

#[test]
fn broken_requirements_json_leaves_runtimes_running() {
    for how in ALL_BREAKAGES {
        for (lang, _) in ENTRY_POINTS {
            broken_package_file(lang, "requirements.json", how);
        }
    }
}

#[test]
fn broken_configuration_file_leaves_python_running() {
    // The compiled host configuration the library reads (`apm-inject config apply` makes it
    // from host_config.yaml), broken after compilation.
    for how in ALL_BREAKAGES {
        let config = tempfile::tempdir().unwrap();
        std::fs::set_permissions(config.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            config.path().join("host_config.yaml"),
            "env: prod\nrules:\n  - action: allow\n    runtime: python\n    args: [{any: [\"-c\"]}]\n",
        )
        .unwrap();
        let applied = run(Command::new(cli())
            .args(["config", "apply"])
            .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", config.path()));
        assert!(applied.status.success(), "{}", stderr(&applied));
        let compiled = config.path().join("host_config.bin");
        assert!(compiled.is_file());
        break_file(&compiled, how);
        let out = check(Runtime::Python, Expect::Either, |p| {
            let mut cmd = python(p, "print(6 * 7)");
            cmd.env("DD_APM_INSTRUMENTATION_CONFIG_DIR", config.path());
            as_nobody(&mut cmd);
            cmd
        });
        assert_eq!(stdout(&out), "42\n", "{how:?}");
    }
}

#[test]
fn the_environment_is_given_without_libcs_setenv() {
    // A preloaded setenv that fails for DD_INJECTION_ENABLED (as a libc out of memory might):
    // the library builds the new environment itself, so it is not in the way.
    let p = Packages::with_libraries();
    let preload = format!(
        "{} {}",
        p.launcher.display(),
        fixture("failing-setenv.so").display()
    );
    let out = run(Command::new(PYTHON)
        .args([
            "-c",
            "import os; print([os.environ.get(v) for v in ('PYTHONPATH', 'DD_INJECTION_ENABLED', 'DD_TRACE_STARTUP_LOGS')])",
        ])
        .env("LD_PRELOAD", preload)
        .env("PYTHONPATH", "/srv/app")
        .env_remove("DD_INJECTION_ENABLED")
        .env_remove("DD_TRACE_STARTUP_LOGS")
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(out.status.success(), "{}", stderr(&out));
    let library = p.root.join("datadog-apm-library-python/stable");
    assert_eq!(
        stdout(&out),
        format!(
            "['{}:/srv/app', 'tracer,startup_logs', 'false']\n",
            library.display()
        )
    );
    let err = stderr(&out);
    assert!(err.contains("]: injected"), "{err}");
    assert!(err.contains("fixture sitecustomize loaded"), "{err}");
}
