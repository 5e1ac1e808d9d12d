"""Property-based tests of the readers (issue 24): random bytes, truncations and field deletions
of real-shaped records never crash with anything but the project's DataError, and never yield
a partial dataset silently: a reader either fails naming the file, or returns one example per
record of the file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from conftest import make_examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saliency_kd.artifact import ResumableJsonl, meta_path, write_jsonl_atomic
from saliency_kd.data import DataSpec, FieldMap, load_examples
from saliency_kd.errors import DataError
from saliency_kd.student.items import load_rationale_file

RECORDS = make_examples(6)
GOOD = b"".join(json.dumps(r).encode() + b"\n" for r in RECORDS)
REQUIRED = ("question", "choices", "answer")
NLI = [{"uid": f"n{i}", "premise": f"a cat sat {i}", "hypothesis": "a cat", "label": i % 3,
        "reason": "because"} for i in range(5)]
CHECK = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])
ROOT = Path(tempfile.mkdtemp(prefix="skd-prop-"))


def _cqa(content: bytes, llm: bytes | None = None):
    (ROOT / "cqa" / "llm").mkdir(parents=True, exist_ok=True)
    (ROOT / "cqa" / "cqa_train.json").write_bytes(content)
    llm_file = ROOT / "cqa" / "llm" / "train_CoT_0.json"
    llm_file.unlink(missing_ok=True)
    if llm is not None:
        llm_file.write_bytes(llm)
    return load_examples(DataSpec("cqa", str(ROOT), "train"))[1]


def _records_in(content: bytes) -> int:
    """Lines of `content` that hold a whole JSON text (a reader must return that many)."""
    n = 0
    for line in content.split(b"\n"):
        if line.strip():
            try:
                json.loads(line)
                n += 1
            except ValueError:
                pass
    return n


@CHECK
@given(st.binary(max_size=300))
def test_random_bytes_fail_with_a_data_error_or_read_every_record(data):
    try:
        examples = _cqa(data)
    except DataError:
        return
    assert len(examples) == sum(1 for line in data.split(b"\n") if line.strip())


@CHECK
@given(st.integers(min_value=0, max_value=len(GOOD)))
def test_a_truncated_file_is_never_read_as_a_shorter_dataset_silently(cut):
    """Cut anywhere: a cut inside a record is an error naming its line; a file cut at a line
    boundary is a shorter file, read whole (every record of it, none dropped)."""
    content = GOOD[:cut]
    complete = _records_in(content)
    try:
        examples = _cqa(content)
    except DataError as exc:
        assert complete == 0 or exc.line == content.count(b"\n") + 1, exc
        return
    assert len(examples) == complete
    tail = content.rsplit(b"\n", 1)[-1]
    assert not tail.strip() or _records_in(tail) == 1  # a torn record never passes


@CHECK
@given(st.data())
def test_deleting_fields_fails_naming_the_field_or_keeps_every_record(data):
    i = data.draw(st.integers(0, len(RECORDS) - 1), label="record")
    keys = data.draw(st.sets(st.sampled_from(sorted(RECORDS[i]))), label="deleted")
    recs = [dict(r) for r in RECORDS]
    for k in keys:
        del recs[i][k]
    content = b"".join(json.dumps(r).encode() + b"\n" for r in recs)
    try:
        examples = _cqa(content)
    except DataError as exc:
        assert keys & set(REQUIRED) and exc.line == i + 1 and exc.field in REQUIRED, exc
        return
    assert not keys & set(REQUIRED) and len(examples) == len(RECORDS)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() |
                           st.text(max_size=5), lambda c: st.lists(c, max_size=3) |
                           st.dictionaries(st.text(max_size=3), c, max_size=3), max_leaves=6)


@CHECK
@given(st.data())
def test_replacing_a_value_fails_with_a_data_error_or_keeps_every_record(data):
    i = data.draw(st.integers(0, len(RECORDS) - 1))
    key = data.draw(st.sampled_from(sorted(RECORDS[i])))
    recs = [dict(r) for r in RECORDS]
    recs[i][key] = data.draw(JSON_VALUES)
    content = b"".join(json.dumps(r).encode() + b"\n" for r in recs)
    try:
        examples = _cqa(content)
    except DataError as exc:
        assert exc.line == i + 1
        return
    assert len(examples) == len(RECORDS)


@CHECK
@given(st.binary(max_size=200) | st.integers(0, 400).map(
    lambda n: json.dumps([f"Reason. So the answer is {r['answer']}." for r in RECORDS]).encode()
    [:n]))
def test_a_damaged_llm_file_fails_with_a_data_error_or_keeps_every_record(llm):
    try:
        examples = _cqa(GOOD, llm)
    except DataError:
        return
    assert len(examples) == len(RECORDS)


@CHECK
@given(st.data())
def test_nli_records_with_fields_deleted_or_replaced(data):
    i = data.draw(st.integers(0, len(NLI) - 1))
    recs = [dict(r) for r in NLI]
    key = data.draw(st.sampled_from(sorted(recs[i])))
    if data.draw(st.booleans()):
        del recs[i][key]
    else:
        recs[i][key] = data.draw(JSON_VALUES)
    (ROOT / "anli1").mkdir(parents=True, exist_ok=True)
    (ROOT / "anli1" / "anli1_valid.json").write_bytes(
        b"".join(json.dumps(r).encode() + b"\n" for r in recs))
    try:
        _, examples = load_examples(DataSpec("anli1", str(ROOT), "valid"))
    except DataError as exc:
        assert exc.line == i + 1
        return
    assert len(examples) == len(NLI)


@CHECK
@given(st.binary(max_size=200), st.sampled_from(["jsonl", "csv"]))
def test_generic_files_of_random_bytes(data, suffix):
    path = ROOT / f"mine.{suffix}"
    path.write_bytes(data)
    try:
        _, examples = load_examples(DataSpec("generic", None, "train", file=str(path),
                                             fields=FieldMap("input", "label")))
    except DataError:
        return
    assert examples


ATTRIBUTION = b"".join(json.dumps({"id": r["id"], "prediction": r["answer"],
                                   "rationale_index": [0, 2], "words": [["w", 0.5]]}).encode()
                       + b"\n" for r in RECORDS)


@CHECK
@given(st.integers(0, len(ATTRIBUTION)), st.binary(max_size=40))
def test_rationale_files_and_resumed_outputs_are_read_whole_or_named(cut, junk):
    """A student's rationale file, and an output resumed by ResumableJsonl: a damaged line is
    a DataError; a resumed file loses nothing but a torn last line."""
    path = ROOT / "r.jsonl"
    content = ATTRIBUTION[:cut] + junk
    path.write_bytes(content)
    try:
        records = load_rationale_file(path)
        assert len(records) == _records_in(content)
    except DataError:
        pass
    write_jsonl_atomic(path, [], {"s": 1})
    path.write_bytes(content)
    try:
        writer = ResumableJsonl(path, {"s": 1})
    except DataError:
        assert path.read_bytes() == content  # refused: left as it was
        return
    kept = path.read_bytes()
    assert content.startswith(kept) and b"\n" not in content[len(kept):]
    assert len(writer.records) == _records_in(kept)
    assert meta_path(path).exists()
