"""The extension's one worker thread: every HTTP call (submit, poll, download, cancel, analyze, service
checks) runs here, never on Blender's main thread, and never touches bpy data. Commands come in on
`inbox`, results go out on `outbox` as plain tuples the runtime's timer applies on the main thread.
Imports no `bpy`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import replace
from typing import Any

from expotion_protocol.errors import ExpotionError

from . import jobs
from .client import Client
from .jobs import JobRequest, JobState

log = logging.getLogger(__name__)
MAX_POLL_ERRORS = 3


class Worker:
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
                self.outbox.put(("service", arg.base_url, client.health(), client.models(), ""))
            elif kind == "analyze":
                self._analyze(arg)
        except (ExpotionError, ValueError, TypeError) as exc:  # TypeError/ValueError: a malformed answer
            text = exc.message if isinstance(exc, ExpotionError) else f"unexpected answer: {exc}"
            hint = exc.hint if isinstance(exc, ExpotionError) else ""
            log.warning("%s failed: %s %s", kind, text, hint)
            if kind == "refresh":
                self.outbox.put(("service", arg.base_url, None, None, text, hint))

    def _submit(self, request: JobRequest) -> None:
        state = JobState(request.key, request.label)
        try:
            client = Client(request.service)
            state = replace(state, job_id=jobs.submit(client, request), status="queued")
        except ExpotionError as exc:
            self.outbox.put(("done", request, state.failed(exc)))
            return
        except OSError as exc:  # the proxy file vanished before upload
            self.outbox.put(("done", request, state.failed(ExpotionError(f"the proxy could not be sent: {exc}"))))
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
                self._cancel(
                    key,
                    f"gave up after {request.service.job_timeout_s:.0f} s",
                    "Raise the job timeout in the add-on preferences.",
                )
            else:
                new = state.updated(status)
                if new != state:
                    self.outbox.put(("state", new))
                self._active[key] = (request, client, new, deadline, 0)

    def _analyze(self, request: JobRequest) -> None:
        try:
            data = Client(request.service).analyze(request.params, jobs.upload_file(request))
            self.outbox.put(("analysis", request.target.scene, data, ""))
        except ExpotionError as exc:
            self.outbox.put(("analysis", request.target.scene, None, exc.user_text()))
        finally:
            request.discard_upload()
