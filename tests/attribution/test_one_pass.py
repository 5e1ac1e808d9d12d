"""The answer read from the attribution's own forward pass (one forward and one backward per
batch) gives the records of the two passes it replaces (`teacher.answer`, then the method on
the answer): identical for classifier teachers, equal within float rounding for causal ones
(their one pass runs the prompt alone, the attribution pass of the two ran prompt + answer)."""

from __future__ import annotations

import functools
import json
import random
from collections import Counter

import pytest
import torch
from conftest import make_bert_dir, make_examples, make_teacher

from saliency_kd.artifact import ResumableJsonl
from saliency_kd.attribution import AttributionOptions
from saliency_kd.attribution import attribute as attribute_module
from saliency_kd.attribution.attribute import AttributeConfig, attribute, attribute_batch
from saliency_kd.data import DataSpec, Example, get_task
from saliency_kd.teacher.model import Teacher, TeacherConfig

CQA, NLI = get_task("cqa"), get_task("esnli")
WORDS = "john mary the dog went to park is in garden a cat slept read library".split()


def _cqa(n=10):
    exs = [Example(r["id"], {"question": r["question"]}, r["answer"], r["choices"])
           for r in make_examples(n, seed=3)]
    for ex in exs[::3]:  # prompts of different lengths: padding happens
        ex.fields["question"] += " the dog went to the river ."
    return exs


def _nli(n=10):
    rng = random.Random(0)
    return [Example(f"n{i}", {"premise": " ".join(rng.choices(WORDS, k=rng.randint(3, 9))),
                              "hypothesis": " ".join(rng.choices(WORDS, k=rng.randint(2, 6)))},
                    rng.choice(["entailment", "neutral", "contradiction"])) for i in range(n)]


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return make_bert_dir(tmp_path_factory.mktemp("bert"), seed=1)


def _teacher(kind, task, bert):
    if kind == "bert":
        return Teacher.load(TeacherConfig(name=str(bert), device="cpu"), task)
    return make_teacher(kind)


def _both(teacher, task, exs, method="saliency", batch_size=4, **kw):
    """(one-pass records, two-pass records, batches run each way by the one-pass run)."""
    cfg = AttributeConfig(method=method, **kw)
    one, two, passes = [], [], Counter()
    for i in range(0, len(exs), batch_size):
        one += attribute_batch(teacher, task, exs[i:i + batch_size], cfg, passes=passes)
        two += attribute_batch(teacher, task, exs[i:i + batch_size], cfg, one_pass=False)
    return one, two, passes


TASKS = {"cqa": (CQA, _cqa), "esnli": (NLI, _nli)}


@pytest.mark.parametrize("method", ["saliency", "grad_x_input"])
@pytest.mark.parametrize("task", ["cqa", "esnli"])  # multiple choice, pair classification
def test_classifier_one_pass_records_are_identical(bert, task, method):
    task, make = TASKS[task]
    one, two, passes = _both(_teacher("bert", task, bert), task, make(), method)
    assert passes == {"one": 3}
    assert one == two  # every field, every float as written


@pytest.mark.parametrize("method", ["saliency", "grad_x_input"])
@pytest.mark.parametrize("kind", ["llama", "gpt2"])
@pytest.mark.parametrize("task", ["cqa", "esnli"])
def test_causal_one_pass_records_are_equal_within_rounding(task, kind, method):
    """Prediction, candidates, target and rationale identical; candidate and word scores within
    float rounding (the one pass runs the batch's prompts alone, the two passes ran the answer
    in chunks of their own and then prompt + answer: other matrix shapes, other summation
    order, so a score may move in its sixth digit, as records round it)."""
    task, make = TASKS[task]
    one, two, passes = _both(make_teacher(kind), task, make(), method)
    assert passes == {"one": 3}
    rounding = ("words", "candidate_scores")
    for a, b in zip(one, two, strict=True):
        assert {k: v for k, v in a.items() if k not in rounding} == \
            {k: v for k, v in b.items() if k not in rounding}
        assert [w for w, _ in a["words"]] == [w for w, _ in b["words"]]
        scale = max(abs(s) for _, s in b["words"])
        torch.testing.assert_close(torch.tensor([s for _, s in a["words"]]),
                                   torch.tensor([s for _, s in b["words"]]),
                                   rtol=1e-5, atol=1e-5 * scale)
        torch.testing.assert_close(torch.tensor(a["candidate_scores"]),
                                   torch.tensor(b["candidate_scores"]), rtol=1e-5, atol=1e-5)


def test_the_answer_takes_a_pass_of_its_own_where_one_pass_cannot_give_it(bert):
    exs = _cqa(4)
    # A candidate of two tokens: a causal LM scores it by running it after the prompt.
    exs[0].choices[0] = "the park"
    _, _, passes = _both(make_teacher("llama"), CQA, exs)
    assert passes == {"two": 1}
    for kind in ("t5", "llama"):  # seq2seq: candidates are decoder inputs of their own
        kw = {"target": "gold"} if kind == "llama" else {}
        _, _, passes = _both(make_teacher(kind), CQA, _cqa(4), **kw)
        assert passes == {"two": 1}
    for method in ("integrated_gradients", "occlusion", "attention"):
        _, _, passes = _both(_teacher("bert", CQA, bert), CQA, _cqa(4), method,
                             options=AttributionOptions(ig_steps=2))
        assert passes == {"two": 1}


def _cfg(dss_dir, out):
    return AttributeConfig(out=str(out), data=DataSpec("cqa", str(dss_dir), "train", 20),
                           batch_size=4)


class Killed(Exception):
    pass


@pytest.mark.parametrize("kind", ["bert", "llama"])
def test_a_file_resumed_in_one_pass_is_the_two_pass_file(bert, dss_dir, tmp_path, monkeypatch,
                                                         kind):
    """A file begun by the two passes (killed halfway through its third batch) and finished in
    one gives the bytes of an unbroken two-pass run: resuming across the change is safe."""
    teacher = _teacher(kind, CQA, bert)
    one_pass = attribute_module.attribute_batch
    monkeypatch.setattr(attribute_module, "attribute_batch",
                        functools.partial(one_pass, one_pass=False))
    clean = attribute(_cfg(dss_dir, tmp_path / "clean.jsonl"), teacher=teacher, progress=False)
    original, calls = ResumableJsonl.write_batch, Counter()

    def dying_write(self, records):
        calls["n"] += 1
        if calls["n"] == 3:
            with self.path.open("a") as fh:
                fh.write(json.dumps(records[0]) + "\n" + json.dumps(records[1])[:37])
            raise Killed
        return original(self, records)

    monkeypatch.setattr(ResumableJsonl, "write_batch", dying_write)
    out = tmp_path / "resumed.jsonl"
    with pytest.raises(Killed):
        attribute(_cfg(dss_dir, out), teacher=teacher, progress=False)
    monkeypatch.setattr(ResumableJsonl, "write_batch", original)
    monkeypatch.setattr(attribute_module, "attribute_batch", one_pass)
    attribute(_cfg(dss_dir, out), teacher=teacher, progress=False)
    assert out.read_bytes() == clean.read_bytes()
