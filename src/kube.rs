//! A real Kubernetes control plane for tests: etcd (Debian's `etcd-server`) and
//! `kube-apiserver` + `kubectl` built from the Go module proxy by `make kube-apiserver`
//! (`tools/kube-apiserver/`, cached in `target/k8s/`), with certificates from a throw-away
//! test CA ([`TestCa`], also used for webhook servers). Both processes are ended by PID when
//! the [`ApiServer`] is dropped.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `target/k8s/<name>`, built by `make kube-apiserver`.
pub fn k8s_binary(name: &str) -> PathBuf {
    let path = crate::workspace().join("target/k8s").join(name);
    assert!(
        path.exists(),
        "{} is not built: run `make kube-apiserver` (`make test` does)",
        path.display()
    );
    path
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A certificate authority and a server certificate for `127.0.0.1` and `localhost`, as PEM.
pub struct TestCa {
    /// The CA certificate (what clients trust).
    pub ca_pem: String,
    /// The server certificate, signed by the CA.
    pub cert_pem: String,
    /// The server's private key (PKCS#8).
    pub key_pem: String,
}

impl TestCa {
    /// A fresh CA and server certificate named `common_name`.
    pub fn new(common_name: &str) -> TestCa {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "apm-inject test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, common_name);
        server
            .subject_alt_names
            .push(SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
        let cert = server.signed_by(&key, &ca).unwrap();
        TestCa {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes `ca.crt`, `tls.crt` and `tls.key` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let paths = (dir.join("ca.crt"), dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&paths.0, &self.ca_pem).unwrap();
        std::fs::write(&paths.1, &self.cert_pem).unwrap();
        std::fs::write(&paths.2, &self.key_pem).unwrap();
        paths
    }
}

/// etcd and kube-apiserver on loopback ports, with an admin token.
pub struct ApiServer {
    /// Working directory: data, certificates, logs, `kubeconfig`.
    pub dir: tempfile::TempDir,
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// A kubeconfig for the admin (`system:masters`).
    pub kubeconfig: PathBuf,
    etcd: Child,
    apiserver: Child,
}

const TOKEN: &str = "apm-inject-test-admin-token";

impl ApiServer {
    /// Starts etcd, then kube-apiserver, and waits until it is ready (120 s at most: CI machines are busy).
    pub fn start() -> ApiServer {
        let dir = tempfile::Builder::new()
            .prefix("kube-apiserver")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let etcd_port = free_port();
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let etcd = Command::new("etcd")
            .args(["--data-dir", &d.join("etcd").to_string_lossy()])
            .args([
                "--listen-client-urls",
                &etcd_url,
                "--advertise-client-urls",
                &etcd_url,
            ])
            .args([
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{}", free_port()),
            ])
            .stdout(log(d, "etcd.log"))
            .stderr(log(d, "etcd.log"))
            .spawn()
            .expect("etcd (Debian's etcd-server, scripts/install-deps.sh)");
        let ca = TestCa::new("kube-apiserver");
        let (ca_file, cert, key) = ca.write(d);
        let sa_key = d.join("service-account.key");
        let sa_public = d.join("service-account.pub");
        let signing = KeyPair::generate().unwrap();
        std::fs::write(&sa_key, signing.serialize_pem()).unwrap();
        std::fs::write(&sa_public, signing.public_key_pem()).unwrap();
        std::fs::write(
            d.join("tokens.csv"),
            format!("{TOKEN},admin,admin,\"system:masters\"\n"),
        )
        .unwrap();
        let port = free_port();
        let apiserver = Command::new(k8s_binary("kube-apiserver"))
            .arg(format!("--etcd-servers={etcd_url}"))
            .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
            .arg(format!("--secure-port={port}"))
            .arg(format!("--tls-cert-file={}", cert.display()))
            .arg(format!("--tls-private-key-file={}", key.display()))
            .arg(format!("--client-ca-file={}", ca_file.display()))
            .arg(format!(
                "--token-auth-file={}",
                d.join("tokens.csv").display()
            ))
            .arg(format!(
                "--service-account-key-file={}",
                sa_public.display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                sa_key.display()
            ))
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .args([
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.96.0.0/16",
            ])
            .arg(format!("--cert-dir={}", d.join("certs").display()))
            .stdout(log(d, "kube-apiserver.log"))
            .stderr(log(d, "kube-apiserver.log"))
            .spawn()
            .unwrap();
        let kubeconfig = d.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority: {}\nusers:\n- name: admin\n  user:\n    token: {TOKEN}\ncontexts:\n- name: test\n  context: {{cluster: test, user: admin}}\ncurrent-context: test\n",
                ca_file.display()
            ),
        )
        .unwrap();
        let server = ApiServer {
            url: format!("https://127.0.0.1:{port}"),
            kubeconfig,
            etcd,
            apiserver,
            dir,
        };
        let mut server = server;
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            let out = self.kubectl(&["get", "--raw", "/readyz"]);
            if out.status.success() {
                return;
            }
            let exited = self.apiserver.try_wait().unwrap().is_some();
            if exited || start.elapsed() > Duration::from_secs(120) {
                panic!(
                    "kube-apiserver not ready (exited: {exited}): {}\n--- kube-apiserver.log (end) ---\n{}\n--- etcd.log (end) ---\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    self.log_tail("kube-apiserver.log"),
                    self.log_tail("etcd.log")
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The last lines of one of the logs (`kube-apiserver.log`, `etcd.log`).
    pub fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Runs `kubectl` against this server.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with_input(args, None)
    }

    /// Runs `kubectl` with `input` on its standard input (e.g. `create -f -`).
    pub fn kubectl_with_input(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        use std::io::Write;
        let mut child = Command::new(k8s_binary("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = input {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// `kubectl create -f -` of a JSON object; the object as stored, or kubectl's error.
    pub fn create(&self, object: &serde_json::Value) -> Result<serde_json::Value, String> {
        let body = serde_json::to_vec(object).unwrap();
        let out = self.kubectl_with_input(&["create", "-f", "-", "-o", "json"], Some(&body));
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    }

    /// A namespace with `labels` and its `default` service account (no controller manager
    /// runs here to create it, and the ServiceAccount admission plugin wants it).
    pub fn namespace(&self, name: &str, labels: &[(&str, &str)]) {
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        self.create(&serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels}
        }))
        .unwrap();
        self.create(&serde_json::json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": name}
        }))
        .unwrap();
    }
}

fn log(dir: &Path, name: &str) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .unwrap()
        .into()
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        for child in [&mut self.apiserver, &mut self.etcd] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A MutatingWebhookConfiguration `name` calling `https://127.0.0.1:<port><path>` (trusted
/// through `ca_pem`) for `operations` on core v1 `resources`, with `failure` as its
/// failurePolicy (`Ignore`, `Fail`), reinvocation `IfNeeded` and a 10 s timeout.
pub fn registration(
    name: &str,
    port: u16,
    path: &str,
    ca_pem: &str,
    operations: &[&str],
    resources: &[&str],
    failure: &str,
) -> serde_json::Value {
    use base64::Engine;
    let ca_bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": format!("{name}.apm-inject.test"),
            "clientConfig": {
                "url": format!("https://127.0.0.1:{port}{path}"),
                "caBundle": ca_bundle,
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

/// The webhook (`apm-inject webhook`, release build) on a free loopback port, with a
/// certificate from its own test CA; ended by PID when dropped.
pub struct Webhook {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Where its CA, certificate and key are (`ca.crt`, `tls.crt`, `tls.key`).
    pub dir: PathBuf,
}

impl Webhook {
    /// Starts it with `config`, its files in `dir`; namespace labels come from the API
    /// server of `kubeconfig` (none: every pod that needs them fails, unchanged).
    pub fn start(dir: &Path, config: &Path, kubeconfig: Option<&Path>) -> Webhook {
        Webhook::start_with_stderr(dir, config, kubeconfig, Stdio::inherit())
    }

    /// Starts it as [`Webhook::start`] does, its standard error (a line per instrumented pod)
    /// going to `stderr`.
    pub fn start_with_stderr(
        dir: &Path,
        config: &Path,
        kubeconfig: Option<&Path>,
        stderr: Stdio,
    ) -> Webhook {
        Webhook::launch(dir, config, kubeconfig, stderr, |args, env| {
            let mut command = Command::new(crate::cli());
            command
                .args(args)
                .env_remove("KUBECONFIG")
                .envs(env.iter().map(|(k, v)| (k, v)));
            command
        })
    }

    /// Starts it as [`Webhook::start`] does, but from the webhook's image (`make k8s-images`,
    /// `/usr/bin/apm-inject`) on `docker`, in the host's network, with the files it reads
    /// mounted read-only at their own paths. The container is removed with the engine's.
    pub fn start_in_image(
        docker: &crate::containers::Dockerd,
        image: &str,
        dir: &Path,
        config: &Path,
        kubeconfig: &Path,
    ) -> Webhook {
        Webhook::launch(
            dir,
            config,
            Some(kubeconfig),
            Stdio::inherit(),
            |args, env| {
                let mut run: Vec<String> = ["run", "--rm", "--network", "host"]
                    .map(String::from)
                    .to_vec();
                for read in [dir, config.parent().unwrap(), kubeconfig.parent().unwrap()] {
                    run.push("--volume".to_string());
                    run.push(format!("{0}:{0}:ro", read.display()));
                }
                for (name, value) in env {
                    run.push("--env".to_string());
                    run.push(format!("{name}={}", value.display()));
                }
                run.extend([image.to_string(), "/usr/bin/apm-inject".to_string()]);
                run.extend(args.iter().map(|a| a.to_str().unwrap().to_string()));
                let run: Vec<&str> = run.iter().map(String::as_str).collect();
                docker.docker_command(&run)
            },
        )
    }

    /// Starts `program(arguments, environment)`, its standard error to `stderr`, and waits
    /// until it listens.
    fn launch(
        dir: &Path,
        config: &Path,
        kubeconfig: Option<&Path>,
        stderr: Stdio,
        program: impl FnOnce(&[std::ffi::OsString], &[(&str, PathBuf)]) -> Command,
    ) -> Webhook {
        std::fs::create_dir_all(dir).unwrap();
        let (_, cert, key) = TestCa::new("apm-inject-webhook").write(dir);
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let args: Vec<std::ffi::OsString> = [
            "webhook".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
            "--listen".as_ref(),
            listen.as_ref(),
            "--namespace".as_ref(),
            "apm-inject".as_ref(),
        ]
        .map(std::ffi::OsStr::to_os_string)
        .to_vec();
        let mut env = vec![("HOME", dir.to_path_buf())];
        if let Some(kubeconfig) = kubeconfig {
            env.push(("KUBECONFIG", kubeconfig.to_path_buf()));
        }
        let mut child = program(&args, &env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "the webhook exited");
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the webhook is not listening on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Webhook {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// The CA file that verifies its certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The CA, as PEM.
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.ca_file()).unwrap()
    }

    /// `curl` over HTTPS to `path` with `args`, verified against `ca`: (HTTP status, body), or
    /// curl's error.
    pub fn curl(&self, ca: &Path, path: &str, args: &[&str]) -> Result<(u16, String), String> {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                "-w",
                "\\n%{http_code}",
                "--cacert",
            ])
            .arg(ca)
            .args(args)
            .arg(format!("https://127.0.0.1:{}{path}", self.port))
            .output()
            .expect("curl (scripts/install-deps.sh)");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, status) = text.rsplit_once('\n').unwrap();
        Ok((status.parse().unwrap(), body.to_string()))
    }

    /// `GET path`, which must answer 200: its body.
    pub fn get(&self, path: &str) -> String {
        let (status, body) = self.curl(&self.ca_file(), path, &[]).unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
