"""The real embedded models on real data: Gemma-3-270M teacher and MiniLM student.

Marked slow (CI runs them; `pytest -m "not slow"` is the quick loop). Each has a time budget.
"""

from __future__ import annotations

import json

import pytest

from saliency_kd.attribution.attribute import AttributeConfig, attribute
from saliency_kd.data import DataSpec
from saliency_kd.evaluate import evaluate
from saliency_kd.student import TrainConfig, train

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def real_rationales(shared_dss, tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "rationales.jsonl"
    cfg = AttributeConfig(out=str(out), data=DataSpec("cqa", str(shared_dss), "train", limit=24),
                          method="saliency", batch_size=8)
    return attribute(cfg, progress=False)


def test_gemma_attributes_real_cqa(real_rationales):
    recs = [json.loads(line) for line in real_rationales.read_text().splitlines()]
    assert len(recs) == 24
    for r in recs:
        assert len(r["rationale"]) == 5 and r["prediction"] in r["candidates"]
        assert all(s >= 0 for _, s in r["words"])  # saliency is a norm
        assert not {"Question", "Choices", "Answer"} & set(r["rationale"])


def test_minilm_trains_on_real_rationales(real_rationales, shared_dss, tmp_path):
    cfg = TrainConfig(out=str(tmp_path / "student"),
                      data=DataSpec("cqa", str(shared_dss), "train", limit=24),
                      rationales=str(real_rationales), student="minilm-l6", mode="rationale",
                      channel="tag",  # by name: the default (attention) writes no words to score
                      batch_size=8, max_steps=4, dev_limit=16)
    model_dir = train(cfg, progress=False)
    m = evaluate(model_dir, DataSpec("cqa", str(shared_dss), "test", limit=32),
                 out=tmp_path / "metrics.json", progress=False)
    assert m["n"] == 32 and 0 <= m["accuracy"] <= 1
    assert "f1_vs_human" in m["rationale"]
