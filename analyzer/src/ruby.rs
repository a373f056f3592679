//! Ruby: `RUBYOPT`.
//!
//! The library package's bootstrap is required with `-r<lib>/host_inject` appended to
//! `RUBYOPT` (once: `-rPATH` and `-r PATH` both count). The bootstrap sets the tracer up
//! without writing to the application's directory. A library path with whitespace cannot be
//! written into `RUBYOPT`: such processes are skipped.

use crate::host::{FileKind, Host};
use crate::invocation::{usual_word, Invocation, Word};
use crate::language::Language;
use crate::layout::{in_library, join};
use crate::process::Process;
use crate::runtime::Runtime;
use crate::service::app_directory_name;
use crate::variable::{words, Shape, Variable};
use alloc::vec;
use alloc::vec::Vec;

const RUBYOPT: &str = "RUBYOPT";

/// Ruby options whose value is the next argument.
fn takes_value(option: &[u8]) -> bool {
    matches!(
        option,
        b"-r"
            | b"-I"
            | b"-C"
            | b"-E"
            | b"-F"
            | b"--encoding"
            | b"--external-encoding"
            | b"--internal-encoding"
    )
}

/// Whether an argument is inline code.
fn inline(arg: &[u8]) -> bool {
    arg == b"-e"
}

/// The libraries `RUBYOPT` requires, in both `-rLIB` and `-r LIB` forms.
fn required(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut previous_r = false;
    words(value).filter_map(move |w| {
        let lib = if previous_r {
            Some(w)
        } else {
            w.strip_prefix(b"-r").filter(|l| !l.is_empty())
        };
        previous_r = w == b"-r";
        lib
    })
}

/// The Ruby runtime.
pub struct Ruby;

impl Language for Ruby {
    fn runtime(&self) -> Runtime {
        Runtime::Ruby
    }

    fn word<'a>(&self, arg: &'a [u8]) -> Word<'a> {
        usual_word(arg, takes_value, inline)
    }

    fn instrumented_by_other(&self, process: &Process, _: &Invocation) -> bool {
        let foreign = |lib: &[u8]| {
            !in_library(lib, Runtime::Ruby)
                && [&b"datadog/"[..], b"ddtrace/"]
                    .iter()
                    .any(|p| lib.starts_with(p))
        };
        process
            .var(RUBYOPT)
            .is_some_and(|v| required(v).any(foreign))
    }

    const VARIABLE: Variable = Variable {
        name: RUBYOPT,
        shape: Shape::Words,
    };

    /// A `-r` of any version of the Ruby library package, under any root.
    fn is_ours(&self, word: &[u8]) -> bool {
        word.starts_with(b"-r") && in_library(word, Runtime::Ruby)
    }

    fn entry_point(&self, _: &Process) -> (&'static str, FileKind) {
        ("host_inject.rb", FileKind::File)
    }

    /// The application directory (`bundle exec rails server` in `/srv/shop` → `shop`).
    fn service<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        _: &H,
    ) -> Option<Vec<u8>> {
        app_directory_name(process, invocation.program)
    }

    /// `-r<lib>/host_inject`, unless `RUBYOPT` already requires it (also as `-r PATH`).
    fn additions<H: Host + ?Sized>(
        &self,
        process: &Process,
        _: &Invocation,
        lib: &[u8],
        _: &H,
    ) -> Vec<Vec<u8>> {
        let bootstrap = join(lib, "host_inject");
        if process
            .var(RUBYOPT)
            .is_some_and(|v| required(v).any(|l| l == bootstrap))
        {
            return Vec::new();
        }
        vec![[&b"-r"[..], &bootstrap].concat()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_require_forms_are_recognised() {
        let libs: Vec<&[u8]> = required(b"-W0 -rfoo -r /x/host_inject -r").collect();
        assert_eq!(libs, [&b"foo"[..], b"/x/host_inject"]);
    }
}
