#!/usr/bin/env python3
"""`make bench`: what launcher.preload.so costs per exec, against an empty preload library.

For each command: instructions executed (valgrind --tool=callgrind, deterministic) and the
wall-clock median over many runs, with no preload, with an empty preload library and with
ours; plus the inclusive instructions of our constructor alone (the decision). See
bench/README.md for the method and the latest figures.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIST = os.path.join(ROOT, "dist/opt/datadog-packages")
WORK = os.path.join(ROOT, "target/bench")

COMMANDS = [
    ("/bin/true", ["/bin/true"], 300),
    ("python3 -c pass", ["/usr/bin/python3", "-c", "pass"], 40),
    ("node -e 0", ["node", "-e", "0"], 20),
    ("java -version", ["java", "-version"], 10),
    ("ruby -e 0", ["ruby", "-e", "0"], 20),
    ("php -r ''", ["php", "-r", ""], 20),
]
TRUE_TARGET = 3000  # instructions over the empty library on /bin/true
DECISION_TARGET = 0.01  # share of `python3 -c pass`'s own instructions


def setup():
    """An empty preload library and a package tree with do-nothing library packages."""
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    empty_c = os.path.join(WORK, "empty.c")
    open(empty_c, "w").write("/* empty preload library */\n")
    empty = os.path.join(WORK, "empty.preload.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-nostartfiles", "-O2", "-o", empty, empty_c], check=True)
    root = os.path.join(WORK, "opt/datadog-packages")
    shutil.copytree(os.path.join(DIST, "datadog-apm-inject"), os.path.join(root, "datadog-apm-inject"), symlinks=True)
    for lang, rel in [("python", "sitecustomize.py"), ("js", "bootstrap.cjs"),
                      ("java", "dd-java-agent.jar"), ("ruby", "host_inject.rb"), ("php", "linux-gnu/loader/x.ini")]:
        path = os.path.join(root, f"datadog-apm-library-{lang}/1.0.0", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").close()
        os.symlink("1.0.0", os.path.join(root, f"datadog-apm-library-{lang}/stable"))
    ours = os.path.join(root, "datadog-apm-inject/stable/inject/launcher.preload.so")
    return {"none": None, "empty": empty, "ours": ours}


def env_for(preload):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DD_") and k not in ("LD_PRELOAD", "JAVA_TOOL_OPTIONS", "NODE_OPTIONS", "PYTHONPATH")}
    if preload:
        env["LD_PRELOAD"] = preload
    return env


def callgrind(argv, preload):
    """(total instructions, inclusive instructions of our constructor or None)."""
    with tempfile.NamedTemporaryFile(dir=WORK, suffix=".cg") as out:
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}", *argv],
                       env=env_for(preload), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out.name],
                              capture_output=True, text=True).stdout
    total = int(re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))
    ctor = re.search(r"^\s*([\d,]+) \([^)]*\)\s+\S*launcher_preload::start\b", text, re.M)
    return total, int(ctor.group(1).replace(",", "")) if ctor else None


def wall_median_us(argv, variants, runs):
    """Median wall time per variant, runs interleaved so drift hits all variants alike."""
    samples = {name: [] for name in variants}
    for _ in range(runs):
        for name, preload in variants.items():
            env = env_for(preload)
            start = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) * 1e6 for name, s in samples.items()}


def main():
    for tool in ("valgrind", "callgrind_annotate", "gcc"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is required (make deps)")
    variants = setup()
    rows, results = [], {}
    for title, argv, runs in COMMANDS:
        counts = {name: callgrind(argv, preload) for name, preload in variants.items()}
        wall = wall_median_us(argv, variants, runs)
        results[title] = (counts, wall)
        for name in variants:
            total, ctor = counts[name]
            delta = total - counts["empty"][0] if name == "ours" else None
            wdelta = wall[name] - wall["empty"] if name == "ours" else None
            rows.append((title if name == "none" else "", name, f"{total:,}",
                         f"{delta:+,}" if delta is not None else "",
                         f"{ctor:,}" if ctor else "",
                         f"{wall[name]:,.0f}", f"{wdelta:+,.0f}" if wdelta is not None else "",
                         f"{total / counts['none'][0]:.3f}"))
    header = ("command", "preload", "instructions", "ours-empty", "constructor", "wall us (median)", "ours-empty us", "ratio to none")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    true_delta = results["/bin/true"][0]["ours"][0] - results["/bin/true"][0]["empty"][0]
    py_counts = results["python3 -c pass"][0]
    decision, own = py_counts["ours"][1] or 0, py_counts["empty"][0]
    print()
    ok1 = true_delta <= TRUE_TARGET
    ok2 = decision < DECISION_TARGET * own
    print(f"/bin/true: +{true_delta:,} instructions over the empty library (target <= {TRUE_TARGET:,}): {'PASS' if ok1 else 'FAIL'}")
    print(f"python3 -c pass: decision {decision:,} instructions = {100 * decision / own:.2f}% of its own {own:,} (target < 1%): {'PASS' if ok2 else 'FAIL'}")
    return 0 if ok1 and ok2 else 1


if __name__ == "__main__":
    sys.exit(main())
