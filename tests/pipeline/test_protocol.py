"""`run` under the verdicts protocol: seeds that draw their own examples, the teacher
explaining all of them, a registered primary comparison and its per-example analysis."""

from __future__ import annotations

import json

import pytest
from test_run import tiny_config

from saliency_kd.artifact import read_json_lines
from saliency_kd.errors import ConfigError
from saliency_kd.pipeline.config import parse_config
from saliency_kd.pipeline.run import run_pipeline
from saliency_kd.report.outcomes import collect

SEEDS = [0, 1, 2, 3, 4]


def protocol_config(world, run_dir) -> dict:
    raw = tiny_config(world, run_dir)
    raw["teacher"].pop("finetune")
    raw["data"].pop("train_limit")
    raw["data"].update(train_sizes=[10], resample=True, test_limit=12)
    raw["attribution"].update(methods=["saliency"], controls=["random"])
    raw["students"].update(modes=["standard", "rationale"], seeds=SEEDS, channels=["attention"],
                           sources=["saliency"], pooling="cls", dev_limit=4)
    raw["primary"] = {"row": "attention@saliency", "baseline": "standard", "size": 10}
    return raw


def test_seeds_draw_their_own_examples_and_the_primary_comparison_is_analysed(student_world,
                                                                              tmp_path):
    result = run_pipeline(parse_config(protocol_config(student_world, tmp_path / "p")),
                          progress=False)
    root = tmp_path / "p"
    index = json.loads((root / "stages.json").read_text())
    rationales = read_json_lines(root / index["rationales"]["saliency"], ("id",))
    assert 10 < len(rationales) <= 10 * len(SEEDS)  # the union of the seeds' draws
    std = next(r for r in index["students"] if r["mode"] == "standard")
    for run in std["runs"]:
        summary = json.loads((root / run["train_dir"] / "train_summary.json").read_text())
        assert summary["train_n"] == 10
    outcomes = collect(root)
    assert outcomes["test"]["n"] == 12 and len(outcomes["runs"]) == 2 * len(SEEDS)
    # what each stage cost travels with the outcomes
    assert {"rationales:saliency", "teacher-eval:test"} <= set(outcomes["cost"])
    assert all(r["train_seconds"] > 0 and r["eval_seconds"] > 0 for r in outcomes["runs"])
    analysis = result["analysis"]
    assert analysis["primary"]["row"] == "attention@saliency"
    assert analysis["primary"]["seeds"] == SEEDS
    assert analysis["verdict"]["answer"] in ("yes", "no", "no difference shown",
                                             "not testable here")
    assert result["regime"][0].startswith("teacher check: ")  # the check leads
    assert any(x.startswith("regime at n=10: teacher") for x in result["regime"])
    html = (root / "report.html").read_text()
    assert 'id="paired-examples"' in html and "(primary)" in html


def test_a_primary_comparison_is_checked_against_the_study(student_world, tmp_path):
    raw = protocol_config(student_world, tmp_path / "x")
    raw["students"]["seeds"] = [0, 1, 2]
    with pytest.raises(ConfigError, match="at least 5"):
        parse_config(raw)
    raw["students"]["seeds"] = SEEDS
    raw["primary"]["row"] = "tag@saliency"
    with pytest.raises(ConfigError, match="primary.row"):
        parse_config(raw)
    raw["primary"].update(row="attention@saliency", size=20)
    with pytest.raises(ConfigError, match="primary.size"):
        parse_config(raw)
