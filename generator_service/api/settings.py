"""Typed settings of the HTTP service: CLI flags and `EXPOTION_*` environment variables.

`ServiceSettings` is built once (by the `serve` command, or by a test) and passed explicitly into
`create_app(config)`; nothing reads the environment later. `check()` enforces the safety rules:
a non-loopback bind needs a token, the media root must be an existing folder.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from expotion_protocol.hosts import is_loopback_host

from ..config import DEFAULT_MODEL, Precision, default_cache_dir
from ..errors import ConfigError


class ServiceSettings(BaseSettings):
    """Settings of `python -m generator_service serve` (env: EXPOTION_<NAME>, e.g. EXPOTION_PORT)."""

    model_config = SettingsConfigDict(env_prefix="EXPOTION_", extra="ignore", protected_namespaces=())

    host: str = Field("127.0.0.1", description="Address to bind. Anything but loopback requires `token`.")
    port: int = Field(8765, ge=0, le=65535, description="Port to listen on (0 picks a free one).")
    model: str = Field(
        DEFAULT_MODEL, description='Music model: a hub id, a local directory, or "tiny" (untrained test model).'
    )
    device: str | None = Field(
        None, description='Torch device ("cpu", "cuda", "cuda:1"); None picks cuda when available.'
    )
    precision: Precision = Field(
        "auto",
        description='Decoder precision (model/precision.py): "auto" = the fastest that passes the parity checks: int8 on CPUs with bf16 instructions (bf16 when the weights fail int8\'s check), bf16 on CUDA, else fp32.',
    )
    work_dir: Path = Field(
        default_factory=lambda: default_cache_dir() / "service",
        description="Job database, uploads, results and the feature cache live here.",
    )
    media_root: Path | None = Field(
        None, description="Path mode: jobs may name local files under this folder instead of uploading them."
    )
    token: str | None = Field(
        None, description="Bearer token every request must carry (required when `host` is not loopback)."
    )
    queue_size: int = Field(8, ge=1, le=10_000, description="Jobs that may wait behind the running one; more get 429.")
    idle_unload_s: float = Field(
        600.0, ge=-1, description="Seconds without a job before the model is unloaded (-1: keep it loaded)."
    )
    max_upload_mb: float = Field(1024.0, gt=0, description="Largest accepted request body (the video upload), in MiB.")
    upload_read_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="An upload from which no byte arrives for this many seconds is answered 408 and its partial file removed.",
    )
    max_concurrent_uploads: int = Field(
        64, ge=1, le=10_000, description="Uploads received at once; one more is answered 503 with Retry-After."
    )
    adapters_dir: Path | None = Field(
        None, description="Folder of adapters (one sub-folder each, holding expotion_config.json)."
    )
    allow_network: bool = Field(True, description="May the model hub be contacted for a model that is not cached?")
    allow_download: bool = Field(
        False, description="May a missing MediaPipe model file be downloaded from Google's official URL?"
    )
    feature_fps: float = Field(10.0, ge=1.0, le=60.0, description="Face/pose sampling rate of visual features.")
    max_attempts: int = Field(
        3,
        ge=1,
        le=100,
        description="Runs a job may start: a job left running by a crash is resumed at the next start until it has used this many, then it fails (a job that crashes the service every time).",
    )
    retention_days: float = Field(
        30.0,
        ge=-1,
        allow_inf_nan=False,
        description="Finished jobs and their results are removed this many days after their last use (finish or download); -1 keeps them forever.",
    )
    max_storage_mb: float = Field(
        10240.0,
        ge=-1,
        allow_inf_nan=False,
        description="Cap on the disk used by results and the feature cache, MiB (least recently used go first; -1: no cap).",
    )
    download_grace_s: float = Field(
        86400.0,
        ge=0,
        allow_inf_nan=False,
        description="A result downloaded less than this many seconds ago is never removed.",
    )
    cleanup_interval_s: float = Field(
        600.0, ge=1, allow_inf_nan=False, description="Seconds between retention sweeps (one also runs at start)."
    )
    file_ttl_s: float = Field(
        3600.0,
        gt=0,
        allow_inf_nan=False,
        description="Contract face (POST /v1/files): an upload no job took is removed after this many seconds, and a contract job's clip this long after the job ended unless its MP4 was fetched before.",
    )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def check(self) -> None:
        """Raise `ConfigError` naming the setting when the service must not start like this."""
        if self.idle_unload_s < 0 and self.idle_unload_s != -1:
            raise ConfigError(f"idle_unload: {self.idle_unload_s} must be -1 (never) or >= 0 seconds")
        for name, value in (("retention_days", self.retention_days), ("max_storage_mb", self.max_storage_mb)):
            if value <= 0 and value != -1:
                raise ConfigError(f"{name}: {value} must be -1 (no limit) or > 0")
        if not is_loopback_host(self.host) and not self.token:
            raise ConfigError(
                f"host: binding {self.host} exposes the service beyond this machine and needs a token",
                "Pass --token (or set EXPOTION_TOKEN) to a long random secret, or bind 127.0.0.1.",
            )
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("token: must be at least 8 characters", "Use a long random secret.")
        if self.media_root is not None and not self.media_root.is_dir():
            raise ConfigError(
                f"media_root: {self.media_root} is not a folder", "Pass an existing folder to --media-root."
            )
