"""Keeps the per-example outcomes of a study's run directory in the repository:
`python bench/outcomes.py runs/study-esnli-verdicts` writes
docs/results/outcomes/study-esnli-verdicts.json.gz (test ids and gold labels once, then per
evaluated run and for the teacher the predicted answer and whether it is right), from which
`bench/verdicts.py` and `bench/results.py` re-derive every interval. `--split heldout` keeps
the same for an extra split the run also scored (data.also_test), as <name>-heldout.json.gz.

An existing file at the output is replaced only when it is an outcomes file of the same study
(an earlier, partial collection); anything else there is refused and left as it was."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from saliency_kd.cli import exit_code
from saliency_kd.errors import DataError, OutputError
from saliency_kd.report.outcomes import collect, read, write


def claim(path: Path, name: str) -> None:
    if not path.exists():
        return
    try:
        old = read(path)
    except DataError:
        raise OutputError(f"{path}: not an outcomes file of saliency-kd; nothing was changed "
                          "(move it away or pass another --out)") from None
    if old["name"] != name:
        raise OutputError(f"{path}: holds the outcomes of '{old['name']}', not '{name}'; "
                          "nothing was changed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", help="a `saliency-kd run` directory (finished or stopped)")
    ap.add_argument("--out", default="docs/results/outcomes",
                    help="folder of the outcome files (default: docs/results/outcomes)")
    ap.add_argument("--split", default=None,
                    help="the outcomes on an extra split of the run (data.also_test, e.g. "
                    "heldout) instead of the test split: writes <name>-<split>.json.gz")
    a = ap.parse_args()
    run = Path(a.run_dir)
    name = run.resolve().name
    path = Path(a.out) / (f"{name}-{a.split}.json.gz" if a.split else f"{name}.json.gz")
    claim(path, name)
    outcomes = collect(run, name, split=a.split)
    write(outcomes, path)
    print(f"wrote {path}: {len(outcomes['runs'])} runs and the teacher on "
          f"{outcomes['test']['n']} {outcomes['split']} examples "
          f"({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    sys.exit(exit_code(main))
