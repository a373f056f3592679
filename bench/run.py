#!/usr/bin/env python3
"""`make bench`: what launcher.preload.so costs per exec, against an empty preload library.

For each command, with no preload, with an empty preload library and with ours: instructions
executed (valgrind --tool=callgrind, deterministic), minor page faults and system calls of the
whole process, and wall-clock time over many interleaved rounds with the paired difference to
the empty library and its 95% confidence interval; for ours, what the constructor itself does:
its instructions (callgrind), its system calls and the kernel time they take and its own wall
time (bpftrace on the constructor's entry and return), and its wall time and page faults
without probes (the constructor-window fixtures around it). See bench/README.md for the method and
the latest figures. BENCH_LIBRARY=<launcher.preload.so> measures that build as "ours".
"""
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIST = os.path.join(ROOT, "dist/opt/datadog-packages")
WORK = os.environ.get("BENCH_WORK", os.path.join(ROOT, "target/bench"))
OPT = "/opt/datadog-packages"  # where the package tree is measured (see at_opt)

# (title, argv, wall rounds, variables added to the environment)
COMMANDS = [
    ("/bin/true", ["/bin/true"], 400, 0),
    ("sh -c :", ["/bin/sh", "-c", ":"], 400, 0),
    ("python3 -c pass", ["/usr/bin/python3", "-c", "pass"], 60, 0),
    ("python3 -c pass, 10,000 variables", ["/usr/bin/python3", "-c", "pass"], 30, 10_000),
    ("node -e 0", ["node", "-e", "0"], 30, 0),
    ("java -version", ["java", "-version"], 20, 0),
    ("ruby -e 0", ["ruby", "-e", "0"], 30, 0),
    ("php -r ''", ["php", "-r", ""], 30, 0),
]
TRUE_TARGET = 3000  # instructions over the empty library on /bin/true
DECISION_TARGET = 0.01  # share of `python3 -c pass`'s own instructions
VARIANTS = ("none", "empty", "ours")
# `BENCH_ROUNDS=6`: six times the wall-clock rounds, for a narrower confidence interval.
ROUNDS_SCALE = int(os.environ.get("BENCH_ROUNDS", "1"))
# `BENCH_SDK=opentelemetry`: the same runs with the OpenTelemetry SDK family chosen (do-nothing
# OpenTelemetry packages beside Datadog's; Ruby and PHP have none and are skipped there).
SDK = os.environ.get("BENCH_SDK")


def at_opt():
    """Re-runs the calling script in a private mount namespace (`unshare --mount`), where
    `setup` puts the package tree at `/opt/datadog-packages` as a host has it, so the runtime
    path walks a host's paths (the machine's own `/opt` is never touched: a tmpfs covers it in
    the namespace alone). Returns once inside. `BENCH_AT_OPT=0` measures the tree where it was
    built instead."""
    if os.environ.get("BENCH_AT_OPT", "1") == "0" or os.environ.get("BENCH_IN_NAMESPACE"):
        return
    env = dict(os.environ, BENCH_IN_NAMESPACE="1")
    os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable, *sys.argv], env)


def setup():
    """An empty preload library and a package tree with do-nothing library packages."""
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    empty_c = os.path.join(WORK, "empty.c")
    with open(empty_c, "w") as f:
        f.write("/* empty preload library */\n")
    empty = os.path.join(WORK, "empty.preload.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-nostartfiles", "-O2", "-o", empty, empty_c], check=True)
    window_c = os.path.join(ROOT, "tests/fixtures/constructor_window.c")
    for name, flags in (("window-start.so", ["-DWINDOW_START"]), ("window-end.so", [])):
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", *flags, "-o", os.path.join(WORK, name), window_c],
                       check=True)
    root = os.path.join(WORK, "opt/datadog-packages")
    shutil.copytree(os.path.join(DIST, "datadog-apm-inject"), os.path.join(root, "datadog-apm-inject"), symlinks=True)
    for lang, rel in [("python", "sitecustomize.py"), ("js", "bootstrap.cjs"),
                      ("java", "dd-java-agent.jar"), ("ruby", "host_inject.rb"), ("php", "linux-gnu/loader/x.ini")]:
        path = os.path.join(root, f"datadog-apm-library-{lang}/1.0.0", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").close()
        os.symlink("1.0.0", os.path.join(root, f"datadog-apm-library-{lang}/stable"))
    for lang, rel in [("python", "sitecustomize.py"), ("js", "bootstrap.cjs"), ("java", "opentelemetry-javaagent.jar")]:
        path = os.path.join(root, f"opentelemetry-apm-library-{lang}/1.0.0", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").close()
        os.symlink("1.0.0", os.path.join(root, f"opentelemetry-apm-library-{lang}/stable"))
    if os.environ.get("BENCH_IN_NAMESPACE"):  # see at_opt
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "bench-opt", "/opt"], check=True)
        os.mkdir(OPT)
        subprocess.run(["mount", "--bind", root, OPT], check=True)
        root = OPT
    ours = os.path.join(root, "datadog-apm-inject/stable/inject/launcher.preload.so")
    if os.environ.get("BENCH_LIBRARY"):  # another build of ours, e.g. an older one to compare
        shutil.copy(os.environ["BENCH_LIBRARY"], os.path.realpath(ours))
    return {"none": None, "empty": empty, "ours": ours}


def env_for(preload, extra=0):
    """The environment of a run with `preload` (none for None), and `extra` more variables
    (`BENCH_VAR_00000=value-0`, ...: a large environment)."""
    drop = ("LD_PRELOAD", "JAVA_TOOL_OPTIONS", "NODE_OPTIONS", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DD_") and k not in drop}
    if SDK:  # every variant alike: only ours reads it
        env["DD_APM_INSTRUMENTATION_SDK"] = SDK
    if preload:
        env["LD_PRELOAD"] = preload
    env.update((f"BENCH_VAR_{i:05d}", f"value-{i}") for i in range(extra))
    return env


def callgrind(argv, preload, extra=0):
    """(total instructions, inclusive instructions of our constructor or None)."""
    with tempfile.NamedTemporaryFile(dir=WORK, suffix=".cg") as out:
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}", *argv],
                       env=env_for(preload, extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out.name],
                              capture_output=True, text=True).stdout
    total = int(re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))
    ctor = re.search(r"^\s*([\d,]+) \([^)]*\)\s+\S*launcher_preload::start\b", text, re.M)
    return total, int(ctor.group(1).replace(",", "")) if ctor else None


def syscalls(argv, preload, extra=0):
    """System calls made by the whole process (and its threads and children)."""
    with tempfile.NamedTemporaryFile(dir=WORK, suffix=".strace") as out:
        subprocess.run(["strace", "-f", "-c", "-o", out.name, *argv], env=env_for(preload, extra),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        text = open(out.name).read()
    # "% time  seconds  usecs/call  calls  [errors]  syscall": the total row's fourth field.
    total = next(line.split() for line in text.splitlines() if line.endswith(" total"))
    return int(total[3])


def spawn(argv, env):
    """(wall seconds, minor page faults) of one run, started with posix_spawn."""
    null = [(os.POSIX_SPAWN_OPEN, fd, "/dev/null", os.O_RDWR, 0) for fd in (0, 1, 2)]
    began = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, env, file_actions=null)
    _, _, usage = os.wait4(pid, 0)
    return time.perf_counter() - began, usage.ru_minflt


def median_ci(values):
    """Median and its distribution-free 95% confidence interval (order statistics)."""
    s = sorted(values)
    n = len(s)
    half = 0.98 * n ** 0.5  # 1.96 * sqrt(n) / 2
    lo, hi = max(0, int(n / 2 - half)), min(n - 1, int(n / 2 + half + 0.5))
    return statistics.median(s), s[lo], s[hi]


def wall(argv, variants, rounds, extra=0):
    """Per variant: wall samples (us) and minor faults, rounds interleaved in rotating order
    so that drift and ordering hit every variant alike."""
    names = list(variants)
    envs = {name: env_for(preload, extra) for name, preload in variants.items()}
    samples = {name: [] for name in names}
    faults = {name: [] for name in names}
    for _ in range(3):  # warm-up: page cache, dentries
        for name in names:
            spawn(argv, envs[name])
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            seconds, minflt = spawn(argv, envs[name])
            samples[name].append(seconds * 1e6)
            faults[name].append(minflt)
    return samples, {name: statistics.median(f) for name, f in faults.items()}


def ensure_tracefs():
    """bpftrace's tracepoints need tracefs, which a freshly booted machine may not have mounted
    (bpftrace then fails to attach): mount it where the kernel expects it."""
    if not os.path.isdir("/sys/kernel/tracing/events"):
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=False)


def constructor_probe(lib, argv, runs, extra=0):
    """Medians over `runs` of our constructor's system calls, their kernel time (us) and the
    constructor's own wall time (us, including the probes' overhead), from bpftrace."""
    symbols = subprocess.run(["nm", lib], capture_output=True, text=True, check=True).stdout
    start = re.search(r" t (_ZN16launcher_preload5start17h\w+E)$", symbols, re.M).group(1)
    program = f"""
uprobe:{lib}:{start} {{ @on[tid] = 1; @t0[tid] = nsecs; @n[tid] = 0; @sys[tid] = 0; }}
tracepoint:raw_syscalls:sys_enter /@on[tid]/ {{ @s[tid] = nsecs; }}
tracepoint:raw_syscalls:sys_exit /@on[tid] && @s[tid]/ {{
    @sys[tid] += nsecs - @s[tid]; @n[tid] += 1; delete(@s[tid]); }}
uretprobe:{lib}:{start} /@on[tid]/ {{
    printf("ctor %d %d %d\\n", @n[tid], @sys[tid], nsecs - @t0[tid]);
    delete(@on[tid]); delete(@n[tid]); delete(@sys[tid]); delete(@t0[tid]); }}
"""
    ensure_tracefs()
    tracer = subprocess.Popen(["bpftrace", "-e", program], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    try:
        if "Attaching" not in tracer.stdout.readline():
            sys.exit("bench: bpftrace could not attach (root and bpftrace are required: make deps)")
        env = env_for(lib, extra)
        for _ in range(runs):
            spawn(argv, env)
        time.sleep(0.3)
    finally:
        tracer.send_signal(signal.SIGINT)
    try:
        out = tracer.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:  # a bpftrace that never ends must not end the benchmark
        tracer.kill()
        out = tracer.communicate()[0]
    rows = [tuple(int(x) for x in line.split()[1:]) for line in out.splitlines() if line.startswith("ctor ")]
    if not rows:
        return None
    return tuple(statistics.median(r[i] for r in rows) / (1 if i == 0 else 1000) for i in range(3))


def constructor_window(variants, argv, runs, extra=0):
    """Our constructor's wall time and minor faults without probes: the constructor-window
    fixtures (tests/fixtures/constructor_window.c) clock the preload library between them, ours
    and the empty one in alternation. Medians of ours (us), of the paired difference to the
    empty library (us) and of the faults over it."""
    out = os.path.join(WORK, "window.out")
    chain = lambda lib: f"{WORK}/window-end.so {lib} {WORK}/window-start.so"
    rows = {"ours": [], "empty": []}
    for _ in range(runs):
        for name in rows:
            if os.path.exists(out):
                os.unlink(out)
            env = dict(env_for(None, extra), LD_PRELOAD=chain(variants[name]), WINDOW_OUT=out)
            spawn(argv, env)
            with open(out) as f:
                faults, ns = (int(x) for x in f.read().split())
            rows[name].append((ns / 1000, faults))
    ours = [us for us, _ in rows["ours"]]
    diffs = [o[0] - e[0] for o, e in zip(rows["ours"], rows["empty"])]
    fault_diffs = [o[1] - e[1] for o, e in zip(rows["ours"], rows["empty"])]
    return statistics.median(ours), statistics.median(diffs), statistics.median(fault_diffs)


def table(header, rows):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def main():
    at_opt()
    for tool in ("valgrind", "callgrind_annotate", "gcc", "strace", "bpftrace", "nm"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is required (make deps)")
    variants = setup()
    rows, probe_rows, results = [], [], {}
    for title, argv, rounds, extra in COMMANDS:
        counts = {name: callgrind(argv, preload, extra) for name, preload in variants.items()}
        calls = {name: syscalls(argv, preload, extra) for name, preload in variants.items()}
        samples, faults = wall(argv, variants, rounds * ROUNDS_SCALE, extra)
        results[title] = (counts, samples, faults, calls)
        for name in VARIANTS:
            total, ctor = counts[name]
            med = statistics.median(samples[name])
            ours = name == "ours"
            if ours:
                d, lo, hi = median_ci([o - e for o, e in zip(samples["ours"], samples["empty"])])
                paired = f"{d:+,.0f} [{lo:+,.0f}, {hi:+,.0f}]"
            rows.append((title if name == "none" else "", name, f"{total:,}",
                         f"{total - counts['empty'][0]:+,}" if ours else "",
                         f"{ctor:,}" if ctor else "", f"{faults[name]:.0f}", f"{calls[name]}",
                         f"{med:,.0f}", paired if ours else "",
                         f"{med / statistics.median(samples['none']):.3f}"))
        probe = constructor_probe(variants["ours"], argv, min(rounds, 50), extra)
        window = constructor_window(variants, argv, min(rounds, 50), extra)
        if probe:
            probe_rows.append((title, "ours", f"{probe[0]:.0f}", f"{probe[1]:,.1f}", f"{probe[2]:,.1f}",
                               f"{window[0]:,.1f}", f"{window[1]:+,.1f}", f"{window[2]:+.0f}"))
    print(f"per exec, {time.strftime('%Y-%m-%d')}, {os.uname().machine}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    table(("command", "preload", "instructions", "vs empty", "constructor", "minor faults", "syscalls",
           "wall us (median)", "ours-empty us, paired median [95% CI]", "wall to none"), rows)
    print()
    print("the constructor alone, medians: bpftrace on its entry and return (system calls, their kernel time,")
    print("its wall time, all with the probes' overhead); then, without probes, between the window fixtures")
    table(("command", "preload", "system calls", "their kernel us", "constructor wall us (probed)",
           "constructor wall us", "vs empty", "faults vs empty"), probe_rows)
    print()
    true_counts = results["/bin/true"][0]
    true_delta = true_counts["ours"][0] - true_counts["empty"][0]
    py_counts = results["python3 -c pass"][0]
    decision, own = py_counts["ours"][1] or 0, py_counts["empty"][0]
    ok1 = true_delta <= TRUE_TARGET
    ok2 = decision < DECISION_TARGET * own
    print(f"/bin/true: +{true_delta:,} instructions over the empty library (target <= {TRUE_TARGET:,}): {'PASS' if ok1 else 'FAIL'}")
    print(f"python3 -c pass: decision {decision:,} instructions = {100 * decision / own:.2f}% of its own {own:,} (target < 1%): {'PASS' if ok2 else 'FAIL'}")
    return 0 if ok1 and ok2 else 1


if __name__ == "__main__":
    sys.exit(main())
