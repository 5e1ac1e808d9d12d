"""The CLI runs the real loading path: a tiny model saved to disk and loaded by directory."""

from __future__ import annotations

import json

import pytest
from conftest import make_model, make_teacher, make_tokenizer

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


# ---- issue 24: broken inputs through every verb: exit code 2, one line, no traceback -------
def _student_dir(world, tmp_path):
    from saliency_kd.data import DataSpec
    from saliency_kd.student import TrainConfig, train

    return train(TrainConfig(out=str(tmp_path / "student"),
                             data=DataSpec("cqa", str(world["dss"]), "train"),
                             student=str(world["encoder"]), max_steps=1, dev_limit=0),
                 progress=False)


@pytest.fixture(scope="module")
def broken(student_world, tmp_path_factory):
    """A good data set, model and student, and each broken input beside them."""
    import shutil

    from conftest import write_dss

    root = tmp_path_factory.mktemp("broken")
    tok = make_tokenizer("causal")
    teacher = root / "teacher"
    make_model("llama", len(tok)).save_pretrained(teacher)
    tok.save_pretrained(teacher)
    student = _student_dir(student_world, root)
    b: dict = {"root": root, "teacher": teacher, "student": student,
               "good": write_dss(root / "good", n_train=20, n_test=6)}

    def dss(name, edit):
        d = root / name
        shutil.copytree(b["good"], d)
        edit(d / "cqa")
        return d

    def bad_byte(path):
        lines = path.read_bytes().splitlines(keepends=True)
        lines[2] = lines[2].replace(b"where", b"wh\xe9re", 1)
        path.write_bytes(b"".join(lines))

    b["latin1"] = dss("latin1", lambda d: bad_byte(d / "cqa_train.json"))
    b["latin1-llm"] = dss("latin1llm", lambda d: (d / "llm" / "train_CoT_0.json").write_bytes(
        (d / "llm" / "train_CoT_0.json").read_bytes().replace(b"place", b"pl\xe2ce", 1)))
    b["empty"] = dss("empty", lambda d: [(d / f"cqa_{s}.json").write_text("")
                                         for s in ("train", "test")])
    b["array-line"] = dss("array", lambda d: (d / "cqa_train.json").write_bytes(
        b"[1, 2]\n" + (d / "cqa_train.json").read_bytes()))
    b["no-data"] = root / "nowhere"
    b["attribution"] = root / "good.jsonl"
    from saliency_kd.attribution.attribute import AttributeConfig, attribute
    from saliency_kd.data import DataSpec

    attribute(AttributeConfig(out=str(b["attribution"]), data=DataSpec("cqa", str(b["good"]),
                                                                        "train")),
              teacher=make_teacher("llama"), progress=False)
    b["notes"] = root / "notes.txt"
    b["notes"].write_text("my notes\n")
    truncated = root / "truncated"
    shutil.copytree(student, truncated)
    for f in truncated.rglob("*.safetensors"):
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    b["truncated"] = truncated
    meta_broken = root / "metabroken"
    shutil.copytree(student, meta_broken)
    (meta_broken / "student.json").write_text('{"task": "cq')
    b["meta-broken"] = meta_broken
    return b


def _data_verbs(b, data):
    t, d = str(b["teacher"]), str(data)
    common = ["--task", "cqa", "--data-dir", d]
    out = b["root"] / "outs"
    return {
        "attribute": ["attribute", *common, "--teacher", t, "--out", str(out / "a.jsonl")],
        "rationales": ["rationales", "--from", str(b["attribution"]), *common,
                       "--out", str(out / "r.jsonl")],
        "faithfulness": ["faithfulness", "--rationales", str(b["attribution"]), *common,
                         "--teacher", t, "--out", str(out / "f")],
        "teacher-eval": ["teacher-eval", *common, "--split", "train", "--teacher", t,
                         "--out", str(out / "te.json")],
        "teacher-finetune": ["teacher-finetune", *common, "--teacher", t, "--stop-after-steps", "1",
                             "--out", str(out / "ft")],
        "train": ["train", *common, "--student", str(b["student"].parent / "none"),
                  "--out", str(out / "t")],
        "evaluate": ["evaluate", "--model", str(b["student"]), *common, "--split", "train",
                     "--out", str(out / "m.json")],
    }


DATA_CASES = {"latin1": "cqa_train.json:3: not UTF-8 text",
              "latin1-llm": "train_CoT_0.json:1: not UTF-8 text",
              "empty": "no examples", "array-line": "cqa_train.json:1: expected a JSON object",
              "no-data": "file not found"}
VERBS_WITH_DATA = ["attribute", "rationales", "faithfulness", "teacher-eval",
                   "teacher-finetune", "train", "evaluate"]


def _fails_in_one_line(argv, capsys, expected):
    code = main(argv)  # a traceback would raise here and fail the test
    err = capsys.readouterr().err
    assert code == 2, err
    last = err.rstrip("\n").split("\n")[-1]  # after any progress bars of model loading
    assert "Traceback" not in err and last.startswith("error: "), err
    assert sum(line.startswith("error: ") for line in err.splitlines()) == 1, err
    assert expected in last, err


@pytest.mark.parametrize("case", DATA_CASES)
@pytest.mark.parametrize("verb", VERBS_WITH_DATA)
def test_broken_data_through_every_verb(broken, capsys, case, verb):
    """Issue 24, cases 3 and 4 and the walk-through: every verb that reads data."""
    _fails_in_one_line(_data_verbs(broken, broken[case])[verb], capsys, DATA_CASES[case])


@pytest.mark.parametrize("case,expected", [
    ("truncated", "cannot be loaded: it is damaged"),
    ("meta-broken", "student.json is damaged"),
    ("missing", "model folder not found"),
    ("file", "is a file"),
])
@pytest.mark.parametrize("verb", ["evaluate", "predict"])
def test_damaged_model_folders(broken, capsys, tmp_path, case, expected, verb):
    """Issue 24, case 6 and 'a missing --model folder says it is missing'."""
    model = {"missing": tmp_path / "nomodel", "file": broken["notes"]}.get(case) or broken[case]
    argv = (["evaluate", "--model", str(model), "--data-dir", str(broken["good"]),
             "--out", str(tmp_path / "m.json")] if verb == "evaluate" else
            ["predict", "--model", str(model), "--text", "where ?", "--choices", "a|b"])
    _fails_in_one_line(argv, capsys, expected)


@pytest.mark.parametrize("verb", ["train", "teacher-finetune", "faithfulness", "attribute",
                                  "rationales", "evaluate", "teacher-eval"])
def test_out_naming_a_file_the_tool_did_not_write(broken, capsys, verb):
    """Issue 24, cases 1, 2 and 7: --out names an existing file (train: FileExistsError)."""
    argv = _data_verbs(broken, broken["good"])[verb]
    argv[argv.index("--out") + 1] = str(broken["notes"])
    expected = {"attribute": "not written by saliency-kd", "rationales": "not written by "
                "saliency-kd", "evaluate": "not an output of this command", "teacher-eval":
                "not an output of this command"}.get(verb, "is a file")
    _fails_in_one_line(argv, capsys, expected)
    assert broken["notes"].read_text() == "my notes\n"


@pytest.mark.parametrize("verb", ["evaluate", "teacher-eval"])
def test_metrics_outputs_replace_their_own_files_or_on_purpose(broken, capsys, tmp_path, verb):
    argv = _data_verbs(broken, broken["good"])[verb]
    out = tmp_path / "m.json"
    argv[argv.index("--out") + 1] = str(out)
    assert main(argv) == 0 and main(argv) == 0  # its own earlier output: replaced
    out.write_text("my notes\n")
    assert main(argv) == 2 and out.read_text() == "my notes\n"
    assert main([*argv, "--overwrite"]) == 0 and "accuracy" in out.read_text()


@pytest.mark.parametrize("text,choices,expected", [
    ("where ?", "park", "at least 2"), ("where ?", "park|park", "listed more than once"),
    ("where ?", None, "task cqa needs answer choices"),
])
def test_predict_refuses_fewer_than_two_choices(broken, capsys, text, choices, expected):
    argv = ["predict", "--model", str(broken["student"]), "--text", text]
    _fails_in_one_line(argv + (["--choices", choices] if choices else []), capsys, expected)


def test_predict_input_with_a_bad_byte(broken, capsys, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b'{"question": "ok", "choices": ["a", "b"]}\n{"question": "\xff"}\n')
    _fails_in_one_line(["predict", "--model", str(broken["student"]), "--input", str(inp)],
                       capsys, "in.jsonl:2: not UTF-8 text")


@pytest.mark.parametrize("content,expected", [(b"", "the file is empty"),
                                              (b"# only a comment\n", "the file is empty"),
                                              (b"run_dir: r\xe9\n", "c.yaml:1: not UTF-8"),
                                              (b"data: [\n", "invalid YAML")])
def test_run_config_errors(tmp_path, capsys, content, expected):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(content)
    _fails_in_one_line(["run", str(cfg), "--run-dir", str(tmp_path / "run")], capsys, expected)
    assert not (tmp_path / "run").exists()


def test_the_handler_turns_known_error_types_into_one_line():
    import json as _json

    from saliency_kd.cli import error_message

    assert error_message(FileExistsError(17, "File exists", "/x/out")) == "/x/out: File exists"
    assert "not UTF-8" in error_message(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid"))
    try:
        _json.loads("{")
    except _json.JSONDecodeError as exc:
        assert "invalid JSON at line 1" in error_message(exc)
    assert error_message(RuntimeError("a bug")) is None  # bugs keep their traceback


@pytest.mark.parametrize("case", DATA_CASES)
def test_broken_data_through_run(broken, capsys, tmp_path, case):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"data": {"task": "cqa", "data_dir": str(broken[case])},
                               "teacher": {"name": str(broken["teacher"])}}))
    if case == "no-data":
        _fails_in_one_line(["run", str(cfg), "--run-dir", str(tmp_path / "r")], capsys,
                           "directory not found")
    else:
        _fails_in_one_line(["run", str(cfg), "--run-dir", str(tmp_path / "r")], capsys,
                           DATA_CASES[case].split(": ")[-1])


@pytest.mark.parametrize("case", ["latin1", "empty", "array-line"])
def test_broken_data_through_demo(broken, capsys, tmp_path, case):
    """`demo` on a broken data set fails before its teacher (the embedded Gemma) is loaded."""
    _fails_in_one_line(["demo", "--task", "cqa", "--data-dir", str(broken[case]),
                        "--run-dir", str(tmp_path / "r")], capsys,
                       DATA_CASES[case].split(": ")[-1])


@pytest.mark.parametrize("verb", ["train", "teacher-finetune", "faithfulness"])
def test_out_naming_a_folder_the_tool_did_not_make(broken, capsys, tmp_path, verb):
    """Issue 24: train, teacher-finetune and faithfulness wrote into any existing folder (train
    could delete a model/ subfolder there). A non-empty folder without the verb's mark is
    refused in one line, nothing changed."""
    mine = tmp_path / "mine"
    (mine / "model").mkdir(parents=True)
    (mine / "model" / "weights.bin").write_bytes(b"my weights")
    (mine / "notes.txt").write_text("my notes\n")
    argv = _data_verbs(broken, broken["good"])[verb]
    argv[argv.index("--out") + 1] = str(mine)
    _fails_in_one_line(argv, capsys, f"not made by saliency-kd {verb}")
    assert sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*")) == [
        "model", "model/weights.bin", "notes.txt"]


@pytest.mark.parametrize("verb", ["train", "teacher-finetune"])
def test_a_damaged_checkpoint_through_the_cli(broken, student_world, capsys, tmp_path, verb):
    """Issue 24: a truncated checkpoint/state.pt gave a traceback on resume; now one line
    names it and the ways out, and it is left as it was."""
    out = tmp_path / "out"
    argv = _data_verbs(broken, broken["good"])[verb]
    argv[argv.index("--out") + 1] = str(out)
    if verb == "train":
        argv[argv.index("--student") + 1] = str(student_world["encoder"])
        argv += ["--max-steps", "1", "--dev-limit", "0"]
    assert main(argv) == 0
    state = out / "checkpoint" / "state.pt"
    state.write_bytes(state.read_bytes()[:64])
    _fails_in_one_line(argv, capsys, "state.pt: damaged checkpoint")
    assert state.stat().st_size == 64
    assert main([*argv, "--overwrite"]) == 0
