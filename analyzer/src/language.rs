//! What the decision needs from each runtime: the trait every runtime module (`java.rs`,
//! `node.rs`, `python.rs`, `ruby.rs`, `php.rs`, `dotnet.rs`) implements.
//!
//! A runtime says how its command line reads ([`Language::word`]), which variable loads its
//! tracer and in what shape ([`Language::VARIABLE`]), which items of that variable are the
//! library's own ([`Language::is_ours`]) and what to add ([`Language::additions`]); adding,
//! keeping idempotence and taking inherited additions back out are shared (`variable.rs`).

use crate::decision::{Edit, Reason};
use crate::host::{FileKind, Host};
use crate::invocation::{split, Invocation, Word};
use crate::layout::in_library;
use crate::process::Process;
use crate::runtime::Runtime;
use crate::variable::Variable;
use alloc::vec::Vec;

/// One runtime's rules.
pub trait Language {
    /// The runtime this is.
    fn runtime(&self) -> Runtime;
    /// What `arg`, an argument before the program, is on this runtime's command line.
    fn word<'a>(&self, arg: &'a [u8]) -> Word<'a>;
    /// Splits the command line into options and program.
    fn parse<'a>(&self, args: &[&'a [u8]]) -> Invocation<'a> {
        split(args, |arg| self.word(arg))
    }
    /// A reason specific to this runtime not to instrument, checked before any rule.
    fn builtin_skip(&self, _process: &Process, _invocation: &Invocation) -> Option<Reason> {
        None
    }
    /// Whether another tracer or agent is already configured (the library's own inherited
    /// additions do not count).
    fn instrumented_by_other(&self, process: &Process, invocation: &Invocation) -> bool;
    /// The variable the tracer is loaded through, e.g. `JAVA_TOOL_OPTIONS`, a list of words.
    const VARIABLE: Variable;
    /// Whether an item (word or entry) of the variable is the library's own: how the library
    /// recognises what it added in a parent process. By default, any path inside any version
    /// of this runtime's library package under any root; word-shaped variables also check the
    /// option, e.g. `-javaagent:`.
    fn is_ours(&self, item: &[u8]) -> bool {
        in_library(item, self.runtime())
    }
    /// What the library package must contain (relative to its directory) for this process.
    fn entry_point(&self, process: &Process) -> (&'static str, FileKind);
    /// Whether the entry point at `path` can be used: readable by this process (the runtime
    /// would abort on an unreadable `-javaagent` or `--require`), and sound where a broken one
    /// would abort it.
    fn usable<H: Host + ?Sized>(&self, path: &[u8], host: &H) -> bool {
        host.peek(path, 0, 0).is_ok()
    }
    /// The runtime's version, if it can be found cheaply (no child process). Which versions
    /// are supported is the library package's word (`supported_runtimes.json`), not the code's.
    fn version<H: Host + ?Sized>(
        &self,
        _process: &Process,
        _invocation: &Invocation,
        _host: &H,
    ) -> Option<(u32, u32)> {
        None
    }
    /// A service name for the process, before normalisation (see `service`), if one can be
    /// derived from how it was started.
    fn service<H: Host + ?Sized>(
        &self,
        _process: &Process,
        _invocation: &Invocation,
        _host: &H,
    ) -> Option<Vec<u8>> {
        None
    }
    /// The items to add to the variable to load the library from directory `lib`, e.g.
    /// `-javaagent:<lib>/dd-java-agent.jar`; none when the process already loads it in a way
    /// the variable's shape cannot see.
    fn additions<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        lib: &[u8],
        host: &H,
    ) -> Vec<Vec<u8>>;
    /// Whether the variable's new value is acceptable to the runtime (e.g. the JVM's length
    /// limit), or why not.
    fn accepts(&self, _value: &[u8]) -> Result<(), Reason> {
        Ok(())
    }
    /// Edits that take out the library's additions inherited from an instrumented parent,
    /// keeping the user's value.
    fn remove_inherited(&self, process: &Process) -> Vec<Edit> {
        Self::VARIABLE
            .remove(process, |item| self.is_ours(item))
            .into_iter()
            .collect()
    }
    /// Edits that load the library from directory `lib`, or why that cannot be done: the
    /// additions put into the variable (nothing if they are there already).
    fn inject<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        lib: &[u8],
        host: &H,
    ) -> Result<Vec<Edit>, Reason> {
        let variable = Self::VARIABLE;
        if !variable.can_hold(lib) {
            return Err(Reason::UnsupportedLibraryPath);
        }
        let additions = self.additions(process, invocation, lib, host);
        let ours: Vec<&[u8]> = additions.iter().map(Vec::as_slice).collect();
        let edit = variable.add(process, &ours, |item| self.is_ours(item));
        if let Some(Edit::Set { value, .. }) = &edit {
            self.accepts(value)?;
        }
        Ok(edit.into_iter().collect())
    }
}
