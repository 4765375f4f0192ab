"""`python -m generator_service evaluate --clips DIR` end to end with the tiny model and an adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from generator_service.demo_clip import make_performer_clip


@pytest.mark.slow
def test_evaluate_clips_writes_report_for_adapter_and_baseline(tmp_path: Path, tiny, cache_dir: Path) -> None:
    from generator_service.model.adapter import AdapterConfig
    from generator_service.model.loading import load_music_model
    from generator_service.training.train import TrainConfig, train

    music = load_music_model("tiny", cache_dir=cache_dir, device="cpu")
    item = {"codes": np.zeros((4, 100), np.int64), "condition": np.zeros((100, 112), np.float32), "prompt": ""}
    train(music, [item], [], tmp_path / "adapter", TrainConfig(steps=0, batch_size=1), AdapterConfig(window_s=2.0))
    clips = tmp_path / "clips"
    clips.mkdir()
    make_performer_clip(clips / "bob.mp4", duration=3.0, fps=25, size=(320, 180), bob_hz=2.0)
    proc = subprocess.run(
        [sys.executable, "-m", "generator_service", "evaluate", "--clips", str(clips), "--model", "tiny",
         "--adapter", str(tmp_path / "adapter"), "--out", str(tmp_path / "report"), "--quiet"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["meta"]["untrained"] is True
    assert (tmp_path / "report" / "report.html").read_text().count("<svg") >= 2
    text = json.dumps(report)
    assert "expotion" in text and "text-only" in text and "bob.mp4" in text
