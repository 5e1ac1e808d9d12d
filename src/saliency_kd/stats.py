"""Inference for comparisons of per-example outcomes: how sure a difference between two rows of
a study is, counting both sources of chance, the seeds (initialisation, order, and which
examples were labelled) and the test examples.

Outcomes are 0/1 arrays shaped (seeds, test examples), paired: seed s of both rows drew the
same training examples, and column i is the same test example. The main estimate is a
hierarchical bootstrap of the mean difference (seeds resampled, then test examples, the same
draws for both rows); McNemar's exact test per seed and the t-interval over seed means stand
beside it. scipy provides the exact binomial and t quantiles.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

LEVEL = 0.95
POWER = 0.80
N_BOOT = 10_000


@dataclass(frozen=True)
class Difference:
    """`a - b` in accuracy (fractions), with its 95% interval and two-sided p."""

    mean: float
    low: float
    high: float
    p: float
    se: float
    """Standard error of the difference (the bootstrap's standard deviation)."""
    mde: float
    """Minimum detectable effect at 80% power, two-sided 5% test, for this design: the
    smallest true difference this many seeds and test examples would find 4 times in 5, given
    the variance observed."""
    seeds: int
    examples: int

    def as_dict(self) -> dict:
        return asdict(self)


def _outcomes(x) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"outcomes must be (seeds, examples), got shape {arr.shape}")
    return arr


def mde(se: float, level: float = LEVEL, power: float = POWER) -> float:
    """Minimum detectable effect of a two-sided test at `level` with `power`: (z_(1-a/2) +
    z_power) standard errors (2.80 at 95% and 80%)."""
    from scipy.stats import norm

    return float((norm.ppf(1 - (1 - level) / 2) + norm.ppf(power)) * se)


def paired_bootstrap(a, b, n_boot: int = N_BOOT, seed: int = 0,
                     level: float = LEVEL) -> Difference:
    """Hierarchical paired bootstrap of mean(a) - mean(b): each replicate draws seeds with
    replacement and test examples with replacement, the same draws for both rows (a crossed
    design: every seed is scored on every test example). One side may have one row (a
    teacher, scored once) against several seeds of the other: it is then paired by example.

    The interval is the percentile interval (numpy's exact quantiles of the replicates); p is
    two-sided: the share of replicates on the other side of zero, doubled."""
    a, b = _outcomes(a), _outcomes(b)
    if b.shape[0] == 1 and a.shape[0] > 1:
        b = np.repeat(b, a.shape[0], axis=0)
    elif a.shape[0] == 1 and b.shape[0] > 1:
        a = np.repeat(a, b.shape[0], axis=0)
    if a.shape != b.shape:
        raise ValueError(f"outcomes are not paired: shapes {a.shape} and {b.shape}")
    d = a - b
    seeds, n = d.shape
    rng = np.random.default_rng(seed)
    # Seeds drawn as counts (the replicate's per-example difference is their weighted mean),
    # then test examples drawn as indices into it; 1000 replicates at a time bound the memory.
    w = rng.multinomial(seeds, [1 / seeds] * seeds, size=n_boot) / seeds
    reps = np.empty(n_boot)
    for start in range(0, n_boot, 1000):
        per_example = w[start:start + 1000] @ d
        idx = rng.integers(0, n, size=per_example.shape)
        reps[start:start + len(idx)] = np.take_along_axis(per_example, idx, axis=1).mean(1)
    lo, hi = np.quantile(reps, [(1 - level) / 2, 1 - (1 - level) / 2])
    # Two-sided, with the observed replicate counted (so p is never exactly 0).
    tail = min((reps <= 0).sum(), (reps >= 0).sum())
    p = float(min(1.0, 2 * (tail + 1) / (n_boot + 1)))
    se = float(reps.std(ddof=1))
    return Difference(float(d.mean()), float(lo), float(hi), p, se, mde(se), seeds, n)


def mcnemar(a, b) -> dict:
    """McNemar's exact test of two paired 0/1 outcome vectors (one seed): the discordant
    pairs `a_only` (a right, b wrong) and `b_only`, and the two-sided exact binomial p."""
    from scipy.stats import binomtest

    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    n = a_only + b_only
    p = 1.0 if n == 0 else float(binomtest(a_only, n, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "p": p}


def t_interval(values, level: float = LEVEL) -> dict:
    """Mean and t-interval (exact t quantile) of per-seed values; one value has no interval."""
    from scipy.stats import t

    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if x.size < 2:
        return {"mean": mean, "low": None, "high": None}
    half = float(t.ppf(1 - (1 - level) / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return {"mean": mean, "low": mean - half, "high": mean + half}


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment, in the input order: the k-th smallest p times (m - k + 1),
    made monotone and capped at 1. A comparison is significant at 5% over the family when
    its adjusted p is below 0.05."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * pvalues[i]))
        adjusted[i] = running
    return adjusted
