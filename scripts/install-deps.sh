#!/usr/bin/env bash
# Installs what building, packaging, testing and benchmarking need on a fresh Debian 12 machine
# (idempotent: does nothing when everything is present). Needs root for apt-get.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have musl-gcc || need+=(musl-tools)
have go || need+=(golang-go)
have ruby || need+=(ruby)
have php || need+=(php-cli)
have valgrind || need+=(valgrind)
have hyperfine || need+=(hyperfine)
have bpftrace || need+=(bpftrace)   # make bench: the constructor's system calls and time
have autoconf || need+=(autoconf)   # make bench: a real ./configure as a workload
have setcap || need+=(libcap2-bin)
have setpriv || need+=(util-linux)
have javac || need+=(openjdk-17-jdk-headless)
have mvn || need+=(maven)      # make libraries (dd-java-agent), make tools (the Java web app)
have node || need+=(nodejs)
[ -x /usr/bin/python3 ] || need+=(python3)
# make libraries and make tools: pip, venv and npm.
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
have npm || need+=(npm)
have g++ || need+=(g++)            # libFuzzer, built by cargo-fuzz
have unshare || need+=(util-linux) # private mount namespaces in the tests
have man || need+=(man-db)         # the manual page test renders it
# Programs of other ELF classes and machines (tests/foreign_programs.rs): i386 with gcc -m32,
# aarch64 and armhf assembled against Debian's cross libcs and run under qemu-user.
[ -e /usr/lib32/libc.so ] || need+=(gcc-multilib)
have qemu-aarch64-static || need+=(qemu-user-static)
have aarch64-linux-gnu-as || need+=(binutils-aarch64-linux-gnu)
[ -e /usr/aarch64-linux-gnu/lib/libc.so ] || need+=(libc6-dev-arm64-cross)
have arm-linux-gnueabihf-as || need+=(binutils-arm-linux-gnueabihf)
[ -e /usr/arm-linux-gnueabihf/lib/libc.so ] || need+=(libc6-dev-armhf-cross)
have strace || need+=(strace) # the library's system calls (tests/library_elf.rs)
have gdb || need+=(gdb) # an embedded Python interpreter (tests/python_bootstrap.rs)
have shellcheck || need+=(shellcheck) # make lint: the scripts
# The container tests: a private dockerd (with its containerd and runc), images made with
# debootstrap, OCI bundles around busybox-static.
have dockerd || need+=(docker.io)
have runc || need+=(runc)
have ctr || need+=(containerd)
have debootstrap || need+=(debootstrap)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
have etcd || need+=(etcd-server)    # the Kubernetes tests' API server stores in etcd
have curl || need+=(curl)
have openssl || need+=(openssl)     # deploy/certificate.sh

if [ ${#need[@]} -gt 0 ]; then
    echo "install-deps: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${need[@]}"
fi
have cargo || { echo "install-deps: cargo (Rust toolchain) is required" >&2; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "install-deps: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
