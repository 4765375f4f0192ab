"""Uploaded videos: content-addressed files under `uploads/`, kept while a job uses them.

`store()` copies an upload to `uploads/<sha256><suffix>` (hashing on the way) and takes a
reference; `release()` drops it and deletes the file when no job uses it any more. Uploads do not
outlive the process: `clear()` at start removes what a dead process left.
Thread rule: safe from any thread (one lock around the reference counts and renames).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

_SUFFIX = re.compile(r"^\.[a-z0-9]{1,5}$")
_CHUNK = 1 << 20


def safe_suffix(filename: str | None) -> str:
    """The upload's extension if it is short and plain (".mp4", ".mov"), else ".bin"."""
    suffix = Path(filename or "").suffix.lower()
    return suffix if _SUFFIX.match(suffix) else ".bin"


class UploadStore:
    """Reference-counted, content-addressed upload files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._refs: dict[Path, int] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Remove every upload (called at start: no job of a previous process still needs one)."""
        if self.folder.is_dir():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def store(self, source: BinaryIO, filename: str | None) -> tuple[Path, str, int]:
        """Copy `source` into the store and take a reference -> (path, sha256, size in bytes)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".upload-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            path = self.folder / f"{digest.hexdigest()}{safe_suffix(filename)}"
            with self._lock:
                os.replace(tmp, path)
                self._refs[path] = self._refs.get(path, 0) + 1
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path, digest.hexdigest(), size

    def release(self, path: Path) -> None:
        """Drop one reference; the file is deleted with the last one."""
        with self._lock:
            left = self._refs.get(path, 0) - 1
            if left > 0:
                self._refs[path] = left
                return
            self._refs.pop(path, None)
            path.unlink(missing_ok=True)

    def in_use(self) -> int:
        with self._lock:
            return len(self._refs)
