"""The synthetic performer clip: exact rates, frame counts, rotation metadata, the bob, absences."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator_service.demo_clip import fps_fraction, make_performer_clip
from generator_service.errors import ConfigError

SIZE = (160, 90)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _tkhd_matrix(path: Path) -> tuple[int, ...]:
    """The 3x3 display matrix of the first MP4 track header, as ffprobe reads it (16.16 / 2.30)."""
    data = path.read_bytes()
    at = data.index(b"tkhd") + 4  # version byte
    version = data[at]
    at += 4 + (32 if version == 1 else 20) + 8 + 8  # version/flags, times+id+duration, reserved..volume
    return struct.unpack(">9i", data[at : at + 36])


def _vertical_centre(image: np.ndarray, background: np.ndarray) -> float:
    """Row centroid of everything that differs from the background colour."""
    weight = np.abs(image.astype(np.float32) - background).sum(axis=(1, 2))
    return float((np.arange(len(weight)) * weight).sum() / weight.sum())


@pytest.mark.parametrize(
    ("fps", "exact"),
    [
        (29.97, Fraction(30000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (25.0, Fraction(25)),
        (12.5, Fraction(25, 2)),
        (Fraction(30000, 1001), Fraction(30000, 1001)),
    ],
)
def test_fps_fraction_known_rates(fps: float, exact: Fraction) -> None:
    assert fps_fraction(fps) == exact


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=1.0, max_value=240.0))
def test_fps_fraction_is_close_to_the_float(fps: float) -> None:
    assert abs(float(fps_fraction(fps)) - fps) < 5e-3
    assert fps_fraction(fps).denominator <= 1001


@pytest.mark.parametrize("bad", [0.0, -25.0, float("nan"), float("inf")])
def test_fps_fraction_rejects_non_rates(bad: float) -> None:
    with pytest.raises(ConfigError, match="fps"):
        fps_fraction(bad)


@pytest.mark.parametrize(("fps", "duration"), [(Fraction(30000, 1001), 1.0), (60, 0.5)])
def test_rate_and_frame_count_are_exact(tmp_path: Path, fps: Fraction, duration: float) -> None:
    path = make_performer_clip(tmp_path / "c.mp4", duration=duration, fps=fps, size=SIZE)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == Fraction(fps)
        assert stream.frames == round(duration * fps)
        pts = [f.pts * f.time_base for f in container.decode(stream)]
    assert pts == [Fraction(i) / Fraction(fps) for i in range(round(duration * fps))]


@pytest.mark.parametrize(
    ("rotation", "ccw", "matrix_abcd"),
    [(90, -90, (0, 1, -1, 0)), (180, 180, (-1, 0, 0, -1)), (270, 90, (0, -1, 1, 0))],
)
def test_rotation_metadata_reads_back(tmp_path: Path, rotation: int, ccw: int, matrix_abcd: tuple) -> None:
    """PyAV reads the counter-clockwise angle; the MP4 track matrix is what phones write."""
    path = make_performer_clip(tmp_path / "r.mp4", duration=0.2, size=SIZE, rotation=rotation)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stored = (SIZE[1], SIZE[0]) if rotation % 180 else SIZE  # stored pixels are turned
        assert (stream.width, stream.height) == stored
        assert next(container.decode(stream)).rotation % 360 == ccw % 360
    a, b, _, c, d, *_ = _tkhd_matrix(path)
    assert (a, b, c, d) == tuple(v * 65536 for v in matrix_abcd)  # 90: a phone's portrait matrix


def test_stored_pixels_are_the_upright_picture_turned(tmp_path: Path) -> None:
    upright = _frames(make_performer_clip(tmp_path / "u.mp4", duration=0.2, size=SIZE))[0]
    stored = _frames(make_performer_clip(tmp_path / "r.mp4", duration=0.2, size=SIZE, rotation=90))[0]
    shown = np.rot90(stored, k=-1).astype(int)  # what a player shows: stored turned 90 deg clockwise
    assert np.abs(shown - upright).mean() < 6
    assert np.abs(np.rot90(stored, k=1).astype(int) - upright).mean() > 20


@pytest.mark.parametrize("bob_hz", [2.0, 1.5])
def test_whole_person_bobs_at_bob_hz(tmp_path: Path, bob_hz: float) -> None:
    fps, duration, amplitude = 25, 2.0, 0.06
    path = make_performer_clip(
        tmp_path / "b.mp4", duration=duration, fps=fps, size=SIZE, bob_hz=bob_hz, bob_amplitude=amplitude
    )
    frames = _frames(path)
    background = frames[0][0, 0].astype(np.float32)  # the corner is plain background
    centre = np.array([_vertical_centre(f, background) for f in frames])
    t = np.arange(len(frames)) / fps
    expected_up = amplitude * SIZE[1] * np.sin(2 * np.pi * bob_hz * t)
    slope = np.polyfit(expected_up, centre, 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.25)  # moves up by the expected pixels
    assert np.corrcoef(expected_up, centre)[0, 1] < -0.97
    spectrum = np.abs(np.fft.rfft(centre - centre.mean()))
    assert np.fft.rfftfreq(len(centre), 1 / fps)[spectrum.argmax()] == pytest.approx(bob_hz)


def test_person_absent_ranges_show_only_background(tmp_path: Path) -> None:
    path = make_performer_clip(tmp_path / "a.mp4", duration=1.0, fps=10, size=SIZE, person_absent=[(0.3, 0.6)])
    frames = _frames(path)
    spread = [float(f.astype(np.float32).std(axis=(0, 1)).max()) for f in frames]
    assert all(s < 4 for s in spread[3:6])
    assert all(s > 20 for s in spread[:3] + spread[6:])


def test_codecs_containers_and_audio(tmp_path: Path) -> None:
    for name, codec in [("m.mp4", "mpeg4"), ("v.webm", "vp9")]:
        path = make_performer_clip(tmp_path / name, duration=0.4, fps=10, size=SIZE, codec=codec, with_audio=True)
        with av.open(str(path)) as container:
            assert container.streams.video[0].codec_context.name == codec
            audio = container.streams.audio[0]
            frames = list(container.decode(audio))
        assert sum(f.samples for f in frames) / audio.sample_rate == pytest.approx(0.4, abs=0.03)


def test_same_seed_same_file(tmp_path: Path) -> None:
    one = make_performer_clip(tmp_path / "1.mp4", duration=0.3, fps=10, size=SIZE, codec="mpeg4", seed=3)
    two = make_performer_clip(tmp_path / "2.mp4", duration=0.3, fps=10, size=SIZE, codec="mpeg4", seed=3)
    other = make_performer_clip(tmp_path / "3.mp4", duration=0.3, fps=10, size=SIZE, codec="mpeg4", seed=4)
    assert one.read_bytes() == two.read_bytes() != other.read_bytes()


@pytest.mark.parametrize(
    ("name", "kwargs", "words"),
    [
        ("x.webm", {"codec": "h264"}, "cannot be written"),
        ("x.avi", {}, "suffix"),
        ("x.mp4", {"size": (161, 90)}, "even"),
        ("x.mp4", {"rotation": 45}, "rotation"),
        ("x.mp4", {"duration": 0.0}, "duration"),
        ("x.mp4", {"bob_amplitude": 0.5}, "bob_amplitude"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, name: str, kwargs: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        make_performer_clip(tmp_path / name, **({"duration": 0.2} | kwargs))
    assert not (tmp_path / name).exists()
