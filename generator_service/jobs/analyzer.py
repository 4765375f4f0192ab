"""Video analysis for `POST /v1/analyze`: face/pose features of a range and their summary.

Runs MediaPipe on the CPU beside the generation worker (it needs no music model), one request at
a time, and shares the feature cache with jobs, so a later `auto_prompt` job on the same range
does not read the video again.
Thread rule: `__call__` may be called from any thread; calls are serialised by a lock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..config import FeatureConfig
from .feature_cache import FeatureCache


class Analyzer:
    def __init__(self, features: FeatureConfig, cache: FeatureCache) -> None:
        self.features = features
        self.cache = cache
        self._extractor: Any = None
        self._lock = threading.Lock()

    def __call__(self, video: Path, start: float, end: float) -> dict[str, Any]:
        """`{start, end}` + `analyze_track(...)` of `[start, end)` (VideoError on a bad file)."""
        from ..pipeline.analysis import analyze_track

        cfg = self.features
        with self._lock:
            track = self.cache.get(video, start, end, cfg)
            if track is None:
                track = self._extract(video, start, end)
                self.cache.put(video, start, end, cfg, track)
        return {"start": start, "end": end} | analyze_track(track)

    def _extract(self, video: Path, start: float, end: float) -> Any:
        from ..pipeline.features import FeatureExtractor
        from ..pipeline.video import iter_sampled_frames, sample_count

        cfg = self.features
        if self._extractor is None:
            self._extractor = FeatureExtractor(cfg)
        frames = iter_sampled_frames(video, start, end, cfg.feature_fps, max_side=cfg.max_side)
        return self._extractor.extract(frames, sample_count(start, end, cfg.feature_fps))
