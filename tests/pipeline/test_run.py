"""`saliency-kd run` on a tiny configuration: caching, partial re-runs, resume, config errors."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import assert_config_error

from saliency_kd.artifact import ResumableJsonl
from saliency_kd.cli import main
from saliency_kd.errors import ConfigError
from saliency_kd.pipeline.config import load_config, parse_config
from saliency_kd.pipeline.run import run_pipeline


def tiny_config(world, run_dir) -> dict:
    return {
        "run_dir": str(run_dir),
        "data": {"task": "cqa", "data_dir": str(world["dss"]), "train_limit": 60},
        "teacher": {"name": str(world["causal"]),
                    "finetune": {"lr": 1e-3, "batch_size": 8, "epochs": 1, "train_limit": 24,
                                 "eval_every": 2, "dev_limit": 4}},
        "attribution": {"methods": ["saliency", "occlusion"], "top_k": 3, "batch_size": 8},
        "students": {"student": str(world["encoder"]), "modes": ["standard", "rationale", "kd"],
                     "seeds": [0, 1], "lr": 1e-3, "batch_size": 12, "epochs": 1},
        "report": {"heatmaps": 3},
    }


def test_second_run_does_no_work_and_lr_change_reruns_only_students(student_world, tmp_path):
    raw = tiny_config(student_world, tmp_path / "run")
    first = run_pipeline(parse_config(raw), progress=False)
    assert "teacher-finetune" in first["stages_ran"] and "report" in first["stages_ran"]
    assert len(first["students"]) == 3 and first["students"][0]["seeds"] == 2
    again = run_pipeline(parse_config(raw), progress=False)
    assert again["stages_ran"] == []
    raw["students"]["lr"] = 5e-4
    third = run_pipeline(parse_config(raw), progress=False)
    assert {s.split("-")[0] for s in third["stages_ran"]} == {"train", "evaluate", "report"}
    assert len([s for s in third["stages_ran"] if s.startswith("train")]) == 6
    html = (tmp_path / "run" / "report.html").read_text()
    assert 'id="results"' in html and "class=\"heat\"" in html and "data:image/png" in html
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["agreement"][0]["a"] == "saliency"


def test_controls_train_rationale_students_on_control_rationales(student_world, tmp_path):
    raw = tiny_config(student_world, tmp_path / "run")
    raw["teacher"].pop("finetune")
    raw["attribution"].update(methods=["saliency"], controls=["random", "gold-answer"])
    raw["students"].update(modes=["standard", "rationale"], seeds=[0])
    result = run_pipeline(parse_config(raw), progress=False)
    assert {s for s in result["stages_ran"] if s.startswith("control")} == {
        "control-random", "control-gold-answer"}
    names = [s["name"] for s in result["students"]]
    assert names == ["standard", "rationale", "rationale@random", "rationale@gold-answer"]
    assert [(s["mode"], s["channel"], s["source"]) for s in result["students"]] == [
        ("standard", None, None), ("rationale", "attention", "saliency"),
        ("rationale", "attention", "random"), ("rationale", "attention", "gold-answer")]
    # each control student trained on its own file
    for name, source in (("random", "random"), ("gold-answer", "gold-answer")):
        run = next((tmp_path / "run").glob(f"train-rationale-{name}-s0-*"))
        stage = json.loads((run / "stage.json").read_text())
        assert stage["config"]["teacher_file"].startswith(f"control-{source}-")
    assert run_pipeline(parse_config(raw), progress=False)["stages_ran"] == []


class Killed(Exception):
    pass


def test_kill_during_attribution_then_rerun_gives_identical_output(student_world, tmp_path,
                                                                     monkeypatch):
    raw = tiny_config(student_world, tmp_path / "clean")
    raw["teacher"].pop("finetune")
    raw["attribution"]["methods"] = ["saliency"]
    raw["students"].update(modes=["rationale"], seeds=[0])
    run_pipeline(parse_config(raw), progress=False)
    clean = next((tmp_path / "clean").glob("attribute-saliency-*/rationales.jsonl")).read_bytes()

    raw["run_dir"] = str(tmp_path / "killed")
    original = ResumableJsonl.write_batch
    calls = {"n": 0}

    def dying(self, records):
        calls["n"] += 1
        if calls["n"] == 4:
            with self.path.open("a") as fh:
                fh.write(json.dumps(records[0])[:20])
            raise Killed
        return original(self, records)

    monkeypatch.setattr(ResumableJsonl, "write_batch", dying)
    with pytest.raises(Killed):
        run_pipeline(parse_config(raw), progress=False)
    monkeypatch.setattr(ResumableJsonl, "write_batch", original)
    result = run_pipeline(parse_config(raw), progress=False)
    assert "teacher-eval" not in result["stages_ran"]  # finished before the kill
    killed = next((tmp_path / "killed").glob("attribute-saliency-*/rationales.jsonl")).read_bytes()
    assert killed == clean


@pytest.mark.parametrize("change,key", [
    (lambda r: r.update(colour="blue"), "colour"),
    (lambda r: r["students"].update(lr="fast"), "students.lr"),
    (lambda r: r["students"].update(modes=["standard", "magic"]), "students.modes"),
    (lambda r: r["attribution"].update(methods=["lime"]), "attribution.methods"),
    (lambda r: r["attribution"].update(top_k=0), "attribution.top_k"),
    (lambda r: r["data"].update(data_dir="/nowhere"), "data.data_dir"),
    (lambda r: r["data"].update(task="squad"), "data.task"),
    (lambda r: r["teacher"]["finetune"].update(lora="sometimes"), "teacher.finetune.lora"),
    (lambda r: r["students"].update(alpha=2), "students.alpha"),
    (lambda r: r["attribution"].update(controls=["shuffle"]), "attribution.controls.0"),
])
def test_config_errors_name_the_key(student_world, tmp_path, change, key):
    raw = tiny_config(student_world, tmp_path / "x")
    change(raw)
    assert_config_error(raw, tmp_path, key)


def test_cli_reports_config_errors(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("data: [not, a, mapping]\n")
    assert main(["run", str(path)]) == 2
    assert "'data'" in capsys.readouterr().err


def test_shipped_configs_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    studies = sorted((root / "study").glob("*.yaml"))
    assert {p.stem for p in studies} >= {"demo", "esnli", "anli1", "cqa"}
    for path in [root / "demo.yaml", *sorted((root / "paper").glob("*.yaml")), *studies]:
        raw = yaml.safe_load(path.read_text())
        raw["data"]["data_dir"] = None if raw["data"]["task"] == "demo" else "hub"
        parse_config(raw, str(path))


def test_a_study_tunes_on_dev_and_writes_one_curve_record_per_run(student_world, tmp_path):
    raw = tiny_config(student_world, tmp_path / "study")
    raw["teacher"].pop("finetune")
    raw["data"].pop("train_limit")
    raw["data"]["train_sizes"] = [40, 20]
    raw["attribution"].update(methods=["saliency"], controls=["random", "gold-evidence"])
    raw["students"].update(modes=["standard", "rationale"], seeds=[0, 1], channels=["attention"],
                           pooling="cls", tune={"lr": [1e-3, 2e-3], "alpha": [0.5, 0.8],
                                                "size": 20})
    result = run_pipeline(parse_config(raw), progress=False)
    trained = [s for s in result["stages_ran"] if s.startswith("train")]
    # per row: the grid at size 20 on seed 0 (2 lr for standard, 2 lr x 2 alpha for a channel),
    # then every seed at both sizes, the grid's own run re-used where the settings match
    rows = 1 + 3
    assert len(trained) == 2 + 3 * 4 + rows * 2 * 2 - rows
    evaluated = [s for s in result["stages_ran"] if s.startswith("evaluate")]
    assert len(evaluated) == rows * 2 * 2  # grid runs the study did not choose never see test
    curves = json.loads((tmp_path / "study" / "curves.json").read_text())
    assert len(curves) == rows * 2 * 2  # rows x sizes x seeds: only final runs are tested
    assert {c["n_train"] for c in curves} == {20, 40}
    assert {(c["mode"], c["channel"], c["source"]) for c in curves} == {
        ("standard", None, None), ("rationale", "attention", "saliency"),
        ("rationale", "attention", "random"), ("rationale", "attention", "gold-evidence")}
    tuning = result["tuning"]
    assert {t["tuned_at"] for t in tuning} == {20}
    std = next(t for t in tuning if t["row"] == "standard")
    assert [(t["lr"], t["alpha"]) for t in std["tried"]] == [(1e-3, 0.5), (2e-3, 0.5)]
    chan = next(t for t in tuning if t["row"] == "rationale:attention")
    assert len(chan["tried"]) == 4
    best = max(chan["tried"], key=lambda t: t["dev_accuracy"])
    assert (chan["lr"], chan["alpha"]) == (best["lr"], best["alpha"])
    rows_json = result["students"]
    assert all(len(r["per_seed"]) == 2 and r["seed_ids"] == [0, 1] for r in rows_json)
    assert any(c["key"] == "attention@saliency" and c["minus_standard"] and c["minus_random"]
               for c in result["comparisons"])
    assert result["verdict"]
    html = (tmp_path / "study" / "report.html").read_text()
    assert 'id="paired"' in html and 'id="verdict"' in html
    assert run_pipeline(parse_config(raw), progress=False)["stages_ran"] == []


def test_study_settings_are_checked(student_world, tmp_path):
    raw = tiny_config(student_world, tmp_path / "x")
    raw["data"]["train_sizes"] = [20]
    with pytest.raises(ConfigError, match="not both"):
        parse_config(raw)
    raw["data"].pop("train_limit")
    raw["students"]["channels"] = ["telepathy"]
    with pytest.raises(ConfigError, match="students.channels"):
        parse_config(raw)
    raw["students"]["channels"] = ["attention"]
    raw["students"]["sources"] = ["lime"]
    with pytest.raises(ConfigError, match="students.sources"):
        parse_config(raw)
    raw["students"].pop("sources")
    raw["students"]["tune"] = {"lr": [1e-3], "size": 30}
    with pytest.raises(ConfigError, match="students.tune.size"):
        parse_config(raw)


def test_sources_choose_the_rationale_files_of_the_rows(student_world, tmp_path):
    from saliency_kd.pipeline.students import study_rows

    raw = tiny_config(student_world, tmp_path / "x")
    raw["attribution"]["controls"] = ["random"]
    raw["students"].update(modes=["standard", "rationale"], channels=["attention"])
    rows = study_rows(parse_config(raw), "saliency")
    assert [r.name for r in rows] == ["standard", "rationale:attention",
                                      "rationale:attention@random"]
    raw["students"]["sources"] = ["saliency", "occlusion", "random"]
    rows = study_rows(parse_config(raw), "saliency")
    assert [(r.mode, r.source) for r in rows] == [
        ("standard", None), ("rationale", "saliency"), ("rationale", "occlusion"),
        ("rationale", "random")]


def _holder(run_dir):
    """Another process that holds the run directory's lock until it is killed."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import saliency_kd

    src = str(Path(saliency_kd.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    code = ("import sys, time\n"
            "from saliency_kd.artifact import mark_output_dir\n"
            "from saliency_kd.atomic import exclusive\n"
            "mark_output_dir(sys.argv[1], 'run')\n"  # as run_pipeline claims it first
            "with exclusive(sys.argv[1]):\n"
            "    print('locked', flush=True)\n"
            "    time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_run_directory_is_locked_while_a_run_works_in_it(student_world, tmp_path, capsys,
                                                            caplog):
    """Issue 24: a second `run` (or `demo`) on a run directory in use refuses at once, naming
    the directory and the process holding it; once that process is dead, its lock is taken
    over with a warning."""
    import logging
    import time

    run_dir = tmp_path / "run"
    raw = tiny_config(student_world, run_dir)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    holder = _holder(run_dir)
    try:
        started = time.time()
        assert main(["run", str(cfg_path)]) == 2
        assert time.time() - started < 30  # at once, not after waiting for the other
        err = capsys.readouterr().err
        assert f"{run_dir} is in use by process {holder.pid}" in err
        assert not (run_dir / "config.json").exists()
        with pytest.raises(ConfigError, match=f"in use by process {holder.pid}"):
            run_pipeline(parse_config(raw), progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert (run_dir / ".lock").read_text().strip() == str(holder.pid)  # it died holding it
    from saliency_kd.atomic import exclusive

    with caplog.at_level(logging.WARNING), exclusive(run_dir):
        pass
    assert f"taking over the lock left by process {holder.pid} (no longer running)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING), exclusive(run_dir):  # released cleanly: no warning
        pass
    assert "taking over" not in caplog.text


def test_a_folder_run_did_not_make_is_refused_untouched(student_world, tmp_path, capsys):
    """A --run-dir holding the user's files (even one named config.json) is refused with a
    one-line error, exit 2, before anything is written in it; a run directory made before
    folders carried a mark (its config.json is a run's) is still resumed."""
    import os

    from saliency_kd.artifact import DIR_MARK

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"mine": 1}')
    raw = tiny_config(student_world, mine)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    for dry in ([], ["--dry-run"]):  # a plan refuses the folder the run would refuse
        assert main(["run", str(cfg_path), *dry]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert f"'run_dir': {mine} is a folder with files in it" in err and "--run-dir" in err
        assert "--overwrite" not in err  # run has no such flag
        assert os.listdir(mine) == ["config.json"]
    assert (mine / "config.json").read_text() == '{"mine": 1}'
    (mine / "config.json").unlink()
    old_run = json.loads(parse_config(raw).model_dump_json())
    old_run["a_setting_since_removed"] = 1  # an older version's run directory
    (mine / "config.json").write_text(json.dumps(old_run))
    raw["teacher"].pop("finetune")
    raw["attribution"]["methods"] = ["saliency"]
    raw["students"].update(modes=["standard"], seeds=[0])
    run_pipeline(parse_config(raw), progress=False)
    assert (mine / DIR_MARK).exists() and (mine / "results.json").exists()


def test_stages_follow_the_content_of_the_data_not_its_path(student_world, tmp_path):
    """Issue 24: an identical copy of the data elsewhere re-uses every stage; a test file
    edited in place re-runs the stages that read it (teacher-eval, evaluate, report) and only
    those; an edited train file re-runs attribution and training as well."""
    import shutil

    data = tmp_path / "dss"
    shutil.copytree(student_world["dss"], data)
    raw = tiny_config(student_world, tmp_path / "run")
    raw["teacher"].pop("finetune")
    raw["attribution"]["methods"] = ["saliency"]
    raw["students"].update(modes=["standard", "rationale"], seeds=[0])
    raw["data"].update(data_dir=str(data), test_limit=8)
    run_pipeline(parse_config(raw), progress=False)
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    raw["data"]["data_dir"] = str(copy)
    assert run_pipeline(parse_config(raw), progress=False)["stages_ran"] == []
    test = copy / "cqa" / "cqa_test.json"
    test.write_text(test.read_text().replace("park", "zoo"))
    ran = run_pipeline(parse_config(raw), progress=False)["stages_ran"]
    assert {s.split("-")[0] for s in ran} == {"teacher", "evaluate", "report"}, ran
    train_file = copy / "cqa" / "cqa_train.json"
    train_file.write_text(train_file.read_text().replace("park", "zoo"))
    ran = run_pipeline(parse_config(raw), progress=False)["stages_ran"]
    assert {"attribute-saliency", "train-standard-s0", "train-rationale-s0"} <= set(ran), ran
    assert "teacher-eval" not in ran


def test_a_size_larger_than_the_train_split_names_the_setting(student_world, tmp_path):
    raw = tiny_config(student_world, tmp_path / "big")
    raw["data"].pop("train_limit")
    raw["data"]["train_sizes"] = [5000]
    with pytest.raises(ConfigError, match="data.train_sizes.*5000 training examples"):
        run_pipeline(parse_config(raw), progress=False)


# ---- issue 25: run --dry-run ------------------------------------------------------------------
def _paper_configs():
    from pathlib import Path

    return sorted((Path(__file__).resolve().parents[2] / "src" / "saliency_kd" / "configs" /
                   "paper").glob("*.yaml"))


@pytest.mark.parametrize("path", _paper_configs(), ids=lambda p: p.stem)
def test_dry_run_of_a_paper_config_places_training_and_evaluation_on_cuda(path, tmp_path,
                                                                          capsys, monkeypatch):
    from saliency_kd.pipeline.run import plan_pipeline

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the plan reads no data: works offline
    run_dir = tmp_path / "run"
    assert main(["run", str(path), "--dry-run", "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "train-standard-s0" in out and "evaluate-standard-s0" in out and "will run" in out
    plan = plan_pipeline(load_config(path, {"run_dir": str(run_dir)}))
    by_kind = {}
    for stage in plan:
        by_kind.setdefault(stage.label.split("-")[0], []).append(stage)
    assert by_kind["train"] and by_kind["evaluate"]
    for stage in by_kind["train"] + by_kind["evaluate"] + by_kind["attribute"]:
        assert stage.settings["device"] == "cuda", stage
        assert stage.dir is not None and stage.dir.parent == run_dir and not stage.cached
    assert not run_dir.exists()  # nothing written


def test_dry_run_with_device_auto_resolves_to_this_machine(tmp_path):
    import torch

    from saliency_kd.pipeline.run import plan_pipeline

    raw = yaml.safe_load(_paper_configs()[0].read_text())
    raw["teacher"]["device"] = raw["students"]["device"] = "auto"
    raw["run_dir"] = str(tmp_path / "run")
    here = "cuda" if torch.cuda.is_available() else "cpu"
    plan = plan_pipeline(parse_config(raw))
    assert {s.settings["device"] for s in plan if "device" in s.settings} == {here}


def test_dry_run_after_a_run_says_cached_and_names_the_same_directories(student_world, tmp_path,
                                                                        capsys):
    from saliency_kd.pipeline.run import plan_pipeline

    raw = tiny_config(student_world, tmp_path / "run")
    raw["attribution"].update(methods=["saliency"], controls=["random"])
    raw["students"].update(modes=["standard", "rationale"], seeds=[0])
    before = plan_pipeline(parse_config(raw))
    assert before and not any(s.cached for s in before)
    result = run_pipeline(parse_config(raw), progress=False)
    after = plan_pipeline(parse_config(raw))
    assert [s.label for s in after] == [s.label for s in before]
    # the plan names the real directories; the report's hash holds the teacher's accuracy,
    # which only a run knows
    assert [s.dir for s in after][:-1] == [s.dir for s in before][:-1]
    assert before[-1].label == "report" and before[-1].dir is None and after[-1].dir
    assert all(s.cached for s in after)
    assert len(result["stages_ran"]) == len(after)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "will run" not in out and out.count("cached") == len(after)
    raw["students"]["lr"] = 5e-4  # a changed setting: only the students and the report re-run
    changed = {s.label for s in plan_pipeline(parse_config(raw)) if not s.cached}
    assert {label.split("-")[0] for label in changed} == {"train", "evaluate", "report"}


def test_study_sizes_on_hub_data_are_decided_at_run_time_in_a_plan(tmp_path, capsys):
    # A plan fetches nothing from the Hub, so which examples make n is the run's to find.
    from saliency_kd.pipeline.run import plan_pipeline

    raw = yaml.safe_load(_paper_configs()[0].read_text())
    raw["data"]["train_sizes"] = [100, 200]
    raw["run_dir"] = str(tmp_path / "run")
    plan = plan_pipeline(parse_config(raw))
    assert plan[0].label == "teacher-eval" and plan[0].dir is not None  # no size needed
    assert any(s.label.startswith("train-") and s.dir is None and s.cached is None
               for s in plan)


def test_a_plan_of_a_study_on_local_data_names_every_directory(student_world, tmp_path):
    # Local files (and the generated demo) are read by a plan: the sizes' limits, and so every
    # stage directory, are known; only the tuned rows' choice waits for their grid on dev.
    from saliency_kd.pipeline.run import plan_pipeline

    raw = tiny_config(student_world, tmp_path / "run")
    raw["data"].pop("train_limit", None)
    raw["data"]["train_sizes"] = [4, 8]
    raw["students"].update(modes=["standard"], seeds=[0, 1])
    plan = plan_pipeline(parse_config(raw))
    trains = [s for s in plan if s.label.startswith("train-")]
    assert {s.label for s in trains} == {f"train-standard-n{n}-s{k}" for n in (4, 8)
                                         for k in (0, 1)}
    assert all(s.dir is not None and s.cached is False for s in trains)
    assert not (tmp_path / "run").exists()  # nothing written


def test_a_group_trains_only_at_its_own_sizes_with_the_hashes_of_the_whole_study(
        student_world, tmp_path):
    # A row added to a finished study at some sizes only (a group's train_sizes) names the same
    # stages the whole study would: it finds them cached, and a later whole run finds its own.
    from saliency_kd.pipeline.run import plan_pipeline

    raw = tiny_config(student_world, tmp_path / "run")
    raw["data"].pop("train_limit", None)
    raw["data"]["train_sizes"] = [4, 8]
    whole = {**raw["students"], "modes": ["standard", "kd"], "seeds": [0]}
    raw["students"] = whole
    every = {s.label: s.dir for s in plan_pipeline(parse_config(raw))
             if s.label.startswith("train-")}
    assert set(every) == {f"train-{m}-n{n}-s0" for m in ("standard", "kd") for n in (4, 8)}
    raw["students"] = [{**whole, "name": "std", "modes": ["standard"]},
                       {**whole, "name": "kd-at-8", "modes": ["kd"], "train_sizes": [8]}]
    # The labels carry the group's name; the directories (hash of what is learnt) do not.
    some = {s.dir for s in plan_pipeline(parse_config(raw)) if s.label.startswith("train-")}
    assert some == set(every.values()) - {every["train-kd-n4-s0"]}
    raw["students"][1]["train_sizes"] = [6]
    with pytest.raises(ConfigError, match="students.1.train_sizes"):
        parse_config(raw)


def test_a_generic_file_field_map_is_settable_from_yaml(tmp_path):
    from saliency_kd.pipeline.students import spec_maker

    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a", "y": "b"}\n')
    raw = {"run_dir": str(tmp_path / "run"), "data": {
        "task": "generic", "file": str(data), "fields": {"input_field": "text",
                                                          "label_field": "y"}}}
    spec = spec_maker(parse_config(raw))("train", None)
    assert (spec.fields.input_field, spec.fields.label_field) == ("text", "y")
    raw["data"]["fields"]["colour"] = "x"
    with pytest.raises(ConfigError, match="'data.fields.colour': unknown key"):
        parse_config(raw)


def test_a_misspelt_device_or_a_channel_the_family_lacks_fails_at_load(tmp_path):
    # Found when the config is read, not after hours of teacher stages.
    base = {"run_dir": str(tmp_path / "run")}
    with pytest.raises(ConfigError, match="'students.device'"):
        parse_config({**base, "students": {"device": "gpu"}})
    with pytest.raises(ConfigError, match="'teacher.device'"):
        parse_config({**base, "teacher": {"device": "cuda0"}})
    for ok in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        parse_config({**base, "students": {"device": ok}})
    with pytest.raises(ConfigError, match="not a channel of causal students"):
        parse_config({**base, "students": {"family": "causal", "channels": ["attribution"]}})


def test_a_run_refuses_a_channel_its_student_lacks_before_any_stage(student_world, tmp_path):
    raw = tiny_config(student_world, tmp_path / "run")
    raw["students"].update(modes=["standard", "rationale"], channels=["generate"])
    with pytest.raises(ConfigError, match="'students.channels'.*not encoder"):
        run_pipeline(parse_config(raw), progress=False)
    assert not [p for p in (tmp_path / "run").iterdir() if p.is_dir()]  # no stage began


def test_a_damaged_file_in_a_finished_stage_is_named_with_its_line(student_world, tmp_path,
                                                                   capsys):
    """A stage's output damaged after it finished (a disk error, a hand edit) stops the next
    run with one line naming file and line, exit 2, the file as it was."""
    raw = tiny_config(student_world, tmp_path / "run")
    raw["teacher"].pop("finetune")
    raw["attribution"]["methods"] = ["saliency"]
    raw["students"].update(modes=["standard"], seeds=[0])
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(cfg_path)]) == 0
    [summary] = (tmp_path / "run").glob("train-*/train_summary.json")
    damaged = summary.read_text().replace(":", "", 1)
    summary.write_text(damaged)
    capsys.readouterr()
    assert main(["run", str(cfg_path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {summary}:") and "invalid JSON" in line
    assert summary.read_text() == damaged
