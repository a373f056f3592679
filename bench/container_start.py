#!/usr/bin/env python3
"""What the OCI runtime shim adds to a container start (part of `make bench`).

Paired runs, interleaved: `create` (what Docker and containerd call, and where the shim works) of
a busybox-static bundle, once through `dist/.../inject/auto_inject_runc` (which edits
config.json, then runs runc as a child and waits) and once with runc directly, each on a fresh
copy of the bundle's config.json; each container is deleted, untimed. Prints the median of each
and of the paired differences. Needs root, runc and
busybox-static (scripts/install-deps.sh) and `make dist`.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PAIRS = int(os.environ.get("CONTAINER_PAIRS", "40"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIM = os.path.join(
    ROOT, "dist/opt/datadog-packages/datadog-apm-inject/stable/inject/auto_inject_runc")


def bundle(directory):
    rootfs = os.path.join(directory, "rootfs/bin")
    os.makedirs(rootfs)
    shutil.copy("/bin/busybox", rootfs)
    os.symlink("busybox", os.path.join(rootfs, "true"))
    subprocess.run(["runc", "spec"], cwd=directory, check=True)
    path = os.path.join(directory, "config.json")
    with open(path) as f:
        config = json.load(f)
    config["process"]["terminal"] = False
    config["process"]["args"] = ["true"]
    with open(path, "w") as f:
        json.dump(config, f)
    with open(path, "rb") as f:
        return f.read()


def start(runtime, directory, state, config, name, env):
    with open(os.path.join(directory, "config.json"), "wb") as f:
        f.write(config)
    began = time.perf_counter()
    subprocess.run([runtime, "--root", state, "create", "--bundle", directory, name],
                   check=True, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - began
    subprocess.run(["runc", "--root", state, "delete", "--force", name], check=True)
    return elapsed


def main():
    if not os.path.exists(SHIM):
        sys.exit(f"{SHIM} is missing: run `make dist`")
    with tempfile.TemporaryDirectory() as work:
        directory = os.path.join(work, "bundle")
        state = os.path.join(work, "state")
        config_dir = os.path.join(work, "inject")
        os.makedirs(config_dir)
        with open(os.path.join(config_dir, "docker_config.yaml"), "w") as f:
            f.write("docker_socket: /nonexistent/docker.sock\n")
        os.makedirs(directory)
        config = bundle(directory)
        env = dict(os.environ, DD_APM_INSTRUMENTATION_CONFIG_DIR=config_dir)
        env.pop("LD_PRELOAD", None)
        shim, plain = [], []
        for i in range(PAIRS + 2):
            a = start(SHIM, directory, state, config, f"s{i}", env)
            b = start("runc", directory, state, config, f"r{i}", env)
            if i >= 2:  # warm-up
                shim.append(a)
                plain.append(b)
        ms = lambda xs: statistics.median(xs) * 1000
        diff = [a - b for a, b in zip(shim, plain)]
        print(f"container create (busybox bundle), {PAIRS} interleaved pairs")
        print(f"  plain runc          median {ms(plain):7.1f} ms")
        print(f"  through the shim    median {ms(shim):7.1f} ms")
        print(f"  paired difference   median {ms(diff):+7.1f} ms "
              f"({statistics.median(a / b for a, b in zip(shim, plain)):.3f}x)")


if __name__ == "__main__":
    main()
