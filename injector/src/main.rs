//! `apm-inject`: the command-line side of single-step APM instrumentation.
//!
//! `explain` shows, without running anything, what `launcher.preload.so` would decide for a
//! command in the current environment, using the library's own decision code.

mod command;
mod config;
mod explain;
mod packages;
mod std_host;

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
    /// Checks or applies the host configuration (host_config.yaml).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validates FILE (default: host_config.yaml in the configuration directory).
    Check {
        /// The YAML file.
        file: Option<PathBuf>,
    },
    /// Validates FILE and compiles it, atomically, into host_config.bin for the library.
    Apply {
        /// The YAML file.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Explain {
            json,
            packages_root,
            cmd,
        } => explain::run(&cmd, packages_root, json),
        Command::Config {
            action: ConfigAction::Check { file },
        } => config::check(file),
        Command::Config {
            action: ConfigAction::Apply { file },
        } => config::apply(file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("apm-inject: {message}");
            ExitCode::from(2)
        }
    }
}
