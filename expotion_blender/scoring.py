"""Scoring a set of movie strips (or a range of the edit as one piece), interactively or headless;
what the Score operators, `expotion.score_timeline` and `expotion.score_all` run.

Owns: the per-strip rule (a strip that cannot be scored fails alone, naming its file; the others go
on), the interactive hand-over (jobs listed at once, prepared and sent from timer ticks by the
runtime) and the headless run (service checked first, every request sent, waited for, placed; on
SIGINT/SIGTERM the jobs still running are cancelled on the service), and the outcome records a batch
reports and writes to its JSON report. Main thread only.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import bpy

from expotion_protocol.errors import ExpotionError
from expotion_protocol.params import JobParams

from . import preparing, runtime, snapshot, timeline, vse
from .interrupt import SignalStop
from .jobs import JobRequest, JobState, TempRef
from .preferences import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One strip to score — or, with `span`, a range of the edit as one piece (`strip` None) — its
    scene, the parameters, and the music strip it replaces."""

    scene: bpy.types.Scene
    strip: Any
    base: JobParams
    replace_key: str = ""
    span: timeline.Span | None = None
    temp: TempRef | None = None  # the temp track the music replaces (`expotion.replace_temp_track`)

    @property
    def label(self) -> str:
        return self.span.label if self.span is not None else self.strip.name

    def request(self, settings: Settings, path_mode: bool) -> JobRequest:
        """The request, its proxy rendered now if one is needed (blocking: headless runs);
        `path_mode`: the checked service reads local paths."""
        if self.span is not None:
            return snapshot.request_in_range(
                self.scene, self.span, self.base, settings, self.replace_key, path_mode=path_mode, temp=self.temp
            )
        return snapshot.request_in(
            self.scene, self.strip, self.base, settings, self.replace_key, path_mode=path_mode, temp=self.temp
        )

    def preparation(self, key: str, settings: Settings) -> preparing.Preparation:
        """The interactive path's preparation (raises `ExpotionError` for a strip that cannot be scored)."""
        if self.span is not None:
            return preparing.Preparation(
                key,
                self.label,
                self.scene.name,
                self.span.key(self.scene),
                self.label,
                self.base,
                settings,
                self.replace_key,
                span=self.span,
                temp=self.temp,
            )
        snapshot.check_strip(self.strip)
        return preparing.Preparation(
            key,
            self.strip.name,
            self.scene.name,
            strip_key(self.strip),
            self.strip.name,
            self.base,
            settings,
            self.replace_key,
            temp=self.temp,
        )


@dataclass(frozen=True)
class Outcome:
    """What became of one strip (a line of the batch report)."""

    scene: str
    strip: str
    status: str  # succeeded | failed | cancelled
    error: str = ""
    hint: str = ""
    job_id: str = ""
    music: str = ""
    prompt_used: str = ""

    @classmethod
    def of(cls, scene: str, state: JobState) -> Outcome:
        result = state.result
        return cls(
            scene,
            state.label,
            state.status,
            state.error,
            state.hint,
            state.job_id,
            state.take_paths[0] if state.take_paths and state.status == "succeeded" else "",
            result.prompt_used if result is not None else "",
        )


def strip_key(strip: Any) -> str:
    """The strip's identity across renames and moves (given one now if it has none)."""
    key = strip.get(vse.KEY_PROP)
    if not key:
        key = uuid.uuid4().hex
        strip[vse.KEY_PROP] = key
    return str(key)


def queue_interactive(items: Sequence[Item], settings: Settings) -> tuple[int, list[str]]:
    """List every strip's job at once and let the runtime prepare and send them -> (queued, errors).
    A strip that cannot be scored is listed as failed at once, naming its file."""
    preps, errors = [], []
    for item in items:
        key = uuid.uuid4().hex
        try:
            preps.append(item.preparation(key, settings))
        except ExpotionError as exc:
            runtime.fail_now(key, item.label, exc)
            errors.append(exc.user_text())
    if preps:
        runtime.prepare(preps, settings.client)
    return len(preps), errors


def run_headless(items: Sequence[Item], settings: Settings, stop: Callable[[], bool]) -> list[Outcome]:
    """Check the service (raises), snapshot every strip (one that cannot be scored is recorded and
    the others go on), run the jobs and place their music. Never raises per strip."""
    health = runtime.check_service_blocking(settings.client)
    outcomes: list[Outcome] = []
    requests: list[JobRequest] = []
    scenes: dict[str, str] = {}
    for item in items:
        if stop():
            outcomes.append(Outcome(item.scene.name, item.label, "cancelled", "interrupted"))
            continue
        try:
            request = item.request(settings, health.path_mode)
        except ExpotionError as exc:
            log.warning("%s / %s: %s", item.scene.name, item.label, exc.user_text())
            outcomes.append(Outcome(item.scene.name, item.label, "failed", exc.message, exc.hint))
            continue
        requests.append(request)
        scenes[request.key] = item.scene.name
    for state in runtime.run_blocking(settings.client, requests, stop=stop):
        outcomes.append(Outcome.of(scenes[state.key], state))
    return outcomes


def report(op: bpy.types.Operator, outcomes: Sequence[Outcome]) -> int:
    """Operator reports for the outcomes (an ERROR per failed strip: in a script the operator call
    then raises RuntimeError, after everything else was done) -> strips that got music."""
    done = 0
    for out in outcomes:
        if out.status == "succeeded":
            done += 1
            if out.hint:
                op.report({"WARNING"}, f"{out.strip}: {out.hint}")
        else:
            op.report({"ERROR"}, f"{out.strip}: {out.error or out.status}" + (f" ({out.hint})" if out.hint else ""))
    if done:
        op.report({"INFO"}, f"Expotion: placed music for {done} of {len(outcomes)} strip(s)")
    return done


def write_report(path: str, outcomes: Sequence[Outcome], saved: bool, interrupted: str) -> str:
    """The batch report as JSON at `path` (// = next to the .blend) -> its absolute path."""
    target = os.path.abspath(bpy.path.abspath(path))
    data = {
        "blend": bpy.data.filepath,
        "saved": saved,
        "interrupted": interrupted,
        "strips": [asdict(o) for o in outcomes],
    }
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    return target


def resend_terminate(stop: SignalStop) -> None:
    """SIGTERM asked the process to end: once the jobs are cancelled and the placed music is kept,
    end it as the signal would have. (SIGINT ends the script through the operator's error instead.)"""
    if stop.signum == signal.SIGTERM:
        stop.resend()


def run_operator(op: bpy.types.Operator, items: Sequence[Item], settings: Settings, wait: bool) -> set[str]:
    """The body of a scoring operator: hand the strips to the runtime (interactive: returns at once),
    or run them headless, reporting each strip's outcome."""
    if not wait:
        queued, errors = queue_interactive(items, settings)
        for error in errors:
            op.report({"ERROR"}, error)
        if queued:
            op.report({"INFO"}, f"Expotion: scoring {queued} strip(s); the music appears when ready")
        return {"FINISHED"} if queued else {"CANCELLED"}
    with SignalStop() as stop:
        try:
            outcomes = run_headless(items, settings, stop)
        except ExpotionError as exc:  # the service: nothing was sent, nothing changed
            op.report({"ERROR"}, exc.user_text())
            return {"CANCELLED"}
    done = report(op, outcomes)
    if stop.signum is not None:
        op.report({"ERROR"}, f"Expotion: interrupted by {stop.name}; its unfinished jobs were cancelled on the service")
        resend_terminate(stop)
    return {"FINISHED"} if done else {"CANCELLED"}
