"""Server-sent events of one job: `event: progress` with the status JSON on every change, then one
final `event: done` (status succeeded|failed|cancelled), then the stream ends. When the service
stops first, one `event: shutdown` with the job's state then ends the stream (the job is queued
again for the next start; reconnect once the service is back).

Every event has an id `<epoch>-<version>`: the process's id and the job's version. A client that
reconnects with `Last-Event-ID` set to the id it saw last gets nothing new until the job changes;
any other id (an earlier process's, after a restart) or none gets the current state at once.

Changes are coalesced: a slow reader gets the latest state, never a backlog. A comment line is sent
every `keepalive_s` so proxies keep the connection open.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from ..jobs.service import JobService

#: Reconnection delay a client is told (SSE `retry:`, in ms): after a stop the service is usually
#: back within seconds (a restart, a crash under a supervisor).
RETRY_MS = 2000


def format_event(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    # the id goes last: clients that read the data line right after the event line keep working
    tail = f"id: {event_id}\n" if event_id is not None else ""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n{tail}\n"


async def job_events(
    service: JobService,
    job_id: str,
    last_event_id: str | None = None,
    keepalive_s: float = 15.0,
    poll_s: float = 1.0,
) -> AsyncIterator[str]:
    """The event stream of `job_id` (which must exist), resuming after `last_event_id` if given."""
    changed, unsubscribe = service.board.subscribe(job_id)
    try:
        sent_id, idle = last_event_id, 0.0
        yield f"retry: {RETRY_MS}\n\n"
        while True:
            record = service.get(job_id)
            event_id = f"{service.epoch}-{record.version}"
            if record.terminal:
                yield format_event("done", record.public(), event_id)
                return
            if service.draining:
                yield format_event("shutdown", record.public(), event_id)
                return
            if event_id != sent_id:
                sent_id, idle = event_id, 0.0
                yield format_event("progress", record.public(), event_id)
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
