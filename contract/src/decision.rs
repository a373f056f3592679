//! A decision is a value: the outcome, its reason, and the variable edits to apply.
//!
//! Reason ids are stable strings used alike by debug logs, `explain`, `status` and telemetry
//! (rendered by [`crate::render`]); a rule's id is used as the reason when a rule decides, so
//! no rule may take a built-in reason's id ([`Reason::BUILTIN_IDS`]).

use crate::runtime::Runtime;
use crate::sdk::Sdk;
use alloc::string::String;
use alloc::vec::Vec;

/// Defines [`Reason`]: one entry per built-in reason (doc, variant, stable id, description),
/// so that the ids, the descriptions and the list of reserved ids cannot drift apart.
macro_rules! reasons {
    ($($(#[doc = $doc:literal])* $name:ident => $id:literal, $describe:literal;)*) => {
        /// Why a process is not (or could not be) instrumented.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Reason {
            /// A deny rule matched; `id` is the rule's, e.g. `java_version`.
            Rule {
                /// Rule id, used as the reason id (`host_config.yaml:12` for an unnamed user
                /// rule).
                id: String,
                /// What the rule is for.
                description: String,
                /// Where the rule comes from: `default deny list`, `requirements.json`, or the
                /// user's configuration file.
                source: String,
            },
            /// The library package has no tracer for the runtime's version (its
            /// `supported_runtimes.json`).
            RuntimeVersionUnsupported {
                /// The version and the package's ranges, e.g. `version 3.8; the package
                /// supports 3.9 to 3.13 (ddtrace 4.16.0)`.
                description: String,
            },
            $($(#[doc = $doc])* $name,)*
        }

        impl Reason {
            /// The ids of the built-in reasons, e.g. `opted_out`: no rule may take one.
            pub const BUILTIN_IDS: &'static [&'static str] =
                &[RUNTIME_VERSION_UNSUPPORTED, $($id),*];

            /// The stable id, e.g. `java_tool_options_too_long`.
            pub fn id(&self) -> &str {
                match self {
                    Reason::Rule { id, .. } => id,
                    Reason::RuntimeVersionUnsupported { .. } => RUNTIME_VERSION_UNSUPPORTED,
                    $(Reason::$name => $id,)*
                }
            }

            /// One sentence for people, e.g. for `explain`.
            pub fn describe(&self) -> &str {
                match self {
                    Reason::Rule { description, .. }
                    | Reason::RuntimeVersionUnsupported { description } => description,
                    $(Reason::$name => $describe,)*
                }
            }
        }
    };
}

/// The id of [`Reason::RuntimeVersionUnsupported`].
const RUNTIME_VERSION_UNSUPPORTED: &str = "runtime_version_unsupported";

reasons! {
    /// The executable is not a runtime the product knows.
    NotARuntime => "not_a_runtime",
        "not a Java, Node.js, Python, Ruby, PHP or .NET runtime";
    /// `DD_INSTRUMENT_SERVICE_WITH_APM=false`.
    OptedOut => "opted_out",
        "DD_INSTRUMENT_SERVICE_WITH_APM=false opts this process out";
    /// The user disabled this runtime in the host configuration.
    LanguageDisabled => "language_disabled",
        "this runtime is disabled in the host configuration";
    /// A library package, `requirements.json` or configuration file is writable by others
    /// (or, for a root process, not owned by root).
    UntrustedFile => "untrusted_file",
        "a library or configuration file is writable by others or not owned by root";
    /// The process's C library (flavour, version or architecture) is not supported.
    IncompatibleLibc => "incompatible_libc",
        "the process's C library is not supported by the tracer";
    /// The library package's `requirements.json` or `supported_runtimes.json` cannot be read
    /// or parsed.
    InvalidRequirements => "invalid_requirements",
        "the library package's requirements.json or supported_runtimes.json cannot be read";
    /// The decision took longer than its time budget.
    TimeBudgetExceeded => "time_budget_exceeded",
        "the decision exceeded its time budget";
    /// A JDK tool (`keytool`, `jcmd`, `javac`, …), not an application.
    JdkTool => "jdk_tool",
        "a JDK tool, not an application";
    /// Another tracer or agent is already configured for this process.
    AlreadyInstrumented => "already_instrumented",
        "another tracer or agent is already configured";
    /// `JAVA_TOOL_OPTIONS` would exceed the JVM's 1024-character limit.
    JavaToolOptionsTooLong => "java_tool_options_too_long",
        "JAVA_TOOL_OPTIONS would exceed the JVM's 1024-character limit";
    /// The runtime's library package (or its entry point file) is not installed.
    LibraryMissing => "library_missing",
        "the tracing library package is not installed";
    /// The library package's entry point cannot be read by the process, or is broken (e.g. a
    /// truncated jar).
    LibraryUnusable => "library_unusable",
        "the tracing library cannot be read by this process or is broken";
    /// The library path cannot be expressed in the variable (whitespace, `:` or quotes).
    UnsupportedLibraryPath => "unsupported_library_path",
        "the library path contains whitespace, quotes or ':'";
    /// Python runs with `-E` or `-I`: it ignores `PYTHONPATH`.
    PythonIgnoresEnvironment => "python_ignores_environment",
        "python runs with -E or -I and ignores PYTHONPATH";
    /// Python runs with `-S`: it imports no `site`, hence no `sitecustomize`.
    PythonNoSite => "python_no_site",
        "python runs with -S and loads no sitecustomize";
    /// Node.js runs with its permission model or a policy manifest, which would refuse to load
    /// the tracer's files (`ERR_ACCESS_DENIED`, `ERR_MANIFEST_ASSERT_INTEGRITY`).
    NodePermissionModel => "node_permission_model",
        "node runs with --permission, --experimental-permission or --experimental-policy, \
         which would refuse the tracer's files";
    /// The library could not tell where it was loaded from.
    PackagesRootUnknown => "packages_root_unknown",
        "the launcher could not tell where its packages are";
    /// The process could not be read (`/proc` unavailable or unreadable).
    ProcessUnreadable => "process_unreadable",
        "/proc/self could not be read";
    /// The new environment could not be made (no memory for it, or a value holding a NUL).
    /// The id is from when libc's `setenv` made the edits; it stays for the logs and tools
    /// that know it.
    SetenvFailed => "setenv_failed",
        "the environment could not be changed";
    /// An internal error was caught; the process starts uninstrumented.
    InternalError => "internal_error",
        "internal error; the process started uninstrumented";
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

/// The kinds of [`Outcome`], as the debug log, `explain` and the status record spell them.
pub mod kind {
    /// [`Outcome::Injected`](super::Outcome::Injected).
    pub const INJECTED: &str = "injected";
    /// [`Outcome::Skipped`](super::Outcome::Skipped).
    pub const SKIPPED: &str = "skipped";
    /// [`Outcome::Failed`](super::Outcome::Failed).
    pub const FAILED: &str = "failed";
}

impl Outcome {
    /// `injected`, `skipped` or `failed` ([`kind`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Injected => kind::INJECTED,
            Outcome::Skipped(_) => kind::SKIPPED,
            Outcome::Failed(_) => kind::FAILED,
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

/// The kinds of [`Edit`], as the debug log, `explain` and the status record spell them.
pub mod action {
    /// [`Edit::Set`](super::Edit::Set).
    pub const SET: &str = "set";
    /// [`Edit::Unset`](super::Edit::Unset).
    pub const UNSET: &str = "unset";
}

impl Edit {
    /// `set` or `unset` ([`action`]).
    pub fn action(&self) -> &'static str {
        match self {
            Edit::Set { .. } => action::SET,
            Edit::Unset { .. } => action::UNSET,
        }
    }

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
    /// The SDK family the process is (or would have been) given.
    pub sdk: Sdk,
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
            sdk: Sdk::Datadog,
        }
    }

    /// A failure (instrumentation was wanted but could not be done) with the given edits.
    pub fn fail(runtime: Option<Runtime>, reason: Reason, edits: Vec<Edit>) -> Decision {
        Decision {
            runtime,
            outcome: Outcome::Failed(reason),
            edits,
            forced: false,
            allowed_by: None,
            sdk: Sdk::Datadog,
        }
    }
}
