//! What the mutating webhook adds to pod creation (part of `make bench`;
//! `cargo run --release -p apm-inject-tests --example webhook_bench`).
//!
//! A real control plane, as the Kubernetes tests run it (etcd, and kube-apiserver from
//! `target/k8s`), with the webhook (`target/release/apm-inject webhook`) registered as
//! `deploy/30-webhook.yaml` registers it: pods, CREATE, every namespace but the excluded ones.
//! Each round creates one pod in each of three namespaces, in an order rotating between rounds:
//!
//! - `excluded`: left out by the registration's namespaceSelector (as `kube-system` is), so
//!   the API server does not call the webhook: the baseline;
//! - `untargeted`: reviewed, but no target selects it, so the pod is stored unchanged;
//! - `targeted`: a target selects it, so the pod is stored instrumented (Python); reviewed
//!   twice (see [`Arm::calls`]).
//!
//! Each create is timed in this client (kube-rs, one keep-alive HTTPS connection) and checked
//! (instrumented or not, how many webhook calls); the pod is then deleted, untimed. Printed:
//! the median of each, the paired difference to `excluded` per round with the
//! distribution-free 95% confidence interval of its median (order statistics), and the
//! webhook's calls for one pod as the API server times them (the increase of
//! `apiserver_admission_webhook_admission_duration_seconds_sum`, read after every create).
//! `WEBHOOK_ROUNDS` sets the number of rounds (default 200), after 3 warm-up rounds.

use apm_inject_tests::kube::{registration, ApiServer, Webhook};
use apm_inject_tests::workspace;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The registration's name; the API server's metrics name the webhook `<name>.apm-inject.test`.
const REGISTRATION: &str = "apm-inject";

/// One target, selecting the `targeted` namespace by name, with one library.
const CONFIG: &str = "enabled: true
targets:
  - name: bench
    namespaceSelector:
      matchNames: [targeted]
    ddTraceVersions: {python: default}
";

/// A kind of pod: its namespace, what the webhook does with it, and how it is shown.
struct Arm {
    namespace: &'static str,
    title: &'static str,
    /// Calls of the webhook per pod: an instrumented pod is reviewed twice, because the
    /// ServiceAccount admission plugin then mounts its token into our init containers and the
    /// registration asks for reinvocation (`IfNeeded`).
    calls: u64,
    instrumented: bool,
}

const ARMS: [Arm; 3] = [
    Arm {
        namespace: "excluded",
        title: "not reviewed (namespaceSelector)",
        calls: 0,
        instrumented: false,
    },
    Arm {
        namespace: "untargeted",
        title: "reviewed, stored unchanged",
        calls: 1,
        instrumented: false,
    },
    Arm {
        namespace: "targeted",
        title: "reviewed, stored instrumented",
        calls: 2,
        instrumented: true,
    },
];

/// One timed create: the client's wall time and the webhook call's time as the API server
/// measured it (zero when it was not called), in milliseconds.
struct Sample {
    create_ms: f64,
    webhook_ms: f64,
}

/// The API client, and the webhook calls counted in the API server's metrics so far.
struct Bench {
    client: kube::Client,
    calls: u64,
    call_seconds: f64,
}

impl Bench {
    async fn connect(api: &ApiServer) -> Result<Bench, String> {
        let kubeconfig = Kubeconfig::read_from(&api.kubeconfig).map_err(|e| e.to_string())?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| e.to_string())?;
        let mut bench = Bench {
            client: kube::Client::try_from(config).map_err(|e| e.to_string())?,
            calls: 0,
            call_seconds: 0.0,
        };
        bench.webhook_calls().await?;
        Ok(bench)
    }

    /// Reads the webhook's call count and total call time from the API server's `/metrics`;
    /// returns the calls made, and the seconds they took, since the previous read.
    async fn webhook_calls(&mut self) -> Result<(u64, f64), String> {
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        let text = self
            .client
            .request_text(request)
            .await
            .map_err(|e| format!("GET /metrics: {e}"))?;
        let name = format!("name=\"{REGISTRATION}.apm-inject.test\"");
        let series = |metric: &str| -> Result<f64, String> {
            text.lines()
                .filter(|l| l.starts_with(metric) && l.contains(&name))
                .map(|l| {
                    l.rsplit_once(' ')
                        .and_then(|(_, v)| v.parse::<f64>().ok())
                        .ok_or_else(|| format!("/metrics: {l}"))
                })
                .sum()
        };
        let metric = "apiserver_admission_webhook_admission_duration_seconds";
        let calls = series(&format!("{metric}_count{{"))? as u64;
        let seconds = series(&format!("{metric}_sum{{"))?;
        let made = (calls - self.calls, seconds - self.call_seconds);
        (self.calls, self.call_seconds) = (calls, seconds);
        Ok(made)
    }

    /// Creates pod `name` in the arm's namespace, timed; checks that the webhook was called
    /// and changed the pod as the arm says, then deletes it (untimed: an unscheduled pod goes
    /// at once).
    async fn create(&mut self, arm: &Arm, name: &str) -> Result<Sample, String> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), arm.namespace);
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "python:3.11-slim"}]}
        }))
        .map_err(|e| e.to_string())?;
        let began = Instant::now();
        let stored = pods.create(&PostParams::default(), &pod).await;
        let create_ms = began.elapsed().as_secs_f64() * 1e3;
        let stored = stored.map_err(|e| format!("create {}/{name}: {e}", arm.namespace))?;
        let (calls, call_seconds) = self.webhook_calls().await?;
        pods.delete(name, &DeleteParams::default())
            .await
            .map_err(|e| format!("delete {}/{name}: {e}", arm.namespace))?;
        let init_containers = stored
            .spec
            .and_then(|s| s.init_containers)
            .map_or(0, |c| c.len());
        if calls != arm.calls || (init_containers > 0) != arm.instrumented {
            return Err(format!(
                "{}/{name}: {calls} webhook calls, {init_containers} init containers",
                arm.namespace
            ));
        }
        Ok(Sample {
            create_ms,
            webhook_ms: call_seconds * 1e3,
        })
    }
}

/// The median of `sorted`.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    (sorted[(n - 1) / 2] + sorted[n / 2]) / 2.0
}

/// The median of `values` and its distribution-free 95% confidence interval (order
/// statistics), as `bench/run.py` computes it.
fn median_ci(values: &[f64]) -> (f64, f64, f64) {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() as f64;
    let half = 0.98 * n.sqrt(); // 1.96 * sqrt(n) / 2
    let lo = (n / 2.0 - half).max(0.0) as usize;
    let hi = ((n / 2.0 + half + 0.5) as usize).min(s.len() - 1);
    (median(&s), s[lo], s[hi])
}

/// Prints `rows` under `header`, the first column left-aligned and the others right-aligned.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .fold(header[i].len(), usize::max)
        })
        .collect();
    let line = |cells: &[String]| {
        let cells: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        println!("{}", cells.join("  ").trim_end());
    };
    line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    line(&widths.iter().map(|&w| "-".repeat(w)).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
}

/// The samples of every arm, `rounds` rounds after the warm-up.
async fn measure(api: &ApiServer, rounds: usize) -> Result<Vec<Vec<Sample>>, String> {
    let mut bench = Bench::connect(api).await?;
    // The API server takes up a new registration asynchronously: wait for the first
    // instrumented pod.
    let start = Instant::now();
    let mut attempt = 0;
    while let Err(why) = bench.create(&ARMS[2], &format!("ready-{attempt}")).await {
        if start.elapsed() > Duration::from_secs(60) {
            return Err(format!("the registration did not take effect: {why}"));
        }
        attempt += 1;
    }
    let mut samples: Vec<Vec<Sample>> = ARMS.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds + 3 {
        for i in (0..ARMS.len()).map(|i| (i + round) % ARMS.len()) {
            let sample = bench.create(&ARMS[i], &format!("pod-{round}")).await?;
            if round >= 3 {
                samples[i].push(sample);
            }
        }
    }
    Ok(samples)
}

/// The table of `samples`, one row per arm.
fn report(rounds: usize, samples: &[Vec<Sample>]) {
    // The binary carries no version of its own (built as a module dependency): its go.mod's.
    let go_mod = std::fs::read_to_string(workspace().join("tools/kube-apiserver/go.mod"))
        .unwrap_or_default();
    let version = go_mod
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("k8s.io/kubernetes ")?
                .split_whitespace()
                .next()
        })
        .unwrap_or("?");
    let date = std::process::Command::new("date").arg("+%F").output();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "pod creation through kube-apiserver {}, {rounds} interleaved rounds, {}, {}, {} cores, load average {}",
        version,
        date.map_or(String::new(), |d| String::from_utf8_lossy(&d.stdout).trim().to_string()),
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split(' ').next().unwrap_or("?"),
    );
    let create = |arm: usize| -> Vec<f64> { samples[arm].iter().map(|s| s.create_ms).collect() };
    let baseline = median_ci(&create(0)).0;
    let rows: Vec<Vec<String>> = ARMS
        .iter()
        .enumerate()
        .map(|(i, arm)| {
            let (own, _, _) = median_ci(&create(i));
            let mut row = vec![
                arm.title.to_string(),
                arm.calls.to_string(),
                format!("{own:.2}"),
            ];
            if i == 0 {
                row.extend([String::new(), "1.000".to_string(), String::new()]);
            } else {
                let paired: Vec<f64> = create(i)
                    .iter()
                    .zip(create(0))
                    .map(|(a, b)| a - b)
                    .collect();
                let (d, lo, hi) = median_ci(&paired);
                let calls: Vec<f64> = samples[i].iter().map(|s| s.webhook_ms).collect();
                let (call, call_lo, call_hi) = median_ci(&calls);
                row.extend([
                    format!("{d:+.2} [{lo:+.2}, {hi:+.2}]"),
                    format!("{:.3}", own / baseline),
                    format!("{call:.2} [{call_lo:.2}, {call_hi:.2}]"),
                ]);
            }
            row
        })
        .collect();
    table(
        &[
            "pods",
            "webhook calls",
            "create ms (median)",
            "minus not reviewed, paired median [95% CI]",
            "to not reviewed",
            "webhook call ms, API server's timing (median [95% CI])",
        ],
        &rows,
    );
}

fn main() -> ExitCode {
    let rounds: usize = match std::env::var("WEBHOOK_ROUNDS").map(|r| r.parse()) {
        Err(_) => 200,
        Ok(Ok(rounds)) if rounds > 0 => rounds,
        Ok(_) => {
            eprintln!("WEBHOOK_ROUNDS: a number of rounds");
            return ExitCode::FAILURE;
        }
    };
    let api = ApiServer::start();
    for arm in &ARMS {
        api.namespace(arm.namespace, &[]);
    }
    let config = api.dir.path().join("webhook.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    // Its line per instrumented pod goes to a file, as a container's standard error would.
    let log = std::fs::File::create(api.dir.path().join("webhook.log")).unwrap();
    let webhook = Webhook::start_with_stderr(
        &api.dir.path().join("webhook"),
        &config,
        Some(&api.kubeconfig),
        log.into(),
    );
    let mut registered = registration(
        REGISTRATION,
        webhook.port,
        "/injectlib",
        &webhook.ca_pem(),
        &["CREATE"],
        &["pods"],
        "Ignore",
    );
    registered["webhooks"][0]["namespaceSelector"] = json!({"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [ARMS[0].namespace]}
    ]});
    api.create(&registered).unwrap();
    // Errors are returned rather than panicked on (this profile aborts), so that the
    // API server, etcd and the webhook are ended when dropped.
    let measured = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| runtime.block_on(measure(&api, rounds)));
    match measured {
        Ok(samples) => {
            report(rounds, &samples);
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("webhook_bench: {why}");
            ExitCode::FAILURE
        }
    }
}
