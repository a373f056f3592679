//! Node.js: `NODE_OPTIONS`.
//!
//! The tracer is loaded by the package's bootstrap, ` --require=<lib>/bootstrap.cjs` appended to
//! `NODE_OPTIONS` (`libraries/js/bootstrap.cjs`: it loads dd-trace's `init` only in a process
//! the launcher decided on, and reports the tracer's outcome). Node's own options come before
//! the script; the script's arguments after it belong to the application.
//!
//! ES module applications (`.mjs`, or `"type": "module"` in their `package.json`) also get
//! ` --import=<lib>/bootstrap.mjs` (which registers dd-trace's ES module hook) when node
//! supports it; CommonJS applications keep `--require` only.
//!
//! Node's permission model (`--permission`, `--experimental-permission`) and policy manifests
//! (`--experimental-policy`, `--policy-integrity`) refuse files the application did not allow,
//! the tracer's among them, and node exits: such processes are skipped
//! (`node_permission_model`), whether the option is on the command line or in `NODE_OPTIONS`.

use crate::decision::Reason;
use crate::host::{FileKind, Host};
use crate::invocation::{usual_word, Invocation, Word};
use crate::json;
use crate::language::Language;
use crate::layout::{in_library, join};
use crate::process::{parent, Process};
use crate::runtime::Runtime;
use crate::service;
use crate::variable::{words, Shape, Variable};
use alloc::vec;
use alloc::vec::Vec;

const NODE_OPTIONS: &str = "NODE_OPTIONS";

/// Node options whose value is the next argument (when not given as `--opt=value`).
fn takes_value(option: &[u8]) -> bool {
    matches!(
        option,
        b"-r"
            | b"--require"
            | b"--import"
            | b"--loader"
            | b"--experimental-loader"
            | b"-C"
            | b"--conditions"
            | b"--input-type"
            | b"--title"
            | b"--env-file"
            | b"--inspect-port"
            | b"--debug-port"
            | b"--redirect-warnings"
            | b"--icu-data-dir"
            | b"--openssl-config"
            | b"--tls-cipher-list"
            | b"--diagnostic-dir"
            | b"--report-dir"
            | b"--report-directory"
            | b"--report-filename"
            | b"--report-signal"
            | b"--heapsnapshot-signal"
            | b"--secure-heap"
            | b"--secure-heap-min"
            | b"--cpu-prof-dir"
            | b"--cpu-prof-name"
            | b"--cpu-prof-interval"
            | b"--heap-prof-dir"
            | b"--heap-prof-name"
            | b"--heap-prof-interval"
            | b"--unhandled-rejections"
            | b"--dns-result-order"
            | b"--disable-warning"
            | b"--watch-path"
            | b"--test-reporter"
            | b"--test-reporter-destination"
            | b"--test-name-pattern"
            | b"--stack-trace-limit"
            | b"--max-http-header-size"
            | b"--experimental-policy"
            | b"--policy-integrity"
            | b"--allow-fs-read"
            | b"--allow-fs-write"
    )
}

/// Options under which node refuses files the application did not allow.
const RESTRICTING: [&[u8]; 4] = [
    b"--permission",
    b"--experimental-permission",
    b"--experimental-policy",
    b"--policy-integrity",
];

/// Whether `word` turns on the permission model or a policy, e.g. `--experimental-policy=p.json`.
fn restricts(word: &[u8]) -> bool {
    RESTRICTING.iter().any(|option| {
        word.strip_prefix(*option)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"="))
    })
}

/// Whether an argument is inline code, which then is the program.
fn inline(arg: &[u8]) -> bool {
    matches!(arg, b"-e" | b"--eval" | b"-p" | b"--print")
}

/// The Node.js runtime.
pub struct Node;

impl Language for Node {
    fn runtime(&self) -> Runtime {
        Runtime::Node
    }

    fn word<'a>(&self, arg: &'a [u8]) -> Word<'a> {
        usual_word(arg, takes_value, inline)
    }

    fn builtin_skip(&self, process: &Process, invocation: &Invocation) -> Option<Reason> {
        let restricted = invocation.options.iter().any(|w| restricts(w))
            || process
                .var(NODE_OPTIONS)
                .is_some_and(|v| words(v).any(restricts));
        restricted.then_some(Reason::NodePermissionModel)
    }

    /// dd-trace or an OpenTelemetry package (`@opentelemetry/…`) required or imported by the
    /// command line or `NODE_OPTIONS`, other than the library's own bootstrap.
    fn instrumented_by_other(&self, process: &Process, invocation: &Invocation) -> bool {
        const TRACERS: [&[u8]; 2] = [b"dd-trace", b"@opentelemetry/"];
        let foreign = |w: &[u8]| {
            !self.is_ours(w) && TRACERS.iter().any(|t| w.windows(t.len()).any(|s| s == *t))
        };
        process
            .var(NODE_OPTIONS)
            .is_some_and(|v| words(v).any(foreign))
            || invocation.options.iter().any(|w| foreign(w))
    }

    const VARIABLE: Variable = Variable {
        name: NODE_OPTIONS,
        shape: Shape::Words,
    };

    /// A `--require` or `--import` of any version of the Node.js library package, under any
    /// root.
    fn is_ours(&self, word: &[u8]) -> bool {
        (word.starts_with(b"--require=") || word.starts_with(b"--import="))
            && in_library(word, Runtime::Node)
    }

    fn entry_point(&self, _: &Process) -> (&'static str, FileKind) {
        (BOOTSTRAP, FileKind::File)
    }

    /// From `include/node/node_version.h` beside node's `bin/` (Node.js binary distributions,
    /// nvm, Docker's images, Debian with `libnode-dev`).
    fn version<H: Host + ?Sized>(
        &self,
        process: &Process,
        _: &Invocation,
        host: &H,
    ) -> Option<(u32, u32)> {
        node_version(process, host)
    }

    /// The `name` of the nearest `package.json` above the entry script, else the script's
    /// name.
    fn service<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        host: &H,
    ) -> Option<Vec<u8>> {
        let script = entry_script(process, invocation)?;
        let name =
            package_json(&script, host).and_then(|p| Some(p.get("name")?.as_str()?.to_vec()));
        name.or_else(|| Some(service::stem(&script).to_vec()))
    }

    /// `--require` of the package's bootstrap; ES module applications (`.mjs`, or
    /// `"type": "module"` in their `package.json`) also get `--import` of its ES module
    /// bootstrap when this node supports `--import` (20.6+, 18.19+) and the package has it.
    fn additions<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        lib: &[u8],
        host: &H,
    ) -> Vec<Vec<u8>> {
        let require = [&b"--require="[..], &join(lib, BOOTSTRAP)].concat();
        let esm_bootstrap = join(lib, ESM_BOOTSTRAP);
        let import = [&b"--import="[..], &esm_bootstrap].concat();
        let esm = entry_script(process, invocation).is_some_and(|s| is_module(&s, host))
            && supports_import(process, host)
            && host.is_file(&esm_bootstrap);
        if esm {
            vec![require, import]
        } else {
            vec![require]
        }
    }
}

/// The package's bootstrap (CommonJS), in each tracer directory.
const BOOTSTRAP: &str = "bootstrap.cjs";
/// The package's ES module bootstrap, in each tracer directory.
const ESM_BOOTSTRAP: &str = "bootstrap.mjs";

/// The absolute path of the script node runs (none for `-e`, `-p` or stdin).
fn entry_script(process: &Process, invocation: &Invocation) -> Option<Vec<u8>> {
    let program = invocation.program.filter(|p| !inline(p) && *p != b"-")?;
    process.absolute(program)
}

/// The nearest `package.json` above `script`, parsed.
fn package_json<H: Host + ?Sized>(script: &[u8], host: &H) -> Option<json::Value> {
    let mut dir = parent(script)?;
    for _ in 0..64 {
        if let Ok(text) = host.read_file(&join(dir, "package.json"), 256 << 10) {
            return json::parse(&text);
        }
        if dir.is_empty() || host.out_of_time() {
            return None;
        }
        dir = parent(dir)?;
    }
    None
}

/// Whether node loads `script` as an ES module.
fn is_module<H: Host + ?Sized>(script: &[u8], host: &H) -> bool {
    match script.rsplit(|&c| c == b'.').next() {
        Some(b"mjs") => true,
        Some(b"cjs") => false,
        _ => package_json(script, host)
            .is_some_and(|p| p.get("type").and_then(json::Value::as_str) == Some(b"module")),
    }
}

/// Whether this node accepts `--import` in `NODE_OPTIONS` (unknown: no).
fn supports_import<H: Host + ?Sized>(process: &Process, host: &H) -> bool {
    match node_version(process, host) {
        Some((major, minor)) => {
            major > 20 || (major == 20 && minor >= 6) || (major == 18 && minor >= 19)
        }
        None => false,
    }
}

/// Node's version from `include/node/node_version.h` beside its `bin/`, e.g. `(20, 20)`.
fn node_version<H: Host + ?Sized>(process: &Process, host: &H) -> Option<(u32, u32)> {
    let prefix = parent(parent(process.exe)?)?;
    let header = host
        .read_file(&join(prefix, "include/node/node_version.h"), 64 << 10)
        .ok()?;
    let number = |name: &[u8]| -> Option<u32> {
        let line = header
            .split(|&c| c == b'\n')
            .find_map(|l| l.strip_prefix(name))?;
        core::str::from_utf8(line).ok()?.trim().parse().ok()
    };
    Some((
        number(b"#define NODE_MAJOR_VERSION ")?,
        number(b"#define NODE_MINOR_VERSION ")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Invocation<'_> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        Node.parse(&args)
    }

    #[test]
    fn permission_model_and_policies_are_recognised() {
        assert!(restricts(b"--permission"));
        assert!(restricts(b"--experimental-permission"));
        assert!(restricts(b"--experimental-policy=policy.json"));
        assert!(!restricts(b"--permissions-audit"));
        assert!(!restricts(b"--allow-fs-read=/app/*"));
        let inv = parse("node --experimental-policy policy.json app.js");
        assert_eq!(inv.program, Some(&b"app.js"[..]));
    }

    #[test]
    fn another_sdk_is_recognised() {
        let inv = parse("node -r @opentelemetry/auto-instrumentations-node/register app.js");
        assert!(Node.instrumented_by_other(&Process::default(), &inv));
        let ours = Process {
            env: vec![b"NODE_OPTIONS=--require=/p/opentelemetry-apm-library-js/1/bootstrap.cjs"],
            ..Process::default()
        };
        assert!(!Node.instrumented_by_other(&ours, &parse("node app.js")));
    }

    #[test]
    fn script_follows_node_options() {
        let inv = parse("node --max-old-space-size=4096 -r ./x.js /usr/bin/npm install");
        assert_eq!(inv.program, Some(&b"/usr/bin/npm"[..]));
        assert_eq!(inv.options.len(), 3);
        assert_eq!(parse("node -e 0").program, Some(&b"-e"[..]));
        assert_eq!(parse("node").program, None);
        assert_eq!(
            parse("node /usr/bin/npm install x").subcommand,
            Some(&b"install"[..])
        );
    }

    #[test]
    fn import_support_comes_from_node_version_h() {
        use crate::host::memory::Files;
        let process = Process {
            exe: b"/node/bin/node",
            ..Process::default()
        };
        for asset in ["node_version-20.h", "node_version-22.h"] {
            let files = Files::default().asset(
                "/node/include/node/node_version.h",
                &["node/", asset].concat(),
            );
            assert!(supports_import(&process, &files), "{asset}");
        }
        assert!(!supports_import(&process, &Files::default()), "unknown: no");
    }
}
