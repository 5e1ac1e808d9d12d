"""The attribute stage end to end on a tiny model: records, resume after a kill, errors."""

from __future__ import annotations

import json

import pytest
from conftest import make_teacher

from saliency_kd.artifact import ResumableJsonl
from saliency_kd.attribution import AttributionOptions
from saliency_kd.attribution.attribute import AttributeConfig, attribute, batches_to_run
from saliency_kd.attribution.rationales import RationaleConfig
from saliency_kd.data import DataSpec
from saliency_kd.errors import ConfigError, DataError, SaliencyKDError


def _cfg(dss_dir, out, **kw):
    return AttributeConfig(out=str(out), data=DataSpec("cqa", str(dss_dir), "train", kw.pop(
        "limit", 20)), batch_size=4, **kw)


def test_records_have_the_promised_fields(dss_dir, tmp_path):
    teacher = make_teacher("llama")
    path = attribute(_cfg(dss_dir, tmp_path / "r.jsonl"), teacher=teacher, progress=False)
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(recs) == 20 and len({r["id"] for r in recs}) == 20
    for r in recs:
        assert {"id", "prediction", "label", "correct", "words", "rationale", "method"} <= set(r)
        assert r["prediction"] in r["candidates"]
        assert r["correct"] == (r["prediction"] == r["label"])
        assert len(r["rationale"]) == 5
        words = [w for w, _ in r["words"]]
        # rationale words are content words, in input order
        assert [words[i] for i in r["rationale_index"]] == r["rationale"]
        assert r["rationale_index"] == sorted(r["rationale_index"])
        assert not {"question", "choices", "answer"} & {w.lower() for w in r["rationale"]}


class Killed(Exception):
    pass


@pytest.mark.parametrize("method", ["saliency", "occlusion"])
def test_resume_after_kill_gives_identical_file(dss_dir, tmp_path, monkeypatch, method):
    teacher = make_teacher("t5")
    clean = attribute(_cfg(dss_dir, tmp_path / "clean.jsonl", method=method), teacher=teacher,
                      progress=False)
    original = ResumableJsonl.write_batch
    calls = {"n": 0}

    def dying_write(self, records):
        calls["n"] += 1
        if calls["n"] == 3:  # the kill lands halfway through writing the third batch
            blob = json.dumps(records[0]) + "\n" + json.dumps(records[1])[:37]
            with self.path.open("a") as fh:
                fh.write(blob)
            raise Killed
        return original(self, records)

    monkeypatch.setattr(ResumableJsonl, "write_batch", dying_write)
    out = tmp_path / "killed.jsonl"
    with pytest.raises(Killed):
        attribute(_cfg(dss_dir, out, method=method), teacher=teacher, progress=False)
    monkeypatch.setattr(ResumableJsonl, "write_batch", original)
    attribute(_cfg(dss_dir, out, method=method), teacher=teacher, progress=False)
    assert out.read_bytes() == clean.read_bytes()


def test_batches_are_fixed_by_position_whatever_is_done():
    from saliency_kd.data.example import Example

    exs = [Example(id=f"e{i}", fields={}, label="") for i in range(10)]
    ids = lambda bs: [[e.id for e in b] for b in bs]  # noqa: E731
    assert ids(batches_to_run(exs, set(), 4)) == [["e0", "e1", "e2", "e3"], ["e4", "e5", "e6",
                                                  "e7"], ["e8", "e9"]]
    # a partly written batch is recomputed whole; a finished one is skipped
    assert ids(batches_to_run(exs, {"e0", "e1", "e2", "e3", "e4"}, 4)) == [
        ["e4", "e5", "e6", "e7"], ["e8", "e9"]]
    # each rank keeps its share, whatever the other rank had finished
    assert ids(batches_to_run(exs, {"e4", "e5"}, 2, rank=0, world=2)) == [
        ["e0", "e1"], ["e8", "e9"]]
    assert ids(batches_to_run(exs, {"e0", "e1"}, 2, rank=1, world=2)) == [
        ["e2", "e3"], ["e6", "e7"]]


def test_rerun_skips_finished_and_extends_with_larger_limit(dss_dir, tmp_path):
    teacher = make_teacher("gpt2")
    out = tmp_path / "r.jsonl"
    attribute(_cfg(dss_dir, out, limit=8), teacher=teacher, progress=False)
    first = out.read_text()
    attribute(_cfg(dss_dir, out, limit=8), teacher=teacher, progress=False)
    assert out.read_text() == first
    attribute(_cfg(dss_dir, out, limit=12), teacher=teacher, progress=False)
    lines = out.read_text().splitlines()
    assert len(lines) == 12 and out.read_text().startswith(first)


def test_resume_with_other_settings_is_refused(dss_dir, tmp_path):
    teacher = make_teacher("gpt2")
    out = tmp_path / "r.jsonl"
    attribute(_cfg(dss_dir, out, limit=4), teacher=teacher, progress=False)
    with pytest.raises(ConfigError, match="method"):
        attribute(_cfg(dss_dir, out, limit=4, method="grad_x_input"), teacher=teacher,
                  progress=False)


def test_resume_across_speed_only_options(dss_dir, tmp_path):
    """Batch sizes and occlusion's prefix reuse change how fast scores come, not the scores: a
    file started with other values resumes (also one whose sidecar predates the option)."""
    teacher = make_teacher("gpt2")
    out = tmp_path / "r.jsonl"
    attribute(_cfg(dss_dir, out, limit=4, method="occlusion"), teacher=teacher, progress=False)
    meta = out.with_name(out.name + ".meta.json")
    old = json.loads(meta.read_text())
    old["options"].pop("occlusion_reuse_prefix")
    meta.write_text(json.dumps(old))
    opts = AttributionOptions(occlusion_batch=3, ig_internal_batch=5, occlusion_reuse_prefix=False)
    attribute(_cfg(dss_dir, out, limit=8, method="occlusion", options=opts), teacher=teacher,
              progress=False)
    assert len(out.read_text().splitlines()) == 8
    assert json.loads(meta.read_text())["options"]["occlusion_batch"] == 3
    with pytest.raises(ConfigError, match="options"):
        attribute(_cfg(dss_dir, out, limit=8, method="occlusion",
                       options=AttributionOptions(ig_steps=3)), teacher=teacher, progress=False)


def test_garbage_in_the_middle_is_not_silently_dropped(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(DataError, match=r"r.jsonl:2"):
        ResumableJsonl(path, {})


def test_gold_target(dss_dir, tmp_path):
    teacher = make_teacher("llama")
    path = attribute(_cfg(dss_dir, tmp_path / "g.jsonl", target="gold", limit=4),
                     teacher=teacher, progress=False)
    for r in map(json.loads, path.read_text().splitlines()):
        assert r["target"] == r["label"]


def test_free_form_task_generates_then_attributes(tmp_path):
    """svamp: the teacher answers by greedy generation; correctness is by equation value."""
    root = tmp_path / "dss"
    (root / "svamp").mkdir(parents=True)
    rows = [{"input": f"john has {a} apples and 2 more . how many apples ?",
             "label": f"( {a}.0 + 2.0 )"} for a in range(1, 9)]
    (root / "svamp" / "svamp_train.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for kind in ("llama", "t5"):
        out = tmp_path / f"{kind}.jsonl"
        cfg = AttributeConfig(out=str(out), data=DataSpec("svamp", str(root), "train"),
                              batch_size=4, rationale=RationaleConfig(top_k=2))
        attribute(cfg, teacher=make_teacher(kind), progress=False)
        recs = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(recs) == 8
        assert all("candidates" not in r and len(r["rationale"]) == 2 for r in recs)
        assert all(r["correct"] is False for r in recs if "+" not in r["prediction"])


@pytest.mark.parametrize("content", [
    b"my notes\n",
    json.dumps({"big": "x" * 100_000}).encode(),  # one line of JSON, no newline
    b"",  # placeholder: replaced by the head of the data file below
])
def test_a_file_the_tool_did_not_write_is_refused_untouched(dss_dir, tmp_path, content, capsys):
    """Issue 24, cases 1 and 2: a notes file, a one-line JSON file, and a data file given as
    --out are not repaired, appended to or taken as finished work; --overwrite replaces them."""
    from saliency_kd.cli import main

    if not content:
        content = b"".join((dss_dir / "cqa" / "cqa_train.json").read_bytes().splitlines(
            keepends=True)[:8])
    out = tmp_path / "n.txt"
    out.write_bytes(content)
    teacher = make_teacher("gpt2")
    with pytest.raises(SaliencyKDError, match="not written by saliency-kd"):
        attribute(_cfg(dss_dir, out, limit=8), teacher=teacher, progress=False)
    assert out.read_bytes() == content and not out.with_name("n.txt.meta.json").exists()
    argv = ["attribute", "--data-dir", str(dss_dir), "--limit", "8", "--teacher", "unused",
            "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "n.txt" in err and "not written by saliency-kd" in err
    assert out.read_bytes() == content
    attribute(_cfg(dss_dir, out, limit=8, overwrite=True), teacher=teacher, progress=False)
    assert len(out.read_text().splitlines()) == 8


def test_an_attribution_file_without_its_sidecar_takes_no_other_top_k(dss_dir, tmp_path):
    teacher = make_teacher("gpt2")
    out = tmp_path / "r.jsonl"
    attribute(_cfg(dss_dir, out, limit=4), teacher=teacher, progress=False)
    out.with_name("r.jsonl.meta.json").unlink()
    before = out.read_bytes()
    with pytest.raises(ConfigError, match="no r.jsonl.meta.json"):
        attribute(_cfg(dss_dir, out, limit=8, rationale=RationaleConfig(top_k=3)),
                  teacher=teacher, progress=False)
    assert out.read_bytes() == before


def test_a_json_array_line_is_named_not_a_traceback(dss_dir, tmp_path):
    teacher = make_teacher("gpt2")
    out = tmp_path / "r.jsonl"
    attribute(_cfg(dss_dir, out, limit=4), teacher=teacher, progress=False)
    with out.open("a") as fh:
        fh.write("[1, 2]\n")
    with pytest.raises(DataError, match="r.jsonl:5: expected a JSON object"):
        attribute(_cfg(dss_dir, out, limit=8), teacher=teacher, progress=False)


def test_resume_follows_the_data_content_not_its_path(dss_dir, tmp_path):
    """Issue 24: an attribution file resumes on an identical copy of the data elsewhere, is
    refused on data edited in place (naming the file), and a sidecar from before content
    digests resumes as before (compared by path)."""
    import shutil

    teacher = make_teacher("gpt2")
    out = tmp_path / "r.jsonl"
    attribute(_cfg(dss_dir, out, limit=4), teacher=teacher, progress=False)
    copy = tmp_path / "copy"
    shutil.copytree(dss_dir, copy)
    attribute(_cfg(copy, out, limit=8), teacher=teacher, progress=False)
    assert len(out.read_text().splitlines()) == 8
    train = copy / "cqa" / "cqa_train.json"
    train.write_text(train.read_text().replace("park", "zoo"))
    before = out.read_bytes()
    with pytest.raises(ConfigError, match="cqa/cqa_train.json: sha256") as err:
        attribute(_cfg(copy, out, limit=12), teacher=teacher, progress=False)
    assert err.value.key == "inputs" and out.read_bytes() == before
    meta = out.with_name(out.name + ".meta.json")
    old = json.loads(meta.read_text())
    old.pop("inputs")
    old["data"]["data_dir"] = str(dss_dir)
    meta.write_text(json.dumps(old))
    attribute(_cfg(dss_dir, out, limit=12), teacher=teacher, progress=False)
    assert len(out.read_text().splitlines()) == 12


def test_pool_records_carry_nothing_gold(dss_dir, tmp_path):
    """The teacher answers and explains the unlabeled pool in the same pass as the labelled
    examples; a pool record has no label and no correctness, the teacher check skips it, and
    a larger pool extends the file (resumable)."""
    teacher = make_teacher("llama")
    out = tmp_path / "r.jsonl"
    data = DataSpec("cqa", str(dss_dir), "train", limit=10, unlabeled="train", unlabeled_limit=6)
    attribute(AttributeConfig(out=str(out), data=data, batch_size=4), teacher=teacher,
              progress=False)
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(recs) == 16
    pool, labelled = recs[10:], recs[:10]
    assert all(r["label"] is None and r["correct"] is None for r in pool)
    assert all(r["target"] == r["prediction"] and r["candidate_scores"] for r in pool)
    assert all(r["label"] and r["correct"] is not None for r in labelled)
    check = json.loads(out.with_name("r.jsonl.teacher-check.json").read_text())["teacher_check"]
    assert check["n"] == 10
    data.unlabeled_limit = 8  # a larger pool: the file is extended, not started afresh
    attribute(AttributeConfig(out=str(out), data=data, batch_size=4), teacher=teacher,
              progress=False)
    again = [json.loads(x) for x in out.read_text().splitlines()]
    assert again[:16] == recs and len(again) == 18
    with pytest.raises(ConfigError, match="gold"):
        attribute(AttributeConfig(out=str(tmp_path / "g.jsonl"), data=data, target="gold"),
                  teacher=teacher, progress=False)
