//! Namespace labels, read from the API server (in-cluster credentials, or `KUBECONFIG`) and
//! kept for a few seconds: targets may select namespaces by label, and Pod Security's
//! `restricted` level changes the init containers' security context.

use crate::select::Namespace;
use crate::selector::Labels;
use k8s_openapi::api::core::v1::Namespace as KubeNamespace;
use kube::api::Api;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long labels read from the API server are reused.
const TTL: Duration = Duration::from_secs(10);
/// Bound on one read: the API server gives the whole webhook call 10 s.
const TIMEOUT: Duration = Duration::from_secs(3);

/// A source of namespace labels.
pub struct Namespaces {
    client: Result<kube::Client, String>,
    cache: Mutex<HashMap<String, (Instant, Labels)>>,
}

impl Namespaces {
    /// Connects as `kube` does by default (in-cluster service account, else `KUBECONFIG` or
    /// `~/.kube/config`). Without credentials every lookup fails, and so does every pod that
    /// needs one (it starts unchanged).
    pub async fn connect() -> Namespaces {
        Namespaces {
            client: kube::Client::try_default().await.map_err(|e| e.to_string()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Why namespace labels cannot be read, if they cannot.
    pub fn unavailable(&self) -> Option<&str> {
        self.client.as_ref().err().map(String::as_str)
    }

    /// The namespace `name`, its labels or why they are unknown.
    pub async fn get(&self, name: &str) -> Namespace {
        Namespace {
            name: name.to_string(),
            labels: self.labels(name).await,
        }
    }

    async fn labels(&self, name: &str) -> Result<Labels, String> {
        if let Some((at, labels)) = self.lock().get(name) {
            if at.elapsed() < TTL {
                return Ok(labels.clone());
            }
        }
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let api: Api<KubeNamespace> = Api::all(client.clone());
        let namespace = tokio::time::timeout(TIMEOUT, api.get(name))
            .await
            .map_err(|_| format!("no answer from the API server within {TIMEOUT:?}"))?
            .map_err(|e| e.to_string())?;
        let labels = namespace.metadata.labels.unwrap_or_default();
        self.lock()
            .insert(name.to_string(), (Instant::now(), labels.clone()));
        Ok(labels)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Labels)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}
