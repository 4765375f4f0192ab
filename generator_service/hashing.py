"""SHA-256 of file contents: the one hasher of the package (videos, datasets, MediaPipe model files).

Streams the bytes in 1 MiB blocks; `cancel` (a `CancelToken`) is checked between blocks for long
files. Hashes computed while a file is being written (uploads, downloads) are done where the bytes
pass and are not this module's business.
"""

from __future__ import annotations

import hashlib
import os
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
