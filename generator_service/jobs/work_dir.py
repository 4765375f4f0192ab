"""The work dir's fitness, checked before a service uses it: a folder (made when missing) on a disk
with room, that this process can write, holding a job database it can write.

A service that cannot keep what it accepts must not start: before this check a read-only work dir
with an existing database started `ready: true` and answered 500 to every submit, and a file in the
folder's place ended in a traceback. `check_work_dir` raises `WorkDirError` (a `ConfigError`: the
CLI prints it with its hint and exits 2) naming what is wrong and what to do.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from ..errors import ConfigError

#: Free space the work dir's disk must have at start: an upload, a few results and the database's
#: growth (a 30 s take at 32 kHz is ~2 MB). Below it the start is refused rather than jobs failing.
MIN_FREE_BYTES = 16 * 2**20

_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


class WorkDirError(ConfigError):
    """The work dir cannot hold the service's jobs (not a folder, not writable, full)."""

    hint = "Point --work-dir (EXPOTION_WORK_DIR) at a writable folder on a disk with free space; it is made if missing."


def _why(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "it is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "this process may not write there (permission denied)"
    if exc.errno in _FULL:
        return "its disk (or quota) is full"
    return exc.strerror or str(exc)


def _hint(exc: OSError) -> str:
    if exc.errno in _FULL:
        return "Free disk space there, or point --work-dir (EXPOTION_WORK_DIR) at a disk with room."
    if exc.errno in _READ_ONLY:
        return (
            "Mount it read-write or give this user write access (e.g. chown/chmod), or point --work-dir "
            "(EXPOTION_WORK_DIR) at a writable folder."
        )
    return WorkDirError.hint


def check_work_dir(work_dir: Path, *, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Make `work_dir` if missing and prove it can hold jobs; `WorkDirError` with a hint if not."""
    if work_dir.exists() and not work_dir.is_dir():
        raise WorkDirError(
            f"work dir: {work_dir} is a file, not a folder",
            "Point --work-dir (EXPOTION_WORK_DIR) at a folder (it is made if missing), or move the file away.",
        )
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkDirError(f"work dir: {work_dir} cannot be made: {_why(exc)}", _hint(exc)) from exc
    _probe_write(work_dir)
    _probe_database(work_dir / "jobs.sqlite3")
    free = shutil.disk_usage(work_dir).free
    if free < min_free_bytes:
        raise WorkDirError(
            f"work dir: {work_dir} has {free / 2**20:.1f} MiB free; the service needs at least "
            f"{min_free_bytes / 2**20:.0f} MiB to keep uploads and results",
            "Free disk space there, or point --work-dir (EXPOTION_WORK_DIR) at a disk with room.",
        )


def _probe_write(work_dir: Path) -> None:
    """Write, sync and remove a small file: permissions, read-only mounts and a full disk show here."""
    probe = work_dir / f".write-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as out:
            out.write(b"\0" * 4096)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise WorkDirError(f"work dir: {work_dir} cannot be written: {_why(exc)}", _hint(exc)) from exc
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass  # nothing was made (read-only): nothing to remove


def _probe_database(path: Path) -> None:
    """An existing job database must take a write (rolled back): a read-only file or a folder
    where its journal cannot be made would otherwise fail every submit after a `ready` start."""
    if not path.exists():
        return
    try:
        db = sqlite3.connect(str(path), isolation_level=None, timeout=10)
    except sqlite3.Error as exc:
        raise WorkDirError(f"work dir: the job database {path} cannot be opened: {exc}") from exc
    try:
        db.execute("BEGIN IMMEDIATE")
        (user_version,) = db.execute("PRAGMA user_version").fetchone()
        db.execute(f"PRAGMA user_version = {int(user_version)}")  # a write to the header page
        db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise WorkDirError(
            f"work dir: the job database {path} cannot be written: {exc}",
            "Make the database file and its folder writable for this user (a read-only copy cannot "
            "take jobs), or point --work-dir (EXPOTION_WORK_DIR) at a writable folder.",
        ) from exc
    finally:
        db.close()
