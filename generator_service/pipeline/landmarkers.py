"""The lifetime of every MediaPipe landmarker this process creates: referenced from creation until
its owner releases it (closed once), the forgotten ones closed at exit on the main thread, never by
the garbage collector."""

from __future__ import annotations

import atexit
import threading
from typing import Any

#: Every MediaPipe landmarker this process created and has not closed. MediaPipe closes a landmarker
#: from its finalizer too, and that close waits on MediaPipe's own dispatcher thread: run by the
#: garbage collector on an unlucky thread it never returns (seen: a job's worker thread hung in
#: `FaceLandmarker.__del__`). So every landmarker is referenced here until its owner releases it,
#: and whatever an owner forgot is closed at exit on the main thread — never by the collector.
_OPEN_LANDMARKERS: set[Any] = set()
_open_lock = threading.Lock()


def keep_landmarker(landmarker: Any) -> Any:
    with _open_lock:
        _OPEN_LANDMARKERS.add(landmarker)
    return landmarker


def release_landmarker(landmarker: Any) -> None:
    """Close a landmarker made by `keep_landmarker` (once; later calls do nothing)."""
    with _open_lock:
        if landmarker not in _OPEN_LANDMARKERS:
            return
        _OPEN_LANDMARKERS.discard(landmarker)
    landmarker.close()


@atexit.register
def _release_forgotten_landmarkers() -> None:
    with _open_lock:
        forgotten = list(_OPEN_LANDMARKERS)
    for landmarker in forgotten:
        release_landmarker(landmarker)
