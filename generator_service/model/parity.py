"""How closely the packed decoder at a precision follows fp32: teacher-forced argmax agreement.

The measure the precision tests assert and `bench generate` reports: the same codes [B, K, T] and
text, run through the packed decoder at fp32 and at the precision under test (one causal call over
the whole window), and the fraction of (row, codebook, position) whose argmax token is the same.
"""

from __future__ import annotations

import torch

from .decoder import MusicDecoder
from .packed import PackedDecoder


def teacher_forced_logits(
    decoder: MusicDecoder | PackedDecoder,
    precision: str,
    codes: torch.Tensor,
    text_hidden: torch.Tensor,
    text_mask: torch.Tensor,
) -> torch.Tensor:
    """codes [B, K, T] from window position 0 -> logits [B, K, T, V] of the packed decoder at `precision`."""
    packed = decoder if isinstance(decoder, PackedDecoder) else PackedDecoder(decoder, precision)
    with torch.inference_mode():
        session = packed.session(codes.shape[0], codes.shape[-1], text_hidden, text_mask)
        return session.step(codes, 0, every_position=True)


def argmax_agreement(logits: torch.Tensor, reference: torch.Tensor) -> float:
    """Fraction of positions where `logits` and `reference` [..., V] pick the same token."""
    return float((logits.argmax(-1) == reference.argmax(-1)).float().mean())
