"""Hand snapshotted requests to the runtime (interactive) or run them now (background / wait=True),
and turn the outcomes into operator reports. Main thread only."""

from __future__ import annotations

from collections.abc import Sequence

import bpy

from .. import runtime, snapshot
from ..jobs import JobRequest
from ..preferences import Settings
from ..protocol import ExpotionError


def discard(requests: Sequence[JobRequest]) -> None:
    """Delete proxies of requests that will not be sent."""
    for request in requests:
        snapshot.remove_file(request.upload_path)


def run(op: bpy.types.Operator, settings: Settings, requests: Sequence[JobRequest], wait: bool) -> set[str]:
    if not wait:
        runtime.submit(requests)
        runtime.refresh_service(settings.client)  # keeps status, adapters and path mode current
        op.report({"INFO"}, f"Expotion: {len(requests)} job(s) sent; the music appears when ready")
        return {"FINISHED"}
    try:
        states = runtime.run_blocking(settings.client, requests)
    except ExpotionError as exc:
        discard(requests)
        op.report({"ERROR"}, exc.user_text())
        return {"CANCELLED"}
    done = 0
    for state in states:
        if state.status == "succeeded":
            done += 1
            if state.hint:
                op.report({"WARNING"}, f"{state.label}: {state.hint}")
        else:
            text = f"{state.label}: {state.error or state.status}" + (f" ({state.hint})" if state.hint else "")
            op.report({"ERROR"}, text)
    if done:
        op.report({"INFO"}, f"Expotion: placed music for {done} of {len(states)} strip(s)")
    return {"FINISHED"} if done else {"CANCELLED"}
