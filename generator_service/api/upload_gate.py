"""Bounds on the uploads being received: how many at once, and how long a body may stall.

Before these, a client that opened uploads and stopped sending kept each one open for good, with its
partial file on disk (200 half-sent uploads stayed open for 130 s and longer). Now a multipart body
from which no byte arrives for `read_timeout_s` is answered `408` and its partial upload removed,
and an upload beyond `max_concurrent` is answered `503` with `Retry-After` before its body is read.
Both are settings (`upload_read_timeout_s`, `max_concurrent_uploads`). All of it runs on the event
loop's thread, so the count needs no lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import ApiError

#: What a refused upload is told to wait (seconds): an upload of a clip takes about that long.
RETRY_AFTER_S = 5


@dataclass
class UploadGate:
    max_concurrent: int
    read_timeout_s: float
    active: int = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One upload being received; `ApiError(503)` with `Retry-After` when all slots are taken."""
        if self.active >= self.max_concurrent:
            raise ApiError(
                503,
                f"{self.active} uploads are being received already (the limit is {self.max_concurrent})",
                f"Retry in {RETRY_AFTER_S} s; an operator can raise max_concurrent_uploads.",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1

    def stalled(self) -> ApiError:
        """The error of a body from which nothing arrived for `read_timeout_s`."""
        return ApiError(
            408,
            f"no part of the request body arrived for {self.read_timeout_s:g} s; the partial upload was removed",
            "Send the whole body without pausing (check the network), then send the request again.",
        )
