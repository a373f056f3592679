"""Demo application: knows nothing about tracing."""
import os

print("hello from an unmodified Python app (PYTHONPATH=%s)" % os.environ.get("PYTHONPATH"))
