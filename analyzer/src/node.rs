//! Node.js: `NODE_OPTIONS`.
//!
//! The tracer is loaded with ` --require=<lib>/node_modules/dd-trace/init` appended to
//! `NODE_OPTIONS`. Node's own options come before the script; the script's arguments after it
//! belong to the application.

use crate::decision::{Edit, Reason};
use crate::host::FileKind;
use crate::invocation::{plain_path, split, Invocation, Language};
use crate::layout::{in_library, join};
use crate::options::{remove_words, set_or_unset, with_word, words};
use crate::process::Process;
use crate::runtime::Runtime;
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
    )
}

/// Whether a `NODE_OPTIONS` word is the library's own `--require` (any root, any version).
fn is_ours(word: &[u8]) -> bool {
    word.starts_with(b"--require=") && in_library(word, Runtime::Node)
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

    fn parse<'a>(&self, args: &[&'a [u8]]) -> Invocation<'a> {
        split(args, takes_value, inline)
    }

    fn instrumented_by_other(&self, process: &Process, invocation: &Invocation) -> bool {
        let foreign = |w: &[u8]| !is_ours(w) && w.windows(8).any(|s| s == b"dd-trace");
        process
            .var(NODE_OPTIONS)
            .is_some_and(|v| words(v).any(foreign))
            || invocation.options.iter().any(|w| foreign(w))
    }

    fn remove_inherited(&self, process: &Process) -> Vec<Edit> {
        let rest = process
            .var(NODE_OPTIONS)
            .and_then(|v| remove_words(v, is_ours));
        rest.map(|rest| set_or_unset(NODE_OPTIONS, rest))
            .into_iter()
            .collect()
    }

    fn entry_point(&self, _: &Process) -> (&'static str, FileKind) {
        ("node_modules/dd-trace/init.js", FileKind::File)
    }

    fn inject(&self, process: &Process, lib: &[u8]) -> Result<Vec<Edit>, Reason> {
        if !plain_path(lib) {
            return Err(Reason::UnsupportedLibraryPath);
        }
        let require = [&b"--require="[..], &join(lib, "node_modules/dd-trace/init")].concat();
        let value = with_word(process.var(NODE_OPTIONS), &require, is_ours);
        Ok(value
            .map(|value| Edit::Set {
                name: NODE_OPTIONS,
                value,
            })
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Invocation<'_> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        Node.parse(&args)
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
}
