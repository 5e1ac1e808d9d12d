"""Inference on paired outcomes: cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saliency_kd.stats import holm, mcnemar, mde, paired_bootstrap, t_interval


def test_a_row_right_everywhere_against_one_wrong_everywhere():
    d = paired_bootstrap(np.ones((5, 200)), np.zeros((5, 200)), n_boot=500)
    assert (d.mean, d.low, d.high, d.se) == (1.0, 1.0, 1.0, 0.0)
    assert d.p == pytest.approx(2 / 501)  # the observed replicate counted: never exactly 0


def test_identical_rows_differ_by_nothing():
    a = np.random.default_rng(0).integers(0, 2, (3, 300))
    d = paired_bootstrap(a, a, n_boot=500)
    assert (d.mean, d.low, d.high, d.p) == (0.0, 0.0, 0.0, 1.0)


def test_one_seed_matches_the_binomial_standard_error():
    # One seed: a resamples examples only; the difference a - b is 1 on 30% of the examples,
    # 0 elsewhere, so its standard error is sqrt(0.3 * 0.7 / n).
    n = 2000
    a = np.zeros((1, n))
    a[0, : int(0.3 * n)] = 1
    d = paired_bootstrap(a, np.zeros((1, n)), n_boot=4000)
    assert d.mean == pytest.approx(0.3)
    assert d.se == pytest.approx(math.sqrt(0.3 * 0.7 / n), rel=0.08)
    assert d.low == pytest.approx(0.3 - 1.96 * d.se, abs=0.006)
    assert d.mde == pytest.approx(2.8016 * d.se, rel=1e-3)


def test_seeds_add_their_own_variance():
    # Two seeds that disagree wholly (one all right, one all wrong against b): resampling
    # examples alone would give a zero-width interval; resampling seeds does not.
    a = np.array([np.ones(400), np.zeros(400)])
    d = paired_bootstrap(a, np.zeros((2, 400)), n_boot=2000)
    assert d.mean == 0.5 and d.low == 0.0 and d.high == 1.0


def test_pairing_uses_the_same_examples_for_both_rows():
    # b equals a except on 10 of 1000 examples, where a is right and b wrong: paired, the
    # interval is narrow around +1 point even though both accuracies vary widely by example.
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, (5, 1000))
    b = a.copy()
    b[:, :10] = 0
    a[:, :10] = 1
    d = paired_bootstrap(a, b, n_boot=2000)
    assert d.mean == pytest.approx(0.01) and 0.003 < d.low < d.high < 0.018


def test_a_teacher_scored_once_pairs_with_every_seed():
    teacher = np.ones((1, 100))
    d = paired_bootstrap(teacher, np.zeros((4, 100)), n_boot=200)
    assert d.mean == 1.0 and d.seeds == 4


def test_unpaired_shapes_are_refused():
    with pytest.raises(ValueError, match="not paired"):
        paired_bootstrap(np.ones((2, 10)), np.ones((3, 10)))


def test_mcnemar_exact():
    a = [1] * 10 + [1, 0] * 5
    b = [0] * 10 + [1, 0] * 5
    assert mcnemar(a, b) == {"a_only": 10, "b_only": 0, "p": pytest.approx(2 / 2 ** 10)}
    assert mcnemar(a, a)["p"] == 1.0
    # 3 against 15 discordant pairs: two-sided exact binomial, by hand
    tail = sum(math.comb(18, k) for k in range(4)) / 2 ** 18
    r = mcnemar([1] * 3 + [0] * 15, [0] * 3 + [1] * 15)
    assert r["p"] == pytest.approx(2 * tail)


def test_t_interval_uses_the_exact_quantile():
    r = t_interval([1.0, 2.0, 3.0])
    assert r["mean"] == 2.0
    assert r["high"] - 2.0 == pytest.approx(4.302652729911275 / math.sqrt(3))
    assert t_interval([0.5]) == {"mean": 0.5, "low": None, "high": None}


def test_holm_textbook():
    # m = 4: sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04,
    # made monotone: 0.02, 0.03, 0.06, 0.06; reported in the input order.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_mde_at_80_percent_power():
    assert mde(1.0) == pytest.approx(1.959964 + 0.841621, rel=1e-6)
