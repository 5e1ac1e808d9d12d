"""Occlusion with and without prefix reuse, side by side on the same prompts.

    python bench/occlusion_speed.py --task anli1 --n 8 --threads 1 [--out FILE.json]

A causal teacher sees an occluded prompt exactly as the full one up to the removed word, so
`occlusion` computes those tokens once and reuses their keys and values. This script times both
paths on each example in turn (alternating which goes first, so that a busy machine slows both
alike) and reports the throughput ratio and the largest difference between their scores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from saliency_kd.atomic import write_text_atomic
from saliency_kd.attribution import AttributionOptions, get_method
from saliency_kd.cli import exit_code

sys.path.insert(0, str(Path(__file__).parent))  # the scripts' shared helpers
from bench_out import add_out_flags, parse_claimed  # noqa: E402

from saliency_kd.data import DataSpec, load_examples
from saliency_kd.models import embedded_gemma_dir
from saliency_kd.teacher.model import Teacher, TeacherConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dss"

# What every --out file of this script holds: an existing file without them is not its own.
OUT_KEYS = ("examples_per_second", "speedup")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="cqa", help="a task of ../shared/data/dss (else: demo)")
    ap.add_argument("--n", type=int, default=8, help="examples")
    ap.add_argument("--teacher", default=None, help="model directory (default: embedded Gemma)")
    ap.add_argument("--batch", type=int, default=16, help="occluded variants per forward pass")
    ap.add_argument("--threads", type=int, default=1)
    add_out_flags(ap, "also write the figures as JSON here")
    a = parse_claimed(ap, OUT_KEYS)
    torch.set_num_threads(a.threads)
    if (SHARED / a.task).is_dir():
        task, examples = load_examples(DataSpec(a.task, str(SHARED), "train", limit=a.n))
    else:
        task, examples = load_examples(DataSpec("demo", None, "train", limit=a.n))
    teacher = Teacher.load(TeacherConfig(a.teacher or str(embedded_gemma_dir())))
    prompts = [teacher.encode(task.prompt(ex)) for ex in examples]
    targets = [teacher.target_ids(x["prediction"])
               for x in teacher.answer(task, examples, prompts)]
    occlusion = get_method("occlusion").fn
    seconds = {True: 0.0, False: 0.0}
    scores: dict[bool, list[list[float]]] = {True: [], False: []}
    for i, (p, t) in enumerate(zip(prompts, targets)):
        for reuse in ((True, False) if i % 2 == 0 else (False, True)):
            opts = AttributionOptions(occlusion_batch=a.batch, occlusion_reuse_prefix=reuse)
            start = time.perf_counter()
            out = occlusion(teacher, teacher.make_batch([p], [t]), [p], [t], opts)
            seconds[reuse] += time.perf_counter() - start
            scores[reuse].append(out.scores[0])
    diff = max(abs(x - y) for s, f in zip(scores[True], scores[False]) for x, y in zip(s, f))
    tokens = sum(len(p.input_ids) for p in prompts) / len(prompts)
    words = sum(len(set(p.token_word) - {-1}) for p in prompts) / len(prompts)
    res = {"task": task.name, "n": len(prompts), "mean_prompt_tokens": tokens,
           "mean_occluded_words": words, "threads": a.threads, "batch": a.batch,
           "examples_per_second": {"prefix reuse": len(prompts) / seconds[True],
                                   "every variant in full": len(prompts) / seconds[False]},
           "speedup": seconds[False] / seconds[True], "max_score_difference": diff}
    print(json.dumps(res, indent=1))
    if a.out:
        write_text_atomic(a.out, json.dumps(res, indent=1))


if __name__ == "__main__":
    sys.exit(exit_code(main))
