#!/usr/bin/env bash
# `make libraries`: the real Java, Python and Node.js library packages, in the dist tree:
#
#   dist/opt/datadog-packages/datadog-apm-library-java/<dd-java-agent version>/  + stable link
#     dd-java-agent.jar              dd-java-agent from Maven Central
#   dist/opt/datadog-packages/datadog-apm-library-python/<ddtrace version>/   + stable link
#     sitecustomize.py               the bootstrap (libraries/python/sitecustomize.py)
#     ddtrace_pkgs/<ABI>/            ddtrace from PyPI for one interpreter ABI,
#                                    e.g. cpython-311-x86_64-linux-gnu
#     version                        the ddtrace version
#   dist/opt/datadog-packages/datadog-apm-library-js/<dd-trace 6 version>/    + stable link
#     node_modules/dd-trace/         dd-trace 6 from npm (Node.js 22 and later)
#     dd-trace-5/node_modules/dd-trace/  dd-trace 5 from npm (Node.js 18 and later)
#
# Each package also gets supported_runtimes.json (scripts/supported_runtimes.py): which tracer
# serves which runtime versions, taken from the tracers' own metadata; the launcher reads it.
# dd-java-agent publishes no requirements.json on Maven Central (its guardrails ship inside
# the jar), so the Java package has none. Each version directory finally gets
# .apm-inject-manifest (its files, sizes and SHA-256), which `apm-inject install` checks every
# copied byte against.
#
# ddtrace has compiled extensions, so it is installed once per CPython ABI (glibc, x86_64); the
# bootstrap loads the directory matching the running interpreter and leaves others alone.
# A version already built is kept (delete its directory to rebuild); the bootstrap is always
# refreshed. Needs pip for /usr/bin/python3, npm and Maven (scripts/install-deps.sh; Maven's
# downloads are cached in target/m2), and the CLI built (`make build`) to write the manifests.
set -euo pipefail
cd "$(dirname "$0")/.."

DDTRACE_VERSION=4.16.0
DD_TRACE_JS_VERSION=6.21.0
# dd-trace 6 supports Node.js 22 and later; dd-trace 5 (maintained) Node.js 18 and later.
DD_TRACE_JS_5_VERSION=5.132.0
DD_JAVA_AGENT_VERSION=1.68.1
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
    /usr/bin/python3 scripts/supported_runtimes.py python "$dir"
    ln -sfn "$DDTRACE_VERSION" "$package/stable"
}

# npm_install DIR VERSION: dd-trace VERSION into DIR/node_modules, unless already there.
npm_install() {
    local dir=$1 version=$2
    [ -f "$dir/node_modules/dd-trace/init.js" ] && return
    echo "libraries: dd-trace $version"
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    npm install --prefix "$dir.tmp" --no-audit --no-fund --no-update-notifier \
        --loglevel=error "dd-trace@$version"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
}

js_package() {
    local package=$root/datadog-apm-library-js
    local dir=$package/$DD_TRACE_JS_VERSION
    npm_install "$dir" "$DD_TRACE_JS_VERSION"
    npm_install "$dir/dd-trace-5" "$DD_TRACE_JS_5_VERSION"
    /usr/bin/python3 scripts/supported_runtimes.py js "$dir" . dd-trace-5
    ln -sfn "$DD_TRACE_JS_VERSION" "$package/stable"
}

java_package() {
    local package=$root/datadog-apm-library-java
    local dir=$package/$DD_JAVA_AGENT_VERSION
    if [ ! -f "$dir/dd-java-agent.jar" ]; then
        echo "libraries: dd-java-agent $DD_JAVA_AGENT_VERSION"
        local m2=target/m2 artifact=com.datadoghq:dd-java-agent:$DD_JAVA_AGENT_VERSION
        ./scripts/mvn.sh dependency:get -Dartifact="$artifact" -Dtransitive=false
        rm -rf "$dir.tmp"
        mkdir -p "$dir.tmp"
        cp "$m2/com/datadoghq/dd-java-agent/$DD_JAVA_AGENT_VERSION/dd-java-agent-$DD_JAVA_AGENT_VERSION.jar" \
            "$dir.tmp/dd-java-agent.jar"
        mv "$dir.tmp" "$dir"
    fi
    /usr/bin/python3 scripts/supported_runtimes.py java "$dir"
    ln -sfn "$DD_JAVA_AGENT_VERSION" "$package/stable"
}

python_package
js_package
java_package
chmod -R a+rX,go-w "$root"
for package in "$root"/datadog-apm-library-*; do
    target/release/apm-inject manifest "$package/$(readlink "$package/stable")"
done
