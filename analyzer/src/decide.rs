//! The decision, in order: runtime, opt-out, disabled runtimes, user rules, runtime-specific
//! checks, default deny list, other tracers, library package (trusted, the tracer for the
//! runtime's version per `supported_runtimes.json`, present), guardrails (`requirements.json`,
//! runtime version supported by the package), then the runtime's variable edits.
//!
//! The SDK family (the host configuration's `sdk`, or the process's `DD_APM_INSTRUMENTATION_SDK`)
//! changes only which library package is used (`layout::library_dir`), the runtime's edit where
//! it differs (Java's agent) and the variables that go with it: Datadog's (`DD_SERVICE`, …, in
//! [`Context::datadog_edits`]) or OpenTelemetry's (`OTEL_SERVICE_NAME`, …, `opentelemetry.rs`).

use crate::datadog::STARTUP_LOGS;
use crate::decision::{Decision, Edit, Outcome, Reason};
use crate::dotnet::{self, Dotnet};
use crate::host::FileKind;
use crate::host::{Host, ReadError};
use crate::invocation::Invocation;
use crate::java::Java;
use crate::language::Language;
use crate::layout::{self, join, library_dir};
use crate::node::Node;
use crate::opentelemetry;
use crate::php::Php;
use crate::process::{file_name, is_false, parent, Libc, Process};
use crate::python::Python;
use crate::requirements;
use crate::ruby::Ruby;
use crate::runtime::{self, Runtime};
use crate::sdk::{self, Sdk};
use crate::service;
use crate::supported;
use crate::trust;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use contract::config::{self, Config};
use contract::rules::{Action, RuleRef};
use deny_list::Subject;

/// Set in every instrumented process; the tracers report it.
const INJECTION_ENABLED: &str = "DD_INJECTION_ENABLED";
/// The item of `DD_INJECTION_ENABLED` saying `DD_SERVICE` was derived by the library.
const SERVICE_MARK: &[u8] = b"service_name";
/// The service name variable of Datadog's tracers.
const SERVICE: &str = "DD_SERVICE";
/// The service name variables of every SDK family, which a derived name may be in.
const SERVICE_VARIABLES: [&str; 2] = [SERVICE, opentelemetry::SERVICE_NAME];
/// The item of `DD_INJECTION_ENABLED` saying `DD_TRACE_STARTUP_LOGS=false` was set by the
/// library, not by the user.
const STARTUP_LOGS_MARK: &[u8] = b"startup_logs";
/// Where the tracers send their entry-point telemetry.
const FORWARDER_VARIABLE: &str = "DD_TELEMETRY_FORWARDER_PATH";
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
    let runtime = if apphost {
        Some(Runtime::Dotnet)
    } else {
        detected
    };
    let Some(runtime) = runtime else {
        return Decision::skip(None, Reason::NotARuntime, vec![]);
    };
    let sdk = sdk_for(process, config);
    let context = Context {
        process,
        host,
        packages_root,
        config,
        sdk,
    };
    Decision {
        sdk,
        ..with_language(runtime, apphost, sdk, context)
    }
}

/// The SDK family for `process`: its `DD_APM_INSTRUMENTATION_SDK` when that names one, else the
/// host configuration's.
pub fn sdk_for(process: &Process, config: &Config) -> Sdk {
    process
        .var(sdk::VARIABLE)
        .and_then(Sdk::from_name)
        .unwrap_or(config.sdk)
}

/// Something done with a runtime's rules, whichever runtime it is.
trait WithLanguage {
    /// What it gives.
    type Output;
    /// Does it with `lang`.
    fn with<L: Language>(self, lang: L) -> Self::Output;
}

/// Does `task` with the rules of `runtime` (an apphost for .NET when `apphost`; the agent of
/// `sdk` for Java): the one place that maps a runtime to its module. Static dispatch: no
/// vtables, whose pointers the loader would relocate in every process.
fn with_language<T: WithLanguage>(runtime: Runtime, apphost: bool, sdk: Sdk, task: T) -> T::Output {
    match runtime {
        Runtime::Java => task.with(Java { sdk }),
        Runtime::Node => task.with(Node),
        Runtime::Python => task.with(Python),
        Runtime::Ruby => task.with(Ruby),
        Runtime::Php => task.with(Php),
        Runtime::Dotnet => task.with(Dotnet { apphost }),
    }
}

impl<H: Host + ?Sized> WithLanguage for Context<'_, '_, H> {
    type Output = Decision;
    fn with<L: Language>(self, lang: L) -> Decision {
        self.decide(lang)
    }
}

struct Context<'p, 'a, H: ?Sized> {
    process: &'p Process<'a>,
    host: &'p H,
    packages_root: Option<&'p [u8]>,
    config: &'p Config<'p>,
    sdk: Sdk,
}

impl<H: Host + ?Sized> Context<'_, '_, H> {
    fn decide<L: Language>(&self, lang: L) -> Decision {
        let process = self.process;
        let runtime = lang.runtime();
        let invocation = lang.parse(&process.args);
        let skip = |reason| Decision::skip(Some(runtime), reason, removals(&lang, process));
        let fail = |reason| Decision::fail(Some(runtime), reason, removals(&lang, process));
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
        let allowed_by = match deny_list::first_match(&self.config.rules, &subject) {
            Some(rule) if rule.action == Action::Deny => {
                return skip(rule_reason(&rule, user_rule_source(&rule)))
            }
            Some(rule) => Some(String::from_utf8_lossy(rule.id).into_owned()),
            None => None,
        };
        if allowed_by.is_none() {
            if let Some(rule) = deny_list::unmet_requirement(&self.config.rules, &subject) {
                return skip(rule_reason(&rule, user_rule_source(&rule)));
            }
        }
        if let Some(reason) = lang.builtin_skip(process, &invocation) {
            return skip(reason);
        }
        if allowed_by.is_none() && !forced {
            if let Some(rule) =
                deny_list::first_match(&deny_list::default_rules_for(runtime.name()), &subject)
            {
                return skip(rule_reason(&rule, DEFAULT_DENY_LIST));
            }
        }
        if lang.instrumented_by_other(process, &invocation) {
            return skip(Reason::AlreadyInstrumented);
        }
        let Some(root) = self.packages_root else {
            return fail(Reason::PackagesRootUnknown);
        };
        let lib = library_dir(root, runtime, self.sdk);
        let manifest = join(&lib, layout::SUPPORTED_RUNTIMES);
        let requirements = join(&lib, layout::REQUIREMENTS);
        let package = parent(&lib).unwrap_or_default();
        if !trust::all_trusted(
            self.host,
            process.euid,
            &[package, &lib, &manifest, &requirements],
        ) {
            return skip(Reason::UntrustedFile);
        }
        let choice = match self.host.read_file(&manifest, supported::LIMIT) {
            Ok(text) => {
                let version = lang.version(process, &invocation, self.host);
                supported::choose(&text, version)
            }
            Err(ReadError::Missing) => Ok(supported::Choice::whole_package()),
            Err(_) => Err(Reason::InvalidRequirements),
        };
        let choice = match choice {
            Ok(choice) => choice,
            Err(reason) => return skip(reason),
        };
        let tracer = if choice.dir.is_empty() {
            lib.clone()
        } else {
            [&lib[..], b"/", &choice.dir].concat()
        };
        let (entry, kind) = lang.entry_point(process);
        let entry = join(&tracer, entry);
        if self.host.stat(&entry).map(|i| i.kind) != Some(kind) {
            return skip(Reason::LibraryMissing);
        }
        if !trust::all_trusted(self.host, process.euid, &[&tracer, &entry]) {
            return skip(Reason::UntrustedFile);
        }
        if !lang.usable(&entry, self.host) {
            return skip(Reason::LibraryUnusable);
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
            if let Some(description) = choice.unsupported {
                return skip(Reason::RuntimeVersionUnsupported { description });
            }
            if self.host.out_of_time() {
                return fail(Reason::TimeBudgetExceeded);
            }
        }
        match lang.inject(process, &invocation, &tracer, self.host) {
            Ok(mut edits) => {
                let service = self.service_name(&lang, &invocation);
                edits.extend(match self.sdk {
                    Sdk::Datadog => self.datadog_edits(root, service, L::GETS_FORWARDER),
                    Sdk::OpenTelemetry => self.opentelemetry_edits(root, service),
                });
                Decision {
                    runtime: Some(runtime),
                    outcome: Outcome::Injected,
                    edits,
                    forced,
                    allowed_by,
                    sdk: self.sdk,
                }
            }
            Err(reason) => skip(reason),
        }
    }

    /// The service name variable of this SDK family: `DD_SERVICE` or `OTEL_SERVICE_NAME`.
    fn service_variable(&self) -> &'static str {
        match self.sdk {
            Sdk::Datadog => SERVICE,
            Sdk::OpenTelemetry => opentelemetry::SERVICE_NAME,
        }
    }

    /// The service name to set: derived (and normalised) when the family's service variable is
    /// unset or was derived by the library for a parent process, and (OpenTelemetry) the user's
    /// resource attributes do not name the service.
    fn service_name<L: Language>(&self, lang: &L, invocation: &Invocation) -> Option<Vec<u8>> {
        let variable = self.service_variable();
        if self.process.var(variable).is_some() && !derived_service(self.process) {
            return None;
        }
        if self.sdk == Sdk::OpenTelemetry && opentelemetry::names_service(self.process) {
            return None;
        }
        service::normalize(&lang.service(self.process, invocation, self.host)?)
    }

    /// The service variable (when derived) and `DD_INJECTION_ENABLED` (`tracer`, plus
    /// `service_name` when the service name is the library's and `startup_logs` when
    /// `ours_startup_logs`, i.e. `DD_TRACE_STARTUP_LOGS` is the library's): the marker by which a
    /// child tells the library's additions from the user's, whichever the family.
    fn service_edits(&self, service: Option<Vec<u8>>, ours_startup_logs: bool) -> Vec<Edit> {
        let process = self.process;
        let variable = self.service_variable();
        let mut edits = Vec::new();
        let ours_named =
            service.is_some() || (derived_service(process) && process.var(variable).is_some());
        if let Some(name) = service.filter(|name| process.var(variable) != Some(name)) {
            edits.push(Edit::Set {
                name: variable,
                value: name,
            });
        }
        let enabled = injection_enabled(
            process.var(INJECTION_ENABLED),
            ours_named,
            ours_startup_logs,
        );
        if process.var(INJECTION_ENABLED) != Some(&enabled[..]) {
            edits.push(Edit::Set {
                name: INJECTION_ENABLED,
                value: enabled,
            });
        }
        edits
    }

    /// The OpenTelemetry SDK's: the service edits, `OTEL_RESOURCE_ATTRIBUTES` extended with the
    /// configured environment and version, and the telemetry forwarder and
    /// `DD_TRACE_STARTUP_LOGS` a parent inherited from the library taken out (the OpenTelemetry
    /// SDKs report to no Datadog Agent).
    fn opentelemetry_edits(&self, root: &[u8], service: Option<Vec<u8>>) -> Vec<Edit> {
        let mut edits = self.service_edits(service, false);
        if inherited_startup_logs(self.process) {
            edits.push(Edit::Unset { name: STARTUP_LOGS });
        }
        edits.extend(opentelemetry::resource_attributes(
            self.process,
            self.config.env,
            self.config.version,
        ));
        edits.extend(self.forwarder_edit(root, false));
        edits
    }

    /// Datadog's tracers': the service edits, the telemetry forwarder (where the tracer
    /// `gets_forwarder`; otherwise the one a parent inherited from the library is unset),
    /// `DD_TRACE_STARTUP_LOGS=false` (marked as the library's, also when inherited from it) and
    /// the configured `DD_ENV`/`DD_VERSION`, each where unset.
    fn datadog_edits(
        &self,
        root: &[u8],
        service: Option<Vec<u8>>,
        gets_forwarder: bool,
    ) -> Vec<Edit> {
        let process = self.process;
        let set_startup_logs = process.var(STARTUP_LOGS).is_none();
        let ours_startup_logs = set_startup_logs || inherited_startup_logs(process);
        let mut edits = self.service_edits(service, ours_startup_logs);
        edits.extend(self.forwarder_edit(root, gets_forwarder));
        if set_startup_logs {
            edits.push(Edit::Set {
                name: STARTUP_LOGS,
                value: b"false".to_vec(),
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

    /// The forwarder set where the tracer `gets` it and it is unset, or the one a parent
    /// inherited from the library unset where it does not. Set without a `stat`: it is part of
    /// the inject package the library itself comes from, and whoever runs it checks first that
    /// it is there (dd-trace's sender, `fs.existsSync`; the Python bootstrap, `os.access`).
    fn forwarder_edit(&self, root: &[u8], gets: bool) -> Option<Edit> {
        let forwarder = layout::forwarder(root);
        let inherited = self.process.var(FORWARDER_VARIABLE);
        if !gets {
            (inherited == Some(&forwarder[..])).then_some(Edit::Unset {
                name: FORWARDER_VARIABLE,
            })
        } else {
            inherited.is_none().then_some(Edit::Set {
                name: FORWARDER_VARIABLE,
                value: forwarder,
            })
        }
    }
}

/// Whether the inherited service name (`DD_SERVICE`, `OTEL_SERVICE_NAME`) was derived by the library (marked in
/// `DD_INJECTION_ENABLED`), not set by the user.
fn derived_service(process: &Process) -> bool {
    process
        .var(INJECTION_ENABLED)
        .is_some_and(|v| v.split(|&c| c == b',').any(|i| i == SERVICE_MARK))
}

/// Whether the inherited `DD_TRACE_STARTUP_LOGS` is the library's `false` (marked in
/// `DD_INJECTION_ENABLED`), not the user's.
fn inherited_startup_logs(process: &Process) -> bool {
    process.var(STARTUP_LOGS) == Some(&b"false"[..])
        && process
            .var(INJECTION_ENABLED)
            .is_some_and(|v| v.split(|&c| c == b',').any(|i| i == STARTUP_LOGS_MARK))
}

/// `DD_INJECTION_ENABLED` for an instrumented process: the current items (e.g. `profiler`)
/// kept, `tracer` added, then `service_name` present exactly when the service name is ours and
/// `startup_logs` exactly when `DD_TRACE_STARTUP_LOGS` is, e.g. `tracer,service_name,startup_logs`.
fn injection_enabled(current: Option<&[u8]>, ours_named: bool, ours_logs: bool) -> Vec<u8> {
    let mut items: Vec<&[u8]> = current
        .unwrap_or_default()
        .split(|&c| c == b',')
        .filter(|i| !i.is_empty())
        .collect();
    items.retain(|i| *i != SERVICE_MARK && *i != STARTUP_LOGS_MARK);
    if !items.contains(&&b"tracer"[..]) {
        items.insert(0, b"tracer");
    }
    let mut at = items
        .iter()
        .position(|i| *i == b"tracer")
        .map_or(0, |p| p + 1);
    for (ours, mark) in [(ours_named, SERVICE_MARK), (ours_logs, STARTUP_LOGS_MARK)] {
        if ours {
            items.insert(at, mark);
            at += 1;
        }
    }
    items.join(&b',')
}

/// What the library package of `runtime` for SDK family `sdk` must contain for a process on
/// `libc`, e.g. `("dd-java-agent.jar", File)`: for installers and `doctor`.
pub fn library_entry_point(runtime: Runtime, libc: Libc, sdk: Sdk) -> (&'static str, FileKind) {
    /// The entry point for a process.
    struct EntryPoint<'p>(&'p Process<'p>);
    impl WithLanguage for EntryPoint<'_> {
        type Output = (&'static str, FileKind);
        fn with<L: Language>(self, lang: L) -> Self::Output {
            lang.entry_point(self.0)
        }
    }
    let process = Process {
        libc,
        ..Process::default()
    };
    with_language(runtime, false, sdk, EntryPoint(&process))
}

/// The file a user rule comes from: the OpenTelemetry injector's drop-in for its rules (ids
/// `otelinject.conf:<line>`), else the host configuration.
fn user_rule_source(rule: &RuleRef) -> &'static str {
    if rule.id.starts_with(b"otelinject.conf:") {
        config::DROPIN_FILE
    } else {
        config::SOURCE_FILE
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
/// derived service name, `DD_TRACE_STARTUP_LOGS` and the `DD_INJECTION_ENABLED` marker that
/// came with it (each only where the marker says it is the library's).
fn removals<L: Language>(lang: &L, process: &Process) -> Vec<Edit> {
    let mut edits = lang.remove_inherited(process);
    if !edits.is_empty() {
        if derived_service(process) {
            for name in SERVICE_VARIABLES {
                if process.var(name).is_some() {
                    edits.push(Edit::Unset { name });
                }
            }
        }
        if inherited_startup_logs(process) {
            edits.push(Edit::Unset { name: STARTUP_LOGS });
        }
        if process.var(INJECTION_ENABLED).is_some() {
            edits.push(Edit::Unset {
                name: INJECTION_ENABLED,
            });
        }
    }
    edits
}
