"""Reading a clip's visual features: sample frames at `feature_fps`, run face + pose, use the cache.

The one place that does it, for every reader: scoring (`Scorer`), analysis (the `analyze` command
and the service's `POST /v1/analyze`), `sync`, dataset preparation. A `FeatureReader` keeps one
`FeatureExtractor` (MediaPipe landmarkers are costly to build) and an optional `FeatureStore` (a
cache with `get`/`put` by video, range and feature config: pipeline/feature_cache.py).
Close it, or use it as a context manager, so the landmarkers are freed by their owner and not by
the garbage collector on whatever thread it runs. Thread rule: one read at a time per reader (the
extractor serialises its calls).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..config import FeatureConfig
from ..progress import CancelToken, ProgressCallback, no_progress

if TYPE_CHECKING:
    from .feature_track import FeatureTrack
    from .features import FeatureExtractor


class FeatureStore(Protocol):
    """Where feature tracks are kept between reads."""

    def get(self, video: Path, start: float, end: float, config: FeatureConfig) -> FeatureTrack | None: ...

    def put(self, video: Path, start: float, end: float, config: FeatureConfig, track: FeatureTrack) -> None: ...


class FeatureReader:
    """Features of `[start, end)` of a video at `config.feature_fps` (see the module docstring)."""

    def __init__(self, config: FeatureConfig, store: FeatureStore | None = None) -> None:
        self.config = config
        self.store = store
        self._extractor: FeatureExtractor | None = None

    def read(
        self,
        video: Path,
        start: float,
        end: float,
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> FeatureTrack:
        """The stored track, else decode + face + pose (then stored). VideoError on a bad file."""
        from .features import FeatureExtractor
        from .video import iter_sampled_frames, sample_count

        cfg = self.config
        if self.store is not None:
            stored = self.store.get(video, start, end, cfg)
            if stored is not None:
                return stored
        if self._extractor is None:
            self._extractor = FeatureExtractor(cfg)
        frames = iter_sampled_frames(video, start, end, cfg.feature_fps, max_side=cfg.max_side, cancel=cancel)
        track = self._extractor.extract(
            frames, sample_count(start, end, cfg.feature_fps), progress=progress, cancel=cancel
        )
        if self.store is not None:
            self.store.put(video, start, end, cfg, track)
        return track

    def close(self) -> None:
        """Free the landmarkers (a later `read` builds them again)."""
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None

    def __enter__(self) -> FeatureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
