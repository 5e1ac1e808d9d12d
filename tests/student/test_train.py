"""Student training on tiny in-memory-built models of each family (offline)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import load_bench

from saliency_kd.data import DataSpec
from saliency_kd.errors import ConfigError, DataError
from saliency_kd.student import LossWeights, TrainConfig, load_student, train
from saliency_kd.student.base import combine, parse_mode
from saliency_kd.student.items import build_items, load_rationale_file
from saliency_kd.student.train import build_student

FAMILIES = ["encoder", "seq2seq", "causal"]


def _cfg(world, fam, out, **kw):
    base = dict(out=str(out), data=DataSpec("cqa", str(world["dss"]), "train"),
                rationales=str(world["rationales"]), student=str(world[fam]), mode="rationale",
                lr=2e-3, batch_size=12, epochs=2, checkpoint_every=3, seed=0)
    base.update(kw)
    return TrainConfig(**base)


def _log(out):
    return [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_falls_and_model_loads_back(student_world, tmp_path, family):
    out = tmp_path / family
    # The encoder's tagging head (by name: its default channel is attention) names words.
    channel = "tag" if family == "encoder" else None
    model_dir = train(_cfg(student_world, family, out, epochs=4, channel=channel),
                      progress=False)
    log = _log(out)
    first = sum(r["loss"] for r in log[:3]) / 3
    last = sum(r["loss"] for r in log[-3:]) / 3
    assert last < first, (first, last)
    assert "loss_rationale" in log[0] and "loss_label" in log[0]
    student = load_student(model_dir)
    from saliency_kd.data import load_examples

    _, test = load_examples(DataSpec("cqa", str(student_world["dss"]), "test", limit=4))
    preds = student.predict(test)
    assert all(p["prediction"] in ex.choices for p, ex in zip(preds, test))
    assert all("rationale" in p for p in preds)  # a student that explains itself


@pytest.mark.parametrize("family", FAMILIES)
def test_rationale_gradient_reaches_the_shared_model(student_world, family):
    cfg = _cfg(student_world, family, "unused")
    from saliency_kd.data import load_examples

    task, exs = load_examples(DataSpec("cqa", str(student_world["dss"]), "train", limit=6))
    records = load_rationale_file(student_world["rationales"])
    items = build_items(task, exs, {"rationale"}, "gold", records, 2.0)
    student = build_student(cfg, task, {"explains": True})
    parts = student.losses(items, {"rationale"}, LossWeights(alpha=0.5))
    parts["rationale"].backward()
    shared = [p for n, p in student.module.named_parameters()
              if "embed" in n or "shared" in n or "wte" in n or "word_embeddings" in n]
    assert shared and any(p.grad is not None and p.grad.abs().sum() > 0 for p in shared)


@pytest.mark.parametrize("family", FAMILIES)
def test_alpha_one_equals_standard(student_world, tmp_path, family):
    a = train(_cfg(student_world, family, tmp_path / "a", mode="standard", epochs=1),
              progress=False)
    b = train(_cfg(student_world, family, tmp_path / "b", epochs=1,
                   weights=LossWeights(alpha=1.0)), progress=False)
    la, lb = _log(tmp_path / "a"), _log(tmp_path / "b")
    assert [r["loss"] for r in la] == [r["loss"] for r in lb]
    sa = load_student(a).module.state_dict()
    sb = load_student(b).module.state_dict()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0)


class Killed(Exception):
    pass


def _killed_at(monkeypatch, n: int, cfg: TrainConfig) -> None:
    """Train `cfg` until its n-th optimiser step raises, as a kill would."""
    real = torch.optim.AdamW.step
    calls = {"n": 0}

    def dying(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == n:
            raise Killed
        return real(self, *a, **kw)

    monkeypatch.setattr(torch.optim.AdamW, "step", dying)
    with pytest.raises(Killed):
        train(cfg, progress=False)
    monkeypatch.setattr(torch.optim.AdamW, "step", real)


# killed during step 8 (the last checkpoint at step 6), or during step 2 (before any)
@pytest.mark.parametrize("family,kill_at", [("encoder", 8), ("causal", 8), ("encoder", 2)])
def test_resume_after_kill_matches_uninterrupted(student_world, tmp_path, monkeypatch, family,
                                                 kill_at):
    full = train(_cfg(student_world, family, tmp_path / "full"), progress=False)
    _killed_at(monkeypatch, kill_at, _cfg(student_world, family, tmp_path / "cut"))
    resumed = train(_cfg(student_world, family, tmp_path / "cut"), progress=False)
    cut, whole = _log(tmp_path / "cut"), _log(tmp_path / "full")
    assert [r["step"] for r in cut] == [r["step"] for r in whole]
    assert [r["loss"] for r in cut] == pytest.approx([r["loss"] for r in whole], rel=1e-6)
    sa, sb = load_student(full).module.state_dict(), load_student(resumed).module.state_dict()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k])


def test_a_resume_may_change_how_not_what(student_world, tmp_path, monkeypatch):
    """Resumed after a kill, a run may save at another interval (the steps are the unbroken
    run's); a change to what a step computes is refused, naming the setting. max_steps is such a
    change: the learning-rate schedule decays to zero at it."""
    train(_cfg(student_world, "encoder", tmp_path / "full"), progress=False)
    whole = _log(tmp_path / "full")
    out = tmp_path / "cut"
    _killed_at(monkeypatch, 8, _cfg(student_world, "encoder", out))
    for change, field in ((dict(lr=1e-3), "lr"), (dict(max_steps=20), "max_steps")):
        with pytest.raises(ConfigError, match=f"'{field}'.*{field} was") as err:
            train(_cfg(student_world, "encoder", out, **change), progress=False)
        assert err.value.key == field
    train(_cfg(student_world, "encoder", out, checkpoint_every=5), progress=False)
    cut = _log(out)
    assert [r["step"] for r in cut] == [r["step"] for r in whole]
    assert [r["loss"] for r in cut] == pytest.approx([r["loss"] for r in whole], rel=1e-6)


@pytest.mark.parametrize("family,mode", [("encoder", m) for m in
                                         ("kd", "rationale+kd", "dss", "dss+kd")]
                         + [("seq2seq", "dss+kd"), ("causal", "dss+kd")])
def test_other_modes_train(student_world, tmp_path, family, mode):
    train(_cfg(student_world, family, tmp_path / mode, mode=mode, epochs=1), progress=False)
    log = _log(tmp_path / mode)
    if "kd" in mode:
        assert "loss_kd" in log[0]
    if "dss" in mode or "rationale" in mode:
        assert "loss_rationale" in log[0]


@pytest.mark.parametrize("mode", ["kd", "rationale+kd"])
def test_causal_kd_matches_full_sequence_passes(student_world, mode):
    """The causal student scores candidates on a shared prompt cache (and, without a rationale,
    reads the label loss off them): the same losses and gradients as running prompt+candidate
    as whole sequences, as it used to."""
    from saliency_kd.data import load_examples

    cfg = _cfg(student_world, "causal", "unused")
    task, exs = load_examples(DataSpec("cqa", str(student_world["dss"]), "train", limit=6))
    records = load_rationale_file(student_world["rationales"])
    modes = parse_mode(mode)
    items = build_items(task, exs, modes, "gold", records, 2.0)
    assert all(it.soft_targets for it in items)
    student = build_student(cfg, task, {"explains": "rationale" in modes})
    w = LossWeights(alpha=0.5, temperature=2.0)
    params = [p for p in student.module.parameters() if p.requires_grad]

    def grads(loss):
        return torch.autograd.grad(loss, params, allow_unused=True)

    parts = student.losses(items, modes, w)
    got = grads(combine(parts, modes, w))
    # The reference is the benchmark's: the old way, one full pass per candidate.
    ref = load_bench("student_speed").kd_full_passes(student, items, modes, w)
    for key in ref:
        assert parts[key].item() == pytest.approx(ref[key].item(), rel=1e-5), key
    want = grads(combine(ref, modes, w))
    for g, r in zip(got, want):
        assert (g is None) == (r is None)
        if g is not None:
            torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)


def test_teacher_labels(student_world, tmp_path):
    cfg = _cfg(student_world, "encoder", tmp_path / "t", labels="teacher", epochs=1)
    train(cfg, progress=False)
    from saliency_kd.training import split_dev

    task, train_ex, _ = split_dev(cfg.data, cfg.dev_limit)
    records = load_rationale_file(student_world["rationales"])
    items = build_items(task, train_ex, parse_mode(cfg.mode), cfg.labels, records, 2.0)
    # the student learnt the teacher's predictions, not the gold labels...
    assert [it.label for it in items] == [records[ex.id]["prediction"] for ex in train_ex]
    # ...which differ from gold somewhere, or this would test nothing
    assert any(it.label != ex.label for it, ex in zip(items, train_ex))
    summary = json.loads((tmp_path / "t" / "train_summary.json").read_text())
    assert summary["train_n"] == len(items) and summary["steps"] > 0


def test_combine_weights():
    parts = {"label": torch.tensor(2.0), "rationale": torch.tensor(4.0), "kd": torch.tensor(6.0)}
    w = LossWeights(alpha=0.25, kd_weight=0.5)
    assert combine(parts, parse_mode("standard"), w) == 2.0
    assert combine(parts, parse_mode("rationale"), w) == pytest.approx(0.25 * 2 + 0.75 * 4)
    assert combine(parts, parse_mode("kd"), w) == pytest.approx(4.0)
    assert combine(parts, parse_mode("rationale+kd"), w) == pytest.approx(0.25 * 4 + 0.75 * 4)


def test_mismatched_rationale_file_is_named_before_training(student_world, tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "zzz", "prediction": "x", "rationale_index": []}) + "\n")
    with pytest.raises(DataError, match="other.jsonl.*none of its ids"):
        train(_cfg(student_world, "encoder", tmp_path / "x", rationales=str(other)),
              progress=False)
    assert not (tmp_path / "x" / "train_log.jsonl").exists()
    partial = tmp_path / "partial.jsonl"
    lines = student_world["rationales"].read_text().splitlines()
    partial.write_text("\n".join(lines[:50]) + "\n")
    with pytest.raises(DataError, match="training examples have no record"):
        train(_cfg(student_world, "encoder", tmp_path / "y", rationales=str(partial)),
              progress=False)
    with pytest.raises(DataError, match="not found"):
        train(_cfg(student_world, "encoder", tmp_path / "z", rationales=str(tmp_path / "no")),
              progress=False)


@pytest.mark.parametrize("kw,key", [
    ({"mode": "magic"}, "mode"), ({"labels": "silver"}, "labels"), ({"family": "rnn"}, "family"),
    ({"weights": LossWeights(alpha=1.5)}, "alpha"), ({"lr": 0}, "lr"),
    ({"mode": "kd", "rationales": None}, "rationales"),
])
def test_bad_config_names_the_key(student_world, tmp_path, kw, key):
    with pytest.raises(ConfigError, match=key):
        train(_cfg(student_world, "encoder", tmp_path / "bad", **kw), progress=False)


@pytest.mark.parametrize("fam", ["seq2seq", "causal"])
def test_free_form_students_train_and_generate(student_world, tmp_path, fam):
    root = tmp_path / "dss"
    (root / "svamp" / "llm").mkdir(parents=True)
    rows = [{"input": f"john has {a} apples and 2 more . how many apples ?",
             "label": f"( {a} + 2 )"} for a in range(1, 10)] * 3
    (root / "svamp" / "svamp_train.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    outs = [f"john has {r['label'][2]} apples . The answer is {r['label']}.\n\nQ: x" for r in rows]
    (root / "svamp" / "llm" / "train_CoT_0.json").write_text(json.dumps(outs))
    cfg = TrainConfig(out=str(tmp_path / "run"), data=DataSpec("svamp", str(root), "train"),
                      student=str(student_world[fam]), mode="dss", lr=3e-3, batch_size=8,
                      epochs=2)
    model_dir = train(cfg, progress=False)
    from saliency_kd.data import load_examples

    _, exs = load_examples(DataSpec("svamp", str(root), "train", limit=3))
    preds = load_student(model_dir).predict(exs)
    assert all(isinstance(p["prediction"], str) and "rationale_text" in p for p in preds)
    with pytest.raises(ConfigError, match="free-form"):
        train(TrainConfig(out=str(tmp_path / "kd"), data=DataSpec("svamp", str(root), "train"),
                          student=str(student_world[fam]), mode="kd",
                          rationales=str(student_world["rationales"])), progress=False)


@pytest.mark.parametrize("mode", ["standard", "dss"])
def test_causal_student_stops_after_a_free_form_answer(student_world, tmp_path, mode):
    """Trained on the answer alone a causal student never learns where it ends; the answer's
    end token is part of the label loss in every mode, so greedy decoding stops there."""
    root = tmp_path / "dss"
    (root / "svamp" / "llm").mkdir(parents=True)
    rows = [{"input": "3 apples and 2 apples . how many apples ?", "label": "( 3 + 2 )"}] * 128
    (root / "svamp" / "svamp_train.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    outs = ["3 apples and 2 apples . The answer is ( 3 + 2 ).\n\nQ: x"] * len(rows)
    (root / "svamp" / "llm" / "train_CoT_0.json").write_text(json.dumps(outs))
    cfg = TrainConfig(out=str(tmp_path / "run"), data=DataSpec("svamp", str(root), "train"),
                      student=str(student_world["causal"]), mode=mode, lr=2e-2, batch_size=8,
                      epochs=4, dev_limit=0)
    from saliency_kd.data import load_examples

    _, exs = load_examples(DataSpec("svamp", str(root), "train", limit=1))
    assert load_student(train(cfg, progress=False)).predict(exs)[0]["prediction"] == "( 3 + 2 )"
    # No dev examples: no early stopping on a dev score of nothing; the last weights are kept.
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert summary["steps"] == 4 * 15 and not summary["stopped_early"]


def test_gradient_accumulation_follows_the_full_batch(student_world, tmp_path):
    from conftest import make_bert_dir
    from transformers import BertConfig

    path = make_bert_dir(tmp_path / "bert0")
    cfg = BertConfig.from_pretrained(path)
    cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0.0
    cfg.save_pretrained(path)
    common = dict(student=str(path), mode="standard", epochs=1)
    train(_cfg(student_world, "encoder", tmp_path / "one", **common), progress=False)
    train(_cfg(student_world, "encoder", tmp_path / "acc", grad_accum=3, **common), progress=False)
    one = [r["loss"] for r in _log(tmp_path / "one")]
    acc = [r["loss"] for r in _log(tmp_path / "acc")]
    assert acc == pytest.approx(one, rel=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_frozen_embeddings_stay_fixed_while_the_rest_trains(student_world, tmp_path, family):
    from saliency_kd.data import get_task

    def hf_model(student):
        return getattr(student, "model", None) or student.module.backbone

    start = hf_model(build_student(_cfg(student_world, family, tmp_path / "x"),
                                   get_task("cqa"), {}))
    model_dir = train(_cfg(student_world, family, tmp_path / family, epochs=1,
                           freeze_embeddings=True), progress=False)
    end = hf_model(load_student(model_dir))
    assert torch.equal(start.get_input_embeddings().weight, end.get_input_embeddings().weight)
    if start.get_output_embeddings() is not None:
        assert torch.equal(start.get_output_embeddings().weight,
                           end.get_output_embeddings().weight)
    moved = [n for (n, a), b in zip(start.named_parameters(), end.parameters())
             if not torch.equal(a, b)]
    assert moved  # the rest of the model did train


def test_resume_compares_input_content_not_paths(student_world, tmp_path, monkeypatch):
    """Issue 24, case 5: a rationale file changed in place since the checkpoint is refused,
    naming it, instead of 'resuming' into the old model; an identical copy of the data and the
    rationale file at other paths resumes."""
    import shutil

    rationales = tmp_path / "r.jsonl"
    shutil.copy(student_world["rationales"], rationales)
    out = tmp_path / "cut"
    cfg = _cfg(student_world, "encoder", out, rationales=str(rationales), epochs=1)
    _killed_at(monkeypatch, 5, cfg)
    original = rationales.read_bytes()
    lines = original.decode().splitlines()
    rec = json.loads(lines[0])
    rec["rationale_index"] = rec["rationale_index"][:1]
    rationales.write_text("\n".join([json.dumps(rec), *lines[1:]]) + "\n")
    with pytest.raises(ConfigError, match="rationales: sha256") as err:
        train(cfg, progress=False)
    assert err.value.key == "inputs" and "rationales: sha256" in str(err.value)
    assert "cqa/cqa_train.json" not in str(err.value)  # only the changed file is named
    rationales.write_bytes(original)
    copy_dss, copy_r = tmp_path / "elsewhere" / "dss", tmp_path / "elsewhere" / "r2.jsonl"
    shutil.copytree(student_world["dss"], copy_dss)
    shutil.copy(rationales, copy_r)
    moved = _cfg(student_world, "encoder", out, rationales=str(copy_r), epochs=1,
                 data=DataSpec("cqa", str(copy_dss), "train"))
    train(moved, progress=False)
    assert [r["step"] for r in _log(out)] == list(range(1, len(_log(out)) + 1))
    (copy_dss / "cqa" / "cqa_train.json").write_bytes(
        (copy_dss / "cqa" / "cqa_train.json").read_bytes() + b"\n")
    with pytest.raises(ConfigError, match="cqa/cqa_train.json: sha256"):
        train(moved, progress=False)


def test_no_training_examples_is_an_error_not_an_untrained_model(student_world, tmp_path):
    """Issue 24, case 4: 0 examples (an empty file, or --limit inside the dev carve-out) used to
    save a model trained for 0 steps and exit 0."""
    from saliency_kd.data import get_task

    with pytest.raises(ConfigError, match="no training examples"):
        build_items(get_task("cqa"), [], {"rationale"}, "gold", {}, 2.0)
    root = tmp_path / "dss"
    (root / "cqa").mkdir(parents=True)
    (root / "cqa" / "cqa_train.json").write_text("")
    with pytest.raises(DataError, match="cqa_train.json: no examples"):
        train(_cfg(student_world, "encoder", tmp_path / "x", data=DataSpec("cqa", str(root),
                                                                          "train")),
              progress=False)
    assert not (tmp_path / "x" / "model").exists()


def _quick(world, out, **kw):
    return _cfg(world, "encoder", out, mode="standard", rationales=None, max_steps=2,
                checkpoint_every=1, dev_limit=0, **kw)


def test_a_folder_train_did_not_make_is_refused_and_left_as_it_was(student_world, tmp_path):
    """Issue 24: `train --out` into a folder of the user's wrote into it and could delete its
    model/ subfolder. Now a non-empty folder without train's mark (or one another verb made)
    is refused, naming it, with nothing changed; --overwrite writes into it on purpose and
    leaves the user's other files alone; an empty folder is free."""
    from saliency_kd.artifact import DIR_MARK, mark_output_dir

    out = tmp_path / "mine"
    (out / "model").mkdir(parents=True)
    (out / "model" / "weights.bin").write_bytes(b"my weights")
    (out / "notes.txt").write_text("my notes\n")
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    with pytest.raises(ConfigError, match="mine is a folder with files in it.*not made by "
                                          "saliency-kd train") as err:
        train(_quick(student_world, out), progress=False)
    assert err.value.key == "out" and "--overwrite" in str(err.value)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert (out / "model" / "weights.bin").read_bytes() == b"my weights"
    other = tmp_path / "finetuned"
    mark_output_dir(other, "teacher-finetune")
    (other / "train_log.jsonl").write_text("")
    with pytest.raises(ConfigError, match="made by saliency-kd teacher-finetune"):
        train(_quick(student_world, other), progress=False)
    model_dir = train(_quick(student_world, out, overwrite=True), progress=False)
    assert (out / "notes.txt").read_text() == "my notes\n"
    assert not (model_dir / "weights.bin").exists() and (model_dir / "student.json").exists()
    assert json.loads((out / DIR_MARK).read_text()) == {"verb": "train"}
    train(_quick(student_world, out), progress=False)  # now train's own folder: it resumes
    empty = tmp_path / "empty"
    empty.mkdir()
    train(_quick(student_world, empty), progress=False)


def test_a_folder_train_made_before_marks_still_resumes(student_world, tmp_path, monkeypatch):
    """A folder with train's checkpoint but no mark (made by an earlier version) resumes."""
    from saliency_kd.artifact import DIR_MARK

    out = tmp_path / "old"
    _killed_at(monkeypatch, 5, _cfg(student_world, "encoder", out, epochs=1))
    (out / DIR_MARK).unlink()
    train(_cfg(student_world, "encoder", out, epochs=1), progress=False)
    assert [r["step"] for r in _log(out)] == list(range(1, len(_log(out)) + 1))


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_checkpoint_is_named_and_kept(student_world, tmp_path, damage):
    """Issue 24: a truncated or garbage checkpoint/state.pt gave a traceback on resume. Now a
    DataError names the file and the ways out; the file is left as it was."""
    from saliency_kd.errors import DataError

    out = tmp_path / "run"
    train(_quick(student_world, out), progress=False)
    state = out / "checkpoint" / "state.pt"
    data = state.read_bytes()
    state.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x00garbage" * 9)
    damaged = state.read_bytes()
    with pytest.raises(DataError, match="state.pt: damaged checkpoint.*--overwrite"):
        train(_quick(student_world, out), progress=False)
    assert state.read_bytes() == damaged
    train(_quick(student_world, out, overwrite=True), progress=False)
    assert [r["step"] for r in _log(out)] == [1, 2]


def test_a_finished_run_drops_its_optimizer_state_unless_asked_to_keep_it(dss_dir, tmp_path):
    from conftest import make_bert_dir

    bert = str(make_bert_dir(tmp_path / "bert"))
    base = dict(data=DataSpec("cqa", str(dss_dir), "train"), student=bert, lr=2e-3,
                batch_size=12, max_steps=3)
    out = tmp_path / "run"
    model = train(TrainConfig(out=str(out), **base), progress=False)
    assert [p.name for p in (out / "checkpoint").iterdir()] == ["state.pt"]
    assert "optimizer" not in torch.load(out / "checkpoint" / "state.pt", weights_only=False)
    before = (model / "heads.safetensors").read_bytes()
    log = (out / "train_log.jsonl").read_text()
    assert train(TrainConfig(out=str(out), **base), progress=False) == model  # nothing redone
    assert (model / "heads.safetensors").read_bytes() == before
    assert (out / "train_log.jsonl").read_text() == log
    kept = tmp_path / "kept"
    train(TrainConfig(out=str(kept), keep_checkpoint=True, **base), progress=False)
    assert "optimizer" in torch.load(kept / "checkpoint" / "state.pt", weights_only=False)


def test_the_progress_line_shows_no_best_before_a_dev_evaluation(dss_dir, tmp_path, capsys,
                                                                   monkeypatch):
    from conftest import make_bert_dir

    monkeypatch.setattr("saliency_kd.progress.INTERVAL", 0.0)  # a line at every step
    train(TrainConfig(out=str(tmp_path / "run"), data=DataSpec("cqa", str(dss_dir), "train"),
                      student=str(make_bert_dir(tmp_path / "bert")), lr=2e-3, batch_size=12,
                      max_steps=2, eval_every=2), progress=True)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "loss=" in line]
    assert len(lines) >= 2 and "best=" not in lines[0] and "best=-1" not in err


def _corrupt_gold(src, dst, start: int):
    """A copy of the DSS dir whose examples from `start` on have another gold answer."""
    import shutil

    shutil.copytree(src, dst)
    path = dst / "cqa" / "cqa_train.json"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    for r in rows[start:]:
        r["answer"] = next(c for c in r["choices"] if c != r["answer"])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dst


@pytest.mark.parametrize("mode", ["standard", "kd"])
def test_pool_gold_labels_never_reach_training(student_world, tmp_path, mode):
    """The pool's gold labels changed in the data file: the same items, the same losses."""
    from saliency_kd.training import split_dev

    bad = _corrupt_gold(student_world["dss"], tmp_path / "corrupt", start=40)
    logs, labels = [], []
    for name, root in (("good", student_world["dss"]), ("bad", bad)):
        data = DataSpec("cqa", str(root), "train", limit=40, unlabeled="train",
                        unlabeled_limit=50)
        cfg = _cfg(student_world, "encoder", tmp_path / name, data=data, mode=mode, epochs=1,
                   dev_limit=0)
        train(cfg, progress=False)
        task, train_ex, _ = split_dev(data, 0)
        assert sum(ex.pool for ex in train_ex) == 50
        assert all(ex.label == "" and not ex.explanations for ex in train_ex if ex.pool)
        items = build_items(task, train_ex, parse_mode(mode), "gold",
                            load_rationale_file(student_world["rationales"]), 2.0)
        labels.append([(it.example.id, it.label, it.soft_targets) for it in items])
        logs.append([r["loss"] for r in _log(tmp_path / name)])
        summary = json.loads((tmp_path / name / "train_summary.json").read_text())
        assert (summary["train_n"], summary["pool_n"]) == (len(items) - 50, 50)
    assert labels[0] == labels[1] and logs[0] == logs[1]
    records = load_rationale_file(student_world["rationales"])
    pool = [it for it in items if it.example.pool]
    assert [it.label for it in pool] == [records[it.example.id]["prediction"] for it in pool]


def test_pool_needs_the_teachers_file(student_world, tmp_path):
    data = DataSpec("cqa", str(student_world["dss"]), "train", limit=40, unlabeled="train")
    with pytest.raises(ConfigError, match="rationales"):
        _cfg(student_world, "encoder", tmp_path / "x", data=data, mode="standard",
             rationales=None).validate()
    with pytest.raises(ConfigError, match="unlabeled_limit"):
        _cfg(student_world, "encoder", tmp_path / "x", mode="standard",
             data=DataSpec("cqa", str(student_world["dss"]), "train", unlabeled_limit=5)
             ).validate()
    with pytest.raises(ConfigError, match="min_confidence"):
        _cfg(student_world, "encoder", tmp_path / "x", mode="standard",
             min_confidence=0.5).validate()
