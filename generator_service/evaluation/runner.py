"""The evaluate loop: per clip, get each system's music, analyse it, score it; then aggregate.

Generation is injected, never done here: `generate(item, system) -> audio [S]` (mono, at
`EvalConfig.sample_rate`) is called for every system whose audio is not already in
`item.generated`. The caller wires the Expotion model/adapter ("expotion"), the text-only
baseline ("text-only") and the baseline with a prompt per schedule segment ("text-only+schedule")
with the same seed and prompt. The beat-locked systems (`LOCKED_SYSTEMS`) are made here: their
base system's music locked to the clip's motion beats and hits (`pipeline.beatlock`, Rubber Band),
and scored before and after the lock. Optional reference models are injected the
same way (`embedder` for FAD, `text_scorer` for a CLAP score) and are off when None; nothing here
loads or downloads a model.

Runs on the calling thread; checks `cancel` before every generation and analysis and reports
progress as ("evaluate", done, total) with one unit per (clip, audio).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from ..errors import ConfigError
from ..pipeline.beatlock import DEFAULT_MAX_STRETCH, check_max_stretch, lock_to_performer
from ..pipeline.hits import Hit
from ..progress import CancelToken, ProgressCallback, no_progress
from . import metrics as m

logger = logging.getLogger(__name__)

#: The systems compared by default: the model (with its adapter) and the text-only baseline.
SYSTEMS = ("expotion", "text-only")
#: Systems made by the beat lock: name -> the system whose music is locked (what "before" plays).
LOCKED_SYSTEMS = {"beat-locked": "text-only", "beat-locked+schedule": "text-only+schedule"}
#: The name under which ground-truth music is scored like a system (the instrument's own ceiling).
GROUND_TRUTH = "ground-truth"
#: Audio shorter or longer than the motion by more than this is reported in the notes.
LENGTH_SLACK_S = 0.25


class Generate(Protocol):
    """Makes the music of `system` for `item`: audio [S] at the configured sample rate."""

    def __call__(self, item: EvalItem, system: str) -> np.ndarray: ...


class Embedder(Protocol):
    """Audio [S] at `sr` -> embeddings [T, D] (or [D]) of a locally available model (for FAD)."""

    def __call__(self, audio: np.ndarray, sr: int) -> np.ndarray: ...


class TextScorer(Protocol):
    """Text adherence of audio [S] at `sr` to `text` (e.g. CLAP cosine similarity)."""

    def __call__(self, audio: np.ndarray, sr: int, text: str) -> float: ...


@dataclass
class EvalItem:
    """One clip to evaluate. Curves are at `fps` with sample i at time i / fps.

    `motion_energy` [N], `expression_intensity` [N], `body_velocity` [N, 2] or None (+y down),
    `ground_truth_audio` [S] or None, `generated` maps system -> audio [S] already made, `hits` the
    cuts/markers of the clip (seconds on the clip's clock) the music should accent.
    """

    clip_id: str
    fps: float
    motion_energy: np.ndarray
    expression_intensity: np.ndarray
    body_velocity: np.ndarray | None = None
    prompt: str = ""
    seed: int | None = None
    ground_truth_audio: np.ndarray | None = None
    generated: dict[str, np.ndarray] = field(default_factory=dict)
    hits: tuple[Hit, ...] = ()

    def __post_init__(self) -> None:
        if not self.clip_id:
            raise ConfigError("clip_id: must not be empty")
        if not (self.fps > 0):
            raise ConfigError(f"fps: must be positive, got {self.fps} (clip {self.clip_id})")
        n = np.asarray(self.motion_energy).shape
        e = np.asarray(self.expression_intensity).shape
        if len(n) != 1 or n != e:
            raise ConfigError(f"motion_energy {n} and expression_intensity {e} must both be [N] (clip {self.clip_id})")


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation; every tolerance used lands in the report."""

    #: Systems to generate and compare, the first is the one under test.
    systems: tuple[str, ...] = SYSTEMS
    #: Sample rate of all audio (MusicGen: 32 kHz).
    sample_rate: int = m.SAMPLE_RATE
    #: Half-width of the beat/onset hit window, seconds.
    tolerance_s: float = m.DEFAULT_TOLERANCE_S
    #: Relative tempo tolerance (0.04 = +-4 %).
    tempo_tolerance: float = m.DEFAULT_TEMPO_TOLERANCE
    #: Smoothing of the expression and music curves before correlating, seconds.
    expression_smoothing_s: float = 1.0
    #: Largest lag searched for the best expression correlation, seconds.
    expression_max_lag_s: float = 0.5
    #: Motion-event hysteresis/prominence as a fraction of the curve's amplitude.
    min_excursion: float = 0.3
    #: Whether +y of body_velocity points down (MediaPipe image coordinates).
    y_down: bool = True
    #: Bound of the beat lock's local stretch (the beat-locked systems).
    max_stretch: float = DEFAULT_MAX_STRETCH
    #: Half-width of the window in which a music onset lands on a hit, seconds.
    hit_tolerance_s: float = m.DEFAULT_HIT_TOLERANCE_S

    def __post_init__(self) -> None:
        if not self.systems or len(set(self.systems)) != len(self.systems) or GROUND_TRUTH in self.systems:
            raise ConfigError(f"systems: need distinct names other than {GROUND_TRUTH!r}, got {self.systems}")
        if self.sample_rate <= 0:
            raise ConfigError(f"sample_rate: must be positive, got {self.sample_rate}")
        if not 0 < self.tolerance_s <= 1.0:
            raise ConfigError(f"tolerance_s: {self.tolerance_s} is outside (0, 1] s")
        if not 0 < self.tempo_tolerance < 0.5:
            raise ConfigError(f"tempo_tolerance: {self.tempo_tolerance} is outside (0, 0.5)")
        if self.expression_smoothing_s < 0 or self.expression_max_lag_s < 0:
            raise ConfigError("expression_smoothing_s and expression_max_lag_s: must be >= 0")
        if not 0 < self.min_excursion < 1:
            raise ConfigError(f"min_excursion: {self.min_excursion} is outside (0, 1)")
        check_max_stretch(self.max_stretch)
        if not 0 < self.hit_tolerance_s <= 0.5:
            raise ConfigError(f"hit_tolerance_s: {self.hit_tolerance_s} is outside (0, 0.5] s")
        if any(LOCKED_SYSTEMS.get(s) == s for s in self.systems):
            raise ConfigError("systems: a beat-locked system cannot be its own base")

    @property
    def sources(self) -> tuple[str, ...]:
        """The systems whose music is generated (or given): each plain system and each locked one's base."""
        names = [LOCKED_SYSTEMS.get(s, s) for s in self.systems]
        return tuple(dict.fromkeys(names))


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


# ---------------------------------------------------------------------------------------------
# per clip


def _check_audio(audio: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"{what}: expected mono audio [S], got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what}: contains NaN or infinite samples")
    return arr


def _audio_for(item: EvalItem, system: str, generate: Generate | None) -> np.ndarray:
    if system in item.generated:
        return _check_audio(item.generated[system], f"{item.clip_id}/{system}")
    if generate is None:
        raise ConfigError(f"clip {item.clip_id}: no audio for system {system!r} and no generate() given")
    return _check_audio(generate(item, system), f"generate({item.clip_id!r}, {system!r})")


def _score_system(
    item: EvalItem,
    motion: m.MotionAnalysis,
    music: m.MusicAnalysis,
    reference: m.MusicAnalysis | None,
    config: EvalConfig,
    text_score: float | None,
) -> SystemScores:
    duration = max(min(motion.duration_s, music.duration_s), 1e-3)
    tol = config.tolerance_s
    versus_ref = None
    if reference is not None:
        ref_duration = max(min(reference.duration_s, music.duration_s), 1e-3)
        versus_ref = m.beat_alignment(
            reference.beats, music.beats, ref_duration, tolerance_s=tol, reference="reference_beats"
        )
    return SystemScores(
        beats=m.beat_alignment(motion.times, music.beats, duration, tolerance_s=tol, reference="beats"),
        onsets=m.beat_alignment(motion.times, music.onsets, duration, tolerance_s=tol, reference="onsets"),
        tempo=m.tempo_consistency(
            music.tempo_bpm,
            motion,
            None if reference is None else reference.tempo_bpm,
            tolerance=config.tempo_tolerance,
        ),
        expression=m.expression_following(
            item.expression_intensity,
            item.fps,
            music,
            smoothing_s=config.expression_smoothing_s,
            max_lag_s=config.expression_max_lag_s,
        ),
        beats_vs_reference=versus_ref,
        text_score=text_score,
        hits=m.hit_alignment(np.array([h.t for h in item.hits]), music.onsets, tolerance_s=config.hit_tolerance_s)
        if item.hits
        else None,
    )


def evaluate_clip(
    item: EvalItem,
    generate: Generate | None,
    config: EvalConfig,
    *,
    text_scorer: TextScorer | None = None,
    step: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    notes: list[str] | None = None,
    audio_sink: dict[str, list[np.ndarray]] | None = None,
) -> ClipResult:
    """Analyse and score every system's music (and the ground truth, if any) on one clip.

    `audio_sink`, when given, collects each system's audio [S] (for FAD over the whole set).
    """
    motion = m.analyze_motion(
        item.motion_energy, item.fps, item.body_velocity, min_excursion=config.min_excursion, y_down=config.y_down
    )
    sources: dict[str, np.ndarray] = {}
    for name in _sources(item, config):
        if cancel is not None:
            cancel.check()
        sources[name] = _audio_for(item, name, generate)
    audios: dict[str, np.ndarray] = {}
    locked: dict[str, tuple[str, Any]] = {}
    for system in config.systems:
        base = LOCKED_SYSTEMS.get(system)
        if base is None or system in item.generated:
            audios[system] = sources[system] if base is None else _audio_for(item, system, None)
            continue
        if cancel is not None:
            cancel.check()
        result = lock_to_performer(sources[base], config.sample_rate, motion.times, item.hits, config.max_stretch)
        audios[system], locked[system] = result.audio, (base, result)
    if item.ground_truth_audio is not None:
        audios[GROUND_TRUTH] = _check_audio(item.ground_truth_audio, f"{item.clip_id}/ground truth")
    if audio_sink is not None:
        for name, audio in audios.items():
            audio_sink.setdefault(name, []).append(audio)
    befores = {base: sources[base] for base, _ in locked.values() if base not in audios}
    music: dict[str, m.MusicAnalysis] = {}
    for name, audio in (audios | befores).items():
        if cancel is not None:
            cancel.check()
        music[name] = m.analyze_music(audio, config.sample_rate)
        _note_length(item.clip_id, name, music[name].duration_s, motion.duration_s, notes)
        if step is not None:
            step()
    reference = music.get(GROUND_TRUTH)

    def score(name: str, text: bool) -> SystemScores:
        text_score = None
        if text and text_scorer is not None:
            text_score = float(text_scorer(audios[name], config.sample_rate, item.prompt))
        return _score_system(item, motion, music[name], None if name == GROUND_TRUTH else reference, config, text_score)

    scores = {name: score(name, True) for name in audios}
    locks = {
        system: LockOutcome(
            base, r.locked, r.reason, r.stretch_range, scores[base] if base in scores else score(base, False)
        )
        for system, (base, r) in locked.items()
    }
    return ClipResult(
        item.clip_id,
        item.prompt,
        item.seed,
        motion.duration_s,
        motion,
        np.asarray(item.motion_energy, dtype=np.float64),
        np.asarray(item.expression_intensity, dtype=np.float64),
        {k: v for k, v in music.items() if k in audios},
        scores,
        locks,
        tuple(item.hits),
    )


def _sources(item: EvalItem, config: EvalConfig) -> list[str]:
    """The systems whose audio must be given or generated for `item`: each plain system, and the
    base of each locked system whose locked audio is not given."""
    names = [LOCKED_SYSTEMS.get(s, s) if s not in item.generated else s for s in config.systems]
    return [n for n in dict.fromkeys(names) if n not in LOCKED_SYSTEMS]


def _analyses(item: EvalItem, config: EvalConfig) -> int:
    """How many audio analyses `evaluate_clip` makes for `item` (progress units)."""
    locked_bases = {LOCKED_SYSTEMS[s] for s in config.systems if s in LOCKED_SYSTEMS and s not in item.generated}
    return len(config.systems) + len(locked_bases - set(config.systems)) + (item.ground_truth_audio is not None)


def _note_length(clip_id: str, name: str, audio_s: float, motion_s: float, notes: list[str] | None) -> None:
    if abs(audio_s - motion_s) > LENGTH_SLACK_S:
        msg = f"{clip_id}/{name}: audio is {audio_s:.2f} s, motion {motion_s:.2f} s; scored over the overlap"
        logger.warning(msg)
        if notes is not None:
            notes.append(msg)


# ---------------------------------------------------------------------------------------------
# aggregation


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


def _embed_all(audios: list[np.ndarray], sr: int, embedder: Embedder) -> np.ndarray:
    rows = [np.atleast_2d(np.asarray(embedder(a, sr), dtype=np.float64)) for a in audios]
    return np.concatenate(rows, axis=0)


def fad_scores(
    audios: dict[str, list[np.ndarray]], sr: int, embedder: Embedder, notes: list[str]
) -> dict[str, float] | None:
    """FAD of each system's clips against the ground-truth clips (None without ground truth)."""
    refs = audios.get(GROUND_TRUTH, [])
    if not refs:
        notes.append("FAD skipped: no ground-truth audio to compare against")
        return None
    ref_emb = _embed_all(refs, sr, embedder)
    out: dict[str, float] = {}
    for name, clips in audios.items():
        if name == GROUND_TRUTH:
            continue
        try:
            out[name] = m.frechet_distance(_embed_all(clips, sr, embedder), ref_emb)
        except ConfigError as err:
            notes.append(f"FAD for {name} skipped: {err.message}")
    return out


# ---------------------------------------------------------------------------------------------
# the loop


def check_inputs(items: list[EvalItem], generate: Generate | None, config: EvalConfig) -> None:
    """Fail before any work: no clips, duplicate ids, or missing audio with no generate()."""
    if not items:
        raise ConfigError("items: nothing to evaluate (no clips)")
    ids = [i.clip_id for i in items]
    if len(set(ids)) != len(ids):
        raise ConfigError("items: clip ids must be unique")
    if generate is None:
        missing = [f"{i.clip_id}/{s}" for i in items for s in _sources(i, config) if s not in i.generated]
        if missing:
            raise ConfigError(f"no generate() given and no audio for {', '.join(missing[:5])}")
    if any(s in LOCKED_SYSTEMS and s not in i.generated for i in items for s in config.systems):
        from ..pipeline.rubberband import find_rubberband

        find_rubberband()  # the beat lock needs it: say so before any generation


def evaluate(
    items: list[EvalItem],
    generate: Generate | None = None,
    config: EvalConfig | None = None,
    *,
    embedder: Embedder | None = None,
    text_scorer: TextScorer | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    meta: dict[str, Any] | None = None,
) -> EvalReport:
    """Evaluate every item with every configured system and return the report data.

    1. check the inputs; 2. per clip: motion beats, generate (if needed), analyse, score;
    3. aggregate per system; 4. paired comparison of the first system with the others;
    5. FAD when an `embedder` is given. `meta` (model id, adapter, ...) is copied into the report.
    """
    config = config or EvalConfig()
    check_inputs(items, generate, config)
    total = sum(_analyses(i, config) for i in items)
    done = 0
    notes: list[str] = []

    def step() -> None:
        nonlocal done
        done += 1
        progress("evaluate", done, total)

    progress("evaluate", 0, total)
    sink: dict[str, list[np.ndarray]] | None = {} if embedder is not None else None
    clips = [
        evaluate_clip(
            item, generate, config, text_scorer=text_scorer, step=step, cancel=cancel, notes=notes, audio_sink=sink
        )
        for item in items
    ]
    names = list(config.systems) + ([GROUND_TRUTH] if any(GROUND_TRUTH in c.scores for c in clips) else [])
    fad = None
    if embedder is not None and sink is not None:
        fad = fad_scores(sink, config.sample_rate, embedder, notes)
    return EvalReport(
        config,
        clips,
        aggregate(clips, names),
        paired(clips, config.systems),
        fad,
        notes,
        dict(meta or {}),
        lock_summary(clips, config.systems),
    )


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
