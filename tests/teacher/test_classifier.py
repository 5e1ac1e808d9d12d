"""Classifier teachers on tiny BERTs: saliency is the autograd gradient of the explained class's
log-probability, every attribution method runs on them, and teacher-finetune teaches them."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_bert_dir, make_examples

from saliency_kd.attribution import AttributionOptions, get_method, method_names
from saliency_kd.attribution.attribute import AttributeConfig, attribute
from saliency_kd.attribution.rationales import RationaleConfig
from saliency_kd.data import DataSpec, Example, get_task
from saliency_kd.teacher.classifier import ClassifierTeacher
from saliency_kd.teacher.finetune import FinetuneConfig, finetune
from saliency_kd.teacher.model import Teacher, TeacherConfig

CQA, NLI = get_task("cqa"), get_task("esnli")


def _cqa_examples(n=4):
    exs = [Example(r["id"], {"question": r["question"]}, r["answer"], r["choices"])
           for r in make_examples(n, seed=3)]
    exs[1].fields["question"] += " the dog went to the river ."  # rows of different lengths
    return exs


def _nli_examples():
    pairs = [("john went to the park .", "john is in the park ."),
             ("mary slept in the library .", "the cat played in the garden .", ),
             ("the dog walked to the beach . my friend read", "a dog is at the beach ."),
             ("the teacher read in the office .", "the teacher slept .")]
    return [Example(f"n{i}", {"premise": p, "hypothesis": h}, "neutral")
            for i, (p, h) in enumerate(pairs)]


@pytest.fixture(scope="module", params=["multiple_choice", "pair"])
def case(request, tmp_path_factory):
    """(teacher, task, examples): a bare tiny BERT given a head for the task at load."""
    path = make_bert_dir(tmp_path_factory.mktemp("bert"), seed=1)
    task, exs = (CQA, _cqa_examples()) if request.param == "multiple_choice" else \
        (NLI, _nli_examples())
    teacher = Teacher.load(TeacherConfig(name=str(path), device="cpu"), task)
    assert isinstance(teacher, ClassifierTeacher)
    assert teacher.multiple_choice == (request.param == "multiple_choice")
    return teacher, task, exs


def _batch(teacher, task, exs):
    prompts = [teacher.encode(task.prompt(ex)) for ex in exs]
    answers = teacher.answer(task, exs, prompts)
    targets = [teacher.target_ids(a["prediction"]) for a in answers]
    return prompts, answers, targets, teacher.make_batch(prompts, targets)


def _rows(task, ex):
    """The model's inputs for one example, written out by hand: (question, choice) per choice,
    or the (premise, hypothesis) pair."""
    if task.label_names is None:
        return [(ex.fields["question"], c) for c in ex.choices]
    return [(ex.fields["premise"], ex.fields["hypothesis"])]


def reference_saliency(teacher, task, ex, prediction):
    """|d log p(predicted class) / d input embedding| per token, rows end to end, through the
    model's ordinary forward pass on the padded [1, C, W] (or [1, W]) input."""
    enc = teacher.tokenizer([a for a, _ in _rows(task, ex)], [b for _, b in _rows(task, ex)],
                            padding=True, return_tensors="pt", return_token_type_ids=True)
    embeds = teacher.embed(enc["input_ids"]).detach().requires_grad_(True)
    model = teacher.model
    if teacher.multiple_choice:
        logits = model(inputs_embeds=embeds[None], attention_mask=enc["attention_mask"][None],
                       token_type_ids=enc["token_type_ids"][None]).logits[0]
        lp = logits.log_softmax(-1)[ex.choices.index(prediction)]
    else:
        logits = model(inputs_embeds=embeds, attention_mask=enc["attention_mask"],
                       token_type_ids=enc["token_type_ids"]).logits[0]
        lp = logits.log_softmax(-1)[list(task.label_names).index(prediction)]
    (grad,) = torch.autograd.grad(lp, embeds)
    norms = grad.norm(dim=-1)
    return torch.cat([norms[r][enc["attention_mask"][r].bool()] for r in range(len(norms))])


def test_saliency_equals_the_autograd_gradient_of_the_predicted_class(case):
    teacher, task, exs = case
    prompts, answers, targets, batch = _batch(teacher, task, exs)
    out = get_method("saliency").fn(teacher, batch, prompts, targets, AttributionOptions())
    for i, (ex, p, a) in enumerate(zip(exs, prompts, answers)):
        ref = reference_saliency(teacher, task, ex, a["prediction"])
        torch.testing.assert_close(out.scores[i, : len(p.input_ids)],
                                   ref * torch.tensor(p.content), rtol=1e-4, atol=1e-7)
        assert torch.all(out.scores[i, len(p.input_ids):] == 0)


def test_the_answer_is_the_heads_argmax_with_log_probabilities(case):
    teacher, task, exs = case
    for a in teacher.answer(task, exs):
        probs = torch.tensor(a["candidate_scores"]).exp()
        assert probs.sum().item() == pytest.approx(1.0, abs=1e-4)
        # the best-scored candidate (a tiny random head's scores may tie once rounded)
        assert a["candidate_scores"][a["candidates"].index(a["prediction"])] == max(
            a["candidate_scores"])


def test_words_are_the_lm_teachers_words(case):
    """Rationale files keep their format: the same words and fields as an LM teacher's."""
    from saliency_kd.teacher.model import split_words

    teacher, task, exs = case
    for ex in exs:
        p = teacher.encode(task.prompt(ex))
        _, _, words, fields = split_words(task.prompt(ex))
        assert p.words == words and p.word_fields == fields
        assert set(w for w in p.token_word if w >= 0) == set(range(len(words)))


@pytest.mark.parametrize("method", method_names())
def test_every_method_runs_batched_as_alone_and_scores_only_content(case, method):
    teacher, task, exs = case
    prompts, _, targets, batch = _batch(teacher, task, exs)
    spec = get_method(method)
    opts = AttributionOptions(ig_steps=4)
    together = spec.fn(teacher, batch, prompts, targets, opts)
    for i, (p, t) in enumerate(zip(prompts, targets)):
        alone = spec.fn(teacher, teacher.make_batch([p], [t]), [p], [t], opts)
        if spec.level == "word":
            torch.testing.assert_close(torch.tensor(together.scores[i]),
                                       torch.tensor(alone.scores[0]), rtol=1e-4, atol=1e-5)
            assert any(s != 0 for s in together.scores[i])
        else:
            n = len(p.input_ids)
            torch.testing.assert_close(together.scores[i, :n], alone.scores[0, :n],
                                       rtol=1e-4, atol=1e-6)
            assert torch.all(together.scores[i][~batch.content_mask[i]] == 0)
            assert together.scores[i].abs().sum() > 0


def test_integrated_gradients_is_complete_on_a_classifier(case):
    teacher, task, exs = case
    prompts, _, targets, batch = _batch(teacher, task, exs)
    out = get_method("integrated_gradients").fn(
        teacher, batch, prompts, targets, AttributionOptions(ig_steps=64, ig_internal_batch=256))
    gaps = torch.tensor(out.extras["ig_gap"])
    assert torch.all((out.scores.sum(-1) - gaps).abs() <= 0.02 * gaps.abs() + 1e-4)


def _accuracy(teacher, task, exs):
    return sum(a["prediction"] == ex.label
               for ex, a in zip(exs, teacher.answer(task, exs))) / len(exs)


def write_nli_toy(root, n=48):
    """e-SNLI-shaped pairs whose label is named by one word of the hypothesis: separable."""
    import random

    rng = random.Random(0)
    cue = {"park": "entailment", "school": "neutral", "river": "contradiction"}
    (root / "esnli").mkdir(parents=True)
    with (root / "esnli" / "esnli_train.json").open("w") as fh:
        for i in range(n):
            place = rng.choice(sorted(cue))
            who = rng.choice(["john", "mary", "the dog", "a cat"])
            fh.write(json.dumps({"id": f"t{i}", "premise": f"{who} went to the garden .",
                                 "hypothesis": f"{who} is at the {place} .",
                                 "label": cue[place]}) + "\n")
    return root


def test_finetune_teaches_a_classifier_and_attribute_explains_it(tmp_path):
    """The classification loss on a separable toy set: loss falls, accuracy rises; the exported
    model reloads as a classifier (head and labels saved) and is the one attribute explains."""
    from saliency_kd.data import load_examples

    data = write_nli_toy(tmp_path / "data")
    base = make_bert_dir(tmp_path / "bert", seed=0)
    spec = DataSpec("esnli", str(data), "train")
    _, train_ex = load_examples(spec)
    before = _accuracy(Teacher.load(TeacherConfig(name=str(base), device="cpu"), NLI), NLI,
                       train_ex)
    cfg = FinetuneConfig(out=str(tmp_path / "ft"), data=spec,
                         teacher=TeacherConfig(name=str(base), device="cpu"), lr=1e-2,
                         batch_size=8, epochs=20, eval_every=25, dev_limit=8, warmup_steps=2,
                         freeze_embeddings=False)
    model_dir = finetune(cfg, progress=False)
    losses = [r["loss"] for r in map(json.loads, (tmp_path / "ft" / "train_log.jsonl")
                                      .read_text().splitlines()) if "loss" in r]
    assert sum(losses[-3:]) < 0.5 * sum(losses[:3]), losses
    teacher = Teacher.load(TeacherConfig(name=str(model_dir), device="cpu"))
    assert isinstance(teacher, ClassifierTeacher) and teacher.labels == list(NLI.label_names)
    after = _accuracy(teacher, NLI, train_ex)
    assert after > before + 0.3, (before, after)
    out = attribute(AttributeConfig(out=str(tmp_path / "r.jsonl"), teacher=TeacherConfig(
        name=str(model_dir), device="cpu"), data=DataSpec("esnli", str(data), "train", 8),
        rationale=RationaleConfig(top_k=2)), progress=False)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["candidates"] == list(NLI.label_names) for r in recs)
    # the cue word is the one the trained classifier's saliency ranks first in the hypothesis
    assert sum(any(w in r["rationale"] for w in ("park", "school", "river"))
               for r in recs) >= 6
