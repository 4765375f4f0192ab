"""Feature extraction speed as a multiple of real time: a 720p 25 fps clip of a real person,
sampled at feature_fps; decoding alone, then decoding + MediaPipe face and pose."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ..config import FeatureConfig
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
        start = time.perf_counter()
        n = sum(1 for _ in iter_sampled_frames(clip, 0.0, seconds, feature_fps, max_side=cfg.max_side))
        decode = time.perf_counter() - start
        rows.append(["decode + sample (PyAV)", n, decode, seconds / decode])
        with FeatureExtractor(cfg) as extractor:
            start = time.perf_counter()
            track = extractor.extract(iter_sampled_frames(clip, 0.0, seconds, feature_fps, max_side=cfg.max_side),
                                      total)
            full = time.perf_counter() - start
        rows.append(["decode + face + pose (MediaPipe)", len(track), full, seconds / full])
    head = (f"feature extraction on a {seconds:g} s 1280x720 25 fps clip at {feature_fps:g} fps "
            f"(frames downscaled to {cfg.max_side} px); x real time = clip seconds / wall seconds")
    return head + "\n" + table(["stage", "frames", "wall s", "x real time"], rows)
