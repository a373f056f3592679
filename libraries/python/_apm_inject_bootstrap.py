"""The bootstrap of the Python library packages installed by apm-inject: Datadog's
(``datadog-apm-library-python``, ddtrace in ``ddtrace_pkgs/``) and the OpenTelemetry one
(``opentelemetry-apm-library-python``, the OpenTelemetry distro in ``opentelemetry_pkgs/``),
installed as ``sitecustomize.d/_apm_inject_bootstrap.py`` and imported by the package's
``sitecustomize.py`` (the entry point), which then calls ``run()``.
The same file serves both and loads the SDK its package holds; what follows says ddtrace, and
the OpenTelemetry distro is loaded alike (its ``initialize()``, configured by the ``OTEL_*``
variables; an application that can import its own ``opentelemetry.sdk`` keeps it,
``opentelemetry_already_present``), without the Datadog-only parts (ddtrace's telemetry and
memory limits).

The launcher puts the package's directory first on PYTHONPATH, so Python imports the entry
point as ``sitecustomize`` at start-up. Only a process the launcher decided to instrument goes on: one
that carries the launcher's decision record (the first page of the launcher library's writable
mapping, written by the launcher in the process it decided on and dropped by ``exec``) saying
``outcome=injected``. An interpreter embedded in another program (gdb, vim,
uWSGI) or a Python started without the launcher inherits PYTHONPATH but has no record, and
stays untouched. The record is found in ``/proc/self/maps`` and read through
``/proc/self/mem``: nothing is added to the environment and nothing runs in non-runtime
processes. A decided process also stands down, with ``library_entrypoint.abort`` and a debug
message, when the tracer could not run there: a working directory that is gone or refused
(the tracer's import hooks resolve paths against it) or an address-space or data limit
(``ulimit -v``, ``ulimit -d``) too low for the tracer's threads and native runtime.
Otherwise it:

1. loads ddtrace's auto-instrumentation (``import ddtrace.auto``) from
   ``ddtrace_pkgs/<ABI>/``, the ddtrace wheel installed for this interpreter's extension ABI
   (for example ``cpython-311-x86_64-linux-gnu``), appended to ``sys.path`` so that the
   application's own packages keep precedence; an interpreter without such a directory (other
   versions, PyPy, free-threaded or debug builds, musl, Python 2) is left alone, and so is an
   application that can already import its own ddtrace;
2. records the outcome (``complete``, or ``abort``/``error`` with a reason) in the launcher's
   status record, a page of the launcher's own memory in this process, for ``apm-inject status``;
3. reports it as ``library_entrypoint.*`` telemetry when ``DD_INJECTION_ENABLED`` is set,
   without starting a process when the tracer loaded: the count joins ddtrace's own telemetry;
   only an abort or an error, when ddtrace is not there to send anything, runs
   ``$DD_TELEMETRY_FORWARDER_PATH``;
4. imports the ``sitecustomize`` that Python would have found without this package, if any.

This module is imported, and steps 1 to 3 run, with byte-code writes off
(``sys.dont_write_bytecode``), the application's own setting restored afterwards: the package
ships byte-code for every interpreter it serves at every optimisation level (compiled by
``make libraries``), and nothing may ever be written under ``/opt/datadog-packages``, where a
file created by a root process with a loose umask would let any local user plant code that
root runs. (Why the entry point itself cannot be written for: ``sitecustomize.py``.)

It never prints and never raises: whatever goes wrong, the application starts uninstrumented.
Only the user's own ``sitecustomize`` may raise, and Python reports that as it always does.
This file must stay valid Python 2.7 so that old interpreters read it without a syntax error.
"""
import os
import sys

# The package's version directory, the one on PYTHONPATH (this file is in its sitecustomize.d/).
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _abi():
    """This interpreter's extension ABI, e.g. "cpython-311-x86_64-linux-gnu"."""
    from importlib.machinery import EXTENSION_SUFFIXES

    suffix = EXTENSION_SUFFIXES[0]  # ".cpython-311-x86_64-linux-gnu.so"
    if suffix.startswith(".") and suffix.endswith(".so") and suffix.count(".") == 2:
        return suffix[1:-3]
    return None


def _point(name, tags=()):
    """One telemetry point, e.g. library_entrypoint.complete with tags ["k:v"]."""
    return {"name": name, "tags": list(tags)}


# The directory of the SDK this package holds: ddtrace's (Datadog's package) or the
# OpenTelemetry distro's (the OpenTelemetry package).
_OPENTELEMETRY = os.path.isdir(os.path.join(_HERE, "opentelemetry_pkgs"))
_PACKAGES = "opentelemetry_pkgs" if _OPENTELEMETRY else "ddtrace_pkgs"


def _site_dir():
    """The SDK's directory for this interpreter's ABI, or None if there is none."""
    try:
        abi = _abi()
    except Exception:
        abi = None
    site_dir = abi and os.path.join(_HERE, _PACKAGES, abi)
    return site_dir if site_dir and os.path.isdir(site_dir) else None


def _incompatible():
    return [
        _point("library_entrypoint.abort", ["reason:incompatible_runtime"]),
        _point("library_entrypoint.abort.runtime"),
    ]


def _load_opentelemetry():
    """Starts the OpenTelemetry distro if this interpreter is supported; returns the points."""
    site_dir = _site_dir()
    if not site_dir:
        return _incompatible()
    from importlib.util import find_spec

    if find_spec("opentelemetry") is not None and find_spec("opentelemetry.sdk") is not None:
        return [_point("library_entrypoint.abort", ["reason:opentelemetry_already_present"])]
    sys.path.append(site_dir)
    try:
        from opentelemetry.instrumentation.auto_instrumentation import initialize

        initialize()
    except Exception as error:
        kind = type(error).__name__.lower()
        return [_point("library_entrypoint.error", ["error_type:import_opentelemetry_" + kind])]
    return [_point("library_entrypoint.complete", ["injection_forced:false"])]


def _load_ddtrace():
    """Loads ddtrace if this interpreter is supported; returns the telemetry points."""
    site_dir = _site_dir()
    if not site_dir:
        return _incompatible()
    from importlib.util import find_spec

    if find_spec("ddtrace") is not None:
        return [_point("library_entrypoint.abort", ["reason:ddtrace_already_present"])]
    sys.path.append(site_dir)
    # ddtrace reports instrumentation_source "ssi" when this is set as it loads.
    os.environ["_DD_PY_SSI_INJECT"] = "1"
    try:
        import ddtrace.auto  # noqa: F401
    except Exception as error:
        os.environ["_DD_PY_SSI_INJECT"] = "0"
        sys.path.remove(site_dir)
        for name in [m for m in sys.modules if m == "ddtrace" or m.startswith("ddtrace.")]:
            del sys.modules[name]
        kind = type(error).__name__.lower()
        return [_point("library_entrypoint.error", ["error_type:import_ddtrace_" + kind])]
    return [_point("library_entrypoint.complete", ["injection_forced:false"])]


def _outcome(points):
    """The outcome and its reason, e.g. ("abort", "incompatible_runtime")."""
    for point in points:
        kind = point["name"].split(".")[1:]
        if kind in (["complete"], ["abort"], ["error"]):
            reasons = [t.split(":", 1)[1] for t in point["tags"] if t.split(":", 1)[0] in ("reason", "error_type")]
            return kind[0], (reasons + [""])[0]
    return "error", "no_outcome"


def _tracer_version():
    """The ddtrace version of this package, e.g. "4.16.0"."""
    try:
        with open(os.path.join(_HERE, "version")) as f:
            return f.read().strip()
    except Exception:
        return "unknown"


def _report(points):
    """Sends the points as telemetry, if the launcher injected this process."""
    if "DD_INJECTION_ENABLED" not in os.environ or _OPENTELEMETRY:
        return
    if _outcome(points)[0] == "complete":
        _report_through_tracer(points)
    else:
        _report_through_forwarder(points)


def _report_through_tracer(points):
    """Queues the points as counts in ddtrace's own telemetry, sent with its next batch."""
    from ddtrace.internal.telemetry import telemetry_writer
    from ddtrace.internal.telemetry.constants import TELEMETRY_NAMESPACE

    for point in points:
        tags = tuple(tuple(t.split(":", 1)) for t in point["tags"] if ":" in t)
        telemetry_writer.add_count_metric(TELEMETRY_NAMESPACE.TRACERS, point["name"], 1, tags or None)


def _report_through_forwarder(points):
    """Runs the telemetry forwarder with the points on its standard input, without waiting."""
    forwarder = os.environ.get("DD_TELEMETRY_FORWARDER_PATH")
    if not forwarder or not os.access(forwarder, os.X_OK) or not hasattr(os, "posix_spawn"):
        return
    import json

    version = "%d.%d.%d" % sys.version_info[:3]
    payload = {
        "metadata": {
            "language_name": "python",
            "language_version": version,
            "runtime_name": sys.implementation.name,
            "runtime_version": version,
            "tracer_version": _tracer_version(),
            "pid": os.getpid(),
        },
        "points": points,
    }
    data = json.dumps(payload).encode()
    read_end, write_end = os.pipe()
    try:
        # posix_spawn, not subprocess: ddtrace traces subprocess and os.fork, and this is no
        # part of the application.
        pid = os.posix_spawn(
            forwarder,
            [forwarder, "library_entrypoint"],
            os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 0)],
        )
    finally:
        os.close(read_end)
    try:
        while data:
            data = data[os.write(write_end, data) :]
    finally:
        os.close(write_end)
    import threading

    reaper = threading.Thread(target=_reap, args=(pid,), name="datadog-telemetry-forwarder")
    reaper.daemon = True
    reaper.start()


def _reap(pid):
    """Waits for the forwarder so that it leaves no zombie behind."""
    try:
        os.waitpid(pid, 0)
    except Exception:
        pass


def _next_sitecustomize_exists():
    """Whether a sitecustomize module can be found on sys.path as it is now."""
    try:
        from importlib.util import find_spec
    except ImportError:  # Python 2
        import imp

        try:
            imp.find_module("sitecustomize")
        except ImportError:
            return False
        return True
    return find_spec("sitecustomize") is not None


def _import_user_sitecustomize():
    """Imports the sitecustomize that Python would have found without this package."""
    try:
        here = os.path.realpath(_HERE)
        # Our entry is absolute; relative ones need a working directory, which may be gone.
        ours = [i for i, p in enumerate(sys.path) if p.startswith("/") and os.path.realpath(p) == here]
        removed = [(i, sys.path.pop(i)) for i in reversed(ours)]
        this_module = sys.modules.pop("sitecustomize", None)
        found = _next_sitecustomize_exists()
    except Exception:
        return
    try:
        if found:
            __import__("sitecustomize")
    finally:
        if not found and this_module is not None:
            sys.modules["sitecustomize"] = this_module
        for i, path in reversed(removed):
            sys.path.insert(i, path)


# The launcher's decision record (contract/src/status.rs): the first page of a private writable
# mapping of the launcher library in /proc/self/maps, its first line, what it says for a
# process the launcher instrumented, and where the tracer's area (written by _record) starts
# and how long it is.
_LAUNCHER = b"/launcher.preload.so"
_HEADER = b"apm-inject-status 1\n"
_INJECTED = b"\noutcome=injected\n"
_TRACER_OFFSET = 3072
_TRACER_AREA = 1024
# Below these soft limits the tracer does not fit beside the application: it maps about
# 560 MiB of address space (thread stacks, allocator arenas, its native runtime) and 70 MiB of
# data, and its native threads abort the process when an allocation fails.
_MIN_ADDRESS_SPACE = 1 << 30
_MIN_DATA = 512 << 20


def _launcher_mappings():
    """Start addresses of the launcher library's private writable mappings in this process."""
    with open("/proc/self/maps", "rb") as maps:
        for line in maps:
            fields = line.rstrip(b"\n").split(None, 5)
            if len(fields) < 6 or fields[1] != b"rw-p":
                continue
            path = fields[5]
            if path.endswith(b" (deleted)"):
                path = path[: -len(b" (deleted)")]
            if path.endswith(_LAUNCHER):
                yield int(fields[0].split(b"-", 1)[0], 16)


def _status():
    """(address, launcher's part) of this process's decision record, or None if the launcher
    decided nothing here."""
    fd = None
    try:
        for address in _launcher_mappings():
            if fd is None:
                fd = os.open("/proc/self/mem", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            os.lseek(fd, address, os.SEEK_SET)
            record = os.read(fd, _TRACER_OFFSET)
            if record.startswith(_HEADER):
                return address, record
    finally:
        if fd is not None:
            os.close(fd)
    return None


def _decided_here():
    """Whether the launcher decided to instrument this very process."""
    try:
        status = _status()
    except Exception:
        return False
    return status is not None and _INJECTED in status[1]


def _record(points):
    """Writes the outcome into the tracer's area of the launcher's status record."""
    status = _status()
    if status is None:
        return
    outcome, reason = _outcome(points)
    text = "apm-inject-tracer 1\noutcome=%s\nreason=%s\ntracer_version=%s\n" % (
        outcome,
        reason,
        _tracer_version(),
    )
    data = text.encode("ascii", "replace")[: _TRACER_AREA - 1]
    # The page is this process's own; /proc/self/mem writes it without ctypes.
    fd = os.open("/proc/self/mem", os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.lseek(fd, status[0] + _TRACER_OFFSET, os.SEEK_SET)
        os.write(fd, data)
    finally:
        os.close(fd)


def _unsuitable():
    """Why the tracer cannot run in this process, e.g. "address_space_limit", or None."""
    try:
        os.getcwd()
    except OSError:
        return "working_directory_unavailable"
    if _OPENTELEMETRY:
        return None
    try:
        import resource
    except ImportError:
        return None
    for reason, limit, minimum in (
        ("address_space_limit", resource.RLIMIT_AS, _MIN_ADDRESS_SPACE),
        ("data_limit", resource.RLIMIT_DATA, _MIN_DATA),
    ):
        soft = resource.getrlimit(limit)[0]
        if soft != resource.RLIM_INFINITY and soft < minimum:
            return reason
    return None


def _debug(message):
    """Writes a debug message where the launcher writes its own, if debug logging is on."""
    if os.environ.get("DD_APM_INSTRUMENTATION_DEBUG", "").lower() not in ("true", "1"):
        return
    line = "datadog sitecustomize[%d]: %s\n" % (os.getpid(), message)
    for target in os.environ.get("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", "stderr").split(","):
        target = target.strip()
        if target.startswith("file://"):
            target = target[len("file://") :]
        try:
            if target == "stderr":
                sys.stderr.write(line)
            elif target.startswith("/"):
                with open(target, "a") as f:
                    f.write(line)
        except Exception:
            pass


def _main():
    if not _decided_here():
        return
    reason = _unsuitable()
    if reason:
        _debug("not instrumented: " + reason)
        points = [_point("library_entrypoint.abort", ["reason:" + reason])]
    else:
        try:
            points = _load_opentelemetry() if _OPENTELEMETRY else _load_ddtrace()
        except Exception as error:
            kind = type(error).__name__.lower()
            points = [_point("library_entrypoint.error", ["error_type:main_" + kind])]
    for step in (_record, _report):
        try:
            step(points)
        except Exception:
            pass


def _without_bytecode_writes(function):
    """Runs function() with byte-code writes off, then restores the application's setting."""
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        function()
    finally:
        sys.dont_write_bytecode = saved


def run():
    """The bootstrap, called by the entry point: the tracer for a process the launcher decided
    on, then the user's own ``sitecustomize`` with the application's byte-code setting."""
    _without_bytecode_writes(_main)
    _import_user_sitecustomize()
