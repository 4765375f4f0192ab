"""Uploaded videos: content-addressed files under `uploads/`, kept while a job uses them.

An upload is written once: `writer()` gives an `UploadWriter` that the HTTP layer feeds the request
body's bytes as they arrive; they go straight into a temporary file beside their final place and
into a SHA-256, and `commit()` renames the file to `uploads/<sha256><suffix>` and takes a reference.
A failed write (disk full) or an `abort()` removes the temporary file: nothing half-written stays.
`release()` drops a reference and deletes the file when no job uses it any more. At start, `reset()`
keeps only the uploads of jobs that are resumed and removes what a dead process left.
Thread rule: safe from any thread (one lock around the reference counts and renames); one writer is
used by one thread at a time.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import UploadNotStored

logger = logging.getLogger(__name__)

_SUFFIX = re.compile(r"^\.[a-z0-9]{1,5}$")
_CHUNK = 1 << 20
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def safe_suffix(filename: str | None) -> str:
    """The upload's extension if it is short and plain (".mp4", ".mov"), else ".bin"."""
    suffix = Path(filename or "").suffix.lower()
    return suffix if _SUFFIX.match(suffix) else ".bin"


@dataclass(frozen=True)
class StoredUpload:
    """An upload in the store (one reference taken): its path, SHA-256 and size in bytes."""

    path: Path
    sha256: str
    size: int


def _raise_if_full(exc: OSError, folder: Path) -> None:
    """A full disk (or quota) becomes `UploadNotStored`; other errors are left to the caller."""
    if exc.errno in _FULL:
        raise UploadNotStored(f"the upload could not be stored in {folder}: {os.strerror(exc.errno or 0)}") from exc


class UploadWriter:
    """One upload being written (see the module docstring); use as a context manager or call
    `abort()` on every path that does not `commit()`."""

    def __init__(self, store: UploadStore, filename: str | None) -> None:
        self._store = store
        self._suffix = safe_suffix(filename)
        self._digest = hashlib.sha256()
        self.size = 0
        try:
            store.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=store.folder, prefix=".upload-", suffix=".part")
        except OSError as exc:
            _raise_if_full(exc, store.folder)
            raise
        self._tmp = Path(tmp)
        self._out: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        out = self._open()
        self._digest.update(data)
        self.size += len(data)
        try:
            out.write(data)
        except OSError as exc:
            self.abort()
            _raise_if_full(exc, self._store.folder)
            raise

    def commit(self) -> StoredUpload:
        """Move the written bytes to their content address and take a reference."""
        out = self._open()
        try:
            out.close()  # flushes: a full disk may show only here
        except OSError as exc:
            self.abort()
            _raise_if_full(exc, self._store.folder)
            raise
        self._out = None
        digest = self._digest.hexdigest()
        path = self._store.folder / f"{digest}{self._suffix}"
        try:
            self._store.adopt(path, source=self._tmp)
        except OSError:
            self._tmp.unlink(missing_ok=True)
            raise
        return StoredUpload(path, digest, self.size)

    def abort(self) -> None:
        """Remove the temporary file (a no-op after `commit`)."""
        if self._out is None:
            return
        try:
            self._out.close()
        except OSError:  # closing flushes, which fails on a full disk; the file is removed anyway
            logger.debug("closing an aborted upload failed", exc_info=True)
        self._out = None
        self._tmp.unlink(missing_ok=True)

    def _open(self) -> BinaryIO:
        if self._out is None:
            raise ValueError("the upload is already committed or aborted")
        return self._out

    def __enter__(self) -> UploadWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class UploadStore:
    """Reference-counted, content-addressed upload files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._refs: dict[Path, int] = {}
        self._lock = threading.Lock()

    def reset(self, keep: Iterable[Path] = ()) -> None:
        """At start: take a reference on each upload in `keep` (jobs being resumed) and remove every
        other file (uploads and partial writes of a previous process)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        kept = [Path(p) for p in keep]
        for path in kept:  # one reference per job, as when they were submitted
            self.adopt(path)
        for entry in self.folder.iterdir():
            if entry not in kept and entry.is_file():
                entry.unlink(missing_ok=True)

    def writer(self, filename: str | None) -> UploadWriter:
        """A writer of a new upload (`UploadNotStored` if not even its temporary file can be made)."""
        return UploadWriter(self, filename)

    def store(self, source: BinaryIO, filename: str | None) -> StoredUpload:
        """Copy a readable file object into the store and take a reference."""
        with self.writer(filename) as writer:
            while chunk := source.read(_CHUNK):
                writer.write(chunk)
            return writer.commit()

    def adopt(self, path: Path, source: Path | None = None) -> None:
        """Take a reference on `path`, first moving `source` there when given."""
        with self._lock:
            if source is not None:
                os.replace(source, path)
            self._refs[path] = self._refs.get(path, 0) + 1

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
