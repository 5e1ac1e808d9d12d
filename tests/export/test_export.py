"""`saliency-kd export`: the folder loads in plain transformers (a pipeline, the Auto classes)
with label names and predicts what the student predicts; ONNX gives the same logits."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
from conftest import make_bert_dir, write_dss

from saliency_kd.cli import main
from saliency_kd.data import DataSpec, FieldMap, load_examples
from saliency_kd.student import TrainConfig, load_student, train

WORDS = {"park": "outside", "beach": "outside", "school": "inside", "kitchen": "inside",
         "office": "work"}
TEXTS = ["john went to the park .", "mary read in the office .", "a cat slept in the kitchen .",
         "the dog walked to the beach ."]


@pytest.fixture(scope="module")
def students(tmp_path_factory):
    """A classification student (mean pooling) and a multiple-choice one (cls pooling)."""
    root = tmp_path_factory.mktemp("export")
    rng = random.Random(0)
    rows = [(p := rng.choice(sorted(WORDS)), f"john went to the {p} .,{WORDS[p]}")[1]
            for _ in range(40)]
    (root / "train.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    bert = str(make_bert_dir(root / "bert"))
    clf = train(TrainConfig(out=str(root / "clf"), student=bert, lr=5e-3, batch_size=8,
                            max_steps=6, data=DataSpec("generic", None, "train",
                                                       fields=FieldMap("text", "label"),
                                                       train_file=str(root / "train.csv"))),
                progress=False)
    dss = write_dss(root / "dss", n_train=24, n_test=6)
    mc = train(TrainConfig(out=str(root / "mc"), student=bert, lr=5e-3, batch_size=8,
                           max_steps=3, pooling="cls", data=DataSpec("cqa", str(dss), "train")),
               progress=False)
    return {"clf": clf, "mc": mc, "dss": dss, "root": root}


def test_the_exported_classifier_predicts_what_the_student_predicts(students, tmp_path):
    from transformers import AutoModelForSequenceClassification, pipeline

    out = tmp_path / "hf"
    assert main(["export", str(students["clf"]), "--out", str(out)]) == 0
    student = load_student(students["clf"])
    clf = pipeline("text-classification", model=str(out), trust_remote_code=True, top_k=None,
                   device="cpu")
    mine = student.predict([_generic(t, i) for i, t in enumerate(TEXTS)])
    for text, rec in zip(TEXTS, mine):
        scores = {s["label"]: s["score"] for s in clf([text])[0]}
        assert set(scores) == {"inside", "outside", "work"}
        assert max(scores, key=scores.get) == rec["prediction"]
        names = list(student.task.label_names)
        assert [scores[n] for n in names] == pytest.approx(rec["probabilities"], abs=1e-5)
    # Without trust_remote_code, a fresh process is refused: no standard head of random weights.
    code = ("from transformers import AutoModelForSequenceClassification as A\n"
            f"A.from_pretrained({str(out)!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert done.returncode != 0 and "trust_remote_code" in done.stderr
    model = AutoModelForSequenceClassification.from_pretrained(out, trust_remote_code=True)
    assert model.config.id2label == dict(enumerate(student.task.label_names))


def _generic(text, i):
    from saliency_kd.data import Example

    return Example(f"t{i}", {"input": text}, "")


def test_the_exported_multiple_choice_scorer_matches_and_onnx_too(students, tmp_path):
    pytest.importorskip("onnxruntime", reason="ONNX needs the export extra (onnx, onnxruntime)")
    import numpy as np
    import onnxruntime
    import torch
    from transformers import AutoModelForMultipleChoice, AutoTokenizer

    out = tmp_path / "hf"
    assert main(["export", str(students["mc"]), "--out", str(out), "--onnx"]) == 0
    student = load_student(students["mc"])
    _, examples = load_examples(DataSpec("cqa", str(students["dss"]), "test"))
    model = AutoModelForMultipleChoice.from_pretrained(out, trust_remote_code=True).eval()
    tok = AutoTokenizer.from_pretrained(out)
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    for ex, rec in zip(examples, student.predict(examples)):
        pairs = student._pairs(ex)
        enc = tok([p[0] for p in pairs], [p[2] for p in pairs], return_tensors="pt",
                  padding=True)
        with torch.no_grad():
            logits = model(**{k: v.unsqueeze(0) for k, v in enc.items()}).logits[0]
        assert logits.softmax(-1).tolist() == pytest.approx(rec["probabilities"], abs=1e-5)
        feeds = {i.name: enc[i.name].unsqueeze(0).numpy() for i in session.get_inputs()}
        np.testing.assert_allclose(session.run(None, feeds)[0][0], logits.numpy(), atol=1e-4)
    meta = json.loads((out / "saliency_kd.json").read_text())
    assert meta["pooling"] == "cls" and meta["class"] == "SaliencyKDForMultipleChoice"


def test_a_folder_of_the_users_is_never_written_into(students, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(["export", str(students["clf"]), "--out", str(mine)]) == 2
    assert "error:" in capsys.readouterr().err and sorted(p.name for p in mine.iterdir()) == \
        ["notes.txt"]


def test_a_student_reading_all_choices_in_one_sequence_is_not_exported(students, tmp_path,
                                                                         capsys):
    together = train(TrainConfig(out=str(tmp_path / "together"), student=str(
        students["root"] / "bert"), lr=5e-3, batch_size=8, max_steps=1, pooling="choices",
        data=DataSpec("cqa", str(students["dss"]), "train")), progress=False)
    assert main(["export", str(together), "--out", str(tmp_path / "hf")]) == 2
    assert "load_student" in capsys.readouterr().err
    assert not (tmp_path / "hf").exists()
