#!/usr/bin/env bash
# `make libraries`: the real Java, Python and Node.js library packages, in the dist tree:
#
#   dist/opt/datadog-packages/datadog-apm-library-java/<dd-java-agent version>/  + stable link
#     dd-java-agent.jar              dd-java-agent from Maven Central
#   dist/opt/datadog-packages/datadog-apm-library-python/<ddtrace version>/   + stable link
#     sitecustomize.py               the entry point (libraries/python/sitecustomize.py), with
#                                    no byte-code, and a __pycache__ file and sitecustomize.pyc
#                                    and .pyo directories that keep any from being written
#     sitecustomize.d/               the bootstrap it imports (libraries/python), byte-compiled
#     ddtrace_pkgs/<ABI>/            ddtrace from PyPI for one interpreter ABI,
#                                    e.g. cpython-311-x86_64-linux-gnu
#     version                        the ddtrace version
#   dist/opt/datadog-packages/datadog-apm-library-js/<dd-trace 6 version>/    + stable link
#     node_modules/dd-trace/         dd-trace 6 from npm (Node.js 22 and later)
#     dd-trace-5/node_modules/dd-trace/  dd-trace 5 from npm (Node.js 18 and later)
#     bootstrap.cjs, bootstrap.mjs   the bootstrap (libraries/js), in each tracer directory
#     dd-trace-5/bootstrap.{cjs,mjs}   (beside the node_modules whose dd-trace it loads)
#
# and the OpenTelemetry SDKs beside them, for `sdk: opentelemetry` (same layout, own names):
#
#   dist/opt/datadog-packages/opentelemetry-apm-library-java/<agent version>/  + stable link
#     opentelemetry-javaagent.jar    io.opentelemetry.javaagent:opentelemetry-javaagent, Maven Central
#   dist/opt/datadog-packages/opentelemetry-apm-library-python/<distro version>/  + stable link
#     sitecustomize.py, sitecustomize.d/   the same bootstrap as Datadog's (libraries/python)
#     opentelemetry_pkgs/<ABI>/      opentelemetry-distro[otlp] and common instrumentations
#                                    from PyPI, per ABI, byte-compiled
#     version                        the distro's version
#   dist/opt/datadog-packages/opentelemetry-apm-library-js/<version>/  + stable link
#     node_modules/@opentelemetry/auto-instrumentations-node/   from npm
#     bootstrap.cjs                  the bootstrap (libraries/js-opentelemetry)
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
# refreshed. Nothing may be written into the package at run time, so every .py file gets its
# byte-code here at each optimisation level (python, -O, -OO), compiled by the real interpreter
# of each ABI (pyenv's 3.9 to 3.13).
# Needs pip for /usr/bin/python3, pyenv's interpreters, npm and Maven (scripts/install-deps.sh;
# Maven's downloads are cached in target/m2), and the CLI built (`make build`) to write the
# manifests.
set -euo pipefail
cd "$(dirname "$0")/.."

DDTRACE_VERSION=4.16.0
DD_TRACE_JS_VERSION=6.21.0
# dd-trace 6 supports Node.js 22 and later; dd-trace 5 (maintained) Node.js 18 and later.
DD_TRACE_JS_5_VERSION=5.132.0
DD_JAVA_AGENT_VERSION=1.68.1
# CPython versions with a ddtrace directory: ddtrace 4.16 supports 3.9 to 3.14.
PYTHON_VERSIONS="3.9 3.10 3.11 3.12 3.13"
# The OpenTelemetry SDKs: the Java agent, the Python distro with the OTLP exporters and the
# instrumentations that opentelemetry-bootstrap picks for common frameworks and clients, and
# Node.js's auto-instrumentations. opentelemetry-distro 0.66 needs CPython 3.10 or later;
# auto-instrumentations-node 0.82 Node.js 22.15 or later.
OTEL_JAVA_AGENT_VERSION=2.31.0
OTEL_PYTHON_DISTRO_VERSION=0.66b1
OTEL_PYTHON_INSTRUMENTATIONS="flask django requests urllib urllib3 sqlite3 wsgi dbapi"
OTEL_PYTHON_VERSIONS="3.10 3.11 3.12 3.13"
OTEL_NODE_VERSION=0.82.0
root=dist/opt/datadog-packages

# The interpreter of CPython `version` (e.g. 3.12) that compiles byte-code for its ABI: pyenv's
# (every version of these machines lives under /root/.pyenv/versions), else the system's.
python_for() {
    local version=$1 found
    for found in /root/.pyenv/versions/"$version".*/bin/python"$version" ""; do
        [ -x "$found" ] && break
    done
    [ -n "$found" ] || found=$(command -v "/usr/bin/python$version" || true)
    if [ -z "$found" ]; then
        echo "libraries: no python$version to compile byte-code with (pyenv or /usr/bin)" >&2
        return 1
    fi
    echo "$found"
}

# Compiles every .py under `dir` with the interpreter `python` (3.9 or later), as
# unchecked-hash .pyc files (PEP 552: valid whatever the files' times after a copy) at the
# three optimisation levels (.pyc, .opt-1.pyc for -O, .opt-2.pyc for -OO or PYTHONOPTIMIZE),
# so that no interpreter ever writes byte-code into the installed package. Fails if a file
# does not compile.
compile_tree() {
    local python=$1 dir=$2
    "$python" -m compileall -q -j 0 -o 0 -o 1 -o 2 --invalidation-mode unchecked-hash "$dir" \
        >/dev/null
}

python_package() {
    local package=$root/datadog-apm-library-python
    local dir=$package/$DDTRACE_VERSION
    # Built and compiled: the last ABI's byte-code is the last thing written.
    local last=${PYTHON_VERSIONS##* }
    local stamp=$dir/ddtrace_pkgs/cpython-${last/./}-x86_64-linux-gnu/ddtrace/__pycache__/__init__.cpython-${last/./}.opt-2.pyc
    if [ ! -f "$stamp" ]; then
        echo "libraries: ddtrace $DDTRACE_VERSION for CPython $PYTHON_VERSIONS"
        rm -rf "$dir.tmp"
        for version in $PYTHON_VERSIONS; do
            local abi=cpython-${version/./}-x86_64-linux-gnu python
            python=$(python_for "$version")
            /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
                --no-warn-script-location --no-compile \
                --target "$dir.tmp/ddtrace_pkgs/$abi" \
                --python-version "$version" --implementation cp --abi "cp${version/./}" \
                --platform manylinux2014_x86_64 --only-binary=:all: \
                "ddtrace==$DDTRACE_VERSION"
            compile_tree "$python" "$dir.tmp/ddtrace_pkgs/$abi"
        done
        echo "$DDTRACE_VERSION" > "$dir.tmp/version"
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
    fi
    bootstrap "$dir"
    /usr/bin/python3 scripts/supported_runtimes.py python "$dir"
    ln -sfn "$DDTRACE_VERSION" "$package/stable"
}

# The bootstrap, in the version directory `dir` (on PYTHONPATH at run time). The entry point
# sitecustomize.py, which any Python inheriting PYTHONPATH imports (an embedded one, one forced
# with DD_INJECT_FORCE, a version this machine lacks), gets no byte-code, and none can be
# written for it: `__pycache__` is an empty file, `sitecustomize.pyc` and `.pyo` (Python 2
# writes beside the source) empty directories. It imports the bootstrap module
# sitecustomize.d/_apm_inject_bootstrap.py with byte-code writes off; that one gets byte-code
# for every CPython of this machine (2.7, 3.6 to 3.13) at each optimisation level:
# unchecked-hash .pyc from 3.7 on, timestamp .pyc for 3.6 and (beside the source, .pyc and
# .pyo) 2.7, kept valid because the source's time is fixed and `apm-inject install` keeps
# file times.
bootstrap() {
    local dir=$1 python module=$1/sitecustomize.d/_apm_inject_bootstrap.py
    rm -rf "$dir/__pycache__" "$dir/sitecustomize.pyc" "$dir/sitecustomize.pyo" "$dir/sitecustomize.d"
    install -m 0644 libraries/python/sitecustomize.py "$dir/sitecustomize.py"
    install -m 0644 /dev/null "$dir/__pycache__"
    install -d -m 0755 "$dir/sitecustomize.pyc" "$dir/sitecustomize.pyo" "$dir/sitecustomize.d"
    install -m 0644 libraries/python/_apm_inject_bootstrap.py "$module"
    touch -d @0 "$dir/sitecustomize.py" "$module"
    for python in /usr/bin/python3 /root/.pyenv/versions/*/bin/python; do
        [ -x "$python" ] || continue
        if "$python" -c 'import sys; sys.exit(sys.version_info >= (3,))'; then
            # Python 2's py_compile writes .pyc, or .pyo under -O.
            local compile='import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True)'
            "$python" -c "$compile" "$module"
            "$python" -O -c "$compile" "$module"
        else
            "$python" - "$module" <<'EOF'
import py_compile, sys
mode = getattr(py_compile, "PycInvalidationMode", None)
options = {"invalidation_mode": mode.UNCHECKED_HASH} if mode else {}
for level in (0, 1, 2):
    py_compile.compile(sys.argv[1], doraise=True, optimize=level, **options)
EOF
        fi
    done
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
    local tracer
    for tracer in "$dir" "$dir/dd-trace-5"; do
        install -m 0644 libraries/js/bootstrap.cjs libraries/js/bootstrap.mjs "$tracer/"
    done
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

# The OpenTelemetry Python package: the distro, its OTLP exporters and instrumentations,
# installed per ABI like ddtrace, byte-compiled, with the same bootstrap (it loads whichever
# SDK the package holds).
otel_python_package() {
    local package=$root/opentelemetry-apm-library-python
    local dir=$package/$OTEL_PYTHON_DISTRO_VERSION
    local last=${OTEL_PYTHON_VERSIONS##* }
    local stamp=$dir/opentelemetry_pkgs/cpython-${last/./}-x86_64-linux-gnu/opentelemetry/distro/__pycache__/__init__.cpython-${last/./}.opt-2.pyc
    if [ ! -f "$stamp" ]; then
        echo "libraries: opentelemetry-distro $OTEL_PYTHON_DISTRO_VERSION for CPython $OTEL_PYTHON_VERSIONS"
        rm -rf "$dir.tmp"
        local requirements=("opentelemetry-distro[otlp]==$OTEL_PYTHON_DISTRO_VERSION") name
        for name in $OTEL_PYTHON_INSTRUMENTATIONS; do
            requirements+=("opentelemetry-instrumentation-$name==$OTEL_PYTHON_DISTRO_VERSION")
        done
        for version in $OTEL_PYTHON_VERSIONS; do
            local abi=cpython-${version/./}-x86_64-linux-gnu python
            python=$(python_for "$version")
            /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
                --no-warn-script-location --no-compile \
                --target "$dir.tmp/opentelemetry_pkgs/$abi" \
                --python-version "$version" --implementation cp --abi "cp${version/./}" \
                --platform manylinux2014_x86_64 --only-binary=:all: "${requirements[@]}"
            compile_tree "$python" "$dir.tmp/opentelemetry_pkgs/$abi"
        done
        echo "$OTEL_PYTHON_DISTRO_VERSION" > "$dir.tmp/version"
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
    fi
    bootstrap "$dir"
    /usr/bin/python3 scripts/supported_runtimes.py python "$dir"
    ln -sfn "$OTEL_PYTHON_DISTRO_VERSION" "$package/stable"
}

otel_js_package() {
    local package=$root/opentelemetry-apm-library-js
    local dir=$package/$OTEL_NODE_VERSION
    local pin=@opentelemetry/auto-instrumentations-node@$OTEL_NODE_VERSION
    if [ ! -f "$dir/node_modules/@opentelemetry/auto-instrumentations-node/package.json" ]; then
        echo "libraries: $pin"
        rm -rf "$dir.tmp"
        mkdir -p "$dir.tmp"
        npm install --prefix "$dir.tmp" --no-audit --no-fund --no-update-notifier \
            --loglevel=error "$pin"
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
    fi
    install -m 0644 libraries/js-opentelemetry/bootstrap.cjs "$dir/"
    /usr/bin/python3 scripts/supported_runtimes.py js "$dir" .
    ln -sfn "$OTEL_NODE_VERSION" "$package/stable"
}

otel_java_package() {
    local package=$root/opentelemetry-apm-library-java
    local dir=$package/$OTEL_JAVA_AGENT_VERSION
    if [ ! -f "$dir/opentelemetry-javaagent.jar" ]; then
        echo "libraries: opentelemetry-javaagent $OTEL_JAVA_AGENT_VERSION"
        local m2=target/m2 group=io/opentelemetry/javaagent/opentelemetry-javaagent
        ./scripts/mvn.sh dependency:get -Dtransitive=false \
            -Dartifact="io.opentelemetry.javaagent:opentelemetry-javaagent:$OTEL_JAVA_AGENT_VERSION"
        rm -rf "$dir.tmp"
        mkdir -p "$dir.tmp"
        cp "$m2/$group/$OTEL_JAVA_AGENT_VERSION/opentelemetry-javaagent-$OTEL_JAVA_AGENT_VERSION.jar" \
            "$dir.tmp/opentelemetry-javaagent.jar"
        mv "$dir.tmp" "$dir"
    fi
    /usr/bin/python3 scripts/supported_runtimes.py java "$dir"
    ln -sfn "$OTEL_JAVA_AGENT_VERSION" "$package/stable"
}

python_package
js_package
java_package
otel_python_package
otel_js_package
otel_java_package
chmod -R a+rX,go-w "$root"
for package in "$root"/datadog-apm-library-* "$root"/opentelemetry-apm-library-*; do
    target/release/apm-inject manifest "$package/$(readlink "$package/stable")"
done
