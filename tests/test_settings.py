"""Settings are defined once (settings.py): for every verb with a stage dataclass, its CLI flags,
the dataclass's defaults and the `run` YAML schema agree, and every setting is reachable from the
command line and from YAML, but for the listed exceptions."""

from __future__ import annotations

import argparse

import pytest

from saliency_kd.attribution.attribute import AttributeConfig
from saliency_kd.attribution.derive import DeriveConfig
from saliency_kd.attribution.faithfulness import FaithfulnessConfig
from saliency_kd.attribution.rationales import RationaleConfig
from saliency_kd.cli import build_parser
from saliency_kd.data import DataSpec
from saliency_kd.pipeline import config as yaml_cfg
from saliency_kd.settings import resolve_device, settings
from saliency_kd.student import TrainConfig
from saliency_kd.teacher.evaluation import TeacherEvalConfig
from saliency_kd.teacher.finetune import FinetuneConfig
from saliency_kd.teacher.model import TeacherConfig

# Settings the run decides itself, so YAML has no key for them: where outputs go and whether to
# replace them (`out`, `overwrite`), and the input file a stage reads (`rationales`,
# `source_file`: the previous stage's output).
RUN_DECIDES = {"out", "overwrite", "rationales", "source_file"}
# The data: the run's `data` section describes it once for every stage; which split and how many
# examples each stage reads is the run's to say (train for training stages, test_split for
# evaluation), from these keys.
DATA = {"task": "task", "data_dir": "data_dir", "file": "file", "limit": "train_limit",
        "split": "test_split", "test_size": "test_size", "draw": "resample",
        **{k: k for k in ("train_file", "dev_file", "test_file")},
        "unlabeled": "unlabeled", "unlabeled_limit": "unlabeled_limit",
        # teacher_part: the run sets it on the teacher's stages from data.teacher_examples
        "teacher_examples": "teacher_examples", "teacher_part": "teacher_examples",
        **{s.name: f"fields.{s.name}" for s in settings(DataSpec) if s.path[0] == "fields"}}
# What a study varies: one value per verb call, a list in YAML.
AS_LIST = {"method": "attribution.methods", "mode": "students.modes",
           "channel": "students.channels", "seed": "students.seeds", "source":
           "attribution.controls"}

TEACHER = ("teacher", yaml_cfg.TeacherCfg)
# verb -> (dataclass, {top-level field of the dataclass or None: (YAML section, model)},
#          {setting: its other YAML name}, exceptions besides RUN_DECIDES)
VERBS = {
    "teacher-finetune": (FinetuneConfig, {None: ("teacher.finetune", yaml_cfg.FinetuneCfg),
                                          "teacher": TEACHER}, {}, set()),
    "teacher-eval": (TeacherEvalConfig, {None: ("teacher_eval", yaml_cfg.TeacherEvalCfg),
                                         "teacher": TEACHER}, {}, set()),
    "attribute": (AttributeConfig, {None: ("attribution", yaml_cfg.AttributionCfg),
                                    "teacher": TEACHER}, {}, {"method"}),
    "train": (TrainConfig, {None: ("students", yaml_cfg.StudentsCfg)}, {},
              {"mode", "channel", "seed"}),
    # controls are `rationales` run by `run`: their selection is the attribution's, their seed
    # attribution.control_seed, their source one of attribution.controls
    "rationales": (DeriveConfig, {None: ("attribution", yaml_cfg.AttributionCfg)},
                   {"seed": "control_seed"}, {"source"}),
    # the files measured are the run's (faithfulness.sources name them)
    "faithfulness": (FaithfulnessConfig, {None: ("faithfulness", yaml_cfg.FaithfulnessCfg),
                                          "teacher": TEACHER}, {}, set()),
}


def _subparsers():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def _norm(value):
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("verb", list(VERBS))
def test_cli_flags_match_the_dataclass(verb):
    cls = VERBS[verb][0]
    # (a setting's former flag shares its dest, unlisted in -h: tests/test_loop_config.py)
    actions = {a.dest: a for a in _subparsers()[verb]._actions if a.help != argparse.SUPPRESS}
    for s in settings(cls):
        assert s.name in actions, f"{verb}: no flag for {s.name}"
        action = actions[s.name]
        assert s.flag in action.option_strings
        assert action.help, f"{verb} {s.flag} has no help"
        if action.required:
            continue
        expected = "dev" if (verb, s.name) == ("teacher-eval", "split") else s.default
        assert _norm(action.default) == _norm(expected), f"{verb} {s.flag}"
    extra = set(actions) - {s.name for s in settings(cls)} - {"help"}
    assert not extra, f"{verb}: flags without a setting: {extra}"


@pytest.mark.parametrize("verb", [v for v in VERBS if VERBS[v][3] is not None])
def test_yaml_schema_matches_the_dataclass(verb):
    cls, sections, renames, exceptions = VERBS[verb]
    for s in settings(cls):
        if s.path[0] == "data":
            model, key = yaml_cfg.DataCfg, DATA[s.name]
            if key.startswith("fields."):
                model, key = yaml_cfg.FieldsCfg, key.removeprefix("fields.")
                assert model.model_fields[key].default == s.default
            assert key in model.model_fields, f"{verb}: {s.name} has no YAML key data.{key}"
            continue
        if s.name in RUN_DECIDES or s.name in exceptions:
            assert s.name in RUN_DECIDES or s.name in AS_LIST
            continue
        where, model = sections.get(s.path[0], sections[None])
        key = renames.get(s.name, s.name)
        assert key in model.model_fields, f"{verb}: {s.name} has no YAML key {where}.{key}"
        assert _norm(model.model_fields[key].default) == _norm(s.default), f"{where}.{key}"
        if key == s.name:  # a renamed key says what it is in its own words
            assert model.model_fields[key].description == (s.help or None)


def test_yaml_keys_of_a_section_are_settings_or_listed():
    # every key of the stage sections comes from a dataclass, but the documented YAML-only ones
    yaml_only = {"teacher.finetune": {"train_limit"}, "teacher": {"finetune"},
                 "attribution": {"methods", "controls", "control_seed", "derived"},
                 "students": {"modes", "channels", "sources", "tune", "seeds", "name",
                              "dev_only", "train_sizes", "eval_batch_size", "pool_size"},
                 "teacher_eval": {"zero_shot", "dev_limit", "full_schedule"},
                 "faithfulness": {"sources"},  # limit: the data's, first N of train
                 # a re-selection: how words are chosen, from which method's scores
                 "attribution.derived": {"name", "from_", "limit"}}
    models = {"teacher.finetune": (yaml_cfg.FinetuneCfg, FinetuneConfig),
              "teacher": (yaml_cfg.TeacherCfg, TeacherConfig),
              "attribution": (yaml_cfg.AttributionCfg, AttributeConfig),
              "students": (yaml_cfg.StudentsCfg, TrainConfig),
              "teacher_eval": (yaml_cfg.TeacherEvalCfg, TeacherEvalConfig),
              "faithfulness": (yaml_cfg.FaithfulnessCfg, FaithfulnessConfig),
              "attribution.derived": (yaml_cfg.DerivedCfg, RationaleConfig)}
    for where, (model, cls) in models.items():
        names = {s.name for s in settings(cls)}
        assert set(model.model_fields) - names == yaml_only[where], where


def test_finetune_defaults_are_the_dataclass_ones():
    # the YAML defaults had drifted (lr 1e-4, batch 8, eval_every 25, eval_limit 60)
    ft = yaml_cfg.FinetuneCfg()
    d = FinetuneConfig()
    assert (ft.lr, ft.batch_size, ft.eval_every, ft.dev_limit) == (
        d.lr, d.batch_size, d.eval_every, d.dev_limit) == (5e-5, 16, 50, 150)


def test_device_auto_resolves_once_for_teacher_and_students(monkeypatch):
    import torch

    here = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == here and resolve_device("cuda:1") == "cuda:1"
    assert TeacherConfig().device == here and TrainConfig().device == here
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert TeacherConfig(device="auto").device == "cuda" == TrainConfig().device
    assert TrainConfig(device="cpu").device == "cpu"


def test_constraints_are_checked_on_the_command_line_and_by_validate(capsys):
    from saliency_kd.errors import ConfigError

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--out", "x", "--lr", "0"])
    assert "--lr: Input should be greater than 0" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="'grad_accum'"):
        TrainConfig(grad_accum=0).validate()
    with pytest.raises(ConfigError, match="'dev_limit'"):
        FinetuneConfig(dev_limit=-1).validate()


def test_negated_and_renamed_flags_build_the_dataclass():
    from saliency_kd.settings import build

    a = build_parser().parse_args(["attribute", "--out", "o", "--teacher", "t", "--sum-score",
                                   "--keep-stopwords", "--top-k", "3", "--ig-steps", "4"])
    cfg = build(AttributeConfig, a)
    assert cfg.teacher.name == "t" and cfg.teacher.length_norm is False
    assert cfg.rationale.drop_stopwords is False and cfg.rationale.drop_punctuation is True
    assert cfg.rationale.top_k == 3 and cfg.options.ig_steps == 4 and cfg.out == "o"
    t = build(TrainConfig, build_parser().parse_args(
        ["train", "--out", "o", "--alpha", "0.25", "--channel-temperature", "2",
         "--attention-heads", "1", "2", "--device", "cpu"]))
    assert t.weights.alpha == 0.25 and t.channel_options.temperature == 2.0
    assert t.channel_options.heads == [1, 2] and t.device == "cpu"
    f = build(FaithfulnessConfig, build_parser().parse_args(
        ["faithfulness", "--rationales", "r", "--out", "o", "--bins", "0.1", "0.5"]))
    assert f.bins == (0.1, 0.5) and f.rationales == ["r"]


def test_quiet_turns_progress_off():
    assert build_parser().parse_args(["-q", "methods"]).quiet


def test_resume_and_hash_lists_come_from_each_settings_declared_nature():
    """What a setting is is declared once on its field (settings.Nature): a resumed run may
    change it, and a stage's hash leaves it out, exactly as its nature says, verb by verb."""
    import importlib

    from saliency_kd.pipeline.students import hashed, unhashed
    from saliency_kd.settings import OUTPUT, PINNED, PRECISION, RUN, SPEED

    # (the packages export functions of these modules' names)
    attribute, train, finetune = (importlib.import_module(f"saliency_kd.{m}") for m in (
        "attribution.attribute", "student.train", "teacher.finetune"))

    for cls, listed in ((FinetuneConfig, finetune.RESUME_MAY_CHANGE),
                        (TrainConfig, train.RESUME_MAY_CHANGE),
                        (AttributeConfig, attribute.RESUME_MAY_CHANGE)):
        assert set(listed) == {".".join(s.path) for s in settings(cls) if s.nature.may_change}
    natures = {s.name: s.nature for s in settings(TrainConfig)}
    assert natures["device"] is SPEED and natures["checkpoint_every"] is RUN
    assert natures["fsdp"] is PINNED and natures["bf16"] is PRECISION
    # Each name one meaning: the teacher's stop_after_steps cuts its run without changing the
    # schedule (a resume may move it), a student's max_steps is where its schedule ends.
    assert "stop_after_steps" in finetune.RESUME_MAY_CHANGE
    assert "max_steps" not in train.RESUME_MAY_CHANGE and natures["max_steps"] is OUTPUT
    assert "teacher.device" in finetune.RESUME_MAY_CHANGE
    assert "teacher.trust_remote_code" not in finetune.RESUME_MAY_CHANGE  # PINNED

    for section, cls in ((yaml_cfg.StudentsCfg, TrainConfig),
                         (yaml_cfg.AttributionCfg, AttributeConfig),
                         (yaml_cfg.TeacherCfg, TeacherConfig)):
        where = set(unhashed(section, cls))
        for s in settings(cls):
            if s.name in section.model_fields:
                assert (s.name in where) == (not s.nature.hashed), (cls.__name__, s.name)
        assert {k for k in section.model_fields if k not in {s.name for s in settings(cls)}} \
            <= where  # the keys a section adds are hashed by the stages that read them
    base = yaml_cfg.StudentsCfg()
    where = unhashed(yaml_cfg.StudentsCfg, TrainConfig)
    assert hashed(base.model_copy(update={"grad_accum": 4, "device": "cpu"}), where=where) == {}
    assert hashed(base.model_copy(update={"bf16": True}), where=where) == {"bf16": True}

    # A file's sidecar: a SPEED or RUN setting is left out or ignored, a PINNED one is kept.
    sidecar = AttributeConfig(out="x", data=DataSpec(data_dir="/nonexistent")).settings()
    assert "batch_size" not in sidecar and "out" not in sidecar
    assert "device" not in sidecar["teacher"] and "trust_remote_code" in sidecar["teacher"]
    assert set(attribute.SIDECAR_IGNORES) == {
        ".".join(s.path) for s in settings(AttributeConfig)
        if s.path[0] == "options" and s.nature.may_change}
