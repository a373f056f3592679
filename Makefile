# apm-inject: build, package, test, demo and benchmark.
#
#   make          build the library and the CLI (release)
#   make dist     lay out dist/opt/datadog-packages (the package tree an installer ships)
#   make libraries  add the real Java (dd-java-agent), Python (ddtrace) and Node.js (dd-trace 5, 6)
#                 library packages to it, and the OpenTelemetry SDKs' (opentelemetry-apm-library-*)
#   make tools    the test agent, Flask, Node.js 16, 18 and 22 and the Spring Boot application
#                 that the end-to-end tests use (target/tools), and the collector (make otelcol)
#   make otelcol  the OpenTelemetry Collector (OTLP receiver, file exporter) built with its
#                 builder from the Go module proxy (target/otelcol), for the OpenTelemetry tests
#   make images   the Debian root filesystem the container tests import (target/images)
#   make test     install test dependencies, then every tier below: lint, unit, e2e, fuzz
#   make unit     unit tests of every crate: seconds, no root, no network
#   make e2e      end-to-end tests (tests/): real runtimes and tracers, safety corpus, hostile
#                 conditions, stress; as root
#   make lint     cargo fmt, clippy, shellcheck of scripts/, module import cycles
#   make kube-apiserver  kube-apiserver and kubectl from the Go module proxy (target/k8s), for the
#                 Kubernetes tests and the capture of webhook test assets
#   make k8s-images  the Kubernetes images (injector, libraries, webhook) with `docker import`
#   make k8s-image-trees  their root filesystems only (target/k8s-images), which the Kubernetes
#                 pod test imports into its own Docker engine
#   make fuzz     every cargo-fuzz target for FUZZ_SECONDS (default 20) each
#   make demo     real programs instrumented with no code change, real tracers reporting
#   make bench    cost per exec and per decision, against an empty preload library; container
#                 start through the shim; pod creation through kube-apiserver with the webhook

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
PACKAGES := dist/opt/datadog-packages
INJECT_DIR := $(PACKAGES)/datadog-apm-inject/$(VERSION)/inject
CARGO ?= cargo

.PHONY: all build dist libraries tools images deps test unit e2e lint fuzz demo bench clean kube-apiserver k8s-images k8s-image-trees otelcol

all: build

build:
	$(CARGO) build --release --workspace

dist: build
	rm -rf $(PACKAGES)/datadog-apm-inject
	install -d -m 0755 $(INJECT_DIR)
	install -m 0644 target/release/liblauncher_preload.so $(INJECT_DIR)/launcher.preload.so
	/usr/bin/python3 scripts/noop_preload.py $(INJECT_DIR)
	install -m 0755 target/release/apm-inject $(INJECT_DIR)/apm-inject
	ln -sfn apm-inject $(INJECT_DIR)/telemetry-forward
	ln -sfn apm-inject $(INJECT_DIR)/auto_inject_runc
	ln -sfn $(VERSION) $(PACKAGES)/datadog-apm-inject/stable
	target/release/apm-inject man $(INJECT_DIR)/man
	target/release/apm-inject completions bash > $(INJECT_DIR)/apm-inject.bash
	target/release/apm-inject manifest $(PACKAGES)/datadog-apm-inject/$(VERSION)

libraries: deps build
	./scripts/libraries.sh

tools: deps otelcol
	./scripts/test-tools.sh

otelcol: deps
	./scripts/otelcol.sh

images: deps
	./scripts/container-images.sh

deps:
	./scripts/install-deps.sh

kube-apiserver: deps
	./scripts/kube-apiserver.sh

k8s-images: deps dist libraries
	./scripts/k8s-images.sh

k8s-image-trees: deps dist libraries
	./scripts/k8s-images.sh build

# Every tier; CI runs this on a fresh machine (.ci/run).
test: deps dist libraries tools images kube-apiserver k8s-image-trees
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) fuzz

# Unit tests of every crate (pure logic over captured inputs): seconds, no root, no network.
unit:
	$(CARGO) test --workspace --exclude apm-inject-tests

# End-to-end tests (tests/): real runtimes, tracers, loaders and installs, as root.
e2e: deps dist libraries tools images kube-apiserver k8s-image-trees
	$(CARGO) test -p apm-inject-tests --no-fail-fast

# Formatting, clippy, shellcheck of the scripts, and no module that imports one importing it back.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	shellcheck scripts/*.sh test-assets/capture.sh .ci/run
	/usr/bin/python3 scripts/module_cycles.py

fuzz: deps build
	./scripts/fuzz.sh

demo: deps dist libraries tools
	./scripts/demo.sh
	./scripts/demo-tracers.sh

bench: deps dist kube-apiserver
	/usr/bin/python3 bench/run.py
	/usr/bin/python3 bench/workload.py
	/usr/bin/python3 bench/container_start.py
	$(CARGO) run --release -p apm-inject-tests --example webhook_bench

clean:
	$(CARGO) clean
	rm -rf dist
