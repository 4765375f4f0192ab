"""Event streams from outside, across a clean stop and a restart (a real `serve`, loopback):

- a clean stop (SIGINT) ends every open stream with `event: shutdown` and the job's state, at once:
  no stream is cut, no traceback in the log, the stop does not wait out uvicorn's grace period;
- a client that reconnects with the last event id after the restart gets the current state at once
  (the id is the earlier process's) and then the stream to `done`;
- within one process, `Last-Event-ID` resumes where the client left off: the event it saw is not sent
  again while the job has not changed.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def form(clip: Path, seed: int) -> dict:
    return {
        "files": {"video": (clip.name, clip.read_bytes(), "video/mp4")},
        "data": {"params": json.dumps({"seed": seed, "end": 2.0})},
    }


async def next_event(lines, timeout: float) -> dict[str, str]:
    """The next event's fields (event, data, id) from an SSE line iterator; {} at the stream's end."""
    fields: dict[str, str] = {}
    async with asyncio.timeout(timeout):
        async for line in lines:
            if not line:
                if "event" in fields:
                    return fields
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
    return {}


async def test_a_clean_stop_ends_streams_with_shutdown_and_a_restart_answers_the_current_state(
    server_factory, clip2, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    server = server_factory(work)
    async with server.client(timeout=60) as client:
        ids = [(await client.post("/v1/jobs", **form(clip2, seed))).json()["id"] for seed in range(41, 45)]
        last = ids[-1]  # queued behind three jobs: still waiting when the stop comes
        async with client.stream("GET", f"/v1/jobs/{last}/events") as stream:
            lines = stream.aiter_lines()
            first = await next_event(lines, 30)
            assert first["event"] == "progress" and json.loads(first["data"])["status"] == "queued", first
            stopped_at = time.monotonic()
            assert server.proc is not None
            server.proc.send_signal(2)  # SIGINT: a clean stop
            final = await next_event(lines, 30)
            # at once: before uvicorn's 3 s grace (the process itself may then wait for a model load)
            drained_s = time.monotonic() - stopped_at
            assert final["event"] == "shutdown", final
            state = json.loads(final["data"])
            assert state["id"] == last and state["status"] in ("queued", "running"), state
            assert await next_event(lines, 30) == {}  # and the stream ends
    assert server.proc.wait(30) == 0  # a clean stop
    log = "".join(server.log)
    assert "Traceback" not in log and "timeout graceful shutdown exceeded" not in log, log[-4000:]
    assert drained_s < 2.0, f"the stream ended {drained_s:.1f} s after the stop"

    again = server_factory(work)
    async with again.client(timeout=60) as client:
        headers = {"Last-Event-ID": final["id"]}
        async with client.stream("GET", f"/v1/jobs/{last}/events", headers=headers) as stream:
            lines = stream.aiter_lines()
            current = await next_event(lines, 10)  # at once, though the job may not have changed
            assert current["event"] in ("progress", "done") and current["id"] != final["id"], current
            events = [current]
            while events[-1].get("event") == "progress":
                events.append(await next_event(lines, 180))
        assert events[-1]["event"] == "done", events[-1]
        assert json.loads(events[-1]["data"])["status"] == "succeeded"


async def test_last_event_id_resumes_without_resending_what_the_client_saw(server_factory, clip2, tmp_path) -> None:
    server = server_factory(tmp_path / "work")
    async with server.client(timeout=60) as client:
        ids = [(await client.post("/v1/jobs", **form(clip2, seed))).json()["id"] for seed in range(51, 54)]
        last = ids[-1]
        async with client.stream("GET", f"/v1/jobs/{last}/events") as stream:
            seen = await next_event(stream.aiter_lines(), 30)
        assert seen["event"] == "progress" and seen["id"], seen
        async with client.stream("GET", f"/v1/jobs/{last}/events", headers={"Last-Event-ID": seen["id"]}) as stream:
            # a resend would come at once with the same id; what comes is the job's next change
            event = await next_event(stream.aiter_lines(), 180)
            assert event["event"] in ("progress", "done") and event["id"] != seen["id"], (event, seen)
        # a done job answers `done` to any id, its own included
        async with asyncio.timeout(300):
            while (await client.get(f"/v1/jobs/{last}")).json()["status"] != "succeeded":
                await asyncio.sleep(0.1)
        async with client.stream("GET", f"/v1/jobs/{last}/events") as stream:
            done = await next_event(stream.aiter_lines(), 10)
        async with client.stream("GET", f"/v1/jobs/{last}/events", headers={"Last-Event-ID": done["id"]}) as stream:
            again = await next_event(stream.aiter_lines(), 10)
        assert done["event"] == again["event"] == "done" and again["id"] == done["id"]
