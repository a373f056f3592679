"""Entry point of the Datadog Python library package, installed by apm-inject.

The launcher puts this package's directory first on PYTHONPATH, so Python imports this file as
``sitecustomize`` at start-up. It then:

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
        ours = [i for i, p in enumerate(sys.path) if os.path.realpath(p or ".") == here]
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


def _main():
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
