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
        [
            sys.executable,
            "-m",
            "generator_service",
            "evaluate",
            "--clips",
            str(clips),
            "--model",
            "tiny",
            "--adapter",
            str(tmp_path / "adapter"),
            "--out",
            str(tmp_path / "report"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["meta"]["untrained"] is True
    assert (tmp_path / "report" / "report.html").read_text().count("<svg") >= 2
    text = json.dumps(report)
    assert "expotion" in text and "text-only" in text and "bob.mp4" in text


@pytest.mark.slow
def test_evaluate_clips_with_encodec_fad_and_clap_score(tmp_path: Path, cache_dir: Path) -> None:
    from .test_references import build_tiny_clap

    clips = tmp_path / "clips"
    clips.mkdir()
    make_performer_clip(clips / "bob.mp4", duration=2.0, fps=25, size=(160, 90), bob_hz=2.0, with_audio=True)
    clap = build_tiny_clap(tmp_path / "clap")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "generator_service",
            "evaluate",
            "--clips",
            str(clips),
            "--model",
            "tiny",
            "--fad",
            "encodec",
            "--clap",
            str(clap),
            "--prompt",
            "calm ambient piano",
            "--systems",
            "text-only",
            "--out",
            str(tmp_path / "report"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["meta"]["ground_truth"] == "1 of 1 clips"  # the clip's own audio track
    assert "EnCodec" in report["meta"]["fad_embedding"] and "meaningless" in report["meta"]["fad_embedding"]
    assert "CLAP" in report["meta"]["text_score_model"]
    assert "local" in report["meta"]["reference_models"]
    assert set(report["fad"]) == {"text-only"} and report["fad"]["text-only"] >= 0.0
    score = report["clips"][0]["scores"]["text-only"]["text_score"]
    assert -1.0 <= score <= 1.0
    assert "ground-truth" in report["clips"][0]["scores"]


def test_evaluate_fad_clap_without_clap_fails_before_loading(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from generator_service.cli import main

    code = main(
        ["evaluate", "--clips", str(tmp_path), "--model", "tiny", "--fad", "clap", "--out", str(tmp_path / "report")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--fad clap needs --clap" in err and "hint:" in err
    assert not (tmp_path / "report").exists()


@pytest.mark.slow
def test_evaluate_clips_with_the_beat_locked_systems(tmp_path: Path) -> None:
    from ..pipeline.drums import require_rubberband

    require_rubberband()
    clips = tmp_path / "clips"
    clips.mkdir()
    make_performer_clip(clips / "bob.mp4", duration=6.0, fps=25, size=(320, 180), bob_hz=2.0)
    (clips / "bob.hits.json").write_text(json.dumps([{"t": 2.4, "kind": "cut"}, {"t": 9.0, "kind": "marker"}]))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "generator_service",
            "evaluate",
            "--clips",
            str(clips),
            "--model",
            "tiny",
            "--out",
            str(tmp_path / "report"),
            "--quiet",
            "--window",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["systems"] == ["text-only", "beat-locked", "beat-locked+schedule"]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    clip = report["clips"][0]
    assert clip["hits"] == [{"t": 2.4, "kind": "cut", "strength": 1.0}]  # 9.0 lies outside the clip
    assert {k: v["base"] for k, v in clip["locks"].items()} == {
        "beat-locked": "text-only",
        "beat-locked+schedule": "text-only+schedule",
    }
    assert all(lock["reason"] for lock in clip["locks"].values())
    assert set(report["locks"]) == {"beat-locked", "beat-locked+schedule"}
    assert "continuation across windows" in report["meta"]["schedule"]
    assert "Beat lock: before" in (tmp_path / "report" / "report.html").read_text()


def test_evaluate_unknown_or_impossible_systems_fail_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from generator_service.cli import main

    for systems, needle in (("text-only,bogus", "bogus"), ("expotion", "needs --adapter")):
        code = main(
            [
                "evaluate",
                "--clips",
                str(tmp_path),
                "--model",
                "tiny",
                "--systems",
                systems,
                "--out",
                str(tmp_path / "report"),
            ]
        )
        assert code == 2 and needle in capsys.readouterr().err
    code = main(
        [
            "evaluate",
            "--data",
            str(tmp_path),
            "--model",
            "tiny",
            "--systems",
            "beat-locked+schedule",
            "--out",
            str(tmp_path / "report"),
        ]
    )
    assert code == 2 and "needs --clips" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()
