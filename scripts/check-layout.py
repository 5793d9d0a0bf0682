#!/usr/bin/env python3
"""Checks the workspace's shape, the rules DESIGN.md sets and review keeps finding broken:

1. No module cycle inside a crate: module A names `crate::b` (or `super::b`) and b names A,
   directly or through a chain. Cycles make a crate one tangle that cannot be split, and they
   are how data types end up glued to the operations that use them.
2. No test code in a library's src/: no `testing` module, no `test-support` feature, nothing
   compiled only for other crates' tests. `#[cfg(test)] mod tests` unit tests are fine.
3. Crates depend downward only (the order in DESIGN.md), and the publish = false test crates
   are never normal dependencies.

Exit status 1 with one line per finding; 0 and a summary line when the tree is clean.

A module is a file. An edge A -> B is a path in A's code (outside `#[cfg(test)]` blocks and
comments) that resolves to module B; names re-exported with `pub use` are followed to the
module that defines them. A parent's `mod child;` and `pub use child::Name` lines are
structure, not edges.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Allowed normal dependencies between our crates: a crate may depend on the ones listed
# (directly). Anything not listed is a layering error. Test-only crates never appear.
LAYERS = {
    "lifeboat-storage": set(),
    "lifeboat-crypto": set(),
    "lifeboat-retention": set(),
    "lifeboat-chunker": set(),
    "lifeboat-notify": set(),
    "lifeboat-repo": {"lifeboat-storage", "lifeboat-crypto", "lifeboat-chunker"},
    "lifeboat-dump": {"lifeboat-storage", "lifeboat-crypto"},
    "lifeboat-es": {"lifeboat-storage", "lifeboat-crypto", "lifeboat-retention"},
    # Table exports, plain named export files and their expiry (issue 16).
    "lifeboat-export": {
        "lifeboat-storage", "lifeboat-crypto", "lifeboat-repo", "lifeboat-dump", "lifeboat-retention",
    },
    "lifeboat-ops": {
        "lifeboat-storage", "lifeboat-crypto", "lifeboat-repo", "lifeboat-dump",
        "lifeboat-es", "lifeboat-retention", "lifeboat-notify", "lifeboat-export",
    },
    "lifeboat-http": {
        "lifeboat-storage", "lifeboat-crypto", "lifeboat-repo", "lifeboat-dump",
        "lifeboat-es", "lifeboat-retention", "lifeboat-notify", "lifeboat-export", "lifeboat-ops",
    },
    # The lifeboatd binary: on top of the HTTP API and everything below it.
    "lifeboatd": {
        "lifeboat-storage", "lifeboat-crypto", "lifeboat-repo", "lifeboat-dump",
        "lifeboat-es", "lifeboat-retention", "lifeboat-notify", "lifeboat-export", "lifeboat-ops",
        "lifeboat-http",
    },
}
TEST_ONLY = {"lifeboat-testkit", "lifeboat-es-double"}

PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP_RE = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\}\s*;", re.S)
MOD_DECL_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)
PUB_USE_RE = re.compile(r"^\s*pub(?:\([^)]*\))?\s+use\s+([^;]+);", re.M)


def _blank_literals(text: str) -> str:
    """Drops plain comments and the contents of string and char literals, with a small lexer.

    Regexes get this wrong: `r"` at the end of `"error"` looks like the start of a raw string,
    and a `'"'` char literal looks like the start of a string, and either swallows the code up
    to the next quote. Doc comments (`///`, `//!`) stay: a doc link to `crate::x` is a
    dependency too (rustdoc resolves it, and it says the module knows about x).
    """
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            if text.startswith(("///", "//!"), i):
                out.append(text[i:j])
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            i = j
        elif (m := re.compile(r"b?r(#*)\"").match(text, i)) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            close = '"' + m.group(1)
            j = text.find(close, m.end())
            out.append('""')
            i = n if j < 0 else j + len(close)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and (m := re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'])'").match(text, i)):
            out.append("' '")
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_comments_and_tests(text: str) -> str:
    """Drops comments, string literals and `#[cfg(test)]` items (they are not the crate)."""
    text = _blank_literals(text)
    out, i = [], 0
    while True:
        j = text.find("#[cfg(test)]", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        # Skip the item: up to its matching closing brace (or a `;` for `mod tests;`).
        k = j + len("#[cfg(test)]")
        depth, started = 0, False
        while k < len(text):
            c = text[k]
            if c == ";" and not started:
                k += 1
                break
            if c == "{":
                depth += 1
                started = True
            elif c == "}":
                depth -= 1
                if started and depth == 0:
                    k += 1
                    break
            k += 1
        i = k
    return "".join(out)


class Crate:
    def __init__(self, name: str, src: Path):
        self.name = name
        self.src = src
        self.modules: dict[tuple[str, ...], Path] = {}
        self.text: dict[tuple[str, ...], str] = {}
        self.exports: dict[tuple[str, ...], dict[str, tuple[str, ...]]] = {}
        root = src / "lib.rs" if (src / "lib.rs").exists() else src / "main.rs"
        self._walk((), root)

    def _walk(self, path: tuple[str, ...], file: Path) -> None:
        self.modules[path] = file
        raw = file.read_text()
        self.text[path] = strip_comments_and_tests(raw)
        base = file.parent if file.name in ("lib.rs", "main.rs", "mod.rs") else file.with_suffix("")
        for name in MOD_DECL_RE.findall(self.text[path]):
            for child in (base / f"{name}.rs", base / name / "mod.rs"):
                if child.exists():
                    self._walk(path + (name,), child)
                    break

    def resolve(self, here: tuple[str, ...], head: str, segs: list[str]) -> tuple[str, ...]:
        if head == "crate":
            cur: tuple[str, ...] = ()
        elif head == "super":
            cur = here[:-1]
        else:
            cur = here
        while segs and segs[0] == "super":
            cur, segs = cur[:-1], segs[1:]
        for seg in segs:
            if cur + (seg,) in self.modules:
                cur = cur + (seg,)
                continue
            target = self.exports_of(cur).get(seg)
            return target if target is not None else cur
        return cur

    def exports_of(self, module: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """Names `module` re-exports with `pub use`, mapped to the module they come from."""
        if module in self.exports:
            return self.exports[module]
        self.exports[module] = {}
        found: dict[str, tuple[str, ...]] = {}
        for body in PUB_USE_RE.findall(self.text.get(module, "")):
            body = " ".join(body.split())
            m = re.match(r"((?:[A-Za-z_][A-Za-z0-9_]*::)*)\{(.*)\}$", body)
            if m:
                prefix, names = m.group(1).rstrip(":").split("::") if m.group(1) else [], m.group(2)
                items = [n.strip() for n in names.split(",") if n.strip()]
            else:
                parts = body.split("::")
                prefix, items = parts[:-1], [parts[-1]]
            if not prefix:
                continue
            head = prefix[0] if prefix[0] in ("crate", "super", "self") else "self"
            segs = prefix[1:] if prefix[0] in ("crate", "super", "self") else prefix
            if head == "self" and segs and (module + (segs[0],)) not in self.modules:
                continue  # an external crate
            origin = self.resolve(module, head, list(segs))
            for item in items:
                name = item.split(" as ")[-1].strip()
                found[name] = origin
        self.exports[module] = found
        return found

    def edges(self) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
        graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in self.modules}
        for module, text in self.text.items():
            for head, group, names in USE_GROUP_RE.findall(text):
                base = [s for s in group.split("::") if s]
                for name in re.split(r"[,\s{}]+", names):
                    name = name.strip()
                    if name and name != "self" and re.match(r"[A-Za-z_]", name):
                        self._add(graph, module, head, base + [name])
            for m in PATH_RE.finditer(text):
                head, rest = m.group(1), [s for s in m.group(2).split("::") if s]
                if head == "self" and not rest:
                    continue
                self._add(graph, module, head, rest)
        return graph

    def _add(self, graph, module, head, segs) -> None:
        target = self.resolve(module, head, list(segs))
        if target == module:
            return
        # Parent -> descendant through its own `pub use` is structure; other uses of a
        # child by its parent are real edges, but they cannot close a cycle unless the
        # child also uses the parent, which the reverse edge records.
        if target[: len(module)] == module and self._is_reexport(module, target):
            return
        graph[module].add(target)

    def _is_reexport(self, module, target) -> bool:
        return any(origin == target for origin in self.exports_of(module).values())


def cycles(graph):
    """Tarjan's strongly connected components with more than one member."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def name(module: tuple[str, ...]) -> str:
    return "::".join(("crate",) + module)


def main() -> int:
    findings: list[str] = []
    crates = 0
    for manifest in sorted(ROOT.glob("crates/*/Cargo.toml")):
        meta = tomllib.loads(manifest.read_text())
        pkg = meta.get("package", {}).get("name", manifest.parent.name)
        src = manifest.parent / "src"
        if not src.exists():
            continue
        crates += 1
        is_test_crate = pkg in TEST_ONLY
        # 3. layering
        deps = set(meta.get("dependencies", {}))
        ours = {d for d in deps if d.startswith("lifeboat")}
        for d in sorted(ours & TEST_ONLY):
            findings.append(f"{pkg}: test-only crate {d} is a normal dependency (make it a dev-dependency)")
        if pkg in LAYERS:
            for d in sorted(ours - LAYERS[pkg] - TEST_ONLY):
                findings.append(f"{pkg}: depends on {d}, which is not below it (DESIGN.md's order)")
        # 2. test code in src
        if not is_test_crate and (src / "lib.rs").exists():
            if any((src / "testing").rglob("*.rs")) or (src / "testing.rs").exists():
                findings.append(f"{pkg}: test support compiled into the library ({src / 'testing'})")
            for feat in meta.get("features", {}):
                if "test" in feat:
                    findings.append(f"{pkg}: feature `{feat}` exposes test support from the library")
        # 1. cycles
        for root_file in ("lib.rs", "main.rs"):
            if not (src / root_file).exists():
                continue
            crate = Crate(pkg, src)
            graph = crate.edges()
            for comp in cycles(graph):
                members = ", ".join(sorted(name(m) for m in comp))
                findings.append(f"{pkg}: module cycle: {members}")
            # The same at the crate's top level: a folder module counts as one, so
            # `error -> tree::filter` and `tree::pack -> error` is a cycle of error and tree.
            top: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
            for src_mod, targets in graph.items():
                for target in targets:
                    a, b = src_mod[:1], target[:1]
                    if a and b and a != b:
                        top.setdefault(a, set()).add(b)
            for comp in cycles(top):
                members = ", ".join(sorted(name(m) for m in comp))
                findings.append(f"{pkg}: module cycle between top-level modules: {members}")
            break
    for f in findings:
        print(f)
    if findings:
        print(f"check-layout: {len(findings)} finding(s) in {crates} crates")
        return 1
    print(f"check-layout: {crates} crates, no module cycle, no test code in a library, layering downward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
