"""The project's import graph, read from the source (ast; nothing is imported).

Modules are named as Python names them (`fdvla_drivers.control.safety`); an edge A -> B says A
imports B at any depth of its code (function-level imports count: they run too). `from pkg
import name` is an edge to `pkg.name` when that is a module, else to `pkg`.
"""

from __future__ import annotations

import ast
from pathlib import Path


def modules(src: Path) -> dict[str, Path]:
    """{module name: file} of every package `src/<name>/<name>/`."""
    out = {}
    for path in sorted(p for dist in src.iterdir() for p in (dist / dist.name).glob("**/*.py")):
        parts = path.relative_to(src).parts[1:]
        name = ".".join(parts)[: -len(".py")]
        out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return out


def _resolve(name: str, known: dict) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, path: Path, known: dict) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in known]
            targets.update(subs)
            if len(subs) < len(node.names):
                targets.add(module)
    return {m for m in (_resolve(t, known) for t in targets) if m and m != name}


#: Exception names whose handler makes a `try: import x` an optional import.
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(t is None or (isinstance(t, ast.Name) and t.id in _IMPORT_ERRORS) for t in types)


def top_level_imports(path: Path) -> dict[str, bool]:
    """{top-level name: guarded} of the absolute imports of a file, at any depth. Guarded: every
    import of that name sits in the body of a `try` whose handler catches ImportError (the code
    runs without it and says what to install)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(map(_catches_import_error, node.handlers)):
            guarded.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    out: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module]
        else:
            continue
        for top in {n.split(".")[0] for n in names}:
            out[top] = out.get(top, True) and id(node) in guarded
    return out


def graph(src: Path) -> dict[str, set[str]]:
    known = modules(src)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in g:
        if root in index:
            continue
        work = [(root, iter(sorted(g.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def collapse(g: dict[str, set[str]], depth: int) -> dict[str, set[str]]:
    """The graph between module prefixes of `depth` parts (2: subpackages), self-edges dropped."""
    key = lambda m: ".".join(m.split(".")[:depth])  # noqa: E731
    out: dict[str, set[str]] = {}
    for a, deps in g.items():
        out.setdefault(key(a), set()).update(key(b) for b in deps if key(b) != key(a))
    return out
