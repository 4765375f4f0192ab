"""A disk that fills up: stands in for the `os` module of jobs/uploads.py, so only upload files see it."""

from __future__ import annotations

import errno
import os
from typing import Any


class FullDisk:
    """`os` as jobs/uploads.py sees it, on a disk with `room` bytes left (writes past it: ENOSPC)."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def fdopen(self, fd: int, mode: str = "r") -> _FillingFile:
        return _FillingFile(os.fdopen(fd, mode), self)


class _FillingFile:
    def __init__(self, file: Any, disk: FullDisk) -> None:
        self.file, self.disk = file, disk

    def write(self, data: bytes) -> int:
        if len(data) > self.disk.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.disk.room -= len(data)
        return self.file.write(data)

    def close(self) -> None:
        self.file.close()
