//! A pod mutated by the webhook, run for real: created through a real kube-apiserver in a
//! namespace that enforces Pod Security `restricted`, stored with the injector's and the
//! libraries' init containers, then run as a kubelet would on a private Docker engine
//! (`apm_inject_tests::kubelet`) with the images of `make k8s-image-trees` (the webhook runs from
//! its own): the init containers copy the packages into the pod's emptyDirs, and the unchanged Python application of the app
//! container sends its spans, with the service and environment the pod gives it, to Datadog's
//! test agent; a 32-bit program in the same container prints only its own output.
#![forbid(unsafe_code)]

use apm_inject_tests::containers::{bookworm_tree, Dockerd};
use apm_inject_tests::kube::{registration, ApiServer, Webhook};
use apm_inject_tests::kubelet::{import_k8s_images, run_pod};
use apm_inject_tests::tracers::{free_port, http_get, wait_for, TestAgent};
use apm_inject_tests::{fixture, stderr, stdout, workspace};
use serde_json::{json, Value};

/// The webhook's image as `make k8s-images` tags it.
const WEBHOOK_IMAGE: &str = concat!("apm-inject/apm-inject-webhook:", env!("CARGO_PKG_VERSION"));

/// The application's image: the Debian tree of `make images` (Python and Flask) with the
/// unchanged Flask application in `/app`, and a 32-bit program, `/app/hello-i386` (`gcc -m32`,
/// printing `ok`) with this host's i386 loader and libc (Debian's `libc6-i386`, whose loader
/// expands `$LIB` to `lib32`), built by the engine from the imported tree.
fn shop_image(docker: &Dockerd) -> &'static str {
    docker.import(&bookworm_tree(), "bookworm:k8s");
    let context = tempfile::tempdir().unwrap();
    for (from, name) in [
        (
            workspace().join("tests/fixtures/apps/Shop_API.py"),
            "Shop_API.py",
        ),
        (fixture("hello-i386"), "hello-i386"),
        ("/usr/lib32/ld-linux.so.2".into(), "ld-linux.so.2"),
        ("/usr/lib32/libc.so.6".into(), "libc.so.6"),
    ] {
        std::fs::copy(from, context.path().join(name)).unwrap();
    }
    // The image's /lib links to usr/lib (merged /usr), where the program's interpreter is.
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM bookworm:k8s\n\
         COPY Shop_API.py hello-i386 /app/\n\
         COPY ld-linux.so.2 /usr/lib/ld-linux.so.2\n\
         COPY libc.so.6 /usr/lib32/libc.so.6\n",
    )
    .unwrap();
    docker.docker_ok(&[
        "build",
        "--quiet",
        "--tag",
        "shop-api:1",
        context.path().to_str().unwrap(),
    ]);
    "shop-api:1"
}

/// A pod that complies with Pod Security `restricted` and tells its tracer where the agent is
/// and which service it is, the way Datadog's documentation shows (`status.hostIP`, the
/// `tags.datadoghq.com/service` label); it knows nothing of the injection.
fn shop_pod(image: &str, port: u16, agent_port: u16) -> Value {
    let field = |path: &str| json!({"fieldRef": {"fieldPath": path}});
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "shop-api", "namespace": "restricted",
            "labels": {"app": "shop-api", "tags.datadoghq.com/service": "shop-api"},
        },
        "spec": {
            "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "app",
                "image": image,
                "command": ["python3", "/app/Shop_API.py"],
                "env": [
                    {"name": "PORT", "value": port.to_string()},
                    {"name": "DD_AGENT_HOST", "valueFrom": field("status.hostIP")},
                    {"name": "DD_TRACE_AGENT_PORT", "value": agent_port.to_string()},
                    {"name": "DD_SERVICE", "valueFrom": field("metadata.labels['tags.datadoghq.com/service']")},
                ],
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
            }],
        },
    })
}

#[test]
fn mutated_pod_runs_on_docker_and_its_unchanged_python_app_is_traced() {
    let agent = TestAgent::start();
    let docker = Dockerd::start("");
    import_k8s_images(&docker);
    let image = shop_image(&docker);

    let api = ApiServer::start();
    api.namespace(
        "restricted",
        &[("pod-security.kubernetes.io/enforce", "restricted")],
    );
    // The webhook itself runs from its image.
    let webhook = Webhook::start_in_image(
        &docker,
        WEBHOOK_IMAGE,
        &api.dir.path().join("webhook"),
        &workspace().join("webhook/test-assets/config.yaml"),
        &api.kubeconfig,
    );
    api.create(&registration(
        "apm-inject",
        webhook.port,
        "/injectlib",
        &webhook.ca_pem(),
        &["CREATE"],
        &["pods"],
        "Fail",
    ))
    .unwrap();
    let port = free_port();
    let pod = api
        .create(&shop_pod(image, port, agent.port))
        .unwrap_or_else(|e| panic!("the pod was refused: {e}"));
    let inits: Vec<&str> = pod["spec"]["initContainers"]
        .as_array()
        .unwrap_or_else(|| panic!("not mutated: {pod:#}"))
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        inits,
        [
            "datadog-init-apm-inject",
            "datadog-lib-js-init",
            "datadog-lib-python-init"
        ]
    );

    let volumes = tempfile::tempdir().unwrap();
    let running = run_pod(&docker, &pod, volumes.path());
    let copied = &running.init_output[2].1;
    assert!(
        copied.contains("copied /opt/datadog-packages/datadog-apm-library-python"),
        "{copied}"
    );
    let preload = volumes
        .path()
        .join("datadog-auto-instrumentation-etc/ld.so.preload");
    assert_eq!(
        std::fs::read_to_string(&preload).unwrap().trim(),
        "/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so"
    );

    wait_for("the application in its pod", || {
        http_get(port, "/").filter(|(status, _)| *status == 200)
    });
    let spans = agent.wait_for_spans("flask.request", 1);
    let span = &spans[0];
    assert_eq!(
        span["service"],
        "shop-api",
        "{span:#}\n{}",
        running.logs("app")
    );
    // DD_ENV from the target's ddTraceConfigs (valueFrom metadata.namespace).
    assert_eq!(span["meta"]["env"], "restricted", "{span:#}");

    // A 32-bit program in the instrumented container, under its LD_PRELOAD and ld.so.preload:
    // its loader finds the i386 no-op object and prints nothing of its own.
    let out = running.exec("app", &["/app/hello-i386"]);
    assert_eq!(
        (stdout(&out).as_str(), stderr(&out).as_str()),
        ("ok\n", ""),
        "{out:?}"
    );
    let out = running.exec("app", &["sh", "-c", "echo $LD_PRELOAD"]);
    assert_eq!(
        stdout(&out),
        "/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so\n"
    );
}
