"""Job records: what a job asks for (`JobSpec`) and where it stands (`JobRecord`).

Both are plain data with a JSON form (`to_json` / `from_json`) so the SQLite store and the HTTP
layer share one shape. Thread rule: a `JobRecord` is mutated only under the board's lock.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import __version__

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
ACTIVE = frozenset({QUEUED, RUNNING})


def new_job_id() -> str:
    return "j-" + secrets.token_hex(8)


def new_error_id() -> str:
    return "e-" + secrets.token_hex(6)


@dataclass(frozen=True)
class JobSpec:
    """A validated request: the stored video, its resolved `[start, end)` range, how to generate."""

    video: str
    video_sha256: str
    start: float
    end: float
    prompt: str = ""
    auto_prompt: bool = False
    seed: int = 0
    variants: int = 1
    top_k: int = 250
    temperature: float = 1.0
    guidance: float = 3.0
    #: Guidance on the visual condition (with an adapter; <= 1 means none).
    visual_guidance: float = 1.0
    adapter: str | None = None
    #: The model the service generates with (part of the cache key).
    model: str = ""
    #: Whether `video` is a service-owned upload (released when the job ends) or a user's file.
    uploaded: bool = True

    def cache_key(self, feature_spec: str = "") -> str:
        """Identical inputs, seed and parameters -> the same key (the video by content, not path)."""
        fields = asdict(self)
        for name in ("video", "uploaded"):
            fields.pop(name)
        if self.visual_guidance <= 1.0:  # off: keys stay those of results made before the field existed
            fields.pop("visual_guidance")
        fields["start"], fields["end"] = round(self.start, 6), round(self.end, 6)
        fields["features"] = feature_spec if self.auto_prompt or self.adapter else ""
        fields["version"] = __version__
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobSpec:
        return cls(**data)


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
    #: Runs of this job started so far (a run handed back by a clean shutdown does not count).
    attempts: int = 0
    #: How often the job was resumed after the service stopped while it was queued or running.
    resumed: int = 0
    #: When its result was last downloaded (retention keeps recently downloaded results).
    downloaded: float | None = None
    #: When its result files were removed to respect the storage cap (the record stays).
    expired: float | None = None
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
            "id": self.id, "status": self.status, "phase": self.phase, "progress": round(self.progress, 4),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 2), "error": self.error,
            "hint": self.hint, "created": self.created,
            "result": self.result if self.status == SUCCEEDED else None,
            "attempts": self.attempts, "resumed": self.resumed,
            "bytes_done": self.bytes_done if self.phase == "download" else None,
            "bytes_total": self.bytes_total if self.phase == "download" else None,
        }
