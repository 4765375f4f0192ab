"""Real Blender (bpy) starting the REAL generator service (tiny model) from the panel's operator:
score a strip, stop it; Blender stops a service it started when it quits; a service that dies while
a job runs fails the job with a clear message and leaves the timeline as it was."""

from __future__ import annotations

import os
import shlex
import socket
from pathlib import Path

import pytest

from .test_e2e_service import service_python

pytestmark = [pytest.mark.blender, pytest.mark.slow]


def free_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def command(clips: dict[str, str], work: Path) -> str:
    """The Service Command an editor would enter (here: the test venv's python running the service)."""
    return shlex.join(
        [
            service_python(),
            "-m",
            "generator_service",
            "serve",
            "--model",
            "tiny",
            "--device",
            "cpu",
            "--offline",
            "--work-dir",
            str(work),
            "--media-root",
            str(Path(clips["c25"]).parent),
        ]
    )


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting to be reaped counts as ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def test_start_score_stop_from_blender_and_stopped_on_quit(run_blender, clips, tmp_path) -> None:
    out = run_blender("service_lifecycle", free_url(), timeout=600, clips=clips, command=command(clips, tmp_path / "w"))
    assert "cannot reach" in out["refused_before"]
    assert out["started"]["running"] and out["started"]["health"] == "tiny"
    assert "running" in out["second_start"]
    ((placed,),) = [out["placed"]]
    assert placed["meta"]["untrained"] is True and placed["samples"] > 0
    assert out["stopped"]["running"] is False and out["stopped"]["reason"] == "it exited with status 0"
    assert "Uvicorn running on" in out["stopped"]["log"] and out["log_path"].startswith(str(tmp_path))
    assert gone(out["started"]["pid"]) and gone(out["left_running"])  # the second one: stopped as Blender quit


def test_start_and_stop_as_clicked_in_the_ui_return_at_once_and_the_timer_follows(run_blender, clips, tmp_path) -> None:
    out = run_blender("service_ui_start", free_url(), timeout=600, clips=clips, command=command(clips, tmp_path / "w"))
    assert out["at_once"] == {"starting": True, "health": False}
    assert out["waiting"]["A"][0] == "pending"  # the Score waits for the starting service
    assert out["answered"] and out["scored"]["A"][0] == "succeeded" and out["music"] == 1
    assert out["stopping"] is True and out["stopped"] == [False, "it exited with status 0"]


def test_a_service_that_dies_mid_job_fails_it_clearly_and_changes_nothing(run_blender, clips, tmp_path) -> None:
    out = run_blender("service_dies", free_url(), timeout=600, clips=clips, command=command(clips, tmp_path / "w"))
    assert out["submitted"]["A"][0] in ("queued", "running")
    status, error, hint, _ = out["states"]["A"]
    assert status == "failed"
    assert error == "the Expotion service stopped while this job ran: it was ended by signal SIGKILL"
    assert "Nothing was placed" in hint and out["log_path"] in hint and "Start" in hint
    assert out["after"] == out["before"]  # the timeline is unchanged
    drawn = " ".join(c[1] for c in out["drawn"])
    assert "A: failed" in drawn and "SIGKILL" in drawn
    assert os.path.isfile(out["log_path"])
