"""Analyses of rationale files against gold answers."""

from __future__ import annotations

import pytest

from saliency_kd.data import Example
from saliency_kd.metrics import explanation_f1, token_f1
from saliency_kd.report.analysis import answer_overlap, operand_recall, plausibility


def test_operand_recall_matches_numbers_across_formats():
    examples = {
        "a": Example("a", {"input": "Luke scored 84 points in 2 rounds"}, "( 84.0 / 2.0 )"),
        "b": Example("b", {"input": "7 rows of 30 crayons"}, "( 7.0 * 30.0 )"),
        "c": Example("c", {"input": "no numbers"}, "x"),
    }
    records = [{"id": "a", "rationale": ["84", "points"]},
               {"id": "b", "rationale": ["7", "30", "rows"]},
               {"id": "c", "rationale": ["numbers"]}]
    r = operand_recall(records, examples)
    assert r["n"] == 2  # an equation without operands has nothing to recall
    assert r["recall"] == pytest.approx(0.75) and r["all_operands"] == pytest.approx(0.5)


def test_answer_overlap_counts_content_words_of_the_gold_answer():
    examples = {"a": Example("a", {"question": "q"}, "the bank", ["the bank", "a river"]),
                "b": Example("b", {"question": "q"}, "a river", ["the bank", "a river"])}
    records = [{"id": "a", "rationale": ["Bank", "money"]}, {"id": "b", "rationale": ["the"]}]
    assert answer_overlap(records, examples)["share"] == pytest.approx(0.5)


def test_plausibility_scores_each_rationale_against_its_closest_explanation():
    examples = {"a": Example("a", {"input": "x"}, "y", explanations=["the cat sat", "a dog"]),
                "b": Example("b", {"input": "x"}, "y", explanations=["red car"]),
                "c": Example("c", {"input": "x"}, "y")}  # no explanation: not scored
    records = [{"id": "a", "rationale": ["dog"]}, {"id": "b", "rationale": ["red", "car"]},
               {"id": "c", "rationale": ["x"]}, {"id": "gone", "rationale": ["x"]}]
    assert explanation_f1(["dog"], ["the cat sat", "a dog"]) == token_f1("dog", "a dog")
    p = plausibility(records, examples)
    assert p["n"] == 2
    assert p["token_f1"] == pytest.approx((token_f1("dog", "a dog") + 1.0) / 2)
    assert p["ci95_low"] <= p["token_f1"] <= p["ci95_high"]
