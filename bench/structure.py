#!/usr/bin/env python3
"""The core crate's structure, as issue 13 measures it: import cycles between
files (strongly connected components of the `use crate::` / `super::` graph),
which of them cross folders, functions that take the whole `Core`, and the
distribution of file sizes.

Usage: python3 bench/structure.py [SRC_DIR]   (default: src)
"""

import os
import re
import sys
from collections import defaultdict

SRC = sys.argv[1] if len(sys.argv) > 1 else "src"


def module_of(path):
    """`src/a/b.rs` -> ('a','b'); `src/a/mod.rs` -> ('a',); `src/lib.rs` -> ()."""
    rel = os.path.relpath(path, SRC)[: -len(".rs")].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


files = {}
for root, _, names in os.walk(SRC):
    for name in names:
        if name.endswith(".rs"):
            path = os.path.join(root, name)
            files[module_of(path)] = path
# Binaries under src/bin are separate crates.
files = {m: p for m, p in files.items() if not (m and m[0] == "bin")}


def resolve(parts):
    """The longest known module that `parts` starts with."""
    for n in range(len(parts), -1, -1):
        if tuple(parts[:n]) in files:
            return tuple(parts[:n])
    return None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def use_paths(text):
    """Every path named after `crate::`, `super::` or `self::`, with `use` groups expanded."""
    out = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        out.extend(expand(m.group(1).replace("\n", " ").replace(" ", "")))
    for m in re.finditer(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        out.append(m.group(1))
    return out


def expand(tree):
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d']."""
    if "{" not in tree:
        return [tree]
    head, _, rest = tree.partition("{")
    body = rest[: rest.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [x for p in parts if p for x in expand(head + p)]


edges = defaultdict(set)
core_takers = []
for mod, path in files.items():
    text = strip_comments(open(path, encoding="utf-8").read())
    # Test modules import freely; they are not the structure.
    text = re.split(r"#\[cfg\(test\)\]\s*mod\s+tests", text)[0]
    is_dir_module = os.path.basename(path) in ("mod.rs", "lib.rs", "main.rs")
    for p in use_paths(text):
        segs = p.split("::")
        if segs[0] == "crate":
            target = resolve(segs[1:])
        elif segs[0] not in ("super", "self"):
            # `use child::X` names a module declared here; anything else is an
            # extern crate (std, serde, ...), not part of this graph.
            child = (tuple(mod) if is_dir_module else tuple(mod[:-1])) + (segs[0],)
            target = resolve(list(child) + segs[1:]) if child in files else None
        else:
            base = list(mod) if is_dir_module else list(mod[:-1])
            if segs[0] == "self":
                base = list(mod)
                segs = segs[1:]
            while segs and segs[0] == "super":
                base = base[:-1]
                segs = segs[1:]
            if segs and segs[0] == "self":
                segs = segs[1:]
            target = resolve(base + segs)
        if target is not None and target != mod and target != ():
            edges[mod].add(target)
    for m in re.finditer(r"fn\s+(\w+)[^{;]*?(?:&\s*Core\b|Arc<Core>)", text, flags=re.S):
        core_takers.append((path, m.group(1)))

# Tarjan's strongly connected components.
index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]
sys.setrecursionlimit(10000)


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges.get(v, ()):
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
        sccs.append(comp)


for v in sorted(files):
    if v not in index:
        visit(v)

name = lambda m: "::".join(m) or "crate"
cycles = [sorted(c) for c in sccs if len(c) > 1]
crossing = [c for c in cycles if len({m[0] for m in c}) > 1]
print(f"files: {len(files)}   import edges: {sum(len(e) for e in edges.values())}")
print(f"import cycles (files in one strongly connected component): {len(cycles)}")
for c in sorted(cycles, key=len, reverse=True):
    folders = sorted({m[0] for m in c})
    tag = "crosses folders " + ",".join(folders) if len(folders) > 1 else "within " + folders[0]
    print(f"  {len(c)} files, {tag}: {' '.join(name(m) for m in c)}")
print(f"cycles that cross folders: {len(crossing)}")
print(f"functions taking the whole Core (&Core / Arc<Core>): {len(core_takers)} in "
      f"{len({p for p, _ in core_takers})} files")

sizes = sorted(sum(1 for _ in open(p, encoding="utf-8")) for p in files.values())
buckets = [(0, 100), (101, 200), (201, 300), (301, 400), (401, 600), (601, 10**9)]
print("file sizes (lines): " + "  ".join(
    f"{lo}-{hi if hi < 10**9 else ''}: {sum(lo <= s <= hi for s in sizes)}" for lo, hi in buckets))
print(f"  median {sizes[len(sizes) // 2]}, largest {sizes[-1]}, total {sum(sizes)}")
