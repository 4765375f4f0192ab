"""The local service as a child process (service_process.py, no bpy): the command built from the
preferences and the URL, only for a loopback URL; a started process logs to its file, stops on
SIGINT like Ctrl-C, and says how it ended."""

from __future__ import annotations

import shlex
import signal
import sys
import time
from pathlib import Path

import pytest

from expotion_blender.service_process import ServiceProcess, ServiceStartError, service_command


def test_the_command_comes_from_the_preferences_and_the_url() -> None:
    assert service_command("expotion serve --model tiny", "", "http://127.0.0.1:9000") == [
        "expotion",
        "serve",
        "--model",
        "tiny",
        "--host",
        "127.0.0.1",
        "--port",
        "9000",
    ]
    assert service_command("", "/venv/bin/python", "http://localhost:8765/") == [
        "/venv/bin/python",
        "-m",
        "generator_service",
        "serve",
        "--host",
        "localhost",
        "--port",
        "8765",
    ]
    named = service_command("expotion serve --port 1234 --host ::1", "/ignored/python", "http://[::1]:1234")
    assert named == ["expotion", "serve", "--port", "1234", "--host", "::1"]  # the command decides, once
    with pytest.raises(ServiceStartError, match="not on this machine"):
        service_command("expotion serve", "", "http://10.1.2.3:8765")
    with pytest.raises(ServiceStartError, match="no command") as missing:
        service_command(" ", "", "http://127.0.0.1:8765")
    assert "Service Command" in missing.value.hint and "Service Python" in missing.value.hint


def test_a_started_process_logs_stops_on_sigint_and_says_how_it_ended(tmp_path: Path) -> None:
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *a: (print('clean stop', flush=True), sys.exit(3)))\n"
        "print('serving', flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = ServiceProcess([sys.executable, "-c", code], str(tmp_path / "logs" / "service.log")).start()
    while not proc.log_tail().endswith("\nserving"):  # the child installed its handler (line 1: the command)
        assert proc.running, proc.log_tail()
        time.sleep(0.05)
    assert proc.running and proc.exit_reason() == "it is still running"
    assert proc.stop(timeout_s=30) == 3
    assert not proc.running and proc.exit_reason() == "it exited with status 3"
    log = proc.log_tail()
    assert log.startswith("$ ") and shlex.quote(sys.executable) in log and log.endswith("clean stop")


def test_a_process_that_ignores_the_stop_is_killed_and_a_missing_program_is_an_error(tmp_path: Path) -> None:
    code = (
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(120)\n"
    )
    proc = ServiceProcess([sys.executable, "-c", code], str(tmp_path / "stubborn.log")).start()
    while not proc.log_tail().endswith("\nup"):
        assert proc.running, proc.log_tail()
        time.sleep(0.05)
    assert proc.stop(timeout_s=0.5) == -signal.SIGKILL
    assert proc.exit_reason() == "it was ended by signal SIGKILL"
    with pytest.raises(ServiceStartError, match="cannot run '/no/such/expotion'"):
        ServiceProcess(["/no/such/expotion", "serve"], str(tmp_path / "missing.log")).start()


def test_a_stop_request_that_cannot_be_sent_ends_the_service_at_once(tmp_path: Path, monkeypatch) -> None:
    # Windows: CTRL_BREAK_EVENT reaches only a process sharing the sender's console; Blender without
    # one gets OSError from send_signal (os.kill). The stop must not wait its timeout for nothing.
    code = "import time\nprint('up', flush=True)\ntime.sleep(120)\n"
    proc = ServiceProcess([sys.executable, "-c", code], str(tmp_path / "noconsole.log")).start()
    while not proc.log_tail().endswith("\nup"):
        assert proc.running, proc.log_tail()
        time.sleep(0.05)
    assert proc._proc is not None

    send = proc._proc.send_signal

    def no_console(sig: int) -> None:
        if sig != signal.SIGKILL:  # Popen.kill sends SIGKILL through send_signal on POSIX
            raise OSError(6, "The handle is invalid")
        send(sig)

    monkeypatch.setattr(proc._proc, "send_signal", no_console)
    started = time.monotonic()
    assert proc.stop(timeout_s=60) == -signal.SIGKILL
    assert time.monotonic() - started < 10 and not proc.running
