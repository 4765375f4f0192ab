"""The local Expotion service as a child process of Blender: the command that starts it, starting it
with its output in a log file, stopping it, and what it said last.

The command comes from the add-on preferences: a full command (`expotion serve --model ...`), or the
Python of the service's virtual environment (`<python> -m generator_service serve`); `--host` and
`--port` are taken from the service URL unless the command names them. Only a loopback URL is ever
started: a service on another machine is that machine's to run. A stop asks the process to end the
way Ctrl-C does (SIGINT: queued and running jobs stay queued for the next start), and kills it only
if it has not ended in time. Imports no `bpy`; the runtime (runtime.py) holds the one process and
stops it when Blender quits or the add-on is disabled.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from expotion_protocol.errors import ExpotionError

from .client import is_loopback

logger = logging.getLogger(__name__)

SETTINGS_HINT = (
    "Set Service Command (e.g. `expotion serve --model facebook/musicgen-small`) or Service Python "
    "(the python of the service's virtual environment) in Preferences > Add-ons > Expotion."
)
LOG_TAIL = 1500


class ServiceStartError(ExpotionError, RuntimeError):
    """The service cannot be started from Blender, or it exited while starting."""

    hint = SETTINGS_HINT


def service_command(command: str, python: str, url: str) -> list[str]:
    """The argv that starts the service for `url` (see the module docstring)."""
    parts = urllib.parse.urlsplit(url)
    if not is_loopback(url):
        raise ServiceStartError(
            f"the service URL {url} is not on this machine: Blender starts only a local service",
            "Start the service on its own machine, or set a 127.0.0.1 URL.",
        )
    if command.strip():
        argv = shlex.split(command, posix=os.name != "nt")
    elif python.strip():
        argv = [python.strip(), "-m", "generator_service", "serve"]
    else:
        raise ServiceStartError("no command to start the service with")
    if "--host" not in argv:
        argv += ["--host", parts.hostname or "127.0.0.1"]
    if "--port" not in argv:
        argv += ["--port", str(parts.port or (443 if parts.scheme == "https" else 80))]
    return argv


@dataclass
class ServiceProcess:
    """One started service: its argv, log file and process."""

    argv: Sequence[str]
    log_path: str
    started_at: float = field(default_factory=time.monotonic)
    _proc: subprocess.Popen | None = None

    def start(self) -> ServiceProcess:
        os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
        flags = subprocess.CREATE_NEW_PROCESS_GROUP if os.name == "nt" else 0  # so CTRL_BREAK reaches it alone
        with open(self.log_path, "w", encoding="utf-8") as log:
            log.write(f"$ {shlex.join(self.argv)}\n")
            log.flush()
            try:
                self._proc = subprocess.Popen(
                    list(self.argv),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    creationflags=flags,
                    env=dict(os.environ, PYTHONUNBUFFERED="1"),
                )
            except OSError as exc:
                raise ServiceStartError(f"cannot run {self.argv[0]!r}: {exc.strerror or exc}") from exc
        return self

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc is not None else 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def ask_to_stop(self) -> bool:
        """Ask the service to end as Ctrl-C does (a clean stop keeps its jobs queued) -> whether the
        request could be sent.

        On Windows that is CTRL_BREAK_EVENT to the service's own process group (made with
        CREATE_NEW_PROCESS_GROUP; uvicorn stops cleanly on the SIGBREAK it raises). Python's
        documentation: console control events reach only processes that share the sender's console,
        and `os.kill` raises OSError otherwise (Blender started without a console): then the
        request cannot be sent, and `stop` ends the service at once instead (its running job is
        resumed at the next start, as after a crash)."""
        if not (self.running and self._proc is not None):
            return False
        try:
            self._proc.send_signal(signal.CTRL_BREAK_EVENT if os.name == "nt" else signal.SIGINT)
        except OSError as exc:
            logger.warning("could not ask the service (pid %d) to stop: %s; ending it", self.pid, exc)
            return False
        return True

    def kill(self) -> None:
        if self.running and self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """Stop and wait (killed after `timeout_s`) -> the exit status."""
        if self._proc is None:
            return None
        asked = self.ask_to_stop()
        try:
            return self._proc.wait(timeout_s if asked else 0)
        except subprocess.TimeoutExpired:
            self.kill()
            return self._proc.poll()

    def log_tail(self, chars: int = LOG_TAIL) -> str:
        """The end of the service's log (what it said before it exited)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return fh.read()[-chars:].strip()
        except OSError:
            return ""

    def exit_reason(self) -> str:
        """A one-line account of how the process ended, for messages."""
        code = self.exit_code
        if code is None:
            return "it is still running"
        if code < 0:
            try:
                return f"it was ended by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"it was ended by signal {-code}"
        return f"it exited with status {code}"
