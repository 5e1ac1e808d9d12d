"""Explanation channels on a tiny in-memory BERT: zero loss at the target, weight 0 equals
standard bit for bit, the gradient reaches the encoder, the attention recomputed from the last
layer's projections equals the layer's own."""

from __future__ import annotations

import json

import pytest
import torch
from test_train import _cfg, _log

from saliency_kd.data import DataSpec, load_examples
from saliency_kd.errors import ConfigError, UnknownNameError
from saliency_kd.student import LossWeights, load_student, train
from saliency_kd.student.channels import (
    ChannelOptions,
    get_channel,
    last_layer_attention,
    register_channel,
    resolve_channel,
    target_distribution,
    word_kl,
    word_mass,
)
from saliency_kd.student.items import build_items, load_rationale_file
from saliency_kd.student.train import build_student

ENCODER_CHANNELS = ["tag", "attention", "attribution"]


def test_word_kl_is_zero_when_the_student_matches_the_teacher():
    target = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    assert word_kl(target, target.clone(), torch.tensor([True, True])).item() == 0.0
    off = torch.tensor([[0.25, 0.5, 0.25], [0.0, 0.5, 0.5]])
    assert word_kl(target, off, torch.tensor([True, True])).item() > 0
    # a pair without any rationale word does not count
    assert word_kl(target, off, torch.tensor([True, False])).item() == pytest.approx(
        0.5 * (torch.tensor(2.0).log().item()), abs=1e-6)


def test_word_mass_sums_sub_words_and_drops_special_tokens():
    mass = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    token_word = torch.tensor([[-1, 0, 0, 1]])
    assert word_mass(mass, token_word, 3)[0].tolist() == pytest.approx([0.5, 0.4, 0.0])


def test_target_distribution_uniform_and_by_score():
    uniform = target_distribution(4, {0, 2, 3}, {0, 1, 2}, [4.0, 1.0, -1.0, 9.0],
                                  ChannelOptions())
    assert uniform == [0.5, 0.0, 0.5, 0.0]  # word 3 is not in this pair
    scored = target_distribution(4, {0, 2}, {0, 1, 2}, [3.0, 1.0, -1.0, 9.0],
                                 ChannelOptions("score", 1.0))
    assert scored == pytest.approx([0.75, 0.0, 0.25, 0.0])
    sharp = target_distribution(4, {0, 2}, {0, 1, 2}, [3.0, 1.0, -1.0, 9.0],
                                ChannelOptions("score", 0.5))
    assert sharp == pytest.approx([0.9, 0.0, 0.1, 0.0])


def test_registry_refuses_a_second_name_and_lists_valid_ones():
    with pytest.raises(ValueError, match="already registered"):
        register_channel("attention", families=("encoder",))(lambda p, o: None)
    with pytest.raises(UnknownNameError, match="attention"):
        get_channel("atention")
    with pytest.raises(ConfigError, match="encoder students, not causal"):
        resolve_channel("attribution", "causal")
    assert resolve_channel("attention", "causal").name == "attention"
    assert resolve_channel(None, "seq2seq").name == "generate"
    assert resolve_channel(None, "encoder").name == "attention"  # the tagging head: by name
    assert resolve_channel("tag", "encoder").name == "tag"


def _student_and_items(world, channel, n=6, **kw):
    cfg = _cfg(world, "encoder", "unused", channel=channel, **kw)
    task, exs = load_examples(DataSpec("cqa", str(world["dss"]), "train", limit=n))
    items = build_items(task, exs, {"rationale"}, "gold",
                        load_rationale_file(world["rationales"]), 2.0)
    meta = {"channel": channel, "pooling": cfg.pooling, "channel_options": {}}
    return build_student(cfg, task, meta), items


def test_recomputed_attention_equals_the_layers_own(student_world):
    student, items = _student_and_items(student_world, "attention")
    student.net.eval()
    feats, *_ = student._encode([it.example for it in items])
    backbone = student.net.backbone
    backbone.set_attn_implementation("eager")
    out = backbone(**feats, output_attentions=True, output_hidden_states=True)
    layer = backbone.encoder.layer[-1].attention.self
    mine = last_layer_attention(layer, out.hidden_states[-2], feats["attention_mask"])
    real = out.attentions[-1]
    keep = feats["attention_mask"].bool()[:, None, :, None]  # rows of real tokens
    torch.testing.assert_close(mine * keep, real * keep, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("channel", ENCODER_CHANNELS)
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_channel_gradient_reaches_the_encoder(student_world, channel, pooling):
    student, items = _student_and_items(student_world, channel, pooling=pooling)
    parts = student.losses(items, {"rationale"}, LossWeights(alpha=0.5))
    assert parts["rationale"].item() > 0
    parts["rationale"].backward()
    layers = student.net.backbone.encoder.layer
    grads = [p.grad for p in layers[0].parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), channel


@pytest.mark.parametrize("family,channel", [("encoder", "attention"), ("encoder", "attribution"),
                                            ("causal", "attention"), ("seq2seq", "attention")])
def test_channel_weight_zero_equals_standard_bit_for_bit(student_world, tmp_path, family,
                                                         channel):
    a = train(_cfg(student_world, family, tmp_path / "a", mode="standard", epochs=1),
              progress=False)
    b = train(_cfg(student_world, family, tmp_path / "b", epochs=1, channel=channel,
                   weights=LossWeights(alpha=1.0)), progress=False)
    assert [r["loss"] for r in _log(tmp_path / "a")] == [r["loss"] for r in _log(tmp_path / "b")]
    sa, sb = load_student(a).module.state_dict(), load_student(b).module.state_dict()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0)


@pytest.mark.parametrize("channel", ["attention", "attribution"])
def test_a_channel_trains_and_the_model_loads_back(student_world, tmp_path, channel):
    model_dir = train(_cfg(student_world, "encoder", tmp_path / channel, epochs=2,
                           channel=channel, mode="rationale+kd", pooling="cls"), progress=False)
    log = _log(tmp_path / channel)
    assert "loss_rationale" in log[0] and "loss_kd" in log[0]
    first, last = log[0]["loss_rationale"], log[-1]["loss_rationale"]
    assert last < first, (first, last)
    meta = json.loads((model_dir / "student.json").read_text())
    assert meta["channel"] == channel and meta["pooling"] == "cls"
    student = load_student(model_dir)
    assert student.channel.name == channel and student.net.pooling == "cls"
    _, test = load_examples(DataSpec("cqa", str(student_world["dss"]), "test", limit=3))
    preds = student.predict(test)
    # an attention- or attribution-trained student has no tagging head trained: it names no words
    assert all("rationale" not in p for p in preds)


def test_generating_students_take_no_attribution_channel(student_world, tmp_path):
    with pytest.raises(ConfigError, match="channel 'attribution' is for encoder"):
        train(_cfg(student_world, "causal", tmp_path / "c", channel="attribution"),
              progress=False)


def test_a_student_saved_with_a_null_channel_loads_as_the_tagging_head(student_world, tmp_path):
    """Students record the channel they resolved; one saved before `attention` became the
    encoder's default says null, and it trained (and loads) through `tag`."""
    model_dir = train(_cfg(student_world, "encoder", tmp_path / "old", epochs=1),
                      progress=False)
    meta_file = model_dir / "student.json"
    meta = json.loads(meta_file.read_text())
    assert meta["channel"] == "attention"  # the default, made explicit
    assert load_student(model_dir).channel.name == "attention"
    meta_file.write_text(json.dumps({**meta, "channel": None}))
    assert load_student(model_dir).channel.name == "tag"
