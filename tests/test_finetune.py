"""Teacher fine-tuning on a tiny model: loss on answers falls, resume matches, LoRA exports."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_teacher

from saliency_kd.data import DataSpec
from saliency_kd.errors import ConfigError
from saliency_kd.teacher.finetune import FinetuneConfig, finetune
from saliency_kd.teacher.model import Teacher


def _cfg(dss_dir, out, **kw):
    base = dict(out=str(out), data=DataSpec("cqa", str(dss_dir), "train"), lr=3e-3, batch_size=8,
                epochs=3, eval_every=3, dev_limit=4, checkpoint_every=2, warmup_steps=1)
    base.update(kw)
    return FinetuneConfig(**base)


def _losses(out):
    return [r["loss"] for r in map(json.loads, (out / "train_log.jsonl").read_text().splitlines())
            if "loss" in r]


def test_loss_falls_and_model_reloads(dss_dir, tmp_path):
    out = tmp_path / "ft"
    model_dir = finetune(_cfg(dss_dir, out), teacher=make_teacher("llama"), progress=False)
    losses = _losses(out)
    assert len(losses) == 15 and sum(losses[-3:]) < sum(losses[:3])
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(model_dir)
    assert reloaded.config.model_type == "llama"


class Killed(Exception):
    pass


# killed during step 6 (the last checkpoint is at step 4), or during step 2 (before any)
@pytest.mark.parametrize("kill_at", [6, 2])
def test_resume_after_kill_matches_uninterrupted(dss_dir, tmp_path, monkeypatch, kill_at):
    full = finetune(_cfg(dss_dir, tmp_path / "a", epochs=2), teacher=make_teacher("gpt2"),
                    progress=False)
    out = tmp_path / "b"
    real_step = torch.optim.AdamW.step
    calls = {"n": 0}

    def dying_step(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == kill_at:
            raise Killed
        return real_step(self, *a, **kw)

    monkeypatch.setattr(torch.optim.AdamW, "step", dying_step)
    with pytest.raises(Killed):
        finetune(_cfg(dss_dir, out, epochs=2), teacher=make_teacher("gpt2"), progress=False)
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    resumed = finetune(_cfg(dss_dir, out, epochs=2), teacher=make_teacher("gpt2"),
                       progress=False)
    assert _losses(out) == pytest.approx(_losses(tmp_path / "a"), rel=1e-5)
    log = lambda d: [(r["step"], "loss" in r) for r in map(  # noqa: E731
        json.loads, (d / "train_log.jsonl").read_text().splitlines())]
    assert log(out) == log(tmp_path / "a")
    from safetensors.torch import load_file

    a, b = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_time_budget_stops_with_a_usable_model(dss_dir, tmp_path):
    out = tmp_path / "c"
    model_dir = finetune(_cfg(dss_dir, out, epochs=1, max_minutes=0.0),
                         teacher=make_teacher("gpt2"), progress=False)
    assert len(_losses(out)) == 1 and (model_dir / "model.safetensors").exists()


def test_step_budget_repeats_the_first_steps_of_the_full_schedule(dss_dir, tmp_path):
    """`stop_after_steps` cuts the run like a time budget does: the learning-rate schedule still
    spans all epochs, so the cut run's steps are the full run's first steps, loss for loss."""
    finetune(_cfg(dss_dir, tmp_path / "full", epochs=2), teacher=make_teacher("gpt2"),
             progress=False)
    cut = finetune(_cfg(dss_dir, tmp_path / "cut", epochs=2, stop_after_steps=4),
                   teacher=make_teacher("gpt2"), progress=False)
    assert _losses(tmp_path / "cut") == pytest.approx(_losses(tmp_path / "full")[:4], rel=1e-5)
    assert (cut / "model.safetensors").exists()
    logs = [json.loads(x) for x in (tmp_path / "cut" / "train_log.jsonl").read_text().splitlines()]
    assert logs[-1] == {**logs[-1], "step": 4} and "dev_accuracy" in logs[-1]


def test_a_cut_run_extends_to_the_full_schedule(dss_dir, tmp_path):
    """A run stopped by `stop_after_steps` resumes in the same directory under a larger budget (or
    none), and the steps it adds are the unbroken run's; a change to what a step computes is
    still refused."""
    finetune(_cfg(dss_dir, tmp_path / "full", epochs=2), teacher=make_teacher("gpt2"),
             progress=False)
    out = tmp_path / "cut"
    finetune(_cfg(dss_dir, out, epochs=2, stop_after_steps=4), teacher=make_teacher("gpt2"),
             progress=False)
    with pytest.raises(ConfigError, match="different configuration.*lr was"):
        finetune(_cfg(dss_dir, out, epochs=2, lr=1e-3), teacher=make_teacher("gpt2"),
                 progress=False)
    finetune(_cfg(dss_dir, out, epochs=2), teacher=make_teacher("gpt2"), progress=False)
    assert _losses(out) == pytest.approx(_losses(tmp_path / "full"), rel=1e-5)
    steps = [r["step"] for r in map(json.loads, (out / "train_log.jsonl").read_text().splitlines())
             if "loss" in r]
    assert steps == list(range(1, 11))  # no step run twice


def test_lora_merges_into_a_plain_model(dss_dir, tmp_path):
    teacher = make_teacher("llama")
    before = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    model_dir = finetune(_cfg(dss_dir, tmp_path / "lora", lora=True, lora_rank=4, epochs=1,
                              export="last"),
                         teacher=teacher, progress=False)
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(model_dir)
    after = reloaded.state_dict()
    assert set(after) == set(before)  # no lora_A / lora_B left behind
    assert any(not torch.equal(before[k], after[k]) for k in before)
    Teacher(reloaded, teacher.tokenizer)  # usable as a teacher again


@pytest.mark.parametrize("newline", [True, False], ids=["newline", "eos"])
def test_free_form_answers_learn_where_they_end(tmp_path, newline):
    """A fine-tuned teacher must stop after the equation: trained on the answer alone it runs
    on ("( 3 + 2 ) ) ) ...") and no generated answer is ever correct."""
    root = tmp_path / "dss"
    (root / "svamp").mkdir(parents=True)
    rows = [{"input": "3 apples and 2 apples . how many apples ?", "label": "( 3 + 2 )"}] * 32
    (root / "svamp" / "svamp_train.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    teacher = make_teacher("llama", newline=newline)
    cfg = FinetuneConfig(out=str(tmp_path / "ft"), data=DataSpec("svamp", str(root), "train"),
                         lr=1e-2, batch_size=8, epochs=6, eval_every=100, dev_limit=4,
                         checkpoint_every=100, warmup_steps=1)
    finetune(cfg, teacher=teacher, progress=False)
    from saliency_kd.data import load_examples

    task, exs = load_examples(DataSpec("svamp", str(root), "train", limit=1))
    prompts = [teacher.encode(task.prompt(ex)) for ex in exs]
    assert teacher.generate(prompts) == [ex.label for ex in exs]


def _cut_at(dss_dir, out, kill_at, monkeypatch, **kw):
    """Fine-tune into `out` until the `kill_at`-th optimiser step raises, as a kill would."""
    real_step = torch.optim.AdamW.step
    calls = {"n": 0}

    def dying_step(self, *a, **kwargs):
        calls["n"] += 1
        if calls["n"] == kill_at:
            raise Killed
        return real_step(self, *a, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", dying_step)
    with pytest.raises(Killed):
        finetune(_cfg(dss_dir, out, **kw), teacher=make_teacher("gpt2"), progress=False)
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)


def test_resume_compares_data_content_not_paths(dss_dir, tmp_path, monkeypatch):
    """Issue 24: the resume check compared the data's path, so a data file edited in place
    resumed into the old run. Now its sha256 is compared, as student training does: an edited
    file is refused, naming it; an identical copy at another path resumes."""
    import shutil

    out = tmp_path / "cut"
    _cut_at(dss_dir, out, 4, monkeypatch, epochs=2)  # the checkpoint of step 2 is kept
    train_file = dss_dir / "cqa" / "cqa_train.json"
    original = train_file.read_bytes()
    train_file.write_bytes(original + b"\n")
    with pytest.raises(ConfigError, match="cqa/cqa_train.json: sha256") as err:
        finetune(_cfg(dss_dir, out, epochs=2), teacher=make_teacher("gpt2"), progress=False)
    assert err.value.key == "inputs"
    train_file.write_bytes(original)
    copy = tmp_path / "elsewhere" / "dss"
    shutil.copytree(dss_dir, copy)
    finetune(_cfg(copy, out, epochs=2), teacher=make_teacher("gpt2"), progress=False)
    steps = [r["step"] for r in map(json.loads, (out / "train_log.jsonl").read_text().splitlines())
             if "loss" in r]
    assert steps == list(range(1, 11))


def test_a_folder_finetune_did_not_make_is_refused_and_left_as_it_was(dss_dir, tmp_path):
    """Issue 24: `teacher-finetune --out` wrote into any existing folder. A non-empty folder
    without its mark is refused, nothing changed; --overwrite writes into it on purpose."""
    from saliency_kd.artifact import mark_output_dir

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes\n")
    with pytest.raises(ConfigError, match="not made by saliency-kd teacher-finetune"):
        finetune(_cfg(dss_dir, out, stop_after_steps=1), teacher=make_teacher("gpt2"),
                 progress=False)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    student_dir = tmp_path / "student"
    mark_output_dir(student_dir, "train")
    (student_dir / "train_log.jsonl").write_text("")
    with pytest.raises(ConfigError, match="made by saliency-kd train"):
        finetune(_cfg(dss_dir, student_dir, stop_after_steps=1), teacher=make_teacher("gpt2"),
                 progress=False)
    finetune(_cfg(dss_dir, out, stop_after_steps=1, overwrite=True), teacher=make_teacher("gpt2"),
             progress=False)
    assert (out / "notes.txt").read_text() == "my notes\n" and (out / "model").is_dir()
    finetune(_cfg(dss_dir, out, stop_after_steps=2), teacher=make_teacher("gpt2"), progress=False)


@pytest.mark.parametrize("name", ["state.pt", "weights.safetensors"])
def test_a_damaged_checkpoint_is_named_and_kept(dss_dir, tmp_path, name):
    """Issue 24: a truncated checkpoint gave a traceback on resume; now a DataError names the
    file and the ways out, and the file is left as it was."""
    from saliency_kd.errors import DataError

    out = tmp_path / "ft"
    finetune(_cfg(dss_dir, out, stop_after_steps=2), teacher=make_teacher("gpt2"), progress=False)
    damaged = out / "checkpoint" / name
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(DataError, match=f"{name}: damaged checkpoint.*--overwrite"):
        finetune(_cfg(dss_dir, out, stop_after_steps=4), teacher=make_teacher("gpt2"),
                 progress=False)
    assert damaged.stat().st_size == 100
    finetune(_cfg(dss_dir, out, stop_after_steps=2, overwrite=True), teacher=make_teacher("gpt2"),
             progress=False)
    assert [r["step"] for r in map(json.loads, (out / "train_log.jsonl").read_text()
                                   .splitlines()) if "loss" in r] == [1, 2]


def test_a_checkpoint_from_before_the_shared_loop_resumes(dss_dir, tmp_path):
    """Checkpoints written by teacher fine-tuning's own loop had no `bad_evals` or `seconds`:
    they resume into the same steps as an unbroken run."""
    finetune(_cfg(dss_dir, tmp_path / "full", epochs=2), teacher=make_teacher("gpt2"),
             progress=False)
    out = tmp_path / "old"
    finetune(_cfg(dss_dir, out, epochs=2, stop_after_steps=4), teacher=make_teacher("gpt2"),
             progress=False)
    state = torch.load(out / "checkpoint" / "state.pt", weights_only=False)
    old = {k: v for k, v in state.items() if k not in ("bad_evals", "seconds", "cuda_rng")}
    assert set(old) == {"config", "optimizer", "scheduler", "step", "best", "rng"}
    torch.save(old, out / "checkpoint" / "state.pt")
    finetune(_cfg(dss_dir, out, epochs=2), teacher=make_teacher("gpt2"), progress=False)
    assert _losses(out) == pytest.approx(_losses(tmp_path / "full"), rel=1e-5)
