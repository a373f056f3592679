//! Real `python3`, `node` and `java` processes under the library, with fixture tracers.
#![forbid(unsafe_code)]

use apm_inject_tests::{fixture, run, stderr, stdout, Packages};
use std::process::Command;

const PYTHON: &str = "/usr/bin/python3";
const PRINT_PYTHONPATH: &str =
    "import os; print(os.environ.get('PYTHONPATH')); print(os.environ.get('DD_INJECTION_ENABLED'))";

fn java_agent(p: &Packages) -> String {
    format!(
        "-javaagent:{}/dd-java-agent.jar",
        p.library("java").display()
    )
}

/// What the library puts into `JAVA_TOOL_OPTIONS`: the agent, and the options that keep its
/// configuration banner and class-data sharing off (the user configured neither here).
fn java_additions(p: &Packages) -> String {
    format!(
        "{} -Ddd.trace.startup.logs=false -Xshare:off",
        java_agent(p)
    )
}

fn node_require(p: &Packages) -> String {
    format!("--require={}/bootstrap.cjs", p.library("js").display())
}

#[test]
fn python_is_instrumented() {
    let p = Packages::with_libraries();
    let out = run(p.command(PYTHON).args(["-c", PRINT_PYTHONPATH]));
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        format!("{}\ntracer,startup_logs\n", p.library("python").display())
    );
    assert_eq!(stderr(&out), "fixture sitecustomize loaded\n");
}

#[test]
fn python_keeps_the_users_pythonpath_after_ours() {
    let p = Packages::with_libraries();
    let out = run(p
        .command(PYTHON)
        .args(["-c", PRINT_PYTHONPATH])
        .env("PYTHONPATH", "/app/lib:/other"));
    assert_eq!(
        stdout(&out).lines().next().unwrap(),
        format!("{}:/app/lib:/other", p.library("python").display())
    );
}

#[test]
fn variables_are_read_whole_at_every_length_and_alignment() {
    // The library measures each environment string with its own `strlen`, eight bytes at a
    // time from an 8-byte boundary: a value of any length, starting anywhere in a word, must
    // come through whole. `AAPAD` sorts before `PYTHONPATH`, so its length shifts where the
    // value starts.
    let p = Packages::with_libraries();
    let cases: Vec<(usize, usize)> = (1..=24)
        .flat_map(|len| (0..8).map(move |pad| (len, pad)))
        .collect();
    std::thread::scope(|scope| {
        for part in cases.chunks(cases.len().div_ceil(4)) {
            let p = &p;
            scope.spawn(move || {
                for &(len, pad) in part {
                    let value: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
                    let out = run(p
                        .command(PYTHON)
                        .args(["-c", "import os; print(os.environ['PYTHONPATH'])"])
                        .env("AAPAD", "x".repeat(pad))
                        .env("PYTHONPATH", &value));
                    assert_eq!(
                        stdout(&out),
                        format!("{}:{value}\n", p.library("python").display()),
                        "length {len}, pad {pad}"
                    );
                }
            });
        }
    });
}

#[test]
fn node_is_instrumented() {
    let p = Packages::with_libraries();
    let out = run(p
        .command("node")
        .args(["-e", "console.log(process.env.NODE_OPTIONS)"])
        .env("NODE_OPTIONS", "--max-old-space-size=256"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("--max-old-space-size=256 {}\n", node_require(&p))
    );
    assert_eq!(stderr(&out), "fixture dd-trace loaded\n");
}

#[test]
fn java_application_is_instrumented() {
    let p = Packages::with_libraries();
    let out = run(p.command("java").arg("-jar").arg(fixture("hello.jar")));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "hello from java, JAVA_TOOL_OPTIONS={}\n",
            java_additions(&p)
        )
    );
    assert!(
        stderr(&out).contains("fixture java agent loaded"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn java_version_is_not_instrumented() {
    let p = Packages::with_libraries();
    for flag in ["-version", "--version", "-fullversion"] {
        let out = run(p.command("java").arg(flag));
        assert!(out.status.success());
        let err = stderr(&out);
        assert!(
            !err.contains("Picked up") && !err.contains("agent loaded"),
            "{flag}: {err}"
        );
    }
}

#[test]
fn inherited_agent_is_removed_from_denied_child() {
    let p = Packages::with_libraries();
    let out = run(p
        .command("java")
        .arg("-version")
        .env("JAVA_TOOL_OPTIONS", format!(" {}", java_additions(&p)))
        .env("DD_INJECTION_ENABLED", "tracer"));
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(!err.contains("Picked up"), "{err}");
    assert!(!err.contains("agent loaded"), "{err}");
    assert!(err.contains("openjdk version"), "{err}");
}

#[test]
fn inherited_agent_removal_keeps_the_users_options() {
    let p = Packages::with_libraries();
    let out = run(p.command("java").arg("-version").env(
        "JAVA_TOOL_OPTIONS",
        format!("-Dfoo=bar {}", java_additions(&p)),
    ));
    let err = stderr(&out);
    assert!(
        err.contains("Picked up JAVA_TOOL_OPTIONS: -Dfoo=bar\n"),
        "{err}"
    );
    assert!(!err.contains("agent loaded"), "{err}");
}

#[test]
fn instrumented_parent_does_not_instrument_twice() {
    let p = Packages::with_libraries();
    // A java child of an instrumented java: JAVA_TOOL_OPTIONS already holds our agent.
    let out = run(p
        .command("java")
        .arg("-jar")
        .arg(fixture("hello.jar"))
        .env("JAVA_TOOL_OPTIONS", java_additions(&p)));
    assert_eq!(
        stdout(&out),
        format!(
            "hello from java, JAVA_TOOL_OPTIONS={}\n",
            java_additions(&p)
        )
    );
    assert_eq!(
        stderr(&out).matches("fixture java agent loaded").count(),
        1,
        "{}",
        stderr(&out)
    );
    // Python grandchildren keep a single entry.
    let nested = "import os,subprocess; print(subprocess.run(['/usr/bin/python3','-c','import os;print(os.environ[\"PYTHONPATH\"])'],capture_output=True,text=True).stdout, end='')";
    let out = run(p.command(PYTHON).args(["-c", nested]));
    assert_eq!(stdout(&out), format!("{}\n", p.library("python").display()));
}

#[test]
fn other_java_agent_means_already_instrumented() {
    let p = Packages::with_libraries();
    let other = format!("-javaagent:{}", fixture("dd-java-agent.jar").display());
    let out = run(p
        .command("java")
        .arg(&other)
        .arg("-jar")
        .arg(fixture("hello.jar")));
    assert_eq!(stdout(&out), "hello from java, JAVA_TOOL_OPTIONS=null\n");
    let out = run(p
        .command("java")
        .args(["-jar"])
        .arg(fixture("hello.jar"))
        .env("JAVA_TOOL_OPTIONS", &other)
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(
        stderr(&out).contains("skipped: already_instrumented"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn too_long_java_tool_options_are_not_extended() {
    let p = Packages::with_libraries();
    let long = format!("-Dpadding={}", "x".repeat(1000));
    let out = run(p
        .command("java")
        .arg("-jar")
        .arg(fixture("hello.jar"))
        .env("JAVA_TOOL_OPTIONS", &long)
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(stdout(&out).contains(&format!("JAVA_TOOL_OPTIONS={long}\n")));
    assert!(
        stderr(&out).contains("skipped: java_tool_options_too_long"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("agent loaded"));
}

#[test]
fn jdk_tools_are_not_instrumented() {
    let p = Packages::with_libraries();
    let out = run(p
        .command("keytool")
        .arg("-help")
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    let err = stderr(&out);
    assert!(err.contains("skipped: jdk_tool"), "{err}");
    assert!(
        !err.contains("Picked up") && !err.contains("agent loaded"),
        "{err}"
    );
}

#[test]
fn package_managers_are_not_instrumented() {
    let p = Packages::with_libraries();
    let out = run(p
        .command("npm")
        .arg("--version")
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("skipped: node_package_manager"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("fixture dd-trace loaded"));
    let out = run(p
        .command(PYTHON)
        .args(["-m", "pip", "--version"])
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(
        stderr(&out).contains("skipped: python_package_manager"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("sitecustomize"));
}

#[test]
fn missing_library_package_changes_nothing() {
    let p = Packages::new();
    let out = run(p.command(PYTHON).args(["-c", PRINT_PYTHONPATH]));
    assert_eq!(stdout(&out), "None\nNone\n");
    let out = run(p
        .command("node")
        .args(["-e", "console.log(process.env.NODE_OPTIONS)"]));
    assert!(
        out.status.success(),
        "node must not be pointed at a missing module"
    );
    assert_eq!(stdout(&out), "undefined\n");
    let out = run(p.command("java").arg("-jar").arg(fixture("hello.jar")));
    assert!(
        out.status.success(),
        "java must not be pointed at a missing jar"
    );
}

#[test]
fn opt_out_variable_is_honoured() {
    let p = Packages::with_libraries();
    let out = run(p
        .command(PYTHON)
        .args(["-c", PRINT_PYTHONPATH])
        .env("DD_INSTRUMENT_SERVICE_WITH_APM", "false"));
    assert_eq!(stdout(&out), "None\nNone\n");
    assert_eq!(stderr(&out), "");
}

#[test]
fn startup_logs_setting_of_the_library_is_taken_out_of_a_child_left_alone() {
    // An instrumented python starts an opted-out python: the child loses the
    // DD_TRACE_STARTUP_LOGS=false the library set for its parent, as it loses PYTHONPATH; a
    // value the user set reaches it.
    let p = Packages::with_libraries();
    let child =
        "import os; print(os.environ.get('DD_TRACE_STARTUP_LOGS'), os.environ.get('PYTHONPATH'))";
    let parent = format!(
        "import os, subprocess; print(os.environ.get('DD_TRACE_STARTUP_LOGS'), flush=True); \
         subprocess.run(['{PYTHON}', '-c', {child:?}], env=dict(os.environ, DD_INSTRUMENT_SERVICE_WITH_APM='false'))"
    );
    let out = run(p
        .command(PYTHON)
        .args(["-c", &parent])
        .env_remove("DD_TRACE_STARTUP_LOGS")
        .env_remove("PYTHONPATH"));
    assert_eq!(stdout(&out), "false\nNone None\n", "{}", stderr(&out));
    let out = run(p
        .command(PYTHON)
        .args(["-c", &parent])
        .env("DD_TRACE_STARTUP_LOGS", "false")
        .env_remove("PYTHONPATH"));
    assert_eq!(stdout(&out), "false\nfalse None\n", "{}", stderr(&out));
}

#[test]
fn python_flags_that_ignore_the_environment_are_skipped() {
    let p = Packages::with_libraries();
    let out = run(p
        .command(PYTHON)
        .args(["-I", "-c", "pass"])
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(
        stderr(&out).contains("skipped: python_ignores_environment"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn debug_log_names_the_executable_and_outcome() {
    let p = Packages::with_libraries();
    let out = run(p
        .command(PYTHON)
        .args(["-c", "pass"])
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].ends_with("process_exe: '/usr/bin/python3.11'"),
        "{err}"
    );
    assert!(lines[1].contains("injected python"), "{err}");
    let out = run(p
        .command("java")
        .arg("-version")
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(
        stderr(&out).contains("skipped: java_version"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn debug_log_goes_to_the_output_file_instead() {
    let p = Packages::with_libraries();
    let log = p.dir.path().join("inject.log");
    std::fs::write(&log, "earlier line\n").unwrap();
    let out = run(p
        .command(PYTHON)
        .args(["-c", "pass"])
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true")
        .env("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", &log));
    assert_eq!(stderr(&out), "fixture sitecustomize loaded\n");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("earlier line\n"), "appended: {text}");
    assert!(
        text.contains("process_exe: '/usr/bin/python3.11'") && text.contains("injected python"),
        "{text}"
    );
}

#[test]
fn a_full_debug_log_is_rotated() {
    let p = Packages::with_libraries();
    let log = p.dir.path().join("inject.log");
    // 10 MiB: the size past which the launcher starts a new file.
    let full = std::fs::File::create(&log).unwrap();
    full.set_len(10 << 20).unwrap();
    drop(full);
    let debug = |p: &Packages| {
        run(p
            .command(PYTHON)
            .args(["-c", "pass"])
            .env("DD_APM_INSTRUMENTATION_DEBUG", "true")
            .env("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", &log))
    };
    debug(&p);
    let rotated = p.dir.path().join("inject.log.1");
    assert_eq!(std::fs::metadata(&rotated).unwrap().len(), 10 << 20);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.starts_with("apm-inject[") && text.contains("injected python"),
        "{text}"
    );
    // The next process appends to the new file.
    debug(&p);
    assert_eq!(
        std::fs::read_to_string(&log)
            .unwrap()
            .matches("injected python")
            .count(),
        2
    );
    assert_eq!(std::fs::metadata(&rotated).unwrap().len(), 10 << 20);
}

#[test]
fn nothing_is_written_without_debug() {
    let p = Packages::with_libraries();
    let out = run(p.command("java").arg("-version"));
    assert!(!stderr(&out).contains("apm-inject"));
    let out = run(p.command(PYTHON).args(["-m", "pip", "--version"]));
    assert_eq!(stderr(&out), "");
}

#[test]
fn relative_preload_path_finds_the_packages() {
    let p = Packages::with_libraries();
    let out = run(Command::new(PYTHON)
        .args(["-c", PRINT_PYTHONPATH])
        .current_dir(&p.root)
        .env(
            "LD_PRELOAD",
            "datadog-apm-inject/stable/inject/launcher.preload.so",
        ));
    assert_eq!(
        stdout(&out),
        format!("{}\ntracer,startup_logs\n", p.library("python").display())
    );
}

#[test]
fn ruby_is_instrumented_through_rubyopt() {
    let p = Packages::with_libraries();
    let out = run(p
        .command("ruby")
        .args(["-e", "puts ENV['RUBYOPT']"])
        .env("RUBYOPT", "-W0"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("-W0 -r{}/host_inject\n", p.library("ruby").display())
    );
    assert_eq!(stderr(&out), "fixture ruby tracer loaded\n");
}

#[test]
fn php_scans_the_library_loader_directory() {
    let p = Packages::with_libraries();
    let script = "echo getenv('PHP_INI_SCAN_DIR'), ' ', ini_get('memory_limit');";
    let out = run(p.command("php").args(["-r", script]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(":{}/linux-gnu/loader 321M", p.library("php").display())
    );
    let out = run(p
        .command("php")
        .args(["-r", script])
        .env("PHP_INI_SCAN_DIR", "/etc/php/extra"));
    assert_eq!(
        stdout(&out),
        format!(
            "/etc/php/extra:{}/linux-gnu/loader 321M",
            p.library("php").display()
        )
    );
}

#[test]
fn composer_and_gem_are_not_instrumented() {
    let p = Packages::with_libraries();
    let dir = p.dir.path();
    let gem = dir.join("gem");
    std::fs::write(&gem, "#!/usr/bin/ruby\nputs ENV['RUBYOPT'].inspect\n").unwrap();
    let composer = dir.join("composer");
    std::fs::write(
        &composer,
        "#!/usr/bin/php\n<?php echo var_export(getenv('PHP_INI_SCAN_DIR'), true);\n",
    )
    .unwrap();
    for script in [&gem, &composer] {
        std::fs::set_permissions(script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let out = run(p
        .command(&gem)
        .arg("install")
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert_eq!(stdout(&out), "nil\n");
    assert!(
        stderr(&out).contains("skipped: ruby_gem"),
        "{}",
        stderr(&out)
    );
    let out = run(p
        .command(&composer)
        .arg("install")
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert_eq!(stdout(&out), "false");
    assert!(
        stderr(&out).contains("skipped: php_composer"),
        "{}",
        stderr(&out)
    );
}

/// What a .NET stand-in (a probe program) prints, with the library's debug log.
fn dotnet_variables(p: &Packages, program: &std::path::Path, args: &[&str]) -> String {
    let out = run(p
        .command(program)
        .args(args)
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    stdout(&out) + &stderr(&out)
}

#[test]
fn dotnet_stand_in_gets_the_clr_profiler() {
    // .NET is not installable on these machines: a probe named `dotnet` receives the
    // variables (it prints the variables named by its arguments; `app.dll` is the program).
    let p = Packages::with_libraries();
    let dotnet = apm_inject_tests::install_as(&fixture("envprobe-glibc"), p.dir.path(), "dotnet");
    let text = dotnet_variables(
        &p,
        &dotnet,
        &[
            "app.dll",
            "CORECLR_ENABLE_PROFILING",
            "CORECLR_PROFILER_PATH",
        ],
    );
    assert!(text.contains("CORECLR_ENABLE_PROFILING=1\n"), "{text}");
    let path = format!(
        "CORECLR_PROFILER_PATH={}/Datadog.Trace.ClrProfiler.Native.so",
        p.library("dotnet").display()
    );
    assert!(text.contains(&path), "{text}");
    let text = dotnet_variables(&p, &dotnet, &["build", "CORECLR_ENABLE_PROFILING"]);
    assert!(
        text.contains("CORECLR_ENABLE_PROFILING unset")
            && text.contains("skipped: dotnet_sdk_command"),
        "{text}"
    );
}

#[test]
fn dotnet_apphost_next_to_its_runtimeconfig_is_instrumented() {
    let p = Packages::with_libraries();
    let app_dir = p.dir.path().join("shop");
    std::fs::create_dir(&app_dir).unwrap();
    let app = apm_inject_tests::install_as(&fixture("envprobe-glibc"), &app_dir, "Shop.Api");
    let text = dotnet_variables(&p, &app, &["CORECLR_PROFILER"]);
    assert!(
        text.contains("CORECLR_PROFILER unset") && !text.contains("process_exe"),
        "not an apphost yet: {text}"
    );
    let config =
        r#"{"runtimeOptions":{"framework":{"name":"Microsoft.NETCore.App","version":"8.0.0"}}}"#;
    std::fs::write(app_dir.join("Shop.Api.runtimeconfig.json"), config).unwrap();
    let text = dotnet_variables(&p, &app, &["CORECLR_PROFILER"]);
    assert!(
        text.contains("CORECLR_PROFILER={846F5F1C-F9AE-4B07-969E-05C26BC060D8}"),
        "{text}"
    );
    assert!(text.contains("injected dotnet"), "{text}");
}

#[test]
fn es_module_apps_also_get_the_esm_hook() {
    let p = Packages::with_libraries();
    let app = p.dir.path().join("esm-app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(
        app.join("package.json"),
        r#"{"name":"esm-shop","type":"module"}"#,
    )
    .unwrap();
    std::fs::write(
        app.join("server.js"),
        "console.log(process.env.NODE_OPTIONS + ' ' + process.env.DD_SERVICE);\n",
    )
    .unwrap();
    std::fs::write(
        app.join("legacy.cjs"),
        "console.log(process.env.NODE_OPTIONS);\n",
    )
    .unwrap();
    let lib = p.library("js");
    let out = run(p.command("node").arg(app.join("server.js")));
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = format!(
        "--require={0}/bootstrap.cjs --import={0}/bootstrap.mjs esm-shop\n",
        lib.display()
    );
    assert_eq!(stdout(&out), expected);
    assert!(
        stderr(&out).contains("fixture dd-trace esm hook loaded"),
        "{}",
        stderr(&out)
    );
    let out = run(p.command("node").arg(app.join("legacy.cjs")));
    assert_eq!(
        stdout(&out),
        format!("--require={}/bootstrap.cjs\n", lib.display()),
        "CommonJS: --require only"
    );
}

#[test]
fn derived_service_name_is_set_for_a_java_jar() {
    let p = Packages::with_libraries();
    let jar = p.dir.path().join("payment-service-1.2.0.jar");
    std::fs::copy(fixture("hello.jar"), &jar).unwrap();
    let out = run(p.command("java").arg("-jar").arg(&jar).arg("x"));
    assert!(
        stdout(&out).starts_with("hello from java"),
        "{}",
        stderr(&out)
    );
    let out = run(Command::new(apm_inject_tests::cli())
        .arg("explain")
        .arg("--packages-root")
        .arg(&p.root)
        .arg("--")
        .arg("java")
        .arg("-jar")
        .arg(&jar));
    assert!(
        stdout(&out).contains("set DD_SERVICE='payment-service'"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("set DD_INJECTION_ENABLED='tracer,service_name,startup_logs'"),
        "{}",
        stdout(&out)
    );
}
