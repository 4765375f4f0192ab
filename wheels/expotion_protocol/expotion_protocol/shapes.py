"""The response shapes of the HTTP API v1 (docs/http-api.md): health, models, job status, results, errors.

Each shape is declared once, here. The service returns these (its routes use them as response
models, so /openapi.json describes exactly them); the extension reads them with `from_json`, which
is lenient with fields a service of another version may lack and strict with the fields it needs
(`ProtocolError` naming the field).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import ProtocolError

API_PREFIX = "/v1"
#: MusicGen's sample rate: every result is exactly round(duration * SAMPLE_RATE) samples.
SAMPLE_RATE = 32000
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL_STATUSES = frozenset({SUCCEEDED, FAILED, CANCELLED})
ACTIVE_STATUSES = frozenset({QUEUED, RUNNING})
JOB_STATUSES = ACTIVE_STATUSES | TERMINAL_STATUSES
#: Versions of Pallaidium's "Backend Contract" the service speaks (its contract face).
CONTRACT_VERSIONS = ("v0.1",)


def expected_samples(duration_s: float) -> int:
    """Number of samples the service returns for `duration_s` seconds: round(d * 32000)."""
    return round(duration_s * SAMPLE_RATE)


def _require(data: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise ProtocolError(f"{where}: missing field '{key}'")
    value = data[key]
    if not isinstance(value, kind):
        raise ProtocolError(f"{where}: field '{key}' is {type(value).__name__}, expected {kind}")
    return value


def _count(value: Any) -> int | None:
    """A byte count from JSON (absent, null or not a whole number: None)."""
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass(frozen=True)
class Health:
    """`GET /v1/health`."""

    status: str
    version: str
    device: str = ""
    model: str = ""
    model_loaded: bool = False
    untrained: bool = False
    queue_depth: int = 0
    queue_limit: int = 0
    path_mode: bool = False
    #: A job can run now: the worker is alive and the model's weights are here or may be downloaded.
    ready: bool = True
    #: The model's weights are on the service's machine (False: the first job downloads them).
    model_available: bool = True
    #: What to do while not ready, or what the first job will do; empty otherwise.
    hint: str = ""
    #: Numeric precision the service generates in, e.g. "bf16" (empty from services that don't say).
    precision: str = ""
    #: Versions of Pallaidium's backend contract the service speaks.
    contract_versions: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> Health:
        status = _require(data, "status", str, "health")
        return cls(
            status=status,
            version=_require(data, "version", str, "health"),
            device=str(data.get("device", "")),
            model=str(data.get("model", "")),
            model_loaded=bool(data.get("model_loaded", False)),
            untrained=bool(data.get("untrained", False)),
            queue_depth=int(data.get("queue_depth", 0)),
            queue_limit=int(data.get("queue_limit", 0)),
            path_mode=bool(data.get("path_mode", False)),
            ready=bool(data.get("ready", status == "ok")),
            model_available=bool(data.get("model_available", True)),
            hint=str(data.get("hint") or ""),
            precision=str(data.get("precision") or ""),
            contract_versions=tuple(str(v) for v in data.get("contract_versions") or ()),
        )

    def refusal(self) -> str:
        """Why no job can succeed now (empty when one can)."""
        if self.ready:
            return ""
        return f"The Expotion service is not ready: {self.hint or self.status}"


@dataclass(frozen=True)
class Models:
    """`GET /v1/models`: the base model and the adapters the service can load (`adapters`: names)."""

    base_model: str
    adapters: tuple[str, ...] = ()
    untrained: bool = False
    licence: str = ""

    @classmethod
    def from_json(cls, data: Any) -> Models:
        adapters = _require(data, "adapters", list, "models")
        names = tuple(str(_require(a, "name", str, "models.adapters[]")) for a in adapters)
        return cls(
            base_model=_require(data, "base_model", str, "models"),
            adapters=names,
            untrained=bool(data.get("untrained", False)),
            licence=str(data.get("licence", "")),
        )


@dataclass(frozen=True)
class JobResult:
    """The `result` object of a succeeded job (also `X-Expotion-Metadata`), as a client reads it."""

    takes: int
    sample_rate: int
    num_samples: int
    duration_s: float
    seeds: tuple[int, ...]
    prompt_used: str = ""
    model: str = ""
    adapter: str | None = None
    untrained: bool = False
    visual: str = "present"
    cached: bool = False
    version: str = ""
    #: Further scalar facts the service reports (e.g. `precision`, the beat lock's mode `beat_lock`, `note`).
    details: dict[str, str | int | float | bool] = field(default_factory=dict)
    #: The beat lock's report of each take (mode, locked, reason, stretch range, alignment before/after).
    lock: tuple[dict[str, Any], ...] = ()
    #: The hit points the service used ({t, kind, strength}, t in seconds from the range's start).
    hits: tuple[dict[str, Any], ...] = ()
    #: A job that followed a temp track: the temp used and how closely each take follows its melody,
    #: measured (`follows`, `takes`: [{chroma_similarity, chance, chance_max, frames, follows}]); else None.
    melody: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Any) -> JobResult:
        seeds = _require(data, "seeds", list, "result")
        known = {f.name for f in dataclasses.fields(cls)} | {"model", "start", "end", "job_id"}

        def objects(key: str) -> tuple[dict[str, Any], ...]:
            value = data.get(key)
            return tuple(v for v in value if isinstance(v, dict)) if isinstance(value, list) else ()

        details = {
            str(k): v for k, v in data.items() if k not in known and isinstance(v, (str, int, float, bool)) and v != ""
        }
        return cls(
            takes=int(_require(data, "takes", int, "result")),
            sample_rate=int(_require(data, "sample_rate", int, "result")),
            num_samples=int(_require(data, "num_samples", int, "result")),
            duration_s=float(_require(data, "duration_s", (int, float), "result")),
            seeds=tuple(int(s) for s in seeds),
            prompt_used=str(data.get("prompt_used") or ""),
            model=str(data.get("model") or ""),
            adapter=data.get("adapter"),
            untrained=bool(data.get("untrained", False)),
            visual=str(data.get("visual") or "present"),
            cached=bool(data.get("cached", False)),
            version=str(data.get("version") or ""),
            details=details,
            lock=objects("lock"),
            hits=objects("hits"),
            melody=data["melody"] if isinstance(data.get("melody"), dict) else None,
        )


@dataclass(frozen=True)
class JobStatus:
    """`GET /v1/jobs/{id}` and every `progress`/`done` server-sent event.

    `result` is the result's JSON as the service wrote it (null until the job succeeded; it may
    carry more keys than `JobResult` names); `outcome` is its typed reading."""

    id: str
    status: str
    phase: str = ""
    progress: float = 0.0
    eta_s: float | None = None
    error: str | None = None
    hint: str | None = None
    created: float = 0.0
    result: dict[str, Any] | None = None
    #: Runs of the job that started and were not handed back by a clean stop.
    attempts: int = 0
    #: Times the job was resumed after the service restarted.
    resumed: int = 0
    #: Phase "download": bytes of the model's files fetched so far / to fetch.
    bytes_done: int | None = None
    bytes_total: int | None = None
    #: Jobs of the contract face (Pallaidium): the file to fetch once it succeeded.
    file_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def outcome(self) -> JobResult | None:
        return JobResult.from_json(self.result) if self.result else None

    @classmethod
    def from_json(cls, data: Any) -> JobStatus:
        status = _require(data, "status", str, "job")
        if status not in JOB_STATUSES:
            raise ProtocolError(f"job: unknown status '{status}'")
        raw_result = data.get("result")
        if raw_result is not None and not isinstance(raw_result, dict):
            raise ProtocolError("job: field 'result' is not an object")
        eta = data.get("eta_s")
        status_obj = cls(
            id=_require(data, "id", str, "job"),
            status=status,
            phase=str(data.get("phase") or ""),
            progress=min(1.0, max(0.0, float(data.get("progress") or 0.0))),
            eta_s=float(eta) if isinstance(eta, (int, float)) else None,
            error=data.get("error"),
            hint=data.get("hint"),
            created=float(data.get("created") or 0.0),
            result=raw_result or None,
            attempts=_count(data.get("attempts")) or 0,
            resumed=_count(data.get("resumed")) or 0,
            bytes_done=_count(data.get("bytes_done")),
            bytes_total=_count(data.get("bytes_total")),
            file_id=data.get("file_id") if isinstance(data.get("file_id"), str) else None,
        )
        status_obj.outcome  # noqa: B018 -- a malformed result is refused here, not later
        return status_obj


@dataclass(frozen=True)
class ErrorBody:
    """The JSON every 4xx/5xx carries: `{detail, hint, error_id}`."""

    detail: str
    hint: str = ""
    error_id: str = ""

    @classmethod
    def parse(cls, status: int, body: bytes) -> ErrorBody:
        """Best effort: a non-JSON body (a proxy's HTML page) still gives a readable detail."""
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            text = body[:200].decode("utf-8", "replace").strip()
            return cls(detail=f"HTTP {status}: {text or 'no body'}")
        if not isinstance(data, dict):
            return cls(detail=f"HTTP {status}: {data!r}")
        detail = data.get("detail")
        if not isinstance(detail, str):  # FastAPI validation errors carry a list
            detail = json.dumps(detail) if detail is not None else f"HTTP {status}"
        return cls(detail=detail, hint=str(data.get("hint") or ""), error_id=str(data.get("error_id") or ""))
