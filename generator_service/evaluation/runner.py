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

What it is given lives in `inputs` (`EvalItem`, `EvalConfig`), what it finds in `results`
(`ClipResult`, `EvalReport` and the summaries). Runs on the calling thread; checks `cancel` before every generation and analysis and reports
progress as ("evaluate", done, total) with one unit per (clip, audio).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..pipeline.beatlock import lock_to_performer
from ..progress import CancelToken, ProgressCallback, no_progress
from . import metrics as m
from .inputs import GROUND_TRUTH, LOCKED_SYSTEMS, Embedder, EvalConfig, EvalItem, Generate, TextScorer
from .results import ClipResult, EvalReport, LockOutcome, SystemScores, aggregate, lock_summary, paired

logger = logging.getLogger(__name__)

#: Audio shorter or longer than the motion by more than this is reported in the notes.
LENGTH_SLACK_S = 0.25


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
