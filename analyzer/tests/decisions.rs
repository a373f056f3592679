//! Decisions that need no real process: .NET (not installable here), PHP under musl, Ruby's
//! idempotency, the time budget. A small in-memory host stands for the machine.
#![forbid(unsafe_code)]

use analyzer::host::{FileInfo, FileKind, ReadError};
use analyzer::process::{Libc, LibcFlavor};
use analyzer::sdk::Sdk;
use analyzer::{decide, Config, Decision, Edit, Host, Outcome, Process, Reason};
use std::collections::HashMap;

const ROOT: &[u8] = b"/opt/datadog-packages";

/// Files (path → contents; a trailing `/` in the key makes a directory), and a clock.
#[derive(Default)]
struct Machine {
    files: HashMap<String, String>,
    out_of_time: bool,
}

impl Machine {
    fn with_libraries() -> Machine {
        let mut m = Machine::default();
        for f in [
            "datadog-apm-library-dotnet/stable/Datadog.Trace.ClrProfiler.Native.so",
            "datadog-apm-library-ruby/stable/host_inject.rb",
            "datadog-apm-library-php/stable/linux-gnu/loader/",
            "datadog-apm-library-php/stable/linux-musl/loader/",
        ] {
            m.files
                .insert(format!("/opt/datadog-packages/{f}"), String::new());
        }
        // The .NET tracer supports .NET Core 3.1 and later.
        m.files.insert(
            "/opt/datadog-packages/datadog-apm-library-dotnet/stable/supported_runtimes.json"
                .into(),
            r#"{"version":1,"tracers":[{"dir":".","min":"3.1"}]}"#.into(),
        );
        m
    }
}

impl Host for Machine {
    fn stat(&self, path: &[u8]) -> Option<FileInfo> {
        let path = String::from_utf8_lossy(path);
        let dir = self.files.contains_key(&format!("{path}/"))
            || (path.ends_with("/stable")
                || path.ends_with("-dotnet")
                || path.ends_with("-ruby")
                || path.ends_with("-php"));
        let kind = if self.files.contains_key(path.as_ref()) {
            FileKind::File
        } else if dir {
            FileKind::Dir
        } else {
            return None;
        };
        Some(FileInfo {
            kind,
            mode: 0o755,
            uid: 0,
        })
    }
    fn read_file(&self, path: &[u8], _: usize) -> Result<Vec<u8>, ReadError> {
        self.files
            .get(String::from_utf8_lossy(path).as_ref())
            .map(|s| s.clone().into_bytes())
            .ok_or(ReadError::Missing)
    }
    fn peek(&self, path: &[u8], _: usize, _: usize) -> Result<(Vec<u8>, Vec<u8>), ReadError> {
        self.stat(path)
            .map(|_| (b"PK\x03\x04".to_vec(), b"PK\x05\x06".to_vec()))
            .ok_or(ReadError::Missing)
    }
    fn out_of_time(&self) -> bool {
        self.out_of_time
    }
}

fn decide_for(m: &Machine, exe: &str, line: &str, env: &[&str], flavor: LibcFlavor) -> Decision {
    let process = Process {
        exe: exe.as_bytes(),
        args: line.split(' ').map(str::as_bytes).collect(),
        env: env.iter().map(|e| e.as_bytes()).collect(),
        env_index: Default::default(),
        cwd: Some(b"/srv/app"),
        euid: 0,
        libc: Libc {
            flavor,
            version: Some((2, 36)),
        },
    };
    decide(&process, m, Some(ROOT), &Config::default())
}

fn set(d: &Decision, name: &str) -> Option<String> {
    d.edits.iter().find_map(|e| match e {
        Edit::Set { name: n, value } if *n == name => {
            Some(String::from_utf8_lossy(value).into_owned())
        }
        _ => None,
    })
}

#[test]
fn dotnet_app_gets_the_profiler_variables() {
    let d = decide_for(
        &Machine::with_libraries(),
        "/usr/share/dotnet/dotnet",
        "dotnet app.dll",
        &[],
        LibcFlavor::Glibc,
    );
    assert_eq!(d.outcome, Outcome::Injected);
    assert_eq!(set(&d, "CORECLR_ENABLE_PROFILING").as_deref(), Some("1"));
    assert_eq!(
        set(&d, "CORECLR_PROFILER").as_deref(),
        Some("{846F5F1C-F9AE-4B07-969E-05C26BC060D8}")
    );
    assert_eq!(
        set(&d, "CORECLR_PROFILER_PATH").as_deref(),
        Some("/opt/datadog-packages/datadog-apm-library-dotnet/stable/Datadog.Trace.ClrProfiler.Native.so")
    );
    assert_eq!(
        set(&d, "DD_DOTNET_TRACER_HOME").as_deref(),
        Some("/opt/datadog-packages/datadog-apm-library-dotnet/stable")
    );
}

#[test]
fn dotnet_with_a_profiler_already_set_stands_down() {
    let env = [
        "CORECLR_ENABLE_PROFILING=1",
        "CORECLR_PROFILER={324F817A-7420-4E6D-B3C1-143FBED6D855}",
    ];
    let d = decide_for(
        &Machine::with_libraries(),
        "/usr/bin/dotnet",
        "dotnet app.dll",
        &env,
        LibcFlavor::Glibc,
    );
    assert_eq!(d.outcome, Outcome::Skipped(Reason::AlreadyInstrumented));
}

#[test]
fn dotnet_build_child_loses_the_inherited_profiler() {
    let env = [
        "CORECLR_ENABLE_PROFILING=1",
        "CORECLR_PROFILER={846F5F1C-F9AE-4B07-969E-05C26BC060D8}",
        "CORECLR_PROFILER_PATH=/opt/datadog-packages/datadog-apm-library-dotnet/stable/Datadog.Trace.ClrProfiler.Native.so",
        "DD_DOTNET_TRACER_HOME=/opt/datadog-packages/datadog-apm-library-dotnet/stable",
        "DD_INJECTION_ENABLED=tracer",
    ];
    let d = decide_for(
        &Machine::with_libraries(),
        "/usr/bin/dotnet",
        "dotnet build",
        &env,
        LibcFlavor::Glibc,
    );
    assert!(
        matches!(&d.outcome, Outcome::Skipped(Reason::Rule { id, .. }) if id == "dotnet_sdk_command")
    );
    let unset: Vec<&str> = d.edits.iter().map(|e| e.name()).collect();
    assert_eq!(unset.len(), 5, "{unset:?}");
    let again = decide_for(
        &Machine::with_libraries(),
        "/usr/bin/dotnet",
        "dotnet app.dll",
        &env,
        LibcFlavor::Glibc,
    );
    assert_eq!(
        again.outcome,
        Outcome::Injected,
        "our own inherited profiler is not someone else's"
    );
    assert!(
        set(&again, "CORECLR_PROFILER_PATH").is_none(),
        "nothing added twice"
    );
}

#[test]
fn dotnet_framework_older_than_the_package_supports_is_skipped() {
    let mut m = Machine::with_libraries();
    let config = r#"{"runtimeOptions":{"tfm":"netcoreapp2.1","framework":{"name":"Microsoft.NETCore.App","version":"2.1.0"}}}"#;
    m.files
        .insert("/srv/app/app.runtimeconfig.json".into(), config.into());
    let d = decide_for(
        &m,
        "/usr/bin/dotnet",
        "dotnet app.dll",
        &[],
        LibcFlavor::Glibc,
    );
    assert_eq!(
        d.outcome.reason().unwrap().id(),
        "runtime_version_unsupported"
    );
    assert_eq!(
        d.outcome.reason().unwrap().describe(),
        "version 2.1; the package supports 3.1 and later"
    );
    let config = r#"{"runtimeOptions":{"frameworks":[{"name":"Microsoft.NETCore.App","version":"8.0.0"},{"name":"Microsoft.AspNetCore.App","version":"8.0.0"}]}}"#;
    m.files
        .insert("/srv/app/app.runtimeconfig.json".into(), config.into());
    assert_eq!(
        decide_for(
            &m,
            "/usr/bin/dotnet",
            "dotnet app.dll",
            &[],
            LibcFlavor::Glibc
        )
        .outcome,
        Outcome::Injected
    );
}

#[test]
fn dotnet_apphost_is_recognised_by_its_runtimeconfig() {
    let mut m = Machine::with_libraries();
    let d = decide_for(
        &m,
        "/srv/shop/Shop.Api",
        "/srv/shop/Shop.Api --urls http://*:80",
        &[],
        LibcFlavor::Glibc,
    );
    assert_eq!(d.outcome, Outcome::Skipped(Reason::NotARuntime));
    m.files.insert(
        "/srv/shop/Shop.Api.runtimeconfig.json".into(),
        r#"{"runtimeOptions":{"framework":{"version":"8.0.0"}}}"#.into(),
    );
    let d = decide_for(
        &m,
        "/srv/shop/Shop.Api",
        "/srv/shop/Shop.Api --urls http://*:80",
        &[],
        LibcFlavor::Glibc,
    );
    assert_eq!(d.outcome, Outcome::Injected);
    assert!(set(&d, "CORECLR_PROFILER_PATH").is_some());
}

#[test]
fn php_uses_the_musl_loader_for_musl_processes() {
    let m = Machine::with_libraries();
    let d = decide_for(
        &m,
        "/usr/sbin/php-fpm8.2",
        "php-fpm8.2 --nodaemonize",
        &[],
        LibcFlavor::Musl,
    );
    assert_eq!(
        set(&d, "PHP_INI_SCAN_DIR").as_deref(),
        Some(":/opt/datadog-packages/datadog-apm-library-php/stable/linux-musl/loader")
    );
    let d = decide_for(
        &m,
        "/usr/bin/php8.2",
        "php index.php",
        &["PHP_INI_SCAN_DIR=/etc/php/conf.d"],
        LibcFlavor::Glibc,
    );
    assert_eq!(
        set(&d, "PHP_INI_SCAN_DIR").as_deref(),
        Some(
            "/etc/php/conf.d:/opt/datadog-packages/datadog-apm-library-php/stable/linux-gnu/loader"
        )
    );
}

#[test]
fn ruby_require_is_added_once_in_either_form() {
    let m = Machine::with_libraries();
    let ours = "/opt/datadog-packages/datadog-apm-library-ruby/stable/host_inject";
    for env in [
        format!("RUBYOPT=-r{ours}"),
        format!("RUBYOPT=-W0 -r {ours}"),
    ] {
        let d = decide_for(
            &m,
            "/usr/bin/ruby3.1",
            "ruby app.rb",
            &[
                &env,
                "DD_INJECTION_ENABLED=tracer",
                "DD_SERVICE=shop",
                "DD_TRACE_STARTUP_LOGS=false",
                FORWARDER,
            ],
            LibcFlavor::Glibc,
        );
        assert_eq!(d.outcome, Outcome::Injected);
        assert!(d.edits.is_empty(), "{env}: {:?}", d.edits);
    }
    let d = decide_for(
        &m,
        "/usr/bin/ruby",
        "ruby app.rb",
        &["RUBYOPT=-rdatadog/auto_instrument"],
        LibcFlavor::Glibc,
    );
    assert_eq!(d.outcome, Outcome::Skipped(Reason::AlreadyInstrumented));
}

/// A Python child of an instrumented Python parent: the library's `PYTHONPATH`, and
/// `DD_INJECTION_ENABLED` and `DD_TRACE_STARTUP_LOGS` as given.
fn python_child(m: &Machine, line: &str, enabled: &str, startup_logs: &str) -> Decision {
    let env = [
        "PYTHONPATH=/opt/datadog-packages/datadog-apm-library-python/stable",
        &format!("DD_TRACE_STARTUP_LOGS={startup_logs}"),
        &format!("DD_INJECTION_ENABLED={enabled}"),
        FORWARDER,
    ];
    decide_for(m, "/usr/bin/python3.11", line, &env, LibcFlavor::Glibc)
}

/// The telemetry forwarder as the library sets it (a child inherits it).
const FORWARDER: &str =
    "DD_TELEMETRY_FORWARDER_PATH=/opt/datadog-packages/datadog-apm-inject/stable/inject/telemetry-forward";

#[test]
fn startup_logs_set_by_the_library_are_not_inherited_by_a_child_left_alone() {
    let mut m = Machine::with_libraries();
    m.files.insert(
        "/opt/datadog-packages/datadog-apm-library-python/stable/sitecustomize.py".into(),
        String::new(),
    );
    let parent = decide_for(
        &m,
        "/usr/bin/python3.11",
        "python3 -c pass",
        &[],
        LibcFlavor::Glibc,
    );
    assert_eq!(
        set(&parent, "DD_TRACE_STARTUP_LOGS").as_deref(),
        Some("false")
    );
    assert_eq!(
        set(&parent, "DD_INJECTION_ENABLED").as_deref(),
        Some("tracer,startup_logs")
    );
    let unset = |d: &Decision| -> Vec<&'static str> {
        d.edits
            .iter()
            .filter(|e| matches!(e, Edit::Unset { .. }))
            .map(|e| e.name())
            .collect()
    };
    // pip, denied: everything the parent got from the library goes.
    let pip = python_child(&m, "python3 -m pip list", "tracer,startup_logs", "false");
    assert!(matches!(pip.outcome, Outcome::Skipped(_)), "{pip:?}");
    assert_eq!(
        unset(&pip),
        [
            "PYTHONPATH",
            "DD_TRACE_STARTUP_LOGS",
            "DD_INJECTION_ENABLED"
        ]
    );
    // The user's own `false` (no marker) stays.
    let pip = python_child(&m, "python3 -m pip list", "tracer", "false");
    assert_eq!(unset(&pip), ["PYTHONPATH", "DD_INJECTION_ENABLED"]);
    // An instrumented child keeps the library's value, still marked as the library's.
    let child = python_child(&m, "python3 -c pass", "tracer,startup_logs", "false");
    assert_eq!(child.outcome, Outcome::Injected);
    assert!(child.edits.is_empty(), "{:?}", child.edits);
    // A value the user changed in between is the user's: the marker goes, the value stays.
    let child = python_child(&m, "python3 -c pass", "tracer,startup_logs", "true");
    assert_eq!(
        set(&child, "DD_INJECTION_ENABLED").as_deref(),
        Some("tracer")
    );
    assert_eq!(set(&child, "DD_TRACE_STARTUP_LOGS"), None);
}

#[test]
fn exceeded_time_budget_fails_open() {
    let mut m = Machine::with_libraries();
    m.out_of_time = true;
    let d = decide_for(&m, "/usr/bin/ruby", "ruby app.rb", &[], LibcFlavor::Glibc);
    assert_eq!(d.outcome, Outcome::Failed(Reason::TimeBudgetExceeded));
    assert!(d.edits.is_empty());
}

fn service_of(
    m: &Machine,
    exe: &str,
    line: &str,
    env: &[&str],
) -> (Option<String>, Option<String>) {
    let d = decide_for(m, exe, line, env, LibcFlavor::Glibc);
    assert_eq!(d.outcome, Outcome::Injected, "{line}");
    (set(&d, "DD_SERVICE"), set(&d, "DD_INJECTION_ENABLED"))
}

#[test]
fn service_names_are_derived_when_unset() {
    let mut m = Machine::with_libraries();
    for f in [
        "java/stable/dd-java-agent.jar",
        "python/stable/sitecustomize.py",
        "js/stable/bootstrap.cjs",
    ] {
        m.files.insert(
            format!("/opt/datadog-packages/datadog-apm-library-{f}"),
            String::new(),
        );
    }
    m.files.insert(
        "/srv/web/package.json".into(),
        r#"{"name":"@acme/Storefront","version":"1.0.0"}"#.into(),
    );
    let cases = [
        (
            "/usr/bin/java",
            "java -Xmx1g -jar /srv/payment-service-2.3.1.jar",
            "payment-service",
        ),
        (
            "/usr/bin/java",
            "java -cp app.jar com.acme.OrdersApplication",
            "ordersapplication",
        ),
        (
            "/usr/bin/python3.11",
            "python3 /srv/Inventory_Sync.py --once",
            "inventory_sync",
        ),
        (
            "/usr/bin/python3.11",
            "python3 -m billing.worker",
            "billing.worker",
        ),
        (
            "/usr/bin/python3.11",
            "python3 /usr/local/bin/gunicorn -w 4 shop.wsgi:application",
            "shop",
        ),
        (
            "/usr/bin/python3.11",
            "python3 -m uvicorn main:app --port 80",
            "main",
        ),
        (
            "/usr/bin/node",
            "node /srv/web/src/server.js",
            "acme/storefront",
        ),
        ("/usr/bin/node", "node /srv/other/worker.js", "worker"),
        (
            "/usr/bin/ruby",
            "ruby /usr/local/bin/bundle exec puma",
            "app",
        ),
        (
            "/usr/bin/php8.2",
            "php /var/www/blog/public/index.php",
            "blog",
        ),
        ("/usr/bin/dotnet", "dotnet /srv/Shop.Api.dll", "shop.api"),
    ];
    for (exe, line, expected) in cases {
        let (service, enabled) = service_of(&m, exe, line, &[]);
        assert_eq!(service.as_deref(), Some(expected), "{line}");
        assert_eq!(
            enabled.as_deref(),
            Some("tracer,service_name,startup_logs"),
            "{line}"
        );
    }
    let (service, enabled) = service_of(&m, "/usr/bin/python3.11", "python3 -c pass", &[]);
    assert_eq!(
        (service, enabled.as_deref()),
        (None, Some("tracer,startup_logs")),
        "nothing to derive from"
    );
}

#[test]
fn user_service_is_kept_and_derived_one_is_not_inherited() {
    let mut m = Machine::with_libraries();
    m.files.insert(
        "/opt/datadog-packages/datadog-apm-library-python/stable/sitecustomize.py".into(),
        String::new(),
    );
    let (service, enabled) = service_of(
        &m,
        "/usr/bin/python3.11",
        "python3 /srv/a.py",
        &["DD_SERVICE=checkout", "DD_TRACE_STARTUP_LOGS=false"],
    );
    assert_eq!((service, enabled.as_deref()), (None, Some("tracer")));
    let inherited = [
        "DD_SERVICE=parent",
        "DD_INJECTION_ENABLED=tracer,service_name,startup_logs,profiler",
        "DD_TRACE_STARTUP_LOGS=false",
    ];
    let (service, enabled) = service_of(
        &m,
        "/usr/bin/python3.11",
        "python3 /srv/child.py",
        &inherited,
    );
    assert_eq!(service.as_deref(), Some("child"));
    assert_eq!(enabled, None, "marker already right");
    let d = decide_for(
        &m,
        "/usr/bin/python3.11",
        "python3 -m pip list",
        &[
            "DD_SERVICE=parent",
            "DD_INJECTION_ENABLED=tracer,service_name",
            "PYTHONPATH=/opt/datadog-packages/datadog-apm-library-python/stable",
        ],
        LibcFlavor::Glibc,
    );
    let unset: Vec<&str> = d
        .edits
        .iter()
        .filter(|e| matches!(e, Edit::Unset { .. }))
        .map(|e| e.name())
        .collect();
    assert_eq!(unset, ["PYTHONPATH", "DD_SERVICE", "DD_INJECTION_ENABLED"]);
}

/// A Node.js package with dd-trace 6 (Node.js 22–26) and dd-trace 5 (18–26), as `make
/// libraries` lays it out, and a node of version `major.minor` in `/usr/local`.
fn node_machine(major: u32, minor: u32) -> Machine {
    let mut m = Machine::default();
    let lib = "/opt/datadog-packages/datadog-apm-library-js/stable";
    for f in ["bootstrap.cjs", "dd-trace-5/", "dd-trace-5/bootstrap.cjs"] {
        m.files.insert(format!("{lib}/{f}"), String::new());
    }
    m.files.insert(
        format!("{lib}/supported_runtimes.json"),
        r#"{"version":1,"tracers":[
            {"tracer":"dd-trace 6.21.0","dir":".","min":"22","max":"26"},
            {"tracer":"dd-trace 5.132.0","dir":"dd-trace-5","min":"18","max":"26"}]}"#
            .into(),
    );
    m.files.insert(
        "/usr/local/include/node/node_version.h".into(),
        format!("#define NODE_MAJOR_VERSION {major}\n#define NODE_MINOR_VERSION {minor}\n"),
    );
    m
}

#[test]
fn node_gets_the_tracer_its_version_supports() {
    let lib = "/opt/datadog-packages/datadog-apm-library-js/stable";
    for (major, tracer) in [
        (18, format!("{lib}/dd-trace-5")),
        (20, format!("{lib}/dd-trace-5")),
        (22, lib.to_string()),
        (24, lib.to_string()),
    ] {
        let m = node_machine(major, 1);
        let d = decide_for(
            &m,
            "/usr/local/bin/node",
            "node app.js",
            &[],
            LibcFlavor::Glibc,
        );
        assert_eq!(d.outcome, Outcome::Injected, "node {major}");
        assert_eq!(
            set(&d, "NODE_OPTIONS"),
            Some(format!("--require={tracer}/bootstrap.cjs")),
            "node {major}"
        );
    }
}

#[test]
fn node_the_package_does_not_support_is_skipped_unless_forced() {
    for major in [16, 27] {
        let m = node_machine(major, 0);
        let d = decide_for(
            &m,
            "/usr/local/bin/node",
            "node app.js",
            &[],
            LibcFlavor::Glibc,
        );
        assert_eq!(d.outcome.kind(), "skipped", "node {major}");
        assert_eq!(
            d.outcome.reason().unwrap().id(),
            "runtime_version_unsupported"
        );
        let forced = ["DD_INJECT_FORCE=true"];
        let d = decide_for(
            &m,
            "/usr/local/bin/node",
            "node app.js",
            &forced,
            LibcFlavor::Glibc,
        );
        assert_eq!(d.outcome, Outcome::Injected, "forced node {major}");
        assert!(set(&d, "NODE_OPTIONS").unwrap().contains("/dd-trace-5/"));
    }
}

#[test]
fn broken_or_escaping_supported_runtimes_block_injection() {
    let manifest = "/opt/datadog-packages/datadog-apm-library-js/stable/supported_runtimes.json";
    for text in [
        "{",
        r#"{"version":1,"tracers":[{"dir":"../../x","min":"18"}]}"#,
    ] {
        let mut m = node_machine(20, 0);
        m.files.insert(manifest.into(), text.into());
        let d = decide_for(
            &m,
            "/usr/local/bin/node",
            "node app.js",
            &[],
            LibcFlavor::Glibc,
        );
        assert_eq!(
            d.outcome,
            Outcome::Skipped(Reason::InvalidRequirements),
            "{text}"
        );
    }
}

/// dd-java-agent runs the telemetry forwarder at every start: Java is not given it (and loses
/// the one a parent inherited from the library), while Python is, without a look at the file
/// (part of the library's own package; whoever runs it checks that it is there).
#[test]
fn java_is_not_given_the_telemetry_forwarder() {
    const FORWARDER: &str =
        "/opt/datadog-packages/datadog-apm-inject/stable/inject/telemetry-forward";
    let mut m = Machine::with_libraries();
    for f in [
        "datadog-apm-library-java/stable/dd-java-agent.jar",
        "datadog-apm-library-python/stable/sitecustomize.py",
    ] {
        m.files
            .insert(format!("/opt/datadog-packages/{f}"), String::new());
    }
    let glibc = LibcFlavor::Glibc;
    let python = decide_for(&m, "/usr/bin/python3.11", "python3 app.py", &[], glibc);
    assert_eq!(
        set(&python, "DD_TELEMETRY_FORWARDER_PATH").as_deref(),
        Some(FORWARDER)
    );
    let java = "/usr/lib/jvm/java-17/bin/java";
    let d = decide_for(&m, java, "java -jar app.jar", &[], glibc);
    assert_eq!(d.outcome, Outcome::Injected);
    assert!(
        !d.edits
            .iter()
            .any(|e| e.name() == "DD_TELEMETRY_FORWARDER_PATH"),
        "{:?}",
        d.edits
    );
    let inherited = format!("DD_TELEMETRY_FORWARDER_PATH={FORWARDER}");
    let d = decide_for(&m, java, "java -jar app.jar", &[&inherited], glibc);
    assert!(d.edits.contains(&Edit::Unset {
        name: "DD_TELEMETRY_FORWARDER_PATH"
    }));
    // A forwarder of the user's own is the user's.
    let own = "DD_TELEMETRY_FORWARDER_PATH=/usr/local/bin/forward";
    let d = decide_for(&m, java, "java -jar app.jar", &[own], glibc);
    assert!(!d
        .edits
        .iter()
        .any(|e| e.name() == "DD_TELEMETRY_FORWARDER_PATH"));
}

/// A machine with the OpenTelemetry Python package.
fn with_opentelemetry_python() -> Machine {
    let mut m = Machine::default();
    m.files.insert(
        "/opt/datadog-packages/opentelemetry-apm-library-python/stable/sitecustomize.py".into(),
        String::new(),
    );
    m
}

fn python_with(config: &Config, env: &[&str]) -> Decision {
    let process = Process {
        exe: b"/usr/bin/python3",
        args: vec![b"python3", b"/srv/orders.py"],
        env: env.iter().map(|e| e.as_bytes()).collect(),
        cwd: Some(b"/srv"),
        ..Process::default()
    };
    decide(&process, &with_opentelemetry_python(), Some(ROOT), config)
}

const OTEL: Config = Config {
    sdk: Sdk::OpenTelemetry,
    env: b"prod",
    version: b"",
    ..DEFAULTS
};
const DEFAULTS: Config = Config {
    debug: false,
    output_paths: b"",
    disabled: 0,
    env: b"",
    version: b"",
    time_budget_ms: 1000,
    sdk: Sdk::Datadog,
    rules: contract::rules::RuleSet::EMPTY,
};

#[test]
fn opentelemetry_python_gets_the_otel_package_and_variables() {
    let d = python_with(&OTEL, &["OTEL_RESOURCE_ATTRIBUTES=team=shop"]);
    assert_eq!(
        (d.outcome.clone(), d.sdk),
        (Outcome::Injected, Sdk::OpenTelemetry)
    );
    assert_eq!(
        set(&d, "PYTHONPATH").as_deref(),
        Some("/opt/datadog-packages/opentelemetry-apm-library-python/stable")
    );
    assert_eq!(set(&d, "OTEL_SERVICE_NAME").as_deref(), Some("orders"));
    assert_eq!(
        set(&d, "OTEL_RESOURCE_ATTRIBUTES").as_deref(),
        Some("team=shop,deployment.environment.name=prod")
    );
    assert_eq!(
        set(&d, "DD_INJECTION_ENABLED").as_deref(),
        Some("tracer,service_name")
    );
    let names: Vec<&str> = d.edits.iter().map(Edit::name).collect();
    assert!(
        !names.iter().any(|n| *n == "DD_SERVICE"
            || *n == "DD_ENV"
            || *n == "DD_TRACE_STARTUP_LOGS"
            || n.starts_with("OTEL_EXPORTER_")),
        "{names:?}"
    );
}

#[test]
fn the_variable_overrides_the_host_configuration() {
    let d = python_with(&DEFAULTS, &["DD_APM_INSTRUMENTATION_SDK=opentelemetry"]);
    assert_eq!(d.sdk, Sdk::OpenTelemetry);
    assert_eq!(set(&d, "OTEL_SERVICE_NAME").as_deref(), Some("orders"));
    let d = python_with(&OTEL, &["DD_APM_INSTRUMENTATION_SDK=datadog"]);
    assert_eq!(d.sdk, Sdk::Datadog);
    assert_eq!(d.outcome, Outcome::Skipped(Reason::LibraryMissing));
    let d = python_with(&OTEL, &["DD_APM_INSTRUMENTATION_SDK=bogus"]);
    assert_eq!(d.sdk, Sdk::OpenTelemetry, "an unknown value is ignored");
}

#[test]
fn the_users_otel_service_name_and_service_attribute_win() {
    let d = python_with(&OTEL, &["OTEL_SERVICE_NAME=mine"]);
    assert_eq!(set(&d, "OTEL_SERVICE_NAME"), None);
    assert_eq!(set(&d, "DD_INJECTION_ENABLED").as_deref(), Some("tracer"));
    let d = python_with(&OTEL, &["OTEL_RESOURCE_ATTRIBUTES=service.name=mine"]);
    assert_eq!(set(&d, "OTEL_SERVICE_NAME"), None);
    // A name derived for a parent is replaced by the child's own.
    let d = python_with(
        &OTEL,
        &[
            "OTEL_SERVICE_NAME=parent",
            "DD_INJECTION_ENABLED=tracer,service_name",
        ],
    );
    assert_eq!(set(&d, "OTEL_SERVICE_NAME").as_deref(), Some("orders"));
}

#[test]
fn a_child_that_is_not_instrumented_loses_the_parents_otel_additions() {
    let process = Process {
        exe: b"/usr/bin/python3",
        args: vec![b"python3", b"-m", b"pip", b"list"],
        env: vec![
            b"PYTHONPATH=/opt/datadog-packages/opentelemetry-apm-library-python/stable:/mine",
            b"OTEL_SERVICE_NAME=orders",
            b"DD_INJECTION_ENABLED=tracer,service_name",
            b"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318",
        ],
        ..Process::default()
    };
    let d = decide(&process, &with_opentelemetry_python(), Some(ROOT), &OTEL);
    assert!(matches!(d.outcome, Outcome::Skipped(_)), "{:?}", d.outcome);
    assert_eq!(set(&d, "PYTHONPATH").as_deref(), Some("/mine"));
    let unset: Vec<&str> = d
        .edits
        .iter()
        .filter(|e| matches!(e, Edit::Unset { .. }))
        .map(Edit::name)
        .collect();
    assert_eq!(unset, ["OTEL_SERVICE_NAME", "DD_INJECTION_ENABLED"]);
}

#[test]
fn a_process_that_is_not_instrumented_gets_nothing_in_otel_mode() {
    let process = Process {
        exe: b"/usr/bin/python3",
        args: vec![b"python3", b"-m", b"pip", b"list"],
        ..Process::default()
    };
    let d = decide(&process, &with_opentelemetry_python(), Some(ROOT), &OTEL);
    assert!(matches!(d.outcome, Outcome::Skipped(_)) && d.edits.is_empty());
}

/// A requirement (the OpenTelemetry injector's `include_*`) skips what it does not match, never
/// allows by itself, and an explicit allow rule before it wins.
#[test]
fn requirements_skip_what_they_do_not_match() {
    use contract::rules::{encode, Action, Clause, Rule};
    let require = Rule {
        id: "otelinject.conf:3".into(),
        description: "include_with_arguments not matched".into(),
        runtime: None,
        action: Action::Require,
        alternatives: vec![vec![Clause::Arg {
            position: None,
            patterns: vec!["*shop*".into()],
        }]],
    };
    let allow = Rule {
        id: "billing".into(),
        action: Action::Allow,
        alternatives: vec![vec![Clause::Arg {
            position: None,
            patterns: vec!["*billing*".into()],
        }]],
        description: String::new(),
        runtime: None,
    };
    let rules = encode(&[allow, require]).unwrap();
    let config = Config {
        rules: contract::rules::RuleSet::parse(&rules).unwrap(),
        ..OTEL
    };
    let decide_for_script = |script: &[u8]| {
        let process = Process {
            exe: b"/usr/bin/python3",
            args: vec![b"python3", script],
            ..Process::default()
        };
        decide(&process, &with_opentelemetry_python(), Some(ROOT), &config)
    };
    match decide_for_script(b"/srv/orders.py").outcome {
        Outcome::Skipped(Reason::Rule { id, source, .. }) => assert_eq!(
            (id.as_str(), source.as_str()),
            ("otelinject.conf:3", "/etc/opentelemetry/otelinject.conf")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decide_for_script(b"/srv/shop.py").outcome,
        Outcome::Injected
    );
    assert_eq!(
        decide_for_script(b"/srv/billing.py").allowed_by.as_deref(),
        Some("billing")
    );
}
