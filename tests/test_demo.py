"""The embedded demo end to end, offline: what `saliency-kd demo` promises a newcomer."""

from __future__ import annotations

import json
import time

import pytest

from saliency_kd.cli import main

# A guard against a hung run, not a speed check (timed tests are no benchmark): well above twice
# the slowest healthy run measured on a 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2800)]


def test_demo_runs_and_reports(tmp_path, capsys):
    start = time.time()
    assert main(["demo", "--run-dir", str(tmp_path / "demo")]) == 0
    minutes = (time.time() - start) / 60
    printed = capsys.readouterr().out
    assert "teacher" in printed and "student: attention@saliency" in printed
    assert "verdict:" in printed
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    rows = {(s["mode"], s["channel"], s["source"]): s for s in results["students"]}
    assert {("standard", None, None), ("rationale", "attention", "saliency"),
            ("rationale", "attention", "random")} <= set(rows)
    # at least 3 seeds per row, in the same order in every row, so rows pair by seed
    assert all(len(s["per_seed"]) >= 3 and s["seed_ids"] == results["students"][0]["seed_ids"]
               for s in results["students"])
    paired = {c["key"]: c for c in results["comparisons"]}
    assert paired["attention@saliency"]["minus_standard"]["ci95_low"] is not None
    assert paired["attention@saliency"]["minus_random"] is not None
    assert results["verdict"]
    assert results["methods"][0]["evidence"]["precision"] > 0
    curves = json.loads((tmp_path / "demo" / "curves.json").read_text())
    assert len(curves) == sum(len(s["per_seed"]) for s in results["students"])
    html = (tmp_path / "demo" / "report.html").read_text()
    assert 'id="results"' in html and 'class="heat"' in html and 'id="paired"' in html
    assert 'id="verdict"' in html and "accuracy against training examples" in html
    print(f"demo took {minutes:.1f} min")
    # Second run: every stage cached.
    assert main(["demo", "--run-dir", str(tmp_path / "demo")]) == 0
    assert "none (all cached)" in capsys.readouterr().out
