"""A safe arithmetic evaluator for SVAMP equations: a tiny recursive-descent parser.

Never Python `eval`: model output is untrusted text.
"""

from __future__ import annotations

import math
import re

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|(.))")


class EquationError(ValueError):
    pass


def _tokens(text: str) -> list[str]:
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        number, op = m.groups()
        if number is not None:
            out.append(number)
        elif op is not None and op.strip():
            if op not in "+-*/()":
                raise EquationError(f"unexpected character {op!r}")
            out.append(op)
        pos = m.end()
    return out


def evaluate_equation(text: str, max_tokens: int = 200) -> float:
    """Value of an arithmetic expression with + - * / and parentheses; raises EquationError."""
    toks = _tokens(text)
    if not toks:
        raise EquationError("empty equation")
    if len(toks) > max_tokens:
        raise EquationError("equation too long")
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(toks):
            raise EquationError("unexpected end of equation")
        pos += 1
        return toks[pos - 1]

    def expr(depth: int) -> float:
        value = term(depth)
        while peek() in ("+", "-"):
            value = value + term(depth) if take() == "+" else value - term(depth)
        return value

    def term(depth: int) -> float:
        value = factor(depth)
        while peek() in ("*", "/"):
            op = take()
            rhs = factor(depth)
            if op == "*":
                value *= rhs
            else:
                if rhs == 0:
                    raise EquationError("division by zero")
                value /= rhs
        return value

    def factor(depth: int) -> float:
        if depth > 50:
            raise EquationError("nested too deeply")
        tok = take()
        if tok == "(":
            value = expr(depth + 1)
            if take() != ")":
                raise EquationError("missing ')'")
            return value
        if tok == "-":
            return -factor(depth + 1)
        if tok in "+*/)":
            raise EquationError(f"unexpected {tok!r}")
        return float(tok)

    value = expr(0)
    if pos != len(toks):
        raise EquationError(f"unexpected {toks[pos]!r}")
    if not math.isfinite(value):
        raise EquationError("not a finite number")
    return value


def equations_equal(prediction: str, gold: str, tol: float = 1e-4) -> bool:
    """True when both parse and their values agree; a malformed prediction is simply wrong."""
    try:
        return math.isclose(evaluate_equation(prediction), evaluate_equation(gold),
                            rel_tol=tol, abs_tol=tol)
    except EquationError:
        return False
