//! One HTTP/1.1 request over TCP or a Unix socket, finished by a deadline: the project's one
//! HTTP client (hyper 1 on a single-threaded tokio runtime), for the Docker API and the agent.
//!
//! Everything — name resolution, connection, request, response and body — counts against the
//! deadline; the body is capped at [`MAX_BODY`]. Blocking for the caller: it starts its own
//! runtime, so it is usable from plain `main` code.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use std::time::Instant;

/// Largest response body read.
pub const MAX_BODY: usize = 4 << 20;

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `host:port`; `host` may be a name.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix socket, e.g. `/var/run/docker.sock`.
    Unix(PathBuf),
}

impl Address {
    /// An address written as `unix:///path`, `/path` or `tcp://host:port`, as `DOCKER_HOST` and
    /// the agent's URL variables are; `None` otherwise.
    pub fn parse(text: &str) -> Option<Address> {
        if let Some(path) = text
            .strip_prefix("unix://")
            .or(text.starts_with('/').then_some(text))
        {
            return (!path.is_empty()).then(|| Address::Unix(PathBuf::from(path)));
        }
        let authority = text
            .strip_prefix("tcp://")
            .or_else(|| text.strip_prefix("http://"))?
            .trim_end_matches('/');
        let (host, port) = authority.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some(Address::Tcp {
            host: host.to_owned(),
            port: port.parse().ok()?,
        })
    }

    /// The `Host` header for this address (`localhost` for a socket, as Docker's clients send).
    fn host_header(&self) -> String {
        match self {
            Address::Tcp { host, port } => Address::host_header_of(host, *port),
            Address::Unix(_) => "localhost".to_owned(),
        }
    }

    fn host_header_of(host: &str, port: u16) -> String {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Address::Tcp { host, port } => {
                write!(f, "tcp://{}", Address::host_header_of(host, *port))
            }
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// A response: status and body.
#[derive(Debug)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// The body, at most [`MAX_BODY`] bytes.
    pub body: Vec<u8>,
}

/// A request to send.
pub struct Outgoing<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// Path and query, e.g. `/v1.41/info`.
    pub path: &'a str,
    /// Extra headers (`Host` and `Content-Length` are set here).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body, empty for none.
    pub body: Vec<u8>,
}

/// Sends `request` to `address` and reads the whole response, or gives up at `deadline`.
pub fn send(address: &Address, request: Outgoing, deadline: Instant) -> Result<Response, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
    let deadline = tokio::time::Instant::from_std(deadline);
    runtime.block_on(async {
        tokio::time::timeout_at(deadline, exchange(address, request))
            .await
            .unwrap_or_else(|_| Err("timed out".to_owned()))
    })
}

async fn exchange(address: &Address, outgoing: Outgoing<'_>) -> Result<Response, String> {
    let mut builder = Request::builder()
        .method(outgoing.method)
        .uri(outgoing.path)
        .header("Host", address.host_header())
        .header("Content-Length", outgoing.body.len());
    for (name, value) in outgoing.headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::from(outgoing.body)))
        .map_err(|e| format!("invalid request: {e}"))?;
    let response = match address {
        Address::Tcp { host, port } => {
            let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
            round_trip(stream, request).await?
        }
        Address::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
            round_trip(stream, request).await?
        }
    };
    Ok(response)
}

async fn round_trip<S>(stream: S, request: Request<Full<Bytes>>) -> Result<Response, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP request: {e}"))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("HTTP response body: {e}"))?
        .to_bytes()
        .to_vec();
    driver.abort();
    Ok(Response { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// A one-shot server on a Unix socket that answers `reply` and hands back the request.
    fn serve_once(
        reply: &'static [u8],
    ) -> (PathBuf, std::thread::JoinHandle<Vec<u8>>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = vec![0u8; 4096];
            let n = stream.read(&mut request).unwrap();
            request.truncate(n);
            stream.write_all(reply).unwrap();
            request
        });
        (path, handle, dir)
    }

    #[test]
    fn request_over_a_unix_socket() {
        let (path, server, _dir) =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{\"a\"");
        let deadline = Instant::now() + Duration::from_secs(5);
        let outgoing = Outgoing {
            method: "GET",
            path: "/v1.41/info",
            headers: &[],
            body: Vec::new(),
        };
        let response = send(&Address::Unix(path), outgoing, deadline).unwrap();
        assert_eq!((response.status, &response.body[..]), (200, &b"{\"a\""[..]));
        let request = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(
            request.starts_with("GET /v1.41/info HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.to_ascii_lowercase().contains("host: localhost"),
            "{request}"
        );
    }

    #[test]
    fn a_silent_server_ends_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let start = Instant::now();
        let outgoing = Outgoing {
            method: "GET",
            path: "/",
            headers: &[],
            body: Vec::new(),
        };
        let result = send(
            &Address::Unix(path),
            outgoing,
            start + Duration::from_millis(300),
        );
        assert_eq!(result.unwrap_err(), "timed out");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn addresses_are_parsed() {
        assert_eq!(
            Address::parse("unix:///var/run/docker.sock"),
            Some(Address::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            Address::parse("/run/d.sock"),
            Some(Address::Unix("/run/d.sock".into()))
        );
        assert_eq!(
            Address::parse("tcp://127.0.0.1:2375"),
            Some(Address::Tcp {
                host: "127.0.0.1".into(),
                port: 2375
            })
        );
        assert_eq!(
            Address::parse("http://[::1]:8126/"),
            Some(Address::Tcp {
                host: "::1".into(),
                port: 8126
            })
        );
        for bad in [
            "",
            "unix://",
            "tcp://host",
            "tcp://h:99999",
            "ftp://x:1",
            "relative.sock",
        ] {
            assert_eq!(Address::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn request_over_tcp() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).unwrap();
            stream
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        });
        let outgoing = Outgoing {
            method: "POST",
            path: "/x",
            headers: &[("Content-Type", "application/json")],
            body: b"{}".to_vec(),
        };
        let address = Address::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let response = send(&address, outgoing, Instant::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(response.status, 404);
        server.join().unwrap();
    }

    #[test]
    fn nothing_listening_is_an_error() {
        let outgoing = Outgoing {
            method: "GET",
            path: "/",
            headers: &[],
            body: Vec::new(),
        };
        let err = send(
            &Address::Unix("/nonexistent/docker.sock".into()),
            outgoing,
            Instant::now() + Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(err.contains("cannot connect"), "{err}");
    }
}
