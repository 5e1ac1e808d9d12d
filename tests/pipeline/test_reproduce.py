"""What the reproduction of RESULTS.md needs from `run` (configs/reproduce/*.yaml): several
student groups in one run, rationale files re-selected from stored scores, the teacher's
faithfulness, the teacher's zero-shot, dev and whole-schedule figures, and an index of where each
output is (stages.json), which bench/results.py reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import assert_config_error, reproduce_config

from saliency_kd.errors import ConfigError
from saliency_kd.pipeline.config import parse_config
from saliency_kd.pipeline.run import plan_pipeline, run_pipeline
from saliency_kd.report.analysis import read_records

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_a_run_of_several_groups_measures_and_indexes_everything(student_world, reproduce_run):
    root, raw, result = reproduce_run
    ran = result["stages_ran"]
    for stage in ("teacher-finetune", "teacher-eval", "teacher-eval-dev", "control-random",
                  "derived-saliency-k2", "derived-saliency-value", "faithfulness",
                  "teacher-eval-zeroshot", "teacher-finetune-full", "teacher-eval-full",
                  "teacher-eval-full-dev", "train-choice-standard-s0"):
        assert stage in ran, stage
    # the dev-only group trains once and is never tested
    assert not [s for s in ran if s.startswith("evaluate-choice")]
    # rows carry their group; the same row name in two groups stays two rows
    rows = [(s["group"], s["label"], s["seeds"]) for s in result["students"]]
    assert rows == [("encoder", "encoder standard", 2),
                    ("encoder", "encoder attention@saliency", 2),
                    ("encoder", "encoder attention@saliency-k2", 2),
                    ("other", "other standard", 1)]
    curves = json.loads((root / "curves.json").read_text())
    assert len(curves) == 7 and {c["student"] for c in curves} == {
        str(student_world["encoder"]), str(student_world["seq2seq"])}

    index = json.loads((root / "stages.json").read_text())
    evals = index["teacher_evals"]
    assert set(evals) == {"test", "dev", "zeroshot", "full", "full-dev"}
    for path in evals.values():
        assert json.loads((root / path).read_text())["metrics"]["n"] in (12, 6)
    assert json.loads((root / evals["dev"]).read_text())["metrics"]["n"] == 6
    assert (root / index["teacher_finetune"] / "model").is_dir()
    full = root / index["teacher_finetune_full"]
    cut = [json.loads(x) for x in (root / index["teacher_finetune"] / "train_log.jsonl")
           .read_text().splitlines() if "loss" in json.loads(x)]
    whole = [json.loads(x) for x in (full / "train_log.jsonl").read_text().splitlines()
             if "loss" in json.loads(x)]
    assert len(cut) == 1 and len(whole) == 3  # 24 examples less the dev carve-out, batch 8

    files = {src: root / p for src, p in index["rationales"].items()}
    assert set(files) == {"saliency", "random", "saliency-k2", "saliency-value"}
    k2 = read_records(files["saliency-k2"])
    assert len(k2) == 40 and all(len(r["rationale"]) <= 2 for r in k2)
    by_value = read_records(files["saliency-value"])
    assert len(by_value) == 10
    for r in by_value:  # positive evidence only
        assert all(r["words"][i][1] > 0 for i in r["rationale_index"])

    faith = index["faithfulness"]
    summary = json.loads((root / faith["dir"] / "summary.json").read_text())
    # the index names each file inside the run directory; summary.json as the run gave it
    assert {Path(k).parent.name for k in summary["files"]} == {
        Path(v).parent.name for v in faith["files"].values()}
    assert len(list((root / faith["dir"]).glob("*.jsonl"))) == 3  # one values file per source

    encoder = [s for s in index["students"] if s["group"] == "encoder"]
    assert [s["source"] for s in encoder] == [None, "saliency", "saliency-k2"]
    for run in encoder[0]["runs"]:
        assert (root / run["train_dir"] / "train_log.jsonl").exists()
        assert (root / run["eval_dir"] / "metrics.json").exists()
    choice = [t for t in index["tuning"] if t["group"] == "choice"]
    assert len(choice) == 1 and choice[0]["tried"][0]["dev_accuracy"] is not None
    assert (root / choice[0]["tried"][0]["train_dir"] / "train_summary.json").exists()

    # nothing is run twice, and a plan of the finished run finds every stage cached
    assert run_pipeline(parse_config(raw), progress=False)["stages_ran"] == []
    assert all(p.cached for p in plan_pipeline(parse_config(raw)) if p.dir is not None)


def test_a_derived_file_joins_a_run_without_touching_its_other_stages(student_world, tmp_path):
    raw = reproduce_config(student_world, tmp_path / "run")
    raw["teacher"].pop("finetune")
    raw.pop("faithfulness")
    raw["teacher_eval"] = {}
    raw["students"] = []
    raw["attribution"]["derived"] = raw["attribution"]["derived"][:1]
    first = run_pipeline(parse_config(raw), progress=False)["stages_ran"]
    assert first[:4] == ["teacher-eval", "attribute-saliency", "control-random",
                         "derived-saliency-k2"]
    raw["attribution"]["derived"].append({"name": "saliency-k1", "from": "saliency",
                                          "top_k": 1})
    again = run_pipeline(parse_config(raw), progress=False)["stages_ran"]
    assert again == ["derived-saliency-k1", "report"]


@pytest.mark.parametrize("change,key", [
    (lambda r: r["students"][1].update(name="encoder"), "students.1.name"),
    (lambda r: r["students"][0].update(sources=["lime"]), "students.0.sources"),
    (lambda r: r["students"][2].update(lr="fast"), "students.2.lr"),
    (lambda r: r["attribution"]["derived"][0].update({"from": "occlusion"}),
     "attribution.derived.0.from"),
    (lambda r: r["students"][0]["sources"].append("saliency-value"), "students.0.sources"),
    (lambda r: r["faithfulness"].update(limit=20), "faithfulness.limit"),
    (lambda r: r["attribution"]["derived"][1].update(rank="loudest"),
     "attribution.derived.1.rank"),
    (lambda r: r["attribution"]["derived"].append({"name": "random", "from": "saliency"}),
     "attribution.derived"),
    (lambda r: r["faithfulness"].update(sources=["saliency-k5"]), "faithfulness.sources"),
    (lambda r: r["teacher_eval"].update(dev_limit=0), "teacher_eval.dev_limit"),
    (lambda r: r["teacher"]["finetune"].pop("stop_after_steps"), "teacher_eval.full_schedule"),
    (lambda r: r["data"].update(task="svamp"), "faithfulness"),
])
def test_errors_in_groups_derived_files_and_measurements_name_the_key(student_world, tmp_path,
                                                                      change, key):
    raw = reproduce_config(student_world, tmp_path / "x")
    change(raw)
    assert_config_error(raw, tmp_path, key)


def test_two_groups_of_one_student_may_not_share_a_row(student_world, tmp_path):
    raw = reproduce_config(student_world, tmp_path / "x")
    # "other" with the encoder's student: its standard row again
    raw["students"][1]["student"] = raw["students"][0]["student"]
    with pytest.raises(ConfigError) as err:
        run_pipeline(parse_config(raw), progress=False)
    assert "'students.1'" in str(err.value) and "row 'standard'" in str(err.value)
    assert not (tmp_path / "x" / "stages.json").exists()  # refused before any stage


def test_one_group_written_as_a_mapping_keeps_its_keys_in_errors(student_world, tmp_path):
    raw = reproduce_config(student_world, tmp_path / "x")
    raw["students"] = {**raw["students"][0], "lr": "fast"}
    with pytest.raises(ConfigError) as err:
        parse_config(raw, "c.yaml")
    assert "'students.lr'" in str(err.value)


@pytest.mark.parametrize("path", sorted((CONFIGS / "reproduce").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_the_reproduction_configs_plan_every_table_of_results_md(path):
    """Each task's reproduction plans its teacher, its measurements and the student groups
    bench/results.py files into the tables (offline: a plan loads nothing)."""
    raw = yaml.safe_load(path.read_text())
    raw["data"]["data_dir"] = "hub"  # a plan of Hub data reads nothing
    cfg = parse_config(raw, str(path))
    labels = [p.label for p in plan_pipeline(cfg)]
    names = [cfg.group_name(g) for g in cfg.groups]
    assert "generating" in names and labels[:2] == ["teacher-finetune", "teacher-eval"]
    assert "teacher-eval-zeroshot" in labels and "teacher-eval-dev" in labels
    assert ("teacher-finetune-full" in labels) == bool(cfg.teacher.finetune.stop_after_steps)
    if path.stem == "svamp":  # an equation: no encoder student, no faithfulness
        assert names == ["generating"] and cfg.faithfulness is None
    else:
        assert names[0] == "encoder" and "faithfulness" in labels
        assert {"saliency-k3", "saliency-k10"} <= set(cfg.groups[0].sources)


class Killed(Exception):
    pass


def test_a_stopped_run_indexes_what_it_made(student_world, tmp_path, monkeypatch):
    """stages.json is rewritten after each section and each student row: a run killed among
    its students already names its teacher figures, rationale files and finished rows, and
    bench/results.py can read it."""
    from conftest import load_bench

    from saliency_kd.pipeline.students import StudentStages

    raw = reproduce_config(student_world, tmp_path / "run")
    raw["teacher"]["finetune"].pop("stop_after_steps")
    raw["teacher_eval"] = {"dev_limit": 6}
    raw.pop("faithfulness")
    raw["students"] = raw["students"][:1]
    real, calls = StudentStages.train, []

    def train(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 4:  # the first row is finished (the choice, then seeds 0 and 1)
            raise Killed
        return real(self, *args, **kwargs)

    monkeypatch.setattr(StudentStages, "train", train)
    with pytest.raises(Killed):
        run_pipeline(parse_config(raw), progress=False)
    root = tmp_path / "run"
    index = json.loads((root / "stages.json").read_text())
    assert set(index["teacher_evals"]) == {"test", "dev"}
    assert set(index["rationales"]) == {"saliency", "random", "saliency-k2", "saliency-value"}
    assert [row["name"] for row in index["students"]] == ["standard"]
    res = load_bench("results").task_results(root, "cqa")
    assert list(res["students"]) == ["standard"] and res["teacher_finetuned"]["n"] == 12
