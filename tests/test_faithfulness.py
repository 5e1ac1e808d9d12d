"""ERASER comprehensiveness / sufficiency on a tiny teacher: prompts, invariants, resume, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import make_teacher

from saliency_kd.artifact import ResumableJsonl, read_jsonl_records
from saliency_kd.attribution.attribute import AttributeConfig, attribute
from saliency_kd.attribution.derive import DeriveConfig, derive
from saliency_kd.attribution.faithfulness import FaithfulnessConfig, faithfulness, reduce_prompt
from saliency_kd.cli import main
from saliency_kd.data import DataSpec, Example, get_task, load_examples, render
from saliency_kd.errors import ConfigError


def _ex():
    return Example("x", {"question": "Where do apples fall, mostly?"}, "ground",
                   ["ground", "big sky"])


def test_reduced_prompts_keep_the_template_and_the_gaps():
    task, ex = get_task("cqa"), _ex()
    full = render(task.prompt(ex))[0]
    assert render(reduce_prompt(task, ex, set(range(10))))[0] == full
    # words: Where do apples fall , mostly ? | ground | big sky
    assert render(reduce_prompt(task, ex, {2, 3, 4, 8}))[0] == (
        "Question: apples fall,\nChoices: (a)  (b) big\nAnswer:")
    assert render(reduce_prompt(task, ex, {0, 2, 6}))[0] == (
        "Question: Where apples ?\nChoices: (a)  (b) \nAnswer:")
    assert render(reduce_prompt(task, ex, set()))[0] == "Question: \nChoices: (a)  (b) \nAnswer:"


def _world(dss_dir, tmp_path, limit=12):
    spec = DataSpec("cqa", str(dss_dir), "train", limit)
    teacher = make_teacher("llama")
    sal = attribute(AttributeConfig(out=str(tmp_path / "sal.jsonl"), data=spec, batch_size=4),
                    teacher=teacher, progress=False)
    rnd = derive(DeriveConfig(str(sal), str(tmp_path / "rnd.jsonl"), spec, "random"))["out"]
    return spec, teacher, sal, rnd


def test_values_match_a_hand_computed_reference(dss_dir, tmp_path):
    spec, teacher, sal, _ = _world(dss_dir, tmp_path, limit=3)
    summary = faithfulness(FaithfulnessConfig([str(sal)], str(tmp_path / "f"), spec,
                                              bins=(0.2, 1.0)), teacher=teacher, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "f" / "sal.jsonl").read_text().splitlines()]
    task, examples = load_examples(spec)
    recs = [json.loads(line) for line in sal.read_text().splitlines()]
    for row, ex, rec in zip(rows, examples, recs):
        assert row["prediction"] == rec["prediction"]

        def p_pred(keep, ex=ex, rec=rec):
            s = teacher.score_candidates([teacher.encode(reduce_prompt(task, ex, keep))],
                                         [ex.choices])[0]
            e = [math.exp(v - max(s)) for v in s]
            return e[ex.choices.index(rec["prediction"])] / sum(e)

        n = len(rec["words"])
        order = sorted(range(n), key=lambda i: -abs(rec["words"][i][1]))
        top = set(order[:math.ceil(0.2 * n)])
        full = p_pred(set(range(n)))
        assert row["p_full"] == pytest.approx(full, abs=1e-5)
        assert row["comprehensiveness"][0] == pytest.approx(full - p_pred(set(range(n)) - top),
                                                            abs=1e-5)
        assert row["sufficiency"][0] == pytest.approx(full - p_pred(top), abs=1e-5)
        # 100%: keeping every word is the full input; removing every word leaves the template
        assert row["sufficiency"][1] == pytest.approx(0.0, abs=1e-6)
        assert row["comprehensiveness"][1] == pytest.approx(full - p_pred(set()), abs=1e-5)
        assert row["rationale_sufficiency"] == pytest.approx(
            full - p_pred(set(rec["rationale_index"])), abs=1e-5)
    assert summary["files"][str(sal)]["n"] == 3


def test_methods_are_compared_on_the_same_examples_and_resume(dss_dir, tmp_path, monkeypatch):
    spec, teacher, sal, rnd = _world(dss_dir, tmp_path)
    cfg = FaithfulnessConfig([str(sal), rnd], str(tmp_path / "clean"), spec)
    clean = faithfulness(cfg, teacher=teacher, progress=False)
    a, b = clean["files"][str(sal)], clean["files"][rnd]
    assert a["n"] == b["n"] == 12 and a["method"] == "saliency" and b["method"] == "random"
    assert set(a["comprehensiveness_by_bin"]) == {"0.01", "0.05", "0.1", "0.2", "0.5"}

    original, calls = ResumableJsonl.write_batch, {"n": 0}

    def dying(self, records):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        original(self, records)

    monkeypatch.setattr(ResumableJsonl, "write_batch", dying)
    cfg.out = str(tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        faithfulness(cfg, teacher=teacher, progress=False)
    monkeypatch.setattr(ResumableJsonl, "write_batch", original)
    faithfulness(cfg, teacher=teacher, progress=False)
    for name in ("sal.jsonl", "rnd.jsonl"):
        assert ((tmp_path / "killed" / name).read_text() ==
                (tmp_path / "clean" / name).read_text())
    # a later call for one file keeps the other file in the summary
    cfg.rationales = [rnd]
    merged = faithfulness(cfg, teacher=teacher, progress=False)
    assert set(merged["files"]) == {str(sal), rnd}
    assert merged["files"][str(sal)]["aopc_sufficiency"] == a["aopc_sufficiency"]


def test_two_calls_into_one_directory_keep_both_files(dss_dir, tmp_path, monkeypatch):
    """Two processes measuring different files into the same directory at the same time (two
    streams of a shell script): the one that finishes last keeps the other's entry."""
    spec, teacher, sal, rnd = _world(dss_dir, tmp_path, limit=4)
    out = str(tmp_path / "f")
    original, state = ResumableJsonl.write_batch, {"other": None}

    def meanwhile(self, records):
        original(self, records)
        if state["other"] is None:  # the other call runs start to end inside this one
            state["other"] = faithfulness(FaithfulnessConfig([rnd], out, spec, batch_size=8),
                                          teacher=teacher, progress=False)

    monkeypatch.setattr(ResumableJsonl, "write_batch", meanwhile)
    last = faithfulness(FaithfulnessConfig([str(sal)], out, spec, batch_size=2),
                        teacher=teacher, progress=False)
    assert set(state["other"]["files"]) == {rnd}
    on_disk = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert set(last["files"]) == set(on_disk["files"]) == {str(sal), rnd}
    assert not list((tmp_path / "f").glob("*.tmp"))


def test_errors_and_cli(dss_dir, tmp_path, capsys):
    spec, teacher, sal, _ = _world(dss_dir, tmp_path, limit=4)
    with pytest.raises(ConfigError, match="'bins'"):
        faithfulness(FaithfulnessConfig([str(sal)], str(tmp_path), spec, bins=(0.0,)))
    with pytest.raises(ConfigError, match="'rationales'"):
        faithfulness(FaithfulnessConfig([], str(tmp_path), spec))
    with pytest.raises(ConfigError, match="generates its answer"):
        faithfulness(FaithfulnessConfig([str(sal)], str(tmp_path),
                                        DataSpec("svamp", str(dss_dir), "train")))
    teacher_dir = tmp_path / "teacher"
    teacher.model.save_pretrained(teacher_dir)
    teacher.tokenizer.save_pretrained(teacher_dir)
    assert main(["faithfulness", "--rationales", str(sal), "--task", "cqa", "--data-dir",
                 spec.data_dir, "--limit", "4", "--teacher", str(teacher_dir), "--bins", "0.1",
                 "0.5", "--out", str(tmp_path / "cli")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bins"] == [0.1, 0.5] and out["files"][str(sal)]["n"] == 4


def test_a_file_ranked_by_value_is_measured_by_value(dss_dir, tmp_path):
    """Signed scores: a rationale chosen by value (positive evidence first) is measured in the
    same order, not by |score|."""
    from saliency_kd.attribution.faithfulness import file_rank, ranked_words
    from saliency_kd.attribution.rationales import RationaleConfig

    assert ranked_words({"words": [["a", -3.0], ["b", 2.0], ["c", 1.0]]}) == [0, 1, 2]
    assert ranked_words({"words": [["a", -3.0], ["b", 2.0], ["c", 1.0]]}, "value") == [1, 2, 0]
    spec = DataSpec("cqa", str(dss_dir), "train", 3)
    teacher = make_teacher("llama")
    signed = attribute(AttributeConfig(out=str(tmp_path / "gxi.jsonl"), data=spec,
                                       method="grad_x_input", batch_size=4),
                       teacher=teacher, progress=False)
    by_value = derive(DeriveConfig(str(signed), str(tmp_path / "gxi-value.jsonl"), spec,
                                   rationale=RationaleConfig(rank="value")))["out"]
    assert file_rank(signed) == "abs" and file_rank(Path(by_value)) == "value"
    summary = faithfulness(FaithfulnessConfig([by_value], str(tmp_path / "f"), spec,
                                              bins=(0.2, 1.0)), teacher=teacher, progress=False)
    assert summary["files"][by_value]["rank"] == "value"
    task, examples = load_examples(spec)
    rows = [json.loads(line) for line in (tmp_path / "f" / "gxi-value.jsonl").read_text()
            .splitlines()]
    for row, ex, rec in zip(rows, examples, read_jsonl_records(by_value)):
        n = len(rec["words"])
        top = set(sorted(range(n), key=lambda i: -rec["words"][i][1])[:math.ceil(0.2 * n)])
        s = teacher.score_candidates([teacher.encode(reduce_prompt(task, ex, top))],
                                     [ex.choices])[0]
        e = [math.exp(v - max(s)) for v in s]
        assert row["sufficiency"][0] == pytest.approx(
            row["p_full"] - e[ex.choices.index(rec["prediction"])] / sum(e), abs=1e-5)


def test_a_changed_rationale_file_is_not_taken_as_the_same_input(dss_dir, tmp_path):
    """Issue 24: the values of a file were tied to its path, so a file edited in place was
    'resumed' with the old values. Now its sha256 is recorded (in the sidecar and the summary)
    and compared: an edited file is refused, naming it; an identical copy elsewhere resumes."""
    import shutil

    from saliency_kd.artifact import file_digest

    spec, teacher, sal, _ = _world(dss_dir, tmp_path, limit=3)
    cfg = FaithfulnessConfig([str(sal)], str(tmp_path / "f"), spec, bins=(0.5,))
    summary = faithfulness(cfg, teacher=teacher, progress=False)
    assert summary["files"][str(sal)]["sha256"] == file_digest(sal)
    original = sal.read_bytes()
    lines = original.decode().splitlines()
    rec = json.loads(lines[0])
    rec["rationale_index"] = rec["rationale_index"][:1]
    sal.write_text("\n".join([json.dumps(rec), *lines[1:]]) + "\n")
    with pytest.raises(ConfigError, match="other input content.*rationales: sha256") as err:
        faithfulness(cfg, teacher=teacher, progress=False)
    assert err.value.key == "inputs"
    sal.write_bytes(original)
    copy = tmp_path / "elsewhere" / "sal.jsonl"
    copy.parent.mkdir()
    shutil.copy(sal, copy)
    before = (tmp_path / "f" / "sal.jsonl").read_text()
    again = faithfulness(FaithfulnessConfig([str(copy)], str(tmp_path / "f"), spec, bins=(0.5,)),
                         teacher=None, progress=False)  # nothing left to measure: no teacher
    assert (tmp_path / "f" / "sal.jsonl").read_text() == before
    assert again["files"][str(copy)]["sha256"] == file_digest(sal)


def test_a_folder_faithfulness_did_not_make_is_refused_and_left_as_it_was(dss_dir, tmp_path):
    """Issue 24: `faithfulness --out` wrote into any existing folder (and replaced a
    summary.json there). A non-empty folder without its mark is refused, nothing changed;
    --overwrite writes into it on purpose, leaving the user's other files alone."""
    spec, teacher, sal, _ = _world(dss_dir, tmp_path, limit=2)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "summary.json").write_text("my summary\n")
    (out / "notes.txt").write_text("my notes\n")
    cfg = FaithfulnessConfig([str(sal)], str(out), spec, bins=(0.5,))
    with pytest.raises(ConfigError, match="not made by saliency-kd faithfulness"):
        faithfulness(cfg, teacher=teacher, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "summary.json"]
    assert (out / "summary.json").read_text() == "my summary\n"
    cfg.overwrite = True
    summary = faithfulness(cfg, teacher=teacher, progress=False)
    assert summary["files"][str(sal)]["n"] == 2 and (out / "notes.txt").read_text() == \
        "my notes\n"
    cfg.overwrite = False
    faithfulness(cfg, teacher=teacher, progress=False)  # its own folder now: resumes
