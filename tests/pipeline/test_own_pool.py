"""README's own-data commands with an unlabeled pool: `attribute` answers and explains a
labelled CSV and a pool CSV that has no label column; `train` learns the labels and the
teacher's answers on the pool; the student loads back and answers."""

from __future__ import annotations

import json

from conftest import make_bert_dir, save_lm_dir

from saliency_kd import load_student
from saliency_kd.cli import main

PLACES = {"park": "outside", "beach": "outside", "school": "inside", "kitchen": "inside"}


def _files(tmp_path):
    places = sorted(PLACES)
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "".join(
        f"john went to the {places[i % 4]} .,{PLACES[places[i % 4]]}\n" for i in range(8)))
    pool = tmp_path / "pool.csv"  # no label column at all: nothing gold to leak
    pool.write_text("text\n" + "".join(f"mary went to the {places[i % 4]} .\n"
                                       for i in range(12)))
    return str(train), str(pool)


def test_a_labelled_csv_and_an_unlabeled_pool_make_a_student(tmp_path, caplog):
    caplog.set_level("INFO")
    train, pool = _files(tmp_path)
    teacher = str(save_lm_dir("llama", tmp_path / "lm"))
    student = str(make_bert_dir(tmp_path / "bert"))
    out = tmp_path / "mine"
    common = ["--task", "generic", "--train-file", train, "--unlabeled", pool,
              "--input-field", "text"]
    assert main(["attribute", *common, "--teacher", teacher,
                 "--out", str(out / "rationales.jsonl")]) == 0
    records = [json.loads(x) for x in (out / "rationales.jsonl").read_text().splitlines()]
    assert len(records) == 20 and sum(r["label"] is None for r in records) == 12
    assert main(["train", *common, "--rationales", str(out / "rationales.jsonl"),
                 "--student", student, "--mode", "rationale", "--epochs", "1",
                 "--batch-size", "4", "--out", str(out / "student")]) == 0
    # the user sees the reads that feed the work, not the internal one that lists the ids a
    # rationale file may hold (it said "41 examples, train split (first 1)")
    assert not [r for r in caplog.messages if "(first 1)" in r]
    summary = json.loads((out / "student" / "train_summary.json").read_text())
    assert summary["pool_n"] == 12  # every pool example, with the teacher's answer
    (answer,) = load_student(str(out / "student" / "model"))(["anna went to the park ."])
    assert answer["prediction"] in {"outside", "inside"}
