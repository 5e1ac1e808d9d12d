"""Merges the curves.json of study runs (`saliency-kd run configs/study/<task>.yaml`) into
docs/results/curves.json, the committed record of every learning-curve run.

    python bench/curves.py runs/study-demo/curves.json [...] [--out docs/results/curves.json]

A run directory does not outlive a working session, while the committed file does: a record
found in a run replaces the committed record of the same run (task, training size, student,
mode, channel, source, seed) and leaves every other one in place, so a session that finishes
part of a study adds to the published curves instead of replacing them. Then re-render the docs
with `python bench/results.py --out docs` (it draws docs/results/<task>_curves.png).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KEY = ("task", "n_train", "student", "mode", "channel", "source", "seed")
FIELDS = (*KEY, "accuracy", "n_test")


def run_key(rec: dict) -> tuple:
    return tuple(rec[k] for k in KEY)


def merge(committed: list[dict], found: list[dict]) -> list[dict]:
    """Committed records updated by the found ones, in a stable order (by task, student, mode,
    channel, source, training size, seed)."""
    by_key = {run_key(r): r for r in committed}
    for rec in found:
        missing = [f for f in FIELDS if f not in rec]
        if missing:
            raise SystemExit(f"a record lacks {', '.join(missing)}: {rec}")
        by_key[run_key(rec)] = {f: rec[f] for f in FIELDS}
    order = ("task", "student", "mode", "channel", "source", "n_train", "seed")
    return sorted(by_key.values(), key=lambda r: tuple(str(r[k]) if not isinstance(r[k], int)
                                                       else f"{r[k]:09d}" for k in order))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="curves.json files of study runs")
    ap.add_argument("--out", default="docs/results/curves.json")
    a = ap.parse_args()
    out = Path(a.out)
    committed = json.loads(out.read_text()) if out.exists() else []
    found = [rec for path in a.runs for rec in json.loads(Path(path).read_text())]
    merged = merge(committed, found)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, indent=1) + "\n")
    tmp.rename(out)
    print(f"{out}: {len(merged)} records ({len(found)} found in {len(a.runs)} run(s), "
          f"{len(committed)} committed before)")


if __name__ == "__main__":
    main()
