"""No function of the package is longer than a screenful: a long one is several units that
should each have a name (the house rule; a stage of `run` is a function, not a closure in one)."""

from __future__ import annotations

import ast
from pathlib import Path

import saliency_kd

PACKAGE = Path(saliency_kd.__file__).parent
MAX_LINES = 80


def long_functions(root: Path = PACKAGE, limit: int = MAX_LINES) -> list[str]:
    """'file:line name (n lines)' of every function or method, nested ones too, over `limit`
    lines from its `def` to its last line."""
    out = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    out.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_no_function_is_longer_than_80_lines():
    assert long_functions() == []


def test_the_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "m.py").write_text(f"def short():\n    pass\n\n\ndef long():\n{body}\n")
    assert long_functions(tmp_path) == [f"m.py:5 long ({MAX_LINES + 1} lines)"]
