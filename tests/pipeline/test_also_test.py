"""`data.also_test`: every final student and the teacher also scored on extra splits, each its
own cached stage, and their per-example outcomes collected like the test split's."""

from __future__ import annotations

import gzip
import json
import sys

import pytest
from conftest import load_bench
from test_run import tiny_config

from saliency_kd.data import DataSpec, load_examples
from saliency_kd.errors import ConfigError, DataError
from saliency_kd.pipeline.config import parse_config
from saliency_kd.pipeline.run import plan_pipeline, run_pipeline
from saliency_kd.report.outcomes import collect


def also_config(world, run_dir) -> dict:
    raw = tiny_config(world, run_dir)
    raw["teacher"].pop("finetune")
    raw["data"].update(train_limit=30, test_limit=8, also_test=["dev"])
    raw["attribution"]["methods"] = ["saliency"]
    raw["students"].update(modes=["standard", "rationale"], seeds=[0], channels=["attention"])
    raw["report"]["heatmaps"] = 1
    return raw


def test_extra_splits_are_evaluated_cached_and_collected(student_world, tmp_path, monkeypatch):
    raw = also_config(student_world, tmp_path / "run")
    root = tmp_path / "run"
    planned = [p.label for p in plan_pipeline(parse_config(raw))]
    assert "teacher-eval-dev" in planned
    assert {"evaluate-dev-standard-s0", "evaluate-dev-rationale:attention-s0"} <= set(planned)
    first = run_pipeline(parse_config(raw), progress=False)
    assert {"teacher-eval-dev", "evaluate-dev-standard-s0"} <= set(first["stages_ran"])
    _, dev = load_examples(DataSpec("cqa", str(student_world["dss"]), "dev"))
    index = json.loads((root / "stages.json").read_text())
    assert index["teacher_evals"]["dev"].startswith("teacher-eval-dev-")
    for row in index["students"]:
        (run,) = row["runs"]
        metrics = json.loads((root / run["also_eval_dirs"]["dev"] / "metrics.json").read_text())
        assert metrics["split"] == "dev" and metrics["n"] == len(dev)
        main_metrics = json.loads((root / run["eval_dir"] / "metrics.json").read_text())
        assert main_metrics["split"] == "test" and main_metrics["n"] == 8
    again = run_pipeline(parse_config(raw), progress=False)
    assert again["stages_ran"] == []
    assert "evaluate-dev-standard-s0" in again["stages_skipped"]

    outcomes = collect(root, split="dev")
    assert outcomes["split"] == "dev" and collect(root)["split"] == "test"
    assert outcomes["test"]["n"] == len(dev) == len(outcomes["teacher"]["correct"])
    assert outcomes["test"]["ids"] == [ex.id for ex in dev]
    assert sorted(r["row"] for r in outcomes["runs"]) == ["attention@saliency", "standard"]
    assert all(len(r["correct"]) == len(dev) for r in outcomes["runs"])
    with pytest.raises(DataError, match="no 'valid' evaluation in this run"):
        collect(root, split="valid")

    bench = load_bench("outcomes")
    monkeypatch.setattr(sys, "argv", ["outcomes.py", str(root), "--out", str(tmp_path / "o"),
                                      "--split", "dev"])
    bench.main()
    kept = json.loads(gzip.decompress((tmp_path / "o" / "run-dev.json.gz").read_bytes()))
    assert kept == {**outcomes, "name": "run"}


@pytest.mark.parametrize("also,extra,message", [
    (["test"], {}, "is data.test_split already"),
    (["dev", "dev"], {}, "'dev' is given twice"),
    (["heldout"], {}, "'heldout' is a split of the demo task, not of cqa"),
    (["dev"], {"teacher_eval": {"dev_limit": 4}}, "teacher_eval.dev_limit"),
    (["train"], {}, "data.also_test.0"),
])
def test_extra_splits_are_checked(student_world, tmp_path, also, extra, message):
    raw = {**also_config(student_world, tmp_path / "x"), **extra}
    raw["data"]["also_test"] = also
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)
