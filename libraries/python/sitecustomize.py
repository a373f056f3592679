"""Entry point of the Python library packages installed by apm-inject (Datadog's and the
OpenTelemetry one). The launcher puts the package's directory first on PYTHONPATH, so Python
imports this file as ``sitecustomize`` at start-up; so does every interpreter that inherits
the variable, of any version (gdb's, a Python started without the launcher, one forced with
``DD_INJECT_FORCE``). It only imports the bootstrap, ``sitecustomize.d/_apm_inject_bootstrap.py``,
and runs it: the bootstrap decides and does the rest (its docstring says what).

Nothing is ever written into the package, whatever the interpreter. Python compiles the file
it imports as ``sitecustomize`` before any code of ours runs, and would cache its byte-code
here for a version the package has none for. So this directory holds no byte-code and can take
none: its ``__pycache__`` is an empty file (Python 3 cannot create its cache directory there)
and ``sitecustomize.pyc`` and ``sitecustomize.pyo`` are empty directories (Python 2 writes
beside the source and cannot replace a directory). These few lines are compiled at every
start; the bootstrap, which has byte-code for every interpreter of the build machine at every
optimisation level, is imported with byte-code writes off (``sys.dont_write_bytecode``), and
the application's setting is restored.

It never prints and never raises. It must stay valid Python 2.7.
"""
import os
import sys


def _bootstrap():
    """The bootstrap module, imported without writing byte-code; None if it cannot be."""
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    directory = None
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        directory = os.path.join(here, "sitecustomize.d")
        sys.path.insert(0, directory)
        import _apm_inject_bootstrap

        return _apm_inject_bootstrap
    except Exception:
        return None
    finally:
        if directory in sys.path:
            sys.path.remove(directory)
        sys.dont_write_bytecode = saved


_module = _bootstrap()
if _module is not None:
    _module.run()
