"""Starting a real `serve` process on a free loopback port (the demo, benchmarks): a context manager
that yields its URL once /v1/health answers and stops the process on exit."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ExpotionError


class ServiceStartError(ExpotionError, RuntimeError):
    """The service process exited or did not answer in time."""

    hint = "Read the service log named in the message."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise ServiceStartError(
                f"the service exited with status {proc.returncode}; log {log}:\n{log.read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(url + "/v1/health", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise ServiceStartError(
                    f"the service did not answer {url}/v1/health in {timeout_s:.0f} s; log {log}"
                ) from None
            time.sleep(0.3)


@contextmanager
def service_process(
    model: str,
    media_root: Path,
    work: Path,
    *,
    cwd: Path | None = None,
    timeout_s: float = 180.0,
    python: str | None = None,
) -> Iterator[str]:
    """A real `python -m generator_service serve` on a free loopback port -> its URL; stopped on exit."""
    port = free_port()
    log = work / "service.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                python or sys.executable,
                "-m",
                "generator_service",
                "serve",
                "--model",
                model,
                "--port",
                str(port),
                "--media-root",
                str(media_root),
                "--work-dir",
                str(work / "service"),
            ],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc, log, timeout_s)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
