"""Job records: what a job asks for (`JobSpec`) and where it stands (`JobRecord`).

Both are plain data with a JSON form (`to_json` / `from_json`) so the SQLite store and the HTTP
layer share one shape. Thread rule: a `JobRecord` is mutated only under the board's lock.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import Any

from expotion_protocol.params import GUIDANCE_OFF, JobParams
from expotion_protocol.shapes import ACTIVE_STATUSES as ACTIVE
from expotion_protocol.shapes import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED
from expotion_protocol.shapes import TERMINAL_STATUSES as TERMINAL

from .. import __version__

__all__ = [
    "ACTIVE",
    "CANCELLED",
    "CANCELLED_ERROR",
    "CANCELLED_HINT",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "TERMINAL",
    "JobRecord",
    "InputFile",
    "JobSpec",
    "new_error_id",
    "new_job_id",
]

#: Error and hint of a job cancelled on request.
CANCELLED_ERROR = "cancelled on request"
CANCELLED_HINT = "Submit the job again when you want the result."


def new_job_id() -> str:
    return "j-" + secrets.token_hex(8)


def new_error_id() -> str:
    return "e-" + secrets.token_hex(6)


#: Fields of `JobParams` that a spec holds resolved (`start`, `end`) or not at all (the paths are
#: `video` and `melody.path`).
_RANGE_FIELDS = ("start", "end", "duration", "path", "melody_path")


@dataclass(frozen=True)
class InputFile:
    """A file a job reads besides its video (the melody temp): where it is, its SHA-256, and
    whether it is a service-owned upload (released when the job ends) or a user's path-mode file."""

    path: str
    sha256: str
    uploaded: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JobSpec:
    """A validated request: the stored video, how to generate (`params`, with its range resolved:
    `start` and `end` set, no `duration`, no `path`, no `melody_path`), the model, who owns the
    video, and the melody temp the music follows (None: none; `params.melody_start` says from where)."""

    video: str
    video_sha256: str
    params: JobParams
    #: The model the service generates with (part of the cache key).
    model: str = ""
    #: Whether `video` is a service-owned upload (released when the job ends) or a user's file.
    uploaded: bool = True
    #: The decoder precision the service generates at (part of the cache key; "" before it was recorded).
    precision: str = ""
    melody: InputFile | None = None

    @classmethod
    def create(
        cls,
        params: JobParams | None = None,
        *,
        video: str,
        video_sha256: str,
        start: float,
        end: float,
        model: str = "",
        uploaded: bool = True,
        precision: str = "",
        melody: InputFile | None = None,
        **fields: Any,
    ) -> JobSpec:
        """A spec for the resolved range `[start, end)` of `video`; `fields` override `params`' values."""
        resolved = replace(
            params or JobParams(), **fields, start=start, end=end, duration=None, path=None, melody_path=None
        )
        return cls(video, video_sha256, resolved.validate(), model, uploaded, precision, melody)

    def inputs(self) -> list[InputFile]:
        """Every file the job reads: its video, then its melody temp if any."""
        return [InputFile(self.video, self.video_sha256, self.uploaded), *([self.melody] if self.melody else [])]

    @property
    def start(self) -> float:
        return self.params.start

    @property
    def end(self) -> float:
        assert self.params.end is not None  # set by `create`
        return self.params.end

    def cache_key(self, feature_spec: str = "") -> str:
        """Identical inputs, seed and parameters -> the same key (the video by content, not path)."""
        fields = asdict(self.params)
        for name in _RANGE_FIELDS:
            fields.pop(name)
        if self.params.visual_guidance <= GUIDANCE_OFF:  # off: keys stay those of results made before the field
            fields.pop("visual_guidance")
        if self.melody is None:  # no melody: keys stay those of results made before the melody fields
            fields.pop("melody_start")
        else:  # the temp by content, not path
            fields["melody_sha256"] = self.melody.sha256
        fields |= {
            "video_sha256": self.video_sha256,
            "model": self.model,
            "start": round(self.start, 6),
            "end": round(self.end, 6),
        }
        if self.precision:  # results of another precision are other music
            fields["precision"] = self.precision
        reads_video = self.params.auto_prompt or self.params.adapter or self.params.reads_motion
        fields["features"] = feature_spec if reads_video else ""
        fields["version"] = __version__
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "video_sha256": self.video_sha256,
            "params": asdict(self.params),
            "model": self.model,
            "uploaded": self.uploaded,
            "precision": self.precision,
            "melody": None if self.melody is None else self.melody.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobSpec:
        """Also reads the flat form stores written before 0.2 (parameters beside `video`)."""
        data = dict(data)
        params = data.pop("params", None)
        if params is None:
            names = {f.name for f in dataclass_fields(JobParams)}
            params = {k: data.pop(k) for k in list(data) if k in names}
        return cls(
            data["video"],
            data["video_sha256"],
            JobParams(**params),
            data.get("model", ""),
            data.get("uploaded", True),
            data.get("precision", ""),
            None if not data.get("melody") else InputFile(**data["melody"]),
        )


@dataclass
class JobRecord:
    """One job's state. `progress` is 0..1 over the whole job; `phase` names the current step."""

    id: str
    spec: JobSpec
    status: str = QUEUED
    phase: str = ""
    progress: float = 0.0
    eta_s: float | None = None
    error: str | None = None
    hint: str | None = None
    error_id: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    #: The result metadata (JSON) once the job succeeded.
    result: dict[str, Any] | None = None
    #: Key of identical requests (`JobSpec.cache_key`); not part of the public JSON.
    cache_key: str = ""
    #: Runs of this job whose own work began (after the model loaded; a run handed back by a clean
    #: shutdown does not count).
    attempts: int = 0
    #: How often the job was resumed after the service stopped while it was queued or running.
    resumed: int = 0
    #: When its result was last downloaded (retention keeps recently downloaded results).
    downloaded: float | None = None
    #: When its result files were removed to respect the storage cap (the record stays).
    expired: float | None = None
    #: A DELETE asked for the job to stop (persisted first: it ends cancelled even across a restart).
    cancel_requested: bool = False
    #: The client's `Idempotency-Key` of the POST that created it (the same key answers this job).
    idempotency_key: str | None = None
    #: Bumped on every change (server-sent events compare it).
    version: int = 0
    #: While phase is "download": bytes of the model's files fetched so far / to fetch (not stored).
    bytes_done: int | None = None
    bytes_total: int | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def public(self) -> dict[str, Any]:
        """The status JSON of `GET /v1/jobs/{id}` (docs/http-api.md)."""
        return {
            "id": self.id,
            "status": self.status,
            "phase": self.phase,
            "progress": round(self.progress, 4),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 2),
            "error": self.error,
            "hint": self.hint,
            "created": self.created,
            "result": self.result if self.status == SUCCEEDED else None,
            "attempts": self.attempts,
            "resumed": self.resumed,
            "bytes_done": self.bytes_done if self.phase == "download" else None,
            "bytes_total": self.bytes_total if self.phase == "download" else None,
        }
