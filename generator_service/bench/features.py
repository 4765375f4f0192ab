"""Feature extraction speed as a multiple of real time: a 720p 25 fps clip of a real person,
sampled at feature_fps; decoding alone, then decoding + MediaPipe face and pose three times with one
extractor: the first clip (what a one-shot CLI run pays: MediaPipe start-up, model files), the
second, and the third (a kept extractor has built its landmarkers ahead, as in the service), with
the time of each stage."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..config import FeatureConfig
from ..pipeline.frames import SampledFrame
from . import table


def run(seconds: float | None = None, feature_fps: float = 10.0) -> str:
    from ..demo_clip import make_performer_clip
    from ..pipeline.features import FeatureExtractor
    from ..pipeline.video import iter_sampled_frames, sample_count

    seconds = seconds or 10.0
    cfg = FeatureConfig(feature_fps=feature_fps)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_performer_clip(Path(tmp) / "bench.mp4", duration=seconds, fps=25, size=(1280, 720))
        total = sample_count(0.0, seconds, feature_fps)

        def frames() -> Iterator[SampledFrame]:
            return iter_sampled_frames(clip, 0.0, seconds, feature_fps, max_side=cfg.max_side)

        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        n = sum(1 for _ in frames())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows.append(["decode + sample (PyAV)", n, wall, cpu, seconds / wall])
        with FeatureExtractor(cfg) as extractor:
            for label in ("first clip", "second clip", "third clip (landmarkers built ahead)"):
                wall, cpu = time.perf_counter(), time.process_time()
                track = extractor.extract(frames(), total)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                rows.append([f"decode + face + pose (MediaPipe), {label}", len(track), wall, cpu, seconds / wall])
            stats = extractor.last_stats
        load = max(load, os.getloadavg()[0])
    head = (
        f"feature extraction on a {seconds:g} s 1280x720 25 fps clip at {feature_fps:g} fps "
        f"(frames downscaled to {cfg.max_side} px); x real time = clip seconds / wall seconds; "
        f"cpu s = this process on all its threads; {os.cpu_count()} cores, load average up to {load:.1f}"
    )
    stages = (
        f"stages of the third clip, s (summed per call; the pose of the next frame runs while the face of "
        f"this one is read): landmarkers {stats.setup_seconds:.3f}, waiting for frames "
        f"{stats.frames_seconds:.3f}, pose {stats.pose_seconds:.3f}, face {stats.face_seconds:.3f}, "
        f"face in head crop {stats.crop_seconds:.3f} ({stats.faces_from_pose_crop} of {stats.frames} frames)"
    )
    return "\n".join([head, table(["stage", "frames", "wall s", "cpu s", "x real time"], rows), stages])
