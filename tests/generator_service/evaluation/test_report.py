"""The HTML + JSON report: self-contained, escaped, and rendered by a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from generator_service.evaluation import report as rep
from generator_service.evaluation import runner

from .conftest import fake_generate, make_items

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.fixture(scope="module")
def written(small_report, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    html_path, json_path = rep.write_report(small_report, out)
    return html_path, json_path


def test_report_files_are_written_side_by_side(written, small_report):
    html_path, json_path = written
    assert html_path.name == "report.html" and json_path.parent == html_path.parent
    data = json.loads(json_path.read_text())
    assert data["aggregate"]["expotion"]["beat_f"] == pytest.approx(small_report.aggregate["expotion"]["beat_f"])


def test_html_is_self_contained_with_inline_plots(written):
    text = written[0].read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<svg") == 2 + 2  # summary, tempo, one per clip
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "url(http" not in text and "@import" not in text and "<script" not in text
    assert "<link" not in text and "<img" not in text


def test_user_text_is_escaped(written):
    text = written[0].read_text()
    assert "<b>groove</b>" not in text and "&lt;b&gt;groove&lt;/b&gt;" in text


def test_clip_figures_are_capped(tmp_path):
    items = make_items(3)
    report = runner.evaluate(items, fake_generate)
    html_path, _ = rep.write_report(report, tmp_path, max_clip_plots=1)
    text = html_path.read_text()
    assert text.count("<svg") == 2 + 1 and "first 1 of 3 clips" in text and "clip-2" in text


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(written, tmp_path):
    shot = tmp_path / "report.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,2400",
        "--hide-scrollbars",
        written[0].as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=90)
    import matplotlib.pyplot as plt

    pixels = plt.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2400, 1280)
    orange = np.all(np.abs(pixels - np.array([0xD9, 0x5F, 0x02]) / 255) < 0.08, axis=-1)
    assert orange.sum() > 500  # the expotion bars and curves were drawn
    assert (pixels.mean(axis=-1) < 0.5).mean() > 0.005  # text and axes, not a blank page
