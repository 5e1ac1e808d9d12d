"""The package's import graph: no cycle, and no module imports one on a higher layer.

Every import of the package counts, module-level or inside a function (a lazy import is still
a dependency: it only runs later). The layers run bottom to top in the order a run of the
pipeline needs them; a module may import its own layer and the layers below. A new module must
be declared in LAYERS below, on the lowest layer whose modules it needs.
"""

from __future__ import annotations

import ast
import fnmatch
import subprocess
import sys
from pathlib import Path

import saliency_kd

PACKAGE = Path(saliency_kd.__file__).parent
NAME = "saliency_kd"

# Bottom to top. Names are module paths inside the package ("student.items"); "x.*" is every
# module of the sub-package x, "" the package's own __init__ (its face). A declared name that
# does not exist yet is allowed.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("floor", ("errors", "words", "registry", "metrics", "evaluate_math", "distributed",
               "atomic", "artifact", "progress", "settings", "allocator", "stats")),
    ("models", ("models",)),
    ("data", ("data", "data.*")),
    ("training", ("training", "loop_config")),
    ("teacher", ("teacher", "teacher.*")),
    ("attribution", ("attribution", "attribution.*")),
    ("student", ("student", "student.*")),
    ("evaluate", ("evaluate", "predictor", "export", "export.*")),
    ("report", ("report", "report.*")),
    ("pipeline", ("pipeline", "pipeline.*")),
    ("face", ("cli", "__main__", "")),
]


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Module path inside the package ('' for the package itself) -> file."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def layer_of(module: str) -> int | None:
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(module, p) if "*" in p else module == p for p in patterns):
            return index
    return None


def _known(dotted: str, mods: dict[str, Path]) -> str:
    """The module a dotted path inside the package names: itself, or the longest existing
    prefix (an attribute of a module)."""
    parts = dotted.split(".") if dotted else []
    while parts and ".".join(parts) not in mods:
        parts.pop()
    return ".".join(parts)


def imports(module: str, path: Path, mods: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported module, line) for every import of the package in the file, at any depth."""
    is_pkg = path.name == "__init__.py"
    here = module.split(".") if module else []
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == NAME or alias.name.startswith(NAME + "."):
                    out.append((_known(alias.name[len(NAME) + 1:], mods), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + (node.module.split(".") if node.module else []))
            elif node.module == NAME or (node.module or "").startswith(NAME + "."):
                target = node.module[len(NAME) + 1:]
            else:
                continue
            for alias in node.names:
                # `from . import attention` imports the module attention, not the package.
                sub = f"{target}.{alias.name}" if target else alias.name
                out.append((_known(sub if sub in mods else target, mods), node.lineno))
    return [(m, line) for m, line in out if m != module]


def graph(root: Path = PACKAGE) -> dict[str, list[tuple[str, int]]]:
    mods = modules(root)
    return {m: imports(m, p, mods) for m, p in mods.items()}


def _show(module: str) -> str:
    return f"{NAME}.{module}" if module else NAME


def test_every_module_is_on_a_layer():
    unknown = [m for m in modules() if layer_of(m) is None]
    assert not unknown, (
        f"{', '.join(map(_show, unknown))}: on no layer; declare each in LAYERS in "
        f"tests/test_layout.py, on the lowest layer whose modules it imports")


def test_no_module_imports_a_higher_layer():
    mods = modules()
    upward = []
    for module, deps in graph().items():
        mine = layer_of(module)
        for dep, line in deps:
            theirs = layer_of(dep)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{mods[module].relative_to(PACKAGE.parent)}:{line}: "
                              f"{_show(module)} ({LAYERS[mine][0]}) imports {_show(dep)} "
                              f"({LAYERS[theirs][0]})")
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    edges = {m: {d for d, _ in deps} for m, deps in graph().items()}
    cycles = _cycles(edges)
    assert not cycles, "modules that import each other in a loop:\n" + "\n".join(
        " <-> ".join(map(_show, c)) for c in cycles)


def test_the_walk_sees_lazy_relative_and_absolute_imports(tmp_path):
    files = {
        "__init__.py": "",
        "a.py": "def f():\n    from .sub import b  # lazy\n",
        "sub/__init__.py": "from . import b\n",
        "sub/b.py": "from ..a import f\nfrom .. import c\n",
        "c.py": f"import {NAME}.a\nfrom {NAME}.sub.b import x\nimport os\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    g = {m: sorted({d for d, _ in deps}) for m, deps in graph(tmp_path).items()}
    assert g == {"": [], "a": ["sub.b"], "sub": ["sub.b"], "sub.b": ["a", "c"],
                 "c": ["a", "sub.b"]}
    assert _cycles({m: set(d) for m, d in g.items()}) == [["a", "c", "sub.b"]]


def test_importing_the_package_loads_none_of_it():
    # Every module of the package runs saliency_kd/__init__.py first: its names load lazily,
    # so it can sit on the top layer without closing a loop, and stays fast to import.
    code = ("import sys, saliency_kd; print(sorted(m for m in sys.modules "
            "if m.startswith('saliency_kd.') or m == 'torch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_the_verbs_are_functions_of_the_package():
    import saliency_kd.attribution.attribute  # noqa: F401  (the modules, imported first)
    import saliency_kd.evaluate  # noqa: F401
    from saliency_kd.evaluate import evaluate as evaluate_fn

    for name in ("attribute", "train", "evaluate", "predict", "run"):
        assert callable(getattr(saliency_kd, name)) and name in saliency_kd.__all__
    assert saliency_kd.evaluate is evaluate_fn
