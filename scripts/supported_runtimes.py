#!/usr/bin/python3
"""Writes a library package's supported_runtimes.json (read by the launcher and `explain`:
analyzer/src/supported.rs) from the tracers' own metadata, so that no supported version is
written in code:

  supported_runtimes.py java PACKAGE_DIR
      dd-java-agent.jar or opentelemetry-javaagent.jar: the Java version its bootstrap (the manifest's Agent-Class, which its
      Java 6 pre-check hands over to) is compiled for, from the class file's major version.
  supported_runtimes.py js PACKAGE_DIR TRACER_DIR...
      each TRACER_DIR (relative, `.` for the package itself) holds node_modules/dd-trace (or
      @opentelemetry/auto-instrumentations-node): its package.json's engines.node (">=18", the
      lowest major of "^18.19.0 || >=20.6.0") and nodeMaxMajor (the first major it refuses).
      List the newest tracer first: a process gets the first one that supports its Node.js.
  supported_runtimes.py python PACKAGE_DIR
      the CPython versions ddtrace (or the OpenTelemetry distro) was installed for
      (ddtrace_pkgs/cpython-3XY-*, opentelemetry_pkgs/cpython-3XY-*).
"""
import json
import re
import sys
import zipfile
from pathlib import Path


# The tracer each package holds: Datadog's or OpenTelemetry's.
JAVA_AGENTS = ("dd-java-agent.jar", "opentelemetry-javaagent.jar")
NODE_TRACERS = ("dd-trace", "@opentelemetry/auto-instrumentations-node")
PYTHON_SDKS = {"ddtrace_pkgs": "ddtrace", "opentelemetry_pkgs": "opentelemetry-distro"}


def java(package):
    agent = next(package / a for a in JAVA_AGENTS if (package / a).exists())
    with zipfile.ZipFile(agent) as jar:
        manifest = jar.read("META-INF/MANIFEST.MF").decode()
        version = re.search(r"^Implementation-Version: (\S+)", manifest, re.M).group(1)
        bootstrap = re.search(r"^Agent-Class: (\S+)", manifest, re.M).group(1)
        header = jar.read(bootstrap.replace(".", "/") + ".class")[:8]
    if header[:4] != b"\xca\xfe\xba\xbe":
        sys.exit(f"supported_runtimes: {bootstrap} is not a class file")
    # Class file major version 52 is Java 8, 53 Java 9, ...
    java_version = int.from_bytes(header[6:8], "big") - 44
    return [{"tracer": f"{agent.stem} {version}", "dir": ".", "min": str(java_version)}]


def js(package, dirs):
    tracers = []
    for d in dirs:
        name = next(n for n in NODE_TRACERS if (package / d / "node_modules" / n).exists())
        meta = json.loads((package / d / "node_modules" / name / "package.json").read_text())
        # ">=18", ">=22.15.0", "^18.19.0 || >=20.6.0": the lowest major any alternative admits.
        alternatives = [re.fullmatch(r"(?:>=|\^)\s*(\d+)(?:\.\d+)*", a.strip())
                        for a in meta["engines"]["node"].split("||")]
        if not all(alternatives):
            sys.exit(f"supported_runtimes: unexpected engines.node in {d}: {meta['engines']}")
        low = min(int(a.group(1)) for a in alternatives)
        tracer = {"tracer": f"{name} {meta['version']}", "dir": d, "min": str(low)}
        if "nodeMaxMajor" in meta:
            tracer["max"] = str(int(meta["nodeMaxMajor"]) - 1)
        tracers.append(tracer)
    return tracers


def python(package):
    pkgs = next(d for d in PYTHON_SDKS if (package / d).is_dir())
    versions = sorted(
        (int(m.group(1)), int(m.group(2)))
        for p in (package / pkgs).iterdir()
        if (m := re.fullmatch(r"cpython-(3)(\d+)-x86_64-linux-gnu", p.name))
    )
    if not versions:
        sys.exit(f"supported_runtimes: no {pkgs}/cpython-* directory")
    version = (package / "version").read_text().strip()
    low, high = versions[0], versions[-1]
    return [{"tracer": f"{PYTHON_SDKS[pkgs]} {version}", "dir": ".",
             "min": "%d.%d" % low, "max": "%d.%d" % high}]


def main():
    kind, package, *dirs = sys.argv[1:]
    package = Path(package)
    tracers = {"java": lambda: java(package), "js": lambda: js(package, dirs),
               "python": lambda: python(package)}[kind]()
    text = json.dumps({"version": 1, "tracers": tracers}, indent=2) + "\n"
    (package / "supported_runtimes.json").write_text(text)


if __name__ == "__main__":
    main()
