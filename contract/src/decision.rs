//! A decision is a value: the outcome, its reason, and the variable edits to apply.
//!
//! Reason ids are stable strings used alike by debug logs, `explain` and (later) `status` and
//! telemetry; a rule's id is used as the reason when a rule decides.

use crate::runtime::Runtime;
use alloc::string::String;
use alloc::vec::Vec;

/// Why a process is not (or could not be) instrumented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The executable is not a runtime the product knows.
    NotARuntime,
    /// `DD_INSTRUMENT_SERVICE_WITH_APM=false`.
    OptedOut,
    /// A deny rule matched; `id` is the rule's, e.g. `java_version`.
    Rule {
        /// Rule id, used as the reason id (`host_config.yaml:12` for an unnamed user rule).
        id: String,
        /// What the rule is for.
        description: String,
        /// Where the rule comes from: `default deny list`, `requirements.json`, or the user's
        /// configuration file.
        source: String,
    },
    /// The user disabled this runtime in the host configuration.
    LanguageDisabled,
    /// A library package, `requirements.json` or configuration file is writable by others
    /// (or, for a root process, not owned by root).
    UntrustedFile,
    /// The library package has no tracer for the runtime's version (its
    /// `supported_runtimes.json`).
    RuntimeVersionUnsupported {
        /// The version and the package's ranges, e.g. `version 3.8; the package supports 3.9
        /// to 3.13 (ddtrace 4.16.0)`.
        description: String,
    },
    /// The process's C library (flavour, version or architecture) is not supported.
    IncompatibleLibc,
    /// The library package's `requirements.json` or `supported_runtimes.json` cannot be read
    /// or parsed.
    InvalidRequirements,
    /// The decision took longer than its time budget.
    TimeBudgetExceeded,
    /// A JDK tool (`keytool`, `jcmd`, `javac`, …), not an application.
    JdkTool,
    /// Another tracer or agent is already configured for this process.
    AlreadyInstrumented,
    /// `JAVA_TOOL_OPTIONS` would exceed the JVM's 1024-character limit.
    JavaToolOptionsTooLong,
    /// The runtime's library package (or its entry point file) is not installed.
    LibraryMissing,
    /// The library path cannot be expressed in the variable (whitespace, `:` or quotes).
    UnsupportedLibraryPath,
    /// Python runs with `-E` or `-I`: it ignores `PYTHONPATH`.
    PythonIgnoresEnvironment,
    /// Python runs with `-S`: it imports no `site`, hence no `sitecustomize`.
    PythonNoSite,
    /// The library package's entry point cannot be read by the process, or is broken (e.g. a
    /// truncated jar).
    LibraryUnusable,
    /// The library could not tell where it was loaded from.
    PackagesRootUnknown,
    /// The process could not be read (`/proc` unavailable or unreadable).
    ProcessUnreadable,
    /// Changing a variable failed (out of memory in libc).
    SetenvFailed,
    /// An internal error was caught; the process starts uninstrumented.
    InternalError,
}

impl Reason {
    /// The stable id, e.g. `java_tool_options_too_long`.
    pub fn id(&self) -> &str {
        match self {
            Reason::NotARuntime => "not_a_runtime",
            Reason::OptedOut => "opted_out",
            Reason::Rule { id, .. } => id,
            Reason::LanguageDisabled => "language_disabled",
            Reason::UntrustedFile => "untrusted_file",
            Reason::RuntimeVersionUnsupported { .. } => "runtime_version_unsupported",
            Reason::IncompatibleLibc => "incompatible_libc",
            Reason::InvalidRequirements => "invalid_requirements",
            Reason::TimeBudgetExceeded => "time_budget_exceeded",
            Reason::JdkTool => "jdk_tool",
            Reason::AlreadyInstrumented => "already_instrumented",
            Reason::JavaToolOptionsTooLong => "java_tool_options_too_long",
            Reason::LibraryMissing => "library_missing",
            Reason::LibraryUnusable => "library_unusable",
            Reason::UnsupportedLibraryPath => "unsupported_library_path",
            Reason::PythonIgnoresEnvironment => "python_ignores_environment",
            Reason::PythonNoSite => "python_no_site",
            Reason::PackagesRootUnknown => "packages_root_unknown",
            Reason::ProcessUnreadable => "process_unreadable",
            Reason::SetenvFailed => "setenv_failed",
            Reason::InternalError => "internal_error",
        }
    }

    /// One sentence for people, e.g. for `explain`.
    pub fn describe(&self) -> &str {
        match self {
            Reason::NotARuntime => "not a Java, Node.js, Python, Ruby, PHP or .NET runtime",
            Reason::OptedOut => "DD_INSTRUMENT_SERVICE_WITH_APM=false opts this process out",
            Reason::Rule { description, .. } => description,
            Reason::LanguageDisabled => "this runtime is disabled in the host configuration",
            Reason::UntrustedFile => {
                "a library or configuration file is writable by others or not owned by root"
            }
            Reason::RuntimeVersionUnsupported { description } => description,
            Reason::IncompatibleLibc => "the process's C library is not supported by the tracer",
            Reason::InvalidRequirements => {
                "the library package's requirements.json or supported_runtimes.json cannot be read"
            }
            Reason::TimeBudgetExceeded => "the decision exceeded its time budget",
            Reason::JdkTool => "a JDK tool, not an application",
            Reason::AlreadyInstrumented => "another tracer or agent is already configured",
            Reason::JavaToolOptionsTooLong => {
                "JAVA_TOOL_OPTIONS would exceed the JVM's 1024-character limit"
            }
            Reason::LibraryUnusable => {
                "the tracing library cannot be read by this process or is broken"
            }
            Reason::LibraryMissing => "the tracing library package is not installed",
            Reason::UnsupportedLibraryPath => "the library path contains whitespace, quotes or ':'",
            Reason::PythonIgnoresEnvironment => "python runs with -E or -I and ignores PYTHONPATH",
            Reason::PythonNoSite => "python runs with -S and loads no sitecustomize",
            Reason::PackagesRootUnknown => "the launcher could not tell where its packages are",
            Reason::ProcessUnreadable => "/proc/self could not be read",
            Reason::SetenvFailed => "setenv failed",
            Reason::InternalError => "internal error; the process started uninstrumented",
        }
    }
}

/// What happens to the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The tracer will load.
    Injected,
    /// Deliberately not instrumented.
    Skipped(Reason),
    /// Instrumentation was wanted but could not be done.
    Failed(Reason),
}

impl Outcome {
    /// `injected`, `skipped` or `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Injected => "injected",
            Outcome::Skipped(_) => "skipped",
            Outcome::Failed(_) => "failed",
        }
    }

    /// The reason, for outcomes that have one.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Outcome::Injected => None,
            Outcome::Skipped(r) | Outcome::Failed(r) => Some(r),
        }
    }
}

/// One change to the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Set `name` to `value`.
    Set {
        /// Variable name, e.g. `JAVA_TOOL_OPTIONS`.
        name: &'static str,
        /// New value.
        value: Vec<u8>,
    },
    /// Remove `name`.
    Unset {
        /// Variable name.
        name: &'static str,
    },
}

impl Edit {
    /// The variable this edit changes.
    pub fn name(&self) -> &'static str {
        match self {
            Edit::Set { name, .. } | Edit::Unset { name } => name,
        }
    }
}

/// The complete decision for one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Detected runtime, if any.
    pub runtime: Option<Runtime>,
    /// Outcome and reason.
    pub outcome: Outcome,
    /// Environment edits to apply, in order. For a skipped process these only take back
    /// additions it inherited from an instrumented parent.
    pub edits: Vec<Edit>,
    /// Guardrails were bypassed with `DD_INJECT_FORCE`.
    pub forced: bool,
    /// The user rule that allowed the process, if one did (e.g. `host_config.yaml:12`).
    pub allowed_by: Option<String>,
}

impl Decision {
    /// A skip with the given edits.
    pub fn skip(runtime: Option<Runtime>, reason: Reason, edits: Vec<Edit>) -> Decision {
        Decision {
            runtime,
            outcome: Outcome::Skipped(reason),
            edits,
            forced: false,
            allowed_by: None,
        }
    }
}
