//! How a runtime was asked to run: its own options and the program it runs.

use crate::decision::{Edit, Reason};
use crate::process::Process;
use crate::runtime::Runtime;
use alloc::vec::Vec;

/// A command line split the way the runtime reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation<'a> {
    /// The runtime's own options (and their values), before the program, e.g. `["-Xmx1g"]`.
    pub options: Vec<&'a [u8]>,
    /// The program: script path, jar path, Java main class, or the inline-code option itself
    /// (`-c`, `-e`); `None` when the runtime runs nothing.
    pub program: Option<&'a [u8]>,
    /// The module run with `python -m` or `java -m`.
    pub module: Option<&'a [u8]>,
}

/// What the decision needs from each instrumented runtime; one implementation per runtime
/// module (`java`, `node`, `python`).
pub trait Language {
    /// The runtime this is.
    fn runtime(&self) -> Runtime;
    /// Splits the command line into options and program.
    fn parse<'a>(&self, args: &[&'a [u8]]) -> Invocation<'a>;
    /// A reason specific to this runtime not to instrument, checked before the deny list.
    fn builtin_skip(&self, process: &Process, invocation: &Invocation) -> Option<Reason>;
    /// Whether another tracer or agent is already configured (the library's own inherited
    /// additions do not count).
    fn instrumented_by_other(&self, process: &Process, invocation: &Invocation) -> bool;
    /// Edits that take out the library's additions inherited from an instrumented parent,
    /// keeping the user's value.
    fn remove_inherited(&self, process: &Process) -> Vec<Edit>;
    /// File the library package must contain, relative to its directory.
    fn entry_point(&self) -> &'static str;
    /// Edits that load the library from directory `lib`, or why that cannot be done.
    fn inject(&self, process: &Process, lib: &[u8]) -> Result<Vec<Edit>, Reason>;
}

/// Whether `path` can be put in an option string unquoted.
pub fn plain_path(path: &[u8]) -> bool {
    !path
        .iter()
        .any(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b'\\'))
}
