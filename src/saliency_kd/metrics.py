"""Metrics shared by teacher and student evaluation."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

_TOKEN = re.compile(r"\w+")


def bootstrap_ci(correct: list[bool] | list[float], n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """Mean and percentile bootstrap interval of a per-example score."""
    x = np.asarray(correct, dtype=float)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(x.mean()), float(lo), float(hi)


def tokens(text: str | list[str]) -> list[str]:
    if isinstance(text, list):
        text = " ".join(text)
    return [t.lower() for t in _TOKEN.findall(text)]


def token_f1(pred: str | list[str], gold: str | list[str]) -> float:
    """SQuAD-style bag-of-tokens F1 (lower-cased word tokens)."""
    p, g = tokens(pred), tokens(gold)
    if not p and not g:
        return 1.0
    if not p or not g:
        return 0.0
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


def explanation_f1(rationale: str | list[str], explanations: list[str]) -> float:
    """A rationale's plausibility: its token F1 against the closest of the human explanations
    (an example may have several; the rationale is not faulted for matching only one)."""
    return max(token_f1(rationale, e) for e in explanations)


def accuracy_summary(correct: list[bool], seed: int = 0) -> dict[str, float | int]:
    mean, lo, hi = bootstrap_ci(correct, seed=seed)
    return {"accuracy": mean, "ci95_low": lo, "ci95_high": hi, "n": len(correct)}
