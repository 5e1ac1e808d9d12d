"""The `--out` of the benchmark scripts: one pair of flags, claimed before the benchmark runs
(an existing file the script did not write is refused, unless `--overwrite`)."""

from __future__ import annotations

import argparse

from saliency_kd.artifact import claim_json_output


def add_out_flags(ap: argparse.ArgumentParser, help: str | None = None) -> None:
    ap.add_argument("--out", default=None, help=help)
    ap.add_argument("--overwrite", action="store_true",
                    help="replace an --out file this script did not write")


def parse_claimed(ap: argparse.ArgumentParser, keys: tuple[str, ...]) -> argparse.Namespace:
    """The parsed arguments, with `--out` claimed now, not after the benchmark has run."""
    a = ap.parse_args()
    if a.out:
        claim_json_output(a.out, keys, a.overwrite)
    return a
