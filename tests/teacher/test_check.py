"""The teacher check: a teacher at chance is warned about, a good one is not."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import make_examples, make_teacher

from saliency_kd.attribution.attribute import AttributeConfig, attribute, teacher_check_path
from saliency_kd.data import DataSpec, Example, get_task
from saliency_kd.errors import ConfigError
from saliency_kd.teacher.check import chance_level, teacher_check, wilson_interval

CQA = get_task("cqa")


def _examples(n: int) -> list[Example]:
    return [Example(r["id"], {"question": r["question"]}, r["answer"], r["choices"])
            for r in make_examples(n, seed=5)]


def _answers(examples: list[Example], n_right: int) -> list[dict]:
    """The gold label for the first `n_right` examples, a wrong choice for the rest."""
    return [{"prediction": ex.label if i < n_right else
             next(c for c in ex.choices if c != ex.label)} for i, ex in enumerate(examples)]


def test_wilson_interval_matches_the_closed_form():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_chance_is_one_over_the_candidates_averaged_over_examples():
    exs = _examples(2)
    exs[1].choices = exs[1].choices[:2]
    assert chance_level(CQA, exs) == pytest.approx((1 / 5 + 1 / 2) / 2)
    nli = get_task("esnli")
    assert chance_level(nli, [Example("a", {}, "neutral")]) == pytest.approx(1 / 3)
    assert chance_level(get_task("svamp"), [Example("a", {}, "1 + 1")]) == 0.0


def test_a_teacher_at_chance_is_warned_about_and_a_good_one_is_not():
    exs = _examples(100)
    at_chance = teacher_check(CQA, exs, _answers(exs, 22))
    assert at_chance["chance"] == pytest.approx(0.2) and at_chance["accuracy"] == 0.22
    assert not at_chance["ahead_of_chance"]
    assert "not clearly ahead of chance (20.0%)" in at_chance["warning"]
    good = teacher_check(CQA, exs, _answers(exs, 80))
    assert good["ahead_of_chance"] and good["warning"] is None
    assert good["message"].startswith("teacher check: 80.0% right on 100 labelled examples")
    # above chance, but not clearly: 26 of 100 has an interval reaching below 20%
    assert teacher_check(CQA, exs, _answers(exs, 26))["warning"]


def test_no_labelled_example_is_said_and_not_taken_for_a_teacher_at_chance():
    """Pure distillation explains the pool alone: nothing to count is no evidence either way."""
    check = teacher_check(CQA, [], [])
    assert check["message"] == "teacher check: no labelled example to score the teacher on"
    assert check["warning"] is None and not check["ahead_of_chance"]


def test_a_teacher_not_ahead_of_the_standard_student_is_warned_about():
    exs = _examples(100)
    check = teacher_check(CQA, exs, _answers(exs, 60), baseline=0.58)
    assert check["ahead_of_chance"] and not check["ahead_of_baseline"]
    assert "not clearly ahead of the standard student (58.0%)" in check["warning"]
    assert teacher_check(CQA, exs, _answers(exs, 80), baseline=0.5)["warning"] is None


def test_attribute_writes_the_check_beside_its_file(dss_dir, tmp_path, caplog):
    cfg = AttributeConfig(out=str(tmp_path / "r.jsonl"),
                          data=DataSpec("cqa", str(dss_dir), "train", 12), batch_size=4)
    with caplog.at_level(logging.INFO):
        out = attribute(cfg, teacher=make_teacher("llama"), progress=False)
    saved = json.loads(teacher_check_path(out).read_text())["teacher_check"]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert saved["n"] == 12 and saved["correct"] == sum(r["correct"] for r in records)
    assert saved["chance"] == pytest.approx(0.2)
    assert saved["message"] in caplog.text
    # a random tiny teacher on 12 examples is never clearly ahead of 1 in 5
    assert saved["warning"] and saved["warning"] in caplog.text
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_attribute_never_replaces_a_check_file_it_did_not_write(dss_dir, tmp_path):
    out = tmp_path / "r.jsonl"
    teacher_check_path(out).write_text("my notes\n")
    cfg = AttributeConfig(out=str(out), data=DataSpec("cqa", str(dss_dir), "train", 4))
    with pytest.raises(ConfigError, match="not an output of this command"):
        attribute(cfg, teacher=make_teacher("llama"), progress=False)
    assert teacher_check_path(out).read_text() == "my notes\n" and not out.exists()
