"""The beat lock as a step of scoring (pipeline/score.py): which lock a job asks for, what that
becomes for this clip, every take locked, and the report a job's metadata keeps.

Modes (the job parameter `beat_lock`, `expotion_protocol.params.BeatLock`): "off" leaves the
decoded audio as it is; "motion" moves the music's beats onto the performer's motion beats; "hits"
its strongest onsets onto the hits (cuts, markers); "both" does both. Automatic (None, the default)
is "both" when the clip shows a person (a pose in any feature frame), else "hits". With nothing to
lock to (no hits in the range for "hits"), the music is left as it is and the report says why;
otherwise the lock itself (pipeline/beatlock.py) decides whether an honest lock exists.
Rubber Band missing: an explicit mode fails before any work (`check`), the automatic one leaves
the music as it is and says so.

Each take is locked on its own (its own beats) to exactly `num_samples` samples. Its report: the
mode, whether it locked and why, the stretch range, tempi, anchors, and the beat/hit alignment
before and after, measured on the music (pipeline/lock_report.py). Times are seconds on the range's
clock (0 = the range's start). Runs in the calling thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expotion_protocol.params import BEAT_LOCK_MODES, BeatLock, JobParams

from ..errors import ConfigError
from ..progress import CancelToken, ProgressCallback, no_progress
from .beatlock import DEFAULT_MAX_STRETCH, LockConfig, LockResult, check_max_stretch, lock_to_performer
from .hits import Hit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockRequest:
    """What a job asks of the lock: `mode` (None: automatic), `hits` on the source's clock (like
    the range's `start`), and the bound of the local stretch."""

    mode: BeatLock | None = None
    hits: tuple[Hit, ...] = ()
    max_stretch: float = DEFAULT_MAX_STRETCH

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in BEAT_LOCK_MODES:
            raise ConfigError(f"beat_lock: {self.mode!r} is not one of {', '.join(BEAT_LOCK_MODES)}")
        check_max_stretch(self.max_stretch)

    @classmethod
    def from_params(cls, params: JobParams) -> LockRequest:
        """The lock part of a job's parameters (the one mapping from the protocol's fields)."""
        return cls(params.beat_lock, tuple(Hit(h.t, h.kind, h.strength) for h in params.hits))

    @property
    def reads_motion(self) -> bool:
        """Whether the lock looks at the performer (motion, both, automatic): the features are read."""
        return self.mode in (None, "motion", "both")

    def check(self) -> None:
        """Fail before any work when an explicit lock cannot run (Rubber Band missing, with the fix)."""
        if self.mode not in (None, "off"):
            from .rubberband import find_rubberband

            find_rubberband()


@dataclass(frozen=True)
class LockPlan:
    """The lock for this clip, decided before generation: the mode (automatic resolved), why
    nothing will be locked (empty: the lock runs), the motion beats [K] and hits on the range's clock."""

    mode: str
    untouched: str
    motion_beats: np.ndarray
    hits: tuple[Hit, ...]
    max_stretch: float = DEFAULT_MAX_STRETCH

    def music_seconds(self, duration_s: float, config: LockConfig = LockConfig()) -> float:
        """How much music to generate for a range of `duration_s`: with a lock, as much as it may
        compress into the range plus its margin (the music never runs out before the range's end)."""
        if self.untouched:
            return duration_s
        return duration_s / (1.0 - self.max_stretch) + config.tail_margin_s


def plan_lock(request: LockRequest, hits: tuple[Hit, ...], track: Any) -> LockPlan:
    """The lock of a clip whose features are `track` (None when they were not read: nothing reads
    motion) and whose hits, on the range's clock, are `hits`."""
    from .rhythm import motion_beats_of_track

    motion, person = np.zeros(0), False
    if track is not None and request.reads_motion:
        motion, person = motion_beats_of_track(track).times, bool(track.person_mask.any())
    mode = resolve_mode(request, person)
    return LockPlan(mode, _untouched_reason(request, mode, hits), motion, hits, request.max_stretch)


@dataclass
class LockedTakes:
    """Takes after the lock: `audio` [B, S] (stereo [B, C, S]), exactly the range's samples; the
    mode used; one report per take; the hits on the range's clock."""

    audio: np.ndarray
    mode: str
    reports: list[dict[str, Any]] = field(default_factory=list)
    hits: tuple[Hit, ...] = ()


def resolve_mode(request: LockRequest, person: bool) -> str:
    """The mode to use: the request's, or automatic -> "both" with a person in the clip, else "hits"."""
    if request.mode is not None:
        return request.mode
    return "both" if person else "hits"


def _untouched_reason(request: LockRequest, mode: str, hits: tuple[Hit, ...]) -> str:
    """Why the takes are not locked at all before trying (empty: try the lock)."""
    if mode == "off":
        return "beat lock off"
    if mode == "hits" and not hits:
        return (
            "no person in the clip and no hits to lock to"
            if request.mode is None
            else "no hits in the range to lock to"
        )
    if request.mode is None:
        from .rubberband import RubberBandError, find_rubberband

        try:
            find_rubberband()
        except RubberBandError as err:
            return f"{err.message}: the music is left as it is ({err.hint})"
    return ""


def lock_takes(
    audio: np.ndarray,
    rate: int,
    num_samples: int,
    plan: LockPlan,
    *,
    config: LockConfig = LockConfig(),
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> LockedTakes:
    """Lock each take of `audio` [B, S'] (stereo [B, C, S']) at `rate` as `plan` says -> exactly
    `num_samples` samples per take, with a report per take."""
    from ..audio import fit_length

    if plan.untouched:
        report = {"mode": plan.mode, "locked": False, "reason": plan.untouched}
        return LockedTakes(fit_length(audio, num_samples), plan.mode, [dict(report) for _ in audio], plan.hits)
    beats = plan.motion_beats if plan.mode in ("motion", "both") else np.zeros(0)
    targets = plan.hits if plan.mode in ("hits", "both") else ()
    out, reports = [], []
    progress("lock", 0, audio.shape[0])  # the bar starts with the lock, not after its first take
    for i, take in enumerate(audio):
        if cancel is not None:
            cancel.check()
        music = take.T if take.ndim == 2 else take  # [S'] or [S', C]
        started = time.perf_counter()
        result = lock_to_performer(
            music, rate, beats, targets, plan.max_stretch, duration_s=num_samples / rate, config=config
        )
        out.append(result.audio.T if take.ndim == 2 else result.audio)
        reports.append({**take_report(plan.mode, result), "lock_s": round(time.perf_counter() - started, 3)})
        progress("lock", i + 1, audio.shape[0])
    logger.info("beat lock %s: %s", plan.mode, "; ".join(r["reason"] for r in reports))
    return LockedTakes(np.stack(out), plan.mode, reports, plan.hits)


def take_report(mode: str, result: LockResult) -> dict[str, Any]:
    """The compact, JSON-ready report of one take's lock (what a job's metadata and a Blender strip keep)."""
    meta = result.metadata()
    keep = (
        "locked",
        "reason",
        "max_stretch",
        "stretch_range",
        "motion_tempo_bpm",
        "music_tempo_bpm",
        "beat_anchors",
        "hit_anchors",
        "notes",
    )
    return {
        "mode": mode,
        **{k: meta[k] for k in keep},
        "motion_beats": len(result.motion_beats),
        "alignment": result.measured["alignment"],
    }
