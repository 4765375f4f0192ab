"""The scoring pipeline: a video range in, takes of exact-length music out.

`Scorer.__call__` reads as numbered steps; `check_inputs` runs first so bad input fails before any
heavy work. A `Scorer` owns a loaded `MusicModel`, an optional visual adapter and a reusable
feature extractor, so a service can keep it warm between jobs.

Visual features are read once, and only when they are used: by a loaded adapter (the condition),
by `auto_prompt` (the suggested prompt suffix; for a clip longer than one generation window, a
prompt schedule: a suggestion per segment, pipeline/schedule.py, windows ending at its boundaries),
by a beat lock that looks at the performer (pipeline/score_lock.py), or when `analyze=True` is
asked. Without an adapter the visual condition does not reach the model and the result says
`visual: "unused"`. The beat lock runs on the decoded takes, before their exact-length trim.

A melody temp (melody checkpoints only, pipeline/melody_input.py) gives each window the chroma of
its span; the result's `melody` block says how closely each final take follows it, measured
(pipeline/melody_report.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..audio import exact_num_samples
from ..config import FeatureConfig, GenerationConfig
from ..errors import ConfigError
from ..model.loading import MELODY_HINT, MusicModel
from ..progress import CancelToken, ProgressCallback, no_progress
from .feature_reader import FeatureReader, FeatureStore
from .generate import PromptSpan, decode_codes, frames_for_samples, generate_codes, guidance_blocks
from .hits import Hit, shift_hits
from .melody_input import MelodyRequest, MelodyTemp
from .score_lock import LockRequest, lock_takes, plan_lock

if TYPE_CHECKING:
    from expotion_protocol.params import JobParams

    from .feature_track import FeatureTrack
    from .schedule import Segment

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreRequest:
    """What to score: a video file, a `[start, end)` range in seconds, how to generate."""

    video: Path
    start: float | None = None
    end: float | None = None
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    #: Append the prompt suffix suggested from the video (tempo, energy, mood).
    auto_prompt: bool = False
    #: Read the visual features even if nothing uses them (to report the analysis).
    analyze: bool = False
    #: The beat lock (default: automatic) and the hits, on the video's clock.
    lock: LockRequest = field(default_factory=LockRequest)
    #: A temp track the music follows (melody checkpoints only); None: text (and video) alone.
    melody: MelodyRequest | None = None

    @classmethod
    def from_params(
        cls, video: Path, params: JobParams, gen: GenerationConfig, melody: MelodyRequest | None = None
    ) -> ScoreRequest:
        """The request of a job's parameters (range, auto prompt, beat lock and hits) on `video`."""
        return cls(
            video,
            params.start,
            params.end,
            gen,
            auto_prompt=params.auto_prompt,
            lock=LockRequest.from_params(params),
            melody=melody,
        )


@dataclass
class ScoreResult:
    """Takes of music, each exactly `num_samples` long, and everything needed to redo them."""

    takes: list[np.ndarray]
    seeds: list[int]
    sample_rate: int
    num_samples: int
    start: float
    end: float
    prompt_used: str
    model_id: str
    untrained: bool
    adapter: str | None
    #: "present" (adapter followed the performer), "null" (no person found), "unused" (no adapter).
    visual: str
    analysis: dict[str, Any] | None = None
    #: Precision the decoder ran at ("fp32", "bf16", "int8": model/precision/).
    precision: str = "fp32"
    #: Audio channels of every take: 1 (takes [S]) or 2 (stereo models, takes [2, S]).
    channels: int = 1
    #: The beat lock's mode as used ("off", "motion", "hits", "both") and its report per take.
    beat_lock: str = "off"
    lock: list[dict[str, Any]] = field(default_factory=list)
    #: The hits inside the range, on its clock ({t, kind, strength}).
    hits: list[dict[str, Any]] = field(default_factory=list)
    #: The prompt schedule of a long clip ({start, end, mood, energy, prompt, cause}; empty: one prompt).
    schedule: list[dict[str, Any]] = field(default_factory=list)
    #: The melody temp used and how closely each take follows it (pipeline/melody_report.py); None: no melody.
    melody: dict[str, Any] | None = None

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    def metadata(self) -> dict[str, Any]:
        """JSON-able description of the result (stored beside WAVs and on Blender strips)."""
        return {
            "takes": len(self.takes),
            "seeds": self.seeds,
            "sample_rate": self.sample_rate,
            "num_samples": self.num_samples,
            "start": self.start,
            "end": self.end,
            "duration_s": self.duration_s,
            "prompt_used": self.prompt_used,
            "model": self.model_id,
            "untrained": self.untrained,
            "adapter": self.adapter,
            "visual": self.visual,
            "precision": self.precision,
            "channels": self.channels,
            "version": __version__,
            "note": "UNTRAINED tiny test model: not music" if self.untrained else "",
            "beat_lock": self.beat_lock,
            "lock": self.lock,
            "hits": self.hits,
            "schedule": self.schedule,
            "melody": self.melody,
        }


def join_prompt(prompt: str, suffix: str) -> str:
    """The user's prompt with the suggested suffix appended (either may be empty)."""
    return ", ".join(part.strip() for part in (prompt, suffix) if part and part.strip())


def fit_to_adapter(gen: GenerationConfig, adapter_window_s: float) -> GenerationConfig:
    """Windows no longer than the adapter was trained on; context at most half a window."""
    window = min(gen.window_s or adapter_window_s, adapter_window_s)
    return replace(gen, window_s=window, context_s=min(gen.context_s, window / 2))


def check_inputs(request: ScoreRequest) -> tuple[float, float]:
    """Probe the video and validate the range -> (start, end); an explicit beat lock needs Rubber
    Band. Raises VideoError / RubberBandError. Needs no model."""
    from .video import probe_video, resolve_range

    request.lock.check()
    if request.melody is not None:
        request.melody.check()
    return resolve_range(probe_video(request.video), request.start, request.end)


class Scorer:
    """Runs scoring requests against one loaded model (and optional adapter)."""

    def __init__(
        self,
        music: MusicModel,
        features: FeatureConfig | None = None,
        adapter: Any = None,
        feature_cache: FeatureStore | None = None,
    ) -> None:
        self.music = music
        self.features = features or FeatureConfig()
        self.adapter = adapter
        #: Reads (and, with the service's `feature_cache`, caches) the clip's features when a step needs them.
        self.reader = FeatureReader(self.features, feature_cache)

    def read_features(
        self, video: Path, start: float, end: float, progress: ProgressCallback, cancel: CancelToken
    ) -> FeatureTrack:
        """Decode `[start, end)` at feature_fps and run face + pose -> FeatureTrack."""
        return self.reader.read(video, start, end, progress=progress, cancel=cancel)

    def close(self) -> None:
        """Free the feature extractor (the model stays with its holder)."""
        self.reader.close()

    def __call__(
        self, request: ScoreRequest, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None
    ) -> ScoreResult:
        cancel = cancel or CancelToken()
        gen = request.generation
        # 1. Check inputs before any heavy work.
        if gen.visual_guidance > 1.0 and self.adapter is None:
            raise ConfigError(
                "visual_guidance: needs an adapter (without one the video does not reach the model)",
                hint="Pass --adapter, or leave visual guidance at 1.",
            )
        if request.melody is not None and not self.music.melody:
            raise ConfigError(f"melody: {self.music.model_id!r} cannot take a melody", hint=MELODY_HINT)
        start, end = check_inputs(request)
        num_samples = exact_num_samples(end - start, self.music.sample_rate)
        hits = tuple(shift_hits(request.lock.hits, start, end))
        # 2. Visual features, read once, only when something uses them.
        track = analysis = None
        if self.adapter is not None or request.auto_prompt or request.analyze or request.lock.reads_motion:
            track = self.read_features(request.video, start, end, progress, cancel)
            from .analysis import analyze_track

            analysis = analyze_track(track)
        # 3. The prompt.
        prompt = join_prompt(gen.prompt, analysis["suggested_prompt"]) if request.auto_prompt else gen.prompt
        gen = replace(gen, prompt=prompt)
        # 4. The visual condition at the codec frame rate (adapter only).
        condition, visual = None, "unused"
        if self.adapter is not None:
            gen = fit_to_adapter(gen, self.adapter.config.window_s)
            condition, visual = self._adapter_condition(track, start, end - start, gen)
        # 5. A prompt per segment for a clip longer than one window (words from the video only).
        segments = self._schedule(track, hits, gen, num_samples) if request.auto_prompt else []
        spans = [
            PromptSpan(round(seg.start * self.music.frame_rate), join_prompt(request.generation.prompt, seg.prompt))
            for seg in segments
        ]
        if spans:
            prompt = " | ".join(dict.fromkeys(span.prompt for span in spans))
        # 6. Sample codec tokens window by window (with a lock, some music past the end to stretch from).
        lock = plan_lock(request.lock, hits, track)
        music_samples = exact_num_samples(lock.music_seconds(end - start), self.music.sample_rate)
        frames = frames_for_samples(music_samples, self.music.hop_length)
        temp = None if request.melody is None else MelodyTemp.load(request.melody)
        melody = None if temp is None or self.music.chroma is None else temp.chroma_at(self.music.chroma)
        codes = generate_codes(
            self.music,
            frames,
            gen,
            condition=condition,
            schedule=spans,
            melody=melody,
            progress=progress,
            cancel=cancel,
        )
        # 7. Decode to audio.
        window = round((gen.window_s or self.music.max_window_s) * self.music.frame_rate)
        overlap = max(1, round(gen.crossfade_s * self.music.frame_rate))
        audio = decode_codes(
            self.music, codes, chunk_frames=window, overlap_frames=overlap, progress=progress, cancel=cancel
        )
        # 8. The beat lock, then exactly the clip's length.
        locked = lock_takes(audio, self.music.sample_rate, num_samples, lock, progress=progress, cancel=cancel)
        takes = [locked.audio[i] for i in range(locked.audio.shape[0])]
        # 9. How closely each final take follows the melody, measured.
        followed = None
        if temp is not None and self.music.chroma is not None:
            from .melody_report import melody_block

            followed = melody_block(temp, takes, self.music.sample_rate, end - start, self.music.chroma)
        return ScoreResult(
            takes=takes,
            seeds=[gen.seed + i for i in range(gen.variants)],
            sample_rate=self.music.sample_rate,
            num_samples=num_samples,
            start=start,
            end=end,
            prompt_used=prompt,
            model_id=self.music.model_id,
            untrained=self.music.untrained,
            adapter=getattr(self.adapter, "name", None),
            visual=visual,
            analysis=analysis,
            precision=self.music.precision,
            channels=self.music.audio_channels,
            beat_lock=locked.mode,
            lock=locked.reports,
            hits=[h.to_dict() for h in locked.hits],
            schedule=[seg.to_dict() | {"prompt": span.prompt} for seg, span in zip(segments, spans, strict=True)],
            melody=followed,
        )

    def _schedule(self, track: Any, hits: tuple[Hit, ...], gen: GenerationConfig, num_samples: int) -> list[Segment]:
        """The prompt schedule of a clip longer than one window (else none): segments no longer than
        the new frames of a continued window, boundaries at cuts and at the performer's changes."""
        from .analysis import estimate_tempo
        from .schedule import plan_schedule

        window_s = gen.window_s or self.music.max_window_s
        if frames_for_samples(num_samples, self.music.hop_length) <= round(window_s * self.music.frame_rate):
            return []
        return plan_schedule(track, hits, window_s - gen.context_s, tempo_bpm=estimate_tempo(track).bpm)

    def _adapter_condition(self, track: Any, start: float, duration: float, gen: GenerationConfig):
        from .alignment import to_condition

        condition = to_condition(track, start, duration, frame_rate=self.music.frame_rate, config=self.features)
        visual = "present" if float(np.max(condition.mask, initial=0.0)) > 0 else "null"
        return self.adapter.runner(
            self.music, condition.values, batch=gen.variants, blocks=guidance_blocks(gen)
        ), visual
