#!/usr/bin/env bash
# `make kube-apiserver`: kube-apiserver and kubectl for the Kubernetes tests, built from the
# Go module proxy (tools/kube-apiserver: k8s.io/kubernetes as a module dependency, its k8s.io
# staging modules pinned by `replace` to the matching tags) into target/k8s/. Nothing is rebuilt
# when go.mod and go.sum are unchanged. Go's module cache, build cache and scratch space live in
# target/go (never /tmp, which may be small) and are deleted once the binaries are built: they
# take several GB that the rest of `make test` needs. Needs Go >= 1.26 (/usr/local/go here).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/k8s
stamp=$(cat tools/kube-apiserver/go.mod tools/kube-apiserver/go.sum | sha256sum | cut -d' ' -f1)
if [ "$(cat "$out/pins" 2>/dev/null)" = "$stamp" ] && [ -x "$out/kube-apiserver" ] && [ -x "$out/kubectl" ]; then
    exit 0
fi
go=go
[ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go
mkdir -p "$out" target/go/tmp
export GOMODCACHE=$PWD/target/go/mod GOCACHE=$PWD/target/go/cache GOTMPDIR=$PWD/target/go/tmp \
    GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
echo "kube-apiserver: building kube-apiserver and kubectl ($($go version))"
start=$(date +%s)
(cd tools/kube-apiserver && $go build -trimpath -ldflags='-s -w' -o "../../$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
echo "$stamp" > "$out/pins"
echo "kube-apiserver: built in $(( $(date +%s) - start )) s; caches: $(du -sh target/go | cut -f1)"
$go clean -cache
$go clean -modcache
rm -rf target/go
