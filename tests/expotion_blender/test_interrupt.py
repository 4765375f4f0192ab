"""interrupt.py + jobs.run_blocking without bpy, against the stub service: a signal during a blocking
run cancels every unfinished job on the service, keeps the finished ones, and is delivered again
afterwards."""

from __future__ import annotations

import os
import signal
import threading

from expotion_blender import jobs
from expotion_blender.client import Client, ClientSettings
from expotion_blender.interrupt import SignalStop
from expotion_blender.jobs import JobRequest, Target
from expotion_protocol.params import JobParams


def request(tmp_path, key: str, prompt: str, clip: str) -> JobRequest:
    target = Target(scene="S", strip_name=key, strip_key=key, frame_start=1, frames=25, channel=1)
    return JobRequest(
        key=key,
        label=key,
        params=JobParams(prompt=prompt, duration=1.0, path=clip),
        target=target,
        out_dir=str(tmp_path),
    )


def test_signal_cancels_unfinished_jobs_on_the_service(stub, clips, tmp_path):
    client = Client(ClientSettings(base_url=stub.url, poll_interval_s=0.01, timeout_s=5))
    requests = [request(tmp_path, "quick", "fine", clips["c25"]), request(tmp_path, "slow", "SLOW", clips["c25"])]

    def interrupt_when_quick_is_downloaded() -> None:
        if stub.wait_for(lambda log: any(e["route"].endswith("/result") for e in log), timeout=60):
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=interrupt_when_quick_is_downloaded, daemon=True).start()
    previous = signal.getsignal(signal.SIGTERM)
    with SignalStop() as stop:
        states = jobs.run_blocking(client, requests, stop=stop)
    assert signal.getsignal(signal.SIGTERM) is previous  # restored
    assert stop.name == "SIGTERM"
    quick, slow = states
    assert quick.status == "succeeded" and len(quick.take_paths) == 1
    assert slow.status == "cancelled" and slow.error == "interrupted"
    assert stub.jobs[slow.job_id].status == "cancelled"
    assert [e["route"] for e in stub.routes("DELETE")] == [f"/v1/jobs/{slow.job_id}"]


def test_resend_delivers_the_signal_to_the_previous_handler():
    got: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        with SignalStop() as stop:
            signal.raise_signal(signal.SIGINT)
            assert stop() and got == []
        stop.resend()
        assert got == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_does_nothing_off_the_main_thread():
    seen: list[object] = []

    def run() -> None:
        with SignalStop() as stop:
            seen.append(signal.getsignal(signal.SIGTERM))
            seen.append(stop())

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [before, False]
