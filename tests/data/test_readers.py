"""Readers: the DSS layout, PaLM rationale parsing, user files, and named errors."""

from __future__ import annotations

import json

import pytest

from saliency_kd.data import DataSpec, FieldMap, load_examples, parse_llm_output
from saliency_kd.data.dss import load_dss
from saliency_kd.errors import ConfigError, DataError, UnknownNameError


def test_tiny_dss_layout(dss_dir):
    task, train = load_examples(DataSpec("cqa", str(dss_dir), "train"))
    assert len(train) == 40 and task.kind == "choice"
    assert train[0].llm_rationale == "The question names the place."
    assert train[-1].llm_rationale is None  # the garbled output is counted, not fatal
    _, stats = load_dss(dss_dir, "cqa", "train")
    assert stats.unparsable == 1
    _, dev = load_examples(DataSpec("cqa", str(dss_dir), "dev"))
    assert len(dev) == 4 and {e.id for e in dev} <= {e.id for e in train}
    _, again = load_examples(DataSpec("cqa", str(dss_dir), "dev"))
    assert [e.id for e in dev] == [e.id for e in again]
    _, lim = load_examples(DataSpec("cqa", str(dss_dir), "train", limit=7))
    assert [e.id for e in lim] == [e.id for e in train[:7]]


@pytest.mark.parametrize("task,text,expected", [
    ("cqa", "It is math. So the answer is (d) math problem.\n\nQ: x", ("It is math.",
                                                                      "(d) math problem")),
    ("svamp", "84 / 2 = 42. The answer is (84 / 2).\n\nQ: more", ("84 / 2 = 42.", "(84 / 2)")),
    ("anli1", "Because. So the answer is neutral.\n\nPremise: x", ("Because.", "neutral")),
    ("esnli", "Not sure.\nAnswer: neutral\n\nPremise: a", ("Not sure.", "neutral")),
    ("cqa", "no marker at all", None),
    ("cqa", 17, None),
])
def test_parse_llm_output(task, text, expected):
    assert parse_llm_output(task, text) == expected


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = {"id": "a", "question": "where?", "choices": ["x", "y"], "answer": "x"}


@pytest.mark.parametrize("record,field,message", [
    ({k: v for k, v in GOOD.items() if k != "question"}, "question", "missing field"),
    ({**GOOD, "question": "   "}, "question", "empty text"),
    ({**GOOD, "question": ["a"]}, "question", "expected text"),
    ({**GOOD, "choices": "[]"}, "choices", "non-empty list"),
    ({**GOOD, "answer": "z"}, "answer", "not one of the choices"),
])
def test_bad_records_name_file_line_field(tmp_path, record, field, message):
    root = tmp_path / "dss"
    (root / "cqa").mkdir(parents=True)
    _write(root / "cqa" / "cqa_train.json", [json.dumps(GOOD), json.dumps(record)])
    with pytest.raises(DataError) as err:
        load_examples(DataSpec("cqa", str(root), "train"))
    assert err.value.line == 2 and err.value.field == field and message in str(err.value)
    assert "cqa_train.json:2" in str(err.value)


def test_invalid_json_and_missing_file(tmp_path):
    root = tmp_path / "dss"
    (root / "cqa").mkdir(parents=True)
    _write(root / "cqa" / "cqa_train.json", [json.dumps(GOOD), "{not json"])
    with pytest.raises(DataError, match=r"cqa_train.json:2: invalid JSON"):
        load_examples(DataSpec("cqa", str(root), "train"))
    with pytest.raises(DataError, match="no 'test' split"):
        load_examples(DataSpec("cqa", str(root), "test"))


def test_nli_label_checked(tmp_path):
    root = tmp_path / "dss"
    (root / "esnli").mkdir(parents=True)
    _write(root / "esnli" / "esnli_valid.json",
           [json.dumps({"premise": "p", "hypothesis": "h", "label": 7})])
    with pytest.raises(DataError, match="label"):
        load_examples(DataSpec("esnli", str(root), "valid"))


def test_generic_file_with_choices_and_without(tmp_path):
    path = _write(tmp_path / "mine.jsonl", [
        json.dumps({"text": f"item {i}", "gold": "b" if i % 2 else "a", "opts": ["a", "b"]})
        for i in range(10)])
    spec = DataSpec("generic", None, "train", file=str(path),
                    fields=FieldMap("text", "gold", "opts"))
    task, exs = load_examples(spec)
    assert len(exs) == 8 and task.candidates(exs[0]) == ["a", "b"]
    spec.fields = FieldMap("text", "gold")
    task, exs = load_examples(spec)
    assert task.label_names == ("a", "b")
    spec.fields = FieldMap("missing", "gold")
    with pytest.raises(DataError, match="mine.jsonl:1: field 'missing'"):
        load_examples(spec)
    csv = tmp_path / "mine.csv"
    csv.write_text("text,gold\nhello,a\n,b\n")
    with pytest.raises(DataError, match="mine.csv:3: field 'text': empty text"):
        load_examples(DataSpec("generic", None, "train", file=str(csv),
                               fields=FieldMap("text", "gold")))


def test_config_errors():
    with pytest.raises(UnknownNameError, match="valid tasks: .*cqa"):
        load_examples(DataSpec("squad", "x"))
    with pytest.raises(ConfigError, match="split"):
        load_examples(DataSpec("cqa", "x", "validation"))
    with pytest.raises(ConfigError, match="file"):
        load_examples(DataSpec("generic", None))


def test_hub_offline_gives_a_clear_error():
    with pytest.raises(DataError, match="hub"):
        load_examples(DataSpec("cqa", "hub", "train"))


@pytest.mark.shared
def test_real_dss_files(shared_dss):
    for name, split, n in (("cqa", "train", 9741), ("cqa", "test", 1221), ("svamp", "test", 200),
                           ("anli1", "valid", 1000), ("esnli", "valid", 9842)):
        task, exs = load_examples(DataSpec(name, str(shared_dss), split))
        assert len(exs) == n, name
        assert len({e.id for e in exs}) == n
    _, train = load_examples(DataSpec("anli1", str(shared_dss), "train"))
    _, test = load_examples(DataSpec("anli1", str(shared_dss), "test"))
    assert len(train) == 800 and len(test) == 200 and not {e.id for e in train} & {
        e.id for e in test}
    _, stats = load_dss(shared_dss, "cqa", "train")
    assert stats.unparsable < 0.05 * stats.total


def test_data_files_name_what_a_split_reads_by_its_place_in_the_layout(dss_dir, tmp_path):
    from saliency_kd.data import data_files, inputs_digest

    names = [n for n, _ in data_files(DataSpec("cqa", str(dss_dir), "dev"))]
    assert names == ["cqa/cqa_train.json", "cqa/llm/train_CoT_0.json"]
    assert data_files(DataSpec("demo", None, "train")) == []
    root = tmp_path / "dss"
    (root / "esnli").mkdir(parents=True)
    _write(root / "esnli" / "esnli_valid.json",
           [json.dumps({"premise": "p", "hypothesis": "h", "label": 0})])
    assert [n for n, _ in data_files(DataSpec("esnli", str(root), "test"))] == [
        "esnli/esnli_valid.json"]
    digest = inputs_digest(DataSpec("cqa", str(dss_dir), "train"), rationales=None)
    assert sorted(digest) == ["cqa/cqa_train.json", "cqa/llm/train_CoT_0.json"]


@pytest.mark.parametrize("split,limit", [("train", None), ("test", None), ("dev", None)])
def test_zero_examples_is_an_error_naming_the_file(tmp_path, split, limit):
    """Issue 24, case 4: an empty data file is an error for every reader of a split."""
    root = tmp_path / "dss"
    (root / "cqa").mkdir(parents=True)
    (root / "cqa" / "cqa_train.json").write_text("")
    (root / "cqa" / "cqa_test.json").write_text("\n\n")
    with pytest.raises(DataError, match=r"cqa_(train|test).json: no examples in the"):
        load_examples(DataSpec("cqa", str(root), split, limit))
    one = tmp_path / "one.jsonl"
    _write(one, [json.dumps({"input": "a", "label": "x"})])
    with pytest.raises(DataError, match=r"one.jsonl: no examples in the 'test' split"):
        load_examples(DataSpec("generic", None, "test", file=str(one)))
