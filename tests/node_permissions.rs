//! Node.js under its permission model (`--permission` in 22, `--experimental-permission` in
//! 20) or a policy manifest (`--experimental-policy`, 20) would refuse the tracer's files and
//! exit 1: the launcher stands down (`node_permission_model`), and the application runs exactly
//! as without the launcher. Real Node.js 20 and 22, the real dd-trace package.
#![forbid(unsafe_code)]

use apm_inject_tests::tracers::npm_node;
use apm_inject_tests::{cli, run, stderr, Packages};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The machine's Node.js 20.
const NODE20: &str = "/usr/bin/node";

/// An application directory with `app.js` (prints `hello`) and `policy.json` allowing exactly
/// it.
fn app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = b"console.log('hello')\n";
    std::fs::write(dir.path().join("app.js"), source).unwrap();
    let out = run(Command::new("/usr/bin/python3").args([
        "-c",
        "import base64, hashlib, sys; print(base64.b64encode(hashlib.sha384(sys.argv[1].encode()).digest()).decode())",
        std::str::from_utf8(source).unwrap(),
    ]));
    let integrity = String::from_utf8(out.stdout).unwrap();
    std::fs::write(
        dir.path().join("policy.json"),
        format!(
            r#"{{"resources": {{"./app.js": {{"integrity": "sha384-{}"}}}}}}"#,
            integrity.trim()
        ),
    )
    .unwrap();
    dir
}

/// `node args…` in `dir`, with the launcher (`Some`) or without it, and `NODE_OPTIONS`.
fn node(
    packages: Option<&Packages>,
    node: &Path,
    dir: &Path,
    args: &[&str],
    node_options: &str,
) -> Output {
    let mut cmd = match packages {
        Some(p) => p.command(node),
        None => {
            let mut cmd = Command::new(node);
            cmd.env_remove("LD_PRELOAD");
            cmd
        }
    };
    run(cmd
        .args(args)
        .current_dir(dir)
        .env("NODE_OPTIONS", node_options)
        .env_remove("DD_APM_INSTRUMENTATION_DEBUG"))
}

/// Standard error with node's `(node:PID)` warning prefixes made comparable.
fn warnings(output: &Output) -> String {
    let text = stderr(output);
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("(node:") {
        out.push_str(&rest[..at + 6]);
        rest = rest[at + 6..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push_str("PID");
    }
    out.push_str(rest);
    out
}

/// The command behaves exactly as without the launcher, and prints `hello`.
fn runs_as_without_the_launcher(node_path: &Path, args: &[&str], node_options: &str) {
    let p = Packages::with_tracers();
    let dir = app();
    let allow = format!("--allow-fs-read={}/*", dir.path().display());
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "ALLOW" { allow.as_str() } else { a })
        .collect();
    let without = node(None, node_path, dir.path(), &args, node_options);
    assert_eq!(without.stdout, b"hello\n", "{}", stderr(&without));
    let with = node(Some(&p), node_path, dir.path(), &args, node_options);
    assert_eq!(
        (with.status.code(), warnings(&with), &with.stdout),
        (without.status.code(), warnings(&without), &without.stdout),
        "{node_path:?} {args:?} NODE_OPTIONS={node_options:?}"
    );
}

fn node20() -> PathBuf {
    PathBuf::from(NODE20)
}

#[test]
fn node_22_permission_model_app_runs_as_without_the_launcher() {
    runs_as_without_the_launcher(&npm_node(22), &["--permission", "ALLOW", "app.js"], "");
}

#[test]
fn node_22_permission_model_in_node_options_runs_as_without_the_launcher() {
    runs_as_without_the_launcher(&npm_node(22), &["ALLOW", "app.js"], "--permission");
}

#[test]
fn node_20_experimental_permission_app_runs_as_without_the_launcher() {
    runs_as_without_the_launcher(
        &node20(),
        &["--experimental-permission", "ALLOW", "app.js"],
        "",
    );
}

#[test]
fn node_20_policy_app_runs_as_without_the_launcher() {
    runs_as_without_the_launcher(
        &node20(),
        &["--experimental-policy=policy.json", "app.js"],
        "",
    );
}

#[test]
fn explain_names_the_permission_model() {
    let p = Packages::with_tracers();
    let out = run(Command::new(cli())
        .arg("explain")
        .arg("--packages-root")
        .arg(&p.root)
        .args([
            "--json",
            "--",
            NODE20,
            "--experimental-permission",
            "app.js",
        ])
        .env_remove("LD_PRELOAD"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "skipped", "{v}");
    assert_eq!(v["reason"]["id"], "node_permission_model", "{v}");
}
