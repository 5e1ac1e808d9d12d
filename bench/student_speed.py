"""Seconds per training epoch of `standard`, `rationale`, `dss` and (causal) `kd`, per student
family, and of `rationale` through each explanation channel of a family, side by side in one run.

    python bench/student_speed.py [--n 128] [--modes standard kd] [--out runs/bench/speed.json]
    python bench/student_speed.py --families encoder --modes standard \
        --channels tag attention attribution   # each channel against standard
    python bench/student_speed.py --families causal seq2seq --modes standard \
        --channels attention                   # a generating student's attention channel
    python bench/student_speed.py --families encoder --modes standard --channels attention \
        --poolings cls choices                 # all choices in one sequence vs one per choice

The modes of one family are timed interleaved: step i of every mode runs before step i + 1 of
any (in a rotating order), so a change of load on a shared machine hits all modes alike and the
ratios stay honest.
A step is the one `saliency-kd train` runs per batch (`Trainer.train_step` of the trainer
`train` builds: losses, backward, clipping, AdamW, the schedule).
Encoder: the embedded all-MiniLM-L6-v2. Seq2seq and causal: no small pretrained T5 or GPT-2
installs offline, so they are built from configs at the sizes of t5-small (60M) and GPT-2 small
(124M) with MiniLM's WordPiece vocabulary; step time does not depend on the weights' values.
Seq2seq also runs DSS's own two-pass scheme (a full encoder pass per task prefix) for reference.
Causal also runs `kd` twice: as the student does it (each prompt run once for all candidates,
the label loss read off the candidate scores) and, for reference, with a full prompt+candidate
pass per candidate beside the label's pass (how it was done before 2026-12-01).
`--causal gemma-3-270m` times the real generating student instead of the GPT-2-sized one.
Memory is handled as the training loop handles it (`saliency_kd.allocator`: freed blocks stay
in the process for reuse); `--system-malloc` times glibc's defaults instead. The page faults
each mode took are printed beside its time.
Rationales come from the embedded teacher (`saliency`, cached under the output directory).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from itertools import product
from pathlib import Path

import torch

from saliency_kd.allocator import keep_freed_memory
from saliency_kd.atomic import write_text_atomic
from saliency_kd.attribution.attribute import AttributeConfig, attribute
from saliency_kd.cli import exit_code

sys.path.insert(0, str(Path(__file__).parent))  # the scripts' shared helpers
from bench_out import add_out_flags, parse_claimed  # noqa: E402

from saliency_kd.data import DataSpec
from saliency_kd.models import embedded_minilm_dir
from saliency_kd.student import TrainConfig
from saliency_kd.student.channels import get_channel
from saliency_kd.student.train import build_student

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dss"


def build_models(root: Path) -> dict[str, str]:
    from transformers import (
        AutoTokenizer,
        GPT2Config,
        GPT2LMHeadModel,
        T5Config,
        T5ForConditionalGeneration,
    )

    tok = AutoTokenizer.from_pretrained(embedded_minilm_dir())
    out = {"encoder": "minilm-l6"}
    for name, make in (
        ("seq2seq", lambda: T5ForConditionalGeneration(T5Config(
            vocab_size=len(tok), pad_token_id=0, eos_token_id=tok.sep_token_id,
            decoder_start_token_id=0))),
        ("causal", lambda: GPT2LMHeadModel(GPT2Config(
            vocab_size=len(tok), bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
            pad_token_id=0))),
    ):
        path = root / "models" / name
        if not (path / "config.json").exists():
            torch.manual_seed(0)
            make().save_pretrained(path)
            tok.save_pretrained(path)
        out[name] = str(path)
    return out


def kd_full_passes(student, items, mode, w):
    """The causal student's KD losses computed the old way: the label's sequence pass, then
    one full prompt+candidate pass per candidate (the reference the student's shared-prompt
    scoring is measured against)."""
    from saliency_kd.student.base import kd_loss

    lm, task = student.lm, student.task
    parts = dict(student.losses(items, mode - {"kd"}, w))
    prompts = [lm.encode(task.prompt(it.example)) for it in items]
    pairs = [(i, c) for i, it in enumerate(items) for c in task.candidates(it.example)]
    batch = lm.make_batch([prompts[i] for i, _ in pairs], [lm.target_ids(c) for _, c in pairs])
    lp, n, _ = lm.target_logprob(batch)
    soft = torch.tensor([it.soft_targets for it in items])
    parts["kd"] = kd_loss((lp / n).view(len(items), -1), soft, w.temperature)
    return parts


def _trainer(fam: str, student_path: str, data: DataSpec, rationales: str, task, examples,
             records, mode: str, two_pass: bool, channel: str | None, root: Path,
             pooling: str = "mean"):
    """The trainer `saliency-kd train` would build for this mode (its items, loop settings,
    optimiser), over `examples`; a `kd` with `two_pass` computes KD's full passes instead."""
    from saliency_kd.student.base import combine
    from saliency_kd.student.items import build_items
    from saliency_kd.student.train import RESUME_MAY_CHANGE, StudentTrainer, loop_settings

    class FullPasses(StudentTrainer):
        def compute_loss(self, items):
            parts = kd_full_passes(self.student, items, self.mode, self.cfg.weights)
            return combine(parts, self.mode, self.cfg.weights), parts

    torch.manual_seed(0)
    cfg = TrainConfig(out=str(root / "unused"), data=data, rationales=rationales,
                      student=student_path, family=fam, mode=mode,
                      two_pass=two_pass and fam == "seq2seq", channel=channel, pooling=pooling)
    parsed = cfg.validate()
    meta = {"task": task.name, "mode": mode, "explains": True, "two_pass": two_pass,
            "channel": channel, "pooling": pooling}
    student = build_student(cfg, task, meta)
    items = build_items(task, examples, parsed, cfg.labels, records, cfg.weights.temperature,
                        cfg.min_confidence, rationales)
    kind = FullPasses if two_pass and "kd" in parsed else StudentTrainer
    # Nothing on disk: the benchmark drives `train_step` only, never the loop's checkpoints.
    return kind(student, cfg, parsed, [], None, items,
                loop_settings(cfg, len(items), progress=False), cfg.out, {},
                may_change=RESUME_MAY_CHANGE)


def time_family(fam: str, student_path: str, data: DataSpec, rationales: str, batch: int,
                modes: list[tuple[str, bool]], channels: tuple[str, ...] = (),
                root: Path = Path("runs/bench/student_speed"),
                poolings: tuple[str, ...] = ("mean",)) -> dict[str, float]:
    """Seconds for one epoch of training steps per (mode, variant), interleaved by step; the
    variant is DSS's two-pass scheme (seq2seq) or KD's full passes (causal). Each of
    `channels` adds `rationale` through that channel (named `rationale:<channel>`); each
    pooling after the first adds every run again with it (named `<run> [<pooling>]`). A step is
    the training loop's own (`Trainer.train_step`)."""
    from saliency_kd.data import load_examples
    from saliency_kd.student.items import load_rationale_file

    task, examples = load_examples(data)
    records = load_rationale_file(rationales)
    runs = []
    for (mode, two_pass, channel), pooling in product([(m, t, None) for m, t in modes] + [
            ("rationale", False, c) for c in channels], poolings):
        trainer = _trainer(fam, student_path, data, rationales, task, examples, records, mode,
                           two_pass, channel, root, pooling)
        variant = "" if not two_pass else " (full passes)" if "kd" in trainer.mode \
            else " (DSS two-pass)"
        if channel:
            variant = f":{channel}"
        if pooling != poolings[0]:
            variant += f" [{pooling}]"
        runs.append({"name": mode + variant, "trainer": trainer, "seconds": 0.0, "faults": 0})
    for j, start in enumerate(range(0, len(examples), batch)):
        # Rotate who goes first: the first step of a round runs on caches the previous
        # model left cold, which would otherwise always penalise the same mode.
        for r in runs[j % len(runs):] + runs[:j % len(runs)]:
            t0, f0 = time.perf_counter(), minor_faults()
            r["trainer"].train_step(r["trainer"].items[start:start + batch])
            r["seconds"] += time.perf_counter() - t0
            r["faults"] += minor_faults() - f0
    for r in runs:
        print(f"  {fam} {r['name']}: {r['faults']} page faults", flush=True)
    return {r["name"]: r["seconds"] for r in runs}


def minor_faults() -> int:
    """Pages this process has taken from the kernel so far (each fresh page a fault)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# What every --out file of this script holds: an existing file without them is not its own.
OUT_KEYS = ("seconds_per_epoch", "n", "batch_size")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128, help="training examples (one epoch)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--root", default="runs/bench/student_speed")
    ap.add_argument("--families", nargs="+", default=["encoder", "seq2seq", "causal"])
    ap.add_argument("--causal", default=None,
                    help="causal student to time (e.g. gemma-3-270m); default a GPT-2-sized "
                         "model built from a config")
    ap.add_argument("--modes", nargs="+", default=["standard", "rationale", "dss", "kd"],
                    help="modes to time (kd on the causal family only); each keeps a model "
                         "and its optimiser in memory")
    ap.add_argument("--channels", nargs="+", default=[],
                    help="also time `rationale` through each of these channels against "
                         "standard, in each family that has it (encoder: tag, attention, "
                         "attribution; causal and seq2seq: generate, attention)")
    ap.add_argument("--poolings", nargs="+", default=["mean"],
                    help="encoder: time every run with each of these poolings (mean, cls, "
                         "choices: every choice in one sequence), against the first")
    ap.add_argument("--system-malloc", action="store_true",
                    help="leave glibc's malloc at its defaults (freed blocks go back to the "
                         "kernel) instead of keeping them as the training loop does")
    add_out_flags(ap)
    a = parse_claimed(ap, OUT_KEYS)
    torch.set_num_threads(a.threads)
    kept = not a.system_malloc and keep_freed_memory()
    print("malloc:", "freed blocks kept for reuse" if kept else "glibc defaults", flush=True)
    root = Path(a.root)
    if (SHARED / "cqa" / "cqa_train.json").exists():
        data = DataSpec("cqa", str(SHARED), "train", limit=a.n)
    else:
        raise SystemExit("needs ../shared/data/dss (the dss mode needs PaLM rationales)")
    rationales = attribute(AttributeConfig(out=str(root / "rationales.jsonl"), data=data,
                                           batch_size=8), progress=True)
    models = build_models(root)
    if a.causal:
        models["causal"] = a.causal
    results: dict[str, dict[str, float]] = {}
    for fam in a.families:
        modes = [(m, False) for m in ("standard", "rationale", "dss") if m in a.modes]
        if fam == "seq2seq" and "dss" in a.modes:
            modes.append(("dss", True))
        if fam == "causal" and "kd" in a.modes:
            modes += [("kd", False), ("kd", True)]
        channels = tuple(c for c in a.channels if fam in get_channel(c).families)
        poolings = tuple(a.poolings) if fam == "encoder" else ("mean",)
        for name, sec in time_family(fam, models[fam], data, str(rationales), a.batch_size,
                                     modes, channels, root, poolings).items():
            if "[" in name:
                results.setdefault(f"{fam} poolings", {})[name] = sec
            elif ":" in name:
                results.setdefault(f"{fam} channels", {})[name] = sec
            elif name.endswith(")"):
                mode, variant = name.split(" ", 1)
                results.setdefault(f"{fam} {variant}", {})[mode] = sec
            else:
                results.setdefault(fam, {})[name] = sec
        print(fam, {k: round(v, 1) for k, v in results[fam].items()}, flush=True)
    cols = ("standard", "rationale", "dss", "kd")
    print(f"{'family':26s} " + " ".join(f"{m:>9s}" for m in cols)
          + "   rationale/std  dss/std   kd/std")
    for name, r in results.items():
        if name.endswith((" channels", " poolings")):
            continue
        std = results.get(name.split(" ")[0], {}).get("standard")
        cells = [f"{r[m]:9.1f}" if m in r else f"{'-':>9s}" for m in cols]
        ratios = [f"{r[m] / std:6.2f}x" if std and m in r else "     -" for m in cols[1:]]
        print(f"{name:26s} {' '.join(cells)}   {ratios[0]:>12s} {ratios[1]:>8s} {ratios[2]:>8s}")
    for fam in a.families:
        for name, sec in results.get(f"{fam} channels", {}).items():
            std = results[fam]["standard"]
            print(f"{fam:7s} {name:22s} {sec:9.1f} s   {sec / std:5.2f}x standard")
    for name, sec in results.get("encoder poolings", {}).items():
        base = name.split(" [")[0]
        first = results["encoder channels" if ":" in base else "encoder"][base]
        print(f"encoder {name:30s} {sec:9.1f} s   {first / sec:5.2f}x faster than "
              f"{a.poolings[0]}")
    if "causal (full passes)" in results:
        full, shared = results["causal (full passes)"]["kd"], results["causal"]["kd"]
        print(f"causal kd, full passes / shared prompt: {full / shared:.2f}x")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(a.out, json.dumps({"seconds_per_epoch": results, "n": a.n,
                                            "batch_size": a.batch_size, "threads": a.threads,
                                            "freed_memory_kept": kept}, indent=1))


if __name__ == "__main__":
    sys.exit(exit_code(main))
