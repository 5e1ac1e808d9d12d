"""The embedded demo end to end, offline: what `saliency-kd demo` promises a newcomer."""

from __future__ import annotations

import json
import time

import pytest

from saliency_kd.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def test_demo_runs_and_reports(tmp_path, capsys):
    start = time.time()
    assert main(["demo", "--run-dir", str(tmp_path / "demo")]) == 0
    minutes = (time.time() - start) / 60
    printed = capsys.readouterr().out
    assert "teacher" in printed and "student: rationale" in printed
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert {s["mode"] for s in results["students"]} == {"standard", "rationale", "kd"}
    assert results["methods"][0]["evidence"]["precision"] > 0
    html = (tmp_path / "demo" / "report.html").read_text()
    assert 'id="results"' in html and 'class="heat"' in html
    print(f"demo took {minutes:.1f} min")
    # Second run: every stage cached.
    assert main(["demo", "--run-dir", str(tmp_path / "demo")]) == 0
    assert "none (all cached)" in capsys.readouterr().out
