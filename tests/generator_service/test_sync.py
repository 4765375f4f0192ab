"""`python -m generator_service sync VIDEO MUSIC -o OUT.wav`: constructed drums 5 % off the tempo
of a real photographed performer bobbing at 2 Hz (MediaPipe reads the motion), off phase, with a
cut and a marker; a still performer; and the errors a user can make."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from generator_service.demo_clip import make_performer_clip
from generator_service.evaluation.metrics import beat_alignment, hit_alignment
from generator_service.pipeline.rhythm import music_events

from .pipeline.drums import drum_track, require_rubberband

pytestmark = pytest.mark.slow

RATE = 44_100  # not the model's rate: OUT.wav keeps the music's
START, END = 1.0, 13.0
HITS = [
    {"t": 4.42, "kind": "cut", "strength": 1.0},
    {"t": 9.9, "kind": "marker", "strength": 0.8},
    {"t": 13.5, "kind": "cut"},
]  # an editor cuts on the bob; the last hit is outside the range


def _run(*args: str | Path, cwd: Path, path: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "generator_service", "sync", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    require_rubberband()
    folder = tmp_path_factory.mktemp("sync")
    mono = drum_track(120 * 1.05, 16.0, first_beat_s=0.3, sr=RATE)
    sf.write(folder / "drums.wav", np.stack([mono, 0.8 * mono], axis=1), RATE, subtype="FLOAT")
    (folder / "hits.json").write_text(json.dumps(HITS))
    return {
        "bob": make_performer_clip(folder / "bob.mp4", duration=14.0, fps=25, bob_hz=2.0),
        "still": make_performer_clip(folder / "still.mp4", duration=8.0, fps=25, bob_hz=0.0),
        "music": folder / "drums.wav",
        "hits": folder / "hits.json",
    }


@pytest.fixture(scope="module")
def synced(media: dict[str, Path], tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synced") / "out.wav"
    proc = _run(
        media["bob"],
        media["music"],
        "-o",
        out,
        "--start",
        START,
        "--end",
        END,
        "--hits",
        media["hits"],
        "--quiet",
        cwd=out.parent,
    )
    assert proc.returncode == 0, proc.stderr
    assert "locked" in proc.stdout
    return out, json.loads(out.with_suffix(".json").read_text())


def test_output_has_the_music_rate_channels_and_exact_length(synced) -> None:
    out, meta = synced
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.frames) == (RATE, 2, round((END - START) * RATE))
    assert meta["samples"] == info.frames and meta["sample_rate"] == RATE
    assert (meta["start"], meta["end"]) == (START, END)


def test_music_beats_move_onto_the_motion_beats(synced, media) -> None:
    out, meta = synced
    assert meta["locked"] is True and meta["reason"].startswith("locked")
    motion = np.array(meta["motion_beats"])
    assert motion.size >= 18 and 110 < meta["motion_tempo_bpm"] < 130  # MediaPipe reads the 2 Hz bob
    duration = END - START
    source, _ = sf.read(str(media["music"]), dtype="float32")
    before = beat_alignment(motion, music_events(source[: round(duration * RATE)].mean(axis=1), RATE).beats, duration)
    audio, _ = sf.read(str(out), dtype="float32")
    after = beat_alignment(motion, music_events(audio.mean(axis=1), RATE).beats, duration)
    assert before.f_measure < before.chance_f_measure + 0.15  # near chance before
    assert after.f_measure >= 0.8
    assert meta["alignment"]["after"]["beat_f"] == pytest.approx(after.f_measure, abs=1e-3)
    lo, hi = meta["stretch_range"]
    assert 0.92 - 1e-6 <= lo <= hi <= 1.08 + 1e-6 and meta["max_stretch"] == 0.08
    assert len(meta["music_beats_before"]) > 10 and len(meta["music_beats_after"]) > 10


def test_hits_land_on_onsets_on_the_range_clock(synced) -> None:
    out, meta = synced
    assert [h["t"] for h in meta["hits"]] == pytest.approx([4.42 - START, 9.9 - START])  # 13.5 is outside
    audio, _ = sf.read(str(out), dtype="float32")
    onsets = music_events(audio.mean(axis=1), RATE).onsets
    landed = hit_alignment(np.array([h["t"] for h in meta["hits"]]), onsets, tolerance_s=0.03)
    assert landed.landed == 2, landed.offsets_s


def test_no_jump_above_the_sources(synced, media) -> None:
    out, _ = synced
    source, _ = sf.read(str(media["music"]), dtype="float32")
    audio, _ = sf.read(str(out), dtype="float32")
    step = 2.0 / 32768  # OUT.wav is 16-bit PCM
    assert np.abs(np.diff(audio, axis=0)).max() <= np.abs(np.diff(source, axis=0)).max() + step


def test_a_still_performer_leaves_the_music_untouched_and_says_why(media, tmp_path: Path) -> None:
    out = tmp_path / "still.wav"
    proc = _run(media["still"], media["music"], "-o", out, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "NOT locked" in proc.stdout
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["locked"] is False and "no motion" in meta["reason"]
    assert meta["stretch_range"] == [1.0, 1.0]
    audio, _ = sf.read(str(out), dtype="float32")
    source, _ = sf.read(str(media["music"]), dtype="float32")
    assert audio.shape == (8 * RATE, 2)
    np.testing.assert_allclose(audio, source[: 8 * RATE], atol=1.0 / 32768)  # only the 16-bit rounding


@pytest.mark.parametrize(
    "content, needle",
    [
        ('[{"t": 1.0, "kind": "fade"}]', "kind"),
        ('[{"t": -1, "kind": "cut"}]', "hit t"),
        ('{"t": 1}', "JSON list"),
        ("[1, 2", "not valid JSON"),
    ],
)
def test_bad_hits_file_is_refused_before_any_work(media, tmp_path: Path, content: str, needle: str) -> None:
    hits = tmp_path / "hits.json"
    hits.write_text(content)
    out = tmp_path / "o.wav"
    proc = _run(media["bob"], media["music"], "-o", out, "--hits", hits, cwd=tmp_path)
    assert proc.returncode == 2 and needle in proc.stderr and "hint:" in proc.stderr
    assert not out.exists()


def test_missing_rubberband_says_how_to_install_it(media, tmp_path: Path) -> None:
    proc = _run(media["bob"], media["music"], "-o", tmp_path / "o.wav", cwd=tmp_path, path=str(tmp_path))
    assert proc.returncode == 2
    assert "rubberband" in proc.stderr and "apt-get install rubberband-cli" in proc.stderr


def test_bad_stretch_bound_and_unreadable_music_are_refused(media, tmp_path: Path) -> None:
    proc = _run(media["bob"], media["music"], "-o", tmp_path / "o.wav", "--max-stretch", "0.9", cwd=tmp_path)
    assert proc.returncode == 2 and "max_stretch" in proc.stderr
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    proc = _run(media["bob"], junk, "-o", tmp_path / "o.wav", cwd=tmp_path)
    assert proc.returncode == 2 and "junk.wav" in proc.stderr and "hint:" in proc.stderr
