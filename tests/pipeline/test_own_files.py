"""`run` on a user's own files: a training CSV and a test CSV used whole; the report reads
alone (row names, chance, no gold-answer line for classification)."""

from __future__ import annotations

import json

from conftest import make_bert_dir, save_lm_dir

from saliency_kd.pipeline.config import parse_config
from saliency_kd.pipeline.run import run_pipeline
from saliency_kd.report import format_table

LABELS = {"park": "outside", "beach": "outside", "school": "inside", "kitchen": "inside",
          "office": "work"}


def _csv(path, n, shift):
    places = sorted(LABELS)
    rows = [f"john went to the {places[(i + shift) % 5]} .,{LABELS[places[(i + shift) % 5]]}"
            for i in range(n)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return str(path)


def test_a_run_on_a_training_and_a_test_csv(tmp_path):
    cfg = parse_config({
        "run_dir": str(tmp_path / "run"),
        "data": {"task": "generic", "train_file": _csv(tmp_path / "train.csv", 30, 0),
                 "test_file": _csv(tmp_path / "test.csv", 7, 2),
                 "fields": {"input_field": "text"}},
        "teacher": {"name": str(save_lm_dir("llama", tmp_path / "lm"))},
        "attribution": {"methods": ["saliency"], "top_k": 2},
        "students": {"student": str(make_bert_dir(tmp_path / "bert")), "modes": ["standard"],
                     "lr": 1e-3, "batch_size": 8, "epochs": 1},
        "report": {"heatmaps": 1},
    })
    results = run_pipeline(cfg, progress=False)
    assert results["teacher"]["n"] == 7  # the whole test file
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["chance"] == 1 / 3 and saved["multiple_choice"] is False
    table = format_table(saved)
    assert "chance (a uniform guess): 0.333" in table and "gold answer" not in table
    html = (tmp_path / "run" / "report.html").read_text()
    assert "Chance (a uniform guess): 0.333" in html and "channel@source" in html
    assert "contains part of the gold answer" not in html
