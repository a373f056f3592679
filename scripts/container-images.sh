#!/usr/bin/env bash
# `make images`: the root filesystem the Docker and containerd tests import as an image, built
# without any registry: `debootstrap --variant=minbase bookworm` with Python and Flask from
# Debian, in target/images/bookworm (a few minutes on first run; rebuilt only when the package
# list below changes). Needs debootstrap (scripts/install-deps.sh) and root.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
PACKAGES=python3,python3-flask
tree=target/images/$SUITE
stamp="$SUITE $PACKAGES"

if [ "$(cat "$tree.pins" 2>/dev/null)" = "$stamp" ] && [ -x "$tree/usr/bin/python3" ]; then
    exit 0
fi
echo "images: $tree ($stamp)"
rm -rf "$tree" "$tree.pins" "$tree.partial"
mkdir -p target/images
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tree.partial" \
    http://deb.debian.org/debian > target/images/debootstrap.log 2>&1 \
    || { tail -n 30 target/images/debootstrap.log >&2; exit 1; }
# What an image does not need: package caches and logs.
rm -rf "$tree.partial"/var/cache/apt/archives/*.deb "$tree.partial"/var/lib/apt/lists/*
mv "$tree.partial" "$tree"
echo "$stamp" > "$tree.pins"
