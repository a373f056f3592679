#!/usr/bin/env bash
# `make demo`, first part: unmodified Python, Java and Node.js programs started under
# launcher.preload.so pick up a tracer; version checks and package managers are left alone.
# The tracers here are fixtures that report they were loaded (the Java tracer cannot be fetched
# on these machines); scripts/demo-tracers.sh runs the real Python and Node.js tracers.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$PWD/target/demo
rm -rf "$work"
mkdir -p "$work/classes"
root=$work/opt/datadog-packages
mkdir -p "$root"
cp -a dist/opt/datadog-packages/datadog-apm-inject "$root/"
install_library() { # lang file-in-package source
    mkdir -p "$(dirname "$root/datadog-apm-library-$1/1.0.0/$2")"
    cp "$3" "$root/datadog-apm-library-$1/1.0.0/$2"
    ln -sfn 1.0.0 "$root/datadog-apm-library-$1/stable"
}
javac --release 8 -d "$work/classes" tests/fixtures/FixtureAgent.java tests/fixtures/Hello.java
printf 'Premain-Class: FixtureAgent\n' > "$work/agent.mf"
printf 'Main-Class: Hello\n' > "$work/app.mf"
jar cfm "$work/dd-java-agent.jar" "$work/agent.mf" -C "$work/classes" FixtureAgent.class
jar cfm "$work/hello.jar" "$work/app.mf" -C "$work/classes" Hello.class
install_library java dd-java-agent.jar "$work/dd-java-agent.jar"
install_library python sitecustomize.py tests/fixtures/sitecustomize.py
install_library js node_modules/dd-trace/init.js tests/fixtures/dd-trace/init.js

launcher=$root/datadog-apm-inject/stable/inject/launcher.preload.so
export LD_PRELOAD=$launcher DD_APM_INSTRUMENTATION_DEBUG=true
echo "== launcher: $launcher"
echo
results=()
demo() { # title, command...
    local title=$1; shift
    echo "== $title: $*"
    local log; log=$("$@" 2>&1) || true
    printf '   %s\n' "${log//$'\n'/$'\n'   }"
    local outcome; outcome=$(echo "$log" | sed -n 's/^apm-inject\[[0-9]*\]: \(injected [a-z]*\|skipped: [a-z_]*\|failed: [a-z_]*\).*/\1/p' | tail -n1)
    local loaded=no
    echo "$log" | grep -q "^fixture .* loaded" && loaded=yes
    results+=("$(printf '%-34s %-32s %s' "$title" "${outcome:-not a runtime}" "$loaded")")
    echo
}
demo "python app" /usr/bin/python3 demo/app.py
demo "java app" java -jar "$work/hello.jar"
demo "node one-liner" node -e 'console.log("hello from node")'
demo "java -version" java -version
demo "pip" /usr/bin/python3 -m pip --version
demo "ls (not a runtime)" ls -d /
unset LD_PRELOAD DD_APM_INSTRUMENTATION_DEBUG

printf '%-34s %-32s %s\n' "program" "launcher decision" "tracer loaded"
printf '%s\n' "${results[@]}"
echo
echo "== the same decision without running anything: apm-inject explain -- java -version"
dist/opt/datadog-packages/datadog-apm-inject/stable/inject/apm-inject explain --packages-root "$root" -- java -version
