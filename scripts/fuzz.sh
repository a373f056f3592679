#!/usr/bin/env bash
# Fuzzes every target in fuzz/ for FUZZ_SECONDS seconds each (default 20), two at a time,
# starting from seed corpora made of real files (scripts/fuzz_seeds.py) plus whatever earlier
# runs kept in fuzz/corpus/<target>. Fails if any target finds a crash, a hang or a leak; the
# input is left in fuzz/artifacts/<target>/. `make fuzz` runs it.
#
#   FUZZ_SECONDS=600 scripts/fuzz.sh            every target, ten minutes each
#   FUZZ_TARGETS="decide glob" scripts/fuzz.sh  some targets only
#
# Builds with cargo-fuzz on the stable toolchain (RUSTC_BOOTSTRAP=1 for the sanitizer flags):
# release code with debug assertions and AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
targets=${FUZZ_TARGETS:-"rule_set glob decide cmdline auxv requirements config"}

# The product's own build stays a stable one: RUSTC_BOOTSTRAP=1 makes rustc behave as a nightly
# (v0 symbol mangling among others), and the artefacts it built would be reused by `make`.
cli=target/release/apm-inject
[ -x "$cli" ] || cargo build --release -p injector
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build)
bin=fuzz/target/x86_64-unknown-linux-gnu/release
rules=$(find fuzz/target/x86_64-unknown-linux-gnu/release/build -path '*/deny-list-*/out/default_rules.bin' \
    -printf '%T@ %p\n' | sort -rn | head -n1 | cut -d' ' -f2-)
seeds=fuzz/target/seeds
rm -rf "$seeds"
/usr/bin/python3 scripts/fuzz_seeds.py "$seeds" "$rules" "$cli"

logs=fuzz/target/logs
mkdir -p "$logs"
run() {
    local t=$1
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    "$bin/$t" "fuzz/corpus/$t" "$seeds/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$logs/$t.log" 2>&1
}

failed=()
running=0
for t in $targets; do
    [ -d "$seeds/$t" ] || { echo "fuzz: no seeds for $t" >&2; exit 1; }
    run "$t" &
    pids[$!]=$t
    running=$((running + 1))
    if [ $running -ge 2 ]; then
        if ! wait -n -p done_pid; then failed+=("${pids[$done_pid]}"); fi
        running=$((running - 1))
    fi
done
while [ $running -gt 0 ]; do
    if ! wait -n -p done_pid; then failed+=("${pids[$done_pid]}"); fi
    running=$((running - 1))
done

for t in $targets; do
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log")
    cov=$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -n1)
    echo "fuzz: $t: ${runs:-?} runs in ${seconds}s, $cov, $(find "fuzz/corpus/$t" -type f | wc -l) corpus inputs"
done
if [ ${#failed[@]} -gt 0 ]; then
    for t in "${failed[@]}"; do
        echo "fuzz: $t FAILED (input in fuzz/artifacts/$t/):" >&2
        tail -n 40 "$logs/$t.log" >&2
    done
    exit 1
fi
