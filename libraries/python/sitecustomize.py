"""Entry point of the Datadog Python library package, installed by apm-inject.

The launcher puts this package's directory first on PYTHONPATH, so Python imports this file as
``sitecustomize`` at start-up. Only a process the launcher decided to instrument goes on: one
that carries the launcher's decision record (a page of shared memory named
``apm-inject-status``, mapped by the launcher in the process it decided on and dropped by
``exec``) saying ``outcome=injected``. An interpreter embedded in another program (gdb, vim,
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
2. reports the outcome as ``library_entrypoint.*`` telemetry through
   ``$DD_TELEMETRY_FORWARDER_PATH`` when ``DD_INJECTION_ENABLED`` is set;
3. imports the ``sitecustomize`` that Python would have found without this package, if any.

It never prints and never raises: whatever goes wrong, the application starts uninstrumented.
Only the user's own ``sitecustomize`` may raise, and Python reports that as it always does.
This file must stay valid Python 2.7 so that old interpreters read it without a syntax error.
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


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


def _load_ddtrace():
    """Loads ddtrace if this interpreter is supported; returns the telemetry points."""
    try:
        abi = _abi()
    except Exception:
        abi = None
    site_dir = abi and os.path.join(_HERE, "ddtrace_pkgs", abi)
    if not site_dir or not os.path.isdir(site_dir):
        return [
            _point("library_entrypoint.abort", ["reason:incompatible_runtime"]),
            _point("library_entrypoint.abort.runtime"),
        ]
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


def _report(points):
    """Runs the telemetry forwarder with the points on its standard input, without waiting."""
    forwarder = os.environ.get("DD_TELEMETRY_FORWARDER_PATH")
    if (
        "DD_INJECTION_ENABLED" not in os.environ
        or not forwarder
        or not os.access(forwarder, os.X_OK)
        or not hasattr(os, "posix_spawn")
    ):
        return
    import json

    try:
        with open(os.path.join(_HERE, "version")) as f:
            tracer_version = f.read().strip()
    except Exception:
        tracer_version = "unknown"
    version = "%d.%d.%d" % sys.version_info[:3]
    payload = {
        "metadata": {
            "language_name": "python",
            "language_version": version,
            "runtime_name": sys.implementation.name,
            "runtime_version": version,
            "tracer_version": tracer_version,
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


# The launcher's decision record (contract/src/status.rs): the mapping's name in
# /proc/self/maps, and what it says for a process the launcher instrumented.
_STATUS_MAPPING = b"/memfd:apm-inject-status (deleted)"
_INJECTED = b"\noutcome=injected\n"
# Below these soft limits the tracer does not fit beside the application: it maps about
# 560 MiB of address space (thread stacks, allocator arenas, its native runtime) and 70 MiB of
# data, and its native threads abort the process when an allocation fails.
_MIN_ADDRESS_SPACE = 1 << 30
_MIN_DATA = 512 << 20


def _launcher_record():
    """The start of the launcher's decision record for this process: None if there is none,
    b"" if it is there but cannot be read."""
    address = None
    with open("/proc/self/maps", "rb") as maps:
        for line in maps:
            if line.rstrip(b"\n").endswith(_STATUS_MAPPING):
                address = int(line.split(b"-", 1)[0], 16)
                break
    if address is None:
        return None
    try:
        fd = os.open("/proc/self/mem", os.O_RDONLY)
        try:
            os.lseek(fd, address, os.SEEK_SET)
            return os.read(fd, 1024)
        finally:
            os.close(fd)
    except Exception:
        return b""


def _decided_here():
    """Whether the launcher decided to instrument this very process."""
    try:
        record = _launcher_record()
    except Exception:
        return False
    return record is not None and (record == b"" or _INJECTED in record)


def _unsuitable():
    """Why the tracer cannot run in this process, e.g. "address_space_limit", or None."""
    try:
        os.getcwd()
    except OSError:
        return "working_directory_unavailable"
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
        try:
            _report(points)
        except Exception:
            pass
        return
    try:
        points = _load_ddtrace()
    except Exception as error:
        kind = type(error).__name__.lower()
        points = [_point("library_entrypoint.error", ["error_type:main_" + kind])]
    try:
        _report(points)
    except Exception:
        pass


_main()
_import_user_sitecustomize()
