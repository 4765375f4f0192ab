"""SHA-256 of file contents: the one hasher of the package (videos, datasets, MediaPipe model files).

`sha256_file` / `sha256_descriptor` stream the bytes in 1 MiB blocks; `cancel` (a `CancelToken`) is
checked between blocks for long files. `ContentHashes` remembers hashes per file (device and inode)
while its size, mtime and ctime stay the same. Hashes computed while a file is being written
(uploads, downloads) are done where the bytes pass and are not this module's business.
Thread rule: all of it is safe from any thread (the memo has a lock).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from .progress import CancelToken

CHUNK = 1 << 20


def sha256_descriptor(fd: int, cancel: CancelToken | None = None) -> str:
    """SHA-256 of the whole file open as `fd`, read from its start with `os.read` (the offset is moved)."""
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, CHUNK):
        if cancel is not None:
            cancel.check()
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path, cancel: CancelToken | None = None) -> str:
    """SHA-256 of the file at `path`."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        return sha256_descriptor(fd, cancel)
    finally:
        os.close(fd)


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
        digest = sha256_descriptor(fd)
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
