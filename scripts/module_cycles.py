#!/usr/bin/env python3
"""Lists import cycles between the modules of each crate; exits 1 if there is one.

A file imports the modules its `crate::`, `super::`, `self::` and child-module paths name
(in `use` declarations and in code, tests included). Every crate root of the workspace is
read (src/lib.rs, src/main.rs, tests/*.rs, build.rs, fuzz targets) with the files its
`mod x;` declarations reach. A path through a module imports its file; the crate root's
re-exports are followed to the module that defines the item. DESIGN.md promises: no module imports one that imports it back.

    python3 scripts/module_cycles.py [REPO]
"""

import pathlib
import re
import sys

# Comments, string and char literals are blanked before paths are read.
LEXEME = re.compile(
    r"""
    (?P<line>//[^\n]*)
  | (?P<block>/\*)
  | (?P<raw>b?r(?P<hashes>\#*)")
  | (?P<str>b?"(?:\\.|[^"\\])*")
  | (?P<char>b?'(?:\\u\{[0-9a-fA-F]+\}|\\.|[^'\\\n])')
    """,
    re.VERBOSE | re.DOTALL,
)
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
MOD_DECL = re.compile(r"\bmod\s+(" + IDENT + r")\s*(;|\{)")
USE = re.compile(r"\buse\s+([^;]*);")
PATH = re.compile(r"(?<![A-Za-z0-9_:])((?:crate|super|self)(?:\s*::\s*" + IDENT + r")+)")


def blank(text):
    """The source with comments and literals replaced by spaces (newlines kept)."""
    out = []
    i = 0
    while True:
        m = LEXEME.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i : m.start()])
        if m.group("block"):
            depth, j = 1, m.end()
            while depth and j < len(text):
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            end = j
        elif m.group("raw") is not None:
            close = '"' + m.group("hashes")
            k = text.find(close, m.end())
            end = len(text) if k < 0 else k + len(close)
        else:
            end = m.end()
        out.append(re.sub(r"[^\n]", " ", text[m.start() : end]))
        i = end
    return "".join(out)


def use_paths(tree):
    """Every leaf of a use tree as (full path, name it is known by here).

    `a::{b, c::d as e, self}` gives (a::b, b), (a::c::d, e) and (a, a)."""
    tree = re.sub(r"\s+", " ", tree).strip()
    if tree.startswith("::"):
        tree = tree[2:]
    leaves = []

    def walk(prefix, s):
        # s is a comma-separated list of trees at one level.
        depth, start = 0, 0
        for k, c in enumerate(s + ","):
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c == "," and depth == 0:
                part = s[start:k].strip()
                start = k + 1
                if not part:
                    continue
                brace = part.find("{")
                if brace >= 0:
                    head = part[:brace].replace(" ", "").rstrip(":")
                    walk(prefix + [x for x in head.split("::") if x], part[brace + 1 : part.rfind("}")])
                    continue
                alias = None
                m = re.fullmatch(r"(.*?)\s+as\s+(" + IDENT + r")", part)
                if m:
                    part, alias = m.group(1), m.group(2)
                path = prefix + [x for x in part.replace(" ", "").split("::") if x]
                if path and path[-1] == "self":
                    path = path[:-1]
                if path:
                    leaves.append((path, alias or path[-1]))

    walk([], tree)
    return leaves


class File:
    """One source file: its module path and the modules it declares."""

    def __init__(self, path, module):
        self.path = path
        self.module = module  # tuple of names from the crate root
        self.code = blank(path.read_text())
        self.children = {}  # name -> File
        self.spans = inline_modules(self.code)
        # Names this file's module brings into scope with `use` (not those of inline modules
        # such as `mod tests`): name -> path as written.
        self.uses = {}
        for m in USE.finditer(self.code):
            if self.enclosing(m.start()):
                continue
            for path, name in use_paths(m.group(1)):
                if name not in ("*", "_"):
                    self.uses[name] = path

    def enclosing(self, offset):
        """The names of the inline modules around `offset`, outermost first."""
        for start, end, names in self.spans:
            if start <= offset < end:
                return names
        return ()


def module_file(directory, name):
    for candidate in (directory / (name + ".rs"), directory / name / "mod.rs"):
        if candidate.is_file():
            return candidate
    return None


def load_crate(root):
    """All files of the crate whose root file is `root`, keyed by module path."""
    files = {}

    def load(path, module, own_dir):
        f = File(path, module)
        files[module] = f
        # Only `mod x;` at any depth outside inline modules is followed; inline `mod x {`
        # blocks stay part of this file.
        for m in MOD_DECL.finditer(f.code):
            if m.group(2) != ";":
                continue
            child = module_file(own_dir, m.group(1))
            if child is None:
                continue
            child_dir = child.parent if child.name == "mod.rs" else child.parent / m.group(1)
            f.children[m.group(1)] = load(child, module + (m.group(1),), child_dir)
        return f

    load(root, (), root.parent)
    return files


def inline_modules(code):
    """For each offset range, the inline `mod x {` names enclosing it: list of (start, end, names)."""
    spans = []
    stack = []  # (name, depth at which its brace opened)
    depth = 0
    last = 0
    for m in re.finditer(r"\{|\}|\bmod\s+(" + IDENT + r")\s*\{", code):
        names = tuple(n for n, _ in stack)
        spans.append((last, m.start(), names))
        last = m.start()
        if m.group(1):
            depth += 1
            stack.append((m.group(1), depth))
        elif m.group(0) == "{":
            depth += 1
        else:
            if stack and stack[-1][1] == depth:
                stack.pop()
            depth -= 1
    spans.append((last, len(code), tuple(n for n, _ in stack)))
    return spans


def resolve(files, here, segments, depth=0):
    """The file module a path from module `here` (a tuple) names, or None if outside the crate.

    A path through a module imports that module's file, even for an item it re-exports; the
    crate root's re-exports (`crate::Decision`) are followed to where they are defined, since
    the root declares every module and would otherwise close a cycle with each."""
    if not segments or depth > 8:
        return None
    first = segments[0]
    if first == "crate":
        base, rest = (), segments[1:]
    elif first in ("self", "super"):
        base = here
        rest = list(segments)
        while rest and rest[0] in ("self", "super"):
            if rest[0] == "super":
                if not base:
                    return None
                base = base[:-1]
            rest = rest[1:]
    elif here + (first,) in files:
        base, rest = here, segments
    elif here in files and first in files[here].uses:
        return resolve(files, here, files[here].uses[first] + list(segments[1:]), depth + 1)
    else:
        return None
    module = base
    for i, name in enumerate(rest):
        if module + (name,) in files:
            module = module + (name,)
            continue
        if module == () and name in files[module].uses:
            return resolve(files, module, files[module].uses[name] + list(rest[i + 1 :]), depth + 1)
        break
    # An inline module path resolves to the file that holds it.
    while module not in files:
        module = module[:-1]
    return module


def imports(files, f):
    """The file modules that file `f` imports."""
    found = set()
    use_ranges = []
    for m in USE.finditer(f.code):
        use_ranges.append((m.start(), m.end()))
        here = f.module + f.enclosing(m.start())
        for path, _ in use_paths(m.group(1)):
            target = resolve(files, here, path)
            if target is not None:
                found.add(target)
    for m in PATH.finditer(f.code):
        if any(s <= m.start() < e for s, e in use_ranges):
            continue
        here = f.module + f.enclosing(m.start())
        target = resolve(files, here, re.sub(r"\s+", "", m.group(1)).split("::"))
        if target is not None:
            found.add(target)
    found.discard(f.module)
    return found


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def crate_roots(repo):
    for manifest in sorted(repo.glob("**/Cargo.toml")):
        crate = manifest.parent
        if "target" in crate.relative_to(repo).parts:
            continue
        roots = [crate / "src" / "lib.rs", crate / "src" / "main.rs", crate / "build.rs"]
        roots += sorted((crate / "src" / "bin").glob("*.rs"))
        roots += sorted((crate / "tests").glob("*.rs"))
        roots += sorted((crate / "fuzz_targets").glob("*.rs"))
        for root in roots:
            if root.is_file():
                yield root


def main():
    repo = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    failed = False
    checked = 0
    for root in crate_roots(repo):
        files = load_crate(root)
        graph = {m: imports(files, f) for m, f in files.items()}
        checked += len(files)
        for component in cycles(graph):
            failed = True
            names = ", ".join(str(files[m].path.relative_to(repo)) for m in component)
            print(f"import cycle: {names}")
            for m in component:
                back = sorted(str(files[t].path.relative_to(repo)) for t in graph[m] if t in component)
                print(f"  {files[m].path.relative_to(repo)} imports {', '.join(back)}")
    if not failed:
        print(f"no module import cycles ({checked} files)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
