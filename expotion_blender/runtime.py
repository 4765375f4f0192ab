"""All runtime state of the extension: the one worker thread (`worker`), its queues, the timer, the job list,
the strips being prepared (`preparing`), what is known about the service (`service_status`), and the local service
Blender started (one `local_service.LocalService`, which owns starting and stopping it), if any.

Thread rule: the worker thread does every HTTP call and never touches bpy data; it talks to the main
thread only through two queues. The timer (`_tick`, main thread) drains the outbox, updates the job
list the panel draws, and does at most one piece of timeline work per tick: place one finished job's
music (see `results`; its undo step a tick later), or one step of a strip being prepared (one proxy
frame). A Score first has the service checked unless it answered in the last `FRESH_S` seconds:
nothing is rendered or sent to a service that is down or not ready. The service is also checked when
a file is loaded and every `CHECK_EVERY_S` seconds while the panel is drawn, always on the worker.
A worker that died of a bug is noticed by the next tick, which fails its jobs with a way out. In
background mode timers never fire, so `run_blocking` does the same work synchronously on the calling
thread (and cancels its jobs on the service on SIGINT/SIGTERM, see `interrupt`).
A service started from the panel is watched by the timer: checked until it answers, stopped with
SIGINT (killed if it does not end in time), and stopped when Blender quits or the add-on is disabled.
A job that fails because that service died says so, with its log.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import bpy

from expotion_protocol.errors import ExpotionError
from expotion_protocol.shapes import Health, Models

from . import jobs, results
from .client import Client, ClientSettings, is_loopback
from .jobs import JobRequest, JobState
from .local_service import START_TIMEOUT_S, LocalService
from .service_process import ServiceProcess
from .service_status import ServiceStatus
from .worker import Worker

if TYPE_CHECKING:
    from .preferences import Settings
    from .preparing import Preparation

log = logging.getLogger(__name__)
TICK_S = 0.25
PLACE_TICK_S = 0.01  # between the steps of placing music: Blender redraws and takes input in between
FRESH_S = 3.0  # a service answer younger than this lets Score go on without asking again
CHECK_EVERY_S = 10.0  # while the panel is drawn
PANEL_LINGER_S = 30.0  # the timer keeps checking this long after the panel was last drawn
WORKER_HINT = (
    "Press Score again (a new worker starts) or disable and re-enable the add-on; the system console has the details."
)


# -- main-thread state --------------------------------------------------------------------------
_outbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
_worker: Worker | None = None
_states: dict[str, JobState] = {}
_requests: dict[str, JobRequest] = {}
_strip_keys: dict[str, str] = {}  # job key -> key of the movie strip it scores
_service = ServiceStatus()  # what is known about the service, as last checked (service_status.py)
_preparing: deque[Preparation] = deque()  # strips between a click on Score and their job being sent
_placements: deque[results.Placement] = deque()  # finished jobs whose music is being placed, in order
_panel: dict[str, Any] = {"seen": 0.0, "client": None}
_files = {"generation": 0}  # bumped when a .blend is loaded: results of jobs from before do not belong to it
_generation_of: dict[str, int] = {}  # job key -> file generation it was started in
tick_log: list[tuple[float, str]] = []  # (main-thread seconds, work done) of recent ticks (bounded)
_local = LocalService()  # the service process Blender started, if any (local_service.py)


def _ensure_worker() -> Worker:
    global _worker
    _reap_worker()
    if _worker is None:
        _worker = Worker(_outbox)
        _worker.start()
    return _worker


def _reap_worker() -> None:
    """If the worker thread died (a bug), apply what it sent and fail the jobs it was running."""
    global _worker
    if _worker is None or _worker.is_alive():
        return
    dead, _worker = _worker, None
    _drain()
    placing = {p.key for p in _placements} | {p.key for p in _preparing}
    reason = f" ({dead.crash})" if dead.crash else ""
    for key, state in _states.items():
        if state.active and key not in placing:
            _states[key] = replace(
                state,
                status="failed",
                hint=WORKER_HINT,
                error=f"the add-on's worker thread stopped{reason}; this job got no more updates",
            )
    if _service.checking:
        _set_service(_service.url, None, None, f"the add-on's worker thread stopped{reason}")


def _ensure_timer() -> None:
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=TICK_S, persistent=True)


def submit(requests: Sequence[JobRequest]) -> None:
    """Queue jobs for the worker and make sure the timer applies their results."""
    worker = _ensure_worker()
    for request in requests:
        _states[request.key] = JobState(request.key, request.label)
        _requests[request.key] = request
        _strip_keys[request.key] = request.target.strip_key
        _generation_of[request.key] = _files["generation"]
        worker.inbox.put(("submit", request))
    _ensure_timer()


def prepare(preparations: Sequence[Preparation], service: ClientSettings) -> None:
    """Interactive Score: list the jobs at once, have the service checked (unless it just answered),
    then prepare and send them from timer ticks."""
    cleared = service_fresh(service.base_url) and not service_refusal(service.base_url)
    for prep in preparations:
        prep.cleared = cleared
        _states[prep.key] = JobState(prep.key, prep.label, phase=prep.phase)
        _strip_keys[prep.key] = prep.strip_key
        _generation_of[prep.key] = _files["generation"]
        _preparing.append(prep)
    if not cleared and not _service.checking:
        refresh_service(service)
    _ensure_timer()


def fail_now(key: str, label: str, exc: ExpotionError) -> None:
    """List a job that failed before it could be sent (a strip that cannot be scored)."""
    _states[key] = JobState(key, label).failed(exc)


def cancel(key: str = "") -> None:
    """Cancel one job (by key) or every active one (empty key): a strip being prepared stops
    rendering, a job on the service is cancelled there, music not yet placed is not placed."""
    for prep in [p for p in _preparing if not key or p.key == key]:
        prep.abort()
        _preparing.remove(prep)
        _states[prep.key] = replace(_states[prep.key], status="cancelled", error="cancelled by the user")
    for placement in [p for p in _placements if p.final is None and (not key or p.key == key)]:
        _placements.remove(placement)
        _states[placement.key] = replace(_states[placement.key], status="cancelled", error="cancelled by the user")
    if _worker is None:
        return
    placing = {p.key for p in _placements}
    for k, state in _states.items():
        if state.active and k not in placing and (not key or k == key):
            _worker.inbox.put(("cancel", k))


def refresh_service(settings: ClientSettings) -> None:
    _service.checking = True
    _ensure_worker().inbox.put(("refresh", settings))
    _ensure_timer()


def ui_mode() -> bool:
    """True in Blender's UI: timers fire, the service is checked automatically and the last check
    gates Score. False headless, where every run checks the service itself, blocking."""
    return not bpy.app.background


def check_automatically(settings: ClientSettings) -> None:
    """Have the service checked unless a check is running, or Blender's "Allow Online Access" is off
    for a service that is not on this machine (automatic checks follow the same network rule)."""
    if not _service.checking and ui_mode() and (is_loopback(settings.base_url) or bpy.app.online_access):
        refresh_service(settings)


def panel_drawn(settings: ClientSettings) -> None:
    """Called by the panel's draw: keeps the service state fresh while the panel is shown."""
    _panel.update(seen=time.monotonic(), client=settings)
    if _service.stale(settings.base_url, CHECK_EVERY_S):
        check_automatically(settings)


def job_states() -> list[JobState]:
    return list(_states.values())


def active_count() -> int:
    return sum(1 for s in _states.values() if s.active)


def busy_strip_keys() -> set[str]:
    """Keys of the movie strips with a job being prepared, run or placed."""
    return {_strip_keys.get(k, "") for k, s in _states.items() if s.active} - {""}


def clear_finished() -> None:
    for key in [k for k, s in _states.items() if not s.active]:
        _states.pop(key)
        _requests.pop(key, None)
        _strip_keys.pop(key, None)
        _generation_of.pop(key, None)


def service_state() -> dict[str, Any]:
    return _service.as_dict()


def service_reads_paths() -> bool:
    """Whether the service, as last checked, reads local video paths (its health's `path_mode`)."""
    return _service.reads_paths()


def service_fresh(url: str) -> bool:
    """The service at `url` answered (or failed to) in the last `FRESH_S` seconds."""
    return _service.fresh(url, FRESH_S)


def service_refusal(url: str) -> str:
    """Why the service at `url` cannot take a job, as last checked (empty: fine, or not known)."""
    return _service.refusal(url)


def adapter_items() -> list[tuple[str, str, str]]:
    return _service.adapter_items


def _set_service(url: str, health: Health | None, models: Models | None, error: str, hint: str = "") -> None:
    _service.record(url, health, models, error, hint)
    if health is not None:
        _local.answered(url)
    _release_waiting()


def _release_waiting() -> None:
    """Strips waiting for the service check go on, or fail with its answer (nothing rendered)."""
    for prep in [p for p in _preparing if not p.cleared]:
        if _service.url != prep.settings.client.base_url or (_local.starting and _service.error):
            continue  # another service; or the one Blender is starting does not answer yet
        refusal = service_refusal(prep.settings.client.base_url)
        if refusal:
            _preparing.remove(prep)
            _states[prep.key] = replace(_states[prep.key], status="failed", error=refusal, hint=_service.refusal_hint())
        else:
            prep.cleared = True
            _states[prep.key] = replace(_states[prep.key], phase=prep.phase)


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
            if state.status == "succeeded" and _generation_of.get(request.key) != _files["generation"]:
                folder = os.path.dirname(state.take_paths[0]) if state.take_paths else request.out_dir
                state = replace(
                    state,
                    status="failed",
                    error="another file was opened while this job ran",
                    hint=f"Its music is kept in {folder}.",
                )
            elif state.status == "succeeded":
                _placements.append(results.Placement(request, state))
                state = replace(state, status="running", phase="placing music")
            _states[request.key] = explain_unreachable(state)
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
        if placement.final is not None and placement.final.status == "succeeded":
            return "strip"
        _placements.popleft()
        _states[placement.key] = placement.final or placement.state
        return "failed"
    _placements.popleft()  # the tick after a job's strip: its one undo step
    final = _states[placement.key] = placement.confirm()
    if final.status != "succeeded":
        return "failed"
    bpy.ops.ed.undo_push(message=f"Expotion: music for {placement.request.label}")
    return "undo"


def _prepare_step() -> str:
    """One step of the first strip cleared for preparing -> "proxy", "sent", "failed" or ""."""
    prep = next((p for p in _preparing if p.cleared), None)
    if prep is None:
        return ""
    try:
        request = prep.step(service_reads_paths())
    except ExpotionError as exc:
        prep.abort()
        _preparing.remove(prep)
        _states[prep.key] = JobState(prep.key, prep.label).failed(exc)
        return "failed"
    if request is None:
        _states[prep.key] = replace(_states[prep.key], phase=prep.phase, progress=prep.progress)
        return "proxy"
    _preparing.remove(prep)
    request = replace(request, key=prep.key)
    if prep.analyze:  # "Suggest from video": the answer fills the prompt (`_set_analysis`)
        _states.pop(prep.key, None)
        _strip_keys.pop(prep.key, None)
        _ensure_worker().inbox.put(("analyze", request))
        return "sent"
    _requests[prep.key] = request
    _states[prep.key] = replace(_states[prep.key], phase="sending")
    _ensure_worker().inbox.put(("submit", request))
    return "sent"


def _tick() -> float | None:
    """Timer callback (main thread): drain the worker's outbox, then one piece of timeline work."""
    t0 = time.perf_counter()
    _reap_worker()
    _watch_process()
    _drain()
    work = _place_step() or _prepare_step()
    _redraw()
    tick_log.append((time.perf_counter() - t0, work))
    del tick_log[:-200]
    if _placements or any(p.cleared for p in _preparing):
        return PLACE_TICK_S
    busy = (
        active_count()
        or _service.checking
        or not _outbox.empty()
        or (_worker and _worker.inbox.qsize())
        or _local.starting
        or _local.stop_by
    )
    if busy:
        return TICK_S
    if time.monotonic() - _panel["seen"] < PANEL_LINGER_S:
        return CHECK_EVERY_S / 2  # the redraw above lets the panel ask for a fresh check
    return None


def _redraw() -> None:
    wm = bpy.context.window_manager
    for window in getattr(wm, "windows", ()):
        for area in window.screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()


def before_save() -> None:
    """A save is about to write the file (save_pre): proxy renders in progress remove their temporary
    scene (it must not be saved) and start again after the save."""
    for prep in _preparing:
        prep.restart()
        _states[prep.key] = replace(_states[prep.key], phase=prep.phase, progress=prep.progress)


def file_loaded() -> None:
    """A .blend was loaded (load_post): strips being prepared belong to the old file and stop, jobs
    running for it will not place their music in this one; the service is checked again."""
    _files["generation"] += 1
    for prep in list(_preparing):
        prep.abort()
        _preparing.remove(prep)
        _states[prep.key] = replace(_states[prep.key], status="cancelled", error="another file was opened")
    from . import preferences

    check_automatically(preferences.get().client)


def check_service_blocking(service: ClientSettings) -> Health:
    """Background mode: health + models on this thread (raises `ServiceError` with a hint, and
    `ServiceNotReady` when the service answers that no job can run)."""
    client = Client(service)
    try:
        health, models = client.health(), client.models()
    except ExpotionError as exc:
        _set_service(service.base_url, None, None, exc.message, exc.hint)
        raise
    _set_service(service.base_url, health, models, "")
    if not health.ready:
        raise ServiceNotReady(health.refusal(), health.hint)
    return health


class ServiceNotReady(ExpotionError, RuntimeError):
    """The service answers but says no job can run (e.g. the model's weights are missing)."""


def run_blocking(service: ClientSettings, requests: Sequence[JobRequest], stop: Any = None) -> list[JobState]:
    """Background mode: run the jobs on this thread and apply the results; returns final states.
    `stop()` turning true cancels the jobs not finished on the service (see `jobs.run_blocking`)."""
    client = Client(service)
    for request in requests:
        _states[request.key] = JobState(request.key, request.label)
        _strip_keys[request.key] = request.target.strip_key
        _generation_of[request.key] = _files["generation"]
    final = jobs.run_blocking(client, requests, on_state=lambda s: _states.__setitem__(s.key, s), stop=stop)
    for request, state in zip(requests, final):
        _states[request.key] = results.apply(request, explain_unreachable(state))
    return [_states[r.key] for r in requests]


def stop() -> None:
    """Unregister: stop the timer and the worker (cancelling its jobs on the server), forget state."""
    global _worker
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    for prep in _preparing:
        prep.abort()
    _preparing.clear()
    _placements.clear()  # music not placed yet is not placed: nothing is half on the timeline
    if _worker is not None and _worker.is_alive():
        _worker.inbox.put(("stop", None))
        _worker.join(timeout=5.0)
    _worker = None
    _states.clear()
    _requests.clear()
    _strip_keys.clear()
    _generation_of.clear()
    while not _outbox.empty():
        _outbox.get_nowait()
    _service.forget()
    _release_waiting()
    stop_service_now()


# -- the local service Blender started (local_service.py) -------------------------------------
def service_log_path() -> str:
    folder = bpy.utils.user_resource("DATAFILES", path="expotion", create=True)
    return os.path.join(folder, "service.log")


def service_process() -> ServiceProcess | None:
    """The service process Blender started (running or ended), if any."""
    return _local.proc


def process_state() -> dict[str, Any]:
    """What the panel shows about the service Blender started."""
    return _local.state()


def start_service(settings: Settings) -> ServiceProcess:
    """Start the local service (main thread). In the UI this returns at once and the timer checks the
    service until it answers; `wait_until_up` waits for it in background mode."""
    proc = _local.start(settings.service_command, settings.service_python, settings.client, service_log_path())
    if ui_mode():
        refresh_service(settings.client)
    return proc


def wait_until_up(timeout_s: float = START_TIMEOUT_S) -> Health:
    """Background mode: block until the service Blender started answers -> its health;
    `ServiceStartError` (with the end of its log) when it exits first or does not answer in time."""
    url, health, models = _local.wait_until_up(timeout_s)
    _set_service(url, health, models, "")
    return health


def stop_service() -> None:
    """Stop the service Blender started: in the UI ask it to end and let the timer see it go (killed
    after `STOP_TIMEOUT_S`); in background mode wait for it."""
    if _local.stop(wait=not ui_mode()):
        _ensure_timer()


def stop_service_now() -> None:
    """Blender quits or the add-on is disabled: the service Blender started ends with it."""
    _local.stop_now()


atexit.register(stop_service_now)


def _watch_process() -> None:
    """Timer: a stop that takes too long becomes a kill; a starting service is checked until it
    answers, or reported with its log when it exits first."""
    proc, client = _local.proc, _local.client
    if proc is None or client is None:
        return
    if _local.stop_by:
        if not proc.running:
            _local.stop_by = 0.0
            check_automatically(client)
        elif time.monotonic() > _local.stop_by:
            proc.kill()
    if not _local.starting:
        return
    if not proc.running:
        _local.starting = False
        _set_service(
            client.base_url,
            None,
            None,
            f"the service did not start: {proc.exit_reason()}",
            f"Its log: {proc.log_path}",
        )
    elif time.monotonic() - proc.started_at > START_TIMEOUT_S:
        _local.starting = False
        _set_service(
            client.base_url,
            None,
            None,
            f"the service Blender started did not answer within {START_TIMEOUT_S:.0f} s",
            f"Its log: {proc.log_path}",
        )
    elif not _service.checking:
        refresh_service(client)


def explain_unreachable(state: JobState) -> JobState:
    """A job that failed because the service Blender started died: say so, with its log."""
    return _local.explain_unreachable(state)
