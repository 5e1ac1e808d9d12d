"""Outputs carry their provenance: a file the tool cannot prove it wrote is never truncated,
repaired, appended to or replaced (issue 24)."""

from __future__ import annotations

import json

import pytest

from saliency_kd.artifact import (
    ResumableJsonl,
    check_resume,
    claim_output,
    files_digest,
    meta_path,
    read_json,
    read_json_lines,
    read_jsonl_records,
    truncate_log,
    write_jsonl_atomic,
)
from saliency_kd.errors import ConfigError, DataError, SaliencyKDError

SETTINGS = {"method": "saliency", "rationale": {"top_k": 5}}


def _ours(path, records, settings=SETTINGS):
    write_jsonl_atomic(path, records, settings)
    return path


FOREIGN = {
    "notes": b"my notes\n",
    "one JSON line, no newline": json.dumps({"x": "y" * 100_000}).encode(),
    "a data file": b"".join(json.dumps({"id": f"q{i}", "question": "where?", "choices": ["a"],
                                        "answer": "a"}).encode() + b"\n" for i in range(8)),
    "not UTF-8": b"\xff\xfe bad bytes\n",
}


@pytest.mark.parametrize("name", FOREIGN)
def test_a_file_without_sidecar_is_refused_and_left_as_it_was(tmp_path, name):
    path = tmp_path / "out.jsonl"
    path.write_bytes(FOREIGN[name])
    with pytest.raises(SaliencyKDError, match="not written by saliency-kd"):
        ResumableJsonl(path, SETTINGS)
    assert path.read_bytes() == FOREIGN[name]
    assert not meta_path(path).exists()
    # on purpose, it is replaced
    writer = ResumableJsonl(path, SETTINGS, overwrite=True)
    assert writer.records == [] and not path.exists() and meta_path(path).exists()


def test_an_attribution_file_that_lost_its_sidecar_is_refused(tmp_path):
    path = _ours(tmp_path / "r.jsonl", [{"id": "a", "words": [["w", 1.0]] * 5}])
    meta_path(path).unlink()
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="no r.jsonl.meta.json"):
        ResumableJsonl(path, {**SETTINGS, "rationale": {"top_k": 3}})
    assert path.read_bytes() == before


def test_an_empty_file_is_free_to_use(tmp_path):
    path = tmp_path / "r.jsonl"
    path.touch()
    writer = ResumableJsonl(path, SETTINGS)
    writer.write_batch([{"id": "a"}])
    assert read_jsonl_records(path) == [{"id": "a"}]


@pytest.mark.parametrize("line,message", [
    (b"[1, 2, 3]", "expected a JSON object, got a JSON list"),
    (b'{"no_id": 1}', "field 'id': missing field"),
    (b"\xff{}", "not UTF-8"),
    (b"{broken", "invalid JSON"),
])
def test_a_line_that_is_not_ours_is_named_not_cut(tmp_path, line, message):
    """Only a last line without its newline is a torn write; a complete line that is not a
    record is an error naming the line, and nothing is truncated."""
    path = _ours(tmp_path / "r.jsonl", [{"id": "a"}])
    data = path.read_bytes() + line + b"\n"
    path.write_bytes(data)
    with pytest.raises(DataError, match=f"r.jsonl:2:.*{message}"):
        ResumableJsonl(path, SETTINGS)
    assert path.read_bytes() == data
    with pytest.raises(DataError, match="r.jsonl:2"):
        read_jsonl_records(path)


def test_required_fields_are_checked_on_resume(tmp_path):
    path = _ours(tmp_path / "r.jsonl", [{"id": "a", "words": []}, {"id": "b"}])
    with pytest.raises(DataError, match="r.jsonl:2: field 'words'"):
        ResumableJsonl(path, SETTINGS, required=("id", "words"))


def test_a_torn_tail_of_our_own_file_is_still_repaired(tmp_path):
    path = _ours(tmp_path / "r.jsonl", [{"id": "a"}])
    path.write_bytes(path.read_bytes() + b'{"id": "b", "wo')
    writer = ResumableJsonl(path, SETTINGS)
    assert writer.done == {"a"} and path.read_bytes() == b'{"id": "a"}\n'


def test_claim_output(tmp_path):
    path = _ours(tmp_path / "r.jsonl", [{"id": "a"}])
    claim_output(path, SETTINGS)  # ours, same settings
    with pytest.raises(ConfigError, match=r"different settings \(rationale\)"):
        claim_output(path, {**SETTINGS, "rationale": {"top_k": 3}})
    claim_output(path, {**SETTINGS, "rationale": {"top_k": 3}}, overwrite=True)
    with pytest.raises(ConfigError, match="is a directory"):
        claim_output(tmp_path, SETTINGS, overwrite=True)
    meta_path(path).write_text("{torn")
    with pytest.raises(DataError, match=r"r.jsonl.meta.json:1: damaged settings sidecar "
                                        r"\(invalid JSON at column 2 .*\); delete the output"):
        claim_output(path, SETTINGS)
    meta_path(path).write_text("[1]")
    with pytest.raises(DataError, match=r"meta.json: damaged settings sidecar \(not a JSON "
                                        r"object\); delete the output"):
        claim_output(path, SETTINGS)


def test_truncate_log_drops_a_torn_line_and_names_a_foreign_one(tmp_path):
    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "lo')
    truncate_log(log, 2)
    assert log.read_text() == '{"step": 1}\n{"step": 2}\n'
    log.write_text('{"step": 1}\nnot json\n')
    with pytest.raises(DataError, match="train_log.jsonl:2"):
        truncate_log(log, 2)


def test_resume_compares_input_content_not_paths(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "copy.jsonl"
    a.write_text("same\n")
    b.write_text("same\n")
    saved = {"lr": 1, "rationales": str(a), "inputs": files_digest([("rationales", a)])}
    copy = {"lr": 1, "rationales": str(b), "inputs": files_digest([("rationales", b)])}
    check_resume(tmp_path, saved, copy, (), located=("rationales",))
    b.write_text("edited\n")
    edited = {"lr": 1, "rationales": str(b), "inputs": files_digest([("rationales", b)])}
    with pytest.raises(ConfigError, match="rationales: sha256") as err:
        check_resume(tmp_path, saved, edited, (), located=("rationales",))
    assert err.value.key == "inputs"
    old = {"lr": 1, "rationales": str(a)}  # a checkpoint from before content digests
    with pytest.raises(ConfigError, match="rationales"):
        check_resume(tmp_path, old, {"lr": 1, "rationales": str(b)}, ())


def test_claim_output_dir(tmp_path):
    """A folder output is claimed like a file: free when missing or empty, its own (the
    verb's mark, or the legacy test) resumes, anything else is refused unchanged unless
    overwrite; a claimed folder gets the mark."""
    from saliency_kd.artifact import DIR_MARK, claim_output_dir, dir_verb

    new = claim_output_dir(tmp_path / "new" / "run", "train")
    assert dir_verb(new) == "train" and json.loads((new / DIR_MARK).read_text()) == \
        {"verb": "train"}
    (tmp_path / "empty").mkdir()
    claim_output_dir(tmp_path / "empty", "train")
    (new / "train_log.jsonl").write_text("")
    claim_output_dir(new, "train")  # its own: free
    with pytest.raises(ConfigError, match="made by saliency-kd train"):
        claim_output_dir(new, "faithfulness")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes\n")
    with pytest.raises(ConfigError, match="mine is a folder with files in it, and it was not "
                                          "made by saliency-kd train") as err:
        claim_output_dir(mine, "train")
    assert err.value.key == "out" and [p.name for p in mine.iterdir()] == ["notes.txt"]
    claim_output_dir(mine, "train", legacy=lambda d: (d / "notes.txt").exists())
    assert dir_verb(mine) == "train"
    (mine / DIR_MARK).write_text("not json")  # a damaged mark is no mark
    with pytest.raises(ConfigError, match="not made by"):
        claim_output_dir(mine, "train")
    claim_output_dir(mine, "train", overwrite=True)
    assert dir_verb(mine) == "train" and (mine / "notes.txt").read_text() == "my notes\n"
    with pytest.raises(ConfigError, match="is a file"):
        claim_output_dir(mine / "notes.txt", "train")


def test_load_checkpoint_names_a_damaged_file(tmp_path):
    import torch

    from saliency_kd.artifact import load_checkpoint

    good = tmp_path / "state.pt"
    torch.save({"config": {"lr": 1}, "step": 3}, good)
    assert load_checkpoint(good)["step"] == 3
    for name, data in (("cut.pt", good.read_bytes()[:40]), ("junk.pt", b"\x80\x04junk")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=f"{name}: damaged checkpoint.*--overwrite"):
            load_checkpoint(tmp_path / name)
        assert (tmp_path / name).read_bytes() == data  # never deleted
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(DataError, match="not a checkpoint of this tool"):
        load_checkpoint(tmp_path / "list.pt")


def test_check_resume_may_change_a_nested_setting_and_no_other(tmp_path):
    # Fine-tuning keeps the teacher's device inside `teacher`: a run begun on the CPU resumes on
    # a GPU (or under `auto`), but the teacher's name inside the same dict is still compared.
    saved = {"lr": 1, "teacher": {"name": "t", "device": "cpu"}}
    check_resume(tmp_path, saved, {"lr": 1, "teacher": {"name": "t", "device": "cuda"}},
                 ("teacher.device",))
    with pytest.raises(ConfigError, match="teacher"):
        check_resume(tmp_path, saved, {"lr": 1, "teacher": {"name": "u", "device": "cuda"}},
                     ("teacher.device",))


def test_a_damaged_json_file_is_named_with_its_line(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{\n "a": 1,\n "b": \n}\n')
    with pytest.raises(DataError, match=r"summary.json:4: invalid JSON at column 1"):
        read_json(path)
    path.write_bytes(b'{"a": 1}\n"\xff"\n')
    with pytest.raises(DataError, match=r"summary.json:2: not UTF-8 text \(byte 0xff\)"):
        read_json(path)
    path.write_text('{"a": [1, 2]}')
    assert read_json(path) == {"a": [1, 2]}


def test_a_log_line_that_is_not_an_object_is_named(tmp_path):
    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 1}\n\n{"step": 2}\n[3]\n')
    with pytest.raises(DataError, match=r"train_log.jsonl:4: expected a JSON object"):
        read_json_lines(log)
    log.write_text('{"step": 1}\n{"step": 2}\n')
    assert read_json_lines(log) == [{"step": 1}, {"step": 2}]


def test_check_resume_compares_nested_settings_key_by_key(tmp_path):
    """A checkpoint made before a data setting existed resumes while that setting is unset
    (None now, absent then); a nested setting that differs is named by its dotted key."""
    saved = {"lr": 1, "data": {"task": "esnli", "limit": 2400}}
    check_resume(tmp_path, saved, {"lr": 1, "data": {"task": "esnli", "limit": 2400,
                                                     "train_file": None}}, ())
    with pytest.raises(ConfigError, match=r"\(data.limit was 2400, now 100\)") as err:
        check_resume(tmp_path, saved, {"lr": 1, "data": {"task": "esnli", "limit": 100}}, ())
    assert err.value.key == "data.limit"
    with pytest.raises(ConfigError, match=r"data.train_file was None, now 'a.csv'"):
        check_resume(tmp_path, saved, {"lr": 1, "data": {"task": "esnli", "limit": 2400,
                                                         "train_file": "a.csv"}}, ())
    # a whole section that may change leaves every key inside it free
    check_resume(tmp_path, {"lr": 1, "teacher": {"device": "cpu"}},
                 {"lr": 1, "teacher": {"device": "cuda", "dtype": "bf16"}}, ("teacher",))


def test_the_teachers_part_without_teacher_examples_is_as_before_it_existed():
    from saliency_kd.data.pool import data_settings

    assert "teacher_part" not in data_settings({"task": "esnli", "teacher_part": True,
                                                "teacher_examples": None})
    assert data_settings({"task": "esnli", "teacher_part": True, "teacher_examples": 2500}) == \
        {"task": "esnli", "teacher_part": True, "teacher_examples": 2500}
