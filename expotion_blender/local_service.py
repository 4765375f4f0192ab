"""The local service Blender started from the panel (at most one): starting it, waiting until it
answers, stopping it (SIGINT, killed when it does not end in time), and what a job that failed
because it died should say.

Plain logic over one `ServiceProcess`: no bpy, no job list, no service state. The runtime holds the
one `LocalService` (all runtime state lives there), its timer watches it, and it tells this object
when the service answered (`answered`). Main thread only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from expotion_protocol.shapes import Health, Models

from .client import Client, ClientSettings, ServiceUnavailable
from .jobs import JobState
from .service_process import ServiceProcess, ServiceStartError, service_command

log = logging.getLogger(__name__)

START_TIMEOUT_S = 300.0  # a first start may build the tiny model or load a large one
STOP_TIMEOUT_S = 15.0


class LocalService:
    """The service process Blender started (running or ended), if any, and where it stands."""

    def __init__(self) -> None:
        self.proc: ServiceProcess | None = None
        self.client: ClientSettings | None = None
        self.starting = False  # started, not answered yet
        self.stop_by = 0.0  # asked to stop: killed after this monotonic time (0: not stopping)

    def update(self, **fields: Any) -> None:
        """Set `proc`, `client`, `starting` and/or `stop_by` at once."""
        for name, value in fields.items():
            if not hasattr(self, name):
                raise AttributeError(f"LocalService has no field {name!r}")
            setattr(self, name, value)

    def state(self) -> dict[str, Any]:
        """What the panel shows about it."""
        proc = self.proc
        return {
            "proc": proc,
            "running": bool(proc and proc.running),
            "starting": self.starting,
            "stopping": bool(self.stop_by),
            "log": proc.log_path if proc else "",
        }

    def answered(self, url: str) -> None:
        """The service at `url` answered a check: if it is this one, it is no longer starting."""
        if self.client is not None and url == self.client.base_url:
            self.starting = False

    def start(self, command: str, python: str, client: ClientSettings, log_path: str) -> ServiceProcess:
        """Start the service (returns at once); `ServiceStartError` when the one started is still running."""
        if self.proc is not None and self.proc.running:
            raise ServiceStartError("the service Blender started is still running", "Stop it first.")
        argv = service_command(command, python, client.base_url)
        proc = ServiceProcess(argv, log_path).start()
        log.info("started the Expotion service (pid %d): %s", proc.pid, " ".join(argv))
        self.update(proc=proc, client=client, starting=True, stop_by=0.0)
        return proc

    def wait_until_up(self, timeout_s: float = START_TIMEOUT_S) -> tuple[str, Health, Models]:
        """Block until the service answers -> (its URL, health, models); `ServiceStartError` (with the
        end of its log) when it exits first or does not answer in time."""
        proc, settings = self.proc, self.client
        if proc is None or settings is None:
            raise ServiceStartError("no service was started from Blender", "Press Start first.")
        client = Client(settings)
        deadline = time.monotonic() + timeout_s
        while True:
            if not proc.running:
                self.starting = False
                raise ServiceStartError(
                    f"the service did not start: {proc.exit_reason()}. Its log ({proc.log_path}) "
                    f"ends with:\n{proc.log_tail()}",
                    "Fix what the log says, then press Start again.",
                )
            try:
                health = client.health()
            except ServiceUnavailable:  # not listening yet (any other answer is final)
                if time.monotonic() > deadline:
                    proc.stop(STOP_TIMEOUT_S)
                    raise ServiceStartError(
                        f"the service did not answer within {timeout_s:.0f} s", f"Read its log: {proc.log_path}"
                    ) from None
                time.sleep(0.25)
                continue
            return settings.base_url, health, client.models()

    def stop(self, wait: bool) -> bool:
        """Stop it: with `wait` (background mode) until it ended; else ask it to end and return True
        when the timer must watch it go (killed after `STOP_TIMEOUT_S`)."""
        proc = self.proc
        self.starting = False
        if proc is None or not proc.running:
            return False
        if wait:
            proc.stop(STOP_TIMEOUT_S)
            return False
        proc.ask_to_stop()
        self.stop_by = time.monotonic() + STOP_TIMEOUT_S
        return True

    def stop_now(self) -> None:
        """Blender quits or the add-on is disabled: the service Blender started ends with it."""
        proc = self.proc
        if proc is not None and proc.running:
            log.info("stopping the Expotion service Blender started (pid %d)", proc.pid)
            proc.stop(STOP_TIMEOUT_S)
        self.update(starting=False, stop_by=0.0)

    def explain_unreachable(self, state: JobState) -> JobState:
        """A job that failed because the service Blender started died: say so, with its log."""
        proc = self.proc
        if state.status != "failed" or not state.unreachable or proc is None or proc.running:
            return state
        return replace(
            state,
            error=f"the Expotion service stopped while this job ran: {proc.exit_reason()}",
            hint=f"Nothing was placed on the timeline. Its log: {proc.log_path}. Press Start to start it "
            "again (jobs it had queued are resumed), then score the strip again.",
        )
