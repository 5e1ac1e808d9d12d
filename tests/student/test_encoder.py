"""The encoder student's `choices` pooling on a tiny in-memory BERT: the context and every
choice in one sequence, each choice scored from its own tokens."""

from __future__ import annotations

import pytest
import torch
from test_channels import _student_and_items
from test_train import _cfg, _log

from saliency_kd.data import DataSpec, FieldMap, load_examples
from saliency_kd.errors import ConfigError
from saliency_kd.student import LossWeights, TrainConfig, load_student, train
from saliency_kd.student.encoder import choice_scores
from saliency_kd.words import content_segments


def test_one_sequence_per_example_and_each_choice_masks_its_own_words(student_world):
    student, items = _student_and_items(student_world, "attention", pooling="choices")
    examples = [it.example for it in items]
    feats, *_, enc, pairs = student._encode(examples)
    assert feats["input_ids"].shape[0] == len(examples)  # not one row per choice
    mask = feats["choice_mask"]
    assert mask.shape[:2] == (len(examples), 5)
    for i, ex in enumerate(examples):
        tokens = student.tokenizer.convert_ids_to_tokens(feats["input_ids"][i])
        words = [[t for t, m in zip(tokens, mask[i, j]) if m] for j in range(5)]
        choices = [s.text.lower().split() for s in content_segments(student.task.prompt(ex))
                   if s.field == "choices"]
        assert words == choices  # each choice's tokens, nothing of the context or the others


def test_a_choice_is_scored_from_the_mean_of_its_tokens_and_a_missing_one_never_wins():
    head = torch.nn.Linear(3, 1)
    hidden = torch.randn(1, 4, 3)
    mask = torch.tensor([[[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]], dtype=torch.bool)
    scores = choice_scores(head, hidden, mask)
    torch.testing.assert_close(scores[0, 0], head(hidden[0, 1:3].mean(0))[0])
    torch.testing.assert_close(scores[0, 1], head(hidden[0, 3])[0])
    assert scores.softmax(-1)[0, 2] == 0


def test_the_context_is_cut_never_a_choice(student_world):
    student, items = _student_and_items(student_world, "attention", pooling="choices")
    student.max_length = 16
    feats, *_ = student._encode([it.example for it in items])
    assert feats["input_ids"].shape[1] == 16
    assert (feats["choice_mask"].sum(-1) > 0).all()  # every choice keeps its tokens


@pytest.mark.parametrize("channel", ["attention", "attribution", "tag"])
def test_the_channels_reach_the_encoder_through_choices(student_world, channel):
    student, items = _student_and_items(student_world, channel, pooling="choices")
    parts = student.losses(items, {"rationale", "kd"}, LossWeights(alpha=0.5))
    assert parts["rationale"].item() > 0
    parts["rationale"].backward()
    grads = [p.grad for p in student.net.backbone.encoder.layer[0].parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), channel


def test_a_choices_student_trains_and_loads_back_predicting_the_same(student_world, tmp_path):
    model_dir = train(_cfg(student_world, "encoder", tmp_path / "c", epochs=3,
                           channel="attention", pooling="choices"), progress=False)
    log = _log(tmp_path / "c")
    assert log[-1]["loss_label"] < log[0]["loss_label"]
    _, test = load_examples(DataSpec("cqa", str(student_world["dss"]), "test", limit=4))
    student = load_student(model_dir)
    assert student.together and student.net.pooling == "choices"
    preds = student.predict(test)
    assert all(p["prediction"] in ex.choices and len(p["probabilities"]) == len(ex.choices)
               for p, ex in zip(preds, test))
    assert load_student(model_dir).predict(test) == preds


def test_choices_pooling_is_refused_where_there_are_no_choices(student_world, tmp_path):
    from saliency_kd.data import get_task
    from saliency_kd.student.encoder import EncoderStudent

    with pytest.raises(ConfigError, match="has labels, not choices"):
        EncoderStudent.build(get_task("esnli"), str(student_world["encoder"]),
                             {"pooling": "choices"})
    # `train` refuses it before it makes its folder
    rows = "\n".join(f"text {i},{'yes' if i % 2 else 'no'}" for i in range(12))
    (tmp_path / "train.csv").write_text("text,label\n" + rows + "\n")
    cfg = TrainConfig(out=str(tmp_path / "out"), student=str(student_world["encoder"]),
                      pooling="choices", data=DataSpec("generic", None, "train",
                                                       fields=FieldMap("text", "label"),
                                                       train_file=str(tmp_path / "train.csv")))
    with pytest.raises(ConfigError, match="has labels, not choices"):
        train(cfg, progress=False)
    assert not (tmp_path / "out").exists()


def test_the_attention_target_is_the_contexts_words_only(student_world):
    """As a (context, choice) pair holds its own choice alone, a choice's tokens are never
    pulled towards another choice's words."""
    student, items = _student_and_items(student_world, "attention", pooling="choices")
    feats, _, targets, *_ = student._encode([it.example for it in items], items,
                                            frozenset({"hidden_states"}))
    on_choices = feats["choice_mask"].any(1)
    assert (targets.token_word[on_choices] == -1).all()
    assert (targets.token_word[~on_choices] >= 0).any()
