"""Typed configuration of the scoring pipeline, documented where declared.

Each dataclass validates itself in `__post_init__` and raises `ConfigError` naming the field.
Config objects are passed explicitly into the pieces that use them; nothing reads globals.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from expotion_protocol.params import MAX_VARIANTS, JobParams

from .errors import ConfigError

#: Default base model (CC-BY-NC 4.0 weights).
DEFAULT_MODEL = "facebook/musicgen-small"
#: MusicGen's sample rate and codec frame rate.
SAMPLE_RATE = 32_000
CODEC_FRAME_RATE = 50
#: Decoder precisions `--precision` accepts (meanings and the default `auto` in model/precision/).
Precision = Literal["auto", "fp32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


def default_cache_dir() -> Path:
    """`$EXPOTION_CACHE_DIR`, else `$XDG_CACHE_HOME/expotion`, else `~/.cache/expotion`."""
    env = os.environ.get("EXPOTION_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "expotion" if xdg else Path.home() / ".cache" / "expotion"


def _require(cond: bool, field_name: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"{field_name}: {message}")


@dataclass(frozen=True)
class FeatureConfig:
    """How visual features are read from the video."""

    #: Frames per second at which face and pose are sampled (an adapter is tied to this value).
    feature_fps: float = 10.0
    #: Longest side of the frames handed to MediaPipe (frames are downscaled, never upscaled).
    max_side: int = 640
    #: Explicit path of `face_landmarker.task` (None: resolve, see pipeline/mediapipe_assets.py).
    face_model: Path | None = None
    #: Explicit path of `pose_landmarker_full.task`.
    pose_model: Path | None = None
    #: Where verified model files and feature caches live.
    cache_dir: Path = field(default_factory=default_cache_dir)
    #: Whether a missing MediaPipe model file may be downloaded from Google's official URL.
    allow_download: bool = False
    #: Gaps (no face / no person) up to this long are interpolated; longer ones are zero, mask 0.
    max_gap_s: float = 0.5
    #: Width of the temporal smoothing window in seconds (0 disables smoothing).
    smoothing_s: float = 0.2

    def __post_init__(self) -> None:
        _require(1.0 <= self.feature_fps <= 60.0, "feature_fps", f"{self.feature_fps} is outside 1..60")
        _require(64 <= self.max_side <= 4096, "max_side", f"{self.max_side} is outside 64..4096")
        _require(self.max_gap_s >= 0, "max_gap_s", "must be >= 0")
        _require(self.smoothing_s >= 0, "smoothing_s", "must be >= 0")


@dataclass(frozen=True)
class GenerationConfig:
    """How music is sampled."""

    prompt: str = ""
    seed: int = 0
    #: Number of takes; take i uses seed + i.
    variants: int = 1
    top_k: int = 250
    temperature: float = 1.0
    #: Classifier-free guidance on the text (1.0 disables guidance).
    guidance_scale: float = 3.0
    #: Guidance on the visual condition (needs an adapter trained with visual dropout; 1.0 = off).
    visual_guidance: float = 1.0
    #: Length of one generation window in seconds (None: the model's own maximum).
    window_s: float | None = None
    #: Seconds of the previous window's tail fed as the prompt of the next window.
    context_s: float = 10.0
    #: Crossfade between consecutive windows, seconds.
    crossfade_s: float = 0.25

    @classmethod
    def from_params(cls, params: JobParams, **settings: Any) -> GenerationConfig:
        """The generation part of a job's parameters (the one mapping from the protocol's rules)."""
        return cls(
            prompt=params.prompt,
            seed=params.seed,
            variants=params.variants,
            top_k=params.top_k,
            temperature=params.temperature,
            guidance_scale=params.guidance_scale,
            visual_guidance=params.visual_guidance_scale,
            **settings,
        )

    def __post_init__(self) -> None:
        _require(1 <= self.variants <= MAX_VARIANTS, "variants", f"{self.variants} is outside 1..{MAX_VARIANTS}")
        _require(self.top_k >= 1, "top_k", f"{self.top_k} must be >= 1")
        _require(self.temperature > 0, "temperature", f"{self.temperature} must be > 0")
        _require(self.guidance_scale >= 1.0, "guidance_scale", f"{self.guidance_scale} must be >= 1.0")
        _require(self.visual_guidance >= 1.0, "visual_guidance", f"{self.visual_guidance} must be >= 1.0")
        _require(self.seed >= 0, "seed", f"{self.seed} must be >= 0")
        _require(self.context_s >= 0, "context_s", "must be >= 0")
        _require(self.crossfade_s >= 0, "crossfade_s", "must be >= 0")
        if self.window_s is not None:
            _require(self.window_s > 0, "window_s", "must be > 0")
            _require(
                self.context_s + self.crossfade_s < self.window_s,
                "context_s",
                f"context {self.context_s} s + crossfade {self.crossfade_s} s must be shorter than the window {self.window_s} s",
            )
