"""Examples per second answering on CPU: the student (MiniLM-L6) against the teacher
(Gemma-3-270M), at batch 1 and batch 32, measured side by side in one run.

    python bench/latency.py [--n 64] [--threads 2] [--out docs/results/latency.json]

Both answer the same embedded demo examples (a story, a question, 5 answer choices): the
teacher scores each choice by its log-probability, the student scores each (story, choice)
pair with its head, as `saliency-kd predict` does. Each (model, batch) pair is timed in
rounds interleaved with the others, so a change of load on a shared machine hits all alike;
the figure is the median round's rate. Weights are as loaded (the student's head untrained):
speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from saliency_kd.atomic import write_text_atomic
from saliency_kd.cli import exit_code

sys.path.insert(0, str(Path(__file__).parent))  # the scripts' shared helpers
from bench_out import add_out_flags, parse_claimed  # noqa: E402

OUT_KEYS = ("examples_per_second", "n", "threads")
"""What every --out file of this script holds: an existing file without them is not its own."""


def models(student_name: str, teacher_name: str):
    from saliency_kd.data import get_task
    from saliency_kd.student import TrainConfig
    from saliency_kd.student.train import build_student
    from saliency_kd.teacher import Teacher, TeacherConfig

    task = get_task("demo")
    student = build_student(TrainConfig(student=student_name), task, {"task": "demo"})
    student.module.to("cpu").eval()
    teacher = Teacher.load(TeacherConfig(name=teacher_name, device="cpu"))
    return task, student, teacher


def rate(answer, examples: list, batch: int) -> float:
    """Examples per second of one pass over `examples` in batches of `batch`."""
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(examples), batch):
            answer(examples[i:i + batch])
    return len(examples) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="demo examples per timed round")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per (model, batch)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--student", default="minilm-l6")
    ap.add_argument("--teacher", default="gemma-3-270m")
    add_out_flags(ap, "JSON results (e.g. docs/results/latency.json)")
    a = parse_claimed(ap, OUT_KEYS)
    torch.set_num_threads(a.threads)
    from saliency_kd.data.demo import generate

    task, student, teacher = models(a.student, a.teacher)
    examples = generate("test")[: a.n]
    answer = {"student": student.predict, "teacher": lambda b: teacher.answer(task, b)}
    for fn in answer.values():  # warm-up: first calls allocate and pick kernels
        rate(fn, examples[:4], 4)
    runs: dict[str, list[float]] = {f"{m} batch {b}": [] for m in answer for b in a.batches}
    for r in range(a.rounds):
        for key in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            model, _, b = key.split()
            runs[key].append(rate(answer[model], examples, int(b)))
            print(f"round {r + 1}: {key}: {runs[key][-1]:.1f} examples/s", flush=True)
    result = {k: round(statistics.median(v), 2) for k, v in runs.items()}
    print(f"{'':10s} " + " ".join(f"{'batch ' + str(b):>10s}" for b in a.batches))
    for model in answer:
        print(f"{model:10s} " + " ".join(f"{result[f'{model} batch {b}']:10.1f}"
                                         for b in a.batches))
    for b in a.batches:
        ratio = result[f"student batch {b}"] / result[f"teacher batch {b}"]
        print(f"batch {b}: the student answers {ratio:.1f}x as many examples/s as the teacher")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(a.out, json.dumps({
            "examples_per_second": result, "n": a.n, "threads": a.threads,
            "rounds": a.rounds, "student": a.student, "teacher": a.teacher,
            "task": "demo (5 answer choices)", "device": "cpu"}, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(exit_code(main))
