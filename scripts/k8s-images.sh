#!/usr/bin/env bash
# `make k8s-images`: the images the webhook puts into pods, and the webhook's own, built with
# no registry. Each image is a directory tree in target/k8s-images/<name>/ (package files hard
# linked from dist/ where the file system allows), listed with its tags in
# target/k8s-images/images; `docker import` makes the images from the trees.
#
#   k8s-images.sh build    the trees and the list (`make k8s-image-trees`; `make test` needs them)
#   k8s-images.sh import   `docker import` of every listed tree under each of its tags into the
#                          engine at DOCKER_HOST (the default one if unset); the Kubernetes pod
#                          test imports into its own private dockerd this way
#   k8s-images.sh          both (`make k8s-images`)
#
#   apm-inject/apm-inject:<version>             /apm-inject-init (static) + datadog-apm-inject
#   apm-inject/dd-lib-<lang>-init:<ver>, v<N>   /apm-inject-init + datadog-apm-library-<lang>
#                                               (each library `make libraries` laid out)
#   apm-inject/otel-lib-<lang>-init:<ver>, v<N> /apm-inject-init + opentelemetry-apm-library-<lang>
#                                               (the webhook's `sdk: opentelemetry`)
#   apm-inject/apm-inject-webhook:<version>     /usr/bin/apm-inject{,-webhook} and the shared
#                                               libraries they load (no shell, no package manager)
#
# The injector and library images hold no shell: their only program is the static copier.
# The tags are the webhook's defaults (registry `apm-inject`, injector tag = this version).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/k8s-images
list=$out/images

build() {
    local version packages=dist/opt/datadog-packages triple=x86_64-unknown-linux-gnu
    version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
    # The copier, static: the images have no libc.
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release -p k8s-init --target "$triple"
    # Global: tree() installs it.
    init=target/$triple/release/apm-inject-init
    # (`ldd` exits 0 on a static PIE: look for a loader or a needed library instead.)
    if readelf -lW "$init" | grep -q 'Requesting program interpreter' \
        || readelf -dW "$init" | grep -q '(NEEDED)'; then
        echo "k8s-images: $init is not static" >&2
        exit 1
    fi
    # As `make build` builds them (the same command: no rebuild with other features).
    cargo build --quiet --release --workspace

    rm -rf "$out"
    mkdir -p "$out"
    : > "$list.partial"

    local root package family lang lib version_of_lib
    root=$(tree apm-inject)
    copy "$packages/datadog-apm-inject" "$root/opt/datadog-packages/"
    echo "apm-inject apm-inject/apm-inject:$version" >> "$list.partial"

    for package in "$packages"/datadog-apm-library-* "$packages"/opentelemetry-apm-library-*; do
        [ -L "$package/stable" ] || continue
        lang=${package##*-apm-library-}
        case ${package##*/} in
            datadog-*) family="dd" ;;
            *) family="otel" ;;
        esac
        version_of_lib=$(readlink "$package/stable")
        root=$(tree "$family-lib-$lang-init")
        copy "$package" "$root/opt/datadog-packages/"
        echo "$family-lib-$lang-init apm-inject/$family-lib-$lang-init:$version_of_lib apm-inject/$family-lib-$lang-init:v${version_of_lib%%.*}" >> "$list.partial"
    done

    root=$out/apm-inject-webhook
    mkdir -p "$root/usr/bin" "$root/tmp"
    install -m 0755 target/release/apm-inject target/release/apm-inject-webhook "$root/usr/bin/"
    for lib in $(ldd target/release/apm-inject target/release/apm-inject-webhook | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
        cp --parents -L "$lib" "$root/"
    done
    echo "apm-inject-webhook apm-inject/apm-inject-webhook:$version" >> "$list.partial"
    mv "$list.partial" "$list"
}

# tree NAME: an empty root with the copier; prints its path.
tree() {
    local root=$out/$1
    mkdir -p "$root/opt/datadog-packages"
    install -m 0755 "$init" "$root/apm-inject-init"
    echo "$root"
}

# copy PACKAGE DIR: hard links where dist/ and target/ share a file system, else a copy.
copy() {
    cp -al "$1" "$2" 2>/dev/null || { rm -rf "${2:?}/${1##*/}"; cp -a "$1" "$2"; }
}

import() {
    if [ ! -f "$list" ]; then
        echo "k8s-images: $list is missing: run \`make k8s-image-trees\`" >&2
        exit 1
    fi
    local name first tags tag
    while read -r name first tags; do
        tar --numeric-owner --owner=0 --group=0 --sort=name -C "$out/$name" -c . \
            | docker import - "$first" > /dev/null
        echo "k8s-images: $first"
        for tag in $tags; do
            docker tag "$first" "$tag"
            echo "k8s-images: $tag"
        done
    done < "$list"
}

case "${1:-all}" in
    build) build ;;
    import) import ;;
    all) build; import ;;
    *) echo "usage: $0 [build|import]" >&2; exit 2 ;;
esac
