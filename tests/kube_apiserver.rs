//! The webhook registered with a real kube-apiserver (etcd + kube-apiserver built by
//! `make kube-apiserver`): pods created through the API are stored mutated, Pod Security's
//! `restricted` level admits the mutated pods, and `failurePolicy: Ignore` keeps pods creatable
//! when the webhook is down, and a pod changed by a later webhook is not instrumented twice
//! (reinvocation). Also: the captured reviews over HTTPS give patches that an independent
//! JSONPatch implementation applies and that validate against Kubernetes' schema, the `deploy/`
//! manifests apply, `deploy/certificate.sh` works, and `capture_admission_reviews` (ignored)
//! recreates the webhook's captured test assets.
#![forbid(unsafe_code)]

use apm_inject_tests::kube::{free_port, registration, ApiServer, TestCa, Webhook};
use apm_inject_tests::workspace;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn pod(name: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": "python:3.11-slim"}]}
    })
}

fn init_names(pod: &Value) -> Vec<String> {
    pod["spec"]["initContainers"]
        .as_array()
        .map_or(vec![], |l| {
            l.iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect()
        })
}

/// A Python HTTPS server from the fixtures (`labeller.py`, `capture_server.py`) that prints
/// "ready" once listening; ended by PID when dropped.
struct PythonServer(Child);

impl PythonServer {
    fn start(script: &Path, args: &[&std::ffi::OsStr]) -> PythonServer {
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready", "{} did not start", script.display());
        PythonServer(child)
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn annotation<'a>(pod: &'a Value, key: &str) -> &'a Value {
    &pod["metadata"]["annotations"][key]
}

fn env_of<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// The value of one counter line of `/metrics`, 0 when absent.
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |n| n.parse().unwrap())
}

const REVIEWS_SKIPPED: &str = "apm_inject_webhook_reviews{outcome=\"skipped\"}";
const PYTHON_INJECTED: &str =
    "admission_webhooks_library_injection_attempts{language=\"python\",injected=\"true\"}";
const PYTHON_ERRORS: &str = "admission_webhooks_library_injection_errors{language=\"python\"}";

#[test]
fn pods_created_through_the_api_server_are_stored_instrumented_per_the_rules() {
    let api = ApiServer::start();
    api.namespace("apps", &[]);
    api.namespace("billing", &[("team", "billing")]);
    api.namespace("jenkins", &[]);
    api.namespace("elsewhere", &[]);
    api.namespace(
        "restricted",
        &[("pod-security.kubernetes.io/enforce", "restricted")],
    );
    let webhook = Webhook::start(
        &api.dir.path().join("webhook"),
        &workspace().join("webhook/test-assets/config.yaml"),
        Some(&api.kubeconfig),
    );
    assert_eq!(webhook.get("/healthz"), "ok\n");
    api.create(&registration(
        "a-apm-inject",
        webhook.port,
        "/injectlib",
        &webhook.ca_pem(),
        &["CREATE"],
        &["pods"],
        "Ignore",
    ))
    .unwrap();
    // A second webhook, called after ours, that changes every pod: the API server then calls
    // ours again (reinvocationPolicy IfNeeded) with a pod that has our init containers.
    let dir = api.dir.path().join("labeller");
    std::fs::create_dir_all(&dir).unwrap();
    let labeller_ca = TestCa::new("labeller");
    let (_, cert, key) = labeller_ca.write(&dir);
    let labeller_port = free_port();
    let _labeller = PythonServer::start(
        &workspace().join("tests/fixtures/k8s/labeller.py"),
        &[
            cert.as_os_str(),
            key.as_os_str(),
            labeller_port.to_string().as_ref(),
        ],
    );
    api.create(&registration(
        "b-labeller",
        labeller_port,
        "/",
        &labeller_ca.ca_pem,
        &["CREATE"],
        &["pods"],
        "Fail",
    ))
    .unwrap();

    // A plain pod of a namespace the `apps` target names: stored with the injector and the
    // target's libraries, once, although our webhook was called twice for it.
    let before = webhook.get("/metrics");
    let stored = api.create(&pod("web", "apps")).unwrap();
    let after = webhook.get("/metrics");
    assert_eq!(stored["metadata"]["labels"]["labelled"], "yes");
    assert_eq!(
        init_names(&stored),
        [
            "datadog-init-apm-inject",
            "datadog-lib-js-init",
            "datadog-lib-python-init"
        ]
    );
    assert_eq!(
        counter(&after, REVIEWS_SKIPPED) - counter(&before, REVIEWS_SKIPPED),
        1,
        "the reinvocation is answered as already_injected\n{after}"
    );
    let target: Value = serde_json::from_str(
        annotation(&stored, "internal.apm.datadoghq.com/applied-target")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(target["name"], "apps");
    let app = &stored["spec"]["containers"][0];
    let mounts: Vec<&str> = app["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    for path in [
        "/etc/ld.so.preload",
        "/opt/datadog-packages/datadog-apm-inject",
        "/opt/datadog-packages/datadog-apm-library-python",
    ] {
        assert!(mounts.contains(&path), "{path} not in {mounts:?}");
    }
    assert_eq!(
        env_of(app, "LD_PRELOAD").unwrap()["value"],
        "/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so"
    );
    assert_eq!(
        env_of(app, "DD_INJECT_SENDER_TYPE").unwrap()["value"],
        "k8s"
    );
    assert!(env_of(app, "DD_INJECT_START_TIME").is_some());
    assert_eq!(
        env_of(app, "DD_ENV").unwrap()["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );

    // The opt-out label wins over the target.
    let mut opted_out = pod("opted-out", "apps");
    opted_out["metadata"]["labels"]["admission.datadoghq.com/enabled"] = json!("false");
    assert!(init_names(&api.create(&opted_out).unwrap()).is_empty());

    // An annotation chooses the library and its version.
    let mut annotated = pod("annotated", "apps");
    annotated["metadata"]["annotations"] =
        json!({"admission.datadoghq.com/python-lib.version": "v3"});
    let stored = api.create(&annotated).unwrap();
    assert_eq!(
        init_names(&stored),
        ["datadog-init-apm-inject", "datadog-lib-python-init"]
    );
    assert_eq!(
        stored["spec"]["initContainers"][1]["image"],
        "apm-inject/dd-lib-python-init:v3"
    );

    // Targets: namespace labels and pod labels, first match wins; a pod no target selects is
    // stored unchanged.
    let mut api_pod = pod("billing-api", "billing");
    api_pod["metadata"]["labels"] = json!({"app": "api"});
    let stored = api.create(&api_pod).unwrap();
    assert_eq!(
        init_names(&stored),
        ["datadog-init-apm-inject", "datadog-lib-python-init"]
    );
    assert_eq!(
        env_of(&stored["spec"]["containers"][0], "DD_PROFILING_ENABLED").unwrap()["value"],
        "auto"
    );
    let target: Value = serde_json::from_str(
        annotation(&stored, "internal.apm.datadoghq.com/applied-target")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(target["name"], "billing-api");
    let stored = api.create(&pod("billing-batch", "billing")).unwrap();
    assert!(init_names(&stored).is_empty());
    assert!(annotation(&stored, "internal.apm.datadoghq.com/applied-target").is_null());
    assert!(init_names(&api.create(&pod("other", "elsewhere")).unwrap()).is_empty());

    // A disabled namespace wins over annotations.
    let mut agent = pod("agent", "jenkins");
    agent["metadata"]["annotations"] = json!({"admission.datadoghq.com/js-lib.version": "v5"});
    assert!(init_names(&api.create(&agent).unwrap()).is_empty());

    // Pod Security `restricted` (checked after mutation) admits the mutated pod: the init
    // containers get a compliant security context.
    let mut restricted = pod("secure", "restricted");
    restricted["spec"]["securityContext"] = json!({"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}});
    restricted["spec"]["containers"][0]["securityContext"] =
        json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
    let stored = api
        .create(&restricted)
        .unwrap_or_else(|e| panic!("restricted pod refused: {e}"));
    assert_eq!(init_names(&stored).len(), 3);
    for init in stored["spec"]["initContainers"].as_array().unwrap() {
        let context = &init["securityContext"];
        assert_eq!(context["allowPrivilegeEscalation"], false, "{init}");
        assert_eq!(context["runAsNonRoot"], true, "{init}");
        assert_eq!(context["capabilities"]["drop"], json!(["ALL"]), "{init}");
        assert_eq!(
            context["seccompProfile"]["type"], "RuntimeDefault",
            "{init}"
        );
    }

    // Limits too small for the init containers: stored unchanged but for the reason.
    let mut small = pod("tiny", "apps");
    small["spec"]["containers"][0]["resources"] =
        json!({"limits": {"cpu": "10m", "memory": "32Mi"}});
    let stored = api.create(&small).unwrap();
    assert!(init_names(&stored).is_empty());
    assert!(
        annotation(&stored, "apm.datadoghq.com/injection-error")
            .as_str()
            .unwrap()
            .contains("too low"),
        "{stored}"
    );

    let metrics = webhook.get("/metrics");
    // web, annotated, billing-api, secure; the metrics count reviews, and the API server
    // reviewed `tiny` twice (reinvoked after the labeller), instrumented pods once each.
    assert_eq!(counter(&metrics, PYTHON_INJECTED), 4, "{metrics}");
    assert_eq!(counter(&metrics, PYTHON_ERRORS), 2, "{metrics}");

    // The webhook down: failurePolicy Ignore keeps pods creatable, unchanged.
    drop(webhook);
    let stored = api.create(&pod("while-down", "apps")).unwrap();
    assert!(init_names(&stored).is_empty());
    assert_eq!(stored["metadata"]["labels"]["labelled"], "yes");
}

#[test]
fn deploy_manifests_apply_and_the_certificate_script_registers_its_ca() {
    let api = ApiServer::start();
    let deploy = workspace().join("deploy");
    let out = api.kubectl(&["apply", "-f", &deploy.to_string_lossy()]);
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(out.status.success(), "{}", text(&out));
    // certificate.sh runs `kubectl`: the one built with the API server.
    let path = format!(
        "{}:{}",
        apm_inject_tests::kube::k8s_binary("kubectl")
            .parent()
            .unwrap()
            .display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(deploy.join("certificate.sh"))
        .arg(format!("--kubeconfig={}", api.kubeconfig.display()))
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let secret = api.kubectl(&[
        "get",
        "secret",
        "-n",
        "apm-inject",
        "apm-inject-webhook-tls",
        "-o",
        "json",
    ]);
    let secret: Value = serde_json::from_slice(&secret.stdout).unwrap();
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let hook = api.kubectl(&[
        "get",
        "mutatingwebhookconfiguration",
        "apm-inject",
        "-o",
        "json",
    ]);
    let hook: Value = serde_json::from_slice(&hook.stdout).unwrap();
    let webhook = &hook["webhooks"][0];
    assert!(webhook["clientConfig"]["caBundle"].as_str().unwrap().len() > 100);
    assert_eq!(webhook["failurePolicy"], "Ignore");
    assert_eq!(webhook["timeoutSeconds"], 10);
}

#[test]
fn captured_reviews_over_https_give_patches_that_validate_against_the_schema() {
    let api = ApiServer::start();
    let assets = workspace().join("webhook/test-assets");
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
    let webhook = Webhook::start(
        &api.dir.path().join("webhook"),
        &assets.join("config.yaml"),
        Some(&api.kubeconfig),
    );
    let mut reviews: Vec<_> = std::fs::read_dir(assets.join("admission-reviews"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .ends_with("-create.json")
        })
        .collect();
    reviews.sort();
    let out_dir = api.dir.path().join("patched");
    std::fs::create_dir_all(&out_dir).unwrap();
    let venv = workspace().join("target/tools/k8s-venv/bin");
    let out = Command::new(venv.join("python3"))
        .arg(workspace().join("tests/fixtures/k8s/post_reviews.py"))
        .arg(format!("https://127.0.0.1:{}/injectlib", webhook.port))
        .arg(webhook.ca_file())
        .arg(&out_dir)
        .args(&reviews)
        .output()
        .expect("target/tools/k8s-venv (make tools)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let patched = report
        .lines()
        .filter(|l| l.contains(" patched=True"))
        .count();
    assert!(patched >= 12, "{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("plain-create.json patched=True")),
        "{report}"
    );
    let pods: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("settings")
        })
        .collect();
    let out = Command::new(venv.join("kubernetes-validate"))
        .args(["--strict", "-k", "1.36.0"])
        .args(&pods)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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
    let server = PythonServer::start(
        &assets.join("capture_server.py"),
        &[
            cert.as_os_str(),
            key.as_os_str(),
            port.to_string().as_ref(),
            out_dir.as_os_str(),
        ],
    );
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
    drop(server);
    let count = std::fs::read_dir(&out_dir).unwrap().count();
    assert_eq!(count, capture["objects"].as_array().unwrap().len() + 1);
}
