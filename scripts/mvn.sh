#!/usr/bin/env bash
# Maven for `make libraries` and `make tools`: batch mode, checksums enforced, downloads cached
# in target/m2 (a fresh machine downloads once). Quiet unless it fails: then its whole output.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! mvn --batch-mode --strict-checksums -Dstyle.color=never \
    -Dmaven.repo.local="$root/target/m2" "$@" > "$log" 2>&1; then
    cat "$log" >&2
    echo "mvn $*: failed" >&2
    exit 1
fi
