"""The CLI runs the real loading path: a tiny model saved to disk and loaded by directory."""

from __future__ import annotations

import json

import pytest
from conftest import make_model, make_tokenizer

from saliency_kd.cli import build_parser, main


@pytest.fixture
def model_dir(tmp_path):
    tok = make_tokenizer("causal")
    model = make_model("llama", len(tok))
    path = tmp_path / "tiny-llama"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_attribute_command(dss_dir, model_dir, tmp_path, capsys):
    out = tmp_path / "runs" / "r.jsonl"
    argv = ["attribute", "--task", "cqa", "--data-dir", str(dss_dir), "--split", "train",
            "--limit", "6", "--teacher", str(model_dir), "--method", "integrated_gradients",
            "--ig-steps", "4", "--top-k", "3", "--out", str(out)]
    assert main(argv) == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 6 and all(len(r["rationale"]) == 3 for r in recs)
    assert all(r["method"] == "integrated_gradients" and "ig_delta" in r for r in recs)
    assert main(argv) == 0  # resume: nothing to do, file unchanged
    assert len(out.read_text().splitlines()) == 6


def test_teacher_eval_command(dss_dir, model_dir, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["teacher-eval", "--data-dir", str(dss_dir), "--split", "test",
                 "--teacher", str(model_dir), "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["n"] == 12 and 0 <= metrics["accuracy"] <= 1
    assert metrics["ci95_low"] <= metrics["accuracy"] <= metrics["ci95_high"]


def test_errors_are_reported_not_raised(dss_dir, tmp_path, capsys):
    code = main(["attribute", "--data-dir", str(tmp_path / "nowhere"), "--teacher", "x",
                 "--out", str(tmp_path / "o.jsonl")])
    assert code == 2
    assert "file not found" in capsys.readouterr().err
    code = main(["attribute", "--data-dir", str(dss_dir), "--teacher", str(tmp_path / "nomodel"),
                 "--out", str(tmp_path / "o.jsonl")])
    assert code == 2 and "teacher" in capsys.readouterr().err


def test_method_choices_come_from_the_registry():
    from saliency_kd.attribution import method_names

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["attribute", "--method", "nope", "--out", "x"])
    args = parser.parse_args(["attribute", "--method", method_names()[-1], "--out", "x"])
    assert args.method == method_names()[-1]


def test_every_option_of_every_verb_has_help():
    import argparse

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {' '.join(x.option_strings) or x.dest}"
               for name, p in sub.choices.items() for x in p._actions
               if not x.help and x.dest != "help"]
    assert not missing, missing
