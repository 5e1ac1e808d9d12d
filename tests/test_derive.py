"""Derived rationale files: another k from stored scores, the random / gold-answer controls,
the gold-evidence positive control, and the teacher's words and the evidence without the
answer's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_teacher

from saliency_kd.attribution.attribute import AttributeConfig, attribute
from saliency_kd.attribution.derive import DeriveConfig, derive, gold_evidence_words
from saliency_kd.attribution.rationales import RationaleConfig, eligible
from saliency_kd.cli import main
from saliency_kd.data import DataSpec, Example, get_task, load_examples
from saliency_kd.errors import ConfigError, DataError, UnknownNameError
from saliency_kd.words import content_segments


def _read(path):
    return [json.loads(line) for line in open(path)]


def _evidence(task_name, ex):
    """The gold-evidence words of one example, with the field each comes from."""
    task = get_task(task_name)
    words = [(w, s.field) for s in content_segments(task.prompt(ex)) for _, w in s.indexed()]
    return [words[i] for i in gold_evidence_words(task, ex)]


@pytest.fixture
def source(dss_dir, tmp_path):
    spec = DataSpec("cqa", str(dss_dir), "train", 24)
    path = attribute(AttributeConfig(out=str(tmp_path / "sal.jsonl"), data=spec, batch_size=8),
                     teacher=make_teacher("llama"), progress=False)
    return spec, path


def test_teacher_reselection_equals_a_fresh_attribution_with_that_k(source, tmp_path):
    spec, path = source
    fresh = attribute(AttributeConfig(out=str(tmp_path / "k3.jsonl"), data=spec, batch_size=8,
                                      rationale=RationaleConfig(top_k=3)),
                      teacher=make_teacher("llama"), progress=False)
    derive(DeriveConfig(str(path), str(tmp_path / "d3.jsonl"), spec, "teacher",
                        RationaleConfig(top_k=3)))
    ref, got = _read(fresh), _read(tmp_path / "d3.jsonl")
    assert [r["rationale_index"] for r in got] == [r["rationale_index"] for r in ref]
    assert [r["rationale"] for r in got] == [r["rationale"] for r in ref]
    # everything else a student reads is carried over untouched
    for a, b in zip(got, _read(path)):
        for key in ("id", "prediction", "label", "candidates", "candidate_scores", "words"):
            assert a[key] == b[key]


def test_random_control_is_k_seeded_eligible_words(source, tmp_path):
    spec, path = source
    cfg = RationaleConfig(top_k=5)
    a = _read(derive(DeriveConfig(str(path), str(tmp_path / "a.jsonl"), spec, "random", cfg,
                                  seed=0))["out"])
    again = _read(derive(DeriveConfig(str(path), str(tmp_path / "b.jsonl"), spec, "random", cfg,
                                      seed=0))["out"])
    other = _read(derive(DeriveConfig(str(path), str(tmp_path / "c.jsonl"), spec, "random", cfg,
                                      seed=1))["out"])
    fewer = _read(derive(DeriveConfig(str(path), str(tmp_path / "d.jsonl"),
                                      DataSpec("cqa", spec.data_dir, "train", 10), "random", cfg,
                                      seed=0))["out"])
    assert a == again and a[:10] == fewer  # per-example streams: independent of --limit
    assert [r["rationale_index"] for r in a] != [r["rationale_index"] for r in other]
    teacher_recs = _read(path)
    assert [r["rationale_index"] for r in a] != [r["rationale_index"] for r in teacher_recs]
    for r, t in zip(a, teacher_recs):
        assert r["method"] == "random" and r["prediction"] == t["prediction"]
        n_eligible = sum(eligible(w, cfg) for w, _ in r["words"])
        assert len(r["rationale_index"]) == min(5, n_eligible)
        assert all(eligible(w, cfg) for w in r["rationale"])


def test_gold_answer_control_points_at_the_gold_choice(source, tmp_path):
    spec, path = source
    recs = _read(derive(DeriveConfig(str(path), str(tmp_path / "g.jsonl"), spec, "gold-answer",
                                     RationaleConfig()))["out"])
    _, examples = load_examples(spec)
    for r, ex in zip(recs, examples):
        assert " ".join(r["rationale"]).lower() == ex.label.lower()
        fields = [r["word_fields"][i] for i in r["rationale_index"]]
        assert set(fields) == {"choices"}  # the choice itself, not a look-alike in the question


def test_gold_answer_control_refuses_a_task_without_the_answer_in_its_input(tmp_path):
    data = tmp_path / "nli.jsonl"
    data.write_text("".join(json.dumps({"input": f"the cat sat on mat {i}",
                                        "label": ["yes", "no"][i % 2], "id": str(i)}) + "\n"
                            for i in range(10)))  # two labels: one is no classification
    spec = DataSpec("generic", "", "train", None, str(data))
    src = attribute(AttributeConfig(out=str(tmp_path / "r.jsonl"), data=spec, batch_size=8),
                    teacher=make_teacher("llama"), progress=False)
    with pytest.raises(ConfigError, match="never occurs in the input"):
        derive(DeriveConfig(str(src), str(tmp_path / "g.jsonl"), spec, "gold-answer"))


def test_gold_evidence_demo_marks_the_annotated_words_in_story_and_question_only():
    ex = Example("d0", {"question": "Anna put the keys in the drawer. Ben hid the phone in the "
                                    "garage. Where did Anna put the keys?"},
                 "drawer", ["garage", "drawer", "attic"],
                 explanations=["Anna put the keys in the drawer."],
                 evidence=["Anna", "keys", "drawer"])
    # the annotated words win over the explanation ("put" is not evidence), and the gold place
    # is chosen where the fact states it, not again among the choices
    assert _evidence("demo", ex) == [("Anna", "question"), ("keys", "question"),
                                     ("drawer", "question"), ("Anna", "question"),
                                     ("keys", "question")]


def test_gold_evidence_esnli_words_of_any_explanation_without_stop_words():
    ex = Example("e0", {"premise": "A man in a blue shirt is playing the guitar on stage.",
                        "hypothesis": "A man is performing music."}, "entailment",
                 explanations=["Playing the guitar on stage is performing music.",
                               "Playing guitar is performing.", "The MAN plays music."])
    # "a", "the", "is", "on" and "." occur in explanations but are dropped; "blue shirt" is not
    # mentioned; "man" only through "MAN" (case-insensitive)
    assert _evidence("esnli", ex) == [
        ("man", "premise"), ("playing", "premise"), ("guitar", "premise"), ("stage", "premise"),
        ("man", "hypothesis"), ("performing", "hypothesis"), ("music", "hypothesis")]


def test_gold_evidence_anli_words_of_the_reason():
    ex = Example("a0", {"premise": "The Eiffel Tower was completed in 1889 for the World's Fair.",
                        "hypothesis": "The tower is older than 1900."}, "entailment",
                 explanations=["The tower was finished in 1889, which is before 1900."])
    assert _evidence("anli1", ex) == [("Tower", "premise"), ("1889", "premise"),
                                      ("tower", "hypothesis"), ("1900", "hypothesis")]


def test_gold_evidence_cqa_includes_a_word_found_only_in_the_choices():
    ex = Example("c0", {"question": "Where would you keep a sandwich before lunch?"}, "lunchbox",
                 ["fridge", "pocket", "lunchbox", "desk", "oven"],
                 explanations=["lunchbox", "A sandwich is kept in a lunchbox until lunch."])
    # whole words only: "keep" is not "kept"
    assert _evidence("cqa", ex) == [("sandwich", "question"), ("lunch", "question"),
                                    ("lunchbox", "choices")]
    ex.explanations = []
    assert _evidence("cqa", ex) == []


def test_gold_evidence_control_marks_every_input_word_of_the_explanations(source, tmp_path):
    spec, path = source
    recs = _read(derive(DeriveConfig(str(path), str(tmp_path / "e.jsonl"), spec,
                                     "gold-evidence", RationaleConfig(top_k=1)))["out"])
    _, examples = load_examples(spec)
    for r, ex, t in zip(recs, examples, _read(path)):
        # the explanations are "it is the <place>" and "the <place>": every occurrence of the
        # place, in the question and among the choices, however small top_k is
        words = [w for w, _ in t["words"]]
        assert r["rationale_index"] == [i for i, w in enumerate(words) if w == ex.label]
        assert set(r["rationale"]) == {ex.label}
        assert {r["word_fields"][i] for i in r["rationale_index"]} == {"question", "choices"}
        assert r["words"] == [[w, 1.0 if i in r["rationale_index"] else 0.0]
                              for i, w in enumerate(words)]
        assert r["method"] == "gold-evidence"
        assert r["derived"] == {"from": t["method"], "source": "gold-evidence"}
        for key in ("id", "prediction", "label", "candidates", "candidate_scores"):
            assert r[key] == t[key]


def test_gold_evidence_control_counts_empty_rationales_and_refuses_all_empty(source, tmp_path,
                                                                            caplog):
    spec, path = source
    data = Path(spec.data_dir) / "cqa" / "cqa_train.json"
    recs = [json.loads(line) for line in data.read_text().splitlines()]

    def drop_explanations(n):
        for r in recs[:n]:
            r.pop("abstractive_explanation", None)
            r.pop("extractive_explanation", None)
        data.write_text("".join(json.dumps(r) + "\n" for r in recs))

    drop_explanations(3)
    summary = derive(DeriveConfig(str(path), str(tmp_path / "e.jsonl"), spec, "gold-evidence"))
    assert summary["records"] == 24 and summary["empty_rationales"] == 3
    assert "3 of 24 rationales are empty" in caplog.text
    drop_explanations(len(recs))
    with pytest.raises(ConfigError, match="gold-evidence control needs examples with annotated "
                                          "evidence or human explanations"):
        # another --out: e.jsonl was made from the data before this edit, and is kept
        derive(DeriveConfig(str(path), str(tmp_path / "e2.jsonl"), spec, "gold-evidence"))


def test_errors_name_file_line_and_field(source, tmp_path):
    spec, path = source
    with pytest.raises(UnknownNameError, match="gold-answer, gold-evidence, "
                                               "gold-evidence-no-answer, random, teacher, "
                                               "teacher-no-answer"):
        derive(DeriveConfig(str(path), str(tmp_path / "x.jsonl"), spec, "shuffle"))
    with pytest.raises(ConfigError, match="'out'"):
        derive(DeriveConfig(str(path), str(path), spec))
    with pytest.raises(DataError, match="not found"):
        derive(DeriveConfig(str(tmp_path / "nope.jsonl"), str(tmp_path / "x.jsonl"), spec))
    lines = path.read_text().splitlines()
    bad = json.loads(lines[2])
    bad["words"] = bad["words"][:-1]
    lines[2] = json.dumps(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"broken.jsonl:3: field 'words'.*other data"):
        derive(DeriveConfig(str(broken), str(tmp_path / "x.jsonl"), spec))
    with pytest.raises(DataError, match="other data|another task or split"):
        derive(DeriveConfig(str(path), str(tmp_path / "x.jsonl"),
                            DataSpec("cqa", spec.data_dir, "test")))


def test_cli_writes_a_file_students_accept(source, tmp_path, capsys):
    spec, path = source
    out = tmp_path / "rand.jsonl"
    assert main(["rationales", "--from", str(path), "--task", "cqa", "--data-dir", spec.data_dir,
                 "--limit", "24", "--source", "random", "--top-k", "4", "--seed", "3",
                 "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 24 and summary["mean_length"] <= 4
    meta = json.loads(out.with_name(out.name + ".meta.json").read_text())
    assert meta["source"] == "random" and meta["seed"] == 3
    from saliency_kd.student.items import check_coverage, load_rationale_file

    _, examples = load_examples(spec)
    check_coverage(out, load_rationale_file(out), examples)


def test_an_existing_out_is_replaced_only_when_ours_with_these_settings(source, tmp_path,
                                                                          capsys):
    """Issue 24: `rationales --out` no longer silently replaces a file: one it did not write is
    refused, so is its own file made with other settings; the same settings re-make it;
    --overwrite replaces on purpose."""
    spec, path = source
    notes = tmp_path / "notes.jsonl"
    notes.write_text("my notes\n")
    argv = ["rationales", "--from", str(path), "--task", "cqa", "--data-dir", spec.data_dir,
            "--limit", "24", "--source", "random", "--out", str(notes)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "notes.jsonl exists and was not written by saliency-kd" in err
    assert notes.read_text() == "my notes\n"
    out = tmp_path / "r.jsonl"
    derive(DeriveConfig(str(path), str(out), spec, "random", seed=1))
    derive(DeriveConfig(str(path), str(out), spec, "random", seed=1))  # same settings: fine
    before = out.read_bytes()
    with pytest.raises(ConfigError, match=r"different settings \(seed\)"):
        derive(DeriveConfig(str(path), str(out), spec, "random", seed=2))
    assert out.read_bytes() == before
    derive(DeriveConfig(str(path), str(out), spec, "random", seed=2, overwrite=True))
    assert out.read_bytes() != before
    assert main([*argv, "--overwrite"]) == 0
    assert len(notes.read_text().splitlines()) == 24


@pytest.fixture
def demo_source(tmp_path):
    """A rationale file over 30 demo stories whose scores rank the answer's place first (as the
    demo's teacher mostly does), then the other words in a seeded order."""
    import random

    spec = DataSpec("demo", None, "train", 30)
    task, examples = load_examples(spec)
    path = tmp_path / "demo-sal.jsonl"
    with path.open("w") as fh:
        for ex in examples:
            words = [w for s in content_segments(task.prompt(ex)) for _, w in s.indexed()]
            rng = random.Random(ex.id)
            scores = [1.0 if w == ex.label else round(rng.random() * 0.9, 6) for w in words]
            fh.write(json.dumps({"id": ex.id, "prediction": ex.label, "method": "saliency",
                                 "words": [[w, s] for w, s in zip(words, scores)],
                                 "rationale_index": []}) + "\n")
    return spec, path, examples


def test_teacher_no_answer_keeps_k_of_the_teachers_words_without_the_answer(demo_source,
                                                                           tmp_path):
    spec, path, examples = demo_source
    cfg = RationaleConfig(top_k=5)
    recs = _read(derive(DeriveConfig(str(path), str(tmp_path / "t.jsonl"), spec,
                                     "teacher-no-answer", cfg))["out"])
    full = _read(derive(DeriveConfig(str(path), str(tmp_path / "f.jsonl"), spec, "teacher",
                                     cfg))["out"])
    assert all(ex.label in r["rationale"] for r, ex in zip(full, examples))  # the premise
    for r, f, t, ex in zip(recs, full, _read(path), examples):
        words = [w for w, _ in t["words"]]
        assert ex.label not in r["rationale"]  # neither the choice nor the story's mention
        n_eligible = sum(eligible(w, cfg) and w != ex.label for w in words)
        assert len(r["rationale_index"]) == min(5, n_eligible) == 5
        # the teacher's own ranking of the other words: its top 4 besides the answer stay
        assert set(f["rationale_index"]) - set(r["rationale_index"]) == \
            {i for i in f["rationale_index"] if words[i] == ex.label}
        assert r["words"] == [[w, 0.0 if w == ex.label else s] for w, s in t["words"]]
        assert r["derived"] == {"from": "saliency", "source": "teacher-no-answer"}


def test_gold_evidence_no_answer_is_the_evidence_less_the_answer(demo_source, tmp_path):
    spec, path, examples = demo_source
    ev = _read(derive(DeriveConfig(str(path), str(tmp_path / "e.jsonl"), spec,
                                   "gold-evidence"))["out"])
    no = _read(derive(DeriveConfig(str(path), str(tmp_path / "n.jsonl"), spec,
                                   "gold-evidence-no-answer"))["out"])
    for e, n, ex in zip(ev, no, examples):
        assert n["rationale_index"] == [i for i in e["rationale_index"]
                                        if e["words"][i][0] != ex.label]
        # the person and the object of the answering fact, in the story and the question
        assert set(n["rationale"]) == set(ex.evidence) - {ex.label}
        assert n["method"] == "gold-evidence-no-answer"


def test_gold_evidence_no_answer_refuses_evidence_that_is_only_the_answer(source, tmp_path):
    spec, path = source  # the tiny CQA's explanations name the answer and nothing else
    with pytest.raises(ConfigError, match="other than the answer's"):
        derive(DeriveConfig(str(path), str(tmp_path / "n.jsonl"), spec,
                            "gold-evidence-no-answer"))


def test_cli_offers_the_no_answer_sources(demo_source, tmp_path, capsys):
    _, path, _ = demo_source
    out = tmp_path / "t.jsonl"
    assert main(["rationales", "--from", str(path), "--task", "demo", "--limit", "30",
                 "--source", "teacher-no-answer", "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["mean_length"] == 5
