//! The Python library package's `sitecustomize.py` (libraries/python): ddtrace for the
//! interpreters it was built for, silence for the others, the user's own `sitecustomize`
//! kept, and the outcome reported (through ddtrace's own telemetry when it loaded, else
//! through the telemetry forwarder).
#![forbid(unsafe_code)]

use apm_inject_tests::tracers::{free_port, wait_for, TestAgent};
use apm_inject_tests::{pyenv, run, stderr, stdout, workspace, Packages};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PYTHON: &str = "/usr/bin/python3";
const DDTRACE_LOADED: &str = "import sys; print('ddtrace' in sys.modules)";

/// `python -c program` under the library, reporting to no agent, with `env` added.
fn python(p: &Packages, python: &Path, program: &str, env: &[(&str, &str)]) -> Output {
    let agent = format!("http://127.0.0.1:{}", free_port());
    run(p
        .command(python)
        .args(["-c", program])
        .env_remove("PYTHONPATH")
        .env_remove("DD_TELEMETRY_FORWARDER_PATH")
        .env("DD_TRACE_AGENT_URL", agent)
        .envs(env.iter().copied()))
}

/// A forwarder that writes what it receives to `<dir>/forwarded.json`.
struct FakeForwarder {
    path: PathBuf,
    output: PathBuf,
}

impl FakeForwarder {
    fn new(p: &Packages) -> FakeForwarder {
        let path = p.dir.path().join("fake-forwarder");
        let output = p.dir.path().join("forwarded.json");
        let script = format!(
            "#!/bin/sh\n[ \"$*\" = library_entrypoint ] || exit 1\n\
             cat > '{0}.tmp' && mv '{0}.tmp' '{0}'\n",
            output.display()
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeForwarder { path, output }
    }

    /// Variables that make the entry point report here.
    fn env(&self) -> [(&str, &str); 2] {
        [
            ("DD_TELEMETRY_FORWARDER_PATH", self.path.to_str().unwrap()),
            ("DD_INJECTION_ENABLED", "tracer"),
        ]
    }

    /// Whether it ran for a process that [`run`] saw to its end. The bootstrap starts the
    /// forwarder with `posix_spawn`, which passes the process's standard output and error on,
    /// and `run` reads both to their end: it returns only once every forwarder the process
    /// started has exited too. So a missing output then means it never ran, not that it is late.
    fn ran(&self) -> bool {
        self.output.exists()
    }

    /// The payload, once written.
    fn payload(&self) -> Value {
        let text = wait_for("the forwarded payload", || {
            std::fs::read_to_string(&self.output).ok()
        });
        serde_json::from_str(&text).unwrap()
    }
}

/// A directory on `PYTHONPATH` after the library's, as an application would have.
fn user_dir(p: &Packages, files: &[(&str, &str)]) -> PathBuf {
    let dir = p.dir.path().join("user");
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn ddtrace_loads_in_every_packaged_python() {
    let p = Packages::with_tracers();
    let pythons = [PathBuf::from(PYTHON)]
        .into_iter()
        .chain(["3.9", "3.10", "3.12", "3.13"].map(pyenv));
    for python_path in pythons {
        let out = python(&p, &python_path, DDTRACE_LOADED, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), "True\n", "{}", python_path.display());
        assert_eq!(stderr(&out), "", "{}", python_path.display());
    }
}

/// The library skips Pythons the package does not support (its `supported_runtimes.json`);
/// `DD_INJECT_FORCE` makes it go on, so that the bootstrap is what decides.
const FORCE: (&str, &str) = ("DD_INJECT_FORCE", "true");

#[test]
fn other_pythons_run_unchanged_and_silently() {
    let p = Packages::with_tracers();
    let program = "import os, sys; \
                   print('%s %s %s' % ('ddtrace' in sys.modules, 'wrapt' in sys.modules, \
                                       os.environ.get('PYTHONPATH')))";
    let library = p.library("python");
    for version in ["2.7", "3.6", "3.7", "3.8"] {
        let out = python(&p, &pyenv(version), program, &[FORCE]);
        assert!(out.status.success(), "{version}: {}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!("False False {}\n", library.display()),
            "{version}: instrumented by the library, left alone by the bootstrap"
        );
        assert_eq!(stderr(&out), "", "{version}");
    }
}

/// The `complete` count travels with ddtrace's own telemetry: no forwarder process is run.
#[test]
fn loaded_tracer_reports_complete_without_a_process() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let forwarder = FakeForwarder::new(&p);
    let program = "import sys, time; print('ddtrace' in sys.modules); time.sleep(3)";
    let out = run(p
        .command(PYTHON)
        .args(["-c", program])
        .env_remove("PYTHONPATH")
        .env("DD_TRACE_AGENT_URL", agent.url())
        .env("DD_TELEMETRY_HEARTBEAT_INTERVAL", "1")
        .envs(forwarder.env()));
    assert_eq!(stdout(&out), "True\n", "{}", stderr(&out));
    let metric = wait_for("library_entrypoint.complete from ddtrace", || {
        agent.metrics("library_entrypoint.complete").pop()
    });
    assert_eq!(metric["tags"], json!(["injection_forced:false"]));
    assert_eq!(metric["type"], "count");
    assert_eq!(metric["namespace"], "tracers");
    let app = &metric["application"];
    assert_eq!(app["language_name"], "python");
    assert_eq!(app["tracer_version"], "4.16.0");
    assert!(!forwarder.ran(), "the forwarder ran");
}

#[test]
fn unsupported_python_is_reported_as_an_abort() {
    let p = Packages::with_tracers();
    let forwarder = FakeForwarder::new(&p);
    let env = [forwarder.env().as_slice(), &[FORCE]].concat();
    let out = python(&p, &pyenv("3.8"), DDTRACE_LOADED, &env);
    assert_eq!(stdout(&out), "False\n", "{}", stderr(&out));
    assert_eq!(
        forwarder.payload()["points"],
        json!([
            {"name": "library_entrypoint.abort", "tags": ["reason:incompatible_runtime"]},
            {"name": "library_entrypoint.abort.runtime", "tags": []},
        ])
    );
}

#[test]
fn pythonpath_without_the_launcher_loads_nothing_and_reports_nothing() {
    // The package put on PYTHONPATH by hand, or inherited by a Python the launcher never saw
    // (started with LD_PRELOAD removed): only a process the launcher decided on loads ddtrace.
    let p = Packages::with_tracers();
    let forwarder = FakeForwarder::new(&p);
    let out = run(Command::new(PYTHON)
        .args(["-c", DDTRACE_LOADED])
        .env_remove("LD_PRELOAD")
        .env("PYTHONPATH", p.library("python"))
        .env("DD_INJECTION_ENABLED", "tracer")
        .env("DD_TELEMETRY_FORWARDER_PATH", &forwarder.path)
        .env(
            "DD_TRACE_AGENT_URL",
            format!("http://127.0.0.1:{}", free_port()),
        ));
    assert_eq!(stdout(&out), "False\n", "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(!forwarder.ran(), "the forwarder ran");
}

#[test]
fn users_sitecustomize_still_runs() {
    let p = Packages::with_tracers();
    let user = user_dir(
        &p,
        &[(
            "sitecustomize.py",
            "print('user sitecustomize')\nimport sys; sys.path.append('/added-by-user')\n",
        )],
    );
    let program = "import sys, sitecustomize; \
                   print(sitecustomize.__file__, 'ddtrace' in sys.modules); \
                   print(sys.path.count(sys.argv[1]), '/added-by-user' in sys.path)";
    let library = p.library("python");
    for (python_path, loaded) in [(PathBuf::from(PYTHON), "True"), (pyenv("3.6"), "False")] {
        let out = run(p
            .command(&python_path)
            .args(["-c", program])
            .arg(&library)
            .env("PYTHONPATH", &user)
            .env(FORCE.0, FORCE.1)
            .env(
                "DD_TRACE_AGENT_URL",
                format!("http://127.0.0.1:{}", free_port()),
            ));
        assert_eq!(
            stdout(&out),
            format!(
                "user sitecustomize\n{}/sitecustomize.py {loaded}\n1 True\n",
                user.display()
            ),
            "{}: {}",
            python_path.display(),
            stderr(&out)
        );
        assert_eq!(stderr(&out), "");
    }
}

#[test]
fn failing_user_sitecustomize_is_reported_as_without_the_library() {
    let p = Packages::with_tracers();
    let user = user_dir(&p, &[("sitecustomize.py", "raise ValueError('boom')\n")]);
    let without = run(Command::new(PYTHON)
        .args(["-c", "print('app ran')"])
        .env("PYTHONPATH", &user));
    let with = run(p
        .command(PYTHON)
        .args(["-c", "print('app ran')"])
        .env("PYTHONPATH", &user)
        .env(
            "DD_TRACE_AGENT_URL",
            format!("http://127.0.0.1:{}", free_port()),
        ));
    assert!(stderr(&without).contains("Error in sitecustomize"));
    assert_eq!(stderr(&with), stderr(&without));
    assert_eq!(stdout(&with), "app ran\n");
}

#[test]
fn application_with_its_own_ddtrace_keeps_it() {
    let p = Packages::with_tracers();
    let forwarder = FakeForwarder::new(&p);
    let user = user_dir(&p, &[("ddtrace/__init__.py", "OWNER = 'application'\n")]);
    let program = "import sys; print('ddtrace' in sys.modules); \
                   import ddtrace; print(ddtrace.OWNER)";
    let user_path = user.to_str().unwrap();
    let mut env = forwarder.env().to_vec();
    env.push(("PYTHONPATH", user_path));
    let out = python(&p, Path::new(PYTHON), program, &env);
    assert_eq!(stdout(&out), "False\napplication\n", "{}", stderr(&out));
    assert_eq!(
        forwarder.payload()["points"],
        json!([{"name": "library_entrypoint.abort", "tags": ["reason:ddtrace_already_present"]}])
    );
}

#[test]
fn broken_ddtrace_leaves_the_application_running() {
    let p = Packages::new();
    let abi = run(Command::new(PYTHON).args([
        "-c",
        "import sysconfig; print(sysconfig.get_config_var('SOABI'))",
    ]));
    let broken = p.dir.path().join("broken.py");
    std::fs::write(&broken, "raise RuntimeError('broken tracer')\n").unwrap();
    let sources = workspace().join("libraries/python");
    let ddtrace = format!("ddtrace_pkgs/{}/ddtrace/__init__.py", stdout(&abi).trim());
    p.install(
        "python",
        &[
            ("sitecustomize.py", &sources.join("sitecustomize.py")),
            (
                "sitecustomize.d/_apm_inject_bootstrap.py",
                &sources.join("_apm_inject_bootstrap.py"),
            ),
            (&ddtrace, &broken),
        ],
    );
    let forwarder = FakeForwarder::new(&p);
    let program = "import sys; print('ddtrace' in sys.modules, sys.path[-1].endswith('-gnu'))";
    let out = python(&p, Path::new(PYTHON), program, &forwarder.env());
    assert!(out.status.success());
    assert_eq!(stdout(&out), "False False\n");
    assert_eq!(stderr(&out), "");
    assert_eq!(
        forwarder.payload()["points"],
        json!([{"name": "library_entrypoint.error",
                "tags": ["error_type:import_ddtrace_runtimeerror"]}])
    );
}

#[test]
fn python_embedded_in_gdb_does_not_load_the_tracer() {
    // gdb inherits PYTHONPATH from an instrumented Python; its embedded interpreter reads it,
    // but the launcher never decided on gdb.
    let p = Packages::with_tracers();
    let program = r#"import subprocess, sys
print('ddtrace' in sys.modules)
gdb = subprocess.run(["gdb", "-nx", "-batch", "-ex",
                      "python import os, sys; print('ddtrace' in sys.modules, os.environ.get('PYTHONPATH'))"],
                     capture_output=True, text=True)
print(gdb.stdout, end="")
print(gdb.stderr, end="", file=sys.stderr)"#;
    let out = python(&p, Path::new(PYTHON), program, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("True\nFalse {}\n", p.library("python").display())
    );
    assert_eq!(stderr(&out), "");
}

/// `python -c program` under the library with `limits` (shell `ulimit` options) applied.
fn python_limited(p: &Packages, limits: &str, program: &str, env: &[(&str, &str)]) -> Output {
    let agent = format!("http://127.0.0.1:{}", free_port());
    run(p
        .command("/bin/sh")
        .args([
            "-c",
            &format!("ulimit {limits} && exec {PYTHON} -c \"$0\""),
            program,
        ])
        .env_remove("PYTHONPATH")
        .env("DD_TRACE_AGENT_URL", agent)
        .envs(env.iter().copied()))
}

#[test]
fn low_address_space_limit_stands_down() {
    let p = Packages::with_tracers();
    for limits in ["-v 200000", "-v 500000", "-d 100000"] {
        let out = python_limited(
            &p,
            limits,
            "import sys; print(42, 'ddtrace' in sys.modules)",
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{limits}: {}", stderr(&out));
        assert_eq!(stdout(&out), "42 False\n", "{limits}");
        assert_eq!(stderr(&out), "", "{limits}");
    }
    let debug = [("DD_APM_INSTRUMENTATION_DEBUG", "true")];
    let out = python_limited(&p, "-v 200000", "print(42)", &debug);
    assert!(
        stderr(&out).contains("not instrumented: address_space_limit"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn deleted_working_directory_stands_down_silently() {
    let p = Packages::with_tracers();
    let gone = tempfile::tempdir().unwrap();
    let agent = format!("http://127.0.0.1:{}", free_port());
    let script = format!(
        "cd '{}' && rmdir '{}' && exec {PYTHON} -c \"$0\"",
        gone.path().display(),
        gone.path().display()
    );
    let program = "import json, sys; print('ddtrace' in sys.modules); print(json.dumps([1]))";
    let out = run(p
        .command("/bin/sh")
        .args(["-c", &script, program])
        .env_remove("PYTHONPATH")
        .env("DD_TRACE_AGENT_URL", agent));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "False\n[1]\n");
    assert_eq!(stderr(&out), "");
}
