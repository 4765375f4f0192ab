"""Real Blender against the stub service: the service's state is known before a Score does any work
(down, not ready), the job is listed at once, the panel re-checks by itself, and a strip whose job
runs cannot be scored twice."""

from __future__ import annotations

import pytest

from .stub_service import StubService

pytestmark = [pytest.mark.blender, pytest.mark.slow]


def test_service_not_ready_refuses_score_with_its_hint(run_blender, clips):
    stub = StubService(ready=False, hint="weights of stub/tiny are not in the local cache (stub)").start()
    try:
        out = run_blender("not_ready", stub.url, clips=clips, words=["not in the local cache (stub)"])
    finally:
        stub.stop()
    assert "not ready" in out["headless"] and "not ready" in out["disabled"]
    assert out["sounds"] == 0 and stub.routes("POST") == []  # nothing rendered, nothing sent
    assert any("not in the local" in c[1] and c[2] == "ERROR" for c in out["drawn"] if c[0] == "label")


def test_score_checks_the_service_first_and_lists_the_job_at_once(run_blender, stub, clips):
    out = run_blender("auto_check", stub.url, clips=clips, url=stub.url, down_url="http://127.0.0.1:9")
    status, error, _, phase = out["at_once"]["A"]
    assert status == "pending" and phase == "checking the service"
    status, error, hint, _ = out["down"]["A"]
    assert status == "failed" and "cannot reach" in error and "generator_service serve" in hint
    assert not any("sent" in text for _, text in out["down_reports"])
    assert out["up"]["A"][0] == "succeeded"
    assert out["rendered"] == 0  # no proxy: down -> nothing; up -> checked first, so path mode
    ((job),) = stub.routes("POST", "/v1/jobs")
    assert job["params"]["path"] == clips["c25"] and job["upload"] is None
    assert out["rechecking"] is True and out["fresh_after"] is True  # the panel asked again by itself
    assert out["remote_checked_without_online_access"] is False  # automatic checks follow the network rule


def test_score_is_disabled_while_the_strips_job_runs(run_blender, stub, clips):
    out = run_blender("busy", stub.url, clips=clips)
    assert "already scoring 'A'" in out["refused"]
    assert out["states"]["A"][0] == "cancelled" and out["after_clear"] == {}
    assert len(stub.routes("POST", "/v1/jobs")) == 1 and len(stub.routes("DELETE")) == 1
