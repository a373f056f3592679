//! `apm-inject`: the command-line side of single-step APM instrumentation.
//!
//! `explain` shows, without running anything, what `launcher.preload.so` would decide for a
//! command in the current environment, using the library's own decision code.
//! `telemetry-forward` (also run as `inject/telemetry-forward`) passes the tracers' entry-point
//! telemetry on to the agent.

mod command;
mod explain;
mod packages;
mod telemetry;

use clap::{Parser, Subcommand};
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
    /// Forwards a tracer's entry-point telemetry (JSON on standard input) to the local agent;
    /// silent, always succeeds, ends within a second.
    TelemetryForward {
        /// What the tracer reports, e.g. `library_entrypoint`; accepted and ignored.
        #[arg(allow_hyphen_values = true, value_name = "KIND")]
        kind: Vec<OsString>,
    },
}

fn main() -> ExitCode {
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
        Command::TelemetryForward { .. } => return telemetry::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("apm-inject: {message}");
            ExitCode::from(2)
        }
    }
}
