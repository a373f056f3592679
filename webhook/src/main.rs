//! `apm-inject-webhook` (also `apm-inject webhook`): serves the admission webhook, or checks a
//! configuration file.
//!
//! ```text
//! apm-inject webhook --config FILE --tls-cert FILE --tls-key FILE --listen ADDR:PORT [--namespace NS]
//! apm-inject webhook check CONFIG
//! ```
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use webhook::{config, metrics, namespaces, server, tls};

#[derive(Parser)]
#[command(
    name = "apm-inject webhook",
    version,
    about = "Kubernetes admission webhook that instruments pods",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Serve,
}

#[derive(Subcommand)]
enum Command {
    /// Validates a configuration file (errors as file:line:column: message).
    Check {
        /// The configuration file.
        config: PathBuf,
    },
}

#[derive(clap::Args)]
struct Serve {
    /// Configuration file (Datadog's `datadog.apm.instrumentation` Helm values).
    #[arg(long, value_name = "FILE", required = true)]
    config: Option<PathBuf>,
    /// Server certificate chain, PEM (re-read when it changes).
    #[arg(long, value_name = "FILE", required = true)]
    tls_cert: Option<PathBuf>,
    /// Server private key, PEM (re-read when it changes).
    #[arg(long, value_name = "FILE", required = true)]
    tls_key: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:8443.
    #[arg(long, value_name = "ADDR:PORT", required = true)]
    listen: Option<String>,
    /// The webhook's own namespace, never instrumented (default: POD_NAMESPACE, else the
    /// service account's namespace).
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Check { config }) => config::load(&config).map(|_| {
            println!("{}: valid", config.display());
        }),
        None => serve(cli.serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apm-inject webhook: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: Serve) -> Result<(), String> {
    let required = |v: Option<PathBuf>| v.expect("clap requires it");
    let config = config::load(&required(args.config))?;
    let cert = tls::ReloadingCert::new(&required(args.tls_cert), &required(args.tls_key))?;
    let acceptor = tls::acceptor(cert)?;
    let listen = args.listen.expect("clap requires it");
    let own_namespace = args
        .namespace
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()
        })
        .unwrap_or_default()
        .trim()
        .to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("{listen}: {e}"))?;
        let namespaces = namespaces::Namespaces::connect().await;
        if let Some(why) = namespaces.unavailable() {
            eprintln!("apm-inject-webhook: namespace labels unavailable, pods will start uninstrumented: {why}");
        }
        let shared = Arc::new(server::Shared {
            config,
            namespaces,
            own_namespace,
            metrics: metrics::Metrics::default(),
        });
        eprintln!(
            "apm-inject-webhook: listening on https://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        tokio::select! {
            r = server::serve(listener, acceptor, server::router(shared)) => r.map_err(|e| e.to_string()),
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = terminated() => Ok(()),
        }
    })
}

/// Resolves on SIGTERM (how Kubernetes stops a pod).
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
