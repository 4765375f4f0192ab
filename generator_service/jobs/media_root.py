"""Path mode: a job may name a file under the service's media root instead of uploading it.

`confine` resolves the named path and accepts it only inside the media root: no `..` components,
symlinks resolved before the containment check, a regular file. It checks a *name*; a name can be
swapped (a file replaced by a symlink leading out, a folder by a link elsewhere) at any moment after.

`open_confined` is therefore what every read goes through (submit, probe, run, analyze): it opens
the confined file once (`O_NOFOLLOW` on the last component, no blocking on a FIFO), then checks what
was opened — a regular file, and the very inode (device, inode number) that the name resolves to
*now*, inside the root as resolved when the service started — hashes it through the descriptor and
compares the SHA-256 recorded when the job was submitted. The pipeline then reads a path bound to
that open file (`/proc/self/fd/N`, which re-opens the same inode whatever happens to the name), or,
on a system without one, a private copy in the work dir made and hashed in one pass. A swap after
the check cannot redirect the read; a swap before it, or a changed file, raises `MediaChanged`
naming the media root.
Not stopped here: a hard link inside the root to a file elsewhere *is* a file inside the root; a
file rewritten in place after the check is read as it is then (it is still the file inside the root).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath

from ..errors import VideoError
from ..hashing import ContentHashes
from .errors import InputRejected, MediaChanged
from .uploads import safe_suffix

#: Where this system names open descriptors (a path that re-opens the same file, not the same name).
FD_DIR = Path("/proc/self/fd")

_CHUNK = 1 << 20
_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def confine(media_root: Path | None, raw: str, field: str = "params.path") -> Path:
    """The real path of `raw` (absolute, or relative to the root) if it is a file inside `media_root`;
    refusals name the request's `field`."""
    if media_root is None:
        raise InputRejected(
            "path mode is off: this service accepts uploads only",
            "Upload the file as its form part (`video`, `melody`), or start the service with --media-root.",
        )
    if "\x00" in raw or not raw.strip():
        raise InputRejected(f"{field} is empty or contains a NUL byte")
    given = PurePath(raw)
    if ".." in given.parts:
        raise InputRejected(f"{field} {raw!r} contains '..'", "Send the file's plain path under the media root.")
    root = Path(os.path.realpath(media_root))
    real = Path(os.path.realpath(given if given.is_absolute() else root / given))
    if not real.is_relative_to(root):
        raise InputRejected(
            f"{field} {raw!r} lies outside the media root {media_root}",
            "Move or link the file under the media root (links must stay inside it).",
        )
    if not real.is_file():
        raise InputRejected(
            f"{field} {raw!r} is not an existing file under the media root",
            "Check the path; it is resolved on the service's machine.",
        )
    return real


@dataclass(frozen=True)
class ConfinedFile:
    """A path-mode file opened by `open_confined`."""

    #: Its real path under the media root (the name users know it by).
    path: Path
    #: Where to read it: bound to the opened file, not to its name.
    readable: Path
    sha256: str


@contextmanager
def open_confined(
    media_root: Path | None,
    raw: str,
    hashes: ContentHashes,
    *,
    expected_sha256: str | None = None,
    scratch: Path,
    field: str = "params.path",
) -> Iterator[ConfinedFile]:
    """Open `raw` under `media_root` once and check what was opened (see the module docstring).

    `media_root` is a real path, resolved once when the service started (`JobService.media_root`):
    the opened file must lie under that folder, whatever the configured path names now.

    `hashes` hashes the opened file (and remembers a private copy's hash); `scratch` holds private
    copies where the system has no `FD_DIR`. `expected_sha256` is the hash recorded when the file
    was accepted (None at submit: nothing to compare with yet). Raises `InputRejected` (`MediaChanged`
    when the file changed or left the root); a `VideoError` raised inside the block names `path`,
    not `readable`. Refusals name the request's `field` (`params.path`, `params.melody_path`).
    """
    try:
        real = confine(media_root, raw, field)
    except InputRejected as exc:
        if expected_sha256 is None:  # nothing was accepted yet: the plain refusal
            raise
        named = "" if str(media_root) in exc.message else f" (media root {media_root})"
        raise MediaChanged(f"the video {raw} changed since it was accepted: {exc.message}{named}") from exc
    root = Path(media_root or "")  # as resolved at start: a root swapped for a link since then serves nothing
    fd = _open(real, root)
    try:
        _check_opened(fd, real, root)
        readable = _bound_path(fd)
        copy: Path | None = None
        if readable is None:
            copy, digest = _private_copy(fd, scratch, safe_suffix(real.name))
            hashes.remember(copy, digest)
            readable = copy
        else:
            digest = hashes.of_descriptor(fd)
        try:
            if expected_sha256 is not None and digest != expected_sha256:
                raise MediaChanged(
                    f"the video {real} under the media root {root} changed since it was accepted (its SHA-256 differs)"
                )
            yield ConfinedFile(real, readable, digest)
        except VideoError as exc:
            raise VideoError(exc.message.replace(str(readable), str(real)), exc.hint) from exc
        finally:
            if copy is not None:
                copy.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _open(real: Path, root: Path) -> int:
    try:
        return os.open(real, _FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # the last component became a symlink (EMLINK on BSDs)
            raise MediaChanged(
                f"the video {real} was replaced by a symbolic link after it was checked; the media "
                f"root {root} only serves files inside it"
            ) from exc
        raise MediaChanged(f"the video {real} under the media root {root} cannot be opened: {exc.strerror}") from exc


def _check_opened(fd: int, real: Path, root: Path) -> None:
    """The opened file must be a regular file and the one its name leads to now, inside the root."""
    opened = os.fstat(fd)
    now = Path(os.path.realpath(real))
    try:
        named = os.stat(now)
    except OSError:
        named = None
    if (
        not stat.S_ISREG(opened.st_mode)
        or not now.is_relative_to(root)
        or named is None
        or not os.path.samestat(opened, named)
    ):
        raise MediaChanged(
            f"the video {real} changed while it was opened (it leads elsewhere now, or is no "
            f"regular file); the media root {root} only serves files inside it"
        )


def _bound_path(fd: int) -> Path | None:
    """`FD_DIR/fd` where that names the opened file itself, else None."""
    path = FD_DIR / str(fd)
    try:
        return path if os.path.samestat(os.stat(path), os.fstat(fd)) else None
    except OSError:
        return None


def _private_copy(fd: int, scratch: Path, suffix: str) -> tuple[Path, str]:
    """Copy the open file into `scratch`, hashing the bytes copied -> (copy, SHA-256)."""
    scratch.mkdir(parents=True, exist_ok=True)
    out, name = tempfile.mkstemp(dir=scratch, prefix=".media-", suffix=suffix)
    digest = hashlib.sha256()
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        with os.fdopen(out, "wb") as copy:
            while chunk := os.read(fd, _CHUNK):
                digest.update(chunk)
                copy.write(chunk)
    except OSError:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name), digest.hexdigest()
