"""What an evaluation is given: the clips (`EvalItem`), its settings (`EvalConfig`), the names of
the systems compared, and the shapes of the injected models (`Generate`, `Embedder`, `TextScorer`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..errors import ConfigError
from ..pipeline.beatlock import DEFAULT_MAX_STRETCH, check_max_stretch
from ..pipeline.hits import Hit
from . import metrics as m

#: The systems compared by default: the model (with its adapter) and the text-only baseline.
SYSTEMS = ("expotion", "text-only")
#: Systems made by the beat lock: name -> the system whose music is locked (what "before" plays).
LOCKED_SYSTEMS = {"beat-locked": "text-only", "beat-locked+schedule": "text-only+schedule"}
#: The name under which ground-truth music is scored like a system (the instrument's own ceiling).
GROUND_TRUTH = "ground-truth"


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
