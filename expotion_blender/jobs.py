"""Plain-data job records and the steps that run one job against the service.

Owns: `JobRequest` (everything an operator snapshots: parameters, the file to send, where the result
goes), `JobState` (what the UI shows), and the HTTP steps submit -> wait -> fetch takes, plus a
synchronous runner for background mode that cancels its jobs on the service when asked to stop
(SIGINT/SIGTERM, see `interrupt`). Imports no `bpy`; the steps run on the worker thread (or on the
calling thread in background mode) and never touch Blender data.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from expotion_protocol.errors import ExpotionError, ProtocolError
from expotion_protocol.params import JobParams
from expotion_protocol.shapes import JobResult, JobStatus, expected_samples
from expotion_protocol.wire import read_wav_info

from . import avi, wavfile
from .client import Client, ClientSettings, JobFailed, finished_result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TempRef:
    """The temp track a job's music replaces (`temp_track`): its strip's key and name."""

    key: str
    name: str


@dataclass(frozen=True)
class Target:
    """Where the result goes: the video strip (found again by key, then name) or the range of the
    edit, and, for a regeneration, the sound strip it replaces. Frames are the strip's visible range
    (or the range) at snapshot."""

    scene: str
    strip_name: str
    strip_key: str
    frame_start: int
    frames: int
    channel: int
    replace_key: str = ""
    #: Set for a range of the edit scored as one piece: its timeline frames [start, end) (the
    #: strip fields then name the range, and `channel` is the top movie channel in it).
    timeline: tuple[int, int] | None = None
    #: The temp track the music replaces (`expotion.replace_temp_track`): muted and moved aside
    #: when the music is placed, which takes its channel.
    temp: TempRef | None = None


@dataclass(frozen=True)
class JobRequest:
    key: str
    label: str
    params: JobParams
    target: Target
    out_dir: str
    service: ClientSettings = field(default_factory=ClientSettings)
    upload_path: str | None = None  # a rendered proxy, deleted once sent
    upload_frames: avi.FrameSequence | None = None  # proxy frames (interactive), made into an AVI when sent
    melody_upload: str | None = None  # the temp track's own file, sent as the melody (never deleted)

    @property
    def takes(self) -> int:
        return self.params.variants

    def discard_upload(self) -> None:
        """Delete the proxy (file or frames) of a request that is sent or will never be."""
        if self.upload_path and os.path.exists(self.upload_path):
            os.remove(self.upload_path)
        if self.upload_frames is not None and self.upload_frames.folder:
            shutil.rmtree(self.upload_frames.folder, ignore_errors=True)


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
    #: Phase "download": the model's files fetched so far / to fetch, in bytes.
    bytes_done: int | None = None
    bytes_total: int | None = None
    #: It failed because the service could not be reached (it may have stopped).
    unreachable: bool = False

    @property
    def active(self) -> bool:
        return self.status in ("pending", "queued", "running")

    @property
    def phase_text(self) -> str:
        """The phase as the job list shows it (a download with its megabytes)."""
        if self.phase == "download" and self.bytes_total:
            return f"downloading the model, {(self.bytes_done or 0) / 1e6:.0f} of {self.bytes_total / 1e6:.0f} MB"
        return self.phase or self.status

    def updated(self, status: JobStatus) -> JobState:
        return replace(
            self,
            job_id=status.id,
            status=status.status,
            phase=status.phase,
            progress=status.progress,
            eta_s=status.eta_s,
            bytes_done=status.bytes_done,
            bytes_total=status.bytes_total,
        )

    def failed(self, exc: ExpotionError, status: str = "failed") -> JobState:
        return replace(
            self, status=status, error=exc.message, hint=exc.hint or "", unreachable=isinstance(exc, ConnectionError)
        )


def take_path(out_dir: str, job_id: str, take: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", job_id)
    return os.path.join(out_dir, f"{safe}_take{take}.wav")


def upload_file(request: JobRequest) -> str | None:
    """The file to upload for `request` (proxy frames are wrapped into an AVI first), or None."""
    if request.upload_frames is None:
        return request.upload_path
    frames = request.upload_frames
    try:
        return avi.write_mjpeg_avi(os.path.join(frames.folder, "proxy.avi"), frames)
    except (avi.AviError, OSError) as exc:
        raise ProtocolError(
            f"the proxy of '{request.label}' cannot be sent: {exc}",
            "Lower the proxy height in the add-on preferences or score a shorter strip.",
        ) from exc


def submit(client: Client, request: JobRequest) -> str:
    """Send the job; the proxy is deleted afterwards, sent or not."""
    try:
        return client.submit(request.params, upload_file(request), request.melody_upload)
    finally:
        request.discard_upload()


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


def run_blocking(
    client: Client,
    requests: Sequence[JobRequest],
    on_state: Callable[[JobState], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[JobState]:
    """Background mode: submit every request, then wait for each in turn; never raises per job.

    When `stop()` turns true (checked between polls) every job not finished yet is cancelled on the
    service and ends "cancelled"; jobs that already succeeded keep their takes."""
    stop = stop or (lambda: False)
    states: list[JobState] = []
    for request in requests:
        state = JobState(request.key, request.label)
        if stop():
            request.discard_upload()
            states.append(replace(state, status="cancelled", error="interrupted before it was sent"))
            continue
        try:
            state = replace(state, job_id=submit(client, request), status="queued")
        except ExpotionError as exc:
            state = state.failed(exc)
        states.append(state)
    for i, (request, state) in enumerate(zip(requests, states)):
        if not state.job_id:
            continue
        if stop():
            states[i] = cancel_quietly(client, state, "interrupted")
            continue
        notify = (lambda s, st=state: on_state(st.updated(s))) if on_state else None
        try:
            client.wait(state.job_id, on_status=notify, should_cancel=stop)
        except JobFailed:
            pass  # the final status below carries the error and hint
        except ExpotionError as exc:
            states[i] = state.failed(exc)
            continue
        try:
            states[i] = finish(client, request, state, client.status(state.job_id))
        except ExpotionError as exc:
            states[i] = state.failed(exc)
        if stop() and states[i].status == "cancelled":
            states[i] = replace(states[i], error="interrupted")
        log.info("job %s (%s): %s %s", state.job_id, request.label, states[i].status, states[i].error)
    return states


def cancel_quietly(client: Client, state: JobState, reason: str) -> JobState:
    """Cancel a job on the service -> its state "cancelled" (a failing cancel is logged, not raised)."""
    try:
        client.cancel(state.job_id)
    except ExpotionError as exc:
        log.warning("cancelling job %s failed: %s", state.job_id, exc.user_text())
    return replace(state, status="cancelled", error=reason)
