"""The melody checkpoints' condition: chroma + text states as the decoder's prefix.

`facebook/musicgen-melody` and `musicgen-stereo-melody*` (transformers'
`MusicgenMelodyForConditionalGeneration`) have no cross-attention: the reference audio's chromagram
[B, T, 12] (one-hot per chroma frame, model/chroma.py) is projected to the decoder width, repeated
and cut to `chroma_length` frames, and put in front of the projected, masked text states; the decoder
(model/decoder.py, prefix form) attends to that prefix causally. Built here as transformers' generate
builds it, guidance included: the null half has zero text states and the null chroma (every frame
bin 0), of the same length as the melody's; with no melody both halves take the null chroma of one
frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .loading import MusicModel


def null_chroma(rows: int, frames: int, num_chroma: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The null melody [rows, frames, num_chroma]: bin 0 set in every frame (transformers' choice)."""
    chroma = torch.zeros(rows, frames, num_chroma, device=device)
    chroma[:, :, 0] = 1
    return chroma


def block_chroma(
    mm: MusicModel, chroma: torch.Tensor | None, rows: int, nulls: Sequence[bool] = (False,)
) -> torch.Tensor:
    """The chroma of every decoder row, block by block (`rows` rows each): the melody (`chroma`
    [1 or rows, T, 12], or None: no melody) or, where `nulls` says so (guidance's null half), the
    null chroma -> [len(nulls) * rows, T, 12]."""
    num_chroma = int(mm.model.config.num_chroma)
    null = null_chroma(rows, 1 if chroma is None else chroma.shape[1], num_chroma, mm.device)
    cond = null if chroma is None else chroma.to(mm.device, torch.float32).expand(rows, -1, -1)
    return torch.cat([null if is_null else cond for is_null in nulls])


def melody_prefix(mm: MusicModel, text_hidden: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """Text hidden [R, L, D] (projected and masked, as model/text.py gives it; null rows zero) and
    chroma [R, T, 12] of the same rows -> the decoder's prefix [R, chroma_length + L, D]."""
    model = mm.model
    audio = chroma.to(text_hidden.dtype)
    if model.config.num_chroma != model.decoder.config.hidden_size:
        audio = model.audio_enc_to_dec_proj(audio)
    length = int(model.config.chroma_length)
    if audio.shape[1] < length:
        audio = audio.repeat(1, math.ceil(length / audio.shape[1]), 1)
    return torch.cat([audio[:, :length], text_hidden], dim=1)
