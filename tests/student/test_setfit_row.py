"""The `setfit` row: SetFit on the labelled examples of a fixed-label task, trained through
`train` like any student, loaded back by `load_student`, scored by `evaluate`; refused where a
task has per-example choices; named `setfit` in a study and its curves."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from conftest import make_bert_dir, write_dss

from saliency_kd.data import DataSpec
from saliency_kd.errors import ConfigError

pytest.importorskip("setfit")

PLACES = ["park", "school", "garden", "kitchen", "library", "beach"]
NLI = ["entailment", "neutral", "contradiction"]


def write_esnli(root: Path, n_train: int, n_test: int) -> Path:
    """A tiny e-SNLI in the DSS layout: the hypothesis repeats the premise's place
    (entailment), names another (contradiction) or a person only (neutral)."""
    (root / "esnli").mkdir(parents=True)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        rng, lines = random.Random(seed), []
        for i in range(n):
            place, other = rng.sample(PLACES, 2)
            label = i % 3
            hyp = [f"john is in the {place} .", "mary is happy .", f"john is in the {other} ."]
            lines.append(json.dumps({"id": f"{split}{i}", "premise": f"john went to the {place} .",
                                     "hypothesis": hyp[label], "label": NLI[label]}))
        (root / "esnli" / f"esnli_{split}.json").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One setfit row (two pair iterations: tiny) on 12 labelled e-SNLI examples."""
    from saliency_kd.student import TrainConfig, setfit_row, train

    root = tmp_path_factory.mktemp("setfit")
    data = write_esnli(root / "dss", 14, 9)
    args = dict(setfit_row.SETFIT_ARGS)
    setfit_row.SETFIT_ARGS["num_iterations"] = 2
    try:
        model = train(TrainConfig(out=str(root / "run"), data=DataSpec("esnli", str(data),
                                                                         "train"),
                                  student=str(make_bert_dir(root / "bert")), mode="setfit",
                                  seed=3, device="cpu"), progress=False)
    finally:
        setfit_row.SETFIT_ARGS.update(args)
    return {"model": model, "data": data, "root": root}


def test_a_setfit_row_saves_a_student_that_load_student_serves(trained):
    from saliency_kd import load_student

    model = trained["model"]
    meta = json.loads((model / "student.json").read_text())
    assert meta["family"] == "setfit" and meta["task"] == "esnli" and meta["label_names"] == NLI
    assert (model / "model_head.pkl").exists()  # SetFit's own folder
    summary = json.loads((model.parent / "train_summary.json").read_text())
    assert summary["train_n"] + summary["dev_n"] == 14 and summary["train_n"] >= 10
    student = load_student(model, device="cpu")
    assert student.labels == NLI
    one, two = student(["john went to the park . ||| john is in the park .",
                        {"premise": "john went to the beach .", "hypothesis": "mary is happy ."}])
    for rec in (one, two):
        assert set(rec["probabilities"]) == set(NLI)
        assert rec["prediction"] == max(rec["probabilities"], key=rec["probabilities"].get)
        assert sum(rec["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    inner = student.student
    assert inner.texts([student._example("a b ||| c d", None, "x", 1, 0)]) == ["a b [SEP] c d"]


def test_evaluate_scores_a_setfit_row_like_any_student(trained, tmp_path):
    from saliency_kd.evaluate import evaluate, predictions_path

    out = tmp_path / "metrics.json"
    metrics = evaluate(trained["model"], DataSpec("esnli", str(trained["data"]), "test"),
                       out=out, progress=False, device="cpu")
    assert metrics["n"] == 9 and 0 <= metrics["accuracy"] <= 1
    preds = [json.loads(line) for line in predictions_path(out).read_text().splitlines()]
    assert len(preds) == 9
    assert all({"id", "prediction", "label", "correct", "probabilities"} <= set(p) and
               len(p["probabilities"]) == 3 for p in preds)


def test_a_task_with_per_example_choices_is_refused(tmp_path):
    from saliency_kd.student import TrainConfig, train

    data = write_dss(tmp_path / "dss", n_train=12, n_test=2)
    out = tmp_path / "run"
    with pytest.raises(ConfigError) as err:
        train(TrainConfig(out=str(out), data=DataSpec("cqa", str(data), "train"),
                          student=str(tmp_path / "unused"), mode="setfit"), progress=False)
    assert "'setfit' needs a fixed label set" in str(err.value)
    assert "own answer choices" in str(err.value)
    assert not out.exists()  # refused before the folder is made
    with pytest.raises(ConfigError, match="gold labels"):
        TrainConfig(out=str(out), data=DataSpec("cqa", str(data), "train"), mode="setfit",
                    labels="teacher", rationales="r.jsonl").validate()


# ---- the study: a row named `setfit` ----------------------------------------------------------
def _study(tmp_path, groups) -> dict:
    path = Path(__file__).resolve().parents[2] / "src/saliency_kd/configs/paper/esnli.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["run_dir"] = str(tmp_path / "run")
    raw["students"] = groups
    return raw


def test_a_study_names_the_row_setfit_and_plans_it_without_touching_other_rows(
        tmp_path, monkeypatch):
    from saliency_kd.pipeline.config import parse_config
    from saliency_kd.pipeline.rows import study_rows
    from saliency_kd.pipeline.run import plan_pipeline
    from saliency_kd.report.curves import curve_key

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    standard = {"name": "t5", "student": "google/t5-v1_1-base", "family": "seq2seq",
                "modes": ["standard"], "seeds": [0]}
    setfit = {"name": "setfit", "student": "minilm-l6", "modes": ["setfit"], "seeds": [0, 1]}
    cfg = parse_config(_study(tmp_path, [standard, setfit]))
    (row,) = study_rows(cfg, "saliency", cfg.groups[1])
    assert row.name == "setfit" and row.source is None and row.channel is None
    assert curve_key({"mode": "setfit", "channel": None, "source": None}) == "setfit"
    plan = {p.label: p for p in plan_pipeline(cfg)}
    assert {"train-setfit-setfit-s0", "train-setfit-setfit-s1",
            "evaluate-setfit-setfit-s1"} <= set(plan)
    assert plan["train-setfit-setfit-s0"].settings["num_iterations"] == 20
    alone = {p.label: p for p in plan_pipeline(parse_config(_study(tmp_path, [standard])))}
    assert alone["train-standard-s0"].dir == plan["train-t5-standard-s0"].dir  # same hash


@pytest.mark.parametrize("change,key", [
    ({"modes": ["teacher-labels+setfit"]}, "students.1.modes"),
    ({"labels": "teacher"}, "students.1.labels"),
    ({"family": "seq2seq"}, "students.1.family"),
])
def test_a_study_refuses_what_setfit_cannot_learn(tmp_path, change, key):
    from saliency_kd.pipeline.config import parse_config

    groups = [{"name": "t5", "student": "google/t5-v1_1-base", "family": "seq2seq"},
              {"name": "setfit", "student": "minilm-l6", "modes": ["setfit"], **change}]
    raw = _study(tmp_path, groups)
    raw["data"]["unlabeled"] = "train"
    raw["data"]["train_limit"] = 100
    raw["attribution"]["target"] = "prediction"
    with pytest.raises((ConfigError, ValueError), match=key.replace(".", r"\.")):
        parse_config(raw)


def test_a_multiple_choice_study_refuses_the_setfit_row(tmp_path):
    from saliency_kd.pipeline.config import parse_config

    raw = _study(tmp_path, {"student": "minilm-l6", "modes": ["standard", "setfit"]})
    raw["data"]["task"] = "cqa"
    with pytest.raises((ConfigError, ValueError), match="fixed label set"):
        parse_config(raw)
