"""Server-sent events of one job: `event: progress` with the status JSON on every change, then one
final `event: done` (status succeeded|failed|cancelled), then the stream ends.

Changes are coalesced: a slow reader gets the latest state, never a backlog. A comment line is sent
every `keepalive_s` so proxies keep the connection open, and the stream ends when the service stops.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from ..jobs.service import JobService


def format_event(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def job_events(
    service: JobService, job_id: str, keepalive_s: float = 15.0, poll_s: float = 1.0
) -> AsyncIterator[str]:
    """The event stream of `job_id` (which must exist)."""
    changed, unsubscribe = service.board.subscribe(job_id)
    try:
        sent_version, idle = None, 0.0
        while True:
            record = service.get(job_id)
            if record.terminal:
                yield format_event("done", record.public())
                return
            if record.version != sent_version:
                sent_version, idle = record.version, 0.0
                yield format_event("progress", record.public())
            if service.stopping:
                return
            try:
                await asyncio.wait_for(changed.wait(), timeout=poll_s)
            except TimeoutError:
                idle += poll_s
                if idle >= keepalive_s:
                    idle = 0.0
                    yield ": keepalive\n\n"
            changed.clear()
    finally:
        unsubscribe()
