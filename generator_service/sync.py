"""The `sync` command's work: fit a music file to the performer of a video with the beat lock.

`sync_files` reads the motion beats of `[start, end)` of the video (MediaPipe pose, the motion-beat
definition of `pipeline.rhythm`), locks the music to them and to the hits (`pipeline.beatlock`),
and writes OUT.wav (the music's sample rate and channels, exactly round((end - start) * rate)
samples) and OUT.json: `locked`, `reason`, motion beats, music beats before (the music's own) and
after (tracked again on OUT.wav), the stretch range used, and the alignment before/after (beat F
against the motion beats, hits with an onset within +-30 ms). Hit times in the hits file are on the
video's clock (like --start/--end); every time in OUT.json is on the range's clock (0 = start).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audio import MusicFileError, read_music
from .config import FeatureConfig
from .pipeline.beatlock import DEFAULT_MAX_STRETCH, LockConfig, check_max_stretch, lock_to_performer
from .pipeline.hits import load_hits, shift_hits
from .progress import ProgressCallback, no_progress

__all__ = ["MusicFileError", "SyncRequest", "read_music", "sync_files"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncRequest:
    """What `sync` fits: `music` to the performer of `video` over `[start, end)` (None: whole clip)."""

    video: Path
    music: Path
    output: Path
    start: float | None = None
    end: float | None = None
    hits: Path | None = None
    max_stretch: float = DEFAULT_MAX_STRETCH


def sync_files(
    request: SyncRequest,
    features: FeatureConfig,
    *,
    config: LockConfig = LockConfig(),
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Lock the music to the video and write OUT.wav + OUT.json -> the JSON written.

    1. check inputs (before any decoding); 2. motion beats of the range; 3. the lock; 4. track the
    result again and measure the alignment before/after; 5. write.
    """
    from .audio import OutputError, write_wav
    from .pipeline.rubberband import find_rubberband
    from .pipeline.video import probe_video, resolve_range

    max_stretch = check_max_stretch(request.max_stretch)
    find_rubberband()
    if not request.output.parent.is_dir():
        raise OutputError(f"output folder {request.output.parent} does not exist")
    all_hits = load_hits(request.hits) if request.hits is not None else []
    start, end = resolve_range(probe_video(request.video), request.start, request.end)
    music, rate = read_music(request.music)
    hits = shift_hits(all_hits, start, end)
    if len(hits) < len(all_hits):
        logger.warning(
            "%d of %d hits lie outside [%.3f, %.3f) s and are ignored",
            len(all_hits) - len(hits),
            len(all_hits),
            start,
            end,
        )
    motion = _motion_beats(request.video, start, end, features, progress)
    result = lock_to_performer(music, rate, motion.times, hits, max_stretch, duration_s=end - start, config=config)
    meta = {
        "video": str(request.video),
        "music": str(request.music),
        "output": str(request.output),
        "start": start,
        "end": end,
        "motion_source": motion.source,
    } | result.metadata()
    write_wav(request.output, result.audio.T if result.audio.ndim == 2 else result.audio, rate)  # channels first
    request.output.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return meta


def _motion_beats(video: Path, start: float, end: float, cfg: FeatureConfig, progress: ProgressCallback):
    from .pipeline.feature_reader import FeatureReader
    from .pipeline.rhythm import motion_beats_of_track

    with FeatureReader(cfg) as reader:
        track = reader.read(video, start, end, progress=progress)
    return motion_beats_of_track(track)
