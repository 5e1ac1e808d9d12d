"""Per-example outcomes of a study, kept so that every comparison can be re-derived later.

One gzip'd JSON file per study (docs/results/outcomes/<name>.json.gz): the test example ids in
order (once), the gold labels, then per evaluated run (row, size, seed) the predicted answer of
every test example and whether it is right, and the teacher's on the same examples. Correctness
is stored as a string of 0/1 (gzip packs it to about a bit per example); predictions as the
answer text, which gzip packs to the size of the label set. The outcomes of an extra split
(`data.also_test`, e.g. the demo's heldout stories) have the same format, their split named.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from ..artifact import read_json, read_json_lines
from ..errors import DataError
from .curves import curve_key

FORMAT = "saliency-kd outcomes 1"


def _bits(correct: list[bool]) -> str:
    return "".join("1" if c else "0" for c in correct)


def ids_digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def _aligned(path: Path, ids: list[str], preds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Predictions in the order of `ids`; a file that does not cover them is an error."""
    by_id = {str(p["id"]): p for p in preds}
    missing = [i for i in ids if i not in by_id]
    if missing or len(by_id) != len(ids):
        raise DataError(path, None, "id", f"{len(missing)} of {len(ids)} test examples missing "
                        f"(or {len(by_id) - len(ids) + len(missing)} foreign): these are not "
                        "the outcomes of the study's test set")
    return [by_id[i] for i in ids]


def collect(run_dir: str | Path, name: str | None = None, split: str | None = None,
            ) -> dict[str, Any]:
    """The outcomes of one finished (or partly finished) `run` directory: every evaluated
    student run in its index (stages.json) and the teacher's test evaluation; with `split`,
    their evaluations on that extra split (`data.also_test`) instead, in the same format."""
    root = Path(run_dir)
    index = read_json(root / "stages.json")
    config = read_json(root / "config.json")
    evals = index["teacher_evals"]
    if split is not None and split not in config["data"].get("also_test", []):
        raise DataError(root / "stages.json", None, "teacher_evals", f"no '{split}' "
                        "evaluation in this run (data.also_test: "
                        f"{config['data'].get('also_test', [])})")
    teacher_file = root / evals[split or "test"]
    teacher_preds = read_json(teacher_file)["predictions"]
    ids = [str(p["id"]) for p in teacher_preds]
    out: dict[str, Any] = {
        "format": FORMAT, "name": name or root.name, "task": config["data"]["task"],
        "split": split or config["data"].get("test_split", "test"),
        "data": config["data"], "primary": config.get("primary"),
        "test": {"n": len(ids), "ids_sha256": ids_digest(ids), "ids": ids,
                 "labels": [p["label"] for p in teacher_preds]},
        "teacher": {"prediction": [p["prediction"] for p in teacher_preds],
                    "correct": _bits([p["correct"] for p in teacher_preds])},
        "runs": [], "cost": stage_costs(root, index)}
    for row in index.get("students", []):
        for run in row["runs"]:
            eval_dir = run["eval_dir"] if split is None else \
                run.get("also_eval_dirs", {}).get(split)
            pred_file = root / str(eval_dir) / "metrics.predictions.jsonl"
            if eval_dir is None or not pred_file.exists():  # a stopped study: not evaluated yet
                continue
            preds = _aligned(pred_file, ids, read_json_lines(pred_file, ("id", "correct")))
            out["runs"].append({
                "row": curve_key(row), "student": row["student"], "n_train": row["n_train"],
                "seed": run["seed"], "prediction": [p.get("prediction") for p in preds],
                "correct": _bits([p["correct"] for p in preds]),
                **_run_cost(root, run["train_dir"], eval_dir)})
    return out


def _seconds(stage_dir: Path) -> float | None:
    """A finished stage's wall time as its record holds it (None: not recorded)."""
    record = stage_dir / "stage.json"
    return read_json(record).get("seconds") if record.exists() else None


def stage_costs(root: Path, index: dict[str, Any]) -> dict[str, float]:
    """Wall seconds of the teacher's stages (fine-tuning, each rationale file, each
    evaluation), named as in the index: what a study cost before its students."""
    dirs = {"teacher-finetune": index.get("teacher_finetune")}
    dirs |= {f"rationales:{k}": Path(v).parent.name for k, v in index.get("rationales",
                                                                         {}).items()}
    dirs |= {f"teacher-eval:{k}": Path(v).parent.name for k, v in index.get("teacher_evals",
                                                                           {}).items()}
    out = {k: _seconds(root / d) for k, d in dirs.items() if d}
    return {k: v for k, v in out.items() if v is not None}


def _run_cost(root: Path, train_dir: str, eval_dir: str) -> dict[str, Any]:
    """A run's training and evaluation seconds, and how many pool examples it learned."""
    summary = root / train_dir / "train_summary.json"
    pool_n = read_json(summary).get("pool_n") if summary.exists() else None
    out = {"train_seconds": _seconds(root / train_dir), "eval_seconds": _seconds(root / eval_dir)}
    return {k: v for k, v in {**out, "pool_n": pool_n}.items() if v is not None}


def write(outcomes: dict[str, Any], path: str | Path) -> Path:
    """gzip'd JSON, written whole (no timestamp in the header: the same outcomes give the
    same bytes)."""
    from ..atomic import write_bytes_atomic

    blob = json.dumps(outcomes, separators=(",", ":")).encode()
    write_bytes_atomic(path, gzip.compress(blob, mtime=0))
    return Path(path)


def read(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(path, None, None, f"not a gzip'd outcomes file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(path, None, "format", f"expected '{FORMAT}'")
    return data


def matrix(outcomes: dict[str, Any], row: str, n_train: int) -> tuple[list[int], list[list[int]]]:
    """(seeds, 0/1 outcomes per seed) of one row at one size, seeds in order."""
    runs = sorted((r for r in outcomes["runs"] if r["row"] == row and r["n_train"] == n_train),
                  key=lambda r: r["seed"])
    return [r["seed"] for r in runs], [[int(c) for c in r["correct"]] for r in runs]


def teacher_vector(outcomes: dict[str, Any]) -> list[int]:
    return [int(c) for c in outcomes["teacher"]["correct"]]


def row_seconds(outcomes: dict[str, Any]) -> dict[str, list[float]]:
    """Per row: each run's training and test-evaluation seconds, where recorded."""
    rows: dict[str, list[float]] = {}
    for r in outcomes["runs"]:
        if "train_seconds" in r:
            rows.setdefault(r["row"], []).append(r["train_seconds"] + r.get("eval_seconds", 0))
    return rows
