"""Issue 42: the 22 cases of a hostile sweep, each tried as a new user would, through the CLI.

Every case asserts the exit code, a single `error:` line on stderr (no traceback), and that the
user's files are byte-for-byte unchanged (sha256).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import make_bert_dir, save_lm_dir, write_dss

from saliency_kd.cli import main


def digests(*paths: Path) -> dict[str, str]:
    """sha256 of every file under `paths` (a folder is walked)."""
    out = {}
    for p in paths:
        for f in [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file()):
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def refused(argv: list[str], capsys, *mentions: str, rc: int = 2) -> str:
    """Run the CLI: it exits with `rc` and one `error:` line that names each of `mentions`."""
    capsys.readouterr()
    assert main(argv) == rc
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for m in mentions:
        assert m in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny cqa dataset, a teacher, a student to start from and one trained student."""
    root = tmp_path_factory.mktemp("hostile")
    dss = write_dss(root / "dss", n_train=30, n_test=8)
    bert = make_bert_dir(root / "bert")
    teacher = save_lm_dir("llama", root / "lm")
    data = ["--task", "cqa", "--data-dir", str(dss)]
    assert main(["-q", "train", "--out", str(root / "student"), *data, "--student", str(bert),
                 "--max-steps", "2", "--batch-size", "8", "--lr", "1e-3"]) == 0
    att = root / "att.jsonl"
    assert main(["-q", "attribute", *data, "--split", "train", "--teacher", str(teacher),
                 "--out", str(att), "--batch-size", "10"]) == 0
    return {"root": root, "dss": dss, "bert": bert, "teacher": teacher, "data": data,
            "model": root / "student" / "model", "att": att}


# ---- 1-3: nothing lost beside --out ----------------------------------------------------------
def test_1_a_users_file_where_the_sidecar_goes_is_refused(world, tmp_path, capsys):
    user = tmp_path / "f.jsonl.meta.json"
    user.write_text('{"mine": 1}')
    before = digests(tmp_path)
    refused(["rationales", "--from", str(world["att"]), *world["data"], "--out",
             str(tmp_path / "f.jsonl")], capsys, "f.jsonl.meta.json", "nothing was changed")
    assert digests(tmp_path) == before
    user.write_text("not json")  # junk: refused alike, and no advice to delete it
    line = refused(["rationales", "--from", str(world["att"]), *world["data"], "--out",
                    str(tmp_path / "f.jsonl")], capsys, "f.jsonl.meta.json")
    assert "delete" not in line


def test_2_a_users_file_where_the_predictions_go_is_refused(world, tmp_path, capsys):
    user = tmp_path / "ev.predictions.jsonl"
    user.write_text('{"id": "mine"}\n')
    before = digests(tmp_path)
    refused(["evaluate", "--model", str(world["model"]), *world["data"], "--out",
             str(tmp_path / "ev.json")], capsys, "ev.predictions.jsonl", "nothing was changed")
    assert digests(tmp_path) == before
    user.unlink()
    assert main(["evaluate", "--model", str(world["model"]), *world["data"], "--out",
                 str(tmp_path / "ev.json")]) == 0
    assert main(["evaluate", "--model", str(world["model"]), *world["data"], "--out",
                 str(tmp_path / "ev.json")]) == 0  # its own predictions are replaced


def test_3_a_folder_where_the_sidecar_goes_is_refused_before_anything_is_written(world,
                                                                                 tmp_path,
                                                                                 capsys):
    (tmp_path / "s.jsonl.meta.json").mkdir()
    (tmp_path / "s.jsonl.meta.json" / "keep.txt").write_text("mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for extra in ([], ["--overwrite"]):
        refused(["rationales", "--from", str(world["att"]), *world["data"], "--out",
                 str(tmp_path / "s.jsonl"), *extra], capsys, "s.jsonl.meta.json", "folder")
        assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no s.jsonl, no .tmp


# ---- 4-9: numbers are finite ------------------------------------------------------------------
@pytest.mark.parametrize("flag", [["--lr", "inf"], ["--epochs", "inf"], ["--lr", "nan"]])
def test_4_8_an_infinite_number_on_the_command_line_is_refused(world, tmp_path, capsys, flag):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--out", str(tmp_path / "s"), *world["data"], "--student",
              str(world["bert"]), *flag])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "error:" in line] == \
        [f"saliency-kd train: error: argument {flag[0]}: Input should be a finite number"]
    assert not (tmp_path / "s").exists()


def test_4_training_that_diverges_stops_with_one_line_and_keeps_its_checkpoint(world, tmp_path,
                                                                               capsys):
    out = tmp_path / "s"
    argv = ["train", "--out", str(out), *world["data"], "--student", str(world["bert"]),
            "--batch-size", "8", "--checkpoint-every", "1", "--dev-limit", "0"]
    assert main([*argv, "--lr", "1e-3", "--max-steps", "1"]) == 0
    kept = digests(out / "checkpoint")
    refused([*argv, "--lr", "1e30", "--overwrite", "--max-steps", "3"], capsys, "diverged",
            "step 2")
    assert digests(out / "checkpoint") != kept  # step 1 of the new run, the last good one
    import torch

    state = torch.load(out / "checkpoint" / "state.pt", weights_only=False)
    assert state["step"] == 1
    assert all(t.isfinite().all() for t in state["model"].values() if t.is_floating_point())


def test_5_a_model_with_nan_weights_is_refused_by_evaluate_and_predict(world, tmp_path, capsys):
    import shutil

    from safetensors.torch import load_file, save_file

    model = tmp_path / "model"
    shutil.copytree(world["model"], model)
    weights = load_file(model / "heads.safetensors")
    name = next(k for k, v in weights.items() if v.is_floating_point())
    weights[name] = weights[name] * float("nan")
    save_file(weights, model / "heads.safetensors")
    before = digests(tmp_path)
    refused(["evaluate", "--model", str(model), *world["data"], "--out",
             str(tmp_path / "m.json")], capsys, "NaN or infinite", str(model))
    refused(["predict", "--model", str(model), "--text", "where is it ?", "--choices",
             "park|school"], capsys, "NaN or infinite")
    assert digests(tmp_path) == before


@pytest.mark.parametrize("yaml_text,key", [
    ("students:\n  lr: .inf\n", "'students.lr'"),
    ("students:\n  tune:\n    lr: [.inf, 1.0e-3]\n", "'students.tune.lr.0'"),
    ("students:\n  epochs: .inf\n", "'students.epochs'"),
    ("students:\n  epochs: 1e400\n", "'students.epochs'"),
])
def test_6_9_an_infinite_number_in_yaml_is_refused_by_dry_run(world, tmp_path, capsys, yaml_text,
                                                              key):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    refused(["run", str(cfg), "--dry-run", "--run-dir", str(tmp_path / "r")], capsys, key,
            "finite", str(cfg))
    assert not (tmp_path / "r").exists()


# ---- 10-12: models that cannot load, before any work -------------------------------------------
@pytest.mark.parametrize("student,says", [("/no/such/dir", "model not found"),
                                          ("not-a-model", "not in the Hugging Face cache"),
                                          ("minilm-l99", "6 layers")])
def test_10_11_a_student_that_cannot_load_is_a_clean_error(world, tmp_path, capsys, student,
                                                          says):
    refused(["train", "--out", str(tmp_path / "s"), *world["data"], "--student", student],
            capsys, "'student'", says)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("student", ["/no/such/dir", "minilm-l99"])
def test_12_a_yaml_student_that_cannot_load_fails_the_dry_run(world, tmp_path, capsys, student):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{task: cqa, data_dir: {world['dss']}}}\n"
                   f"students:\n  student: {student}\n")
    refused(["run", str(cfg), "--dry-run", "--run-dir", str(tmp_path / "r")], capsys,
            "'students.student'", student)
    assert not (tmp_path / "r").exists()


# ---- 20-21: YAML means what it says -------------------------------------------------------------
def test_20_a_yaml_boolean_is_not_a_number(world, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  test_limit: true\n")
    refused(["run", str(cfg), "--dry-run"], capsys, "'data.test_limit'", "boolean")


def test_21_a_yaml_key_given_twice_is_an_error_naming_it(world, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"run_dir: {tmp_path / 'a'}\nrun_dir: {tmp_path / 'b'}\n")
    refused(["run", str(cfg), "--dry-run"], capsys, "'run_dir'", "twice", "lines 1 and 2")


# ---- 22: Ctrl-C ----------------------------------------------------------------------------------
def test_22_ctrl_c_ends_with_one_line_and_exit_130(world, tmp_path, capsys, monkeypatch):
    import saliency_kd.attribution.attribute as attribute_module

    out = tmp_path / "r.jsonl"
    argv = ["attribute", *world["data"], "--teacher", str(world["teacher"]), "--out", str(out),
            "--batch-size", "4"]
    real = attribute_module.attribute_batch
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(attribute_module, "attribute_batch", interrupted)
    refused(argv, capsys, "interrupted; rerun the same command to resume", rc=130)
    assert len(out.read_text().splitlines()) == 8
    monkeypatch.setattr(attribute_module, "attribute_batch", real)
    assert main(argv) == 0
    assert len(out.read_text().splitlines()) == 30


# ---- 13-14: resumed record files are checked record by record ----------------------------------
def _record_file(world, path: Path, lines: list[str]) -> Path:
    """A file of the given lines with the sidecar of the world's attribution file (ours)."""
    path.write_text("".join(line + "\n" for line in lines))
    meta = world["att"].with_name(world["att"].name + ".meta.json")
    path.with_name(path.name + ".meta.json").write_bytes(meta.read_bytes())
    return path


def _lines(world) -> list[str]:
    return world["att"].read_text().splitlines()


def test_13_a_record_of_another_task_is_named_by_every_reader(world, tmp_path, capsys):
    own = _lines(world)[:5]
    foreign = json.dumps({**json.loads(own[0]), "id": "esnli-17"})
    mixed = _record_file(world, tmp_path / "mixed.jsonl", [*own, foreign])
    before = digests(tmp_path)
    refused(["attribute", *world["data"], "--split", "train", "--teacher", str(world["teacher"]),
             "--out", str(mixed), "--limit", "6"], capsys, "mixed.jsonl:6", "'esnli-17'")
    refused(["rationales", "--from", str(mixed), *world["data"], "--out",
             str(tmp_path / "d.jsonl")], capsys, "mixed.jsonl:6", "'esnli-17'")
    refused(["train", "--out", str(tmp_path / "s"), *world["data"], "--student",
             str(world["bert"]), "--rationales", str(mixed), "--mode", "rationale"], capsys,
            "mixed.jsonl:6", "'esnli-17'")
    assert digests(tmp_path) == before


def test_14_a_duplicated_record_is_named_by_every_reader(world, tmp_path, capsys):
    lines = _lines(world)
    dup = _record_file(world, tmp_path / "dup.jsonl", [*lines, lines[-1]])
    before = digests(tmp_path)
    at = f"dup.jsonl:{len(lines) + 1}"
    refused(["attribute", *world["data"], "--split", "train", "--teacher", str(world["teacher"]),
             "--out", str(dup)], capsys, at, "repeats the record of line")
    refused(["rationales", "--from", str(dup), *world["data"], "--out",
             str(tmp_path / "d.jsonl")], capsys, at, "repeats")
    refused(["train", "--out", str(tmp_path / "s"), *world["data"], "--student",
             str(world["bert"]), "--rationales", str(dup), "--mode", "rationale"], capsys, at)
    assert digests(tmp_path) == before


# ---- 15: limits against record counts ----------------------------------------------------------
def test_15_faithfulness_refuses_a_limit_its_file_does_not_cover(world, tmp_path, capsys):
    short = _record_file(world, tmp_path / "short.jsonl", _lines(world)[:24])
    before = digests(tmp_path)
    refused(["faithfulness", "--rationales", str(short), *world["data"], "--split", "train",
             "--teacher", str(world["teacher"]), "--limit", "30", "--out",
             str(tmp_path / "f")], capsys, "short.jsonl", "--limit 30", "covers 24")
    assert digests(tmp_path) == before


# ---- 16-19: labels and choices ------------------------------------------------------------------
def _generic(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def generic_student(world):
    rows = [{"input": f"the {p} is here", "label": lab}
            for p in ("park", "school", "garden", "kitchen") for lab in ("a", "b")]
    data = _generic(world["root"] / "g.jsonl", rows * 3)
    out = world["root"] / "gs"
    assert main(["-q", "train", "--out", str(out), "--task", "generic", "--file", str(data),
                 "--student", str(world["bert"]), "--max-steps", "1", "--dev-limit", "0"]) == 0
    return out / "model"


def test_16_evaluate_refuses_data_with_labels_the_student_never_learnt(generic_student,
                                                                       tmp_path, capsys):
    other = _generic(tmp_path / "other.jsonl", [{"input": "the park", "label": "yes"},
                                                {"input": "the school", "label": "no"}])
    before = digests(tmp_path)
    refused(["evaluate", "--model", str(generic_student), "--task", "generic", "--file",
             str(other), "--split", "train", "--out", str(tmp_path / "m.json")], capsys,
            "never learnt", "no, yes", "a, b")
    assert digests(tmp_path) == before


@pytest.mark.parametrize("choices,says", [(["box"], "at least 2"),
                                          (["box", "box", "attic"], "more than once")])
def test_17_18_generic_rows_need_two_distinct_choices(world, tmp_path, capsys, choices, says):
    data = _generic(tmp_path / "c.jsonl", [{"input": "where is it", "label": "box",
                                            "choices": choices}] * 2)
    before = digests(tmp_path)
    refused(["train", "--out", str(tmp_path / "s"), "--task", "generic", "--file", str(data),
             "--choices-field", "choices", "--student", str(world["bert"])], capsys,
            "c.jsonl:1", "'choices'", says)
    assert digests(tmp_path) == before


def test_19_predict_refuses_a_choice_given_twice(world, capsys):
    refused(["predict", "--model", str(world["model"]), "--text", "where is it ?", "--choices",
             "box|box|attic"], capsys, "'choices'", "'box' listed more than once")
