"""Data parallelism on Accelerate, on CPU with 2 processes (gloo), and memory safeguards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import make_teacher

from saliency_kd.attribution.attribute import AttributeConfig, attribute
from saliency_kd.cli import main
from saliency_kd.data import DataSpec, load_examples

pytestmark = pytest.mark.timeout(600)


def free_port() -> int:
    # the launchers' default port (29500) is fixed: a process still holding it from an earlier
    # launch, or anything else on the machine, makes the next launch fail
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate(args: list[str], tmp_path) -> None:
    # --multi_gpu selects the torchrun launcher; with --device cpu the processes use gloo.
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
           "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--main_process_port", str(free_port()),
           "--dynamo_backend", "no",
           "-m", "saliency_kd", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "HF_HOME": str(tmp_path / "hf"), "ACCELERATE_CONFIG_FILE": str(tmp_path / "none.yaml")}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=500)
    assert res.returncode == 0, res.stderr[-3000:]


def test_two_process_attribution_merges_to_the_single_process_file(student_world, tmp_path):
    common = ["attribute", "--task", "cqa", "--data-dir", str(student_world["dss"]), "--limit",
              "30", "--teacher", str(student_world["causal"]), "--batch-size", "4", "--top-k", "3"]
    single = tmp_path / "single.jsonl"
    assert main([*common, "--out", str(single)]) == 0
    merged = tmp_path / "merged.jsonl"
    accelerate([*common, "--out", str(merged)], tmp_path)
    assert merged.read_bytes() == single.read_bytes()
    assert not list(tmp_path.glob("merged.jsonl.shard*"))
    # resuming a finished distributed run does nothing and keeps the file
    accelerate([*common, "--out", str(merged)], tmp_path)
    assert merged.read_bytes() == single.read_bytes()


@pytest.fixture(scope="module")
def bert_no_dropout(tmp_path_factory):
    from conftest import make_bert_dir
    from transformers import BertConfig

    path = make_bert_dir(tmp_path_factory.mktemp("bert0") / "bert")
    cfg = BertConfig.from_pretrained(path)
    cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0.0
    cfg.save_pretrained(path)
    return path


@pytest.mark.parametrize("mode,rtol,sharded", [("standard", 1e-4, False),
                                               ("rationale", 5e-2, False),
                                               ("standard", 1e-4, True)])
def test_two_process_training_matches_single_process(student_world, bert_no_dropout, tmp_path,
                                                     mode, rtol, sharded):
    common = ["train", "--task", "cqa", "--data-dir", str(student_world["dss"]), "--rationales",
              str(student_world["rationales"]), "--student", str(bert_no_dropout), "--mode", mode,
              "--lr", "2e-3", "--batch-size", "12", "--epochs", "1"]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    accelerate([*common, "--out", str(tmp_path / "two"), *(["--fsdp"] if sharded else [])],
               tmp_path)

    def losses(d):
        return [json.loads(x)["loss"] for x in (d / "train_log.jsonl").read_text().splitlines()]

    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 9
    assert two == pytest.approx(one, rel=rtol)
    summary = json.loads((tmp_path / "two" / "train_summary.json").read_text())
    assert summary["processes"] == 2
    if sharded:  # the model gathered from the shards is the single-process model
        from saliency_kd.student import load_student

        _, test = load_examples(DataSpec("cqa", str(student_world["dss"]), "test", limit=6))
        p1 = load_student(tmp_path / "one" / "model").predict(test)
        p2 = load_student(tmp_path / "two" / "model").predict(test)
        for a, b in zip(p1, p2):
            assert a["prediction"] == b["prediction"]
            assert b["probabilities"] == pytest.approx(a["probabilities"], abs=1e-3)


def test_out_of_memory_batch_is_halved_and_nothing_is_lost(dss_dir, tmp_path, monkeypatch):
    import importlib

    attr_mod = importlib.import_module("saliency_kd.attribution.attribute")  # the module

    real = attr_mod.attribute_batch
    seen = []

    def flaky(teacher, task, examples, cfg, **kw):
        seen.append(len(examples))
        if len(examples) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(teacher, task, examples, cfg, **kw)

    monkeypatch.setattr(attr_mod, "attribute_batch", flaky)
    cfg = AttributeConfig(out=str(tmp_path / "r.jsonl"), data=DataSpec("cqa", str(dss_dir),
                                                                       "train", 10), batch_size=8)
    path = attribute(cfg, teacher=make_teacher("llama"), progress=False)
    ids = [json.loads(x)["id"] for x in path.read_text().splitlines()]
    _, exs = attr_mod.load_examples(cfg.data)
    assert ids == [e.id for e in exs]
    assert seen[:3] == [8, 4, 2]
    with pytest.raises(ValueError):  # other errors are not swallowed
        from saliency_kd.distributed import with_backoff

        with_backoff(lambda items: (_ for _ in ()).throw(ValueError("bug")), [1, 2, 3])


def test_gradient_checkpointing_gives_the_same_saliency(dss_dir, tmp_path):
    base = dict(data=DataSpec("cqa", str(dss_dir), "train", 6), batch_size=3)
    a = attribute(AttributeConfig(out=str(tmp_path / "a.jsonl"), **base),
                  teacher=make_teacher("llama"), progress=False)
    b = attribute(AttributeConfig(out=str(tmp_path / "b.jsonl"), gradient_checkpointing=True,
                                  **base), teacher=make_teacher("llama"), progress=False)
    ra = [json.loads(x) for x in a.read_text().splitlines()]
    rb = [json.loads(x) for x in b.read_text().splitlines()]
    for x, y in zip(ra, rb):
        assert x["rationale"] == y["rationale"]
        assert [s for _, s in x["words"]] == pytest.approx([s for _, s in y["words"]], rel=1e-4)


def test_sharded_training_resumes_after_a_kill(student_world, bert_no_dropout, tmp_path):
    worker = os.path.join(os.path.dirname(__file__), "_train_worker.py")

    def launch(out: str, die_after: int | None = None) -> int:
        # A CI run failed here with torchrun's output thrown away: a failing launch now prints
        # it, and each launch takes a free port (see free_port)
        job = {"out": str(tmp_path / out), "student": str(bert_no_dropout), "mode": "standard",
               "data": {"task": "cqa", "data_dir": str(student_world["dss"]), "split": "train"},
               "lr": 2e-3, "batch_size": 12, "epochs": 1, "checkpoint_every": 2, "fsdp": True,
               "die_after": die_after}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--master-port",
               str(free_port()), "--nproc_per_node", "2", worker, json.dumps(job)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=500)
        if die_after is None and done.returncode != 0:  # say why, not just "1 == 0"
            print(done.stdout[-4000:], done.stderr[-8000:], sep="\n", file=sys.stderr)
        return done.returncode

    assert launch("clean") == 0
    assert launch("killed", die_after=5) != 0  # dies after step 5; last checkpoint: step 4
    assert launch("killed") == 0

    def losses(d):
        return [json.loads(x)["loss"] for x in (tmp_path / d / "train_log.jsonl").read_text()
                .splitlines()]

    assert len(losses("killed")) == len(losses("clean")) == 9
    assert losses("killed") == pytest.approx(losses("clean"), rel=1e-5)
