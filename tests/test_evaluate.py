"""Evaluation, prediction and the safe SVAMP evaluator."""

from __future__ import annotations

import json
import math

import pytest

from saliency_kd.cli import main
from saliency_kd.data import DataSpec
from saliency_kd.errors import ConfigError, DataError
from saliency_kd.evaluate import evaluate, predict
from saliency_kd.evaluate_math import EquationError, equations_equal, evaluate_equation
from saliency_kd.metrics import bootstrap_ci, token_f1
from saliency_kd.student import TrainConfig, train


@pytest.mark.parametrize("text,value", [("( 84.0 / 2.0 )", 42.0), ("( ( 17.0 + 15.0 ) + 2.0 )", 34),
                                        ("3 - -2", 5.0), ("(84 / 2)", 42.0), ("2*3+4", 10.0)])
def test_equation_values(text, value):
    assert math.isclose(evaluate_equation(text), value)


@pytest.mark.parametrize("bad", ["", "( 1 + ", "1 / 0", "__import__('os')", "2 ** 3",
                                 "(" * 300 + "1" + ")" * 300, "1 2", "x + 1", "9" * 400])
def test_malformed_equations_never_crash(bad):
    with pytest.raises(EquationError):
        evaluate_equation(bad)
    assert equations_equal(bad, "1") is False


def test_equations_equal_by_value():
    assert equations_equal("( 2.0 * 21.0 )", "( 84.0 / 2.0 )")
    assert not equations_equal("( 84.0 - 2.0 )", "( 84.0 / 2.0 )")


def test_token_f1_and_bootstrap():
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1(["Cat"], "a cat") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert token_f1("dog", "cat") == 0.0
    mean, lo, hi = bootstrap_ci([1, 0, 1, 1, 0, 1, 0, 1] * 10)
    assert lo < mean < hi and mean == pytest.approx(0.625)


@pytest.fixture(scope="module")
def trained(student_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("ev") / "run"
    cfg = TrainConfig(out=str(out), data=DataSpec("cqa", str(student_world["dss"]), "train"),
                      rationales=str(student_world["rationales"]),
                      student=str(student_world["encoder"]), mode="rationale", lr=2e-3,
                      batch_size=12, epochs=1, channel="tag")  # tag: a student that names words
    return train(cfg, progress=False)


def test_evaluate_writes_metrics(trained, student_world, tmp_path):
    out = tmp_path / "m.json"
    m = evaluate(trained, DataSpec("cqa", str(student_world["dss"]), "test"), out=out,
                 progress=False)
    saved = json.loads(out.read_text())
    assert saved["n"] == 20 and saved["ci95_low"] <= saved["accuracy"] <= saved["ci95_high"]
    assert sum(v["gold"] for v in saved["per_class"].values()) == 20
    assert "f1_vs_human" in saved["rationale"]
    assert m["accuracy"] == saved["accuracy"]
    # against the teacher's rationales of the evaluated split (here: train)
    m2 = evaluate(trained, DataSpec("cqa", str(student_world["dss"]), "train", limit=10),
                  rationales=str(student_world["rationales"]), out=tmp_path / "m2.json",
                  progress=False)
    assert 0 <= m2["rationale"]["f1_vs_teacher"]["mean"] <= 1


def test_evaluate_refuses_other_task(trained, student_world):
    with pytest.raises(ConfigError, match="task"):
        evaluate(trained, DataSpec("esnli", str(student_world["dss"]), "test"), progress=False)


def test_predict_text_and_file(trained, tmp_path, capsys):
    recs = predict(trained, "the dog went to the park . where is it ?",
                   ["park", "school", "river", "beach", "office"])
    assert recs[0]["prediction"] in ("park", "school", "river", "beach", "office")
    assert isinstance(recs[0]["rationale"], list) and recs[0]["rationale"]
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"question": "john read in the library . where is it ?",
                               "choices": ["library", "park"]}) + "\n")
    assert main(["predict", "--model", str(trained), "--input", str(inp)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["prediction"] in ("library", "park")
    inp.write_text(json.dumps({"question": "no choices"}) + "\n")
    with pytest.raises(DataError, match="in.jsonl:1: field 'choices'"):
        predict(trained, input_file=str(inp))


def test_empty_split_is_an_error_and_leaves_the_metrics_as_they_were(trained, student_world,
                                                                      tmp_path):
    """Issue 24, case 4: evaluating 0 examples used to write "accuracy": NaN (invalid strict
    JSON) over the previous metrics file."""
    import shutil

    out = tmp_path / "m.json"
    evaluate(trained, DataSpec("cqa", str(student_world["dss"]), "test"), out=out,
             progress=False)
    before = out.read_bytes()
    empty = tmp_path / "dss"
    shutil.copytree(student_world["dss"], empty)
    (empty / "cqa" / "cqa_test.json").write_text("")
    with pytest.raises(DataError, match="cqa_test.json: no examples"):
        evaluate(trained, DataSpec("cqa", str(empty), "test"), out=out, progress=False)
    assert out.read_bytes() == before
    assert "NaN" not in before.decode()
    json.loads(before, parse_constant=lambda c: pytest.fail(f"{c} in metrics"))
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n")
    with pytest.raises(DataError, match="in.jsonl: no inputs"):
        predict(trained, input_file=str(inp))
