#!/usr/bin/env bash
# `make otelcol` (called by `make tools`): the OpenTelemetry Collector that the OpenTelemetry
# end-to-end tests send OTLP to, built with the collector's own builder (ocb,
# go.opentelemetry.io/collector/cmd/builder) from the Go module proxy, from
# tools/otelcol/builder-config.yaml (the OTLP receiver and the file exporter, every collector
# module at one release) into target/otelcol/otelcol-apm-inject. Nothing is rebuilt when the
# configuration is unchanged. Go's caches live in target/go-otelcol and are deleted once the
# collector is built. Needs Go >= 1.24 (/usr/local/go here, else Debian's golang-go).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILDER_VERSION=v0.161.0
out=target/otelcol
config=tools/otelcol/builder-config.yaml
stamp=$( (echo "$BUILDER_VERSION"; cat "$config") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$out/pins" 2>/dev/null)" = "$stamp" ] && [ -x "$out/otelcol-apm-inject" ]; then
    exit 0
fi
go=go
[ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go
caches=$PWD/target/go-otelcol
mkdir -p "$out" "$caches/tmp"
# The builder runs `go` from PATH: the same one.
godir=$(dirname "$(command -v "$go")")
export GOMODCACHE=$caches/mod GOCACHE=$caches/cache GOTMPDIR=$caches/tmp GOBIN=$caches/bin \
    GOFLAGS=-buildvcs=false GOTOOLCHAIN=local CGO_ENABLED=0 PATH=$godir:$PATH
echo "otelcol: building the collector with ocb $BUILDER_VERSION ($($go version))"
start=$(date +%s)
$go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
rm -rf "$caches/src"
"$caches/bin/builder" --config "$config" --skip-strict-versioning=false \
    --ldflags='-s -w' --output-path "$caches/src" >"$caches/builder.log" 2>&1 || {
    tail -n 40 "$caches/builder.log" >&2
    exit 1
}
install -m 0755 "$caches/src/otelcol-apm-inject" "$out/otelcol-apm-inject"
"$out/otelcol-apm-inject" --version
echo "$stamp" > "$out/pins"
echo "otelcol: built in $(( $(date +%s) - start )) s; caches: $(du -sh "$caches" | cut -f1)"
$go clean -cache
$go clean -modcache
rm -rf "$caches"
