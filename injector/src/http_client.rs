//! The project's one HTTP client: a single HTTP/1.1 request over TCP or a Unix socket, with a
//! deadline, on hyper 1 and a current-thread tokio runtime.
//!
//! Used by the telemetry forwarder (the agent's telemetry proxy) and meant for every other
//! client in the CLI and the container shim (the Docker API on its socket). One call is one
//! connection, one request and the whole reply: short-lived commands have nothing to pool,
//! and a fresh runtime per call keeps callers synchronous.
//!
//! ```no_run
//! # use std::time::{Duration, Instant};
//! let docker = Endpoint::Unix("/run/docker.sock".into());
//! let request = hyper::Request::get("/v1.41/containers/web/json").body(Vec::new()).unwrap();
//! let reply = send(&docker, request, Instant::now() + Duration::from_secs(2), 1 << 20)?;
//! assert!(reply.status().is_success());
//! # Ok::<(), Error>(())
//! ```

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A host name or address (IPv6 without brackets, e.g. `::1`) and a port.
    Tcp(String, u16),
    /// A Unix socket, e.g. `/var/run/datadog/apm.socket`.
    Unix(PathBuf),
}

impl Endpoint {
    /// The `Host` header sent when the request has none: `host:port` (`[v6]:port`), or
    /// `localhost` for a Unix socket.
    pub fn host_header(&self) -> String {
        match self {
            Endpoint::Tcp(host, port) if host.contains(':') => format!("[{host}]:{port}"),
            Endpoint::Tcp(host, port) => format!("{host}:{port}"),
            Endpoint::Unix(_) => "localhost".to_owned(),
        }
    }
}

/// A server's complete reply: status, headers and the whole body.
pub type Response = hyper::Response<Bytes>;

/// Why a request got no complete reply.
#[derive(Debug)]
pub enum Error {
    /// The runtime could not start (out of descriptors or threads).
    Runtime(std::io::Error),
    /// No connection: name not resolved, refused, socket missing.
    Connect(std::io::Error),
    /// The exchange failed: connection closed early, malformed reply, invalid request.
    Http(hyper::Error),
    /// The body was larger than the caller's limit, or broke off.
    Body(String),
    /// The deadline passed first.
    TimedOut,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Runtime(e) => write!(f, "cannot start the HTTP client: {e}"),
            Error::Connect(e) => write!(f, "cannot connect: {e}"),
            Error::Http(e) => write!(f, "HTTP exchange failed: {e}"),
            Error::Body(e) => write!(f, "reply body: {e}"),
            Error::TimedOut => write!(f, "no reply in time"),
        }
    }
}

impl std::error::Error for Error {}

/// Sends `request` to `endpoint` and reads the whole reply, of at most `max_body` body bytes,
/// all before `deadline`. The request's URI is its path and query (`/v2/apmtelemetry`); a
/// `Host` header is added when it has none ([`Endpoint::host_header`]).
pub fn send(
    endpoint: &Endpoint,
    request: Request<Vec<u8>>,
    deadline: Instant,
    max_body: usize,
) -> Result<Response, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(Error::Runtime)?;
    let result = runtime.block_on(async {
        let exchange = exchange(endpoint, request, max_body);
        tokio::time::timeout_at(deadline.into(), exchange)
            .await
            .unwrap_or(Err(Error::TimedOut))
    });
    // A name lookup still running on a blocking thread is abandoned, not waited for.
    runtime.shutdown_background();
    result
}

/// Connects and runs the exchange.
async fn exchange(
    endpoint: &Endpoint,
    mut request: Request<Vec<u8>>,
    max_body: usize,
) -> Result<Response, Error> {
    if !request.headers().contains_key(HOST) {
        let host = HeaderValue::from_str(&endpoint.host_header())
            .unwrap_or(HeaderValue::from_static("localhost"));
        request.headers_mut().insert(HOST, host);
    }
    let request = request.map(|body| Full::new(Bytes::from(body)));
    match endpoint {
        Endpoint::Tcp(host, port) => {
            let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(Error::Connect)?;
            round_trip(stream, request, max_body).await
        }
        Endpoint::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(Error::Connect)?;
            round_trip(stream, request, max_body).await
        }
    }
}

/// One request and its reply on a connected stream.
async fn round_trip<S>(
    stream: S,
    request: Request<Full<Bytes>>,
    max_body: usize,
) -> Result<Response, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(Error::Http)?;
    // The connection is driven beside the request; it ends when the reply is complete.
    let driver = tokio::spawn(connection);
    let reply = sender.send_request(request).await.map_err(Error::Http)?;
    let (parts, body) = reply.into_parts();
    let body = Limited::new(body, max_body)
        .collect()
        .await
        .map_err(|e| Error::Body(e.to_string()))?
        .to_bytes();
    driver.abort();
    Ok(Response::from_parts(parts, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::os::unix::net::UnixListener;
    use std::time::Duration;

    /// Reads one request (head and `Content-Length` body) from `conn`, answers `reply`, and
    /// returns the request as text.
    fn serve_one(mut conn: impl Read + Write, reply: &[u8]) -> String {
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&received).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .map_or(0, |n| n.parse().unwrap());
                if body.len() >= length {
                    break;
                }
            }
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "request cut short: {text}");
            received.extend_from_slice(&buf[..n]);
        }
        conn.write_all(reply).unwrap();
        String::from_utf8(received).unwrap()
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn posts_over_tcp_and_reads_the_reply() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let reply = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nX-Seen: yes\r\n\r\nok";
            serve_one(listener.accept().unwrap().0, reply)
        });
        let request = Request::post("/v2/things?x=1")
            .header("Content-Type", "application/json")
            .body(b"{\"a\":1}".to_vec())
            .unwrap();
        let reply = send(
            &Endpoint::Tcp("127.0.0.1".into(), port),
            request,
            soon(),
            64,
        )
        .unwrap();
        assert_eq!(reply.status(), StatusCode::ACCEPTED);
        assert_eq!(reply.headers()["x-seen"], "yes");
        assert_eq!(&reply.body()[..], b"ok");
        let seen = server.join().unwrap();
        assert!(
            seen.starts_with("POST /v2/things?x=1 HTTP/1.1\r\n"),
            "{seen}"
        );
        assert!(
            seen.contains(&format!("host: 127.0.0.1:{port}\r\n")),
            "{seen}"
        );
        assert!(seen.contains("content-length: 7\r\n"), "{seen}");
        assert!(seen.ends_with("\r\n\r\n{\"a\":1}"), "{seen}");
    }

    #[test]
    fn gets_over_a_unix_socket_with_a_chunked_reply() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"I\r\n6\r\nd\":1}\n\r\n0\r\n\r\n";
            serve_one(listener.accept().unwrap().0, reply)
        });
        let request = Request::get("/v1.41/containers/web/json")
            .body(Vec::new())
            .unwrap();
        let reply = send(&Endpoint::Unix(path), request, soon(), 1024).unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        assert_eq!(&reply.body()[..], b"{\"Id\":1}\n");
        let seen = server.join().unwrap();
        assert!(
            seen.starts_with("GET /v1.41/containers/web/json HTTP/1.1\r\n"),
            "{seen}"
        );
        assert!(seen.contains("host: localhost\r\n"), "{seen}");
    }

    #[test]
    fn a_host_header_given_is_kept() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            serve_one(
                listener.accept().unwrap().0,
                b"HTTP/1.1 204 No Content\r\n\r\n",
            )
        });
        let request = Request::get("/")
            .header("Host", "docker")
            .body(Vec::new())
            .unwrap();
        let reply = send(&Endpoint::Tcp("127.0.0.1".into(), port), request, soon(), 0).unwrap();
        assert_eq!(reply.status(), StatusCode::NO_CONTENT);
        let seen = server.join().unwrap();
        assert!(seen.contains("host: docker\r\n"), "{seen}");
        assert!(!seen.contains("127.0.0.1"), "{seen}");
    }

    #[test]
    fn a_silent_server_costs_at_most_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let start = Instant::now();
        let request = Request::get("/").body(Vec::new()).unwrap();
        let deadline = start + Duration::from_millis(300);
        let result = send(
            &Endpoint::Tcp("127.0.0.1".into(), port),
            request,
            deadline,
            64,
        );
        assert!(matches!(result, Err(Error::TimedOut)), "{result:?}");
        assert!(
            start.elapsed() < Duration::from_millis(800),
            "{:?}",
            start.elapsed()
        );
        drop(listener);
    }

    #[test]
    fn a_body_over_the_limit_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
            serve_one(listener.accept().unwrap().0, reply)
        });
        let request = Request::get("/").body(Vec::new()).unwrap();
        let result = send(&Endpoint::Tcp("127.0.0.1".into(), port), request, soon(), 4);
        assert!(matches!(result, Err(Error::Body(_))), "{result:?}");
    }

    #[test]
    fn no_server_is_a_connect_error() {
        let dir = tempfile::tempdir().unwrap();
        let request = Request::get("/").body(Vec::new()).unwrap();
        let result = send(
            &Endpoint::Unix(dir.path().join("none.sock")),
            request,
            soon(),
            4,
        );
        assert!(matches!(result, Err(Error::Connect(_))), "{result:?}");
        let garbage = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = garbage.local_addr().unwrap().port();
        std::thread::spawn(move || serve_one(garbage.accept().unwrap().0, b"SSH-2.0-x\r\n"));
        let request = Request::get("/").body(Vec::new()).unwrap();
        let result = send(&Endpoint::Tcp("127.0.0.1".into(), port), request, soon(), 4);
        assert!(matches!(result, Err(Error::Http(_))), "{result:?}");
    }

    #[test]
    fn host_headers_bracket_ipv6() {
        assert_eq!(
            Endpoint::Tcp("::1".into(), 8126).host_header(),
            "[::1]:8126"
        );
        assert_eq!(Endpoint::Tcp("agent".into(), 80).host_header(), "agent:80");
        assert_eq!(Endpoint::Unix("/s".into()).host_header(), "localhost");
    }
}
