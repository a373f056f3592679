//! The few Docker Engine API calls apm-inject makes, on dockerd's socket through
//! [`http_client`]: `GET /info` (the default runtime, after a reload), `GET /containers/json`
//! (a container's name, image and labels; the running containers) and
//! `GET /containers/{id}/json` (a running container's runtime and process).
//!
//! The shim looks a container up with the list endpoint filtered by id, never with
//! `/containers/{id}/json`: dockerd holds the container's lock while the runtime creates it, so
//! inspecting it from inside `create` would wait until the call times out.

use crate::http_client::{self, Endpoint};
use crate::shim::edit::Container;
use serde_json::Value;
use std::time::Instant;

/// What `GET /info` says about runtimes.
#[derive(Debug, PartialEq, Eq)]
pub struct Info {
    /// `DefaultRuntime`, e.g. `runc` or `dd-shim`.
    pub default_runtime: String,
    /// The runtimes dockerd knows, by name, with their paths.
    pub runtimes: Vec<(String, String)>,
}

/// A running container, as `status` and `doctor` describe it.
#[derive(Debug)]
pub struct Running {
    /// Short id (12 characters).
    pub id: String,
    /// What the shim sees of it.
    pub container: Container,
    /// The runtime it was started with (`HostConfig.Runtime`).
    pub runtime: String,
    /// Its first process on the host.
    pub pid: u32,
}

/// Largest reply read: a list of a few thousand containers.
const MAX_BODY: usize = 16 << 20;

/// How an endpoint is named in messages, e.g. `unix:///var/run/docker.sock`.
fn name(api: &Endpoint) -> String {
    match api {
        Endpoint::Unix(path) => format!("unix://{}", path.display()),
        Endpoint::Tcp(..) => format!("tcp://{}", api.host_header()),
    }
}

fn get(api: &Endpoint, path: &str, deadline: Instant) -> Result<Value, String> {
    let at = || format!("Docker API at {}: GET {path}", name(api));
    let request = hyper::Request::get(path)
        .body(Vec::new())
        .map_err(|e| format!("{}: {e}", at()))?;
    let response = http_client::send(api, request, deadline, MAX_BODY)
        .map_err(|e| format!("{}: {e}", at()))?;
    if !response.status().is_success() {
        return Err(format!("{}: status {}", at(), response.status()));
    }
    serde_json::from_slice(response.body()).map_err(|e| format!("{}: {e}", at()))
}

/// The daemon's runtimes.
pub fn info(api: &Endpoint, deadline: Instant) -> Result<Info, String> {
    let info = get(api, "/info", deadline)?;
    let runtimes = info["Runtimes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, r)| (name.clone(), r["path"].as_str().unwrap_or("").to_owned()))
        .collect();
    Ok(Info {
        default_runtime: info["DefaultRuntime"].as_str().unwrap_or("").to_owned(),
        runtimes,
    })
}

/// The container with id `id` (full id, as the runtime receives it); `Ok(None)` if Docker
/// does not know it (e.g. a container of containerd's own).
pub fn container(api: &Endpoint, id: &str, deadline: Instant) -> Result<Option<Container>, String> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        return Ok(None);
    }
    let query = format!("/containers/json?all=1&filters=%7B%22id%22%3A%5B%22{id}%22%5D%7D");
    let list = get(api, &query, deadline)?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["Id"].as_str() == Some(id))
        .map(summary))
}

/// The running containers.
pub fn running(api: &Endpoint, deadline: Instant) -> Result<Vec<Running>, String> {
    let list = get(api, "/containers/json", deadline)?;
    let mut running = Vec::new();
    for item in list.as_array().into_iter().flatten() {
        let Some(id) = item["Id"].as_str() else {
            continue;
        };
        let inspect = get(api, &format!("/containers/{id}/json"), deadline)?;
        running.push(Running {
            id: id.chars().take(12).collect(),
            container: summary(item),
            runtime: inspect["HostConfig"]["Runtime"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            pid: inspect["State"]["Pid"].as_u64().unwrap_or(0) as u32,
        });
    }
    Ok(running)
}

/// A container of the list endpoint.
fn summary(item: &Value) -> Container {
    Container {
        name: item["Names"][0]
            .as_str()
            .map(|n| n.trim_start_matches('/').to_owned()),
        image: item["Image"].as_str().map(str::to_owned),
        labels: item["Labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_entries_become_containers() {
        let item = serde_json::json!({
            "Id": "319e", "Names": ["/shop-api"], "Image": "shop/api:1",
            "Labels": {"team": "shop", "n": 1}
        });
        let c = summary(&item);
        assert_eq!(c.name.as_deref(), Some("shop-api"));
        assert_eq!(c.image.as_deref(), Some("shop/api:1"));
        assert_eq!(c.labels.len(), 1);
    }

    #[test]
    fn odd_ids_are_not_sent() {
        let deadline = Instant::now();
        for id in ["", "a\"b", "a/b", "x y", "é"] {
            let api = Endpoint::Unix("/nonexistent".into());
            assert_eq!(container(&api, id, deadline), Ok(None));
        }
    }
}
