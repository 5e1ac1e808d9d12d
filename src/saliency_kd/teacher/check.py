"""The teacher check: is the teacher clearly ahead of chance (and of the student's standard row)
before anything is distilled from it?

A teacher at chance explains nothing worth learning; distilling from it only adds noise. The
check reads answers the caller already has (the attribute stage's records: no extra teacher
pass), counts how often the teacher is right, and compares the lower end of a Wilson score
interval with chance: 1 / number of candidate answers, averaged over the examples (each example
may have its own number of choices). "Clearly ahead" means that lower end lies above chance (and
above the baseline accuracy when one is given).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..data import Example, Task

Z95 = 1.959963984540054
"""Two-sided 95% normal quantile: the Wilson interval's width."""


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n; (0, 1) when there is nothing to count.
    Unlike the normal approximation it stays inside [0, 1] and is honest at small n, where a
    teacher check on a few dozen dev examples lives."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def chance_level(task: Task, examples: Sequence[Example]) -> float:
    """Accuracy of a uniform guess among each example's candidates, averaged over the examples;
    0 for free-form tasks, where a guess is (almost) never right."""
    if task.kind != "choice" or not examples:
        return 0.0
    shares = []
    for ex in examples:
        cands = task.candidates(ex) or []
        shares.append(1 / len(cands) if cands else 0.0)
    return sum(shares) / len(shares)


def teacher_check(task: Task, examples: Sequence[Example], answers: Sequence[dict[str, Any]],
                  baseline: float | None = None, baseline_name: str = "the standard student",
                  ) -> dict[str, Any]:
    """How the teacher's answers (dicts with `prediction`, in the order of `examples`) score on
    the examples' gold labels, next to chance and an optional `baseline` accuracy (the student's
    standard row). Returns a JSON-ready dict; `message` is the line to print, `warning` the
    plain warning (None when the teacher is clearly ahead)."""
    if len(answers) != len(examples):
        raise ValueError(f"{len(answers)} answers for {len(examples)} examples")
    n = len(examples)
    right = sum(bool(task.is_correct(a["prediction"] or "", ex.label))
                for ex, a in zip(examples, answers))
    low, high = wilson_interval(right, n)
    chance = chance_level(task, examples)
    out: dict[str, Any] = {
        "n": n, "correct": right, "accuracy": right / n if n else None,
        "ci95": [low, high], "interval": "wilson", "chance": chance,
        "ahead_of_chance": n > 0 and low > chance,
    }
    behind = [] if out["ahead_of_chance"] else [f"chance ({chance:.1%})"]
    if baseline is not None:
        out["baseline"], out["baseline_name"] = baseline, baseline_name
        out["ahead_of_baseline"] = n > 0 and low > baseline
        if not out["ahead_of_baseline"]:
            behind.append(f"{baseline_name} ({baseline:.1%})")
    out["message"] = _message(out)
    # Nothing counted (pure distillation: no labelled example among those explained) is no
    # evidence of a teacher at chance: the message says so, the test regime says the rest.
    out["warning"] = None if not behind or not n else (
        f"the teacher is not clearly ahead of {' or of '.join(behind)}: the lower end of its "
        f"95% interval is {low:.1%}; distilling from it may teach the student nothing")
    return out


def _message(check: dict[str, Any]) -> str:
    if not check["n"]:
        return "teacher check: no labelled example to score the teacher on"
    low, high = check["ci95"]
    line = (f"teacher check: {check['accuracy']:.1%} right on {check['n']} labelled examples "
            f"(95% interval {low:.1%}-{high:.1%}), chance {check['chance']:.1%}")
    if "baseline" in check:
        line += f", {check['baseline_name']} {check['baseline']:.1%}"
    return line
