//! Captures the AdmissionReviews a real kube-apiserver sends (etcd + kube-apiserver and
//! kubectl built by `make kube-apiserver`): `capture_admission_reviews` (ignored: run it with
//! `cargo test --test kube_apiserver -- --ignored`) recreates the webhook's test assets,
//! `webhook/test-assets/admission-reviews/`, from `webhook/test-assets/capture.json`.

use apm_inject_tests::kube::{free_port, ApiServer, TestCa};
use apm_inject_tests::workspace;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// A MutatingWebhookConfiguration calling `https://127.0.0.1:<port><path>` for `resources`.
fn registration(
    name: &str,
    port: u16,
    path: &str,
    ca_pem: &str,
    operations: &[&str],
    resources: &[&str],
    failure: &str,
) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": format!("{name}.apm-inject.test"),
            "clientConfig": {
                "url": format!("https://127.0.0.1:{port}{path}"),
                "caBundle": base64(ca_pem.as_bytes()),
            },
            "rules": [{"operations": operations, "apiGroups": [""], "apiVersions": ["v1"], "resources": resources}],
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "failurePolicy": failure,
            "reinvocationPolicy": "IfNeeded",
            "timeoutSeconds": 10,
        }],
    })
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
#[ignore = "recreates webhook/test-assets/admission-reviews from webhook/test-assets/capture.json"]
fn capture_admission_reviews() {
    let assets = workspace().join("webhook/test-assets");
    let out_dir = assets.join("admission-reviews");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let api = ApiServer::start();
    let dir = api.dir.path().join("capture");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = TestCa::new("capture");
    let (_, cert, key) = ca.write(&dir);
    let port = free_port();
    let mut server = Command::new("/usr/bin/python3")
        .arg(assets.join("capture_server.py"))
        .args([&cert, &key])
        .arg(port.to_string())
        .arg(&out_dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    let capture: Value =
        serde_json::from_slice(&std::fs::read(assets.join("capture.json")).unwrap()).unwrap();
    for ns in capture["namespaces"].as_array().unwrap() {
        let labels: Vec<(&str, &str)> = ns["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        api.namespace(ns["name"].as_str().unwrap(), &labels);
    }
    api.create(&json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "kube-system"}}))
        .unwrap();
    api.create(&registration(
        "capture",
        port,
        "/capture",
        &ca.ca_pem,
        &["CREATE", "UPDATE"],
        &["pods", "configmaps"],
        "Fail",
    ))
    .unwrap();
    for object in capture["objects"].as_array().unwrap() {
        api.create(object)
            .unwrap_or_else(|e| panic!("{object}: {e}"));
    }
    let out = api.kubectl(&["label", "pod", "plain", "-n", "apps", "touched=yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = server.kill();
    let _ = server.wait();
    let count = std::fs::read_dir(&out_dir).unwrap().count();
    assert_eq!(count, capture["objects"].as_array().unwrap().len() + 1);
}
