//! `apm-inject`: the command-line side of single-step APM instrumentation.
//!
//! `explain` shows, without running anything, what `launcher.preload.so` would decide for a
//! command in the current environment, using the library's own decision code. `install` and
//! `uninstall` put the packages and the `/etc/ld.so.preload` entry in place and take them out
//! again; `doctor` checks an installation; `flare` collects what support needs; `config`
//! validates and compiles the host configuration; `telemetry-forward` (also run as
//! `inject/telemetry-forward`) passes the tracers' entry-point telemetry on to the agent; run as
//! `inject/auto_inject_runc`, it is the OCI runtime shim for Docker and containerd ([`shim`]).
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod agent;
mod boot;
mod command;
mod config;
mod daemon_json;
mod docker_api;
mod docker_config;
mod docker_install;
mod docker_status;
mod doctor;
mod errors;
mod explain;
mod flare;
mod http_client;
mod install;
mod integration;
mod layout;
mod loadcheck;
mod lock;
mod logs;
mod manifest;
mod manual;
mod otelinject;
mod output;
mod package;
mod packages;
mod preload_file;
mod privilege;
mod redact;
mod shim;
mod signals;
mod status;
mod std_host;
mod support;
mod system_file;
mod telemetry;
mod transaction;
mod tree;
mod uninstall;

use clap::{CommandFactory, Parser, Subcommand};
use output::say_err;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "apm-inject",
    version,
    about = "Single-step APM instrumentation for Linux"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Shows what the launcher would decide for CMD, without running it.
    Explain {
        /// Prints JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Packages root to use instead of the one the launcher would find.
        #[arg(long, value_name = "DIR")]
        packages_root: Option<PathBuf>,
        /// The command, after `--`, e.g. `-- java -jar app.jar`.
        #[arg(required = true, last = true, value_name = "CMD")]
        cmd: Vec<OsString>,
    },
    /// Checks or applies the host configuration (host_config.yaml).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Lists the running processes the launcher decided on, with outcome and reason.
    Status {
        /// Prints JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Installs the packages shipped beside this CLI and lists the launcher in
    /// /etc/ld.so.preload, after proving it.
    Install {
        /// Root of the system to install into, e.g. a container image's filesystem.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// Also prints the `ENV LD_PRELOAD=...` line a container image needs.
        #[arg(long)]
        container: bool,
        /// Instruments the host's processes (/etc/ld.so.preload). Without --host or --docker:
        /// DD_APM_INSTRUMENTATION_ENABLED (host, docker, all), else the host and Docker if
        /// present.
        #[arg(long)]
        host: bool,
        /// Instruments Docker's containers: the runtime shim becomes Docker's default runtime.
        #[arg(long)]
        docker: bool,
    },
    /// Removes the launcher from /etc/ld.so.preload, then the packages.
    Uninstall {
        /// Root of the system to uninstall from.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// Also removes the configuration (/etc/datadog-agent/inject).
        #[arg(long)]
        purge: bool,
    },
    /// Checks the installation; exits non-zero if a check fails.
    Doctor {
        /// Prints JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Root of the system to check.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
    },
    /// Writes a tar.gz with what support needs, secrets redacted.
    Flare {
        /// Root of the system to describe.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// The archive to write (default: apm-inject-flare-<time>.tar.gz in the temporary
        /// directory).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// What the systemd unit runs at boot: finishes an interrupted install or uninstall, proves
    /// the installed launcher and lists it in /etc/ld.so.preload (or takes its entry out if it
    /// no longer loads).
    Boot {
        /// Root of the system.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
    },
    /// Prints the shell completion script for SHELL.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Prints the manual page (roff), e.g. `apm-inject man | man -l -`; with DIR, writes every
    /// page (one per subcommand too) into DIR.
    Man {
        /// Where to write the pages.
        dir: Option<PathBuf>,
    },
    /// Runs the Kubernetes admission webhook, or checks its configuration
    /// (`webhook check CONFIG`): runs `apm-inject-webhook`, installed beside this CLI.
    #[command(disable_help_flag = true)]
    Webhook {
        /// Arguments of `apm-inject-webhook`, e.g. `--config FILE --tls-cert FILE --tls-key
        /// FILE --listen 0.0.0.0:8443`.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<OsString>,
    },
    /// Writes the manifest of a package version directory into it (what `make dist` ships).
    #[command(hide = true)]
    Manifest {
        /// The version directory, e.g. dist/opt/datadog-packages/datadog-apm-inject/1.0.0.
        dir: PathBuf,
    },
    /// Forwards a tracer's entry-point telemetry (JSON on standard input) to the local agent;
    /// silent, always succeeds, ends within a second.
    TelemetryForward {
        /// What the tracer reports, e.g. `library_entrypoint`; accepted and ignored.
        #[arg(allow_hyphen_values = true, value_name = "KIND")]
        kind: Vec<OsString>,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validates FILE (default: host_config.yaml in the configuration directory).
    Check {
        /// Root of the system whose configuration directory is meant.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// The YAML file.
        file: Option<PathBuf>,
    },
    /// Validates FILE and compiles it, atomically, into host_config.bin for the library
    /// (creating the configuration directory if needed).
    Apply {
        /// Root of the system whose configuration directory is meant.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// The YAML file.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    if shim::invoked_as_shim() {
        shim::run();
    }
    if telemetry::invoked_as_forwarder() {
        return telemetry::run();
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Explain {
            json,
            packages_root,
            cmd,
        } => explain::run(&cmd, packages_root, json),
        Command::Config {
            action: ConfigAction::Check { root, file },
        } => config::check(&root, file),
        Command::Config {
            action: ConfigAction::Apply { root, file },
        } => config::apply(&root, file),
        Command::Status { json } => status::run(json),
        Command::Install {
            root,
            container,
            host,
            docker,
        } => install::run(&root, container, host, docker),
        Command::Uninstall { root, purge } => uninstall::run(&root, purge),
        Command::Doctor { json, root } => doctor::run(&root, json),
        Command::Flare { root, output } => flare::run(&root, output),
        Command::Manifest { dir } => manifest::run(&dir),
        Command::Boot { root } => boot::run(&root),
        Command::Completions { shell } => manual::completions(shell, Cli::command()),
        Command::Man { dir } => manual::man(Cli::command(), dir.as_deref()),
        Command::TelemetryForward { .. } => return telemetry::run(),
        Command::Webhook { args } => webhook(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            say_err!("apm-inject: {message}");
            // A change stopped by a signal ends by that signal, once rolled back.
            if let Some(signal) = signals::pending() {
                signals::die_by(signal);
            }
            ExitCode::from(2)
        }
    }
}

/// Replaces this process with `apm-inject-webhook` from the CLI's own directory: the webhook
/// (HTTPS, Kubernetes client) is a separate binary so that the CLI stays small.
fn webhook(args: &[OsString]) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let me = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let program = me.with_file_name("apm-inject-webhook");
    let error = std::process::Command::new(&program).args(args).exec();
    Err(format!("{}: {error}", program.display()))
}
