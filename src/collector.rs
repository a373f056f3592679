//! A real OTLP receiver for the OpenTelemetry end-to-end tests: the OpenTelemetry Collector that
//! `make otelcol` builds with the collector's builder (`scripts/otelcol.sh`: the OTLP receiver
//! and the file exporter), on 127.0.0.1 ports of its own, writing what it receives as OTLP JSON
//! lines into a file the test reads; and the OpenTelemetry library packages of `make libraries`.

use crate::tracers::{dist_package, free_ports, wait_for, Background};
use crate::{workspace, Packages};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// One span received: its resource's `service.name`, its name and its resource's attributes
/// (`key=value`, string values).
#[derive(Debug, Clone)]
pub struct Span {
    /// `service.name` of the span's resource.
    pub service: String,
    /// The span's name, e.g. `GET /`.
    pub name: String,
    /// The resource's string attributes as `key=value`.
    pub resource: Vec<String>,
}

/// A running collector; stopped when dropped.
pub struct Collector {
    process: Background,
    output: PathBuf,
    /// The OTLP/HTTP port on 127.0.0.1.
    pub http_port: u16,
    _dir: tempfile::TempDir,
}

impl Collector {
    /// Starts the collector and waits until its OTLP/HTTP receiver listens.
    pub fn start() -> Collector {
        let binary = workspace().join("target/otelcol/otelcol-apm-inject");
        assert!(
            binary.exists(),
            "{} is missing: run `make otelcol` (`make tools` does)",
            binary.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("otlp.json");
        let [grpc_port, http_port] = free_ports::<2>();
        let config = dir.path().join("collector.yaml");
        let pipeline = "{receivers: [otlp], exporters: [file]}";
        std::fs::write(
            &config,
            format!(
                "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: \"127.0.0.1:{grpc_port}\"}}\n      http: {{endpoint: \"127.0.0.1:{http_port}\"}}\n\
                 exporters:\n  file:\n    path: {}\n    flush_interval: 100ms\n\
                 service:\n  telemetry:\n    metrics: {{level: none}}\n  pipelines:\n    traces: {pipeline}\n    metrics: {pipeline}\n    logs: {pipeline}\n",
                output.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new(binary);
        cmd.arg("--config").arg(&config);
        let mut process = Background::start(&mut cmd);
        process.wait_until_listening(http_port);
        Collector {
            process,
            output,
            http_port,
            _dir: dir,
        }
    }

    /// The variables that point an OpenTelemetry SDK at this collector (OTLP over HTTP, spans
    /// exported within a fraction of a second, no metrics or logs).
    pub fn sdk_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{}", self.http_port),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200".into()),
            ("OTEL_METRICS_EXPORTER", "none".into()),
            ("OTEL_LOGS_EXPORTER", "none".into()),
        ]
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        let text = std::fs::read_to_string(&self.output).unwrap_or_default();
        let mut spans = Vec::new();
        for line in text.lines() {
            let Ok(request) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            for resource_spans in request["resourceSpans"].as_array().into_iter().flatten() {
                let resource: Vec<String> = resource_spans["resource"]["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| {
                        Some(format!(
                            "{}={}",
                            a["key"].as_str()?,
                            a["value"]["stringValue"].as_str()?
                        ))
                    })
                    .collect();
                let service = resource
                    .iter()
                    .find_map(|a| a.strip_prefix("service.name="))
                    .unwrap_or_default()
                    .to_owned();
                for scope in resource_spans["scopeSpans"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    for span in scope["spans"].as_array().into_iter().flatten() {
                        spans.push(Span {
                            service: service.clone(),
                            name: span["name"].as_str().unwrap_or_default().to_owned(),
                            resource: resource.clone(),
                        });
                    }
                }
            }
        }
        spans
    }

    /// Waits until spans of `service` have arrived, and returns them.
    pub fn wait_for_service(&self, service: &str) -> Vec<Span> {
        wait_for(&format!("OTLP spans of {service}"), || {
            let spans: Vec<Span> = self
                .spans()
                .into_iter()
                .filter(|s| s.service == service)
                .collect();
            (!spans.is_empty()).then_some(spans)
        })
    }

    /// What the collector printed.
    pub fn output(&self) -> String {
        self.process.output()
    }
}

impl Packages {
    /// [`Packages::with_tracers`] plus the OpenTelemetry Java, Python and Node.js packages of
    /// `make libraries` (linked, not copied).
    pub fn with_both_sdks() -> Packages {
        let p = Packages::with_tracers();
        for lang in ["java", "python", "js"] {
            let name = format!("opentelemetry-apm-library-{lang}");
            std::os::unix::fs::symlink(dist_package(&name), p.root.join(name)).unwrap();
        }
        p
    }
}
