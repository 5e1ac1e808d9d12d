"""Attribution throughput on the embedded teacher, side by side in one run.

    python bench/attribution_speed.py [--inseq-python .bench-inseq-venv/bin/python] [--n 32]
    python bench/attribution_speed.py --all-methods    # throughput of every method

Measures examples/second of saliency-kd's `saliency` and `integrated_gradients`, of a plain
forward+backward pass over the same padded batches (the bound a gradient method cannot beat),
and of Inseq 0.7.1's same methods on the same prompts and targets (in Inseq's own venv, made by
bench/setup_inseq_venv.sh). Only attribution is timed: the teacher's answers are computed first
and given to every contender as the target text.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from saliency_kd.atomic import write_text_atomic
from saliency_kd.attribution import AttributionOptions, get_method, method_names
from saliency_kd.cli import exit_code

sys.path.insert(0, str(Path(__file__).parent))  # the scripts' shared helpers
from bench_out import add_out_flags, parse_claimed  # noqa: E402

from saliency_kd.data import DataSpec, load_examples
from saliency_kd.models import embedded_gemma_dir
from saliency_kd.teacher.model import Teacher, TeacherConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dss"


def batches(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def time_ours(teacher, prompts, targets, method, bs, steps) -> float:
    spec = get_method(method)
    opts = AttributionOptions(ig_steps=steps, ig_internal_batch=bs * 4)
    start = time.perf_counter()
    for idx in batches(list(range(len(prompts))), bs):
        p, t = [prompts[i] for i in idx], [targets[i] for i in idx]
        spec.fn(teacher, teacher.make_batch(p, t), p, t, opts)
    return time.perf_counter() - start


def time_forward_backward(teacher, prompts, targets, bs) -> float:
    start = time.perf_counter()
    for idx in batches(list(range(len(prompts))), bs):
        p, t = [prompts[i] for i in idx], [targets[i] for i in idx]
        batch = teacher.make_batch(p, t)
        embeds = teacher.embed(batch.input_ids).detach().requires_grad_(True)
        # The transformer alone, no LM head: a lower bound for any gradient method.
        out = teacher.model.base_model(inputs_embeds=embeds, attention_mask=batch.attention_mask)
        out.last_hidden_state.float().sum().backward()
    return time.perf_counter() - start


# What every --out file of this script holds: an existing file without them is not its own.
OUT_KEYS = ("examples_per_second", "ratios")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32, help="examples for saliency")
    ap.add_argument("--n-ig", type=int, default=8, help="examples for integrated gradients")
    ap.add_argument("--ig-steps", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--inseq-python", default=None, help="python of a venv with inseq 0.7.1")
    ap.add_argument("--all-methods", action="store_true",
                    help="also time every other registered method on the same examples")
    add_out_flags(ap, "also write the figures as JSON here")
    a = parse_claimed(ap, OUT_KEYS)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if (SHARED / "cqa" / "cqa_train.json").exists():
        task, examples = load_examples(DataSpec("cqa", str(SHARED), "train", limit=a.n))
    else:
        task, examples = load_examples(DataSpec("demo", None, "train", limit=a.n))
    model_dir = embedded_gemma_dir()
    teacher = Teacher.load(TeacherConfig(str(model_dir)))
    prompts = [teacher.encode(task.prompt(ex)) for ex in examples]
    answers = [x["prediction"] for x in teacher.answer(task, examples, prompts)]
    targets = [teacher.target_ids(t) for t in answers]
    time_ours(teacher, prompts[:2], targets[:2], "saliency", 2, 2)  # warm-up
    rows = {}
    fb = time_forward_backward(teacher, prompts, targets, a.batch_size)
    rows["forward+backward (bound)"] = len(prompts) / fb
    rows["saliency-kd saliency"] = len(prompts) / time_ours(teacher, prompts, targets, "saliency",
                                                            a.batch_size, a.ig_steps)
    n_ig = a.n_ig
    rows["saliency-kd integrated_gradients"] = n_ig / time_ours(
        teacher, prompts[:n_ig], targets[:n_ig], "integrated_gradients", a.batch_size, a.ig_steps)
    if a.all_methods:
        for m in method_names():
            if m not in ("saliency", "integrated_gradients"):
                rows[f"saliency-kd {m}"] = len(prompts) / time_ours(
                    teacher, prompts, targets, m, a.batch_size, a.ig_steps)
    if a.inseq_python:
        texts = [p.text for p in prompts]
        tgt = [" " + t for t in answers]
        for method, n in (("saliency", len(texts)), ("integrated_gradients", n_ig)):
            job = {"model_dir": str(model_dir), "method": method, "prompts": texts[:n],
                   "targets": tgt[:n], "batch_size": a.batch_size, "n_steps": a.ig_steps,
                   "threads": a.threads}
            worker = str(Path(__file__).with_name("_inseq_worker.py"))
            res = subprocess.run([a.inseq_python, worker], input=json.dumps(job),
                                 capture_output=True, text=True, check=False)
            if res.returncode != 0:
                print(f"inseq {method} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
                continue
            out = json.loads(res.stdout.strip().splitlines()[-1])
            rows[f"inseq 0.7.1 {method}"] = out["n"] / out["seconds"]
    print(f"{'contender':40s} {'examples/s':>11s}")
    for name, v in rows.items():
        print(f"{name:40s} {v:11.3f}")
    ratios = {"saliency vs forward+backward (time ratio)":
              rows["forward+backward (bound)"] / rows["saliency-kd saliency"]}
    for m in ("saliency", "integrated_gradients"):
        if f"inseq 0.7.1 {m}" in rows:
            ratios[f"{m}: saliency-kd / inseq throughput"] = (
                rows[f"saliency-kd {m}"] / rows[f"inseq 0.7.1 {m}"])
    for name, v in ratios.items():
        print(f"{name:55s} {v:6.2f}x")
    if a.out:
        write_text_atomic(a.out, json.dumps({"examples_per_second": rows, "ratios": ratios,
                                             "n": a.n, "n_ig": n_ig, "ig_steps": a.ig_steps,
                                             "batch_size": a.batch_size, "threads": a.threads},
                                            indent=1))


if __name__ == "__main__":
    sys.exit(exit_code(main))
