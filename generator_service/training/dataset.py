"""Preparing training data for the visual adapter: aligned windows cut from recordings.

`prepare_dataset(src, out, music, config)` reads every video under `src` with its music (a sibling
audio file with the same stem, else the video's own audio track) and its caption (captions.py),
cuts windows (windowing.py), encodes their music (codes.py) and writes the dataset described in
dataset_files.py (windows, manifest, summary); `WindowDataset` (window_dataset.py) loads it.

Visual features are extracted once per recording and cached (pipeline/feature_cache.py: keyed by
the video's SHA-256, the range, the feature spec and every feature setting that changes the
values). The train/test split is by recording (a hash of its relative path and the seed), so no
window of a test recording is ever trained on. Bad files are skipped, listed in dataset.json and
logged; a run that writes no window fails. Everything is built in `out/.staging` and moved into
place at the end: a failed or cancelled run leaves an earlier dataset in `out` untouched.
Thread rule: none; one preparation per output folder at a time.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import FeatureConfig
from ..errors import ConfigError, VideoError
from ..pipeline.feature_cache import FeatureCache
from ..pipeline.feature_reader import FeatureReader
from ..progress import CancelToken, ProgressCallback, no_progress
from .audio_io import (
    AUDIO_SUFFIXES,
    AudioError,
    DecodedAudio,
    decode_audio,
    sibling_audio,
)
from .captions import Captions, read_captions
from .codes import codec_bandwidth, encode_audio, window_audio
from .dataset_files import (
    CONDITION_DTYPE,
    FORMAT,
    FORMAT_VERSION,
    DatasetError,
    publish,
)
from .windowing import assign_split, frames_per_window, window_id, window_starts

logger = logging.getLogger(__name__)

#: Video files considered recordings (any case).
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts")
#: Audio and video lengths further apart than this are reported (the shorter one decides).
MISMATCH_WARN_S = 0.1
_STAGING = ".staging"


@dataclass(frozen=True)
class DatasetConfig:
    """How recordings are cut into training windows."""

    #: Window length in seconds; must be a whole number of codec frames (1/50 s for MusicGen).
    window_s: float = 10.0
    #: Step between window starts in seconds (None: the window, i.e. no overlap).
    hop_s: float | None = None
    #: Share of recordings (not windows) that go to the test split.
    test_fraction: float = 0.2
    #: Seed of the recording split.
    seed: int = 0
    #: Caption of recordings that the caption file does not name.
    default_prompt: str = ""
    #: CSV (columns file,caption) or JSONL ({"file", "caption"}) of captions; None: default prompt only.
    captions: Path | None = None
    #: Windows encoded together by EnCodec.
    encode_batch: int = 8

    def __post_init__(self) -> None:
        if not (math.isfinite(self.window_s) and self.window_s > 0):
            raise ConfigError(f"window: {self.window_s} s must be a positive number of seconds")
        if self.hop_s is not None and not (math.isfinite(self.hop_s) and self.hop_s > 0):
            raise ConfigError(f"hop: {self.hop_s} s must be a positive number of seconds")
        if not 0.0 <= self.test_fraction <= 1.0:
            raise ConfigError(f"test_fraction: {self.test_fraction} must lie in [0, 1]")
        if self.encode_batch < 1:
            raise ConfigError(f"encode_batch: {self.encode_batch} must be >= 1")

    @property
    def hop(self) -> float:
        return self.window_s if self.hop_s is None else self.hop_s


# -- preparation -------------------------------------------------------------------------------


@dataclass
class _Report:
    """What a preparation run produced and met: manifest entries, skipped files, warnings, counts."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    dropped_remainders: int = 0
    dropped_seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0

    def skip(self, file: str, reason: str) -> None:
        logger.warning("skipping %s: %s", file, reason)
        self.skipped.append({"file": file, "reason": reason})

    def warn(self, file: str, message: str) -> None:
        logger.warning("%s: %s", file, message)
        self.warnings.append({"file": file, "warning": message})


@dataclass
class _Job:
    """Everything the per-recording steps share."""

    music: Any
    config: DatasetConfig
    features: FeatureConfig
    reader: FeatureReader
    #: The reader's store (features cached by video content, range and feature settings).
    cache: FeatureCache
    windows_dir: Path
    frames: int
    bandwidth: float
    captions: Captions
    progress: ProgressCallback
    cancel: CancelToken
    report: _Report = field(default_factory=_Report)


def find_recordings(src: Path, exclude: Sequence[Path] = ()) -> tuple[list[Path], list[Path]]:
    """Videos under `src` (recursive, sorted, hidden entries and `exclude` folders skipped) and the
    audio files that match no video (same folder and stem)."""
    excluded = [Path(p).resolve() for p in exclude]
    videos: list[Path] = []
    audios: list[Path] = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if any(path.resolve().is_relative_to(folder) for folder in excluded):
            continue
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            videos.append(path)
        elif suffix in AUDIO_SUFFIXES:
            audios.append(path)
    stems = {(v.parent, v.stem) for v in videos}
    return videos, [a for a in audios if (a.parent, a.stem) not in stems]


def _check_paths(src: Path, out: Path) -> tuple[Path, Path]:
    src, out = Path(src).expanduser().resolve(), Path(out).expanduser().resolve()
    if not src.is_dir():
        raise DatasetError(f"source folder {src} does not exist or is not a folder")
    if out == src:
        raise DatasetError(f"output folder {out} must differ from the source folder")
    if out.exists() and not out.is_dir():
        raise DatasetError(f"output {out} exists and is not a folder")
    ours = {"windows", "manifest.jsonl", "dataset.json", "cache", _STAGING}
    if out.is_dir() and not (out / "dataset.json").is_file() and any(p.name not in ours for p in out.iterdir()):
        raise DatasetError(
            f"output folder {out} is not empty and holds no prepared dataset",
            hint="Choose a new or empty output folder; nothing was written.",
        )
    out.mkdir(parents=True, exist_ok=True)
    return src, out


def prepare_dataset(
    src: Path,
    out: Path,
    music: Any,
    config: DatasetConfig | None = None,
    features: FeatureConfig | None = None,
    *,
    feature_cache: Path | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Cut every recording under `src` into aligned windows in `out` -> the dataset.json summary.

    `music` is a loaded `MusicModel` (only its EnCodec is used). Feature tracks are cached in
    `feature_cache` (default `features.cache_dir / "features"`). Progress phases: "features" (frames of
    one recording), "windows" (windows of one recording), "recordings". Raises `DatasetError` when no
    window could be written, `Cancelled` when cancelled (then `out` is left as it was).
    """

    config, features, cancel = config or DatasetConfig(), features or FeatureConfig(), cancel or CancelToken()
    frames = frames_per_window(config.window_s, music.frame_rate)
    if config.window_s > music.max_window_s:
        raise ConfigError(f"window: {config.window_s} s exceeds the model maximum {music.max_window_s} s")
    captions = Captions(read_captions(config.captions) if config.captions else {}, config.default_prompt)
    src, out = _check_paths(src, out)
    videos, orphans = find_recordings(src, exclude=[out])
    if not videos:
        raise DatasetError(f"no video files under {src} (looked for {', '.join(VIDEO_SUFFIXES)})")
    staging = out / _STAGING
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "windows").mkdir(parents=True)
    try:
        store = FeatureCache(Path(feature_cache or features.cache_dir / "features"))
        with FeatureReader(features, store) as reader:
            job = _Job(
                music,
                config,
                features,
                reader,
                store,
                staging / "windows",
                frames,
                codec_bandwidth(music),
                captions,
                progress,
                cancel,
            )
            for orphan in orphans:
                job.report.skip(orphan.relative_to(src).as_posix(), "audio file with no video of the same name")
            for i, video in enumerate(videos):
                cancel.check()
                _prepare_recording(job, video, video.relative_to(src).as_posix())
                progress("recordings", i + 1, len(videos))
        for key in captions.unused():
            job.report.warn(str(config.captions), f"the caption for {key!r} matches no video")
        summary = _summary(job, src, len(videos))
        if not job.report.entries:
            raise _nothing_written(src, job.report)
        cancel.check()  # the last moment a cancel can still leave `out` as it was
        publish(staging, out, job.report.entries, summary)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def _nothing_written(src: Path, report: _Report) -> DatasetError:
    reasons = "; ".join(f"{s['file']}: {s['reason']}" for s in report.skipped[:5])
    return DatasetError(
        f"no window was written from {src}: every recording was skipped ({reasons})",
        hint="Each video needs music (its own audio track or a sibling audio file) at least one window "
        "long; try a shorter --window.",
    )


def _prepare_recording(job: _Job, video: Path, rel: str) -> None:
    """Probe, decode the music, read (or reuse) the features, then write the recording's windows.

    A bad file is skipped and reported; only errors that are not the file's fault propagate.
    """
    try:
        info, audio = _load_recording(job, video, rel)
        starts = _plan_windows(job, rel, min(info.duration, audio.duration))
        hits = job.cache.hits
        track = job.reader.read(video, 0.0, info.duration, progress=job.progress, cancel=job.cancel)
    except (VideoError, AudioError, DatasetError) as err:
        job.report.skip(rel, err.message.removeprefix(f"{video}: "))
        return
    hit = job.cache.hits > hits
    job.report.cache_hits += hit
    job.report.cache_misses += not hit
    _write_windows(job, rel, starts, track, audio)


def _load_recording(job: _Job, video: Path, rel: str) -> tuple[Any, DecodedAudio]:
    """Probe the video and decode its music (sibling file first, else its own audio track)."""
    from ..pipeline.video import probe_video

    info = probe_video(video)
    source = sibling_audio(video)
    if source is None and not info.has_audio:
        raise AudioError(f"no audio track and no audio file with the same name ({', '.join(AUDIO_SUFFIXES)})")
    origin = None if source is not None else info.start_time
    audio = decode_audio(
        source or video, job.music.sample_rate, origin=origin, cancel=job.cancel, channels=job.music.audio_channels
    )
    if abs(audio.duration - info.duration) > MISMATCH_WARN_S:
        job.report.warn(
            rel,
            f"audio ({audio.source.name}) lasts {audio.duration:.3f} s but the video "
            f"{info.duration:.3f} s; using the first {min(audio.duration, info.duration):.3f} s",
        )
    return info, audio


def _plan_windows(job: _Job, rel: str, usable: float) -> list[float]:
    """Window starts inside the part covered by both video and music (end tolerance: one codec frame)."""
    cfg = job.config
    starts, remainder = window_starts(usable, cfg.window_s, cfg.hop, 1.0 / job.music.frame_rate)
    if not starts:
        raise DatasetError(
            f"too short: {usable:.3f} s with both video and music, less than one window of {cfg.window_s:g} s"
        )
    if remainder:
        job.report.dropped_remainders += 1
        job.report.dropped_seconds += remainder
        logger.info("%s: dropping the last %.3f s (shorter than a window)", rel, remainder)
    return starts


def _write_windows(job: _Job, rel: str, starts: list[float], track: Any, audio: DecodedAudio) -> None:
    """Encode the windows' audio in batches and write one .npz + manifest entry per window."""
    split = assign_split(rel, job.config.seed, job.config.test_fraction)
    caption = job.captions.lookup(rel)
    num_samples = job.frames * job.music.hop_length
    batch = job.config.encode_batch
    for first in range(0, len(starts), batch):
        job.cancel.check()
        group = starts[first : first + batch]
        clips = np.stack([window_audio(audio, start, num_samples) for start in group])
        codes = encode_audio(job.music, clips, job.frames, job.bandwidth)
        for offset, (start, window_codes) in enumerate(zip(group, codes)):
            job.cancel.check()
            index = first + offset
            chroma = _chroma_bins(job, clips[offset]) if job.music.melody else None
            entry = _write_window(job, rel, index, start, window_codes, track, chroma)
            job.report.entries.append(entry | {"split": split, "caption": caption})
            job.progress("windows", index + 1, len(starts))


def _chroma_bins(job: _Job, clip: np.ndarray) -> np.ndarray:
    """A melody checkpoint's training melody: the window's own music as chroma bins uint8 [Tc]
    (model/chroma.py at the checkpoint's settings), as those checkpoints were trained."""
    from ..model.chroma import melody_chroma

    chroma = melody_chroma(clip, job.music.sample_rate, settings=job.music.chroma)
    return chroma[0].argmax(-1).numpy().astype(np.uint8)


def _write_window(
    job: _Job, rel: str, index: int, start: float, codes: np.ndarray, track: Any, chroma: np.ndarray | None = None
) -> dict[str, Any]:
    """One window's .npz: codes int16 [K, T], condition [T, F] (and a melody checkpoint's chroma
    bins [Tc]) -> its manifest entry."""
    from ..pipeline.alignment import to_condition

    cond = to_condition(track, start, job.config.window_s, job.music.frame_rate, config=job.features)
    if cond.num_frames != job.frames:
        raise DatasetError(f"{rel}: condition has {cond.num_frames} frames, codes {job.frames}")
    ident = window_id(rel, index)
    melody = {} if chroma is None else {"chroma": chroma}
    np.savez(
        job.windows_dir / f"{ident}.npz", codes=codes.astype(np.int16),
        condition=cond.values.astype(CONDITION_DTYPE), **melody,
    )  # fmt: skip
    return {
        "id": ident, "recording": rel, "split": "", "start": start, "end": round(start + job.config.window_s, 9),
        "caption": "", "path": f"windows/{ident}.npz", "visual": "null" if cond.is_null else "present",
        "frames": job.frames,
    }  # fmt: skip


def _summary(job: _Job, src: Path, videos_found: int) -> dict[str, Any]:
    """The dataset.json content."""
    from expotion_protocol.features import FEATURE_SPEC

    report, cfg, music = job.report, job.config, job.music
    by_split: dict[str, set[str]] = {"train": set(), "test": set()}
    for entry in report.entries:
        by_split[entry["split"]].add(entry["recording"])
    count = {s: sum(e["split"] == s for e in report.entries) for s in by_split}
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "source": str(src),
        "model": {"id": music.model_id, "untrained": bool(music.untrained), "sample_rate": music.sample_rate,
                  "frame_rate": music.frame_rate, "num_codebooks": music.num_codebooks, "bandwidth": job.bandwidth},
        "features": {"spec": FEATURE_SPEC.name, "version": FEATURE_SPEC.version, "dim": FEATURE_SPEC.dim,
                     "fps": job.features.feature_fps, "max_side": job.features.max_side,
                     "max_gap_s": job.features.max_gap_s, "smoothing_s": job.features.smoothing_s},
        "window_s": cfg.window_s, "hop_s": cfg.hop, "frames": job.frames,
        "condition_dtype": np.dtype(CONDITION_DTYPE).name,
        "split": {"by": "recording", "seed": cfg.seed, "test_fraction": cfg.test_fraction,
                  "recordings": {s: sorted(r) for s, r in by_split.items()}},
        "captions": {"file": str(cfg.captions) if cfg.captions else None, "default_prompt": cfg.default_prompt},
        "counts": {
            "videos_found": videos_found, "recordings": len(by_split["train"] | by_split["test"]),
            "windows": len(report.entries), "train_windows": count["train"], "test_windows": count["test"],
            "train_recordings": len(by_split["train"]), "test_recordings": len(by_split["test"]),
            "null_visual_windows": sum(e["visual"] == "null" for e in report.entries),
            "dropped_remainders": report.dropped_remainders,
            "dropped_seconds": round(report.dropped_seconds, 6), "skipped": len(report.skipped),
            "feature_cache_hits": report.cache_hits, "feature_cache_misses": report.cache_misses,
        },
        "skipped": report.skipped, "warnings": report.warnings,
    }  # fmt: skip
