"""Video probing and frame sampling on real encoded files written into a temp dir.

Two kinds of clip: the performer clip of `demo_clip` (real photo, real codecs, rotation), and
"indexed" clips whose frame k is a flat grey level, so a test can tell exactly which source frame
the sampler picked (variable frame rate, pts not starting at 0, seeks into B-frame streams).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from generator_service.demo_clip import fps_fraction, make_performer_clip
from generator_service.errors import Cancelled, VideoError
from generator_service.pipeline.frame_sampling import TIME_EPS, _UnsampledSkipper
from generator_service.pipeline.video import (
    VideoInfo,
    iter_sampled_frames,
    probe_video,
    resolve_range,
    sample_count,
)
from generator_service.progress import CancelToken

SIZE = (160, 90)
RATES = [25, 29.97, 23.976, 60]


def _level(k: int) -> int:
    return 8 + 6 * k  # k <= 41


def _write_indexed(
    path: Path, pts: Sequence[int], time_base: Fraction, *, gop: int = 10, options: dict[str, str] | None = None
) -> Path:
    """Frame k is flat grey `_level(k)` at `pts[k] * time_base` seconds (H.264 with B-frames)."""
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream(
            "libx264",
            rate=round(1 / (time_base * (pts[1] - pts[0]))),
            options={"preset": "veryfast", "g": str(gop), "bf": "2"},
        )
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.codec_context.time_base = time_base
        for k, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.full((32, 64, 3), _level(k), np.uint8), format="rgb24")
            frame.pts = p
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _index_of(image: np.ndarray) -> int:
    return round((float(image.mean()) - 8) / 6)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[object, Path]:
    """1 s performer clips at each rate, plus 2 s clips turned 0/90/270 (320x180) for rotation."""
    root = tmp_path_factory.mktemp("clips")
    made: dict[object, Path] = {
        fps: make_performer_clip(root / f"c{fps}.mp4", duration=1.0, fps=fps, size=SIZE) for fps in RATES
    }
    for rotation in (0, 90, 270):
        made[f"rot{rotation}"] = make_performer_clip(
            root / f"r{rotation}.mp4", duration=0.6, fps=10, size=(320, 180), rotation=rotation
        )
    return made


# -- probe ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", RATES)
def test_probe_rates(clips: dict, fps: float) -> None:
    info = probe_video(clips[fps])
    exact = fps_fraction(fps)
    frames = round(1.0 * exact)
    assert info.fps == float(exact)
    assert info.frame_count == frames
    assert info.duration == pytest.approx(float(frames / exact), abs=1e-3)
    assert (info.width, info.height, info.rotation, info.codec) == (*SIZE, 0, "h264")
    assert (info.has_audio, info.start_time, info.path) == (False, 0.0, clips[fps])


def test_probe_without_stream_duration_scans_packets(tmp_path: Path) -> None:
    """Matroska/WebM carry no per-stream duration: the packet scan must give the same answer."""
    path = make_performer_clip(
        tmp_path / "c.webm", duration=0.8, fps=25, size=SIZE, codec="vp9", rotation=270, with_audio=True
    )
    info = probe_video(path)
    assert (info.duration, info.frame_count, info.fps) == (pytest.approx(0.8, abs=1e-6), 20, 25.0)
    assert (info.width, info.height, info.rotation, info.has_audio) == (*SIZE, 270, True)


@pytest.mark.parametrize("rotation", [90, 270])
def test_probe_rotation_gives_display_size(clips: dict, rotation: int) -> None:
    info = probe_video(clips[f"rot{rotation}"])
    assert (info.width, info.height, info.rotation) == (320, 180, rotation)


# -- ranges and counts ----------------------------------------------------------------------------


def _info(duration: float = 2.0, fps: float = 25.0) -> VideoInfo:
    return VideoInfo(
        path=Path("clip.mp4"),
        duration=duration,
        fps=fps,
        width=160,
        height=90,
        rotation=0,
        codec="h264",
        frame_count=round(duration * fps),
        has_audio=False,
        start_time=0.0,
    )


def test_resolve_range_defaults_and_clamps() -> None:
    assert resolve_range(_info(), None, None) == (0.0, 2.0)
    assert resolve_range(_info(), 0.5, None) == (0.5, 2.0)
    assert resolve_range(_info(), None, 1.0) == (0.0, 1.0)
    assert resolve_range(_info(), 1.0, 2.019) == (1.0, 2.0)  # less than half a frame (0.02 s) over


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (-0.1, None, "negative"),
        (1.0, 1.0, "not before"),
        (1.5, 1.0, "not before"),
        (None, 2.03, "past the clip end"),
        (2.0, 3.0, "at or after the clip end"),
        (float("nan"), None, "not a pair of numbers"),
        (None, float("nan"), "not a pair of numbers"),
    ],
)
def test_resolve_range_errors_name_file_and_problem(start, end, words: str) -> None:
    with pytest.raises(VideoError, match=words) as caught:
        resolve_range(_info(), start, end)
    assert "clip.mp4" in str(caught.value)


@pytest.mark.parametrize(
    ("start", "end", "fps", "count"),
    [(0, 2, 10, 20), (0, 2.002, 10, 21), (0.1, 0.3, 10, 2), (0, 1, 3, 3), (0.7, 0.7, 10, 0), (0, 0.05, 10, 1)],
)
def test_sample_count_examples(start: float, end: float, fps: float, count: int) -> None:
    assert sample_count(start, end, fps) == count


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 10_000), st.sampled_from([1, 5, 10, 12.5, 25, 29.97, 30]))
def test_sample_count_matches_exact_arithmetic(start_ms: int, length_ms: int, fps: float) -> None:
    start, end = start_ms / 1000, (start_ms + length_ms) / 1000
    exact = Fraction(length_ms, 1000) * Fraction(fps)  # i < exact  <=>  start + i / fps < end
    assert sample_count(start, end, fps) == -(-exact.numerator // exact.denominator)


# -- sampling -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", RATES)
def test_sampled_times_follow_the_targets(clips: dict, fps: float) -> None:
    info = probe_video(clips[fps])
    frames = list(iter_sampled_frames(clips[fps], 0.0, info.duration, 10))
    period = 1 / info.fps
    assert [f.index for f in frames] == list(range(sample_count(0.0, info.duration, 10)))
    assert [f.target_time for f in frames] == pytest.approx([i / 10 for i in range(len(frames))])
    times = [f.time for f in frames]
    assert times == sorted(times)
    for f in frames:  # the frame on screen at the target: started at most one frame period before
        assert f.target_time - period < f.time <= f.target_time + 1e-4
        assert f.image.shape == (SIZE[1], SIZE[0], 3) and f.image.dtype == np.uint8


def test_range_in_the_middle(clips: dict) -> None:
    frames = list(iter_sampled_frames(clips[29.97], 0.45, 0.8, 10))
    assert [round(f.target_time, 6) for f in frames] == [0.45, 0.55, 0.65, 0.75]
    assert all(0.45 - 1 / 29.97 < f.time < 0.8 for f in frames)


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotated_clips_come_out_upright(clips: dict, rotation: int) -> None:
    reference = [f.image.astype(int) for f in iter_sampled_frames(clips["rot0"], 0, 0.6, 5)]
    turned = [f.image.astype(int) for f in iter_sampled_frames(clips[f"rot{rotation}"], 0, 0.6, 5)]
    assert len(turned) == len(reference) == 3
    for got, want in zip(turned, reference):
        assert got.shape == want.shape == (180, 320, 3)
        assert np.abs(got - want).mean() < 6
        assert np.abs(np.rot90(got, 2) - want).mean() > 20  # the comparison can tell upside-down


def test_max_side_downscales_but_never_upscales(clips: dict) -> None:
    small = next(iter_sampled_frames(clips["rot0"], 0, 0.6, 10, max_side=100))
    assert small.image.shape == (56, 100, 3)
    turned = next(iter_sampled_frames(clips["rot90"], 0, 0.6, 10, max_side=100))  # stored 180x320
    assert turned.image.shape == (56, 100, 3)
    full = next(iter_sampled_frames(clips["rot0"], 0, 0.6, 10, max_side=4000))
    assert full.image.shape == (180, 320, 3) and full.image.flags.c_contiguous


def test_variable_frame_rate_picks_the_frame_on_screen(tmp_path: Path) -> None:
    pts = [0, 40, 70, 150, 160, 300, 310, 320, 500, 540, 580, 600]  # milliseconds
    path = _write_indexed(tmp_path / "vfr.mp4", pts, Fraction(1, 1000), gop=4)
    frames = list(iter_sampled_frames(path, 0.0, 0.62, 20))
    for f in frames:
        shown = max(k for k, p in enumerate(pts) if p / 1000 <= f.target_time + 1e-9)
        assert (_index_of(f.image), f.time) == (shown, pytest.approx(pts[shown] / 1000))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts"])
def test_pts_not_starting_at_zero(tmp_path: Path, suffix: str) -> None:
    pts = list(range(25, 45))  # 1.0 s .. 1.76 s at 25 fps
    path = _write_indexed(tmp_path / f"late{suffix}", pts, Fraction(1, 25))
    info = probe_video(path)
    assert info.start_time >= 1.0 - 1e-6 and info.duration == pytest.approx(0.8, abs=1e-3)
    frames = list(iter_sampled_frames(path, 0.0, info.duration, 10))
    assert frames[0].time == 0.0 and len(frames) == 8
    assert [_index_of(f.image) for f in frames] == [0, 2, 5, 7, 10, 12, 15, 17]


@pytest.mark.parametrize("suffix", [".mp4", ".ts"])  # MPEG-TS seeks land late: the back-off path
@pytest.mark.parametrize("start", [0.0, 0.38, 0.4, 0.41, 0.79, 1.52])
def test_seeking_into_b_frame_stream_picks_exact_frames(tmp_path_factory, suffix: str, start: float) -> None:
    path = tmp_path_factory.getbasetemp() / f"indexed_gop10{suffix}"
    if not path.exists():
        _write_indexed(path, list(range(40)), Fraction(1, 25), gop=10)
    frames = list(iter_sampled_frames(path, start, 1.6, 25))
    assert len(frames) == sample_count(start, 1.6, 25)
    assert [_index_of(f.image) for f in frames] == [math.floor(f.target_time * 25 + 1e-6) for f in frames]


@pytest.fixture(scope="module")
def b_frame_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """1.6 s indexed clips at 25 fps with B-frames (some not referenced by any other frame)."""
    root = tmp_path_factory.mktemp("bframes")
    return {
        suffix: _write_indexed(root / f"b{suffix}", list(range(40)), Fraction(1, 25), gop=12)
        for suffix in (".mp4", ".mkv", ".ts")
    }


@settings(max_examples=25, deadline=None)
@given(fps=st.floats(0.5, 30.0), start=st.floats(0.0, 1.5), suffix=st.sampled_from([".mp4", ".mkv", ".ts"]))
@example(fps=3.809336285903123, start=0.8124205717005126, suffix=".mp4")  # a target within TIME_EPS of the end
def test_frames_left_undecoded_change_nothing(b_frame_clips: dict, fps: float, start: float, suffix: str) -> None:
    skipped = list(iter_sampled_frames(b_frame_clips[suffix], start, 1.6, fps))
    decoded = list(iter_sampled_frames(b_frame_clips[suffix], start, 1.6, fps, skip_unsampled=False))
    assert [(f.index, f.time) for f in skipped] == [(f.index, f.time) for f in decoded]
    for got, want in zip(skipped, decoded):
        np.testing.assert_array_equal(got.image, want.image)
    # frames within TIME_EPS count as shown; the clip's 40 frames end at 1.6 s, where the last one stays shown
    shown = [min(math.floor((f.target_time + TIME_EPS) * 25), 39) for f in skipped]
    assert [_index_of(f.image) for f in skipped] == shown


@dataclass
class _Packet:
    pts: int | None
    size: int = 1000


def _marks(order: list[int | None], targets: list[float], shown_after: int = 0) -> dict[int | None, bool]:
    """Skip marks for packets with these pts (1/25 s) in decode order; a frame is out after `shown_after`."""
    skipper = _UnsampledSkipper(SimpleNamespace(time_base=Fraction(1, 25)), Fraction(0), targets)
    marks = {}
    for k, (packet, skip) in enumerate(skipper.marked(_Packet(p) for p in order)):
        marks[packet.pts] = skip
        if k >= shown_after:
            skipper.shown = -1.0  # the decoder has put out a frame (B-frame delay not modelled)
    return marks


def test_skipper_marks_only_frames_no_target_needs() -> None:
    order = [0, 4, 2, 1, 3, 8, 6, 5, 7, 12, 10, 9, 11, 16, 14, 13, 15]  # IPBbb... (decode order)
    targets = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]  # frames 0, 2.5 -> 2, 5, 7.5 -> 7, 10, 12.5 -> 12
    marks = _marks(order, targets)
    needed = {0, 2, 5, 7, 10, 12}
    assert not any(marks[p] for p in needed)
    assert {p for p, skip in marks.items() if skip} == {1, 3, 4, 6, 8, 9, 11, 13, 14, 15}
    # frames past the last target are needed by none, except those with no later frame known
    assert not marks[16]


def test_skipper_waits_for_the_first_frame_out_and_stops_without_times() -> None:
    order = [0, 4, 2, 1, 3, 8, 6, 5, 7]
    targets = [0.0, 0.4]
    assert not any(_marks(order, targets, shown_after=len(order)).values())
    marks = _marks([0, 4, 2, 1, None, 3, 8, 6, 5, 7], targets)
    assert not any(skip for p, skip in marks.items() if p not in (1, 2, 4))


# -- bad input ------------------------------------------------------------------------------------


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        for k in range(5):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, k * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _bad_file(kind: str, folder: Path, good: Path) -> Path:
    path = folder / f"{kind}.mp4"
    if kind == "text":
        path.write_text("this is a shopping list, not a video\n" * 20)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "audio_only":
        _audio_only(path)
    elif kind == "no_frames":  # a video track with no samples: FFmpeg drops the stream
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
            out.start_encoding()
            out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", "not found"),
        ("text", "not a readable media file"),
        ("empty", "empty"),
        ("truncated", "not a readable media file"),
        ("audio_only", "no video stream"),
        ("no_frames", "no video stream"),
    ],
)
def test_bad_files_raise_video_error(clips: dict, tmp_path: Path, kind: str, words: str) -> None:
    path = _bad_file(kind, tmp_path, clips[25])
    for call in (lambda: probe_video(path), lambda: next(iter_sampled_frames(path, 0.0, 0.5, 10))):
        with pytest.raises(VideoError, match=words) as caught:
            call()
        assert str(path) in str(caught.value) and caught.value.hint


@pytest.mark.parametrize(("start", "end"), [(float("nan"), 1.0), (0.0, float("inf")), (-1.0, 0.5)])
def test_sampling_rejects_bad_numbers(clips: dict, start: float, end: float) -> None:
    with pytest.raises(VideoError, match="non-negative start") as caught:
        iter_sampled_frames(clips[25], start, end, 10)
    assert str(clips[25]) in str(caught.value)


def test_range_errors_from_a_real_probe(clips: dict) -> None:
    info = probe_video(clips[25])
    with pytest.raises(VideoError, match="past the clip end") as caught:
        resolve_range(info, 0.5, 5.0)
    assert str(clips[25]) in str(caught.value)
    with pytest.raises(VideoError, match="not before"):
        resolve_range(info, 0.8, 0.2)


@pytest.mark.parametrize("damage", ["cut", "zeroed"])
def test_damage_after_the_header_names_the_time_reached(tmp_path: Path, damage: str) -> None:
    """With the index at the front ("faststart") a damaged file probes fine; decoding must not."""
    rng = np.random.default_rng(0)
    path = tmp_path / "noisy.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for k in range(40):
            noise = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(noise, format="rgb24")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    data = bytearray(path.read_bytes())
    if damage == "cut":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2 : len(data) // 2 + 8000] = bytes(8000)
    path.write_bytes(bytes(data))
    info = probe_video(path)
    with pytest.raises(VideoError, match=r"(ends|failed) at \d+\.\d{3} s") as caught:
        list(iter_sampled_frames(path, 0.0, info.duration, 25))
    assert str(path) in str(caught.value)


def test_cancel_after_the_third_frame(clips: dict) -> None:
    token = CancelToken()
    frames = iter_sampled_frames(clips[25], 0.0, 1.0, 10, cancel=token)
    seen = [next(frames) for _ in range(3)]
    token.cancel("user pressed stop")
    with pytest.raises(Cancelled, match="user pressed stop"):
        next(frames)
    assert [f.index for f in seen] == [0, 1, 2]
