"""Training items of the unlabeled pool: what each pool example learns, never its gold label."""

from __future__ import annotations

import pytest

from saliency_kd.data import DataSpec, load_examples
from saliency_kd.errors import DataError
from saliency_kd.student.items import build_items, load_rationale_file, teacher_confidence


def _pool(world, **kw):
    spec = DataSpec("cqa", str(world["dss"]), "train", limit=20, unlabeled="train", **kw)
    return load_examples(spec)


def test_pool_learns_the_teachers_answer_filtered_by_confidence(student_world):
    task, exs = _pool(student_world)
    records = load_rationale_file(student_world["rationales"])
    items = build_items(task, exs, set(), "gold", records, 2.0)
    labelled = [it for it in items if not it.example.pool]
    pool = [it for it in items if it.example.pool]
    assert [it.label for it in labelled] == [ex.label for ex in exs if not ex.pool]
    assert [it.label for it in pool] == [records[it.example.id]["prediction"] for it in pool]
    confidences = sorted(teacher_confidence(records[it.example.id]) for it in pool)
    cut = confidences[len(confidences) // 2]  # the median: about half the pool is kept
    kept = build_items(task, exs, set(), "gold", records, 2.0, min_confidence=cut)
    kept_pool = [it for it in kept if it.example.pool]
    assert 0 < len(kept_pool) < len(pool)
    assert len(kept) - len(kept_pool) == len(labelled)  # labelled examples are never filtered
    assert all(teacher_confidence(records[it.example.id]) >= cut for it in kept_pool)
    assert {it.example.id for it in kept_pool} == \
        {it.example.id for it in pool if teacher_confidence(records[it.example.id]) >= cut}


def test_teacher_confidence_is_the_softmax_at_the_answer():
    rec = {"prediction": "b", "candidates": ["a", "b"], "candidate_scores": [0.0, 0.0]}
    assert teacher_confidence(rec) == pytest.approx(0.5)
    assert teacher_confidence({"prediction": "12"}) is None


def test_dss_mode_pool_learns_the_llms_answer(student_world):
    task, exs = _pool(student_world, unlabeled_limit=30)
    pool = [ex for ex in exs if ex.pool]
    assert all(ex.label == "" for ex in pool)
    assert all(ex.llm_answer in ex.choices for ex in pool if ex.llm_answer)
    items = build_items(task, exs, {"dss"}, "gold", None, 2.0)
    learnt = {it.example.id: it.label for it in items if it.example.pool}
    # every pool example with a parsable LLM answer learns it; the garbled one is dropped
    assert learnt == {ex.id: ex.llm_answer for ex in pool if ex.llm_answer}


def test_a_pool_record_explaining_gold_is_refused(student_world):
    task, exs = _pool(student_world, unlabeled_limit=5)
    records = load_rationale_file(student_world["rationales"])
    first = next(ex for ex in exs if ex.pool)
    records[first.id] = {**records[first.id], "target": "something else"}
    with pytest.raises(DataError, match="gold label"):
        build_items(task, exs, set(), "gold", records, 2.0, path="r.jsonl")
