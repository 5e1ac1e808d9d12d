"""Seconds per training epoch of `standard`, `rationale` and `dss`, per student family,
side by side in one run.

    python bench/student_speed.py [--n 128] [--out runs/bench/student_speed.json]

Encoder: the embedded all-MiniLM-L6-v2. Seq2seq and causal: no small pretrained T5 or GPT-2
installs offline, so they are built from configs at the sizes of t5-small (60M) and GPT-2 small
(124M) with MiniLM's WordPiece vocabulary; step time does not depend on the weights' values.
Seq2seq also runs DSS's own two-pass scheme (a full encoder pass per task prefix) for reference.
Rationales come from the embedded teacher (`saliency`, cached under the output directory).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from saliency_kd.attribute import AttributeConfig, attribute
from saliency_kd.data import DataSpec
from saliency_kd.student import TrainConfig, train
from saliency_kd.student.encoder import embedded_minilm_dir

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128, help="training examples (one epoch)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--root", default="runs/bench/student_speed")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    root = Path(a.root)
    if (SHARED / "cqa" / "cqa_train.json").exists():
        data = DataSpec("cqa", str(SHARED), "train", limit=a.n)
    else:
        raise SystemExit("needs ../shared/data/dss (the dss mode needs PaLM rationales)")
    rationales = attribute(AttributeConfig(out=str(root / "rationales.jsonl"), data=data,
                                           batch_size=8), progress=True)
    models = build_models(root)
    results: dict[str, dict[str, float]] = {}
    runs = [(fam, mode, False) for fam in ("encoder", "seq2seq", "causal")
            for mode in ("standard", "rationale", "dss")] + [("seq2seq", "dss", True)]
    for fam, mode, two_pass in runs:
        name = f"{fam}{' (DSS two-pass)' if two_pass else ''}"
        out = root / f"{fam}-{mode}{'-2pass' if two_pass else ''}"
        cfg = TrainConfig(out=str(out), data=data, rationales=str(rationales),
                          student=models[fam], family=fam, mode=mode, epochs=1,
                          batch_size=a.batch_size, dev_limit=8, checkpoint_every=10**6,
                          two_pass=two_pass)
        for f in out.glob("**/*"):
            if f.is_file():
                f.unlink()
        train(cfg, progress=False)
        log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
        results.setdefault(name, {})[mode] = log[-1]["seconds"]
    print(f"{'family':26s} {'standard':>9s} {'rationale':>10s} {'dss':>8s}"
          "   rationale/std  dss/std")
    for name, r in results.items():
        std = r.get("standard")
        cells = [f"{r[m]:9.1f}" if m in r else f"{'-':>9s}" for m in ("standard", "rationale",
                                                                       "dss")]
        ratio_r = f"{r['rationale'] / std:6.2f}x" if std and "rationale" in r else "     -"
        ratio_d = f"{r['dss'] / std:6.2f}x" if std and "dss" in r else "     -"
        print(f"{name:26s} {' '.join(cells)}   {ratio_r:>12s} {ratio_d:>8s}")
    if "seq2seq (DSS two-pass)" in results:
        two = results["seq2seq (DSS two-pass)"]["dss"]
        std = results["seq2seq"]["standard"]
        print(f"seq2seq DSS two-pass / seq2seq standard: {two / std:.2f}x")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({"seconds_per_epoch": results, "n": a.n,
                                           "batch_size": a.batch_size}, indent=1))


if __name__ == "__main__":
    main()
