"""client.py + jobs.py without bpy against the stub service on 127.0.0.1."""

from __future__ import annotations

import wave

import pytest

from expotion_blender import jobs
from expotion_blender.client import (
    AuthError,
    Client,
    ClientSettings,
    JobFailed,
    ServiceError,
    ServiceUnavailable,
    is_loopback,
)
from expotion_blender.jobs import JobRequest, Target
from expotion_protocol.params import JobParams
from expotion_protocol.wire import read_wav_info

from .stub_service import StubService


def wave_width(path: str) -> int:
    with wave.open(path, "rb") as w:
        return w.getsampwidth()


def client_for(url: str, **kw) -> Client:
    return Client(ClientSettings(base_url=url, poll_interval_s=0.01, timeout_s=5, **kw))


def request(tmp_path, params: JobParams, upload: str | None = None) -> JobRequest:
    target = Target(scene="S", strip_name="A", strip_key="k", frame_start=1, frames=76, channel=1)
    return JobRequest(key="r1", label="A", params=params, target=target, out_dir=str(tmp_path), upload_path=upload)


def test_health_models(stub):
    client = client_for(stub.url)
    assert client.health().path_mode is True
    assert client.models().adapters == ("stub-adapter",)


def test_path_job_exact_samples(stub, clips, tmp_path):
    client = client_for(stub.url)
    params = JobParams(prompt="x", seed=3, variants=3, start=0.5, duration=76 * 1.001 / 30, path=clips["c2997"])
    states = jobs.run_blocking(client, [request(tmp_path, params)])
    (state,) = states
    assert state.status == "succeeded" and len(state.take_paths) == 3
    assert {read_wav_info(p).num_samples for p in state.take_paths} == {81148}
    assert {wave_width(p) for p in state.take_paths} == {3}  # stored as 24-bit (see wavfile.py)
    assert state.result.seeds == (3, 4, 5)


def test_upload_is_sent_and_proxy_deleted(stub, clips, tmp_path):
    proxy = tmp_path / "proxy.mp4"
    proxy.write_bytes(open(clips["c25"], "rb").read())
    (state,) = jobs.run_blocking(client_for(stub.url), [request(tmp_path, JobParams(duration=3.0), str(proxy))])
    assert state.status == "succeeded" and not proxy.exists()
    assert open(stub.routes("POST", "/v1/jobs")[-1]["upload"], "rb").read() == open(clips["c25"], "rb").read()


def test_failed_job_carries_hint(stub, tmp_path, clips):
    params = JobParams(prompt="FAIL", duration=1.0, path=clips["c25"])
    (state,) = jobs.run_blocking(client_for(stub.url), [request(tmp_path, params)])
    assert state.status == "failed" and "generation failed" in state.error and state.hint == "Try another seed (stub)"
    assert not list(tmp_path.glob("*.wav"))


def test_events_stream(stub, clips):
    client = client_for(stub.url)
    job_id = client.submit(JobParams(duration=1.0, path=clips["c25"]))
    statuses = list(client.events(job_id))
    assert statuses[-1].status == "succeeded" and statuses[0].status == "running"


def test_cancel_during_wait(stub, clips):
    stub.steps = 1000
    client = client_for(stub.url)
    job_id = client.submit(JobParams(duration=1.0, path=clips["c25"]))
    polls = []
    with pytest.raises(JobFailed, match="cancelled"):
        client.wait(job_id, on_status=polls.append, should_cancel=lambda: len(polls) >= 2)
    assert stub.jobs[job_id].status == "cancelled"


def test_path_outside_media_root_is_a_clear_error(stub, tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"x")
    with pytest.raises(ServiceError, match="outside the media root") as info:
        client_for(stub.url).submit(JobParams(duration=1.0, path=str(tmp_path / "x.mp4")))
    assert info.value.status == 400 and "--media-root" in info.value.hint


def test_wrong_token_and_service_down():
    guarded = StubService(token="right").start()
    try:
        with pytest.raises(AuthError) as info:
            client_for(guarded.url, token="wrong").health()
        assert info.value.status == 401 and "token" in info.value.hint.lower()
        assert client_for(guarded.url, token="right").health().status == "ok"
    finally:
        guarded.stop()
    with pytest.raises(ServiceUnavailable) as down:
        client_for(guarded.url).health()
    assert "generator_service serve" in down.value.hint


def test_bad_url_and_loopback():
    with pytest.raises(ServiceError, match="not an http"):
        client_for("localhost:8765")
    assert is_loopback("http://127.0.0.1:1") and is_loopback("http://[::1]:1") and is_loopback("http://localhost")
    assert not is_loopback("http://10.0.0.2:8765") and not is_loopback("http://example.com")
