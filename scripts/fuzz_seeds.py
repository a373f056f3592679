#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into DIR/<target>/ from real files of this machine:
auxiliary vectors and command lines of live processes (/proc/self/*), the compiled default deny
list (deny-list's build output), globs of deny-list/deny-list.yaml, requirements.json files in
the shape the tracers ship, and host configurations compiled by `apm-inject config apply`.

Usage: fuzz_seeds.py DIR DEFAULT_RULES_BIN APM_INJECT_CLI
"""
import os
import re
import struct
import subprocess
import sys
import tempfile

SEP = b"\xff"  # field separator of the rule_set and decide inputs
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def own(argv, path):
    """What `argv` (a `cat`-like program) reads from its own /proc/self/<path>."""
    return subprocess.run(argv + [f"/proc/self/{path}"], env={"PATH": "/usr/bin:/bin"},
                          check=True, stdout=subprocess.PIPE).stdout


def cmdline_of(name, *args):
    """A command line laid out as the kernel does in /proc/<pid>/cmdline."""
    return b"".join(a.encode() + b"\0" for a in (name, *args))


def python_reads(path, *args, env=None):
    """What a real python3 reads from its own /proc/self/<path>."""
    code = f"import sys; sys.stdout.buffer.write(open('/proc/self/{path}', 'rb').read())"
    return subprocess.run(["/usr/bin/python3", "-c", code, *args], env=env or {},
                          check=True, stdout=subprocess.PIPE).stdout


def write(directory, name, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


REQUIREMENTS = [
    b'{"version":1,"native_deps":{"glibc":[{"arch":"x64","supported":true,"min":"2.17"}],'
    b'"musl":[{"arch":"x64","supported":false}]},"deny":[{"id":"java_version",'
    b'"description":"java -version","os":null,"cmds":["**/java"],'
    b'"args":[{"args":["-version"],"position":1}],"envars":null}]}',
    b'{"version":1,"native_deps":{"glibc":[{"arch":"x64","supported":true,"min":"2.28"},'
    b'{"arch":"arm64","supported":true}],"musl":[{"arch":"x64","supported":true}]},'
    b'"deny":[{"id":"solr","description":"Solr","cmds":["**/java"],"args":[],'
    b'"envars":{"SOLR_PORT":null,"STAGE":"prod*"}},{"id":"npm","description":"npm",'
    b'"cmds":["**/node","**/nodejs"],"args":[{"args":["*npm-cli.js","*/npm"],"position":null}],'
    b'"envars":null}]}',
    b'{"version":1,"deny":[]}',
    b'{"version":1,"native_deps":{"glibc":[{"arch":"x64","supported":true,"min":"2.17"}]},'
    b'"deny":[{"id":"unicode","description":"\\u00e9\\n\\"","cmds":["**/python*"],'
    b'"args":[{"args":["-m","pip"],"position":1}],"envars":null}],"extra":[1,2.5e3,-0.1,true,null]}',
]

CONFIGS = [
    "log_level: debug\noutput_paths: [stderr, /var/log/apm-inject.log]\n",
    "languages: {java: true, python: false}\nenv: prod\nversion: \"1.4\"\ntime_budget_ms: 250\n",
    "rules:\n  - action: deny\n    id: batch-jobs\n    runtime: python\n    exe: \"**/python*\"\n"
    "    args: [{any: [\"--batch\"]}]\n    env: {STAGE: \"prod*\"}\n    cwd: \"/srv/batch/**\"\n"
    "  - action: allow\n    runtime: java\n    args: [{any: [\"-version\"]}]\n",
]


def main():
    out, rules_bin, cli = sys.argv[1], sys.argv[2], sys.argv[3]
    default_rules = open(rules_bin, "rb").read()

    # auxv: a glibc program's, python's, and a cut one.
    cat_auxv = own(["cat"], "auxv")
    write(f"{out}/auxv", "cat", cat_auxv)
    write(f"{out}/auxv", "python3", python_reads("auxv"))
    write(f"{out}/auxv", "truncated", cat_auxv[: len(cat_auxv) // 2])

    # Command lines: python's own, and others in the kernel's layout; dotted versions.
    cmdlines = {
        "python": python_reads("cmdline", "app.py", "--port", "8080"),
        "java_jar": cmdline_of("java", "-Xmx1g", "-jar", "app.jar"),
        "java_version": cmdline_of("java", "-version"),
        "node_npm": cmdline_of("node", "/usr/lib/node_modules/npm/bin/npm-cli.js", "install"),
        "empty_args": cmdline_of("x", "", "", "a b"),
        "pip": cmdline_of("/usr/bin/python3.11", "-m", "pip", "install", "ddtrace"),
    }
    for name, data in cmdlines.items():
        write(f"{out}/cmdline", name, data)
    for version in [b"2.36", b"17.0.15", b"1.8.0_292", b"3.11.2"]:
        write(f"{out}/cmdline", version.decode(), version)

    # Globs of the default deny list with paths they are matched against.
    yaml = open(os.path.join(ROOT, "deny-list/deny-list.yaml"), "rb").read()
    patterns = sorted(set(re.findall(rb'"([^"\n]*\*[^"\n]*)"', yaml)))
    paths = [b"/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
             b"/usr/lib/node_modules/npm/bin/npm-cli.js", b"/usr/bin/python3.11",
             b"/opt/solr-9.4/server/start.jar", b"-Dsolr.solr.home=/var/solr"]
    for i, pattern in enumerate(patterns):
        write(f"{out}/glob", f"p{i}", pattern + b"\0" + paths[i % len(paths)])

    # The compiled default deny list with subjects it is matched against.
    subjects = [
        [b"java", b"/usr/lib/jvm/java-17-openjdk-amd64/bin/java", cmdlines["java_version"].rstrip(b"\0"),
         b"-version", b"", b"", b"PATH=/usr/bin\0JAVA_HOME=/usr/lib/jvm/java-17", b"/srv/app", b""],
        [b"node", b"/usr/bin/node", cmdlines["node_npm"].rstrip(b"\0"), b"",
         b"/usr/lib/node_modules/npm/bin/npm-cli.js", b"", b"PATH=/usr/bin", b"/", b"install"],
        [b"python", b"/usr/bin/python3.11", cmdlines["pip"].rstrip(b"\0"), b"-m", b"", b"pip",
         b"PATH=/usr/bin", b"/root", b"install"],
    ]
    for i, subject in enumerate(subjects):
        write(f"{out}/rule_set", f"default{i}",
              struct.pack("<I", len(default_rules)) + default_rules + SEP.join(subject))

    for i, text in enumerate(REQUIREMENTS):
        write(f"{out}/requirements", f"r{i}", text)

    # Host configurations compiled by the CLI.
    compiled = []
    for i, text in enumerate(CONFIGS):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "host_config.yaml"), "w") as f:
                f.write(text)
            env = dict(os.environ, DD_APM_INSTRUMENTATION_CONFIG_DIR=d)
            subprocess.run([cli, "config", "apply"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            data = open(os.path.join(d, "host_config.bin"), "rb").read()
        compiled.append(data)
        write(f"{out}/config", f"c{i}", data)

    # Whole decisions: real command lines and environments, the package layout, the JDK's
    # release file and a jar made by the JDK's `jar`.
    environ = python_reads("environ", env={"PATH": "/usr/bin:/bin", "HOME": "/root",
                                           "LANG": "C.UTF-8", "PYTHONPATH": "/app/lib",
                                           "DD_SERVICE": "web", "DD_APM_INSTRUMENTATION_DEBUG": "true"})
    java = os.path.realpath("/usr/bin/java")
    release = open(os.path.join(os.path.dirname(os.path.dirname(java)), "release"), "rb").read()
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "Agent.txt"), "w") as f:
            f.write("agent\n")
        subprocess.run(["jar", "cf", "agent.jar", "Agent.txt"], cwd=d, check=True)
        jar = open(os.path.join(d, "agent.jar"), "rb").read()
    site = open(os.path.join(ROOT, "tests/fixtures/sitecustomize.py"), "rb").read()
    contents = [REQUIREMENTS[0], release, jar, site]  # blobs 1 to 4
    java_env = b"PATH=/usr/bin\0JAVA_TOOL_OPTIONS=-Xmx256m\0DD_INJECT_FORCE=false\0"
    node_env = b"PATH=/usr/bin\0NODE_OPTIONS=--max-old-space-size=256\0"
    files = b"\0".join([b"f4sitecustomize.py", b"f3dd-java-agent.jar", b"f4bootstrap.cjs",
                        b"f1requirements.json", b"f2release", b"d0/stable", b"d0/datadog-packages"])
    unusable = b"\0".join([b"r4sitecustomize.py", b"f1dd-java-agent.jar", b"w4bootstrap.cjs"])
    decisions = {
        "python": (b"\x01\x00\x24\x00", b"/usr/bin/python3.11", cmdlines["python"], environ),
        "python_root": (b"\x00\x01\x00\x05", b"/usr/bin/python3.11", cmdlines["pip"], environ),
        "java": (b"\x01\x00\x24\x00", java.encode(), cmdlines["java_jar"], java_env),
        "java_version": (b"\x01\x00\x00\x00", java.encode(), cmdlines["java_version"], java_env),
        "node": (b"\x01\x01\x00\x00", b"/usr/bin/node", cmdline_of("node", "server.js"), node_env),
        "npm": (b"\x01\x00\x24\x00", b"/usr/bin/node", cmdlines["node_npm"], node_env),
    }
    for i, (name, (flags, exe, cmdline, env)) in enumerate(decisions.items()):
        for variant, listed, config in [("", files, compiled[i % len(compiled)]),
                                        ("_defaults", files, b""),
                                        ("_unusable", unusable, b"")]:
            fields = [flags, exe, cmdline, env, b"/srv/app", b"/opt/datadog-packages", listed]
            blobs = b"".join(struct.pack("<H", len(b)) + b for b in [config] + contents)
            write(f"{out}/decide", name + variant, SEP.join(fields) + SEP + blobs)

if __name__ == "__main__":
    main()
