"""Tasks are registered units: a task added in one module (here a toy sentiment task reading
its own DSS-layout files) runs through `run` like a built-in one, and every built-in task is
one complete entry of the registry."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from saliency_kd.data import DataSpec, get_task, load_examples, task_names
from saliency_kd.data.tasks import TASKS
from saliency_kd.errors import UnknownNameError

# The whole task: nothing else in the package is touched to add it.
TOY_MODULE = '''"""toy-sentiment: a review, positive or negative (a test's own task)."""

from pathlib import Path

from saliency_kd.data import Example, Segment, Task, register
from saliency_kd.data.jsonl import get_text


def prompt(ex: Example) -> list[Segment]:
    return [Segment("Review: ", False), Segment(ex.fields["review"], True, "review"),
            Segment("\\nSentiment:", False)]


def read_record(obj: dict, path: Path, line: int, index: int) -> Example:
    return Example(str(obj.get("id") or f"{path.stem}-{index}"),
                   {"review": get_text(obj, "review", path, line)},
                   get_text(obj, "label", path, line))


TASK = register(Task("toy-sentiment", "choice", prompt, label_names=("negative", "positive"),
                     fields=("review",), read_record=read_record), __doc__)
'''
GOOD = ["the park", "the garden", "the beach", "the library"]
BAD = ["the river", "the office", "the school", "the kitchen"]


@pytest.fixture
def toy_task(tmp_path):
    """The toy task's module, written to a file and imported (registering it); unregistered
    after the test, so that no other test sees it."""
    path = tmp_path / "toy_sentiment.py"
    path.write_text(TOY_MODULE)
    spec = importlib.util.spec_from_file_location("toy_sentiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module.TASK
    TASKS.remove("toy-sentiment")
    sys.modules.pop("toy_sentiment", None)


def write_toy_dss(root: Path, n_train: int = 48, n_test: int = 12) -> Path:
    """The toy task's files in the DSS layout (`<root>/<name>/<name>_<split>.json`), no PaLM
    outputs: each review names a place its label likes or not."""
    (root / "toy-sentiment").mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        lines = []
        for i in range(n):
            label = "positive" if i % 2 == 0 else "negative"
            place = (GOOD if label == "positive" else BAD)[i % 4]
            lines.append(json.dumps({"id": f"{split}-{i}", "review": f"john went to {place} .",
                                     "label": label}))
        (root / "toy-sentiment" / f"toy-sentiment_{split}.json").write_text(
            "\n".join(lines) + "\n")
    return root


def test_a_task_registered_in_one_module_is_read_like_a_built_in_one(toy_task, tmp_path):
    assert "toy-sentiment" in task_names() and get_task("toy-sentiment") is toy_task
    assert TASKS.help("toy-sentiment") == "toy-sentiment: a review, positive or negative (a " \
                                          "test's own task)."
    dss = write_toy_dss(tmp_path / "dss")
    task, examples = load_examples(DataSpec("toy-sentiment", str(dss), "test"))
    assert task is toy_task and len(examples) == 12
    assert examples[0].id == "test-0" and examples[0].label == "positive"
    assert task.candidates(examples[0]) == ["negative", "positive"]
    with pytest.raises(ValueError, match="already registered"):
        TASKS.add("toy-sentiment", toy_task)


def test_a_task_registered_in_one_module_runs_through_run(toy_task, student_world, tmp_path):
    from saliency_kd.evaluate import predict
    from saliency_kd.pipeline.config import parse_config
    from saliency_kd.pipeline.run import run_pipeline

    dss = write_toy_dss(tmp_path / "dss")
    raw = {
        "run_dir": str(tmp_path / "run"),
        "data": {"task": "toy-sentiment", "data_dir": str(dss), "train_limit": 40},
        "teacher": {"name": str(student_world["causal"])},
        "attribution": {"methods": ["saliency"], "top_k": 2, "batch_size": 8},
        "students": {"student": str(student_world["encoder"]),
                     "modes": ["standard", "rationale"], "seeds": [0], "lr": 1e-3,
                     "batch_size": 8, "epochs": 1},
        "report": {"heatmaps": 1},
    }
    result = run_pipeline(parse_config(raw), progress=False)
    ran = result["stages_ran"]
    assert any(s.startswith("train") for s in ran) and any(s.startswith("evaluate") for s in ran)
    assert [s["name"] for s in result["students"]] == ["standard", "rationale"]
    assert all(s["n"] == 12 and s["seeds"] == 1 for s in result["students"])
    metrics = sorted((tmp_path / "run").glob("evaluate-*/metrics.json"))
    assert len(metrics) == 2
    for path in metrics:
        scored = json.loads(path.read_text())
        assert scored["task"] == "toy-sentiment" and 0.0 <= scored["accuracy"] <= 1.0
        assert sum(c["gold"] for c in scored["per_class"].values()) == 12
    # predict reads the task's own field, and answers from its label set
    [model] = (tmp_path / "run").glob("train-standard-*/model")
    [pred] = predict(model, text="mary went to the beach .", device="cpu")
    assert pred["prediction"] in ("negative", "positive")


def test_every_built_in_task_is_one_complete_entry():
    assert task_names() == ["cqa", "svamp", "anli1", "esnli", "demo", "generic"]
    for name in task_names():
        task = get_task(name)
        assert task.name == name and TASKS.help(name).startswith(f"{name}: ")
        assert task.kind in ("choice", "generate") and task.fields
        if task.source == "dss":
            assert task.read_record and task.llm_answer and task.hub
    assert get_task("demo").generate and get_task("demo").extra_splits == ("heldout",)
    with pytest.raises(UnknownNameError, match="valid tasks: anli1, cqa, demo, esnli, "
                                               "generic, svamp"):
        get_task("nope")


def test_config_and_cli_name_the_registered_tasks():
    from saliency_kd.pipeline.config import DataCfg

    assert DataCfg.model_fields["task"].description == \
        "cqa, svamp, anli1, esnli, demo or generic"
