"""The `attention` channel on generating students (tiny in-memory causal LMs and T5): the loss
reads the attention it should (0 when the teacher's distribution is the student's own attention,
computed independently), the gradient reaches the first block, weight 0 equals `standard` bit for
bit, and a few steps train a student that loads back."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_model, make_tokenizer
from test_train import _cfg, _log

from saliency_kd.data import DataSpec, load_examples
from saliency_kd.student import LossWeights, load_student, train
from saliency_kd.student import causal as causal_mod
from saliency_kd.student import seq2seq as seq2seq_mod
from saliency_kd.student.causal import CausalStudent
from saliency_kd.student.channels import PairTargets, word_mass
from saliency_kd.student.items import build_items, load_rationale_file
from saliency_kd.student.seq2seq import PREDICT, Seq2SeqStudent

META = {"channel": "attention", "channel_options": {}}


def _items(world, n=5):
    task, exs = load_examples(DataSpec("cqa", str(world["dss"]), "train", limit=n))
    items = build_items(task, exs, {"rationale"}, "gold",
                        load_rationale_file(world["rationales"]), 2.0)
    return task, items


def _student(world, family, kind):
    task, items = _items(world)
    if family == "causal":
        tok = make_tokenizer("causal")
        student = CausalStudent(task, make_model(kind, len(tok)), tok, dict(META))
    else:
        tok = make_tokenizer("seq2seq")
        student = Seq2SeqStudent(task, make_model(kind, len(tok)), tok, dict(META))
    student.model.eval()  # no dropout: the independent pass below sees the same attention
    return student, items


def _own_word_attention(student, items):
    """The student's last-layer attention from its decision position, merged to the teacher's
    words, computed here without the channel's code: [rows, W] and the token words."""
    model = student.model
    model.set_attn_implementation("eager")
    if student.family == "causal":
        prompts = [student.lm.encode(student.task.prompt(it.example)) for it in items]
        batch = student.lm.make_batch(prompts, [student.lm.answer_ids(it.label, False)
                                                for it in items])
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                    output_attentions=True)
        att = out.attentions[-1].mean(1)
        rows = torch.stack([att[i, len(p.input_ids) - 1] for i, p in enumerate(prompts)])
        token_word = batch.token_word
    else:
        ids, attention, token_word = student._inputs([it.example for it in items], words=True)
        dec, _ = student._targets(PREDICT, [it.label for it in items])
        out = model(input_ids=ids, attention_mask=attention, decoder_input_ids=dec,
                    output_attentions=True)
        rows = out.cross_attentions[-1].mean(1)[:, len(student._prefix_ids(PREDICT)) - 1]
    model.set_attn_implementation("sdpa")
    n_words = max(int(token_word.max()) + 1, 1)
    return word_mass(rows, token_word, n_words).detach(), token_word


@pytest.mark.parametrize("family,kind", [("causal", "llama"), ("causal", "gpt2"),
                                         ("seq2seq", "t5")])
def test_attention_loss_is_zero_at_the_students_own_attention(student_world, monkeypatch,
                                                               family, kind):
    student, items = _student(student_world, family, kind)
    own, token_word = _own_word_attention(student, items)
    module = causal_mod if family == "causal" else seq2seq_mod
    monkeypatch.setattr(module, "word_targets", lambda its, tw, opts: PairTargets(
        tw, own.to(tw.device), torch.ones(len(its), dtype=torch.bool)))
    parts = student.losses(items, {"rationale"}, LossWeights(alpha=0.5))
    assert set(parts) == {"label", "rationale"}
    assert abs(parts["rationale"].item()) < 1e-6
    # the same words with another distribution over them: a positive loss
    other = (own > 0).float() / (own > 0).float().sum(-1, keepdim=True)
    monkeypatch.setattr(module, "word_targets", lambda its, tw, opts: PairTargets(
        tw, other.to(tw.device), torch.ones(len(its), dtype=torch.bool)))
    assert student.losses(items, {"rationale"}, LossWeights(alpha=0.5))["rationale"] > 1e-3
    # the channel switched the model to eager attention for its pass only
    assert student.model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("family,kind", [("causal", "llama"), ("causal", "gpt2"),
                                         ("seq2seq", "t5")])
def test_attention_gradient_reaches_the_first_block(student_world, family, kind):
    student, items = _student(student_world, family, kind)
    student.model.train()
    loss = student.losses(items, {"rationale"}, LossWeights(alpha=0.5))["rationale"]
    assert loss.item() > 0
    loss.backward()
    first = {"llama": "model.layers.0.", "gpt2": "transformer.h.0.",
             "t5": "encoder.block.0."}[kind]
    grads = [p.grad for n, p in student.model.named_parameters() if n.startswith(first)]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)


# alpha=1 bit-identical to standard: tests/student/test_channels.py, for every family.


@pytest.mark.parametrize("family", ["causal", "seq2seq"])
def test_attention_channel_trains_and_the_model_loads_back(student_world, tmp_path, family):
    model_dir = train(_cfg(student_world, family, tmp_path / family, epochs=3,
                           channel="attention", mode="rationale+kd"), progress=False)
    log = _log(tmp_path / family)
    assert "loss_rationale" in log[0] and "loss_kd" in log[0]
    first = sum(r["loss_rationale"] for r in log[:3]) / 3
    last = sum(r["loss_rationale"] for r in log[-3:]) / 3
    assert last < first, (first, last)
    meta = json.loads((model_dir / "student.json").read_text())
    assert meta["channel"] == "attention" and not meta["explains"]
    student = load_student(model_dir)
    assert student.channel.name == "attention"
    _, test = load_examples(DataSpec("cqa", str(student_world["dss"]), "test", limit=3))
    preds = student.predict(test)
    assert all(p["prediction"] in ex.choices for p, ex in zip(preds, test))
    # trained through its attention, the student writes no rationale
    assert all("rationale" not in p for p in preds)
