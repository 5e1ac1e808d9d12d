"""Words come from numbers: no verdict word without the interval that supports it."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from saliency_kd.report.verdicts import (
    NOT_TESTABLE,
    analyse,
    describe,
    pool_curve_lines,
    regime_lines,
    regime_warnings,
    verdict,
    verdict_short,
)

WORDS = re.compile(r"\b(beat|yes|helps?|limit)\b")

interval = st.tuples(st.floats(-1, 1), st.floats(-1, 1)).map(sorted)


def diff(low, high, mde=0.02, p=0.5):
    return {"mean": (low + high) / 2, "low": low, "high": high, "p": p, "mde": mde}


@given(interval)
def test_describe_says_beat_only_above_zero(bounds):
    low, high = bounds
    text = describe("attention@saliency", "standard", diff(low, high))
    assert bool(WORDS.search(text)) == (low > 0)
    assert "fell below" in text if high < 0 else "fell below" not in text
    assert f"{100 * low:+.1f}..{100 * high:+.1f}" in text  # the interval it rests on


@given(interval, st.floats(-0.5, 0.9), interval)
def test_a_verdict_word_needs_its_interval_and_a_leading_teacher(bounds, lead, lead_ci):
    low, high = bounds
    primary = {"label": "attention@saliency at n=100", "baseline": "standard",
               "diff": diff(low, high)}
    regime = {"teacher": 0.8, "standard": 0.4, "lead": {"mean": lead, "low": lead_ci[0],
                                                        "high": lead_ci[1]}}
    v = verdict(primary, regime, 0.05)
    leads = lead >= 0.05 and lead_ci[0] > 0
    if not leads:
        assert v["answer"] == NOT_TESTABLE and v["text"].startswith(NOT_TESTABLE)
        assert not WORDS.search(v["text"])
    elif low > 0:
        assert v["answer"] == "yes" and "beat" in v["text"]
    else:
        assert not WORDS.search(v["text"])


def test_no_primary_no_verdict():
    v = verdict(None, None, 0.05)
    assert "exploratory" in v["text"] and not WORDS.search(v["text"])


def _outcomes(std, row, teacher, primary=True):
    runs = [{"row": name, "student": "s", "n_train": 10, "seed": s,
             "correct": "".join(map(str, bits))}
            for name, per_seed in (("standard", std), ("attention@saliency", row))
            for s, bits in enumerate(per_seed)]
    return {"task": "toy", "name": "toy", "test": {"n": len(teacher)}, "runs": runs,
            "teacher": {"correct": "".join(map(str, teacher))},
            "primary": {"row": "attention@saliency", "baseline": "standard", "size": 10,
                        "min_lead": 0.05} if primary else None}


def test_analyse_gives_the_primary_verdict_and_holm_adjusted_exploratory_rows():
    n = 400
    std = [[1] * 100 + [0] * 300 for _ in range(5)]
    row = [[1] * 200 + [0] * 200 for _ in range(5)]
    a = analyse(_outcomes(std, row, [1] * 320 + [0] * 80))
    assert a["verdict"]["answer"] == "yes"
    assert a["primary"]["diff"]["mean"] == 0.25
    assert a["regimes"][0]["lead"]["mean"] == 0.8 - 0.25
    assert all(m["a_only"] == 100 and m["b_only"] == 0 for m in a["primary"]["mcnemar"])
    assert a["primary"]["p_holm"] >= a["primary"]["diff"]["p"]
    assert len(a["comparisons"]) == 1 and a["test_n"] == n


def test_a_teacher_that_does_not_lead_makes_it_untestable():
    std = [[1] * 200 + [0] * 200 for _ in range(5)]
    row = [[1] * 300 + [0] * 100 for _ in range(5)]
    a = analyse(_outcomes(std, row, [1] * 210 + [0] * 190))
    assert a["verdict"]["answer"] == NOT_TESTABLE


def _pooled(rows: dict, teacher, baseline="teacher-labels"):
    runs = [{"row": name, "student": "s", "n_train": 10, "seed": s,
             "correct": "".join(map(str, bits))}
            for name, per_seed in rows.items() for s, bits in enumerate(per_seed)]
    return {"task": "toy", "name": "toy", "test": {"n": len(teacher)}, "runs": runs,
            "teacher": {"correct": "".join(map(str, teacher))},
            "primary": {"row": "teacher-labels+attention@saliency", "baseline": baseline,
                        "size": 10, "min_lead": 0.03}}


def test_a_primary_over_teacher_labels_asks_the_teacher_to_lead_those_labels():
    """The primary's baseline need not be standard: the comparison is made, and the lead its
    verdict needs is the teacher's over that baseline (min_lead), shown beside the regime."""
    teacher = [1] * 320 + [0] * 80  # 80%
    std = [[1] * 160 + [0] * 240 for _ in range(5)]  # 40%
    rows = {"standard": std,
            "teacher-labels": [[1] * 312 + [0] * 88 for _ in range(5)],  # 78%: 2 pts short
            "teacher-labels+attention@saliency": [[1] * 316 + [0] * 84 for _ in range(5)]}
    a = analyse(_pooled(rows, teacher))
    assert a["primary"]["baseline"] == "teacher-labels"
    assert a["verdict"]["answer"] == NOT_TESTABLE and "vs teacher-labels" in a["verdict"]["text"]
    lines = regime_lines(a, at_primary=True)
    assert len(lines) == 2 and "vs standard" in lines[0] and "vs teacher-labels" in lines[1]
    rows["teacher-labels"] = [[1] * 280 + [0] * 120 for _ in range(5)]  # 70%: 10 pts short
    a = analyse(_pooled(rows, teacher))
    assert a["verdict"]["answer"] == "yes"  # +9 pts on every seed's examples
    pairs = {(c["row"], c["baseline"]) for c in a["comparisons"]}
    assert ("teacher-labels+attention@saliency", "teacher-labels") in pairs
    assert ("teacher-labels", "standard") in pairs


def test_the_terse_forms_keep_every_number_and_drop_only_what_the_page_says_above():
    """RESULTS' first screen: the regime without its pairing words (the legend says them),
    and a not-testable verdict without the lead its regime line has just given."""
    teacher = [1] * 320 + [0] * 80
    rows = {"standard": [[1] * 160 + [0] * 240 for _ in range(5)],
            "teacher-labels": [[1] * 312 + [0] * 88 for _ in range(5)],
            "teacher-labels+attention@saliency": [[1] * 316 + [0] * 84 for _ in range(5)]}
    a = analyse(_pooled(rows, teacher))
    number = re.compile(r"[+-]?\d+\.\d")
    for full, terse in zip(regime_lines(a, True), regime_lines(a, True, terse=True)):
        assert number.findall(full) == number.findall(terse) and len(terse) < len(full)
        assert "same test examples" not in terse
    short, vs = regime_lines(a, True, terse=True)
    assert short.endswith("enough (3 needed)") and vs.endswith("too little (3 needed)")
    assert verdict_short(a).startswith(f"{NOT_TESTABLE} (teacher ahead of teacher-labels by 2.0")
    assert verdict_short(a, say_lead=False) == verdict_short(a).replace(
        " (teacher ahead of teacher-labels by 2.0 pts, 3 needed)", "")


def test_the_pool_curve_puts_each_pool_row_beside_the_teacher():
    teacher = [1] * 320 + [0] * 80
    rows = {"standard": [[1] * 160 + [0] * 240] * 3,
            "teacher-labels[1000]": [[1] * 240 + [0] * 160] * 3,
            "teacher-labels": [[1] * 300 + [0] * 100] * 3}
    outcomes = _pooled(rows, teacher)
    for r in outcomes["runs"]:
        r["pool_n"] = {"standard": 0, "teacher-labels[1000]": 1000}.get(r["row"], 3800)
    a = analyse(outcomes)
    curve = [(g["pool"], g["baseline"], round(g["lead"]["mean"], 3)) for g in a["pool_curve"]]
    assert curve == [(0, "standard", 0.4), (1000, "teacher-labels[1000]", 0.2),
                     (3800, "teacher-labels", 0.05)]
    (line,) = pool_curve_lines(a)
    assert line.startswith("accuracy against pool size at n=10: 0 (standard) 40.0%")
    assert "3800 (teacher-labels) 75.0%, teacher ahead by +5.0 pts" in line
    assert not WORDS.search(line)


def test_a_teacher_behind_the_standard_student_is_warned_about():
    std = [[1] * 200 + [0] * 200 for _ in range(5)]
    row = [[1] * 300 + [0] * 100 for _ in range(5)]
    (warning,) = regime_warnings(analyse(_outcomes(std, row, [1] * 210 + [0] * 190)))
    assert warning.startswith("warning: at n=10 the teacher does not lead the standard student")
    assert regime_warnings(analyse(_outcomes(std, row, [1] * 320 + [0] * 80))) == []


def test_a_second_test_split_does_not_give_a_second_verdict():
    std = [[1] * 100 + [0] * 300 for _ in range(5)]
    row = [[1] * 200 + [0] * 200 for _ in range(5)]
    outcomes = _outcomes(std, row, [1] * 320 + [0] * 80)
    outcomes.update(split="heldout", data={"test_split": "test"})
    a = analyse(outcomes)
    assert a["verdict"]["answer"] == "second test set" and "yes" not in a["verdict"]["text"]
    assert a["verdict"]["text"].startswith("the registered comparison on the heldout split")
    assert a["name"] == "toy, heldout split"


def test_a_primary_at_zero_labels_needs_no_standard_row():
    """Pure distillation (n=0): only the pool's rows exist; the verdict compares them and the
    regime is the teacher's lead over the baseline it names."""
    teacher = [1] * 320 + [0] * 80  # 80%
    rows = {"teacher-labels": [[1] * 280 + [0] * 120 for _ in range(5)],  # 70%
            "teacher-labels+attention@saliency": [[1] * 316 + [0] * 84 for _ in range(5)]}
    outcomes = _pooled(rows, teacher)
    for r in outcomes["runs"]:
        r["n_train"] = 0
    outcomes["primary"]["size"] = 0
    a = analyse(outcomes)
    assert a["verdict"]["answer"] == "yes"
    assert "at n=0 beat teacher-labels" in a["verdict"]["text"]
    assert any("teacher-labels" in line for line in regime_lines(a, at_primary=True))
