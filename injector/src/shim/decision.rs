//! Why the shim left a container (or a `docker exec` process) as it was: one value per reason,
//! with a stable id used by the debug log and `status`.

use std::fmt;

/// A reason to pass a call through untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// `library_inject: false` in `docker_config.yaml`.
    Disabled,
    /// `docker_config.yaml` could not be read; its deny rules are unknown.
    ConfigUnreadable(String),
    /// The packages (the launcher through `stable`) are missing beside the shim.
    PackagesMissing(String),
    /// The OCI file could not be read, parsed or validated.
    Malformed(String),
    /// The OCI file could not be replaced (a read-only bundle).
    ReadOnly(String),
    /// Docker's socket is there but its API did not answer in time: the container's labels
    /// (which may opt it out) and image (which deny rules may name) are unknown.
    DockerApi(String),
    /// No `process` in `config.json`: nothing would be started.
    NoProcess,
    /// `DD_INSTRUMENT_SERVICE_WITH_APM=false` as a `variable`, `annotation` or `label`.
    OptedOut(&'static str),
    /// A deny rule of `docker_config.yaml` matched; its id.
    Denied(String),
    /// The container already has our mount and launcher.
    AlreadyInjected,
    /// A mount of the container's own covers `/opt/datadog-packages`; its destination.
    PackagesPathTaken(String),
    /// `exec` into a container that did not get our edits.
    ContainerNotInjected,
}

impl Skip {
    /// Stable identifier, e.g. `opted_out`.
    pub fn id(&self) -> &'static str {
        match self {
            Skip::Disabled => "disabled",
            Skip::ConfigUnreadable(_) => "config_unreadable",
            Skip::PackagesMissing(_) => "packages_missing",
            Skip::Malformed(_) => "malformed_oci_file",
            Skip::ReadOnly(_) => "read_only_bundle",
            Skip::DockerApi(_) => "docker_api_unavailable",
            Skip::NoProcess => "no_process",
            Skip::OptedOut(_) => "opted_out",
            Skip::Denied(_) => "denied",
            Skip::AlreadyInjected => "already_injected",
            Skip::PackagesPathTaken(_) => "packages_path_taken",
            Skip::ContainerNotInjected => "container_not_injected",
        }
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: ", self.id())?;
        match self {
            Skip::Disabled => write!(f, "library_inject is false in docker_config.yaml"),
            Skip::ConfigUnreadable(e) => write!(f, "{e}"),
            Skip::PackagesMissing(path) => write!(f, "{path} is missing"),
            Skip::Malformed(e) | Skip::ReadOnly(e) | Skip::DockerApi(e) => write!(f, "{e}"),
            Skip::NoProcess => write!(f, "config.json starts no process"),
            Skip::OptedOut(source) => {
                write!(f, "DD_INSTRUMENT_SERVICE_WITH_APM=false ({source})")
            }
            Skip::Denied(rule) => write!(f, "deny rule {rule}"),
            Skip::AlreadyInjected => write!(f, "already instrumented"),
            Skip::PackagesPathTaken(at) => {
                write!(f, "the container mounts {at} over /opt/datadog-packages")
            }
            Skip::ContainerNotInjected => write!(f, "the container was not instrumented"),
        }
    }
}
