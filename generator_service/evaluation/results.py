"""What an evaluation finds: each system's scores per clip, the beat lock's outcome, the per-clip
results, and the report over all clips with its summaries (per-system means, paired comparisons,
before/after the lock) and its JSON form."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..pipeline.hits import Hit
from . import metrics as m
from .inputs import GROUND_TRUTH, EvalConfig


@dataclass(frozen=True)
class SystemScores:
    """All metrics of one system's music on one clip."""

    beats: m.AlignmentResult
    onsets: m.AlignmentResult
    tempo: m.TempoResult
    expression: m.ExpressionResult
    #: Generated beats against ground-truth beats (None without ground truth / for it).
    beats_vs_reference: m.AlignmentResult | None
    #: Text adherence from the optional `text_scorer`.
    text_score: float | None
    #: Hits with a music onset within +-hit_tolerance_s (None when the clip has no hits).
    hits: m.HitAlignment | None = None


@dataclass(frozen=True)
class LockOutcome:
    """What the beat lock did to one clip's music for a locked system: its base system, whether it
    locked and why, the local stretch range used, and the base music's scores ("before")."""

    base: str
    locked: bool
    reason: str
    stretch_range: tuple[float, float]
    before: SystemScores


@dataclass(frozen=True)
class ClipResult:
    """One clip: motion analysis, the music analysis and scores of every system (and ground truth)."""

    clip_id: str
    prompt: str
    seed: int | None
    duration_s: float
    motion: m.MotionAnalysis
    motion_energy: np.ndarray
    expression_intensity: np.ndarray
    music: dict[str, m.MusicAnalysis]
    scores: dict[str, SystemScores]
    locks: dict[str, LockOutcome] = field(default_factory=dict)
    hits: tuple[Hit, ...] = ()


@dataclass(frozen=True)
class EvalReport:
    """The whole evaluation: per-clip results, aggregates, paired comparisons, optional FAD."""

    config: EvalConfig
    clips: list[ClipResult]
    aggregate: dict[str, dict[str, float | int | None]]
    paired: dict[str, dict[str, dict[str, float | int | None]]]
    fad: dict[str, float] | None
    notes: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    #: Per locked system: beat F and hit rate before/after the lock, clips locked (`lock_summary`).
    locks: dict[str, dict[str, float | int | None]] = field(default_factory=dict)

    @property
    def system_names(self) -> list[str]:
        """The compared systems, plus ground truth when any clip has it."""
        has_gt = any(GROUND_TRUTH in c.scores for c in self.clips)
        return list(self.config.systems) + ([GROUND_TRUTH] if has_gt else [])

    def to_dict(self) -> dict[str, Any]:
        """Every number as JSON-ready data (NaN -> None, arrays -> lists)."""
        return _jsonable(
            {
                "meta": self.meta,
                "config": asdict(self.config),
                "notes": self.notes,
                "aggregate": self.aggregate,
                "paired": self.paired,
                "fad": self.fad,
                "locks": self.locks,
                "clips": [_clip_dict(c) for c in self.clips],
            }
        )


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def clip_metrics(s: SystemScores) -> dict[str, float | None]:
    """The flat per-clip numbers that are aggregated and compared (None = not defined)."""
    t = s.tempo
    return {
        "beat_f": s.beats.f_measure,
        "beat_hit_rate": s.beats.hit_rate,
        "beat_chance_f": s.beats.chance_f_measure,
        "onset_f": s.onsets.f_measure,
        "onset_hit_rate": s.onsets.hit_rate,
        "onset_chance_f": s.onsets.chance_f_measure,
        "tempo_match": None if t.music_vs_motion == "undefined" else float(t.matches_motion),
        "tempo_match_any_octave": None if t.music_vs_motion == "undefined" else float(t.matches_motion_any_octave),
        "tempo_octave_error": None if t.music_vs_motion == "undefined" else float(t.octave_error_motion),
        "tempo_match_reference": None if t.music_vs_reference == "undefined" else float(t.music_vs_reference == "same"),
        "expression_energy_r": s.expression.energy_r,
        "expression_brightness_r": s.expression.brightness_r,
        "beats_vs_reference_f": None if s.beats_vs_reference is None else s.beats_vs_reference.f_measure,
        "text_score": s.text_score,
        "hit_rate": None if s.hits is None else s.hits.hit_rate,
    }


def lock_summary(clips: list[ClipResult], systems: tuple[str, ...]) -> dict[str, dict[str, float | int | None]]:
    """Per locked system: its base, the mean beat F and hit rate of the base music ("before") and of
    the locked music ("after") over the clips, and how many clips the lock locked."""
    out: dict[str, dict[str, float | int | None]] = {}
    for system in systems:
        rows = [(c.locks[system], c.scores[system]) for c in clips if system in c.locks]
        if not rows:
            continue
        before = [clip_metrics(lock.before) for lock, _ in rows]
        after = [clip_metrics(s) for _, s in rows]
        out[system] = {
            "base": rows[0][0].base,
            "n_clips": len(rows),
            "locked": sum(lock.locked for lock, _ in rows),
            "beat_f_before": _mean([r["beat_f"] for r in before]),
            "beat_f_after": _mean([r["beat_f"] for r in after]),
            "hit_rate_before": _mean([r["hit_rate"] for r in before]),
            "hit_rate_after": _mean([r["hit_rate"] for r in after]),
        }
    return out


def aggregate(clips: list[ClipResult], names: list[str]) -> dict[str, dict[str, float | int | None]]:
    """Per system: the mean of each clip metric over the clips where it is defined, plus counts
    (`n_clips`, `octave_errors`, `tempo_undefined`)."""
    out: dict[str, dict[str, float | int | None]] = {}
    for name in names:
        rows = [clip_metrics(c.scores[name]) for c in clips if name in c.scores]
        agg: dict[str, float | int | None] = {k: _mean([r[k] for r in rows]) for k in (rows[0] if rows else {})}
        agg["n_clips"] = len(rows)
        agg["octave_errors"] = int(sum(r["tempo_octave_error"] or 0 for r in rows))
        agg["tempo_undefined"] = int(sum(r["tempo_match"] is None for r in rows))
        out[name] = agg
    return out


#: Metrics compared clip by clip between the system under test and each other system.
PAIRED_METRICS = (
    "beat_f",
    "onset_hit_rate",
    "tempo_match",
    "expression_energy_r",
    "expression_brightness_r",
    "text_score",
)


def paired(clips: list[ClipResult], systems: tuple[str, ...]) -> dict[str, dict[str, dict[str, float | int | None]]]:
    """`"A vs B"` -> metric -> mean difference A - B, wins/losses/ties (|diff| <= 1e-9) and n."""
    out: dict[str, dict[str, dict[str, float | int | None]]] = {}
    first = systems[0]
    for other in systems[1:]:
        table: dict[str, dict[str, float | int | None]] = {}
        for key in PAIRED_METRICS:
            diffs = []
            for c in clips:
                a, b = clip_metrics(c.scores[first])[key], clip_metrics(c.scores[other])[key]
                if a is not None and b is not None:
                    diffs.append(a - b)
            table[key] = {
                "mean_diff": _mean(diffs),
                "wins": sum(d > 1e-9 for d in diffs),
                "losses": sum(d < -1e-9 for d in diffs),
                "ties": sum(abs(d) <= 1e-9 for d in diffs),
                "n": len(diffs),
            }
        out[f"{first} vs {other}"] = table
    return out


# ---------------------------------------------------------------------------------------------
# JSON


def _result_dict(obj: Any) -> dict[str, Any]:
    d = asdict(obj)
    props = (
        "score",
        "hit_rate",
        "matches_motion",
        "matches_motion_any_octave",
        "octave_error_motion",
        "octave_error_reference",
    )
    for prop in props:
        if hasattr(type(obj), prop):
            d[prop] = getattr(obj, prop)
    return d


def _clip_dict(c: ClipResult) -> dict[str, Any]:
    scores = {}
    for name, s in c.scores.items():
        scores[name] = {
            "beats": _result_dict(s.beats),
            "onsets": _result_dict(s.onsets),
            "tempo": _result_dict(s.tempo),
            "expression": _result_dict(s.expression),
            "beats_vs_reference": None if s.beats_vs_reference is None else _result_dict(s.beats_vs_reference),
            "text_score": s.text_score,
            "hits": None if s.hits is None else _result_dict(s.hits),
        }
    return {
        "clip_id": c.clip_id,
        "prompt": c.prompt,
        "seed": c.seed,
        "duration_s": c.duration_s,
        "motion": {"source": c.motion.source, "tempo_bpm": c.motion.tempo_bpm, "event_times": c.motion.times},
        "music": {
            name: {"tempo_bpm": a.tempo_bpm, "silent": a.silent, "beat_times": a.beats, "onset_times": a.onsets}
            for name, a in c.music.items()
        },
        "scores": scores,
        "hits": [h.to_dict() for h in c.hits],
        "locks": {
            name: {
                "base": lock.base,
                "locked": lock.locked,
                "reason": lock.reason,
                "stretch_range": list(lock.stretch_range),
                "before": {
                    "beats": _result_dict(lock.before.beats),
                    "hits": None if lock.before.hits is None else _result_dict(lock.before.hits),
                },
            }
            for name, lock in c.locks.items()
        },
    }


def _jsonable(obj: Any) -> Any:
    """Recursively: numpy -> Python, non-finite floats -> None, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
