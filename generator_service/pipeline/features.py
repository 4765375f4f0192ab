"""Per-frame visual features extracted with MediaPipe: `FeatureExtractor` runs FaceLandmarker and
PoseLandmarker (Tasks API, VIDEO mode) over `SampledFrame`s, the two at once, into a `FeatureTrack`.

The layout of one feature frame is `expotion_protocol.features.FEATURE_SPEC` (112 values, face part
then pose part); the track and its file are pipeline/feature_track.py, the landmarks' geometry
pipeline/pose_geometry.py, the landmarkers' lifetime pipeline/landmarkers.py.

Values of frames without a face / person are zero and their mask is False; gap filling, smoothing and
resampling happen later (pipeline/alignment.py). Thread rule: one `FeatureExtractor` serves one clip
at a time (calls are serialised by a lock); inside a call, the pose runs in a one-thread pool that
lives for that call while the calling thread reads faces, and a kept extractor builds the next
clip's landmarkers in a background thread; mediapipe is imported lazily inside the methods.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from expotion_protocol.features import BLENDSHAPE_NAMES, FEATURE_SPEC, POSE_LANDMARKS

from ..config import FeatureConfig
from ..errors import VideoError
from ..progress import CancelToken, ProgressCallback, no_progress
from .feature_track import FeatureTrack
from .frames import SampledFrame
from .landmarkers import keep_landmarker, release_landmarker
from .mediapipe_assets import resolve_model_file
from .pose_geometry import head_box, head_rotation, pose_features

log = logging.getLogger(__name__)


@dataclass
class ExtractionStats:
    """What the last `extract` did: frame counts per outcome and where the time went.

    `seconds` is the wall time of the call. The stage times are summed over the clip: `setup_seconds`
    getting this clip's landmarkers, `frames_seconds` waiting for the frame source (decoding),
    `pose_seconds` / `face_seconds` / `crop_seconds` inside MediaPipe. The pose of the next frame
    runs while the face of this one is read (and the frame after decodes), so the stages add up to
    more than `seconds`.
    """

    frames: int = 0
    faces_full_frame: int = 0
    faces_from_pose_crop: int = 0
    persons: int = 0
    seconds: float = 0.0
    setup_seconds: float = 0.0
    frames_seconds: float = 0.0
    pose_seconds: float = 0.0
    face_seconds: float = 0.0
    crop_seconds: float = 0.0

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.seconds / self.frames if self.frames else 0.0


@dataclass
class _Readings:
    """Raw per-frame readings collected during one clip, turned into a `FeatureTrack` at the end."""

    times: list[float] = field(default_factory=list)
    target_times: list[float] = field(default_factory=list)
    face: list[np.ndarray] = field(default_factory=list)  # each [56]
    face_present: list[bool] = field(default_factory=list)
    points: list[np.ndarray] = field(default_factory=list)  # each [13, 3]: x px, y px, visibility
    person_present: list[bool] = field(default_factory=list)
    last_ts: int = -1  # last MediaPipe timestamp, ms


@dataclass
class _PoseJob:
    """A frame whose pose is being read in the pool (`pose`: a future of `(result, seconds)`), with
    its prepared image [H, W, 3] and MediaPipe timestamp."""

    frame: SampledFrame
    ts: int
    image: np.ndarray
    pose: Future[tuple[Any, float]]


@dataclass
class _ClipLandmarkers:
    """The VIDEO-mode pose and face landmarkers that serve one clip, with that clip's tracking state
    and timestamp clock. `face_from_crop` says where the clip's last face was found, so the next
    frame looks there first."""

    pose: Any
    face: Any
    face_from_crop: bool = False

    def close(self) -> None:
        release_landmarker(self.pose)
        release_landmarker(self.face)


def _timed(call: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    return call(*args), time.perf_counter() - started


def _face_row(result: Any) -> np.ndarray | None:
    """FACE part [56] from a FaceLandmarkerResult, or None when no face was found."""
    if not result.face_blendshapes:
        return None
    scores = {c.category_name: c.score for c in result.face_blendshapes[0]}
    row = np.zeros(FEATURE_SPEC.group("face").stop)
    row[FEATURE_SPEC.group("face.blendshapes")] = [scores.get(n, 0.0) for n in BLENDSHAPE_NAMES]
    if result.facial_transformation_matrixes:
        row[FEATURE_SPEC.group("face.head")] = head_rotation(result.facial_transformation_matrixes[0])
    row[FEATURE_SPEC.group("face.present")] = 1.0
    return row


def _prepare_image(frame: SampledFrame, max_side: int) -> np.ndarray:
    """The frame's image as contiguous [H, W, 3] uint8 RGB, downscaled to `max_side` if needed."""
    image = frame.image
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise VideoError(f"frame {frame.index} is {image.shape} {image.dtype}; expected [H, W, 3] uint8 RGB")
    if max(image.shape[:2]) > max_side:
        import cv2  # installed with mediapipe

        ratio = max_side / max(image.shape[:2])
        size = (max(1, round(image.shape[1] * ratio)), max(1, round(image.shape[0] * ratio)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


class FeatureExtractor:
    """Runs FaceLandmarker + PoseLandmarker over the frames of clips; reusable across clips.

    Model files are resolved, verified and read once (lazily, on the first clip). VIDEO-mode
    landmarkers track (their detectors run only when tracking is lost) and carry a timestamp clock,
    so each clip gets a fresh set built from the in-memory model bytes: a clip's features never
    depend on the clip before it. A set costs 0.1-0.4 s to build: from its second clip on (a kept
    extractor, as services and dataset preparation hold), an extractor builds the next clip's set in
    the background when a clip ends; a one-shot extractor never pays for one. Frames flow two stages
    deep: the pose of frame i + 1 runs in a pool thread while the face of frame i is read (each
    MediaPipe task computes in native threads, outside the GIL), and frame i + 1 decodes meanwhile.

    When the full frame shows no face but a person, the face is searched in a head crop from the
    pose (a stateless IMAGE-mode landmarker kept for the extractor's life): the short-range face
    detector misses faces narrower than ~11% of the frame width, common in 16:9 medium shots. Once
    the crop has found the face, the next frame looks there first and tries the full frame only
    when the crop fails.
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.last_stats = ExtractionStats()
        self._model_bytes: dict[str, bytes] = {}
        self._crop_landmarker: Any = None
        self._builder: ThreadPoolExecutor | None = None
        self._spare: Future[_ClipLandmarkers] | None = None  # the next clip's landmarkers, being built
        self._clips = 0  # clips started
        self._lock = threading.Lock()

    def __enter__(self) -> FeatureExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the kept landmarkers (the extractor can still be used; they are rebuilt lazily)."""
        with self._lock:
            if self._crop_landmarker is not None:
                release_landmarker(self._crop_landmarker)
                self._crop_landmarker = None
            if self._builder is not None:
                self._builder.shutdown(wait=True)
                self._builder = None
            spare, self._spare = self._spare, None
            if spare is not None and spare.exception() is None:
                spare.result().close()

    def _model(self, name: str, explicit: Path | None) -> bytes:
        if name not in self._model_bytes:
            cfg = self.config
            path = resolve_model_file(name, explicit, cfg.cache_dir, cfg.allow_download)
            self._model_bytes[name] = path.read_bytes()
            log.debug("loaded %s from %s", name, path)
        return self._model_bytes[name]

    def _face_landmarker(self, video: bool) -> Any:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=self._model("face_landmarker.task", self.config.face_model)),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            num_faces=1,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        return keep_landmarker(vision.FaceLandmarker.create_from_options(options))

    def _pose_landmarker(self) -> Any:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(
                model_asset_buffer=self._model("pose_landmarker_full.task", self.config.pose_model)
            ),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=1,
        )
        return keep_landmarker(vision.PoseLandmarker.create_from_options(options))

    def _build_clip_landmarkers(self) -> _ClipLandmarkers:
        with contextlib.ExitStack() as built:
            pose = self._pose_landmarker()
            built.callback(release_landmarker, pose)
            face = self._face_landmarker(video=True)
            built.callback(release_landmarker, face)
            built.pop_all()
        return _ClipLandmarkers(pose, face)

    def _take_clip_landmarkers(self) -> _ClipLandmarkers:
        """Fresh, never used VIDEO-mode landmarkers: the set built in the background, else new ones."""
        spare, self._spare = self._spare, None
        return spare.result() if spare is not None else self._build_clip_landmarkers()

    def _build_spare(self) -> None:
        if self._builder is None:
            self._builder = ThreadPoolExecutor(1, thread_name_prefix="expotion-landmarkers")
        self._spare = self._builder.submit(self._build_clip_landmarkers)

    def extract(
        self,
        frames: Iterable[SampledFrame],
        total: int,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> FeatureTrack:
        """Features of one clip: frames in time order -> `FeatureTrack` [N, 112] at `feature_fps`.

        Reports `progress("features", i + 1, total)` and checks `cancel` at every frame. Frame
        i + 1 is pulled from `frames` (and its pose started) before frame i is reported.
        """
        with self._lock:
            started = time.perf_counter()
            stats = self.last_stats = ExtractionStats()
            readings = _Readings()
            clip = self._take_clip_landmarkers()
            stats.setup_seconds = time.perf_counter() - started
            self._clips += 1
            try:
                with contextlib.closing(clip), ThreadPoolExecutor(1, thread_name_prefix="expotion-pose") as pool:
                    self._run(frames, total, clip, pool, readings, progress, cancel)
            finally:
                if self._clips > 1:
                    self._build_spare()
            track = self._to_track(readings)
            stats.seconds = time.perf_counter() - started
            log.info("features: %s", stats)
            return track

    def _run(
        self,
        frames: Iterable[SampledFrame],
        total: int,
        clip: _ClipLandmarkers,
        pool: ThreadPoolExecutor,
        readings: _Readings,
        progress: ProgressCallback,
        cancel: CancelToken | None,
    ) -> None:
        """The frame loop, two stages deep: frame i + 1 is decoded and its pose runs in the pool
        while the face of frame i is read here."""
        source = iter(frames)
        current: _PoseJob | None = None
        while True:
            if cancel is not None:
                cancel.check()
            frame = self._next_frame(source)
            upcoming = None
            if frame is not None:
                upcoming = self._start_pose(pool, frame, self._timestamp_ms(frame, readings), clip)
            if current is not None:
                self._finish(current, clip, readings)
                done = self.last_stats.frames
                progress("features", done, max(total, done))
            if upcoming is None:
                return
            current = upcoming

    def _next_frame(self, source: Iterator[SampledFrame]) -> SampledFrame | None:
        started = time.perf_counter()
        frame = next(source, None)
        self.last_stats.frames_seconds += time.perf_counter() - started
        return frame

    @staticmethod
    def _timestamp_ms(frame: SampledFrame, readings: _Readings) -> int:
        """Integer ms from the target time, strictly increasing within the clip (VIDEO mode needs it)."""
        ts = max(int(round(frame.target_time * 1000.0)), readings.last_ts + 1)
        readings.last_ts = ts
        return ts

    def _start_pose(self, pool: ThreadPoolExecutor, frame: SampledFrame, ts: int, clip: _ClipLandmarkers) -> _PoseJob:
        import mediapipe as mp

        image = _prepare_image(frame, self.config.max_side)
        pose = pool.submit(_timed, clip.pose.detect_for_video, mp.Image(mp.ImageFormat.SRGB, image), ts)
        return _PoseJob(frame, ts, image, pose)

    def _finish(self, job: _PoseJob, clip: _ClipLandmarkers, readings: _Readings) -> None:
        """Take the frame's pose, read its face, record the frame."""
        pose_result, seconds = job.pose.result()
        self.last_stats.pose_seconds += seconds
        landmarks = None
        if pose_result.pose_landmarks:
            height, width = job.image.shape[:2]
            landmarks = np.array(
                [(p.x * width, p.y * height, p.visibility or 0.0) for p in pose_result.pose_landmarks[0]]
            )  # [33, 3]
        first, second = self._face_in_full_frame, self._face_in_head_crop
        if clip.face_from_crop:
            first, second = second, first
        row = first(job, landmarks, clip)
        if row is None:
            row = second(job, landmarks, clip)
        self._record(job.frame, row, landmarks, readings)

    def _face_in_full_frame(
        self, job: _PoseJob, landmarks: np.ndarray | None, clip: _ClipLandmarkers
    ) -> np.ndarray | None:
        import mediapipe as mp

        # An image of its own (mp.Image copies): the pose call may still be reading the other one.
        result, seconds = _timed(clip.face.detect_for_video, mp.Image(mp.ImageFormat.SRGB, job.image), job.ts)
        self.last_stats.face_seconds += seconds
        row = _face_row(result)
        if row is not None:
            self.last_stats.faces_full_frame += 1
            clip.face_from_crop = False
        return row

    def _face_in_head_crop(
        self, job: _PoseJob, landmarks: np.ndarray | None, clip: _ClipLandmarkers
    ) -> np.ndarray | None:
        import mediapipe as mp

        box = None if landmarks is None else head_box(landmarks, job.image.shape[1], job.image.shape[0])
        if box is None:
            return None
        if self._crop_landmarker is None:
            self._crop_landmarker = self._face_landmarker(video=False)
        x0, y0, x1, y1 = box
        crop = np.ascontiguousarray(job.image[y0:y1, x0:x1])
        result, seconds = _timed(self._crop_landmarker.detect, mp.Image(mp.ImageFormat.SRGB, crop))
        self.last_stats.crop_seconds += seconds
        row = _face_row(result)
        if row is not None:
            self.last_stats.faces_from_pose_crop += 1
            clip.face_from_crop = True
        return row

    def _record(
        self, frame: SampledFrame, row: np.ndarray | None, landmarks: np.ndarray | None, readings: _Readings
    ) -> None:
        readings.times.append(float(frame.time))
        readings.target_times.append(float(frame.target_time))
        readings.face_present.append(row is not None)
        readings.face.append(row if row is not None else np.zeros(FEATURE_SPEC.group("face").stop))
        readings.person_present.append(landmarks is not None)
        rows = [index for index, _ in POSE_LANDMARKS]
        readings.points.append(landmarks[rows] if landmarks is not None else np.zeros((len(rows), 3)))
        self.last_stats.frames += 1
        self.last_stats.persons += landmarks is not None

    def _to_track(self, readings: _Readings) -> FeatureTrack:
        fps = self.config.feature_fps
        if not readings.times:
            return FeatureTrack.empty(fps)
        times = np.array(readings.times)
        person = np.array(readings.person_present)
        max_step_s = max(self.config.max_gap_s, 1.5 / fps)
        points = np.stack(readings.points)  # [N, 13, 3]
        pose = pose_features(times, points[..., :2], points[..., 2], person, max_step_s)
        values = np.concatenate([np.stack(readings.face), pose], axis=1)
        targets, face = np.array(readings.target_times), np.array(readings.face_present)
        return FeatureTrack(times, targets, values, face, person, fps)
