"""Job results on disk: the WAV takes + metadata of each job, and reuse of identical requests.

- `ResultFiles`: the WAV takes + metadata.json of each job under `results/<job id>/`; a repeated
  identical request gets hard links (or copies) of an earlier job's files. Retention measures and
  removes job folders through it (`usage`, `remove`); a failed write leaves no folder behind.
- `ResultCache`: finds an earlier identical job's result by its cache key.
Thread rule: safe from any thread (files are written atomically; copying and removing job folders
share a lock, so a reuse never copies a half-removed result).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


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

    def remove_partials(self) -> int:
        """Remove the hidden partial files (`.take-*.wav`, `.metadata.json.part`) a process killed
        while writing a result left in job folders -> how many (call at start only)."""
        removed = 0
        for job_id in self.usage():
            for partial in (self.folder / job_id).glob(".*"):
                partial.unlink(missing_ok=True)
                removed += 1
        return removed

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
