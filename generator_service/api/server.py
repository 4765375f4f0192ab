"""uvicorn's server for `serve`: on a clean stop it ends the job service's event streams first.

uvicorn's graceful stop waits up to `timeout_graceful_shutdown` for open responses, then cancels
them — a stream cut like a crash, with no last event and a traceback per stream in the log. The
service's streams never end on their own while a job runs, so `shutdown` drains them before
uvicorn waits: each sends `event: shutdown` with its job's state and ends (api/sse.py).
"""

from __future__ import annotations

import socket

import uvicorn

from ..jobs.service import JobService


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: JobService) -> None:
        super().__init__(config)
        self.service = service

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.service.drain()
        await super().shutdown(sockets)
