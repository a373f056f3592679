//! The HTTPS server: `POST /injectlib` (AdmissionReview v1), `GET /healthz`, `GET /metrics`.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::namespaces::Namespaces;
use crate::review::{self, Request};
use crate::select::Namespace;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Largest request accepted: a pod is at most about 1.5 MiB in etcd; the review carries it
/// once for CREATE.
pub const MAX_BODY: usize = 8 << 20;
/// Bound on a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request shares.
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// Namespace labels.
    pub namespaces: Namespaces,
    /// The webhook's own namespace (never instrumented).
    pub own_namespace: String,
    /// Counters.
    pub metrics: Metrics,
}

/// The routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/injectlib", post(inject))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// Serves `router` over TLS on `listener` until the process ends.
pub async fn serve(listener: TcpListener, tls: TlsAcceptor, router: Router) -> std::io::Result<()> {
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors and the like: pause rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (tls, router) = (tls.clone(), router.clone());
        tokio::spawn(async move {
            let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await
            else {
                return;
            };
            let service = TowerToHyperService::new(router);
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn inject(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request = match Request::parse(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let namespace = match request.namespace() {
        Some(name) => shared.namespaces.get(name).await,
        None => Namespace {
            name: String::new(),
            labels: Ok(Default::default()),
        },
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let answer = review::answer(
        &request,
        &shared.config,
        &namespace,
        &shared.own_namespace,
        now,
    );
    shared.metrics.record(&answer.outcome);
    log(&request, &answer.outcome);
    ([(header::CONTENT_TYPE, "application/json")], answer.body).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
        .into_response()
}

/// One line per instrumented or failed pod on standard error.
fn log(request: &Request, outcome: &review::Outcome) {
    let r = &request.request;
    let pod = format!(
        "{}/{}",
        r.namespace.as_deref().unwrap_or(""),
        if r.name.is_empty() {
            "<generated>"
        } else {
            &r.name
        }
    );
    match outcome {
        review::Outcome::Injected(languages) => {
            let names: Vec<&str> = languages.iter().map(|l| l.id()).collect();
            eprintln!(
                "apm-inject-webhook: {pod}: instrumented ({})",
                names.join(", ")
            );
        }
        review::Outcome::Failed(_, message) => {
            eprintln!("apm-inject-webhook: {pod}: not instrumented: {message}")
        }
        _ => {}
    }
}
