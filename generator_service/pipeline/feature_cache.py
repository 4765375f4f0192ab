"""Feature tracks on disk, keyed by what changes their values (the service's and datasets' cache).

`FeatureCache`: feature tracks (`FeatureTrack.save/load`, .npz) keyed by video content hash + range +
feature spec + feature config; a `FeatureStore` for `FeatureReader` (pipeline/feature_reader.py). Thread rule: safe
from any thread (entries are written atomically by `FeatureTrack.save`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from expotion_protocol.features import FEATURE_SPEC

from ..config import FeatureConfig
from ..hashing import ContentHashes

logger = logging.getLogger(__name__)


def feature_key(content: str, start: float, end: float, config: FeatureConfig) -> str:
    """Cache key of a feature track: video content, range, feature spec and every setting that
    changes the values (paths and the download switch do not)."""
    settings = {
        k: v for k, v in asdict(config).items() if k not in ("face_model", "pose_model", "cache_dir", "allow_download")
    }
    data = {
        "video": content,
        "start": round(start, 6),
        "end": round(end, 6),
        "spec": [FEATURE_SPEC.name, FEATURE_SPEC.version],
        "config": settings,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class FeatureCache:
    """Feature tracks on disk: `get`/`put` as called by `Scorer.read_features`."""

    def __init__(self, folder: Path, hashes: ContentHashes | None = None) -> None:
        self.folder = folder
        self.hashes = hashes or ContentHashes()
        self.hits = self.misses = 0

    def _path(self, video: Path, start: float, end: float, config: FeatureConfig) -> Path:
        return self.folder / f"{feature_key(self.hashes(video), start, end, config)}.npz"

    def get(self, video: Path, start: float, end: float, config: FeatureConfig) -> Any:
        """The cached `FeatureTrack`, or None (also for an unreadable or outdated entry)."""
        from ..pipeline.feature_track import FeatureTrack

        path = self._path(video, start, end, config)
        if not path.is_file():
            self.misses += 1
            return None
        try:
            track = FeatureTrack.load(path)
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("ignoring unreadable feature cache entry %s: %s", path.name, exc)
            self.misses += 1
            return None
        self.hits += 1
        try:
            os.utime(path)  # last use, for retention's least-recently-used order
        except OSError:
            logger.debug("could not touch %s", path.name)
        return track

    def put(self, video: Path, start: float, end: float, config: FeatureConfig, track: Any) -> None:
        try:
            track.save(self._path(video, start, end, config))
        except OSError as exc:  # a full disk must not fail the job that computed the features
            logger.warning("could not cache features: %s", exc)
