"""Learning curves: the table's paired differences checked by hand, the row names, the plot and
the exact t quantiles."""

from __future__ import annotations

import pytest

from saliency_kd.report.curves import (
    curve_key,
    curve_table,
    plot_curves,
    seeds_summary,
)

T1 = 12.706204736174698  # the two-sided 95% t quantile with one degree of freedom


def rec(mode, seed, acc, channel=None, source=None, n=100, task="cqa", student="minilm"):
    return {"task": task, "n_train": n, "student": student, "mode": mode, "channel": channel,
            "source": source, "seed": seed, "accuracy": acc, "n_test": 200}


def test_curve_keys_name_mode_channel_and_source():
    assert curve_key(rec("standard", 0, 0.4)) == "standard"
    assert curve_key(rec("kd", 0, 0.4)) == "kd"
    assert curve_key(rec("rationale", 0, 0.4, "attention", "saliency")) == "attention@saliency"
    assert curve_key(rec("rationale", 0, 0.4, "tag", "random")) == "tag@random"
    assert curve_key(rec("rationale+kd", 0, 0.4, "attention", "saliency")) == \
        "attention@saliency+kd"
    with pytest.raises(ValueError):
        curve_key(rec("rationale", 0, 0.4))  # a rationale row without channel and source
    assert curve_key(rec("dss", 0, 0.4, "tag")) == "dss:tag"
    assert curve_key(rec("dss+kd", 0, 0.4, "generate")) == "dss:generate+kd"
    with pytest.raises(ValueError):
        curve_key(rec("dss", 0, 0.4))  # a dss row without its channel
    with pytest.raises(ValueError):
        curve_key(rec("magic", 0, 0.4))


TWO_SEEDS = [
    rec("standard", 0, 0.40), rec("standard", 1, 0.44),
    rec("rationale", 0, 0.45, "attention", "saliency"),
    rec("rationale", 1, 0.50, "attention", "saliency"),
    rec("rationale", 0, 0.42, "attention", "random"),
    rec("rationale", 1, 0.45, "attention", "random"),
    rec("kd", 0, 0.43), rec("kd", 1, 0.47),
]


def test_the_table_by_hand_with_two_seeds():
    rows = {r["key"]: r for r in curve_table(TWO_SEEDS)}
    assert list(rows) == ["standard", "kd", "attention@saliency", "attention@random"]
    std = rows["standard"]
    # mean 0.42, sd 0.02 * sqrt(2), t(1) = 12.7062: half-width 12.7062 * 0.02
    assert std["mean"] == pytest.approx(0.42)
    assert (std["ci95_low"], std["ci95_high"]) == pytest.approx((0.42 - T1 * 0.02,
                                                                 0.42 + T1 * 0.02))
    assert std["seeds"] == [0.40, 0.44] and std["seed_ids"] == [0, 1]
    assert std["minus_standard"] is None and std["minus_random"] is None
    sal = rows["attention@saliency"]
    # seed by seed: 0.45 - 0.40 = 0.05 and 0.50 - 0.44 = 0.06; mean 0.055, sd 0.005 * sqrt(2),
    # half-width 12.7062 * 0.005
    d = sal["minus_standard"]
    assert d["seeds"] == pytest.approx([0.05, 0.06]) and d["seed_ids"] == [0, 1]
    assert d["mean"] == pytest.approx(0.055)
    assert (d["ci95_low"], d["ci95_high"]) == pytest.approx((0.055 - T1 * 0.005,
                                                             0.055 + T1 * 0.005))
    # against the same channel on random words: 0.03 and 0.05; mean 0.04, sd 0.01 * sqrt(2),
    # half-width 12.7062 * 0.01
    r = sal["minus_random"]
    assert r["seeds"] == pytest.approx([0.03, 0.05]) and r["mean"] == pytest.approx(0.04)
    assert (r["ci95_low"], r["ci95_high"]) == pytest.approx((0.04 - T1 * 0.01, 0.04 + T1 * 0.01))
    assert rows["attention@random"]["minus_random"] is None  # the control has no control
    assert rows["attention@random"]["minus_standard"]["mean"] == pytest.approx(0.015)
    assert rows["kd"]["minus_standard"]["mean"] == pytest.approx(0.03)
    assert rows["kd"]["minus_random"] is None


def test_pairs_use_only_the_seeds_both_rows_have():
    rows = {r["key"]: r for r in curve_table(TWO_SEEDS + [
        rec("rationale", 2, 0.30, "attention", "saliency")])}
    d = rows["attention@saliency"]["minus_standard"]
    assert rows["attention@saliency"]["seed_ids"] == [0, 1, 2]
    assert d["seed_ids"] == [0, 1] and d["mean"] == pytest.approx(0.055)


def test_one_seed_has_no_interval_and_sizes_are_kept_apart():
    rows = curve_table([rec("standard", 0, 0.4, n=100), rec("standard", 0, 0.5, n=1000),
                        rec("kd", 0, 0.45, n=1000)])
    assert [(r["key"], r["n_train"]) for r in rows] == [
        ("standard", 100), ("standard", 1000), ("kd", 1000)]
    assert rows[0]["ci95_low"] is None and rows[0]["ci95_high"] is None
    kd = rows[2]["minus_standard"]
    assert kd["mean"] == pytest.approx(-0.05) and kd["ci95_low"] is None


def test_seeds_summary_uses_the_exact_t_quantile():
    s = seeds_summary([0.1, 0.2, 0.3])  # sd 0.1, t(2) = 4.302653 (a rounded table said 4.30)
    assert s["ci95_high"] - s["mean"] == pytest.approx(4.302652729911275 * 0.1 / 3 ** 0.5)
    s = seeds_summary([0.1, 0.2] * 6)  # 11 degrees of freedom: t(11) = 2.200985
    sd = (0.0025 * 12 / 11) ** 0.5
    assert s["ci95_high"] - s["mean"] == pytest.approx(2.200985160082949 * sd / 12 ** 0.5)


def test_plot_writes_a_png(tmp_path):
    many = TWO_SEEDS + [rec(m, s, a + 0.1, c, src, n=1000) for m, s, a, c, src in [
        ("standard", 0, 0.40, None, None), ("standard", 1, 0.44, None, None),
        ("rationale", 0, 0.45, "attention", "gold-evidence"),
        ("rationale", 1, 0.46, "attention", "gold-evidence")]]
    path = plot_curves(many, tmp_path / "cqa_curves.png", task="cqa")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    one = plot_curves([rec("standard", 0, 0.4)], tmp_path / "one.png", title="one seed, one size")
    assert one.stat().st_size > 5000
    with pytest.raises(ValueError):
        plot_curves(TWO_SEEDS, tmp_path / "none.png", task="svamp")


def test_a_curve_from_zero_labels_plots_without_a_warning(tmp_path):
    """Pure distillation's n=0 has no place on a log axis: it is drawn on a linear stretch."""
    import warnings

    points = [rec("standard", s, a, None, None, n=n) for s, a, n in
              [(0, 0.5, 0), (1, 0.52, 0), (0, 0.6, 100), (1, 0.62, 100)]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zero = plot_curves(points, tmp_path / "zero.png", task="cqa")
        alone = plot_curves(points[:2], tmp_path / "alone.png", task="cqa")
    assert zero.stat().st_size > 5000 and alone.stat().st_size > 5000


def test_controls_follow_the_methods_within_a_channel():
    sources = ["random", "gold-evidence-no-answer", "gold-evidence", "gold-answer",
               "teacher-no-answer", "saliency"]
    rows = curve_table([rec("standard", 0, 0.4)] +
                       [rec("rationale", 0, 0.5, "attention", s) for s in sources])
    assert [r["key"] for r in rows] == [
        "standard", "attention@saliency", "attention@teacher-no-answer", "attention@gold-answer",
        "attention@gold-evidence", "attention@gold-evidence-no-answer", "attention@random"]


def test_rows_that_learn_the_pool_are_prefixed_and_kept_apart():
    pool = {"pool": True}
    assert curve_key({**rec("standard", 0, 0.4), **pool}) == "teacher-labels"
    assert curve_key({**rec("kd", 0, 0.4), **pool}) == "teacher-labels+kd"
    assert curve_key({**rec("rationale", 0, 0.4, "attention", "saliency"), **pool}) == \
        "teacher-labels+attention@saliency"
    assert curve_key({**rec("dss", 0, 0.4, "generate"), **pool}) == "teacher-labels+dss:generate"
    table = curve_table([rec("standard", 0, 0.4), {**rec("standard", 0, 0.6), **pool},
                         {**rec("rationale", 0, 0.7, "attention", "saliency"), **pool},
                         {**rec("rationale", 0, 0.5, "attention", "random"), **pool}])
    by_key = {r["key"]: r for r in table}
    assert by_key["standard"]["mean"] == 0.4 and by_key["teacher-labels"]["mean"] == 0.6
    assert by_key["teacher-labels"]["minus_standard"]["mean"] == pytest.approx(0.2)
    # a pool row's random control is the pool row on random words
    assert by_key["teacher-labels+attention@saliency"]["minus_random"]["mean"] == \
        pytest.approx(0.2)
