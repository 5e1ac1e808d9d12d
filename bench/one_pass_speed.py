"""The attribute stage in one pass (the answer read from saliency's own forward pass) against
two (an answer pass, then saliency's), side by side on the same batches.

    python bench/one_pass_speed.py --task esnli --n 200 --threads 1 [--teacher DIR] [--out F]

Times `attribute_batch`, the whole of a batch's work in the `attribute` stage (encoding,
answer, attribution, words, rationale), both ways on each batch in turn, alternating which goes
first so that a busy machine slows both alike; reports examples/s of each, their ratio, and
whether the records are the same. The default teacher is the embedded MiniLM-L6 as a
classifier (a new head for the task: its speed is a fine-tuned one's).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import torch

from saliency_kd.atomic import write_text_atomic
from saliency_kd.attribution.attribute import AttributeConfig, attribute_batch
from saliency_kd.cli import exit_code

sys.path.insert(0, str(Path(__file__).parent))  # the scripts' shared helpers
from bench_out import add_out_flags, parse_claimed  # noqa: E402

from saliency_kd.data import DataSpec, load_examples
from saliency_kd.teacher.model import Teacher, TeacherConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dss"

# What every --out file of this script holds: an existing file without them is not its own.
OUT_KEYS = ("examples_per_second", "speedup")


def word_difference(one: list[dict], two: list[dict]) -> float:
    """The largest difference between the two runs' word scores, relative to the example's
    largest score."""
    worst = 0.0
    for a, b in zip(one, two, strict=True):
        scale = max((abs(s) for _, s in b["words"]), default=0.0) or 1.0
        worst = max([worst, *(abs(x - y) / scale for (_, x), (_, y) in zip(a["words"],
                                                                           b["words"]))])
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="esnli", help="a task of ../shared/data/dss (else: demo)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--n", type=int, default=200, help="examples")
    ap.add_argument("--teacher", default="minilm-l6", help="teacher name or model directory")
    ap.add_argument("--method", default="saliency")
    ap.add_argument("--batch-size", type=int, default=8, help="the studies' attribution batch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", choices=("one", "two"), default=None,
                    help="run one way alone (to time whole processes against each other)")
    add_out_flags(ap, "also write the figures as JSON here")
    a = parse_claimed(ap, OUT_KEYS)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)  # a new classifier head is drawn the same way every run
    if (SHARED / a.task).is_dir():
        data = DataSpec(a.task, str(SHARED), a.split, limit=a.n)
    else:
        data = DataSpec("demo", None, "train", limit=a.n)
    task, examples = load_examples(data)
    cfg = AttributeConfig(data=data, teacher=TeacherConfig(name=a.teacher, device="cpu"),
                          method=a.method, batch_size=a.batch_size)
    teacher = Teacher.load(cfg.teacher, task)
    batches = [examples[i:i + a.batch_size] for i in range(0, len(examples), a.batch_size)]
    attribute_batch(teacher, task, batches[0], cfg)  # warm-up
    seconds = {True: 0.0, False: 0.0}
    records: dict[bool, list[dict]] = {True: [], False: []}
    passes: dict[str, int] = {}
    for i, batch in enumerate(batches):
        ways = (True, False) if i % 2 == 0 else (False, True)
        for one_pass in ways if a.only is None else (a.only == "one",):
            count: Counter = Counter()
            start = time.perf_counter()
            recs = attribute_batch(teacher, task, batch, cfg, one_pass=one_pass, passes=count)
            seconds[one_pass] += time.perf_counter() - start
            records[one_pass] += recs
            if one_pass:
                passes = {k: passes.get(k, 0) + v for k, v in count.items()}
    one, two = records[True], records[False]
    if a.only:
        print(json.dumps({"only": a.only, "n": len(examples), "seconds": seconds[a.only == "one"]}))
        return
    speed = {"one pass": len(examples) / seconds[True],
             "two passes": len(examples) / seconds[False]}
    res = {"task": task.name, "n": len(examples), "teacher": a.teacher,
           "teacher_kind": type(teacher).__name__, "method": a.method,
           "batch_size": a.batch_size, "threads": a.threads,
           "one_pass_batches": passes.get("one", 0), "two_pass_batches": passes.get("two", 0),
           "examples_per_second": speed, "speedup": seconds[False] / seconds[True],
           "records_identical": one == two,
           "same_predictions_and_rationales": all(
               (x["prediction"], x["rationale"]) == (y["prediction"], y["rationale"])
               for x, y in zip(one, two)),
           "fields_that_differ": sorted({k for x, y in zip(one, two) for k in x
                                         if x[k] != y.get(k)}),
           "max_word_score_difference": word_difference(one, two),
           "max_candidate_score_difference": max(
               (abs(u - v) for x, y in zip(one, two)
                for u, v in zip(x.get("candidate_scores", []), y.get("candidate_scores", []))),
               default=0.0)}
    print(json.dumps(res, indent=1))
    if a.out:
        write_text_atomic(a.out, json.dumps(res, indent=1))


if __name__ == "__main__":
    sys.exit(exit_code(main))
