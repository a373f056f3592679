//! Distribution tooling written in Python, run by package maintainer scripts on every install
//! (`dpkg -i python3-six` runs `py3compile -p python3-six`), is not instrumented: a tracer
//! there only costs seconds. Real Debian programs, under the launcher with debug logging.
#![forbid(unsafe_code)]

use apm_inject_tests::{run, stderr, Packages};

#[test]
fn debian_byte_compilation_helpers_are_not_instrumented() {
    let p = Packages::with_libraries();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("module.py"), "VALUE = 1\n").unwrap();
    for tool in ["/usr/bin/py3compile", "/usr/bin/py3clean"] {
        let out = run(p
            .command(tool)
            .arg(dir.path())
            .env_remove("PYTHONDONTWRITEBYTECODE")
            .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
        let log = stderr(&out);
        assert!(out.status.success(), "{tool}: {log}");
        assert!(
            log.contains("skipped: python_packaging_helper"),
            "{tool}: {log}"
        );
        assert!(
            !log.contains("fixture sitecustomize loaded"),
            "{tool}: {log}"
        );
    }
}
