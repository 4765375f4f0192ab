"""Feature spec, feature track, and extraction with real MediaPipe on a real photo."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from expotion_protocol.features import BLENDSHAPE_NAMES, FEATURE_SPEC
from generator_service.config import FeatureConfig
from generator_service.errors import Cancelled, ModelFileError, VideoError
from generator_service.pipeline.alignment import to_condition
from generator_service.pipeline.feature_track import FeatureTrack
from generator_service.pipeline.features import ExtractionStats, FeatureExtractor, _prepare_image
from generator_service.pipeline.frames import SampledFrame
from generator_service.pipeline.pose_geometry import finite_difference, head_rotation, pose_features
from generator_service.progress import CancelToken

from .scenes import bob_offset, bobbing_frames, performer_photo

S = FEATURE_SPEC
FPS = 10.0
N_SCENE = 75
BOB_HZ = 2.0
#: Performer visible except frames 30-31 (short gap, 0.3 s) and 45-64 (long gap, 2.1 s).
ABSENT = set(range(30, 32)) | set(range(45, 65))


# ---- spec and track (no MediaPipe) -------------------------------------------------------------


def test_spec_layout() -> None:
    assert S.name == "expotion-face-pose" and S.version == 1 and S.dim == 112
    assert (S.face, S.pose) == (slice(0, 56), slice(56, 112))
    sizes = {name: stop - start for name, start, stop in S.groups}
    assert sizes == {
        "face": 56, "pose": 56, "face.blendshapes": 52, "face.head": 3, "face.present": 1,
        "pose.position": 26, "pose.velocity": 26, "pose.body_velocity": 2, "pose.energy": 1, "pose.present": 1,
    }  # fmt: skip
    assert len(set(S.names)) == S.dim
    assert S.names[55] == "face.present" and S.names[-1] == "pose.present" and S.names[56] == "pose.pos.nose.x"
    with pytest.raises(KeyError):
        S.group("nope")


def test_blendshape_names_follow_mediapipe_order() -> None:
    from mediapipe.tasks.python.vision.face_landmarker import Blendshapes

    def camel(enum_name: str) -> str:
        head, *rest = enum_name.lower().split("_")
        return head + "".join(word.title() for word in rest)

    expected = ["_neutral" if b.name == "NEUTRAL" else camel(b.name) for b in sorted(Blendshapes)]
    assert list(BLENDSHAPE_NAMES) == expected


def test_track_roundtrip_and_spec_check(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    track = FeatureTrack(
        np.arange(5) / 10, np.arange(5) / 10 + 0.01, rng.normal(size=(5, S.dim)),
        np.array([1, 1, 0, 1, 0], bool), np.ones(5, bool), 10.0,
    )  # fmt: skip
    path = tmp_path / "sub" / "track.npz"
    track.save(path)
    loaded = FeatureTrack.load(path)
    for name in ("times", "target_times", "values", "face_mask", "person_mask"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(track, name))
    assert loaded.fps == 10.0 and loaded.values.dtype == np.float32 and len(loaded) == 5
    assert [p.name for p in path.parent.iterdir()] == ["track.npz"]
    track.spec_version = 2
    track.save(path)
    with pytest.raises(ValueError, match="v2"):
        FeatureTrack.load(path)
    with pytest.raises(ValueError):
        FeatureTrack(np.arange(3), np.arange(3), np.zeros((2, S.dim)), np.ones(3, bool), np.ones(3, bool), 10.0)


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return rz @ ry @ rx


def test_head_rotation_recovers_angles_despite_scale() -> None:
    matrix = np.eye(4)
    matrix[:3, :3] = 1.3 * _rotation(0.3, -0.2, 0.1)
    matrix[:3, 3] = [1.0, 20.0, -60.0]
    np.testing.assert_allclose(head_rotation(matrix), np.array([0.3, -0.2, 0.1]) / np.pi, atol=1e-9)


def test_finite_difference_over_true_times() -> None:
    times = np.array([0.0, 0.1, 0.21, 0.3, 0.3, 0.5, 2.0, 2.1])
    valid = np.array([1, 1, 1, 1, 1, 0, 1, 1], bool)
    x = 3.0 * times[:, None] + 1.0
    v = finite_difference(times, x, valid, max_step_s=0.5)
    np.testing.assert_allclose(v[valid, 0], 3.0)
    assert v[5, 0] == 0.0
    alone = finite_difference(times, x, np.array([1, 0, 0, 0, 0, 0, 0, 0], bool), 0.5)
    assert not alone.any()


def test_pose_features_units_and_hidden_landmarks() -> None:
    n = 20
    times = np.arange(n) / 10.0
    base = np.zeros((13, 2))
    base[1], base[2] = (150.0, 100.0), (50.0, 100.0)  # shoulders 100 px apart, centre (100, 100)
    base[0] = (100.0, 40.0)
    points = base[None] + np.stack([np.zeros(n), 30.0 * times], axis=1)[:, None, :]  # moving down 30 px/s
    visibility = np.ones((n, 13))
    visibility[:, 5] = 0.1  # a hidden wrist
    points[:, 5] += np.random.default_rng(0).normal(0, 20, (n, 2))  # ... guessed with jitter
    out = pose_features(times, points, visibility, np.ones(n, bool), max_step_s=0.5)
    row = dict(zip(S.names[56:], out[5], strict=True))
    assert row["pose.pos.nose.y"] == pytest.approx(-0.6) and row["pose.pos.left_shoulder.x"] == pytest.approx(0.5)
    assert row["pose.body_vel.y"] == pytest.approx(0.3) and row["pose.body_vel.x"] == pytest.approx(0.0)
    assert row["pose.vel.nose.y"] == pytest.approx(0.0, abs=1e-9)
    assert row["pose.vel.left_wrist.y"] == 0.0, "no velocity for a hidden landmark"
    assert row["pose.energy"] == pytest.approx(0.3), "energy over visible landmarks only"
    assert row["pose.present"] == 1.0


def test_prepare_image_checks_and_downscales() -> None:
    big = np.zeros((720, 1280, 3), np.uint8)
    assert _prepare_image(SampledFrame(0, 0.0, 0.0, big), 640).shape == (360, 640, 3)
    with pytest.raises(VideoError, match="frame 3"):
        _prepare_image(SampledFrame(3, 0.0, 0.0, np.zeros((10, 10, 3), np.float32)), 640)


def test_wrong_explicit_model_fails_before_any_work(tmp_path: Path) -> None:
    bad = tmp_path / "face.task"
    bad.write_bytes(b"nope")
    config = FeatureConfig(cache_dir=tmp_path, face_model=bad)
    with pytest.raises(ModelFileError, match="expected sha256"):
        FeatureExtractor(config).extract(bobbing_frames(3, 0.0), 3)


# ---- real MediaPipe ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> FeatureConfig:
    return FeatureConfig(feature_fps=FPS, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def extractor(config: FeatureConfig) -> Iterator[FeatureExtractor]:
    with FeatureExtractor(config) as fx:
        yield fx


@pytest.fixture(scope="module")
def scene(extractor: FeatureExtractor) -> tuple[FeatureTrack, list[tuple[str, int, int]], ExtractionStats]:
    calls: list[tuple[str, int, int]] = []
    frames = bobbing_frames(N_SCENE, BOB_HZ, FPS, present=lambda i: i not in ABSENT)
    track = extractor.extract(frames, N_SCENE, lambda *call: calls.append(call))
    return track, calls, dataclasses.replace(extractor.last_stats)


@pytest.fixture(scope="module")
def visible(scene: tuple[FeatureTrack, list, float]) -> np.ndarray:
    return np.array([i not in ABSENT for i in range(len(scene[0]))])


@pytest.mark.slow
def test_face_and_person_found_only_where_the_performer_is(scene: tuple, visible: np.ndarray) -> None:
    track, _, stats = scene
    assert len(track) == N_SCENE and track.values.shape == (N_SCENE, S.dim)
    assert track.face_mask[visible].mean() >= 0.9 and track.person_mask[visible].mean() >= 0.95
    assert not track.face_mask[~visible].any() and not track.person_mask[~visible].any()
    assert not track.values[~visible].any(), "absent frames are zero"
    np.testing.assert_array_equal(track.values[:, S.index("face.present")], track.face_mask)
    np.testing.assert_array_equal(track.values[:, S.index("pose.present")], track.person_mask)
    np.testing.assert_allclose(track.times, np.arange(N_SCENE) / FPS)
    assert stats.frames == N_SCENE and 0 < stats.ms_per_frame < 2000


@pytest.mark.slow
def test_blendshapes_describe_the_smile(scene: tuple) -> None:
    track = scene[0]
    shapes = track.values[track.face_mask][:, S.group("face.blendshapes")]
    assert shapes.shape[1] == 52 and (shapes >= 0).all() and (shapes <= 1).all()
    mean = dict(zip(BLENDSHAPE_NAMES, shapes.mean(axis=0), strict=True))
    assert mean["mouthSmileLeft"] > 0.5 and mean["mouthSmileRight"] > 0.5, "the astronaut smiles"
    assert mean["mouthFrownLeft"] < 0.2 and mean["jawOpen"] < 0.5
    assert shapes.std(axis=1).min() > 0.05, "the 52 scores differ from each other"
    head = track.values[track.face_mask][:, S.group("face.head")]
    assert np.isfinite(head).all() and np.abs(head).max() < 0.5


@pytest.mark.slow
def test_pose_geometry_and_bob_velocity(scene: tuple) -> None:
    track = scene[0]
    row = track.values[:30]
    lsx, rsx = S.index("pose.pos.left_shoulder.x"), S.index("pose.pos.right_shoulder.x")
    np.testing.assert_allclose(row[:, lsx] - row[:, rsx], 1.0, atol=0.15)
    assert (row[:, S.index("pose.pos.nose.y")] < -0.2).all(), "the nose is above the shoulders (y down)"
    # Body-centre velocity follows the bob: d/dt of A sin(2 pi f t), in shoulder widths / s.
    t = track.times[2:28]
    expected = np.array([bob_offset(x + 0.1, BOB_HZ, 30) - bob_offset(x - 0.1, BOB_HZ, 30) for x in t]) / 0.2
    measured = track.values[2:28, S.index("pose.body_vel.y")]
    assert np.corrcoef(expected, measured)[0, 1] > 0.9
    assert (track.values[track.person_mask, S.index("pose.energy")] >= 0).all()


@pytest.mark.slow
def test_face_comes_from_the_pose_crop_on_a_wide_frame(scene: tuple) -> None:
    # The face is ~9% of the 640 px width: the full-frame detector misses it, the head crop finds it.
    track, _, stats = scene
    assert stats.faces_from_pose_crop >= 45
    assert stats.faces_full_frame + stats.faces_from_pose_crop == track.face_mask.sum()


@pytest.mark.slow
def test_progress_reports_every_frame(scene: tuple) -> None:
    calls = scene[1]
    assert calls == [("features", i + 1, N_SCENE) for i in range(N_SCENE)]


@pytest.mark.slow
def test_alignment_of_the_real_track(scene: tuple, config: FeatureConfig) -> None:
    track = scene[0]
    cond = to_condition(track, 0.0, N_SCENE / FPS, config=config)
    query = np.arange(cond.num_frames) / 50.0
    short_gap = (query >= 3.0) & (query < 3.2)
    long_gap = (query > 4.55) & (query < 6.45)
    assert cond.person_mask[short_gap].all() and cond.face_mask[short_gap].all(), "0.3 s gap is filled"
    assert not cond.mask[long_gap].any() and not cond.values[long_gap].any(), "2.1 s gap is zero"
    assert cond.mask[(query < 2.9)].all()


@pytest.mark.slow
def test_extractor_reuse_is_deterministic(extractor: FeatureExtractor, scene: tuple) -> None:
    first = extractor.extract(bobbing_frames(6, BOB_HZ), 6)
    second = extractor.extract(bobbing_frames(6, BOB_HZ), 6)
    np.testing.assert_array_equal(first.values, second.values)
    # The face part matches the longer clip's first frames; the pose part depends on the clip's own
    # shoulder-width window.
    np.testing.assert_allclose(first.values[:, S.face], scene[0].values[:6, S.face], atol=1e-6)


@pytest.mark.slow
def test_repeated_target_times_still_give_increasing_timestamps(extractor: FeatureExtractor) -> None:
    image = next(bobbing_frames(1, 0.0)).image
    frames = [SampledFrame(i, t, t, image) for i, t in enumerate([0.0, 0.0, 0.0004, 0.1])]
    track = extractor.extract(frames, len(frames))
    assert len(track) == 4 and track.person_mask.all()


@pytest.mark.slow
def test_cancel_stops_extraction(extractor: FeatureExtractor) -> None:
    token = CancelToken()
    pulled: list[int] = []

    def frames() -> Iterator[SampledFrame]:
        for frame in bobbing_frames(50, BOB_HZ):
            pulled.append(frame.index)
            yield frame

    def progress(phase: str, done: int, total: int) -> None:
        if done == 3:
            token.cancel("test")

    with pytest.raises(Cancelled, match="test"):
        extractor.extract(frames(), 50, progress, token)
    assert len(pulled) <= 4


@pytest.mark.slow
def test_mirrored_photo_flips_roll_and_full_frame_face_path(extractor: FeatureExtractor) -> None:
    photo = performer_photo(512)
    rolls = []
    for image in (photo, np.ascontiguousarray(photo[:, ::-1])):
        track = extractor.extract([SampledFrame(0, 0.0, 0.0, image)], 1)
        assert track.face_mask.all() and extractor.last_stats.faces_full_frame == 1
        rolls.append(track.values[0, S.index("face.head.roll")])
    assert abs(rolls[0]) > 0.01 and np.sign(rolls[0]) == -np.sign(rolls[1])
    assert rolls[0] == pytest.approx(-rolls[1], abs=0.01)


@pytest.mark.slow
def test_stage_times_are_reported(scene: tuple) -> None:
    stats = scene[2]
    assert stats.setup_seconds > 0 and stats.pose_seconds > 0 and stats.crop_seconds > 0
    assert stats.face_seconds > 0 and stats.frames_seconds >= 0


@pytest.mark.slow
def test_each_clip_gets_fresh_landmarkers_even_when_its_times_go_back(
    extractor: FeatureExtractor, config: FeatureConfig
) -> None:
    # VIDEO mode refuses timestamps that do not increase: a landmarker reused for the earlier clip
    # would fail, and tracking state carried over would change the values.
    late = [SampledFrame(i, 5.0 + i / FPS, 5.0 + i / FPS, f.image) for i, f in enumerate(bobbing_frames(4, BOB_HZ))]
    extractor.extract(late, 4)
    early = extractor.extract(bobbing_frames(4, BOB_HZ), 4)
    with FeatureExtractor(config) as fresh:
        np.testing.assert_array_equal(early.values, fresh.extract(bobbing_frames(4, BOB_HZ), 4).values)


@pytest.mark.slow
def test_face_is_looked_for_in_the_crop_first_once_found_there(
    extractor: FeatureExtractor, monkeypatch: pytest.MonkeyPatch
) -> None:
    looks: list[tuple[int, str, bool]] = []

    def spy(name: str) -> Callable[..., np.ndarray | None]:
        original = getattr(FeatureExtractor, name)

        def look(self: FeatureExtractor, job: Any, landmarks: Any, clip: Any) -> np.ndarray | None:
            row = original(self, job, landmarks, clip)
            looks.append((job.frame.index, name, row is not None))
            return row

        return look

    for name in ("_face_in_full_frame", "_face_in_head_crop"):
        monkeypatch.setattr(FeatureExtractor, name, spy(name))
    absent = {5, 6}
    track = extractor.extract(bobbing_frames(10, BOB_HZ, present=lambda i: i not in absent), 10)
    by_frame = {i: [(name, found) for j, name, found in looks if j == i] for i in range(10)}
    assert by_frame[0] == [("_face_in_full_frame", False), ("_face_in_head_crop", True)]
    for i in (1, 2, 3, 4, 7, 8, 9):  # the crop found the face on the frame before: only the crop is tried
        assert by_frame[i] == [("_face_in_head_crop", True)]
    for i in absent:  # no person, no crop: the full frame is tried next
        assert by_frame[i] == [("_face_in_head_crop", False), ("_face_in_full_frame", False)]
    assert track.face_mask.tolist() == [i not in absent for i in range(10)]


@pytest.mark.slow
def test_a_failing_frame_source_leaves_the_extractor_usable(extractor: FeatureExtractor) -> None:
    def broken() -> Iterator[SampledFrame]:
        yield from bobbing_frames(3, BOB_HZ)
        raise VideoError("clip.mp4: decoding failed at 0.300 s")

    with pytest.raises(VideoError, match="0.300 s"):
        extractor.extract(broken(), 10)
    assert len(extractor.extract(bobbing_frames(3, BOB_HZ), 3)) == 3


@pytest.mark.slow
def test_a_kept_extractor_builds_the_next_clips_landmarkers_ahead(
    config: FeatureConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    built_on: list[str] = []
    build = FeatureExtractor._build_clip_landmarkers

    def spy(self: FeatureExtractor) -> Any:
        built_on.append(threading.current_thread().name)
        return build(self)

    monkeypatch.setattr(FeatureExtractor, "_build_clip_landmarkers", spy)
    with FeatureExtractor(config) as fx:
        tracks = [fx.extract(bobbing_frames(2, BOB_HZ), 2) for _ in range(3)]
    # one-shot use builds nothing ahead; from the second clip on the next set is built in the background
    assert [name.startswith("expotion-landmarkers") for name in built_on] == [False, False, True, True]
    np.testing.assert_array_equal(tracks[0].values, tracks[2].values)
