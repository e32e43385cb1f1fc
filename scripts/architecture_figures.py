"""Architecture figures of codecbench/ (issue 32): import cycles from an ast walk of every import (also
the ones inside functions), direct 2-cycles, metric and output names written as string literals
outside their own metric module, and imports of particular metric modules from outside metrics/.

    PYTHONPATH=. python scripts/architecture_figures.py [ROOT]
"""

import ast
import sys
from collections import defaultdict
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
pkg = root / "codecbench"


def modname(p):
    rel = p.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


mods = {modname(p): p for p in pkg.rglob("*.py")}
graph = defaultdict(set)
graph_top = defaultdict(set)  # module-level imports only
for m, p in mods.items():
    tree = ast.parse(p.read_text())
    is_pkg = p.name == "__init__.py"

    def resolve(node, m=m, is_pkg=is_pkg):
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            parts = m.split(".")
            if not is_pkg:
                parts = parts[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([base] if base else []))
        out = []
        for a in node.names:
            full = f"{base}.{a.name}"
            out.append(full if full in mods else base)
        return out

    toplevel = set()
    for node in tree.body:
        toplevel.add(id(node))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for t in resolve(node):
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m and t.startswith("codecbench"):
                    graph[m].add(t)
                    if id(node) in toplevel:
                        graph_top[m].add(t)


def sccs(g):
    index, low, st, on, res = {}, {}, [], set(), []
    c = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = c[0]
        c[0] += 1
        st.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = st.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                res.append(sorted(comp))

    for v in list(mods):
        if v not in index:
            visit(v)
    return res


def cycles2(g):
    """2-cycles (a imports b and b imports a), ignoring package __init__ <-> child edges."""
    out = set()
    for a in g:
        for b in g[a]:
            if a in g.get(b, ()) and a < b:
                if b.startswith(a + ".") or a.startswith(b + "."):
                    continue
                out.add((a, b))
    return sorted(out)


for label, g in (("all imports (incl. function-level)", graph), ("module-level imports", graph_top)):
    comps = sccs(g)
    print(f"== {label}: {len(comps)} strongly connected components, sizes {[len(c) for c in comps]}")
    for c in comps:
        print("   ", c)
    cy = cycles2(g)
    print(f"   direct 2-cycles (excluding pkg<->child): {len(cy)}")
    for a, b in cy:
        print("     ", a, "<->", b)

# metric names outside their own modules
names = set()
owner = {}
try:
    sys.path.insert(0, str(root))
    from codecbench.metrics.registry import all_metrics

    for n, mm in all_metrics().items():
        mod = type(mm).__module__
        for x in [n] + [o.name for o in mm.info().outputs]:
            owner[x] = mod
except Exception as e:
    print("cannot load metrics", e)
extra = {
    "wer_corpus": "codecbench.metrics.asr",
    "cer_corpus": "codecbench.metrics.asr",
    "dwer_corpus": "codecbench.metrics.asr",
    "dcer_corpus": "codecbench.metrics.asr",
}
owner.update(extra)
hits = []
for m, p in mods.items():
    tree = ast.parse(p.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            v = node.value
            key = (
                v
                if v in owner
                else (
                    v.split(":")[0]
                    if v.split(":")[0] in ("abx_floor", "abx_error", "abx_loss", "abx_token_error")
                    else None
                )
            )
            own = owner.get(v) or ("codecbench.metrics.abx" if key and key.startswith("abx") else None)
            if own is None:
                continue
            ownpkg = own.rsplit(".", 1)[0] if own.count(".") >= 3 else own
            if m == own or m.startswith(ownpkg) or m.startswith(own) or m == "codecbench.metrics.registry":
                continue
            if own == "codecbench.metrics.abx" and m.startswith("codecbench.metrics.abx"):
                continue
            hits.append((m, node.lineno, v))
print(
    f"== metric names as string literals outside their own module: {len(hits)} in {len({h[0] for h in hits})} modules"
)
for h in hits:
    print("   ", *h)

# imports of particular metric modules from outside codecbench.metrics
generic = {
    "codecbench.metrics",
    "codecbench.metrics.base",
    "codecbench.metrics.registry",
    "codecbench.metrics.corpus",
}
imp = []
for m in mods:
    if m.startswith("codecbench.metrics"):
        continue
    for t in sorted(graph[m]):
        if t.startswith("codecbench.metrics") and t not in generic:
            imp.append((m, t))
print(f"== imports of particular metric modules from outside codecbench/metrics: {len(imp)}")
for a, b in imp:
    print("   ", a, "->", b)
