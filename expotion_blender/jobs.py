"""Plain-data job records and the steps that run one job against the service.

Owns: `JobRequest` (everything an operator snapshots: parameters, the file to send, where the result
goes), `JobState` (what the UI shows), and the HTTP steps submit -> wait -> fetch takes, plus a
synchronous runner for background mode. Imports no `bpy`; the steps run on the worker thread (or on
the calling thread in background mode) and never touch Blender data.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from . import wavfile
from .client import Client, ClientSettings, JobFailed, finished_result
from .protocol import ExpotionError, JobParams, JobResult, JobStatus, ProtocolError, expected_samples, read_wav_info

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Where the result goes: the video strip (found again by key, then name) and, for a
    regeneration, the sound strip it replaces. Frames are the strip's visible range at snapshot."""

    scene: str
    strip_name: str
    strip_key: str
    frame_start: int
    frames: int
    channel: int
    replace_key: str = ""


@dataclass(frozen=True)
class JobRequest:
    key: str
    label: str
    params: JobParams
    target: Target
    out_dir: str
    service: ClientSettings = field(default_factory=ClientSettings)
    upload_path: str | None = None  # a rendered proxy, deleted once sent

    @property
    def takes(self) -> int:
        return self.params.variants


@dataclass
class JobState:
    """Progress of one request as the UI shows it. Copies cross threads, never shared instances."""

    key: str
    label: str
    job_id: str = ""
    status: str = "pending"  # pending|queued|running|succeeded|failed|cancelled
    phase: str = ""
    progress: float = 0.0
    eta_s: float | None = None
    error: str = ""
    hint: str = ""
    result: JobResult | None = None
    take_paths: tuple[str, ...] = field(default_factory=tuple)

    @property
    def active(self) -> bool:
        return self.status in ("pending", "queued", "running")

    def updated(self, status: JobStatus) -> JobState:
        return replace(self, job_id=status.id, status=status.status, phase=status.phase,
                       progress=status.progress, eta_s=status.eta_s)

    def failed(self, exc: ExpotionError, status: str = "failed") -> JobState:
        return replace(self, status=status, error=exc.message, hint=exc.hint or "")


def take_path(out_dir: str, job_id: str, take: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", job_id)
    return os.path.join(out_dir, f"{safe}_take{take}.wav")


def submit(client: Client, request: JobRequest) -> str:
    """Send the job; the proxy file (if any) is deleted afterwards, sent or not."""
    try:
        return client.submit(request.params, request.upload_path)
    finally:
        if request.upload_path and os.path.exists(request.upload_path):
            os.remove(request.upload_path)


def fetch_takes(client: Client, request: JobRequest, job_id: str, result: JobResult) -> tuple[str, ...]:
    """Download every take, check each is exactly the requested number of samples, and store it in
    the sample format Blender loads fastest (`wavfile`)."""
    want = expected_samples(request.params.duration or 0.0)
    paths = []
    for take in range(result.takes):
        path = take_path(request.out_dir, job_id, take)
        client.download(job_id, take, path)
        got = read_wav_info(path).num_samples
        if got != want:
            raise ProtocolError(f"take {take} of job {job_id} has {got} samples, expected {want}")
        try:
            wavfile.widen_to_24bit(path)
        except OSError as exc:  # the 16-bit file is still there: only slower for Blender to load
            log.warning("could not rewrite %s as 24-bit: %s", path, exc)
        paths.append(path)
    return tuple(paths)


def finish(client: Client, request: JobRequest, state: JobState, status: JobStatus) -> JobState:
    """Turn a terminal status into the final state (downloading the takes on success)."""
    state = state.updated(status)
    try:
        result = finished_result(status)
        takes = fetch_takes(client, request, status.id, result)
    except JobFailed as exc:
        return state.failed(exc, "cancelled" if status.status == "cancelled" else "failed")
    except ExpotionError as exc:
        return state.failed(exc)
    return replace(state, status="succeeded", progress=1.0, result=result, take_paths=takes)


def run_blocking(client: Client, requests: Sequence[JobRequest],
                 on_state: Callable[[JobState], None] | None = None) -> list[JobState]:
    """Background mode: submit every request, then wait for each in turn; never raises per job."""
    states: list[JobState] = []
    for request in requests:
        state = JobState(request.key, request.label)
        try:
            state = replace(state, job_id=submit(client, request), status="queued")
        except ExpotionError as exc:
            state = state.failed(exc)
        states.append(state)
    for i, (request, state) in enumerate(zip(requests, states)):
        if not state.job_id:
            continue
        notify = (lambda s, st=state: on_state(st.updated(s))) if on_state else None
        try:
            client.wait(state.job_id, on_status=notify)
        except JobFailed:
            pass  # the final status below carries the error and hint
        except ExpotionError as exc:
            states[i] = state.failed(exc)
            continue
        try:
            states[i] = finish(client, request, state, client.status(state.job_id))
        except ExpotionError as exc:
            states[i] = state.failed(exc)
        log.info("job %s (%s): %s %s", state.job_id, request.label, states[i].status, states[i].error)
    return states
