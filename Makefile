# apm-inject: build, package, test, demo and benchmark.
#
#   make          build the library and the CLI (release)
#   make dist     lay out dist/opt/datadog-packages (the package tree an installer ships)
#   make libraries  add the real Python (ddtrace) and Node.js (dd-trace) library packages to it
#   make tools    the test agent, Flask and Node.js 22 that the end-to-end tests use (target/tools)
#   make test     install test dependencies, then every test (fmt, clippy, unit, end-to-end,
#                 safety corpus, hostile conditions, stress) and `make fuzz`
#   make kube-apiserver  kube-apiserver and kubectl from the Go module proxy (target/k8s), for the
#                 Kubernetes webhook tests
#   make images   the Kubernetes images (injector, libraries, webhook) with `docker import`
#   make fuzz     every cargo-fuzz target for FUZZ_SECONDS (default 20) each
#   make demo     real programs instrumented with no code change, real tracers reporting
#   make bench    cost per exec and per decision, against an empty preload library

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
PACKAGES := dist/opt/datadog-packages
INJECT_DIR := $(PACKAGES)/datadog-apm-inject/$(VERSION)/inject
CARGO ?= cargo

.PHONY: all build dist libraries tools deps test fuzz demo bench clean kube-apiserver images

all: build

build:
	$(CARGO) build --release --workspace

dist: build
	rm -rf $(PACKAGES)/datadog-apm-inject
	install -d -m 0755 $(INJECT_DIR)
	install -m 0644 target/release/liblauncher_preload.so $(INJECT_DIR)/launcher.preload.so
	install -m 0755 target/release/apm-inject $(INJECT_DIR)/apm-inject
	ln -sfn apm-inject $(INJECT_DIR)/telemetry-forward
	ln -sfn $(VERSION) $(PACKAGES)/datadog-apm-inject/stable

libraries: deps
	./scripts/libraries.sh

tools: deps
	./scripts/test-tools.sh

deps:
	./scripts/install-deps.sh

kube-apiserver: deps
	./scripts/kube-apiserver.sh

images: deps dist libraries
	./scripts/k8s-images.sh

test: deps dist libraries tools kube-apiserver
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace
	$(MAKE) fuzz

fuzz: deps build
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	./scripts/fuzz.sh

demo: deps dist libraries tools
	./scripts/demo.sh
	./scripts/demo-tracers.sh

bench: deps dist
	/usr/bin/python3 bench/run.py

clean:
	$(CARGO) clean
	rm -rf dist
