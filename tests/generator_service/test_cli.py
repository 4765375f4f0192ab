"""The command line as users run it: `python -m generator_service ...` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from generator_service.demo_clip import make_performer_clip


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "generator_service", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_performer_clip(tmp_path_factory.mktemp("cli") / "clip.mp4", duration=1.2, fps=25, size=(160, 90))


def test_score_writes_exact_length_takes_and_metadata(tmp_path: Path, clip: Path) -> None:
    out = tmp_path / "music.wav"
    proc = _run(
        "score",
        str(clip),
        "-o",
        str(out),
        "--model",
        "tiny",
        "--prompt",
        "jazz",
        "--seed",
        "4",
        "--variants",
        "2",
        "--end",
        "1.0",
        "--precision",
        "bf16",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "UNTRAINED" in proc.stderr  # every output of the tiny model says so
    for path in (out, tmp_path / "music-take1.wav"):
        info = sf.info(str(path))
        assert (info.samplerate, info.frames, info.channels) == (32000, 32000, 1)
    meta = json.loads((tmp_path / "music.json").read_text())
    assert meta["seeds"] == [4, 5] and meta["untrained"] is True and meta["num_samples"] == 32000
    assert meta["prompt_used"] == "jazz" and meta["model"] == "tiny"
    assert meta["precision"] == "bf16" and meta["channels"] == 1


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda d: d / "missing.mp4", "missing.mp4"),
        (lambda d: (d / "notes.mp4").write_text("not a video") and d / "notes.mp4", "notes.mp4"),
        (lambda d: (d / "empty.mp4").write_bytes(b"") or d / "empty.mp4", "empty.mp4"),
    ],
)
def test_bad_video_gives_error_and_hint_and_no_output(tmp_path: Path, make, needle: str) -> None:
    video = make(tmp_path)
    out = tmp_path / "music.wav"
    proc = _run("score", str(video), "-o", str(out), "--model", "tiny", cwd=tmp_path)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and needle in proc.stderr and "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_score_with_beat_lock_and_hits_records_the_lock(tmp_path: Path, clip: Path) -> None:
    hits = tmp_path / "hits.json"
    hits.write_text(json.dumps([{"t": 0.5, "kind": "cut"}, {"t": 0.9, "kind": "marker", "strength": 0.4}]))
    out = tmp_path / "music.wav"
    proc = _run(
        "score",
        str(clip),
        "-o",
        str(out),
        "--model",
        "tiny",
        "--beat-lock",
        "hits",
        "--hits",
        str(hits),
        "--start",
        "0.2",
        "--end",
        "1.2",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert sf.info(str(out)).frames == 32000
    meta = json.loads((tmp_path / "music.json").read_text())
    assert meta["beat_lock"] == "hits" and meta["lock"][0]["mode"] == "hits" and meta["lock"][0]["reason"]
    assert [(h["kind"], round(h["t"], 3)) for h in meta["hits"]] == [("cut", 0.3), ("marker", 0.7)]


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--beat-lock", "beats"], "invalid choice: 'beats'"),
        (["--hits", "HITS"], "hits: cannot read"),
        (["--hits", "BAD"], "hits[0].kind: 'fade' is not one of cut, marker"),
    ],
)
def test_bad_lock_flags_name_the_parameter(tmp_path: Path, clip: Path, flags: list[str], needle: str) -> None:
    (tmp_path / "BAD").write_text(json.dumps([{"t": 0.5, "kind": "fade"}]))
    flags = [str(tmp_path / f) if f in ("HITS", "BAD") else f for f in flags]
    proc = _run("score", str(clip), "-o", str(tmp_path / "m.wav"), "--model", "tiny", *flags, cwd=tmp_path)
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "m.wav").exists()


def test_range_outside_clip_is_refused(tmp_path: Path, clip: Path) -> None:
    proc = _run("score", str(clip), "-o", str(tmp_path / "m.wav"), "--model", "tiny", "--start", "5", cwd=tmp_path)
    assert proc.returncode == 2 and "clip.mp4" in proc.stderr


def test_missing_output_folder_is_refused_before_work(tmp_path: Path, clip: Path) -> None:
    proc = _run("score", str(clip), "-o", str(tmp_path / "nope" / "m.wav"), "--model", "tiny", cwd=tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_unknown_model_offline_says_how_to_fix(tmp_path: Path, clip: Path) -> None:
    proc = _run(
        "score", str(clip), "-o", str(tmp_path / "m.wav"), "--model", "nobody/no-model", "--offline", cwd=tmp_path
    )
    assert proc.returncode == 2 and "nobody/no-model" in proc.stderr and "tiny" in proc.stderr


@pytest.fixture(scope="module")
def temp(tmp_path_factory) -> Path:
    """A temp track: 0.8 s of A then C, stereo at 44.1 kHz."""
    import numpy as np

    rate = 44100
    t = np.arange(round(0.8 * rate)) / rate
    tune = 0.4 * np.sin(2 * np.pi * np.where(t < 0.4, 440.0, 523.25) * t)
    path = tmp_path_factory.mktemp("temp") / "temp.wav"
    sf.write(path, np.stack([tune, tune], axis=1), rate)
    return path


def test_score_with_a_melody_writes_the_measured_melody_block(tmp_path: Path, clip: Path, temp: Path) -> None:
    out = tmp_path / "music.wav"
    proc = _run(
        "score", str(clip), "-o", str(out), "--model", "tiny-melody", "--melody", str(temp), "--melody-start", "0.1",
        "--end", "1.0", "--beat-lock", "off", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sf.info(str(out)).frames == 32000
    block = json.loads((tmp_path / "music.json").read_text())["melody"]
    assert block["start"] == 0.1 and block["looped"] is True and block["follows"] is False
    assert {"chroma_similarity", "chance", "follows"} <= set(block["takes"][0])
    assert "does NOT follow the temp" in proc.stderr  # untrained: measured, and said


def test_a_melody_for_a_model_without_one_exits_2_naming_the_melody_models(
    tmp_path: Path, clip: Path, temp: Path
) -> None:
    proc = _run(
        "score", str(clip), "-o", str(tmp_path / "m.wav"), "--model", "tiny", "--melody", str(temp), cwd=tmp_path
    )
    assert proc.returncode == 2 and "'tiny' cannot take a melody" in proc.stderr
    assert "tiny-melody" in proc.stderr and "facebook/musicgen-melody" in proc.stderr
    assert not (tmp_path / "m.wav").exists()
    alone = _run("score", str(clip), "-o", str(tmp_path / "m.wav"), "--melody-start", "2", cwd=tmp_path)
    assert alone.returncode == 2 and "--melody-start: only with --melody" in alone.stderr


def test_serve_flags_reach_the_service_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import generator_service.api.app as app
    from generator_service.cli import main

    seen = []
    monkeypatch.setattr(app, "serve", seen.append)
    assert (
        main(
            [
                "serve",
                "--model",
                "tiny",
                "--work-dir",
                str(tmp_path),
                "--max-attempts",
                "5",
                "--retention-days",
                "7",
                "--max-storage-mb",
                "-1",
                "--download-grace",
                "60",
                "--cleanup-interval",
                "30",
            ]
        )
        == 0
    )
    s = seen[0]
    assert (s.max_attempts, s.retention_days, s.max_storage_mb, s.download_grace_s, s.cleanup_interval_s) == (
        5,
        7.0,
        -1.0,
        60.0,
        30.0,
    )
    assert s.precision == "auto"  # the default: the fastest that passes the parity checks here
    assert main(["serve", "--model", "tiny", "--work-dir", str(tmp_path), "--precision", "int8"]) == 0
    assert seen[1].precision == "int8"
    monkeypatch.setenv("EXPOTION_PRECISION", "fp32")
    assert main(["serve", "--model", "tiny", "--work-dir", str(tmp_path)]) == 0
    assert seen[2].precision == "fp32"
    assert main(["serve", "--model", "tiny", "--work-dir", str(tmp_path), "--max-attempts", "0"]) == 2  # error + hint


def test_demo_command_delegates_to_the_demo_with_its_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`expotion demo` is `python -m generator_service.demo` (what `make demo` runs): same options, same stages."""
    from generator_service import demo
    from generator_service.cli import build_parser, main

    calls: list[tuple] = []
    monkeypatch.setattr(demo, "run", lambda *a: calls.append(("run", *a)) or {"clip": "c.mp4", "model": "tiny"})
    monkeypatch.setattr(demo, "run_blender", lambda *a: calls.append(("blender", *a)))
    out = tmp_path / "d"
    assert main(["demo", "--out", str(out), "--seconds", "2", "--model", "tiny", "--seed", "3"]) == 0
    assert calls[0] == ("run", out, 2.0, "tiny", "playful electronic groove with drums", 3)
    assert calls[1] == ("blender", out, Path("c.mp4"), "tiny", demo.venv_python(".venv-blender"))
    calls.clear()
    assert main(["demo", "--no-blender", "--blender-python", "bp"]) == 0
    assert [c[0] for c in calls] == ["run"] and calls[0][1] == Path("demo_out")
    assert build_parser().parse_args(["-v", "demo"]).verbose is True  # the demo's own -v leaves this alone
    assert build_parser().parse_args(["demo", "-v"]).verbose is True


def test_demo_command_reports_a_failed_stage_as_the_demo_does(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from generator_service import demo
    from generator_service.cli import main

    def broken(*a):
        raise RuntimeError("the Blender stage failed: boom")

    monkeypatch.setattr(demo, "run", broken)
    assert main(["demo", "--no-blender"]) == 1
    assert "error: the Blender stage failed: boom" in capsys.readouterr().err


def test_demo_with_a_model_that_cannot_load_stops_before_making_anything(tmp_path: Path, capsys) -> None:
    """The model is chosen and loaded first: a wrong --model costs no clip, no output folder."""
    from generator_service.cli import main

    out = tmp_path / "demo_out"
    assert main(["demo", "--no-blender", "--out", str(out), "--model", str(tmp_path / "no" / "such" / "dir")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "hint:" in err and "Traceback" not in err
    assert not out.exists()


def test_demo_finds_the_venv_python_where_the_platform_puts_it() -> None:
    from generator_service import demo

    assert demo.venv_python(".venv-blender", windows=True) == Path(".venv-blender", "Scripts", "python.exe")
    assert demo.venv_python(".venv-blender", windows=False) == Path(".venv-blender", "bin", "python")


def test_command_output_shows_whatever_the_log_level_and_goes_where_the_streams_are(capsys) -> None:
    """console.py: results on stdout, errors on stderr, as they are, with the root logger at ERROR
    (a quiet service or a test harness) and sys.stdout swapped after the first message."""
    import logging

    from generator_service.console import console, note, say

    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR
    try:
        say("first")
        note("error: second")
        first = capsys.readouterr()
        say("third")  # pytest gave this test fresh streams; the handler follows them
        third = capsys.readouterr()
    finally:
        root.level = level
    assert (first.out, first.err, third.out) == ("first\n", "error: second\n", "third\n")
    ours = [h for h in console().handlers if type(h).__name__ == "_Streams"]
    assert not console().propagate and len(ours) == 1  # set up once
