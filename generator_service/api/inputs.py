"""The video input of a request: an uploaded file or, in path mode, a file under the media root.

`receive_video` stores an upload in the job service's upload store (content-addressed) or confines
a path to the media root: no `..` components, symlinks resolved before the containment check, a
regular file. `probe_range` then reads the video's facts and resolves `[start, end)` — a bad file or
range raises `VideoError` (422) before any job exists.
Thread rule: blocking file I/O; call from a worker thread (FastAPI runs sync routes in its pool).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO

from ..errors import VideoError
from ..jobs.errors import InputRejected
from ..jobs.service import JobService
from .schemas import JobParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInput:
    path: Path
    sha256: str
    uploaded: bool


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


def receive_video(service: JobService, media_root: Path | None, params: JobParams,
                  upload: BinaryIO | None, filename: str | None) -> VideoInput:
    """Exactly one of an upload and `params.path` -> the stored/confined video."""
    if (upload is None) == (params.path is None):
        raise InputRejected("send exactly one of a `video` file part and params.path",
                            "Upload the video as the `video` part, or (path mode) name it in params.path.")
    if upload is None:
        path = confine(media_root, params.path or "")
        return VideoInput(path, service.hashes(path), uploaded=False)
    path, digest, size = service.uploads.store(upload, filename)
    if size == 0:
        service.uploads.release(path)
        raise VideoError(f"the uploaded video {filename or ''!r} is empty (0 bytes)",
                         "Upload the movie file itself; it may not have been saved yet.")
    service.hashes.remember(path, digest)
    return VideoInput(path, digest, uploaded=True)


def probe_range(video: VideoInput, params: JobParams, label: str | None) -> tuple[float, float]:
    """Probe the video and resolve the requested range -> (start, end); `VideoError` names the upload."""
    from ..pipeline.video import probe_video, resolve_range

    try:
        return resolve_range(probe_video(video.path), params.start, params.resolved_end())
    except VideoError as exc:
        if video.uploaded:  # name the user's file, not the service's content-addressed copy
            message = exc.message.replace(str(video.path), f"uploaded video {label or 'file'!r}")
            raise VideoError(message, exc.hint) from exc
        raise
