"""Learning curves: the table's paired differences checked by hand, the row names, the plot and
the verdict's wording."""

from __future__ import annotations

import pytest

from saliency_kd.report.curves import (
    curve_key,
    curve_table,
    limits,
    plot_curves,
    seeds_summary,
    verdict,
)


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
    # mean 0.42, sd 0.02 * sqrt(2), t(1) = 12.71: half-width 12.71 * 0.02 = 0.2542
    assert std["mean"] == pytest.approx(0.42)
    assert (std["ci95_low"], std["ci95_high"]) == pytest.approx((0.1658, 0.6742))
    assert std["seeds"] == [0.40, 0.44] and std["seed_ids"] == [0, 1]
    assert std["minus_standard"] is None and std["minus_random"] is None
    sal = rows["attention@saliency"]
    # seed by seed: 0.45 - 0.40 = 0.05 and 0.50 - 0.44 = 0.06; mean 0.055, sd 0.005 * sqrt(2),
    # half-width 12.71 * 0.005 = 0.06355
    d = sal["minus_standard"]
    assert d["seeds"] == pytest.approx([0.05, 0.06]) and d["seed_ids"] == [0, 1]
    assert d["mean"] == pytest.approx(0.055)
    assert (d["ci95_low"], d["ci95_high"]) == pytest.approx((-0.00855, 0.11855))
    # against the same channel on random words: 0.03 and 0.05; mean 0.04, sd 0.01 * sqrt(2),
    # half-width 12.71 * 0.01 = 0.1271
    r = sal["minus_random"]
    assert r["seeds"] == pytest.approx([0.03, 0.05]) and r["mean"] == pytest.approx(0.04)
    assert (r["ci95_low"], r["ci95_high"]) == pytest.approx((-0.0871, 0.1671))
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


def test_seeds_summary_uses_the_t_table():
    s = seeds_summary([0.1, 0.2, 0.3])  # sd 0.1, t(2) = 4.30
    assert s["ci95_high"] - s["mean"] == pytest.approx(4.30 * 0.1 / 3 ** 0.5)
    s = seeds_summary([0.1, 0.2] * 6)  # 11 degrees of freedom: t(10)'s wider 2.23
    sd = (0.0025 * 12 / 11) ** 0.5
    assert s["ci95_high"] - s["mean"] == pytest.approx(2.23 * sd / 12 ** 0.5)


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


def _three_seeds(diffs_standard, diffs_random, n=500):
    out = []
    for seed, (ds, dr) in enumerate(zip(diffs_standard, diffs_random)):
        base = 0.40 + 0.01 * seed
        out += [rec("standard", seed, base, n=n),
                rec("rationale", seed, base + ds, "tag", "saliency", n=n),
                rec("rationale", seed, base + ds - dr, "tag", "random", n=n)]
    return out


def test_verdict_names_the_size_and_the_random_control_of_a_win():
    # tag@saliency minus standard: 0.05, 0.06, 0.07 (mean 6.0, sd 1.0, t(2) = 4.30: +-2.5);
    # minus tag@random: 0.01, 0.03, -0.01 (mean 1.0, sd 2.0: +-5.0)
    rows = curve_table(_three_seeds([0.05, 0.06, 0.07], [0.01, 0.03, -0.01]))
    assert verdict(rows, "cqa") == (
        "tag@saliency at n=500 beat standard (+6.0 pts, interval +3.5..+8.5), but did not beat "
        "tag@random (+1.0 pts, interval -4.0..+6.0)")
    rows = curve_table(_three_seeds([0.05, 0.06, 0.07], [0.04, 0.05, 0.06]))
    assert verdict(rows, "cqa").startswith(
        "tag@saliency at n=500 beat standard (+6.0 pts, interval +3.5..+8.5), and beat "
        "tag@random (+5.0 pts, interval +2.5..+7.5)")


def test_verdict_without_a_win_gives_the_best_and_its_interval():
    rows = curve_table(TWO_SEEDS)
    assert verdict(rows, "cqa") == (
        "no channel beat standard with an interval above zero at any size "
        "(best: attention@saliency at n=100, +5.5 pts, interval -0.9..+11.9)")
    # a row below standard with its interval below zero is said too
    rows = curve_table(_three_seeds([-0.05, -0.06, -0.07], [-0.02, -0.01, 0.0]))
    text = verdict(rows, "cqa")
    assert text.startswith("no channel beat standard with an interval above zero at any size "
                           "(best: tag@random at n=500, -5.0 pts")
    assert ". Below standard with an interval below zero: tag@saliency at n=500 (-6.0 pts, " \
        "interval -8.5..-3.5)" in text
    assert verdict(rows, "esnli") == "no rationale rows for esnli"
    one = curve_table([rec("standard", 0, 0.40), rec("rationale", 0, 0.45, "tag", "saliency")])
    assert verdict(one, "cqa") == (
        "no channel beat standard with an interval above zero at any size "
        "(best: tag@saliency at n=100, +5.0 pts, no interval (1 seed))")


def _gold_case(gold_minus, teacher_minus=(-0.01, -0.01, -0.01)):
    """standard 0.40/0.42/0.44; the teacher's words `teacher_minus` and gold evidence
    `gold_minus` against it, seed by seed."""
    std = [0.40, 0.42, 0.44]
    records = [rec("standard", s, a, n=500) for s, a in enumerate(std)]
    records += [rec("rationale", s, a + d, "attention", "saliency", n=500)
                for s, (a, d) in enumerate(zip(std, teacher_minus))]
    records += [rec("rationale", s, a + d, "attention", "gold-evidence", n=500)
                for s, (a, d) in enumerate(zip(std, gold_minus))]
    return curve_table(records)


def test_the_positive_control_says_whether_the_channel_or_the_teacher_is_the_limit():
    # gold evidence +5/+6/+7 pts over standard (+6.0, interval +3.5..+8.5) and 6/7/8 pts over
    # the teacher's words, which are 1 pt under standard: the teacher's rationales are the limit
    text = verdict(_gold_case([0.05, 0.06, 0.07]), "cqa")
    assert text.endswith(
        ". Gold evidence beat standard through the attention channel (attention@gold-evidence "
        "at n=500, +6.0 pts, interval +3.5..+8.5) where the teacher's words did not, and beat "
        "the teacher's words too: the teacher's rationales are the limit")
    # the teacher's words +10/-5/+10 (no win over standard) minus gold +5/-11/+3 pts: mean -1.0,
    # sd 8.72, t(2) = 4.30: +-21.6; not below gold, so the seeds cannot tell
    text = verdict(_gold_case([0.05, 0.06, 0.07], [0.10, -0.05, 0.10]), "cqa")
    assert text.endswith(
        "where the teacher's words did not, yet attention@saliency is not below it (-1.0 pts, "
        "interval -22.6..+20.6): more seeds would tell whether the teacher's rationales are the "
        "limit")
    assert [d["limit"] for d in limits(_gold_case([0.05, 0.06, 0.07]), "cqa")] == ["teacher"]
    assert [d["limit"] for d in limits(_gold_case([0.05, 0.06, 0.07], [0.10, -0.05, 0.10]),
                                       "cqa")] == [None]
    # gold evidence -1/+1/+3 pts (+1.0, interval -4.0..+6.0): the channel is the limit
    assert [d["limit"] for d in limits(_gold_case([-0.01, 0.01, 0.03]), "cqa")] == ["channel"]
    text = verdict(_gold_case([-0.01, 0.01, 0.03]), "cqa")
    assert text.endswith(
        ". Gold evidence did not beat standard through the attention channel either (best: "
        "attention@gold-evidence at n=500, +1.0 pts, interval -4.0..+6.0): the channel is the "
        "limit, not the teacher's rationales")
    # the teacher's words beat standard somewhere: nothing to diagnose; no gold row: nothing said
    wins = _three_seeds([0.05, 0.06, 0.07], [0.01, 0.03, -0.01])
    wins += [rec("rationale", s, 0.30, "tag", "gold-evidence", n=500) for s in range(3)]
    assert "limit" not in verdict(curve_table(wins), "cqa")
    assert "limit" not in verdict(curve_table(TWO_SEEDS), "cqa")
