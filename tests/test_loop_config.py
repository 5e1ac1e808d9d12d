"""Teacher fine-tuning and student training share one loop config (`loop_config.LoopConfig`):
each shared name has one meaning, docstring, constraint, nature and flag in both verbs. The
names the two once spelt differently (the teacher's `eval_limit`, `--train-embeddings` and its
`max_steps`, which cut the run) are still read, with a notice naming the new one, as they
were: same settings, same stage hashes, and a checkpoint recorded under them resumes."""

from __future__ import annotations

import argparse
import json
import logging
import typing
from pathlib import Path

import pytest
import torch
import yaml
from conftest import make_teacher

from saliency_kd.cli import build_parser
from saliency_kd.data import DataSpec
from saliency_kd.errors import ConfigError
from saliency_kd.loop_config import LoopConfig
from saliency_kd.pipeline.config import parse_config
from saliency_kd.pipeline.run import plan_pipeline
from saliency_kd.settings import RUN, _docstrings, build, settings
from saliency_kd.student import TrainConfig
from saliency_kd.student.train import loop_settings
from saliency_kd.teacher.finetune import FinetuneConfig, finetune

SHARED = ("lr", "batch_size", "epochs", "eval_every", "dev_limit", "checkpoint_every",
          "freeze_embeddings", "seed", "overwrite")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _flags(verb: str) -> dict[str, list[str]]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a.option_strings for a in sub.choices[verb]._actions
            if a.help != argparse.SUPPRESS}


def test_both_configs_take_the_loop_settings_from_the_one_shared_class():
    assert tuple(s.name for s in settings(LoopConfig)) == SHARED
    base = {s.name: s for s in settings(LoopConfig)}
    base_types = typing.get_type_hints(LoopConfig, include_extras=True)
    teacher, student = _flags("teacher-finetune"), _flags("train")
    for cls in (FinetuneConfig, TrainConfig):
        assert issubclass(cls, LoopConfig)
        mine = {s.name: s for s in settings(cls)}
        types = typing.get_type_hints(cls, include_extras=True)
        for name, s in base.items():
            assert mine[name].help == s.help != "", (cls.__name__, name)  # one docstring
            assert mine[name].meta == s.meta and mine[name].nature is s.nature
            assert types[name] == base_types[name], (cls.__name__, name)  # one constraint
        # a verb restates a shared setting only for another default, never its docstring
        assert not set(_docstrings(cls)) & set(SHARED), cls.__name__
    for name in SHARED:  # one spelling on both command lines
        assert teacher[name] == student[name], name
    assert teacher["freeze_embeddings"] == ["--freeze-embeddings", "--no-freeze-embeddings"]


def test_each_verb_starts_from_its_own_defaults():
    t, s = FinetuneConfig(), TrainConfig()
    assert (t.epochs, t.eval_every, t.dev_limit, t.checkpoint_every, t.freeze_embeddings) == (
        1.0, 50, 150, 25, True)
    assert (s.epochs, s.eval_every, s.dev_limit, s.checkpoint_every, s.freeze_embeddings) == (
        3.0, None, 500, 50, False)
    assert "On by default in teacher-finetune" in {x.name: x for x in settings(LoopConfig)}[
        "freeze_embeddings"].help
    parse = build_parser().parse_args
    assert build(FinetuneConfig, parse(["teacher-finetune", "--out", "o"])).freeze_embeddings
    assert not build(FinetuneConfig, parse(["teacher-finetune", "--out", "o",
                                            "--no-freeze-embeddings"])).freeze_embeddings
    assert build(TrainConfig, parse(["train", "--out", "o", "--freeze-embeddings"])
                 ).freeze_embeddings


def test_max_steps_ends_a_students_schedule_and_the_teacher_cuts_with_stop_after_steps():
    """One meaning: `max_steps` is where a student's schedule ends (hashed, kept on resume);
    the teacher has no such setting, its `stop_after_steps` (RUN) cuts a run whose schedule
    still spans `epochs`."""
    loop = loop_settings(TrainConfig(epochs=3, batch_size=10, max_steps=7), 100, False)
    assert (loop.schedule_steps, loop.stop_after_steps) == (7, None)
    natures = {s.name: s.nature for s in settings(FinetuneConfig)}
    assert "max_steps" not in natures and natures["stop_after_steps"] is RUN
    assert {s.name: s.nature for s in settings(TrainConfig)}["max_steps"].hashed


def test_former_flags_read_as_the_new_ones_with_a_notice(caplog, capsys):
    parse = build_parser().parse_args
    new = parse(["teacher-finetune", "--out", "o", "--dev-limit", "7", "--stop-after-steps", "3",
                 "--no-freeze-embeddings"])
    with caplog.at_level(logging.WARNING, logger="saliency_kd.settings"):
        old = parse(["teacher-finetune", "--out", "o", "--eval-limit", "7", "--max-steps", "3",
                     "--train-embeddings"])
    cfg = build(FinetuneConfig, old)
    assert cfg == build(FinetuneConfig, new)
    assert (cfg.dev_limit, cfg.stop_after_steps, cfg.freeze_embeddings) == (7, 3, False)
    notices = [r.getMessage() for r in caplog.records]
    assert notices[0] == "--eval-limit is now --dev-limit (read as --dev-limit 7)"
    assert notices[1].startswith("--max-steps is now --stop-after-steps (read as "
                                 "--stop-after-steps 3); the run stops there, its schedule "
                                 "still spanning epochs, as before")
    assert notices[2] == "--train-embeddings is now --no-freeze-embeddings"
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "--eval-limit" not in sub.choices["teacher-finetune"].format_help()  # unlisted
    with pytest.raises(SystemExit):  # the setting's constraint holds under its former name
        parse(["teacher-finetune", "--out", "o", "--eval-limit", "-1"])
    with pytest.raises(SystemExit):  # a student never had it
        parse(["train", "--out", "o", "--eval-limit", "7"])
    assert "--eval-limit: Input should be greater than or equal to 0" in capsys.readouterr().err


def _run_config(finetune: dict) -> dict:
    return {"teacher": {"finetune": finetune}, "students": {"max_steps": 5}}


def test_former_yaml_keys_read_as_the_new_ones_with_a_notice(caplog):
    with caplog.at_level(logging.WARNING, logger="saliency_kd.settings"):
        old = parse_config(_run_config({"eval_limit": 30, "max_steps": 4}))
    assert [r.getMessage()[:78] for r in caplog.records] == [
        "teacher.finetune.eval_limit is now teacher.finetune.dev_limit (read as dev_lim",
        "teacher.finetune.max_steps is now teacher.finetune.stop_after_steps (read as s"]
    new = parse_config(_run_config({"dev_limit": 30, "stop_after_steps": 4}))
    assert old == new and old.teacher.finetune.stop_after_steps == 4
    assert old.groups[0].max_steps == 5  # a student's max_steps is no former name
    with pytest.raises(ConfigError, match="teacher.finetune.max_steps.*stop_after_steps, "
                                          "which is given too"):
        parse_config(_run_config({"max_steps": 4, "stop_after_steps": 4}))
    with pytest.raises(ConfigError, match="unknown key"):  # YAML keys were setting names
        parse_config(_run_config({"train_embeddings": True}))


def _formerly(raw: dict) -> dict:
    ft = raw["teacher"]["finetune"]
    ft["eval_limit"], ft["max_steps"] = ft.pop("dev_limit"), ft.pop("stop_after_steps")
    return raw


def test_renamed_teacher_settings_keep_the_stage_hashes(tmp_path):
    """The teacher's stages of the CQA reproduction are found where they were before the
    rename (directories planned at commit 0f57222, data on the Hub so that no local file is
    hashed), written with the new names and with the former ones."""
    raw = yaml.safe_load((CONFIGS / "reproduce" / "cqa.yaml").read_text())
    raw["data"]["data_dir"], raw["run_dir"] = "hub", str(tmp_path / "run")
    plans = []
    for version in (raw, _formerly(json.loads(json.dumps(raw)))):
        plan = plan_pipeline(parse_config(version))
        plans.append([(p.label, p.dir and p.dir.name) for p in plan])
    assert plans[0] == plans[1]
    assert plans[0][:1] == [("teacher-finetune", "teacher-finetune-541ddbbaf7")]
    assert ("teacher-finetune-full", "teacher-finetune-full-2da8d4de97") in plans[0]


def _cfg(dss_dir, out, **kw) -> FinetuneConfig:
    return FinetuneConfig(**{**dict(out=str(out), data=DataSpec("cqa", str(dss_dir), "train"),
                                    lr=3e-3, batch_size=8, epochs=3, eval_every=3, dev_limit=4,
                                    checkpoint_every=2, warmup_steps=1), **kw})


def _steps(out: Path) -> list[int]:
    return [r["step"] for r in map(json.loads, (out / "train_log.jsonl").read_text()
                                   .splitlines()) if "loss" in r]


def test_a_teacher_checkpoint_recorded_under_the_former_names_resumes(dss_dir, tmp_path):
    out = tmp_path / "ft"
    finetune(_cfg(dss_dir, out, stop_after_steps=2), teacher=make_teacher("gpt2"),
             progress=False)
    path = out / "checkpoint" / "state.pt"
    state = torch.load(path, weights_only=False)
    record = state["config"]  # as teacher-finetune recorded it before the rename
    record["eval_limit"], record["max_steps"] = record.pop("dev_limit"), \
        record.pop("stop_after_steps")
    torch.save(state, path)
    with pytest.raises(ConfigError, match="dev_limit was 4, now 3"):  # compared by new names
        finetune(_cfg(dss_dir, out, dev_limit=3), teacher=make_teacher("gpt2"), progress=False)
    finetune(_cfg(dss_dir, out, stop_after_steps=4), teacher=make_teacher("gpt2"),
             progress=False)
    assert _steps(out) == [1, 2, 3, 4]


def test_a_teacher_without_dev_examples_keeps_its_last_weights(dss_dir, tmp_path):
    """`dev_limit: 0` means for the teacher what it means for a student: no evaluation, the
    last weights kept (the teacher was scored on an empty dev set before)."""
    out = tmp_path / "ft"
    model = finetune(_cfg(dss_dir, out, dev_limit=0, stop_after_steps=3),
                     teacher=make_teacher("gpt2"), progress=False)
    logged = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert not any("dev_accuracy" in r for r in logged) and _steps(out) == [1, 2, 3]
    best = torch.load(out / "best" / "state.pt", weights_only=False)
    assert best == {"step": 3, "dev_accuracy": None} and (model / "model.safetensors").exists()
