//! The webhook's answers to AdmissionReviews captured from a real kube-apiserver
//! (`test-assets/admission-reviews/`, recreated by `capture_admission_reviews` in the
//! workspace's `tests/kube_apiserver.rs` from `test-assets/capture.json`), with the
//! configuration `test-assets/config.yaml`.
#![forbid(unsafe_code)]

use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use webhook::config::{self, Config};
use webhook::review::{answer, Outcome, Request};
use webhook::select::{Namespace, Skip};

const NOW: u64 = 1_700_000_000;
const LAUNCHER: &str =
    "/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so";

fn assets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-assets")
}

fn captured(name: &str) -> Value {
    let path = assets()
        .join("admission-reviews")
        .join(format!("{name}.json"));
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn test_config() -> Config {
    config::load(&assets().join("config.yaml")).unwrap()
}

/// The namespace as the capture created it (labels from `capture.json`).
fn namespace_of(review: &Value) -> Namespace {
    let name = review["request"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let capture: Value =
        serde_json::from_slice(&std::fs::read(assets().join("capture.json")).unwrap()).unwrap();
    let labels: BTreeMap<String, String> = capture["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name.as_str())
        .map(|n| serde_json::from_value(n["labels"].clone()).unwrap())
        .unwrap_or_default();
    Namespace {
        name,
        labels: Ok(labels),
    }
}

/// The webhook's answer to `review`: (response, the pod after the patch, outcome).
struct Answered {
    response: Value,
    pod: Value,
    outcome: Outcome,
}

fn answer_with(review: &Value, config: &Config, namespace: &Namespace) -> Answered {
    let body = serde_json::to_vec(review).unwrap();
    let request = Request::parse(&body).unwrap();
    let answered = answer(&request, config, namespace, "apm-inject", NOW);
    let out: Value = serde_json::from_slice(&answered.body).unwrap();
    assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(out["kind"], "AdmissionReview");
    let response = out["response"].clone();
    assert_eq!(response["uid"], review["request"]["uid"]);
    assert_eq!(response["allowed"], true, "{response}");
    let mut pod = review["request"]["object"].clone();
    if let Some(patch) = response.get("patch") {
        assert_eq!(response["patchType"], "JSONPatch");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(
                patch
                    .as_str()
                    .expect("patch is a base64 string (kube-rs #1781)"),
            )
            .unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        json_patch::patch(&mut pod, &patch).unwrap();
    }
    Answered {
        response,
        pod,
        outcome: answered.outcome,
    }
}

fn answer_to(name: &str) -> Answered {
    let review = captured(name);
    answer_with(&review, &test_config(), &namespace_of(&review))
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array().map_or(vec![], |l| {
        l.iter().map(|c| c["name"].as_str().unwrap()).collect()
    })
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

fn mount_paths(container: &Value) -> Vec<&str> {
    container["volumeMounts"].as_array().map_or(vec![], |m| {
        m.iter().map(|m| m["mountPath"].as_str().unwrap()).collect()
    })
}

fn init_container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["spec"]["initContainers"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no init container {name} in {}", pod["spec"]))
}

fn assert_unchanged(a: &Answered) {
    assert!(a.response.get("patch").is_none(), "{}", a.response);
}

#[test]
fn plain_pod_gets_the_injector_and_the_default_libraries() {
    let a = answer_to("plain-create");
    assert_eq!(
        a.outcome,
        Outcome::Injected(vec![
            webhook::language::Language::Js,
            webhook::language::Language::Python
        ])
    );
    assert!(a.response.get("status").is_none(), "{}", a.response);
    let spec = &a.pod["spec"];
    assert_eq!(
        names(&spec["initContainers"]),
        [
            "datadog-init-apm-inject",
            "datadog-lib-js-init",
            "datadog-lib-python-init"
        ]
    );
    let injector = init_container(&a.pod, "datadog-init-apm-inject");
    assert_eq!(injector["image"], "apm-inject/apm-inject:0.1.0");
    assert_eq!(injector["command"], json!(["/apm-inject-init"]));
    assert_eq!(
        injector["args"],
        json!([
            "--ld-so-preload",
            "/datadog-etc/ld.so.preload",
            "/datadog-packages"
        ])
    );
    assert_eq!(
        init_container(&a.pod, "datadog-lib-js-init")["image"],
        "apm-inject/dd-lib-js-init:v6"
    );
    assert_eq!(
        init_container(&a.pod, "datadog-lib-python-init")["image"],
        "apm-inject/dd-lib-python-init:v4"
    );
    for volume in [
        "datadog-auto-instrumentation",
        "datadog-auto-instrumentation-etc",
    ] {
        let v = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == volume)
            .unwrap();
        assert_eq!(v["emptyDir"], json!({}));
    }
    let app = &spec["containers"][0];
    let paths = mount_paths(app);
    for path in [
        "/etc/ld.so.preload",
        "/opt/datadog-packages/datadog-apm-inject",
        "/opt/datadog-packages/datadog-apm-library-js",
        "/opt/datadog-packages/datadog-apm-library-python",
    ] {
        assert!(paths.contains(&path), "{path} not mounted: {paths:?}");
    }
    assert!(app["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["mountPath"] != "/var/run/secrets/kubernetes.io/serviceaccount")
        .all(|m| m["readOnly"] == true));
    assert_eq!(env(app, "LD_PRELOAD").unwrap()["value"], LAUNCHER);
    assert_eq!(env(app, "DD_INJECT_SENDER_TYPE").unwrap()["value"], "k8s");
    assert_eq!(
        env(app, "DD_INJECT_START_TIME").unwrap()["value"],
        NOW.to_string()
    );
    assert_eq!(
        env(app, "DD_ENV").unwrap()["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    let target: Value = serde_json::from_str(
        a.pod["metadata"]["annotations"]["internal.apm.datadoghq.com/applied-target"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(target["name"], "apps");
}

#[test]
fn the_patch_is_base64_of_a_json_patch() {
    let review = captured("plain-create");
    let request = Request::parse(&serde_json::to_vec(&review).unwrap()).unwrap();
    let answered = answer(
        &request,
        &test_config(),
        &namespace_of(&review),
        "apm-inject",
        NOW,
    );
    let out: Value = serde_json::from_slice(&answered.body).unwrap();
    let patch = out["response"]["patch"]
        .as_str()
        .expect("a string, not an array of numbers");
    let ops: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(patch)
            .unwrap(),
    )
    .unwrap();
    assert!(
        ops.as_array()
            .unwrap()
            .iter()
            .all(|op| op["op"] == "add" || op["op"] == "replace"),
        "{ops}"
    );
}

#[test]
fn pod_annotations_choose_the_libraries() {
    let a = answer_to("annotated-python-create");
    assert_eq!(
        names(&a.pod["spec"]["initContainers"]),
        ["datadog-init-apm-inject", "datadog-lib-python-init"]
    );
    assert_eq!(
        init_container(&a.pod, "datadog-lib-python-init")["image"],
        "apm-inject/dd-lib-python-init:v4"
    );
}

#[test]
fn custom_images_are_used_as_written() {
    let a = answer_to("custom-images-create");
    assert_eq!(
        init_container(&a.pod, "datadog-lib-python-init")["image"],
        "registry.example.com/team/python-lib:1"
    );
    assert_eq!(
        init_container(&a.pod, "datadog-init-apm-inject")["image"],
        "apm-inject/apm-inject:0.2.0"
    );
}

#[test]
fn a_container_annotation_mounts_the_library_in_that_container_only() {
    let a = answer_to("per-container-create");
    let containers = &a.pod["spec"]["containers"];
    let web = containers
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "web")
        .unwrap();
    let sidecar = containers
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sidecar")
        .unwrap();
    assert!(mount_paths(web).contains(&"/opt/datadog-packages/datadog-apm-library-js"));
    assert!(!mount_paths(sidecar).contains(&"/opt/datadog-packages/datadog-apm-library-js"));
    assert!(mount_paths(sidecar).contains(&"/etc/ld.so.preload"));
    assert_eq!(
        init_container(&a.pod, "datadog-lib-js-init")["image"],
        "apm-inject/dd-lib-js-init:v6"
    );
}

#[test]
fn all_lib_version_applies_to_every_default_library() {
    let a = answer_to("all-lib-create");
    assert_eq!(
        init_container(&a.pod, "datadog-lib-js-init")["image"],
        "apm-inject/dd-lib-js-init:v1"
    );
    assert_eq!(
        init_container(&a.pod, "datadog-lib-python-init")["image"],
        "apm-inject/dd-lib-python-init:v1"
    );
}

#[test]
fn conflicting_annotations_leave_the_pod_unchanged_with_the_reason() {
    let a = answer_to("conflicting-annotations-create");
    assert!(
        matches!(&a.outcome, Outcome::Failed(_, m) if m.contains("two python libraries")),
        "{:?}",
        a.outcome
    );
    assert!(a.pod["spec"].get("initContainers").is_none());
    let message = a.response["status"]["message"].as_str().unwrap();
    assert!(message.contains("two python libraries"), "{message}");
    assert!(
        a.pod["metadata"]["annotations"]["apm.datadoghq.com/injection-error"]
            .as_str()
            .unwrap()
            .contains("two python libraries")
    );
}

#[test]
fn the_opt_out_label_wins() {
    let a = answer_to("opted-out-create");
    assert_eq!(a.outcome, Outcome::Skipped(Skip::OptedOut));
    assert_unchanged(&a);
    assert_eq!(
        a.response["status"]["message"],
        "not instrumented: opted_out"
    );
}

#[test]
fn disabled_namespaces_win_over_annotations() {
    let mut review = captured("jenkins-agent-create");
    review["request"]["object"]["metadata"]["annotations"] =
        json!({"admission.datadoghq.com/python-lib.version": "v4"});
    let a = answer_with(&review, &test_config(), &namespace_of(&review));
    assert_eq!(a.outcome, Outcome::Skipped(Skip::DisabledNamespace));
    assert_unchanged(&a);
}

#[test]
fn kube_system_and_the_webhooks_own_namespace_are_never_instrumented() {
    let a = answer_to("system-pod-create");
    assert_eq!(a.outcome, Outcome::Skipped(Skip::ProtectedNamespace));
    let review = captured("plain-create");
    let own = Namespace {
        name: "apps".into(),
        labels: Ok(Default::default()),
    };
    let body = serde_json::to_vec(&review).unwrap();
    let answered = answer(
        &Request::parse(&body).unwrap(),
        &test_config(),
        &own,
        "apps",
        NOW,
    );
    assert_eq!(answered.outcome, Outcome::Skipped(Skip::ProtectedNamespace));
}

#[test]
fn an_existing_ld_preload_is_kept_first_and_user_variables_win() {
    let a = answer_to("ld-preload-value-create");
    let app = &a.pod["spec"]["containers"][0];
    assert_eq!(
        env(app, "LD_PRELOAD").unwrap()["value"],
        format!("/usr/lib/libjemalloc.so.2:{LAUNCHER}")
    );
    assert_eq!(env(app, "DD_ENV").unwrap()["value"], "staging");
    assert!(env(app, "DD_ENV").unwrap().get("valueFrom").is_none());
}

#[test]
fn ld_preload_from_value_from_is_kept_with_a_warning() {
    let a = answer_to("ld-preload-valuefrom-create");
    let app = &a.pod["spec"]["containers"][0];
    assert_eq!(
        env(app, "LD_PRELOAD").unwrap()["valueFrom"]["configMapKeyRef"]["key"],
        "LD_PRELOAD"
    );
    assert!(env(app, "LD_PRELOAD").unwrap().get("value").is_none());
    assert!(mount_paths(app).contains(&"/etc/ld.so.preload"));
    let warnings = a.response["warnings"].as_array().unwrap();
    assert!(
        warnings[0].as_str().unwrap().contains("valueFrom"),
        "{warnings:?}"
    );
}

#[test]
fn limits_too_small_for_the_init_containers_leave_the_pod_unchanged() {
    let a = answer_to("small-limits-create");
    let expected = "The overall pod's containers limit is too low for injection, cpu pod_limit=10m needed=50m, memory pod_limit=32Mi needed=100Mi";
    assert_eq!(
        a.pod["metadata"]["annotations"]["apm.datadoghq.com/injection-error"],
        expected
    );
    assert!(a.pod["spec"].get("initContainers").is_none());
    assert_eq!(
        a.outcome,
        Outcome::Failed(
            vec![
                webhook::language::Language::Js,
                webhook::language::Language::Python
            ],
            expected.into()
        )
    );
}

#[test]
fn init_containers_take_the_pods_own_resources() {
    let a = answer_to("resources-create");
    let resources = &init_container(&a.pod, "datadog-init-apm-inject")["resources"];
    // max(largest init container, containers + sidecars): scheduling is unchanged.
    assert_eq!(resources["limits"], json!({"cpu": "2", "memory": "1Gi"}));
    assert_eq!(resources["requests"], json!({"cpu": "2", "memory": "1Gi"}));
    // The pod's own init containers run first, ours after.
    assert_eq!(
        names(&a.pod["spec"]["initContainers"])[..2],
        ["migrate", "proxy"]
    );
}

#[test]
fn configured_init_resources_win() {
    let mut config = test_config();
    config.init_resources = config::parse("initResources: {cpu: 75m, memory: 200Mi}\n")
        .unwrap()
        .init_resources;
    let review = captured("small-limits-create");
    let a = answer_with(&review, &config, &namespace_of(&review));
    let resources = &init_container(&a.pod, "datadog-lib-python-init")["resources"];
    assert_eq!(
        resources["limits"],
        json!({"cpu": "75m", "memory": "200Mi"})
    );
}

#[test]
fn a_pod_that_already_has_our_init_containers_is_left_alone() {
    let a = answer_to("already-injected-create");
    assert_eq!(a.outcome, Outcome::Skipped(Skip::AlreadyInjected));
    assert_unchanged(&a);
}

#[test]
fn restricted_namespaces_get_a_compliant_security_context() {
    let a = answer_to("restricted-app-create");
    let context = &init_container(&a.pod, "datadog-init-apm-inject")["securityContext"];
    assert_eq!(
        *context,
        json!({"allowPrivilegeEscalation": false, "runAsNonRoot": true,
               "seccompProfile": {"type": "RuntimeDefault"}, "capabilities": {"drop": ["ALL"]}})
    );
}

#[test]
fn a_non_root_pod_without_a_user_gets_one_for_the_init_containers() {
    let a = answer_to("non-root-pod-create");
    assert_eq!(
        init_container(&a.pod, "datadog-lib-js-init")["securityContext"],
        json!({"runAsUser": 65532})
    );
    let plain = answer_to("plain-create");
    assert!(init_container(&plain.pod, "datadog-lib-js-init")
        .get("securityContext")
        .is_none());
}

#[test]
fn a_configured_security_context_wins() {
    let mut config = test_config();
    config.init_security_context =
        config::parse("initSecurityContext: {runAsUser: 1234, readOnlyRootFilesystem: true}\n")
            .unwrap()
            .init_security_context;
    let review = captured("restricted-app-create");
    let a = answer_with(&review, &config, &namespace_of(&review));
    assert_eq!(
        init_container(&a.pod, "datadog-init-apm-inject")["securityContext"],
        json!({"runAsUser": 1234, "readOnlyRootFilesystem": true})
    );
}

#[test]
fn targets_select_by_namespace_labels_and_pod_labels_first_match_wins() {
    let a = answer_to("billing-api-create");
    assert_eq!(
        names(&a.pod["spec"]["initContainers"]),
        ["datadog-init-apm-inject", "datadog-lib-python-init"]
    );
    let app = &a.pod["spec"]["containers"][0];
    assert_eq!(env(app, "DD_PROFILING_ENABLED").unwrap()["value"], "auto");
    let target = a.pod["metadata"]["annotations"]["internal.apm.datadoghq.com/applied-target"]
        .as_str()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(target).unwrap()["name"],
        "billing-api"
    );
    let batch = answer_to("billing-batch-create");
    assert_eq!(batch.outcome, Outcome::Skipped(Skip::NotSelected));
    assert_unchanged(&batch);
}

#[test]
fn unknown_namespace_labels_leave_the_pod_unchanged_with_the_reason() {
    let review = captured("billing-api-create");
    let unknown = Namespace {
        name: "billing".into(),
        labels: Err("connection refused".into()),
    };
    let a = answer_with(&review, &test_config(), &unknown);
    assert!(
        matches!(&a.outcome, Outcome::Failed(_, m) if m.contains("connection refused")),
        "{:?}",
        a.outcome
    );
    assert!(a.pod["spec"].get("initContainers").is_none());
    assert!(
        a.pod["metadata"]["annotations"]["apm.datadoghq.com/injection-error"]
            .as_str()
            .unwrap()
            .contains("unknown")
    );
}

#[test]
fn the_debug_annotation_adds_debug_variables() {
    let a = answer_to("debug-create");
    let app = &a.pod["spec"]["containers"][0];
    for name in [
        "DD_APM_INSTRUMENTATION_DEBUG",
        "DD_TRACE_STARTUP_LOGS",
        "DD_TRACE_DEBUG",
    ] {
        assert_eq!(env(app, name).unwrap()["value"], "true", "{name}");
    }
    assert!(env(
        &answer_to("plain-create").pod["spec"]["containers"][0],
        "DD_TRACE_DEBUG"
    )
    .is_none());
}

#[test]
fn pods_with_generated_names_are_instrumented() {
    let a = answer_to("generated-create");
    assert!(matches!(a.outcome, Outcome::Injected(_)));
}

#[test]
fn updates_and_other_kinds_pass_through() {
    for name in ["plain-update", "settings-create"] {
        let a = answer_to(name);
        assert!(
            matches!(a.outcome, Outcome::Ignored(_)),
            "{name}: {:?}",
            a.outcome
        );
        assert_unchanged(&a);
    }
}

#[test]
fn with_instrumentation_disabled_only_labelled_annotated_pods_are_instrumented() {
    let config = config::parse("enabled: false\n").unwrap();
    let mut review = captured("annotated-python-create");
    let a = answer_with(&review, &config, &namespace_of(&review));
    assert_eq!(a.outcome, Outcome::Skipped(Skip::NotSelected));
    review["request"]["object"]["metadata"]["labels"] =
        json!({"admission.datadoghq.com/enabled": "true"});
    let a = answer_with(&review, &config, &namespace_of(&review));
    assert_eq!(
        a.outcome,
        Outcome::Injected(vec![webhook::language::Language::Python])
    );
}

#[test]
fn enabled_namespaces_limit_instrumentation() {
    let config =
        config::parse("enabled: true\nenabledNamespaces: [billing]\nlibVersions: {java: v1}\n")
            .unwrap();
    let plain = captured("plain-create");
    assert_eq!(
        answer_with(&plain, &config, &namespace_of(&plain)).outcome,
        Outcome::Skipped(Skip::NotSelected)
    );
    let billing = captured("billing-batch-create");
    let a = answer_with(&billing, &config, &namespace_of(&billing));
    assert_eq!(
        init_container(&a.pod, "datadog-lib-java-init")["image"],
        "apm-inject/dd-lib-java-init:v1"
    );
}

#[test]
fn fields_the_model_does_not_know_survive_the_patch() {
    let mut review = captured("plain-create");
    review["request"]["object"]["spec"]["containers"][0]["futureField"] = json!({"keep": true});
    review["request"]["object"]["spec"]["futurePodField"] = json!(7);
    let a = answer_with(&review, &test_config(), &namespace_of(&review));
    assert_eq!(
        a.pod["spec"]["containers"][0]["futureField"],
        json!({"keep": true})
    );
    assert_eq!(a.pod["spec"]["futurePodField"], 7);
    assert!(matches!(a.outcome, Outcome::Injected(_)));
}

#[test]
fn annotations_over_the_size_limit_leave_the_pod_unchanged() {
    let mut review = captured("plain-create");
    review["request"]["object"]["metadata"]["annotations"] =
        json!({"big": "x".repeat(256 * 1024 - 10)});
    let a = answer_with(&review, &test_config(), &namespace_of(&review));
    assert!(
        matches!(&a.outcome, Outcome::Failed(_, m) if m.contains("limit")),
        "{:?}",
        a.outcome
    );
    assert_unchanged(&a);
}

#[test]
fn malformed_reviews_are_refused_clearly() {
    for (body, expected) in [
        (b"not json".to_vec(), "not an AdmissionReview"),
        (b"{}".to_vec(), "not an AdmissionReview"),
        (serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": captured("plain-create")["request"]})).unwrap(), "expected an admission.k8s.io/v1 AdmissionReview"),
        (serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})).unwrap(), "no request"),
        (serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "x"}})).unwrap(), "not an AdmissionReview"),
    ] {
        let error = Request::parse(&body).err().unwrap_or_else(|| panic!("accepted {}", String::from_utf8_lossy(&body)));
        assert!(error.contains(expected), "{error}");
    }
}

#[test]
fn objects_that_are_not_pods_pass_through_unchanged() {
    let mut review = captured("plain-create");
    review["request"]["object"]["spec"]["containers"] = json!("not a list");
    let a = answer_with(&review, &test_config(), &namespace_of(&review));
    assert!(
        matches!(&a.outcome, Outcome::Ignored(m) if m.contains("not a Pod")),
        "{:?}",
        a.outcome
    );
    assert_unchanged(&a);
    review["request"]["object"] = Value::Null;
    let a = answer_with(&review, &test_config(), &namespace_of(&review));
    assert!(matches!(a.outcome, Outcome::Ignored(_)));
}

/// `plain-create` with `annotations` added to the pod.
fn plain_with(annotations: Value) -> Value {
    let mut review = captured("plain-create");
    review["request"]["object"]["metadata"]["annotations"] = annotations;
    review
}

#[test]
fn the_opentelemetry_sdk_gets_its_images_packages_and_variable_and_no_ruby() {
    let config = config::parse(
        "enabled: true\nsdk: opentelemetry\nlibVersions: {java: default, python: v0, ruby: v2}\n",
    )
    .unwrap();
    let review = captured("plain-create");
    let a = answer_with(&review, &config, &namespace_of(&review));
    use webhook::language::Language;
    assert_eq!(
        a.outcome,
        Outcome::Injected(vec![Language::Java, Language::Python])
    );
    assert_eq!(
        names(&a.pod["spec"]["initContainers"]),
        [
            "datadog-init-apm-inject",
            "datadog-lib-java-init",
            "datadog-lib-python-init"
        ]
    );
    assert_eq!(
        init_container(&a.pod, "datadog-lib-java-init")["image"],
        "apm-inject/otel-lib-java-init:v2"
    );
    assert_eq!(
        init_container(&a.pod, "datadog-lib-python-init")["image"],
        "apm-inject/otel-lib-python-init:v0"
    );
    let app = &a.pod["spec"]["containers"][0];
    let paths = mount_paths(app);
    for path in [
        "/opt/datadog-packages/datadog-apm-inject",
        "/opt/datadog-packages/opentelemetry-apm-library-java",
        "/opt/datadog-packages/opentelemetry-apm-library-python",
    ] {
        assert!(paths.contains(&path), "{path} not mounted: {paths:?}");
    }
    assert!(!paths.iter().any(|p| p.contains("datadog-apm-library")));
    assert_eq!(
        env(app, "DD_APM_INSTRUMENTATION_SDK").unwrap()["value"],
        "opentelemetry"
    );
    assert_eq!(env(app, "LD_PRELOAD").unwrap()["value"], LAUNCHER);
}

#[test]
fn the_sdk_annotation_overrides_the_configuration_and_the_target() {
    // test-assets/config.yaml: Datadog's, target `apps` (js and python by default).
    let review = plain_with(json!({"admission.datadoghq.com/apm-inject.sdk": "opentelemetry"}));
    let a = answer_with(&review, &test_config(), &namespace_of(&review));
    assert_eq!(
        init_container(&a.pod, "datadog-lib-js-init")["image"],
        "apm-inject/otel-lib-js-init:v0"
    );
    let app = &a.pod["spec"]["containers"][0];
    assert!(mount_paths(app).contains(&"/opt/datadog-packages/opentelemetry-apm-library-js"));
    assert_eq!(
        env(app, "DD_APM_INSTRUMENTATION_SDK").unwrap()["value"],
        "opentelemetry"
    );
    assert!(env(
        &answer_to("plain-create").pod["spec"]["containers"][0],
        "DD_APM_INSTRUMENTATION_SDK"
    )
    .is_none());

    // A target's `sdk`, and the annotation choosing Datadog's back.
    let config = config::parse(
        "enabled: true\ntargets:\n  - name: apps\n    sdk: opentelemetry\n    ddTraceVersions: {python: default}\n",
    )
    .unwrap();
    let review = captured("plain-create");
    let a = answer_with(&review, &config, &namespace_of(&review));
    assert_eq!(
        init_container(&a.pod, "datadog-lib-python-init")["image"],
        "apm-inject/otel-lib-python-init:v0"
    );
    let review = plain_with(json!({"admission.datadoghq.com/apm-inject.sdk": "datadog"}));
    let a = answer_with(&review, &config, &namespace_of(&review));
    assert_eq!(
        init_container(&a.pod, "datadog-lib-python-init")["image"],
        "apm-inject/dd-lib-python-init:v4"
    );
    assert!(env(
        &a.pod["spec"]["containers"][0],
        "DD_APM_INSTRUMENTATION_SDK"
    )
    .is_none());
}

#[test]
fn an_unknown_sdk_annotation_leaves_the_pod_unchanged_with_the_reason() {
    let review = plain_with(json!({"admission.datadoghq.com/apm-inject.sdk": "zipkin"}));
    let a = answer_with(&review, &test_config(), &namespace_of(&review));
    assert!(
        matches!(&a.outcome, Outcome::Failed(_, m) if m.contains("expected datadog or opentelemetry, not \"zipkin\"")),
        "{:?}",
        a.outcome
    );
    assert!(a.pod["spec"].get("initContainers").is_none());
}
