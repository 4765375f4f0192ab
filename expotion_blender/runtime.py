"""All runtime state of the extension: the one worker thread, its queues, the timer, the job list.

Thread rule: the worker thread does every HTTP call and never touches bpy data; it talks to the main
thread only through two queues. The timer (`_tick`, main thread) drains the outbox, updates the job
list the panel draws, and applies finished results: at most one new sound strip per tick (see
`results`), then, a tick later, one undo step per job. A worker that died of a bug is
noticed by the next tick, which fails its jobs with a way out. In background mode timers never fire,
so `run_blocking` does the same work synchronously on the calling thread.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import bpy

from . import jobs, results
from .client import Client, ClientSettings
from .jobs import JobRequest, JobState
from .protocol import ExpotionError, Health, JobParams, Models

log = logging.getLogger(__name__)
TICK_S = 0.25
PLACE_TICK_S = 0.01  # between the steps of placing music: Blender redraws and takes input in between
MAX_POLL_ERRORS = 3
WORKER_HINT = ("Press Score again (a new worker starts) or disable and re-enable the add-on; "
               "the system console has the details.")


@dataclass(frozen=True)
class AnalyzeRequest:
    scene: str
    params: JobParams
    service: ClientSettings
    upload_path: str | None = None


class _Worker:
    """Runs submit/poll/download/cancel/analyze commands on its own thread; results go to `outbox`.

    It owns a `threading.Thread` rather than subclassing one: a subclass shares the instance namespace
    with Thread's private attributes, and Python 3.13 (Blender 5.1+) added `Thread._handle`, which
    silently replaced a method of that name and killed the thread on its first command.
    """

    def __init__(self, outbox: queue.Queue[tuple[Any, ...]]) -> None:
        self.inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.outbox = outbox
        self._active: dict[str, tuple[JobRequest, Client, JobState, float, int]] = {}
        self._thread = threading.Thread(target=self._run, name="expotion-worker", daemon=True)
        self.crash = ""  # why the thread died, if it did

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug: recorded, so the main thread fails the jobs instead of waiting forever
            self.crash = f"{type(exc).__name__}: {exc}"
            log.exception("the Expotion worker thread stopped")

    def _loop(self) -> None:
        while True:
            try:
                command = self.inbox.get(timeout=self._poll_wait())
            except queue.Empty:
                command = None
            if command is not None and command[0] == "stop":
                self._cancel_all()
                return
            if command is not None:
                self._handle(command)
            self._poll_active()

    def _poll_wait(self) -> float | None:
        if not self._active:
            return None
        return min(req.service.poll_interval_s for req, *_ in self._active.values())

    def _handle(self, command: tuple[Any, ...]) -> None:
        kind, arg = command
        try:
            if kind == "submit":
                self._submit(arg)
            elif kind == "cancel":
                self._cancel(arg)
            elif kind == "refresh":
                client = Client(arg)
                self.outbox.put(("service", client.health(), client.models(), ""))
            elif kind == "analyze":
                self._analyze(arg)
        except (ExpotionError, ValueError, TypeError) as exc:  # TypeError/ValueError: a malformed answer
            text = exc.user_text() if isinstance(exc, ExpotionError) else f"unexpected answer: {exc}"
            log.warning("%s failed: %s", kind, text)
            if kind == "refresh":
                self.outbox.put(("service", None, None, text))

    def _submit(self, request: JobRequest) -> None:
        state = JobState(request.key, request.label)
        try:
            client = Client(request.service)
            state = replace(state, job_id=jobs.submit(client, request), status="queued")
        except ExpotionError as exc:
            self.outbox.put(("done", request, state.failed(exc)))
            return
        except OSError as exc:  # the proxy file vanished before upload
            self.outbox.put(("done", request, state.failed(ExpotionError(str(exc)))))
            return
        deadline = time.monotonic() + request.service.job_timeout_s
        self._active[request.key] = (request, client, state, deadline, 0)
        self.outbox.put(("state", state))

    def _cancel(self, key: str, reason: str = "cancelled by the user", hint: str = "") -> None:
        entry = self._active.pop(key, None)
        if entry is None:
            return
        request, client, state, _, _ = entry
        self.outbox.put(("done", request, replace(state, status="cancelled", error=reason, hint=hint)))
        client.cancel(state.job_id)

    def _cancel_all(self) -> None:
        for key in list(self._active):
            try:
                self._cancel(key)
            except ExpotionError as exc:
                log.warning("cancel on shutdown failed: %s", exc.user_text())

    def _poll_active(self) -> None:
        for key, (request, client, state, deadline, errors) in list(self._active.items()):
            try:
                status = client.status(state.job_id)
            except ExpotionError as exc:
                if errors + 1 >= MAX_POLL_ERRORS:
                    del self._active[key]
                    self.outbox.put(("done", request, state.failed(exc)))
                else:
                    self._active[key] = (request, client, state, deadline, errors + 1)
                continue
            if status.finished:
                del self._active[key]
                self.outbox.put(("done", request, jobs.finish(client, request, state, status)))
            elif time.monotonic() > deadline:
                self._cancel(key, f"gave up after {request.service.job_timeout_s:.0f} s",
                             "Raise the job timeout in the add-on preferences.")
            else:
                new = state.updated(status)
                if new != state:
                    self.outbox.put(("state", new))
                self._active[key] = (request, client, new, deadline, 0)

    def _analyze(self, request: AnalyzeRequest) -> None:
        try:
            data = Client(request.service).analyze(request.params, request.upload_path)
            self.outbox.put(("analysis", request.scene, data, ""))
        except ExpotionError as exc:
            self.outbox.put(("analysis", request.scene, None, exc.user_text()))
        finally:
            if request.upload_path and os.path.exists(request.upload_path):
                os.remove(request.upload_path)


# -- main-thread state --------------------------------------------------------------------------
_outbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
_worker: _Worker | None = None
_states: dict[str, JobState] = {}
_requests: dict[str, JobRequest] = {}
_service: dict[str, Any] = {"health": None, "models": None, "error": "", "checking": False}
_adapter_cache: list[tuple[str, str, str]] = [("NONE", "None (base model)", "No adapter: zero-shot")]
_placements: deque[results.Placement] = deque()  # finished jobs whose music is being placed, in order
tick_log: list[tuple[float, str]] = []  # (main-thread seconds, work done) of recent ticks (bounded)


def _ensure_worker() -> _Worker:
    global _worker
    _reap_worker()
    if _worker is None:
        _worker = _Worker(_outbox)
        _worker.start()
    return _worker


def _reap_worker() -> None:
    """If the worker thread died (a bug), apply what it sent and fail the jobs it was running."""
    global _worker
    if _worker is None or _worker.is_alive():
        return
    dead, _worker = _worker, None
    _drain()
    placing = {p.key for p in _placements}
    reason = f" ({dead.crash})" if dead.crash else ""
    for key, state in _states.items():
        if state.active and key not in placing:
            _states[key] = replace(state, status="failed", hint=WORKER_HINT,
                                   error=f"the add-on's worker thread stopped{reason}; this job got no more updates")
    if _service["checking"]:
        _set_service(None, None, f"the add-on's worker thread stopped{reason}")


def _ensure_timer() -> None:
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=TICK_S, persistent=True)


def submit(requests: Sequence[JobRequest]) -> None:
    """Queue jobs for the worker and make sure the timer applies their results."""
    worker = _ensure_worker()
    for request in requests:
        _states[request.key] = JobState(request.key, request.label)
        _requests[request.key] = request
        worker.inbox.put(("submit", request))
    _ensure_timer()


def cancel(key: str = "") -> None:
    """Cancel one job (by key) or every active one (empty key); music half placed is removed again."""
    placing = {p.key for p in _placements}
    for placement in [p for p in _placements if p.final is None and (not key or p.key == key)]:
        placement.rollback()
        _placements.remove(placement)
        _states[placement.key] = replace(_states[placement.key], status="cancelled", error="cancelled by the user")
    if _worker is None:
        return
    for k, state in _states.items():
        if state.active and k not in placing and (not key or k == key):
            _worker.inbox.put(("cancel", k))


def refresh_service(settings: ClientSettings) -> None:
    _service["checking"] = True
    _ensure_worker().inbox.put(("refresh", settings))
    _ensure_timer()


def analyze(request: AnalyzeRequest) -> None:
    _ensure_worker().inbox.put(("analyze", request))
    _ensure_timer()


def job_states() -> list[JobState]:
    return list(_states.values())


def active_count() -> int:
    return sum(1 for s in _states.values() if s.active)


def clear_finished() -> None:
    for key in [k for k, s in _states.items() if not s.active]:
        _states.pop(key)
        _requests.pop(key, None)


def service_state() -> dict[str, Any]:
    return dict(_service)


def adapter_items() -> list[tuple[str, str, str]]:
    return _adapter_cache


def _set_service(health: Health | None, models: Models | None, error: str) -> None:
    _service.update(health=health, models=models, error=error, checking=False)
    names = models.adapters if models else ()
    _adapter_cache[:] = [_adapter_cache[0]] + [(n, n, f"Adapter {n}") for n in names]


def _set_analysis(scene_name: str, data: dict[str, Any] | None, error: str) -> None:
    scene = bpy.data.scenes.get(scene_name)
    if scene is None:
        return
    if data is None:
        scene.expotion.analysis = f"Analysis failed: {error}"
        return
    scene.expotion.prompt = str(data.get("suggested_prompt") or scene.expotion.prompt)
    scene.expotion.analysis = results.analysis_summary(data)


def _drain() -> None:
    """Apply the worker's events; a succeeded job is queued for placing and stays active meanwhile."""
    while True:
        try:
            event = _outbox.get_nowait()
        except queue.Empty:
            return
        if event[0] == "state":
            _states[event[1].key] = event[1]
        elif event[0] == "done":
            request, state = event[1], event[2]
            if state.status == "succeeded":
                _placements.append(results.Placement(request, state))
                state = replace(state, status="running", phase="placing music")
            _states[request.key] = state
        elif event[0] == "service":
            _set_service(*event[1:])
        elif event[0] == "analysis":
            _set_analysis(*event[1:])


def _place_step() -> str:
    """At most one piece of timeline work -> what was done: "strip", "undo", "failed" or ""."""
    if not _placements:
        return ""
    placement = _placements[0]
    if placement.final is None:
        placement.step()
        if placement.final is None or placement.final.status == "succeeded":
            return "strip"
        _placements.popleft()
        _states[placement.key] = placement.final
        return "failed"
    _placements.popleft()  # the tick after a job's last strip: its one undo step
    final = _states[placement.key] = placement.confirm()
    if final.status != "succeeded":
        return "failed"
    bpy.ops.ed.undo_push(message=f"Expotion: music for {placement.request.label}")
    return "undo"


def _tick() -> float | None:
    """Timer callback (main thread): drain the worker's outbox, then one piece of timeline work."""
    t0 = time.perf_counter()
    _reap_worker()
    _drain()
    work = _place_step()
    _redraw()
    tick_log.append((time.perf_counter() - t0, work))
    del tick_log[:-200]
    if _placements:
        return PLACE_TICK_S
    busy = active_count() or _service["checking"] or not _outbox.empty() or (_worker and _worker.inbox.qsize())
    return TICK_S if busy else None


def _redraw() -> None:
    wm = bpy.context.window_manager
    for window in getattr(wm, "windows", ()):
        for area in window.screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()


def check_service_blocking(service: ClientSettings) -> Health:
    """Background mode: health + models on this thread (raises `ServiceError` with a hint)."""
    client = Client(service)
    health, models = client.health(), client.models()
    _set_service(health, models, "")
    return health


def run_blocking(service: ClientSettings, requests: Sequence[JobRequest]) -> list[JobState]:
    """Background mode: run the jobs on this thread and apply the results; returns final states."""
    client = Client(service)
    for request in requests:
        _states[request.key] = JobState(request.key, request.label)
    final = jobs.run_blocking(client, requests, on_state=lambda s: _states.__setitem__(s.key, s))
    for request, state in zip(requests, final):
        _states[request.key] = results.apply(request, state)
    return [_states[r.key] for r in requests]


def stop() -> None:
    """Unregister: stop the timer and the worker (cancelling its jobs on the server), forget state."""
    global _worker
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    for placement in _placements:
        if placement.final is None:
            placement.rollback()  # all or nothing: a job half placed is removed
    _placements.clear()
    if _worker is not None and _worker.is_alive():
        _worker.inbox.put(("stop", None))
        _worker.join(timeout=5.0)
    _worker = None
    _states.clear()
    _requests.clear()
    while not _outbox.empty():
        _outbox.get_nowait()
    _set_service(None, None, "")
