"""Re-derives every published interval of the pre-registered studies from the per-example
outcomes kept in docs/results/outcomes/: `python bench/verdicts.py` prints, per study, the
regime at each size, every comparison (hierarchical bootstrap interval, p, Holm-adjusted p,
detectable effect, McNemar per seed, t-interval over seeds) and the verdict, each sentence
from saliency_kd.report.verdicts, the module RESULTS.md and README are rendered with."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from saliency_kd.cli import exit_code
from saliency_kd.report.outcomes import read, row_seconds
from saliency_kd.report.verdicts import (
    analyse,
    describe,
    pool_curve_lines,
    regime_lines,
    verdict_sentence,
)


def report(path: Path) -> list[str]:
    outcomes = read(path)
    a = analyse(outcomes)
    lines = [f"{a['name']} ({a['task']}, {a['test_n']} test examples)", *regime_lines(a)]
    for c in a["comparisons"]:
        t = c["seed_t"]
        seed_t = "" if t["low"] is None else \
            f"; seed t-interval {100 * t['low']:+.1f}..{100 * t['high']:+.1f}"
        mcn = ", ".join(f"s{m['seed']} {m['a_only']}/{m['b_only']} p={m['p']:.2g}"
                        for m in c["mcnemar"])
        lines.append(("PRIMARY " if c["primary"] else "  ") + describe(
            c["label"], c["baseline"], c["diff"]) + f", p={c['diff']['p']:.3g}, Holm "
            f"p={c['p_holm']:.3g}, detectable {100 * c['diff']['mde']:.1f} pts{seed_t}; "
            f"McNemar (right only in row/baseline) {mcn}")
    lines += pool_curve_lines(a)
    cost = outcomes.get("cost")
    if cost:
        rows = row_seconds(outcomes)
        lines.append("cost (wall seconds): " + ", ".join(f"{k} {v:.0f}" for k, v in cost.items())
                     + "".join(f"; {row} {sum(v) / len(v):.0f} per run" for row, v in
                               rows.items()))
    lines.append(f"verdict: {verdict_sentence(a)}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outcomes", default="docs/results/outcomes",
                    help="folder of the outcome files")
    a = ap.parse_args()
    files = sorted(Path(a.outcomes).glob("*.json.gz"))
    if not files:
        print(f"no outcome files in {a.outcomes}")
    for path in files:
        print("\n".join(report(path)), end="\n\n")


if __name__ == "__main__":
    sys.exit(exit_code(main))
