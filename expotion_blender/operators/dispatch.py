"""What the scoring operators share: why Score is disabled now (`score_refusal`, shown by `poll`),
their `wait` option and hand-over of the items to score (`ScoringOperator`), and the hand-over of
ready requests to the runtime (`run`, used by the bench). Main thread only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import bpy

from .. import preferences, runtime, scoring, vse
from ..jobs import JobRequest
from ..preferences import Settings


def score_refusal(context: bpy.types.Context, strips: Iterable[Any]) -> str:
    """Why scoring `strips` cannot succeed now (empty when it can): networking refused, the service
    down or not ready as last checked, or a job for one of them still running."""
    settings = preferences.get(context)
    reason = preferences.network_refusal(settings)
    if not reason and runtime.ui_mode():  # headless runs check the service themselves, blocking
        reason = runtime.service_refusal(settings.client.base_url)
    if reason:
        return reason
    busy = runtime.busy_strip_keys()
    running = [s.name for s in strips if s.get(vse.KEY_PROP) in busy]
    if running:
        return f"Expotion is already scoring '{running[0]}': wait for it or cancel it"
    return ""


def refuse(operator: type, reason: str) -> bool:
    """`poll()` helper: False, with the reason shown to the user, when there is one."""
    if reason:
        operator.poll_message_set(reason)  # type: ignore[attr-defined]
    return not reason


def discard(requests: Sequence[JobRequest]) -> None:
    """Delete proxies of requests that will not be sent."""
    for request in requests:
        request.discard_upload()


def run(op: Any, settings: Settings, requests: Sequence[JobRequest], wait: bool = False) -> set[str]:
    """Send requests that are ready (proxies rendered) through the runtime's worker (`wait` is
    accepted for older callers; headless runs go through `scoring.run_headless`)."""
    runtime.submit(requests)
    op.report({"INFO"}, f"Expotion: {len(requests)} job(s) sent; the music appears when ready")
    return {"FINISHED"}


class ScoringOperator:
    """Mixin of the operators that score strips or ranges: undoable, with the `wait` option."""

    bl_options = {"REGISTER", "UNDO"}

    wait: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Wait",
        default=False,
        options={"SKIP_SAVE"},
        description="Block until the music is placed (always on in background mode)",
    )

    def score(self, context: bpy.types.Context, items: Sequence[scoring.Item]) -> set[str]:
        """Score `items`: handed to the runtime (interactive), or run now when waiting (headless)."""
        return scoring.run_operator(self, items, preferences.get(context), self.wait or not runtime.ui_mode())  # type: ignore[arg-type]
