"""Merges the curves.json of study runs (`saliency-kd run configs/study/<task>.yaml`) into
docs/results/curves.json, the committed record of every learning-curve run.

    python bench/curves.py runs/study-demo/curves.json [...] [--out docs/results/curves.json]
    python bench/curves.py runs/study-anli1     # a run directory: the same, or, for a study
                                                # stopped before its first test evaluation,
                                                # its dev accuracies alone

A run directory does not outlive a working session, while the committed file does: a record
found in a run replaces the committed record of the same run (task, training size, student,
mode, channel, source, seed) and leaves every other one in place, so a session that finishes
part of a study adds to the published curves instead of replacing them. Then re-render the docs
with `python bench/results.py --out docs` (it draws docs/results/<task>_curves.png).

The dev accuracy of every training run of a study (the tuning grid's runs included, which are
never evaluated on test) is collected from its run directory too, into
docs/results/curves_dev.json: what the tuning chose, and why, stays checkable after the run
directory is gone. Every file is read before either output is written: a damaged one stops the
merge with one line naming it, both outputs as they were.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from saliency_kd.artifact import read_json
from saliency_kd.atomic import write_text_atomic
from saliency_kd.cli import exit_code
from saliency_kd.errors import DataError

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


def source_of(stage: str | None) -> str | None:
    """`attribute-saliency-<hash>` -> `saliency`, `control-random-<hash>` -> `random`."""
    if not stage:
        return None
    name = stage.rsplit("-", 1)[0]
    return name.split("-", 1)[1]


def dev_records(run_dir: Path, task: str, student: str) -> list[dict]:
    """Every finished training stage of a run: its settings and best dev accuracy."""
    out = []
    for stage in sorted(run_dir.glob("train-*/stage.json")):
        summary = stage.with_name("train_summary.json")
        if not summary.exists():
            continue
        cfg, summ = read_json(stage)["config"], read_json(summary)
        model = read_json(stage.parent / "model" / "student.json")
        # a run of several student groups: each stage names its own student
        out.append({"task": task, "n_train": summ["train_n"],
                    "student": cfg.get("students", {}).get("student", student),
                    "mode": cfg["mode"], "channel": cfg.get("channel") or model.get("channel"),
                    "source": source_of(cfg.get("teacher_file")), "seed": cfg["seed"],
                    "lr": cfg["lr"], "alpha": cfg["alpha"],
                    "dev_accuracy": summ["best_dev_accuracy"], "dev_n": summ["dev_n"],
                    "stage": stage.parent.name})
    return out


def read_run(path: Path) -> tuple[list[dict], list[dict]]:
    """A run's curves records and dev records, from its curves.json or its directory (whose
    config.json names the task and student when no test evaluation has run yet)."""
    run_dir, curves = (path, path / "curves.json") if path.is_dir() else (path.parent, path)
    found = read_records(curves, FIELDS) if curves.exists() else []
    if found:
        task, student = found[0]["task"], found[0]["student"]
    else:
        cfg = read_json(run_dir / "config.json")
        groups = cfg["students"] if isinstance(cfg["students"], list) else [cfg["students"]]
        task, student = cfg["data"]["task"], groups[0]["student"]
    return found, dev_records(run_dir, task, student)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path,
                    help="curves.json files or run directories of study runs")
    ap.add_argument("--out", default="docs/results/curves.json")
    a = ap.parse_args()
    out, dev_out = Path(a.out), Path(a.out).with_name("curves_dev.json")
    # Every file is read before any is written: a damaged one stops the merge with both intact.
    committed = read_records(out, FIELDS) if out.exists() else []
    dev = {r["stage"]: r for r in (read_records(dev_out, ("stage",)) if dev_out.exists()
                                  else [])}
    runs = [read_run(path) for path in a.runs]
    found = [rec for recs, _ in runs for rec in recs]
    merged = merge(committed, found)
    dev.update((r["stage"], r) for _, recs in runs for r in recs)
    write(out, merged)
    print(f"{out}: {len(merged)} records ({len(found)} found in {len(a.runs)} run(s), "
          f"{len(committed)} committed before)")
    write(dev_out, sorted(dev.values(), key=lambda r: r["stage"]))
    print(f"{dev_out}: {len(dev)} training runs with their dev accuracy")


def read_records(path: Path, required: tuple[str, ...]) -> list[dict]:
    """A curves file: a JSON list of records holding the `required` fields, or an error naming
    the file and the line or field."""
    records = read_json(path)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(path, None, None, "not a curves file (a JSON list of records)")
    for i, rec in enumerate(records, 1):
        if missing := [f for f in required if f not in rec]:
            raise DataError(path, None, missing[0], f"missing from record {i}")
    return records


def write(path: Path, records: list[dict]) -> None:
    write_text_atomic(path, json.dumps(records, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(exit_code(main))
