"""A real `python -m generator_service serve --model tiny` process on 127.0.0.1 (port chosen by
the OS), for end-to-end tests. `stop()` ends it (SIGINT, then SIGKILL after a bounded wait)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

_READY = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


class ServerProcess:
    def __init__(self, work_dir: Path, extra: list[str] | None = None, start_timeout: float = 60.0) -> None:
        self.work_dir = work_dir
        self.extra = extra or []
        self.start_timeout = start_timeout
        self.url = ""
        self.proc: subprocess.Popen | None = None
        self.log: list[str] = []
        self._ready = threading.Event()

    def start(self) -> ServerProcess:
        cmd = [
            sys.executable,
            "-m",
            "generator_service",
            "serve",
            "--model",
            "tiny",
            "--device",
            "cpu",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--work-dir",
            str(self.work_dir),
            "--offline",
            *self.extra,
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[3],
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(self.start_timeout):
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.log[-40:]))
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)
            match = _READY.search(line)
            if match:
                self.url = match.group(1)
                self._ready.set()

    def client(self, timeout: float = 30.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, timeout=timeout, trust_env=False, limits=httpx.Limits(max_connections=100)
        )

    def stop(self, timeout: float = 15.0) -> int | None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)
