"""`run` with an unlabeled pool: `teacher-labels` rows learn the labelled n plus the teacher's
answers on the pool; rows without the pool keep their stages."""

from __future__ import annotations

import json

import pytest
from test_run import tiny_config

from saliency_kd.errors import ConfigError
from saliency_kd.pipeline.config import parse_config
from saliency_kd.pipeline.run import plan_pipeline, run_pipeline
from saliency_kd.student import load_student


def pool_config(world, run_dir) -> dict:
    raw = tiny_config(world, run_dir)
    raw["teacher"].pop("finetune")
    raw["data"].update(train_limit=20, unlabeled="train", unlabeled_limit=30, test_limit=8)
    raw["attribution"].update(methods=["saliency"], controls=["random"])
    raw["students"].update(modes=["standard", "teacher-labels", "teacher-labels+kd",
                                  "teacher-labels+rationale"], seeds=[0], channels=["attention"],
                           sources=["saliency"], dev_limit=4, min_confidence=0.01)
    return raw


def test_teacher_labels_rows_train_and_load_back(student_world, tmp_path):
    raw = pool_config(student_world, tmp_path / "p")
    result = run_pipeline(parse_config(raw), progress=False)
    root = tmp_path / "p"
    index = json.loads((root / "stages.json").read_text())
    rationales = (root / index["rationales"]["saliency"]).read_text().splitlines()
    assert len(rationales) == 50  # the labelled 20 and the pool's 30, in one attribution
    assert sum(json.loads(x)["label"] is None for x in rationales) == 30
    rows = {r["name"]: r for r in index["students"]}
    assert set(rows) == {"standard", "teacher-labels", "teacher-labels+kd",
                         "teacher-labels+rationale:attention"}
    assert not rows["standard"].get("pool") and rows["teacher-labels"]["pool"]
    labelled = set()
    for name, row in rows.items():
        run = row["runs"][0]
        summary = json.loads((root / run["train_dir"] / "train_summary.json").read_text())
        labelled.add(summary["train_n"])  # the 20 less their dev carve-out, pool or not
        assert summary.get("pool_n", 0) == (0 if name == "standard" else 30)
        student = load_student(root / run["train_dir"] / "model")
        assert student.meta["mode"] == {"standard": "standard", "teacher-labels": "standard",
                                        "teacher-labels+kd": "kd"}.get(name, "rationale")
    assert len(labelled) == 1 and 15 <= labelled.pop() < 20
    curves = json.loads((root / "curves.json").read_text())
    from saliency_kd.report.curves import curve_key

    assert {curve_key(c) for c in curves} == {"standard", "teacher-labels", "teacher-labels+kd",
                                              "teacher-labels+attention@saliency"}
    assert {s["name"] for s in result["students"]} == set(rows)
    # rows without the pool: the same stage as in a study without it
    plain = tiny_config(student_world, tmp_path / "p")
    plain["teacher"].pop("finetune")
    plain["data"].update(train_limit=20, test_limit=8)
    plain["attribution"].update(methods=["saliency"], controls=["random"])
    plain["students"].update(modes=["standard"], seeds=[0], channels=["attention"],
                             sources=["saliency"], dev_limit=4)
    plan = {p.label: p for p in plan_pipeline(parse_config(plain))}
    assert plan["train-standard-s0"].cached
    assert not plan["attribute-saliency"].cached  # the attribution without the pool differs


def test_pool_rows_are_checked(student_world, tmp_path):
    raw = pool_config(student_world, tmp_path / "x")
    raw["data"].pop("unlabeled")
    with pytest.raises(ConfigError, match="unlabeled"):
        parse_config(raw)
    raw = pool_config(student_world, tmp_path / "x")
    raw["attribution"]["target"] = "gold"
    with pytest.raises(ConfigError, match="attribution.target"):
        parse_config(raw)
    raw = pool_config(student_world, tmp_path / "x")
    raw["students"]["modes"] = ["teacher-labels+nonsense"]
    with pytest.raises(ConfigError, match="students.modes"):
        parse_config(raw)


def test_a_group_learns_its_own_pool_size(student_world, tmp_path):
    """`pool_size`: a group's rows learn the first N of the pool the teacher explained, named
    `teacher-labels[N]`: a curve over pool sizes in one study."""
    raw = pool_config(student_world, tmp_path / "s")
    group = dict(raw["students"], modes=["teacher-labels"], min_confidence=None)
    raw["students"] = [dict(group, name="all"), dict(group, name="small", pool_size=10)]
    run_pipeline(parse_config(raw), progress=False)
    root = tmp_path / "s"
    rows = {r["name"]: r for r in json.loads((root / "stages.json").read_text())["students"]}
    assert set(rows) == {"teacher-labels", "teacher-labels[10]"}
    for name, pool_n in (("teacher-labels", 30), ("teacher-labels[10]", 10)):
        run = rows[name]["runs"][0]
        summary = json.loads((root / run["train_dir"] / "train_summary.json").read_text())
        assert summary["pool_n"] == pool_n
    from saliency_kd.report.curves import curve_key

    curves = json.loads((root / "curves.json").read_text())
    assert {curve_key(c) for c in curves} == {"teacher-labels", "teacher-labels[10]"}
    raw["students"][1]["pool_size"] = 31  # more than the teacher explained
    with pytest.raises(ConfigError, match="pool_size"):
        parse_config(raw)
    raw["students"][1].update(pool_size=5, modes=["standard"])  # no pool to size
    with pytest.raises(ConfigError, match="pool_size"):
        parse_config(raw)


def test_no_labelled_example_is_pure_distillation(student_world, tmp_path):
    """`train_sizes: [0, N]`: at 0 the teacher-labels rows learn the pool alone and the rows
    that need labels skip it; 0 without a pool row is refused."""
    raw = pool_config(student_world, tmp_path / "z")
    raw["data"].pop("train_limit")
    raw["data"]["train_sizes"] = [0, 10]
    raw["students"].update(modes=["standard", "teacher-labels"], min_confidence=None)
    run_pipeline(parse_config(raw), progress=False)
    root = tmp_path / "z"
    rows = {(r["name"], r["n_train"]): r
            for r in json.loads((root / "stages.json").read_text())["students"]}
    assert set(rows) == {("standard", 10), ("teacher-labels", 10), ("teacher-labels", 0)}
    run = rows[("teacher-labels", 0)]["runs"][0]
    assert "-n0-s0" in run["train_dir"]
    summary = json.loads((root / run["train_dir"] / "train_summary.json").read_text())
    assert summary["train_n"] == 0 and summary["pool_n"] > 0
    assert (root / run["eval_dir"] / "metrics.json").exists()
    raw["students"]["modes"] = ["standard"]
    with pytest.raises(ConfigError, match="pure distillation"):
        parse_config(raw)
