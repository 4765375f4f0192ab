"""The melody condition's input: the chromagram of a span of reference audio, as the melody
checkpoints' feature extractor computes it.

transformers' `MusicgenMelodyFeatureExtractor` is the reference, but it cannot be built here: it
needs torchaudio (a Spectrogram module and its resampler), and torchaudio does not load with torch
2.13 (DESIGN.md section 6). So this module owns the same recipe in plain torch, with transformers'
public `audio_utils.chroma_filter_bank`: the span, mixed to mono; resampled to the extractor's rate
by a Hann-windowed sinc (torchaudio's `resample` with the extractor's rolloff 0.945 and filter
width 24); cut to `chunk_length` seconds; padded to one FFT when shorter; the power spectrogram
(periodic Hann window of `n_fft`, hop `hop_length`, centred, reflect-padded, window-normalised);
projected on the chroma filters; each frame one-hot on its loudest bin. The test compares with the
extractor itself where torchaudio loads. CPU work, no model needed: the settings come from the
checkpoint's preprocessor_config.json (`ChromaSettings.from_dict`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..errors import ConfigError

#: torchaudio resample's arguments the melody feature extractor uses.
_ROLLOFF, _FILTER_WIDTH = 0.945, 24


@dataclass(frozen=True)
class ChromaSettings:
    """The melody feature extractor's settings (transformers' defaults = facebook/musicgen-melody's):
    STFT of `n_fft` every `hop_length` samples at `sampling_rate`, `num_chroma` bins, and at most
    `chunk_length` seconds of reference (longer audio is cut)."""

    sampling_rate: int = 32000
    hop_length: int = 4096
    n_fft: int = 16384
    num_chroma: int = 12  # bins, C first
    chunk_length: int = 30

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> ChromaSettings:
        """From a preprocessor_config.json's contents (other keys ignored)."""
        return cls(**{f.name: int(config[f.name]) for f in fields(cls) if f.name in config})

    @property
    def frame_rate(self) -> float:
        """Chroma frames per second (7.8125 at the defaults)."""
        return self.sampling_rate / self.hop_length


def _sinc_kernel(orig: int, new: int) -> tuple[torch.Tensor, int]:
    """Hann-windowed sinc kernels [new, 1, taps] for resampling by new/orig (reduced), and the pad width."""
    base = min(orig, new) * _ROLLOFF
    width = math.ceil(_FILTER_WIDTH * orig / base)
    idx = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    t = (torch.arange(0, -new, -1, dtype=torch.float64)[:, None, None] / new + idx) * base
    t = t.clamp(-_FILTER_WIDTH, _FILTER_WIDTH)
    window = torch.cos(t * math.pi / _FILTER_WIDTH / 2) ** 2
    t = t * math.pi
    kernel = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t) * window * (base / orig)
    return kernel.float(), width


def resample(wave: torch.Tensor, rate: int, target: int) -> torch.Tensor:
    """Mono wave [N] at `rate` -> [ceil(N * target / rate)] at `target` (band-limited sinc)."""
    if rate == target:
        return wave
    gcd = math.gcd(rate, target)
    orig, new = rate // gcd, target // gcd
    kernel, width = _sinc_kernel(orig, new)
    padded = F.pad(wave[None, None], (width, width + orig))
    out = F.conv1d(padded, kernel, stride=orig).transpose(1, 2).reshape(-1)
    return out[: math.ceil(new * wave.shape[-1] / orig)]


def _span(audio: np.ndarray, rate: int, start_s: float, end_s: float | None) -> np.ndarray:
    """The span [start_s, end_s) of audio [N] or [C, N], mixed to mono -> [n] float32."""
    if audio.ndim not in (1, 2) or audio.shape[-1] == 0:
        raise ConfigError(f"reference audio: shape {audio.shape} (expected [samples] or [channels, samples])")
    total = audio.shape[-1] / rate
    end_s = total if end_s is None else end_s
    if not 0 <= start_s < end_s <= total + 1e-9:
        raise ConfigError(f"reference span {start_s:.3f}-{end_s:.3f} s is not inside the audio's 0-{total:.3f} s")
    mono = audio if audio.ndim == 1 else audio.mean(axis=0)
    return np.asarray(mono[round(start_s * rate) : round(end_s * rate)], dtype=np.float32)


def chroma_energy(
    audio: np.ndarray,
    rate: int,
    start_s: float = 0.0,
    end_s: float | None = None,
    settings: ChromaSettings | None = None,
) -> torch.Tensor:
    """Reference audio [N] or [C, N] at `rate` Hz, the span start_s..end_s (None: to the end) ->
    the power of each chroma bin per frame [T, num_chroma] (T = 1 + n // hop_length for the span's
    n samples at the extractor's rate, at most `chunk_length` s of it): the recipe of the module
    docstring before its last step (each frame one-hot on its loudest bin, `melody_chroma`)."""
    settings = settings or ChromaSettings()
    wave = resample(torch.from_numpy(_span(audio, rate, start_s, end_s)), rate, settings.sampling_rate)
    wave = wave[: settings.chunk_length * settings.sampling_rate]
    n_fft = settings.n_fft
    if wave.shape[-1] < n_fft:
        pad = n_fft - wave.shape[-1]
        wave = F.pad(wave, (pad // 2, pad // 2 + pad % 2))
    window = torch.hann_window(n_fft)
    spec = torch.stft(
        wave, n_fft, settings.hop_length, window=window, center=True, pad_mode="reflect", return_complex=True
    )
    power = spec.abs() ** 2 / window.pow(2).sum()  # [F, T]
    from transformers.audio_utils import chroma_filter_bank

    filters = chroma_filter_bank(
        num_frequency_bins=n_fft, num_chroma=settings.num_chroma, sampling_rate=settings.sampling_rate, tuning=0
    )
    return (torch.from_numpy(filters).float() @ power).T


def melody_chroma(
    audio: np.ndarray,
    rate: int,
    start_s: float = 0.0,
    end_s: float | None = None,
    settings: ChromaSettings | None = None,
) -> torch.Tensor:
    """Reference audio [N] or [C, N] at `rate` Hz, the span start_s..end_s (None: to the end) ->
    chroma [1, T, num_chroma] (one-hot per frame, T = 1 + n // hop_length for the span's n samples
    at the extractor's rate, at most `chunk_length` s of it): the melody model's `input_features`."""
    settings = settings or ChromaSettings()
    chroma = F.normalize(chroma_energy(audio, rate, start_s, end_s, settings), p=float("inf"), dim=1, eps=1e-6)
    return F.one_hot(chroma.argmax(1), settings.num_chroma).float()[None]
