#!/usr/bin/env bash
# `make libraries`: the real Python and Node.js library packages, in the dist tree:
#
#   dist/opt/datadog-packages/datadog-apm-library-python/<ddtrace version>/   + stable link
#     sitecustomize.py               the bootstrap (libraries/python/sitecustomize.py)
#     ddtrace_pkgs/<ABI>/            ddtrace from PyPI for one interpreter ABI,
#                                    e.g. cpython-311-x86_64-linux-gnu
#     version                        the ddtrace version
#   dist/opt/datadog-packages/datadog-apm-library-js/<dd-trace version>/      + stable link
#     node_modules/dd-trace/         dd-trace from npm
#   each version directory also gets .apm-inject-manifest (its files, sizes and SHA-256), which
#   `apm-inject install` checks every copied byte against
#
# ddtrace has compiled extensions, so it is installed once per CPython ABI (glibc, x86_64); the
# bootstrap loads the directory matching the running interpreter and leaves others alone.
# A version already built is kept (delete its directory to rebuild); the bootstrap is always
# refreshed. Needs pip for /usr/bin/python3 and npm (scripts/install-deps.sh), and the CLI built
# (`make build`) to write the manifests.
set -euo pipefail
cd "$(dirname "$0")/.."

DDTRACE_VERSION=4.16.0
DD_TRACE_JS_VERSION=6.21.0
# CPython versions with a ddtrace directory: ddtrace 4.16 supports 3.9 to 3.14.
PYTHON_VERSIONS="3.9 3.10 3.11 3.12 3.13"
root=dist/opt/datadog-packages

python_package() {
    local package=$root/datadog-apm-library-python
    local dir=$package/$DDTRACE_VERSION
    if [ ! -f "$dir/version" ]; then
        echo "libraries: ddtrace $DDTRACE_VERSION for CPython $PYTHON_VERSIONS"
        local host_abi
        host_abi=$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_config_var("SOABI"))')
        rm -rf "$dir.tmp"
        for version in $PYTHON_VERSIONS; do
            local abi=cpython-${version/./}-x86_64-linux-gnu compile=--no-compile
            # Byte-code is precompiled for the interpreter that installs (Debian's python3).
            [ "$abi" = "$host_abi" ] && compile=--compile
            /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
                --no-warn-script-location "$compile" \
                --target "$dir.tmp/ddtrace_pkgs/$abi" \
                --python-version "$version" --implementation cp --abi "cp${version/./}" \
                --platform manylinux2014_x86_64 --only-binary=:all: \
                "ddtrace==$DDTRACE_VERSION"
        done
        echo "$DDTRACE_VERSION" > "$dir.tmp/version"
        mv "$dir.tmp" "$dir"
    fi
    install -m 0644 libraries/python/sitecustomize.py "$dir/sitecustomize.py"
    ln -sfn "$DDTRACE_VERSION" "$package/stable"
}

js_package() {
    local package=$root/datadog-apm-library-js
    local dir=$package/$DD_TRACE_JS_VERSION
    if [ ! -f "$dir/node_modules/dd-trace/init.js" ]; then
        echo "libraries: dd-trace $DD_TRACE_JS_VERSION"
        rm -rf "$dir.tmp"
        mkdir -p "$dir.tmp"
        npm install --prefix "$dir.tmp" --no-audit --no-fund --no-update-notifier \
            --loglevel=error "dd-trace@$DD_TRACE_JS_VERSION"
        mv "$dir.tmp" "$dir"
    fi
    ln -sfn "$DD_TRACE_JS_VERSION" "$package/stable"
}

python_package
js_package
chmod -R a+rX "$root"
for package in "$root"/datadog-apm-library-*; do
    target/release/apm-inject manifest "$package/$(readlink "$package/stable")"
done
