"""Caches of the service: video content hashes, feature tracks, and job results on disk.

- `ContentHashes`: SHA-256 of a file's bytes, by path or open descriptor, memoised per inode while
  its size, mtime and ctime stay the same.
- `FeatureCache`: feature tracks (`FeatureTrack.save/load`, .npz) keyed by video content hash +
  range + feature spec + feature config; the `get`/`put` hook `Scorer.read_features` calls.
- `ResultFiles`: the WAV takes + metadata.json of each job under `results/<job id>/`; a repeated
  identical request gets hard links (or copies) of an earlier job's files. Retention measures and
  removes job folders through it (`usage`, `remove`); a failed write leaves no folder behind.
Thread rule: safe from any thread (files are written atomically; the memo has a lock; copying and
removing job folders share a lock, so a reuse never copies a half-removed result).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..config import FeatureConfig

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def hash_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hash_descriptor(fh.fileno())


def hash_descriptor(fd: int) -> str:
    """SHA-256 of the whole file open as `fd`, read from its start with `os.read` (the offset is moved)."""
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, _CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


class ContentHashes:
    """SHA-256 of files, remembered per file (device and inode) while its size, mtime and ctime stay
    the same. Every write changes the ctime and no user can set it back, so a rewritten file is
    hashed again even when its size and mtime were restored."""

    def __init__(self) -> None:
        self._memo: dict[tuple[int, int], tuple[tuple[int, int, int], str]] = {}
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> str:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            return self.of_descriptor(fd)
        finally:
            os.close(fd)

    def of_descriptor(self, fd: int) -> str:
        """The hash of the file open as `fd` (read through `fd` unless remembered)."""
        key, stamp = _identity(os.fstat(fd))
        with self._lock:
            known = self._memo.get(key)
        if known and known[0] == stamp:
            return known[1]
        digest = hash_descriptor(fd)
        with self._lock:
            self._memo[key] = (stamp, digest)
        return digest

    def remember(self, path: Path, digest: str) -> None:
        """Record a hash computed while the file was written."""
        key, stamp = _identity(os.stat(path))
        with self._lock:
            self._memo[key] = (stamp, digest)


def _identity(st: os.stat_result) -> tuple[tuple[int, int], tuple[int, int, int]]:
    return (st.st_dev, st.st_ino), (st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def feature_key(content: str, start: float, end: float, config: FeatureConfig) -> str:
    """Cache key of a feature track: video content, range, feature spec and every setting that
    changes the values (paths and the download switch do not)."""
    from ..pipeline.features import FEATURE_SPEC

    settings = {k: v for k, v in asdict(config).items() if k not in ("face_model", "pose_model", "cache_dir", "allow_download")}
    data = {"video": content, "start": round(start, 6), "end": round(end, 6),
            "spec": [FEATURE_SPEC.name, FEATURE_SPEC.version], "config": settings}
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
        from ..pipeline.features import FeatureTrack

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


class ResultFiles:
    """Result files of jobs: `<folder>/<job id>/take-<i>.wav` and `metadata.json`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    def take_path(self, job_id: str, take: int) -> Path:
        return self.folder / job_id / f"take-{take}.wav"

    def write(self, job_id: str, takes: list[Any], sample_rate: int, metadata: dict[str, Any]) -> None:
        """Write every take, then the metadata (the job is succeeded only after this returns)."""
        from ..audio import write_wav

        folder = self.folder / job_id
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for i, audio in enumerate(takes):
                write_wav(self.take_path(job_id, i), audio, sample_rate)
            self._write_metadata(folder, metadata)
        except OSError:  # e.g. a full disk: no half-written result stays behind
            self.remove(job_id)
            raise

    def copy(self, source_id: str, job_id: str, takes: int, metadata: dict[str, Any]) -> bool:
        """Give `job_id` the takes of `source_id` (hard links where possible) -> False if any is gone."""
        sources = [self.take_path(source_id, i) for i in range(takes)]
        folder = self.folder / job_id
        with self._lock:
            if not all(p.is_file() for p in sources):
                return False
            folder.mkdir(parents=True, exist_ok=True)
            for i, src in enumerate(sources):
                dst = self.take_path(job_id, i)
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copyfile(src, dst)
        self._write_metadata(folder, metadata)
        return True

    def usage(self) -> dict[str, int]:
        """Bytes of each job folder (a file hard-linked into several folders counts once)."""
        seen: set[tuple[int, int]] = set()
        out: dict[str, int] = {}
        if not self.folder.is_dir():
            return out
        for folder in os.scandir(self.folder):
            if not folder.is_dir(follow_symlinks=False):
                continue
            total = 0
            try:
                for entry in os.scandir(folder.path):
                    st = entry.stat(follow_symlinks=False)
                    if (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        total += st.st_size
            except FileNotFoundError:  # a file renamed or a folder removed while scanning
                pass
            out[folder.name] = total
        return out

    def remove(self, job_id: str) -> int:
        """Delete a job's folder -> bytes freed (files still linked from another job free nothing)."""
        folder = self.folder / job_id
        freed = 0
        with self._lock:
            if not folder.is_dir():
                return 0
            for entry in os.scandir(folder):
                st = entry.stat(follow_symlinks=False)
                freed += st.st_size if st.st_nlink <= 1 else 0
            shutil.rmtree(folder, ignore_errors=True)
        return freed

    def has_takes(self, job_id: str, takes: int) -> bool:
        return all(self.take_path(job_id, i).is_file() for i in range(takes))

    @staticmethod
    def _write_metadata(folder: Path, metadata: dict[str, Any]) -> None:
        tmp = folder / ".metadata.json.part"
        tmp.write_text(json.dumps(metadata, indent=2))
        os.replace(tmp, folder / "metadata.json")


class ResultCache:
    """Reuse of earlier results: a job whose cache key matches a succeeded job gets its takes."""

    def __init__(self, store: Any, files: ResultFiles) -> None:
        self.store = store  # JobStore
        self.files = files

    def reuse(self, job_id: str, cache_key: str) -> dict[str, Any] | None:
        """Give `job_id` the files of the newest identical succeeded job -> its metadata, or None."""
        source = self.store.find_succeeded(cache_key) if cache_key else None
        if source is None or source.result is None or source.id == job_id:
            return None
        meta = dict(source.result) | {"cached": True, "job_id": job_id, "cached_from": source.id}
        if not self.files.copy(source.id, job_id, int(meta.get("takes", 1)), meta):
            logger.warning("result files of %s are gone; generating %s again", source.id, job_id)
            return None
        return meta
