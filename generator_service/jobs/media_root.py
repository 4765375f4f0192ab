"""Path mode: a job may name a file under the service's media root instead of uploading it.

`confine` resolves the named path and accepts it only inside the media root: no `..` components,
symlinks resolved before the containment check, a regular file. It runs on submit and again when a
job of a previous process is resumed (the media root may have changed since).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from .errors import InputRejected


def confine(media_root: Path | None, raw: str) -> Path:
    """The real path of `raw` (absolute, or relative to the root) if it is a file inside `media_root`."""
    if media_root is None:
        raise InputRejected("path mode is off: this service accepts uploads only",
                            "Upload the file as the `video` part, or start the service with --media-root.")
    if "\x00" in raw or not raw.strip():
        raise InputRejected("params.path is empty or contains a NUL byte")
    given = PurePath(raw)
    if ".." in given.parts:
        raise InputRejected(f"params.path {raw!r} contains '..'", "Send the file's plain path under the media root.")
    root = Path(os.path.realpath(media_root))
    real = Path(os.path.realpath(given if given.is_absolute() else root / given))
    if not real.is_relative_to(root):
        raise InputRejected(f"params.path {raw!r} lies outside the media root {media_root}",
                            "Move or link the file under the media root (links must stay inside it).")
    if not real.is_file():
        raise InputRejected(f"params.path {raw!r} is not an existing file under the media root",
                            "Check the path; it is resolved on the service's machine.")
    return real
