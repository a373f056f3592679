//! The decision, in order: runtime, opt-out, runtime-specific checks, deny list, other
//! tracers, library package, then the runtime's variable edits.

use crate::decision::{Decision, Edit, Outcome, Reason};
use crate::host::Host;
use crate::invocation::Language;
use crate::java::Java;
use crate::layout::{join, library_dir};
use crate::node::Node;
use crate::process::{file_name, is_false, Process};
use crate::python::Python;
use crate::runtime::{self, Runtime};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// Set in every instrumented process; the tracers report it.
const INJECTION_ENABLED: &str = "DD_INJECTION_ENABLED";
/// Per-process opt-out: `false` disables instrumentation.
const OPT_OUT: &str = "DD_INSTRUMENT_SERVICE_WITH_APM";

/// Decides for `process`, with library packages under `packages_root` (`None` if the caller
/// could not tell where they are).
pub fn decide<H: Host + ?Sized>(
    process: &Process,
    host: &H,
    packages_root: Option<&[u8]>,
) -> Decision {
    let Some(runtime) = runtime::detect(file_name(process.exe)) else {
        return Decision::skip(None, Reason::NotARuntime, vec![]);
    };
    // Static dispatch: no vtables, whose pointers the loader would relocate in every process.
    match runtime {
        Runtime::Java => decide_for(Java, process, host, packages_root),
        Runtime::Node => decide_for(Node, process, host, packages_root),
        Runtime::Python => decide_for(Python, process, host, packages_root),
        Runtime::Ruby | Runtime::Php | Runtime::Dotnet => {
            Decision::skip(Some(runtime), Reason::UnsupportedYet, vec![])
        }
    }
}

fn decide_for<L: Language, H: Host + ?Sized>(
    lang: L,
    process: &Process,
    host: &H,
    packages_root: Option<&[u8]>,
) -> Decision {
    let runtime = lang.runtime();
    let lang = &lang;
    let invocation = lang.parse(&process.args);
    let skip = |reason| Decision::skip(Some(runtime), reason, removals(lang, process));

    if process.var(OPT_OUT).is_some_and(is_false) {
        return skip(Reason::OptedOut);
    }
    if let Some(reason) = lang.builtin_skip(process, &invocation) {
        return skip(reason);
    }
    let subject = deny_list::Subject {
        runtime: runtime.name(),
        exe: process.exe,
        args: &process.args,
        options: &invocation.options,
        program: invocation.program,
        module: invocation.module,
        env: &process.env,
        cwd: None,
    };
    if let Some(rule) = deny_list::default_rules().first_match(&subject) {
        return skip(Reason::Rule {
            id: String::from_utf8_lossy(rule.id).into_owned(),
            description: String::from_utf8_lossy(rule.description).into_owned(),
        });
    }
    if lang.instrumented_by_other(process, &invocation) {
        return skip(Reason::AlreadyInstrumented);
    }
    let Some(root) = packages_root else {
        let mut decision = skip(Reason::PackagesRootUnknown);
        decision.outcome = Outcome::Failed(Reason::PackagesRootUnknown);
        return decision;
    };
    let lib = library_dir(root, runtime);
    if !host.is_file(&join(&lib, lang.entry_point())) {
        return skip(Reason::LibraryMissing);
    }
    match lang.inject(process, &lib) {
        Ok(mut edits) => {
            let enabled = process.var(INJECTION_ENABLED);
            if !enabled.is_some_and(|v| v.split(|&c| c == b',').any(|item| item == b"tracer")) {
                edits.push(Edit::Set {
                    name: INJECTION_ENABLED,
                    value: b"tracer".to_vec(),
                });
            }
            Decision {
                runtime: Some(runtime),
                outcome: Outcome::Injected,
                edits,
            }
        }
        Err(reason) => skip(reason),
    }
}

/// Edits that take back what an instrumented parent added for this runtime, including the
/// `DD_INJECTION_ENABLED` marker that came with it.
fn removals<L: Language>(lang: &L, process: &Process) -> Vec<Edit> {
    let mut edits = lang.remove_inherited(process);
    if !edits.is_empty() && process.var(INJECTION_ENABLED).is_some() {
        edits.push(Edit::Unset {
            name: INJECTION_ENABLED,
        });
    }
    edits
}
