"""Your own data end to end: a student trained on a training CSV, scored on the whole test CSV,
and a predictor loaded once that answers strings, records and CSV/JSONL files with label names,
probabilities and rationale words."""

from __future__ import annotations

import json
import random

import pytest
from conftest import make_bert_dir

from saliency_kd.cli import main
from saliency_kd.data import DataSpec
from saliency_kd.errors import DataError

PLACES = {"park": "outside", "beach": "outside", "river": "outside", "school": "inside",
          "kitchen": "inside", "library": "inside", "office": "work"}


def write_reviews(path, n: int, seed: int) -> str:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        place = rng.choice(sorted(PLACES))
        rows.append(f"john went to the {place} .,{PLACES[place]}")
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """A classification student trained on a training CSV (the tiny BERT of the world)."""
    from saliency_kd.data import FieldMap
    from saliency_kd.student import TrainConfig, train

    root = tmp_path_factory.mktemp("own")
    data = DataSpec("generic", None, "train", fields=FieldMap("text", "label"),
                    train_file=write_reviews(root / "train.csv", 60, 0))
    model = train(TrainConfig(out=str(root / "student"), data=data,
                              student=str(make_bert_dir(root / "bert")), lr=5e-3, batch_size=12,
                              epochs=2), progress=False)
    return {"model": model, "test": write_reviews(root / "test.csv", 20, 1), "root": root}


def test_evaluate_scores_the_whole_test_file(own, capsys, tmp_path):
    out = tmp_path / "m.json"
    # --task and --input-field default to the model's own (generic, `text`)
    assert main(["evaluate", "--model", str(own["model"]), "--test-file", own["test"],
                 "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 20 and metrics["data"].endswith("test.csv (whole file)")


def test_a_predictor_loaded_once_answers_with_label_names(own):
    from saliency_kd import load_student

    student = load_student(own["model"], device="cpu")
    assert student.labels == ["inside", "outside", "work"]
    one, two = student(["john went to the park .", {"input": "mary read in the office ."}])
    for rec in (one, two):
        assert set(rec["probabilities"]) == {"inside", "outside", "work"}
        assert rec["prediction"] == max(rec["probabilities"], key=rec["probabilities"].get)
        assert sum(rec["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert one["id"] == "input-0" and two["id"] == "input-1"


def test_predict_reads_csv_with_a_field_map_in_batches(own, capsys, tmp_path):
    inp = tmp_path / "new.csv"
    inp.write_text("key,review\nr1,the dog went to the beach .\nr2,john read in the school .\n"
                   "r3,a cat slept in the kitchen .\n")
    assert main(["predict", "--model", str(own["model"]), "--input", str(inp),
                 "--input-field", "review", "--id-field", "key", "--batch-size", "2"]) == 0
    out = capsys.readouterr()
    recs = [json.loads(line) for line in out.out.splitlines()]
    assert [r["id"] for r in recs] == ["r1", "r2", "r3"] and "predict: 3 input(s)" in out.err
    assert all(set(r["probabilities"]) == {"inside", "outside", "work"} for r in recs)
    inp.write_text("key,text\nr1,hello\n")
    with pytest.raises(DataError, match="new.csv:2: field 'review': missing field"):
        from saliency_kd.predictor import InputFields, load_student

        load_student(own["model"]).predict_file(inp, InputFields(input_field="review"))


def test_predict_reads_the_field_the_student_was_trained_on(own, capsys, tmp_path):
    inp = tmp_path / "new.csv"
    inp.write_text('text\n"the dog went to the beach, twice ."\n')
    assert main(["predict", "--model", str(own["model"]), "--input", str(inp)]) == 0
    [rec] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rec["id"] == "input-0" and rec["prediction"] in ("inside", "outside", "work")
