//! The decision, in order: runtime, opt-out, disabled runtimes, user rules, runtime-specific
//! checks, default deny list, other tracers, library package (present, trusted), guardrails
//! (`requirements.json`, runtime version), then the runtime's variable edits.

use crate::config::{self, Config};
use crate::decision::{Decision, Edit, Outcome, Reason};
use crate::dotnet::{self, Dotnet};
use crate::host::{Host, ReadError};
use crate::invocation::Language;
use crate::java::Java;
use crate::layout::{join, library_dir};
use crate::node::Node;
use crate::php::Php;
use crate::process::{file_name, is_false, parent, Process};
use crate::python::Python;
use crate::requirements;
use crate::ruby::Ruby;
use crate::runtime::{self, Runtime};
use crate::trust;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use deny_list::model::Action;
use deny_list::{RuleRef, Subject};

/// Set in every instrumented process; the tracers report it.
const INJECTION_ENABLED: &str = "DD_INJECTION_ENABLED";
/// Per-process opt-out: `false` disables instrumentation.
const OPT_OUT: &str = "DD_INSTRUMENT_SERVICE_WITH_APM";
/// `true` or `1` bypasses guardrails (deny list, `requirements.json`, runtime version).
const FORCE: &str = "DD_INJECT_FORCE";
/// Where the default deny list's rules come from, as `explain` names it.
const DEFAULT_DENY_LIST: &str = "default deny list";

/// Decides for `process`, with library packages under `packages_root` (`None` if the caller
/// could not tell where they are) and the host configuration `config`.
pub fn decide<H: Host + ?Sized>(
    process: &Process,
    host: &H,
    packages_root: Option<&[u8]>,
    config: &Config,
) -> Decision {
    let detected = runtime::detect(file_name(process.exe));
    let apphost = detected.is_none()
        && dotnet::apphost_candidate(process.exe)
        && host.is_file(&[process.exe, b".runtimeconfig.json"].concat());
    // Static dispatch: no vtables, whose pointers the loader would relocate in every process.
    let context = Context {
        process,
        host,
        packages_root,
        config,
    };
    match detected {
        _ if apphost => context.decide(Dotnet { apphost: true }),
        None => Decision::skip(None, Reason::NotARuntime, vec![]),
        Some(Runtime::Java) => context.decide(Java),
        Some(Runtime::Node) => context.decide(Node),
        Some(Runtime::Python) => context.decide(Python),
        Some(Runtime::Ruby) => context.decide(Ruby),
        Some(Runtime::Php) => context.decide(Php),
        Some(Runtime::Dotnet) => context.decide(Dotnet { apphost: false }),
    }
}

struct Context<'p, 'a, H: ?Sized> {
    process: &'p Process<'a>,
    host: &'p H,
    packages_root: Option<&'p [u8]>,
    config: &'p Config<'p>,
}

impl<H: Host + ?Sized> Context<'_, '_, H> {
    fn decide<L: Language>(&self, lang: L) -> Decision {
        let process = self.process;
        let runtime = lang.runtime();
        let invocation = lang.parse(&process.args);
        let skip = |reason| Decision::skip(Some(runtime), reason, removals(&lang, process));
        let fail = |reason: Reason| Decision {
            outcome: Outcome::Failed(reason.clone()),
            ..skip(reason)
        };
        let forced = process.flag(FORCE);

        if process.var(OPT_OUT).is_some_and(is_false) {
            return skip(Reason::OptedOut);
        }
        if self.config.is_disabled(runtime) {
            return skip(Reason::LanguageDisabled);
        }
        let subject = Subject {
            runtime: runtime.name(),
            exe: process.exe,
            args: &process.args,
            options: &invocation.options,
            program: invocation.program,
            module: invocation.module,
            env: &process.env,
            cwd: process.cwd,
            subcommand: invocation.subcommand,
        };
        let allowed_by = match self.config.rules.first_match(&subject) {
            Some(rule) if rule.action == Action::Deny => {
                return skip(rule_reason(&rule, config::SOURCE_FILE))
            }
            Some(rule) => Some(String::from_utf8_lossy(rule.id).into_owned()),
            None => None,
        };
        if let Some(reason) = lang.builtin_skip(process, &invocation) {
            return skip(reason);
        }
        if allowed_by.is_none() && !forced {
            if let Some(rule) = deny_list::default_rules().first_match(&subject) {
                return skip(rule_reason(&rule, DEFAULT_DENY_LIST));
            }
        }
        if lang.instrumented_by_other(process, &invocation) {
            return skip(Reason::AlreadyInstrumented);
        }
        let Some(root) = self.packages_root else {
            return fail(Reason::PackagesRootUnknown);
        };
        let lib = library_dir(root, runtime);
        let (entry, kind) = lang.entry_point(process);
        let entry = join(&lib, entry);
        if self.host.stat(&entry).map(|i| i.kind) != Some(kind) {
            return skip(Reason::LibraryMissing);
        }
        let requirements = join(&lib, requirements::FILE);
        let package = parent(&lib).unwrap_or_default();
        if !trust::all_trusted(
            self.host,
            process.euid,
            &[package, &lib, &entry, &requirements],
        ) {
            return skip(Reason::UntrustedFile);
        }
        if self.host.out_of_time() {
            return fail(Reason::TimeBudgetExceeded);
        }
        if !forced {
            let guardrails = match self.host.read_file(&requirements, requirements::LIMIT) {
                Ok(text) => requirements::check(&text, process, &subject),
                Err(ReadError::Missing) => Ok(()),
                Err(_) => Err(Reason::InvalidRequirements),
            };
            if let Err(reason) = guardrails {
                return skip(reason);
            }
            if lang
                .version(process, &invocation, self.host)
                .is_some_and(|v| v < lang.min_version())
            {
                return skip(Reason::IncompatibleRuntime);
            }
            if self.host.out_of_time() {
                return fail(Reason::TimeBudgetExceeded);
            }
        }
        match lang.inject(process, &lib) {
            Ok(mut edits) => {
                edits.extend(self.common_edits());
                Decision {
                    runtime: Some(runtime),
                    outcome: Outcome::Injected,
                    edits,
                    forced,
                    allowed_by,
                }
            }
            Err(reason) => skip(reason),
        }
    }

    /// `DD_INJECTION_ENABLED`, and the configured `DD_ENV`/`DD_VERSION` where unset.
    fn common_edits(&self) -> Vec<Edit> {
        let process = self.process;
        let mut edits = Vec::new();
        let enabled = process.var(INJECTION_ENABLED);
        if !enabled.is_some_and(|v| v.split(|&c| c == b',').any(|item| item == b"tracer")) {
            edits.push(Edit::Set {
                name: INJECTION_ENABLED,
                value: b"tracer".to_vec(),
            });
        }
        for (name, value) in [
            ("DD_ENV", self.config.env),
            ("DD_VERSION", self.config.version),
        ] {
            if !value.is_empty() && process.var(name).is_none() {
                edits.push(Edit::Set {
                    name,
                    value: value.to_vec(),
                });
            }
        }
        edits
    }
}

fn rule_reason(rule: &RuleRef, source: &str) -> Reason {
    Reason::Rule {
        id: String::from_utf8_lossy(rule.id).into_owned(),
        description: String::from_utf8_lossy(rule.description).into_owned(),
        source: String::from(source),
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
