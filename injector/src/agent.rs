//! Whether the Datadog agent is reachable where the tracers look for it (see
//! [`crate::telemetry`] for how they find it: `DD_TRACE_AGENT_URL`, `DD_AGENT_HOST` and
//! `DD_TRACE_AGENT_PORT`, the socket `/var/run/datadog/apm.socket`, `127.0.0.1:8126`), as
//! `doctor` and `install` report it. Reachable means a connection is accepted, which is all a
//! tracer needs to start sending.

use crate::http_client::Endpoint;
use crate::telemetry::{agent, DEFAULT_SOCKET};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long a connection may take.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Where the agent is expected, e.g. `127.0.0.1:8126` or `unix:///var/run/datadog/apm.socket`,
/// and whether it accepts a connection there (`Err` says why not).
pub fn probe() -> (String, Result<(), String>) {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(endpoint) = agent(&env, Path::new(DEFAULT_SOCKET).exists()) else {
        let url = env("DD_TRACE_AGENT_URL").unwrap_or_default();
        return (
            url.clone(),
            Err(format!(
                "DD_TRACE_AGENT_URL={url} is not an http:// or unix:// URL the tracers can use"
            )),
        );
    };
    match endpoint {
        Endpoint::Tcp(host, port) => {
            let shown = match host.contains(':') {
                true => format!("[{host}]:{port}"),
                false => format!("{host}:{port}"),
            };
            let reached = (host.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve {host}: {e}"))
                .and_then(|mut addresses| {
                    let mut last = String::from("no address");
                    addresses
                        .find_map(|a| match TcpStream::connect_timeout(&a, TIMEOUT) {
                            Ok(_) => Some(()),
                            Err(e) => {
                                last = e.to_string();
                                None
                            }
                        })
                        .ok_or(last)
                });
            (shown, reached)
        }
        Endpoint::Unix(path) => (
            format!("unix://{}", path.display()),
            UnixStream::connect(&path)
                .map(drop)
                .map_err(|e| e.to_string()),
        ),
    }
}
