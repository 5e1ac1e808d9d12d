"""The HTML report renders in a real browser (headless Chromium, Debian's `chromium`)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from saliency_kd.pipeline.config import parse_config
from saliency_kd.pipeline.run import run_pipeline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(student_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    cfg = parse_config({
        "run_dir": str(root / "run"),
        "data": {"task": "cqa", "data_dir": str(student_world["dss"]), "train_limit": 40},
        "teacher": {"name": str(student_world["causal"])},
        "attribution": {"methods": ["saliency", "attention"], "top_k": 3},
        "students": {"student": str(student_world["encoder"]), "modes": ["standard", "rationale"],
                     "lr": 1e-3, "batch_size": 12, "epochs": 1},
        "report": {"heatmaps": 4},
    })
    run_pipeline(cfg, progress=False)
    return root / "run" / "report.html"


def test_report_is_self_contained(report):
    html = report.read_text()
    assert "<table id=\"results\">" in html and html.count('class="heatmap"') == 4
    assert "http://" not in html and "https://" not in html  # opens without a server or network
    assert "data:image/png;base64," in html
    assert "saliency vs attention" in html


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (CI installs it)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([CHROMIUM, *flags, "--window-size=1200,2400", f"--screenshot={shot}",
                    report.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", report.resolve().as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert 'id="results"' in dom and 'class="heat"' in dom and "student: standard" in dom
    from PIL import Image

    img = Image.open(shot).convert("L")
    # something was drawn: the page is not a blank canvas
    assert len(set(img.resize((64, 128)).getdata())) > 8
