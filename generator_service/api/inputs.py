"""The video input of a request: an uploaded file or, in path mode, a file under the media root.

`receive_video` takes the upload `read_job_form` already stored (content-addressed, see
jobs/uploads.py) or opens `params.path` confined to the media root and hashes it (jobs/media_root.py).
`probe_range` then reads the video's facts and resolves `[start, end)` — a bad file or range raises
`VideoError` (422) before any job exists; `analyze_range` runs the analyzer on it. Both read a
path-mode file through `JobService.open_video`, which checks it again (same file, same content,
still inside the root). The caller keeps the upload's reference and releases it on failure.
`receive_melody` does the same for a job's melody temp (the `melody` part or `params.melody_path`,
at most one) and `probe_melody` reads it as audio, `melody_start` inside it, before any job exists.
Thread rule: blocking file I/O; call from a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expotion_protocol.params import JobParams

from ..errors import ConfigError, VideoError
from ..jobs.analyzer import Analyzer
from ..jobs.errors import InputRejected
from ..jobs.media_root import open_confined
from ..jobs.records import InputFile
from ..jobs.service import JobService
from ..jobs.uploads import StoredUpload

#: Name of the melody temp's path-mode field in refusals.
MELODY_PATH_FIELD = "params.melody_path"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInput:
    path: Path
    sha256: str
    uploaded: bool


def warm_up(service: JobService) -> None:
    """Pay the submit path's one-time costs before the first request does: the video probe's
    imports and the precision a job records (which imports torch). Measured: without this the
    first `POST /v1/jobs` after a start took ~1.1-1.6 s, the next ones ~40 ms."""
    from ..pipeline import video  # noqa: F401  (probe_video's imports: PyAV, numpy)

    _ = service.holder.precision


def receive_video(
    service: JobService, params: JobParams, upload: StoredUpload | None, filename: str | None
) -> VideoInput:
    """Exactly one of an upload and `params.path` -> the stored/confined video."""
    if (upload is None) == (params.path is None):
        raise InputRejected(
            "send exactly one of a `video` file part and params.path",
            "Upload the video as the `video` part, or (path mode) name it in params.path.",
        )
    if upload is None:
        with open_confined(service.media_root, params.path or "", service.hashes, scratch=service.staging) as opened:
            return VideoInput(opened.path, opened.sha256, uploaded=False)
    if upload.size == 0:
        raise VideoError(
            f"the uploaded video {filename or ''!r} is empty (0 bytes)",
            "Upload the movie file itself; it may not have been saved yet.",
        )
    service.hashes.remember(upload.path, upload.sha256)
    return VideoInput(upload.path, upload.sha256, uploaded=True)


def probe_range(service: JobService, video: VideoInput, params: JobParams, label: str | None) -> tuple[float, float]:
    """Probe the video and resolve the requested range -> (start, end); `VideoError` names the upload."""
    from ..pipeline.video import probe_video, resolve_range

    try:
        with service.open_video(str(video.path), video.sha256, video.uploaded) as readable:
            return resolve_range(probe_video(readable), params.start, params.resolved_end())
    except VideoError as exc:
        if video.uploaded:  # name the user's file, not the service's content-addressed copy
            message = exc.message.replace(str(video.path), f"uploaded video {label or 'file'!r}")
            raise VideoError(message, exc.hint) from exc
        raise


def analyze_range(
    service: JobService, analyzer: Analyzer, video: VideoInput, start: float, end: float
) -> dict[str, Any]:
    """The analysis of `[start, end)` of the video accepted for an analyze request."""
    with service.open_video(str(video.path), video.sha256, video.uploaded) as readable:
        return analyzer(readable, start, end)


def receive_melody(
    service: JobService, params: JobParams, upload: StoredUpload | None, filename: str | None
) -> InputFile | None:
    """At most one of a `melody` upload and `params.melody_path` -> the stored/confined temp (None:
    no melody; then `melody_start` must be 0)."""
    if upload is not None and params.melody_path is not None:
        raise InputRejected(
            "send at most one of a `melody` file part and params.melody_path",
            "Upload the temp track as the `melody` part, or (path mode) name it in params.melody_path.",
        )
    if upload is None and params.melody_path is None:
        if params.melody_start > 0:
            raise ConfigError(
                f"melody_start: {params.melody_start} s given without a melody",
                "Send the temp track as the `melody` part (or params.melody_path), or leave out melody_start.",
            )
        return None
    if upload is None:
        with open_confined(
            service.media_root,
            params.melody_path or "",
            service.hashes,
            scratch=service.staging,
            field=MELODY_PATH_FIELD,
        ) as opened:
            return InputFile(str(opened.path), opened.sha256, uploaded=False)
    if upload.size == 0:
        raise ConfigError(
            f"melody: the uploaded temp track {filename or ''!r} is empty (0 bytes)",
            "Upload the audio file itself; it may not have been saved yet.",
        )
    service.hashes.remember(upload.path, upload.sha256)
    return InputFile(str(upload.path), upload.sha256, uploaded=True)


def probe_melody(service: JobService, melody: InputFile, start: float, label: str | None) -> None:
    """Read the temp as audio and check `start` lies inside it; `ConfigError` names the user's file."""
    from ..audio import MusicFileError
    from ..pipeline.melody_input import MelodyRequest

    with service.open_video(melody.path, melody.sha256, melody.uploaded, field=MELODY_PATH_FIELD) as readable:
        try:
            MelodyRequest(readable, start).check()
        except MusicFileError as exc:
            name = f"uploaded temp track {label or 'file'!r}" if melody.uploaded else f"temp track {melody.path}"
            raise ConfigError(f"melody: the {name} cannot be read as audio", exc.hint) from exc
        except ConfigError as exc:  # melody_start past the temp's end
            raise ConfigError(exc.message, "Give melody_start within the temp track (seconds from its start).") from exc
