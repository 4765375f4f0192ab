"""The music of training windows as MusicGen's EnCodec codes (mono and stereo checkpoints).

`codec_bandwidth` picks the EnCodec bandwidth that yields the model's codebooks per channel;
`encode_audio` turns a batch of windows into codes [B, K, frames]; `window_audio` cuts exactly the
samples of one window. torch is imported inside the functions that need it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from .audio_io import DecodedAudio
from .dataset_files import DatasetError


def codec_bandwidth(music: Any) -> float:
    """The EnCodec bandwidth whose number of quantizers equals the model's codebooks per channel."""
    encoder = music.model.audio_encoder
    options = list(encoder.config.target_bandwidths)
    per_channel = music.num_codebooks // music.audio_channels
    for bandwidth in options:
        if encoder.quantizer.get_num_quantizers_for_bandwidth(bandwidth) == per_channel:
            return float(bandwidth)
    raise ConfigError(
        f"model {music.model_id}: no EnCodec bandwidth in {options} gives its {per_channel} codebooks per channel"
    )


def encode_audio(music: Any, audio: np.ndarray, frames: int, bandwidth: float) -> np.ndarray:
    """EnCodec codes of a batch of windows: audio [B, S] (stereo models: [B, 2, S]) float32 ->
    int16 [B, K, frames]; stereo codebooks interleave left and right as the stereo checkpoints do.

    The codec yields ceil(S / hop) frames; a difference of one frame from `frames` is trimmed or
    padded (repeating the last frame), anything more is an error.
    """
    import torch

    expected = math.ceil(audio.shape[-1] / music.hop_length)
    if abs(expected - frames) > 1:
        raise DatasetError(f"{audio.shape[-1]} samples make {expected} codec frames, not {frames} (at most one off)")
    encoder = music.model.audio_encoder
    dtype = next(encoder.parameters()).dtype
    channels = [audio] if audio.ndim == 2 else [audio[:, c] for c in range(audio.shape[1])]
    per_channel = []
    for wave in channels:
        values = torch.from_numpy(np.ascontiguousarray(wave, np.float32))[:, None, :].to(music.device, dtype)
        with torch.inference_mode():
            out = encoder.encode(values, bandwidth=bandwidth)
        if out.audio_codes.shape[0] != 1:
            raise DatasetError(
                f"EnCodec of {music.model_id} cut the audio into {out.audio_codes.shape[0]} chunks; expected 1"
            )
        per_channel.append(out.audio_codes[0].cpu().numpy())  # [B, K / channels, frames']
    codes = np.stack(per_channel, axis=2).reshape(audio.shape[0], -1, per_channel[0].shape[-1])
    got = codes.shape[-1]
    if abs(got - frames) > 1:
        raise DatasetError(f"EnCodec gave {got} frames for a window of {frames}; expected at most one off")
    if got > frames:
        codes = codes[..., :frames]
    elif got < frames:
        codes = np.concatenate([codes, codes[..., -1:]], axis=-1)
    return codes.astype(np.int16)


def window_audio(audio: DecodedAudio, start: float, num_samples: int) -> np.ndarray:
    """Exactly `num_samples` samples from `start` s (zero-padded at the end if the audio stops short)."""
    first = int(round(start * audio.sample_rate))
    piece = audio.samples[..., first : first + num_samples]
    if piece.shape[-1] < num_samples:
        pad = np.zeros((*piece.shape[:-1], num_samples - piece.shape[-1]), np.float32)
        piece = np.concatenate([piece, pad], axis=-1)
    return piece
