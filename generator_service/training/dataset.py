"""Training data for the visual adapter: preparing aligned windows from recordings, and loading them.

`prepare_dataset(src, out, music, config)` reads every video under `src` with its music (a sibling
audio file with the same stem, else the video's own audio track) and its caption, and writes:

    out/windows/<id>.npz   one per window: codes int16 [K, T] (EnCodec codes of the window's audio),
                           condition float16 [T, F], mask / face_mask / person_mask uint8 [T]
                           (T = window_s * frame_rate, the codec rate, 50 Hz for MusicGen)
    out/manifest.jsonl     one line per window: id, recording, split, start, end, caption, path,
                           visual ("present" | "null"), frames
    out/dataset.json       the summary: model, feature spec/version/fps, window, counts, skipped
                           files with reasons, warnings, split seed

Visual features are extracted once per recording and cached (pipeline/feature_cache.py: keyed by the
video's SHA-256, the range, the feature spec and every feature setting that changes the values). The train/test split is by recording (a
hash of its relative path and the seed), so no window of a test recording is ever trained on. Bad
files are skipped, listed in dataset.json and logged; a run that writes no window fails.
Everything is built in `out/.staging` and moved into place at the end: a failed or cancelled run
leaves an earlier dataset in `out` untouched.

`WindowDataset(out, split)` + `collate` load the windows for training (torch imported lazily).
Thread rule: none; one preparation per output folder at a time.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import math
import re
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import FeatureConfig
from ..pipeline.feature_cache import FeatureCache
from ..pipeline.feature_reader import FeatureReader
from ..errors import ConfigError, ExpotionError, VideoError
from ..progress import CancelToken, ProgressCallback, no_progress
from .audio_io import AUDIO_SUFFIXES, AudioError, DecodedAudio, decode_audio, sibling_audio

logger = logging.getLogger(__name__)

FORMAT = "expotion-windows"
FORMAT_VERSION = 1
#: Video files considered recordings (any case).
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts")
#: Audio and video lengths further apart than this are reported (the shorter one decides).
MISMATCH_WARN_S = 0.1
#: dtype of the stored condition values.
CONDITION_DTYPE = np.float16
_STAGING = ".staging"


class DatasetError(ExpotionError, ValueError):
    """A dataset cannot be prepared or loaded: no usable recording, a bad caption file, a mismatch."""

    hint = "Fix the named file or setting, or prepare the dataset again with `prepare-dataset`."


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


# -- small pure pieces ---------------------------------------------------------------------------


def frames_per_window(window_s: float, frame_rate: float) -> int:
    """Codec frames in one window; `ConfigError` unless window_s * frame_rate is a whole number."""
    frames = window_s * frame_rate
    if abs(frames - round(frames)) > 1e-6 or round(frames) < 1:
        raise ConfigError(
            f"window: {window_s} s is not a whole number of codec frames at {frame_rate:g} Hz "
            f"(use a multiple of {1 / frame_rate:g} s)"
        )
    return int(round(frames))


def window_starts(duration: float, window_s: float, hop_s: float, tolerance_s: float) -> tuple[list[float], float]:
    """Starts of the windows that fit in `duration` (ending at most `tolerance_s` past it) and the
    length of the dropped remainder after the last one (0 when the windows reach the end)."""
    starts: list[float] = []
    k = 0
    while k * hop_s + window_s <= duration + tolerance_s:
        starts.append(round(k * hop_s, 9))
        k += 1
    covered = starts[-1] + window_s if starts else 0.0
    remainder = max(0.0, duration - covered)
    return starts, (remainder if remainder > tolerance_s else 0.0)


def assign_split(recording: str, seed: int, test_fraction: float) -> str:
    """"test" or "train" for a recording (its relative path), from a hash of path and seed.

    Depends on nothing else, so a recording keeps its split when the collection grows.
    """
    digest = hashlib.sha256(f"{seed}\0{recording}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2.0**64 < test_fraction else "train"


def window_id(recording: str, index: int) -> str:
    """A file-name-safe, unique id: the recording's path as a slug + a short hash + the index."""
    stem = str(PurePosixPath(recording).with_suffix(""))
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60] or "recording"
    short = hashlib.sha1(recording.encode()).hexdigest()[:8]
    return f"{slug}-{short}-{index:04d}"


# -- captions ------------------------------------------------------------------------------------


def _normalise_key(name: str) -> str:
    key = name.strip().replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key


def read_captions(path: Path) -> dict[str, str]:
    """Captions from a CSV (header with columns file,caption) or a JSONL ({"file", "caption"} per
    line) -> {file: caption}; `file` is a path relative to the source folder or a file name."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"caption file {path} does not exist")
    rows = _read_jsonl_captions(path) if path.suffix.lower() in (".jsonl", ".ndjson") else _read_csv_captions(path)
    captions: dict[str, str] = {}
    for where, name, caption in rows:
        key = _normalise_key(name)
        if not key:
            raise DatasetError(f"{path}:{where}: empty file name")
        if key in captions and captions[key] != caption:
            logger.warning("%s:%s: second caption for %s replaces the first", path, where, key)
        captions[key] = caption.strip()
    return captions


def _read_csv_captions(path: Path) -> Iterator[tuple[int, str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        if "file" not in columns or "caption" not in columns:
            raise DatasetError(f"caption file {path}: needs columns 'file' and 'caption', has {columns}")
        reader.fieldnames = columns
        rows = list(reader)
    for line, row in enumerate(rows, start=2):
        yield line, row.get("file") or "", row.get("caption") or ""


def _read_jsonl_captions(path: Path) -> Iterator[tuple[int, str, str]]:
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{path}:{line}: not valid JSON ({err.msg})") from err
        if not isinstance(row, dict) or not isinstance(row.get("file"), str) or not isinstance(row.get("caption"), str):
            raise DatasetError(f'{path}:{line}: expected an object with string fields "file" and "caption"')
        yield line, row["file"], row["caption"]


@dataclass
class Captions:
    """Caption lookup by relative path, then by file name; remembers which entries were used."""

    entries: dict[str, str]
    default: str = ""
    used: set[str] = field(default_factory=set)

    def lookup(self, recording: str) -> str:
        for key in (recording, PurePosixPath(recording).name):
            if key in self.entries:
                self.used.add(key)
                return self.entries[key]
        return self.default

    def unused(self) -> list[str]:
        return sorted(set(self.entries) - self.used)


# -- audio codes ---------------------------------------------------------------------------------


def codec_bandwidth(music: Any) -> float:
    """The EnCodec bandwidth whose number of quantizers equals the model's codebooks per channel."""
    encoder = music.model.audio_encoder
    options = list(encoder.config.target_bandwidths)
    per_channel = music.num_codebooks // music.audio_channels
    for bandwidth in options:
        if encoder.quantizer.get_num_quantizers_for_bandwidth(bandwidth) == per_channel:
            return float(bandwidth)
    raise ConfigError(
        f"model {music.model_id}: no EnCodec bandwidth in {options} gives its {per_channel} codebooks per channel"
    )


def encode_audio(music: Any, audio: np.ndarray, frames: int, bandwidth: float) -> np.ndarray:
    """EnCodec codes of a batch of windows: audio [B, S] (stereo models: [B, 2, S]) float32 ->
    int16 [B, K, frames]; stereo codebooks interleave left and right as the stereo checkpoints do.

    The codec yields ceil(S / hop) frames; a difference of one frame from `frames` is trimmed or
    padded (repeating the last frame), anything more is an error.
    """
    import torch

    expected = math.ceil(audio.shape[-1] / music.hop_length)
    if abs(expected - frames) > 1:
        raise DatasetError(f"{audio.shape[-1]} samples make {expected} codec frames, not {frames} (at most one off)")
    encoder = music.model.audio_encoder
    dtype = next(encoder.parameters()).dtype
    channels = [audio] if audio.ndim == 2 else [audio[:, c] for c in range(audio.shape[1])]
    per_channel = []
    for wave in channels:
        values = torch.from_numpy(np.ascontiguousarray(wave, np.float32))[:, None, :].to(music.device, dtype)
        with torch.inference_mode():
            out = encoder.encode(values, bandwidth=bandwidth)
        if out.audio_codes.shape[0] != 1:
            raise DatasetError(f"EnCodec of {music.model_id} cut the audio into {out.audio_codes.shape[0]} chunks; "
                               "expected 1")
        per_channel.append(out.audio_codes[0].cpu().numpy())  # [B, K / channels, frames']
    codes = np.stack(per_channel, axis=2).reshape(audio.shape[0], -1, per_channel[0].shape[-1])
    got = codes.shape[-1]
    if abs(got - frames) > 1:
        raise DatasetError(f"EnCodec gave {got} frames for a window of {frames}; expected at most one off")
    if got > frames:
        codes = codes[..., :frames]
    elif got < frames:
        codes = np.concatenate([codes, codes[..., -1:]], axis=-1)
    return codes.astype(np.int16)


def window_audio(audio: DecodedAudio, start: float, num_samples: int) -> np.ndarray:
    """Exactly `num_samples` samples from `start` s (zero-padded at the end if the audio stops short)."""
    first = int(round(start * audio.sample_rate))
    piece = audio.samples[..., first : first + num_samples]
    if piece.shape[-1] < num_samples:
        pad = np.zeros((*piece.shape[:-1], num_samples - piece.shape[-1]), np.float32)
        piece = np.concatenate([piece, pad], axis=-1)
    return piece


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
        raise DatasetError(f"output folder {out} is not empty and holds no prepared dataset",
                           hint="Choose a new or empty output folder; nothing was written.")
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
            job = _Job(music, config, features, reader, store, staging / "windows", frames,
                       codec_bandwidth(music), captions, progress, cancel)
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
        _publish(staging, out, job.report.entries, summary)
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
    audio = decode_audio(source or video, job.music.sample_rate, origin=origin, cancel=job.cancel,
                         channels=job.music.audio_channels)
    if abs(audio.duration - info.duration) > MISMATCH_WARN_S:
        job.report.warn(rel, f"audio ({audio.source.name}) lasts {audio.duration:.3f} s but the video "
                             f"{info.duration:.3f} s; using the first {min(audio.duration, info.duration):.3f} s")
    return info, audio


def _plan_windows(job: _Job, rel: str, usable: float) -> list[float]:
    """Window starts inside the part covered by both video and music (end tolerance: one codec frame)."""
    cfg = job.config
    starts, remainder = window_starts(usable, cfg.window_s, cfg.hop, 1.0 / job.music.frame_rate)
    if not starts:
        raise DatasetError(f"too short: {usable:.3f} s with both video and music, less than one "
                           f"window of {cfg.window_s:g} s")
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
            entry = _write_window(job, rel, index, start, window_codes, track)
            job.report.entries.append(entry | {"split": split, "caption": caption})
            job.progress("windows", index + 1, len(starts))


def _write_window(job: _Job, rel: str, index: int, start: float, codes: np.ndarray, track: Any) -> dict[str, Any]:
    """One window's .npz: codes int16 [K, T], condition [T, F], masks uint8 [T] -> its manifest entry."""
    from ..pipeline.alignment import to_condition

    cond = to_condition(track, start, job.config.window_s, job.music.frame_rate, config=job.features)
    if cond.num_frames != job.frames:
        raise DatasetError(f"{rel}: condition has {cond.num_frames} frames, codes {job.frames}")
    ident = window_id(rel, index)
    np.savez(
        job.windows_dir / f"{ident}.npz", codes=codes.astype(np.int16),
        condition=cond.values.astype(CONDITION_DTYPE), mask=cond.mask.astype(np.uint8),
        face_mask=cond.face_mask.astype(np.uint8), person_mask=cond.person_mask.astype(np.uint8),
    )  # fmt: skip
    return {
        "id": ident, "recording": rel, "split": "", "start": start, "end": round(start + job.config.window_s, 9),
        "caption": "", "path": f"windows/{ident}.npz", "visual": "null" if cond.is_null else "present",
        "frames": job.frames,
    }  # fmt: skip


def _summary(job: _Job, src: Path, videos_found: int) -> dict[str, Any]:
    """The dataset.json content."""
    from ..pipeline.features import FEATURE_SPEC

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


def _publish(staging: Path, out: Path, entries: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """Move the staged windows into `out` and write manifest.jsonl, then dataset.json last."""
    (out / "dataset.json").unlink(missing_ok=True)  # an interrupted swap leaves no valid dataset
    manifest = staging / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    shutil.rmtree(out / "windows", ignore_errors=True)
    (staging / "windows").replace(out / "windows")
    manifest.replace(out / "manifest.jsonl")
    tmp = staging / "dataset.json"
    tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out / "dataset.json")
    for split in ("train", "test"):
        if not summary["counts"][f"{split}_windows"]:
            logger.warning("the %s split is empty (test fraction %s, seed %s)", split,
                           summary["split"]["test_fraction"], summary["split"]["seed"])


# -- loading -------------------------------------------------------------------------------------


def read_summary(root: Path) -> dict[str, Any]:
    """dataset.json of a prepared dataset; `DatasetError` if missing or of another format."""
    path = Path(root) / "dataset.json"
    if not path.is_file():
        raise DatasetError(f"{root} is not a prepared dataset (no dataset.json)")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path} is unreadable: {err}") from err
    if not isinstance(summary, dict) or summary.get("format") != FORMAT:
        raise DatasetError(f"{path} is not an {FORMAT} dataset summary")
    if summary.get("format_version") != FORMAT_VERSION:
        raise DatasetError(f"{path} has format version {summary.get('format_version')}, "
                           f"this code reads version {FORMAT_VERSION}")
    return summary


def check_summary(summary: dict[str, Any], *, feature_fps: float | None = None, spec: Any = None,
                  model_id: str | None = None, num_codebooks: int | None = None, where: str = "dataset") -> None:
    """`DatasetError` naming every difference between a dataset and what the caller expects.

    `spec` defaults to this code's FEATURE_SPEC; None for the other checks means "anything".
    """
    from ..pipeline.features import FEATURE_SPEC

    spec = spec or FEATURE_SPEC
    have, model = summary.get("features", {}), summary.get("model", {})
    diffs: list[str] = []
    if (have.get("spec"), have.get("version")) != (spec.name, spec.version):
        diffs.append(f"feature spec {have.get('spec')} v{have.get('version')} (expected {spec.name} v{spec.version})")
    elif have.get("dim") != spec.dim:
        diffs.append(f"feature dim {have.get('dim')} (expected {spec.dim})")
    if feature_fps is not None and not math.isclose(float(have.get("fps", float("nan"))), feature_fps, abs_tol=1e-9):
        diffs.append(f"feature fps {have.get('fps')} (expected {feature_fps:g})")
    if model_id is not None and model.get("id") != model_id:
        diffs.append(f"model {model.get('id')!r} (expected {model_id!r})")
    if num_codebooks is not None and model.get("num_codebooks") != num_codebooks:
        diffs.append(f"{model.get('num_codebooks')} codebooks (expected {num_codebooks})")
    if diffs:
        raise DatasetError(f"{where} was prepared with " + "; ".join(diffs),
                           hint="Prepare the dataset again with matching settings, or train with the "
                                "dataset's settings.")


def read_manifest(root: Path) -> list[dict[str, Any]]:
    """All manifest.jsonl entries of a prepared dataset."""
    path = Path(root) / "manifest.jsonl"
    if not path.is_file():
        raise DatasetError(f"{root} has no manifest.jsonl")
    entries = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.strip():
            try:
                entries.append(json.loads(text))
            except json.JSONDecodeError as err:
                raise DatasetError(f"{path}:{line}: not valid JSON ({err.msg})") from err
    return entries


class _WindowDatasetBase:
    """The windows of one split of a prepared dataset, for training.

    Items are dicts: codes LongTensor [K, T], condition FloatTensor [T, F], mask FloatTensor [T],
    prompt str, id str. Construction checks dataset.json against the expected feature fps / spec /
    model (see `check_summary`). `WindowDataset` is this plus `torch.utils.data.Dataset` as a base,
    built on first use so that importing this module does not import torch.
    """

    def __init__(self, root: Path, split: str = "train", *, feature_fps: float | None = None, spec: Any = None,
                 model_id: str | None = None, num_codebooks: int | None = None) -> None:
        if split not in ("train", "test", "all"):
            raise ConfigError(f"split: {split!r} must be 'train', 'test' or 'all'")
        self.root = Path(root)
        self.summary = read_summary(self.root)
        check_summary(self.summary, feature_fps=feature_fps, spec=spec, model_id=model_id,
                      num_codebooks=num_codebooks, where=f"dataset {self.root}")
        entries = read_manifest(self.root)
        self.entries = [e for e in entries if split == "all" or e["split"] == split]
        self.split = split
        self.frames = int(self.summary["frames"])

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        entry = self.entries[index]
        path = self.root / entry["path"]
        try:
            with np.load(path, allow_pickle=False) as data:
                codes, condition, mask = data["codes"], data["condition"], data["mask"]
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise DatasetError(f"window {entry['id']}: cannot read {path} ({err})") from err
        if codes.shape[-1] != self.frames or condition.shape[0] != self.frames:
            raise DatasetError(f"window {entry['id']}: {codes.shape[-1]} code frames / {condition.shape[0]} "
                               f"condition frames, dataset.json says {self.frames}")
        return {
            "codes": torch.from_numpy(codes.astype(np.int64)),
            "condition": torch.from_numpy(condition.astype(np.float32)),
            "mask": torch.from_numpy(mask.astype(np.float32)),
            "prompt": entry["caption"],
            "id": entry["id"],
        }


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack items of one dataset: codes [B, K, T], condition [B, T, F], mask [B, T], prompt/id lists."""
    import torch

    if not items:
        raise DatasetError("cannot collate an empty batch")
    frames = {int(item["codes"].shape[-1]) for item in items}
    if len(frames) != 1:
        raise DatasetError(f"windows of different lengths in one batch: {sorted(frames)} frames")
    return {
        "codes": torch.stack([item["codes"] for item in items]),
        "condition": torch.stack([item["condition"] for item in items]),
        "mask": torch.stack([item["mask"] for item in items]),
        "prompt": [item["prompt"] for item in items],
        "id": [item["id"] for item in items],
    }


@functools.cache
def _window_dataset_class() -> type:
    from torch.utils.data import Dataset

    return type("WindowDataset", (_WindowDatasetBase, Dataset),
                {"__doc__": _WindowDatasetBase.__doc__, "__module__": __name__, "__qualname__": "WindowDataset"})


if TYPE_CHECKING:  # for type checkers; at run time the module __getattr__ below builds it
    WindowDataset = _WindowDatasetBase


def __getattr__(name: str) -> Any:
    """`WindowDataset` is created lazily (PEP 562), the first time it is looked up."""
    if name == "WindowDataset":
        return _window_dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
