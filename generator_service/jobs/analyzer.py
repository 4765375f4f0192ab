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
from ..pipeline.feature_cache import FeatureCache
from ..pipeline.feature_reader import FeatureReader


class Analyzer:
    def __init__(self, features: FeatureConfig, cache: FeatureCache) -> None:
        self.reader = FeatureReader(features, cache)
        self._lock = threading.Lock()

    def __call__(self, video: Path, start: float, end: float) -> dict[str, Any]:
        """`{start, end}` + `analyze_track(...)` of `[start, end)` (VideoError on a bad file)."""
        from ..pipeline.analysis import analyze_track

        with self._lock:
            track = self.reader.read(video, start, end)
        return {"start": start, "end": end} | analyze_track(track)

    def close(self) -> None:
        """Free the feature extractor (the app calls this when it stops)."""
        with self._lock:
            self.reader.close()
