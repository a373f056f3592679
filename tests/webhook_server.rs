//! The webhook's HTTPS server alone (no API server): `apm-inject webhook check`, the
//! certificate re-read when its files change, and what a malformed request gets.
#![forbid(unsafe_code)]

use apm_inject_tests::kube::{TestCa, Webhook};
use apm_inject_tests::{cli, workspace};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn config() -> std::path::PathBuf {
    workspace().join("webhook/test-assets/config.yaml")
}

#[test]
fn webhook_check_accepts_a_valid_configuration() {
    let out = Command::new(cli())
        .args(["webhook", "check"])
        .arg(config())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}: valid\n", config().display())
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn webhook_check_points_at_the_mistake_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    std::fs::write(
        &file,
        "enabled: true\ntargets:\n  - name: billing\n    ddTraceVersions: {cobol: v1}\n",
    )
    .unwrap();
    let out = Command::new(cli())
        .args(["webhook", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:4:23: ", file.display()))
            && stderr.contains("unknown language \"cobol\""),
        "{stderr}"
    );
}

#[test]
fn health_and_metrics_are_served_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = Webhook::start(dir.path(), &config(), None);
    assert_eq!(webhook.get("/healthz"), "ok\n");
    let metrics = webhook.get("/metrics");
    assert!(
        metrics.contains("# TYPE admission_webhooks_library_injection_attempts counter"),
        "{metrics}"
    );
}

#[test]
fn a_malformed_review_is_refused_clearly_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = Webhook::start(dir.path(), &config(), None);
    let ca = webhook.ca_file();
    let post = |body: &str| {
        webhook
            .curl(
                &ca,
                "/injectlib",
                &[
                    "-X",
                    "POST",
                    "-H",
                    "Content-Type: application/json",
                    "--data-binary",
                    body,
                ],
            )
            .unwrap()
    };
    let (status, body) = post("not json");
    assert_eq!(status, 400);
    assert!(body.starts_with("not an AdmissionReview"), "{body}");
    let (status, body) =
        post(r#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#);
    assert_eq!(status, 400, "{body}");
    // Over the size limit (8 MiB): refused before it is read whole (HTTP/1.1: over HTTP/2
    // the refusal resets the stream, which curl reports as an error).
    let huge = dir.path().join("huge.json");
    std::fs::write(&huge, vec![b' '; 9 << 20]).unwrap();
    let (status, _) = webhook
        .curl(
            &ca,
            "/injectlib",
            &[
                "--http1.1",
                "-X",
                "POST",
                "--data-binary",
                &format!("@{}", huge.display()),
            ],
        )
        .unwrap();
    assert_eq!(status, 413);
    assert_eq!(webhook.get("/healthz"), "ok\n");
}

/// Replaces `dir/tls.crt` and `dir/tls.key` with `ca`'s, each by an atomic rename.
fn rotate(dir: &Path, ca: &TestCa) {
    for (name, pem) in [("tls.key", &ca.key_pem), ("tls.crt", &ca.cert_pem)] {
        let new = dir.join(format!("{name}.new"));
        std::fs::write(&new, pem).unwrap();
        std::fs::rename(&new, dir.join(name)).unwrap();
    }
}

#[test]
fn a_rotated_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = Webhook::start(dir.path(), &config(), None);
    let first_ca = webhook.ca_file();
    assert!(webhook.curl(&first_ca, "/healthz", &[]).is_ok());

    let second = TestCa::new("apm-inject-webhook");
    let second_ca = dir.path().join("second-ca.crt");
    std::fs::write(&second_ca, &second.ca_pem).unwrap();
    rotate(dir.path(), &second);
    let start = Instant::now();
    while webhook.curl(&second_ca, "/healthz", &[]).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the new certificate is not served"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        webhook.curl(&first_ca, "/healthz", &[]).is_err(),
        "the old certificate is still served"
    );

    // A half-written rotation (a key without its certificate yet) keeps the current pair.
    std::fs::write(
        dir.path().join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\ntrunc",
    )
    .unwrap();
    let (status, _) = webhook.curl(&second_ca, "/healthz", &[]).unwrap();
    assert_eq!(status, 200);
}
