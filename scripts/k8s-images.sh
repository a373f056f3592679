#!/usr/bin/env bash
# `make k8s-images`: the images the webhook puts into pods, and the webhook's own,
# built with no registry: each is a directory tree in target/k8s-images/<name>/ and its tar
# file, then `docker import`ed into the Docker engine at DOCKER_HOST (the default one if unset;
# SKIP_IMPORT=1 builds the tar files only).
#
#   apm-inject/apm-inject:<version>             /apm-inject-init (static) + datadog-apm-inject
#   apm-inject/dd-lib-<lang>-init:<ver>, v<N>   /apm-inject-init + datadog-apm-library-<lang>
#                                               (each library `make libraries` laid out)
#   apm-inject/apm-inject-webhook:<version>     /usr/bin/apm-inject{,-webhook} and the shared
#                                               libraries they load (no shell, no package manager)
#
# The injector and library images hold no shell: their only program is the static copier.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
PACKAGES=dist/opt/datadog-packages
out=target/k8s-images
triple=x86_64-unknown-linux-gnu

# The copier, static: the images have no libc.
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release -p k8s-init --target "$triple"
init=target/$triple/release/apm-inject-init
if ldd "$init" >/dev/null 2>&1; then
    echo "k8s-images: $init is not static" >&2
    exit 1
fi
cargo build --quiet --release -p injector -p webhook

rm -rf "$out"
mkdir -p "$out"
images=()

# tree NAME: an empty root with the copier; prints its path.
tree() {
    local root=$out/$1
    mkdir -p "$root/opt/datadog-packages"
    install -m 0755 "$init" "$root/apm-inject-init"
    echo "$root"
}

# pack NAME TAG...: the tar file of target/k8s-images/NAME, to import under each TAG.
pack() {
    local name=$1; shift
    tar --numeric-owner --owner=0 --group=0 --sort=name -C "$out/$name" -cf "$out/$name.tar" .
    images+=("$name.tar=$*")
}

root=$(tree apm-inject)
cp -a "$PACKAGES/datadog-apm-inject" "$root/opt/datadog-packages/"
pack apm-inject "apm-inject/apm-inject:$VERSION"

for package in "$PACKAGES"/datadog-apm-library-*; do
    [ -L "$package/stable" ] || continue
    lang=${package##*/datadog-apm-library-}
    version=$(readlink "$package/stable")
    root=$(tree "dd-lib-$lang-init")
    cp -a "$package" "$root/opt/datadog-packages/"
    pack "dd-lib-$lang-init" "apm-inject/dd-lib-$lang-init:$version" "apm-inject/dd-lib-$lang-init:v${version%%.*}"
done

root=$out/apm-inject-webhook
mkdir -p "$root/usr/bin" "$root/tmp"
install -m 0755 target/release/apm-inject target/release/apm-inject-webhook "$root/usr/bin/"
for lib in $(ldd target/release/apm-inject target/release/apm-inject-webhook | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
    cp --parents -L "$lib" "$root/"
done
pack apm-inject-webhook "apm-inject/apm-inject-webhook:$VERSION"

if [ "${SKIP_IMPORT:-0}" = 1 ]; then
    exit 0
fi
for image in "${images[@]}"; do
    file=${image%%=*}
    for tag in ${image#*=}; do
        docker import "$out/$file" "$tag" > /dev/null
        echo "k8s-images: $tag"
    done
done
