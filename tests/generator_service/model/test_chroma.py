"""The melody condition's chroma of a span of reference audio (any rate, mono or stereo)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generator_service.errors import ConfigError
from generator_service.model.chroma import ChromaSettings, melody_chroma, resample
from generator_service.model.tiny import MELODY_PREPROCESSOR

A4, E4 = 440.0, 329.63  # chroma bins 9 and 4 (C = 0)


def _tones(rate: int, seconds: float, split_s: float) -> np.ndarray:
    """A4 until `split_s`, then E4 -> stereo [2, N] (the right channel quieter)."""
    t = np.arange(round(rate * seconds)) / rate
    mono = np.where(t < split_s, np.sin(2 * np.pi * A4 * t), np.sin(2 * np.pi * E4 * t))
    return np.stack([mono, 0.5 * mono]).astype(np.float32)


def test_chroma_follows_the_notes_of_the_span() -> None:
    """44.1 kHz stereo, the span 1-3 s: 2 s at 32 kHz is 16 frames, A for the first half, then E."""
    chroma = melody_chroma(_tones(44100, 4.0, 2.0), 44100, 1.0, 3.0)
    assert chroma.shape == (1, 16, 12) and chroma.dtype == torch.float32
    assert torch.equal(chroma.sum(-1), torch.ones(1, 16))  # one-hot per frame
    assert chroma[0].argmax(-1).tolist() == [9] * 8 + [4] * 8


def test_thirty_seconds_fill_the_melody_models_chroma_length() -> None:
    """30 s -> 235 frames (the melody checkpoints' chroma_length); longer references are cut there."""
    rate = 16000
    assert melody_chroma(_tones(rate, 30.0, 15.0)[0], rate).shape == (1, 235, 12)
    assert melody_chroma(_tones(rate, 31.0, 15.0)[0], rate).shape == (1, 235, 12)
    short = melody_chroma(_tones(rate, 0.2, 1.0)[0], rate)  # under one FFT (16384 at 32 kHz): padded to it
    assert short.shape == (1, 5, 12) and short[0].argmax(-1).tolist() == [9] * 5


def test_resampling_agrees_with_scipy() -> None:
    """An independent band-limited resampler (polyphase, Kaiser) agrees away from the ends."""
    from scipy.signal import resample_poly

    wave = _tones(44100, 1.0, 2.0)[0]  # A4 throughout (a jump between tones is broadband)
    ours = resample(torch.from_numpy(wave), 44100, 32000).numpy()
    theirs = resample_poly(wave.astype(np.float64), 320, 441)
    assert ours.shape == theirs.shape == (32000,)
    assert np.abs(ours - theirs)[1000:-1000].max() < 1e-3


def test_a_span_outside_the_audio_is_refused() -> None:
    audio = _tones(8000, 2.0, 1.0)
    with pytest.raises(ConfigError, match=r"reference span 1\.500-2\.500 s is not inside the audio's 0-2\.000 s"):
        melody_chroma(audio, 8000, 1.5, 2.5)
    with pytest.raises(ConfigError, match="expected \\[samples\\] or \\[channels, samples\\]"):
        melody_chroma(audio[None], 8000)


def test_settings_are_the_melody_checkpoints() -> None:
    settings = ChromaSettings.from_dict(MELODY_PREPROCESSOR)
    assert settings == ChromaSettings() and settings.frame_rate == 7.8125


def test_chroma_matches_transformers_feature_extractor() -> None:
    """The reference itself, where torchaudio loads (not with torch 2.13's CPU wheel)."""
    pytest.importorskip("torchaudio")
    from transformers import MusicgenMelodyFeatureExtractor

    audio = _tones(44100, 4.0, 2.0) + 0.05 * np.random.default_rng(0).standard_normal((2, 4 * 44100), "float32")
    expected = MusicgenMelodyFeatureExtractor()(
        torch.from_numpy(audio[:, 44100:132300])[None], sampling_rate=44100, return_tensors="pt"
    )["input_features"]
    assert torch.equal(melody_chroma(audio, 44100, 1.0, 3.0), expected)
