"""How closely the packed decoder at a precision follows fp32: teacher-forced argmax agreement.

The measure the precision tests assert, `bench generate` reports and an int8 pack checks on the
weights it was made from (packing.py): the same codes [B, K, T] and text, run through the
packed decoder at fp32 and at the precision under test (one causal call over the whole window), and
the fraction of (row, codebook, position) whose argmax token is the same. `random_inputs` makes the
codes and text (a fixed seed): the tests' inputs, the load-time check's, and, with another seed,
int8's calibration batch (quantize.py).
"""

from __future__ import annotations

import torch

from ..decoder import DecoderSpec
from ..packed import PackedDecoder

#: Lowest agreement with fp32 each reduced precision must reach (tests, and `auto`'s int8 check).
FLOORS = {"bf16": 0.99, "int8": 0.97}
#: The inputs of the agreement checks: rows (the second half the null text of guidance) x positions.
CHECK_ROWS, CHECK_LENGTH, CHECK_SEED = 4, 120, 0


def random_inputs(
    spec: DecoderSpec,
    rows: int = CHECK_ROWS,
    length: int = CHECK_LENGTH,
    seed: int = CHECK_SEED,
    *,
    padded: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codes [rows, K, length] (BOS/pad included) and a text batch (hidden [rows, 7, D], mask
    [rows, 7]) whose second half is the null text of guidance (zeros, fully masked), the first half
    with some padding (`padded`: the second row's text is 5 tokens of 7), on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, spec.vocab_size + 1, (rows, spec.num_codebooks, length), generator=gen)
    hidden = torch.randn(rows, 7, spec.hidden, generator=gen)
    mask = torch.ones(rows, 7, dtype=torch.long)
    if padded:
        mask[1, 5:] = 0
    mask[rows // 2 :] = 0
    return codes, hidden * mask[..., None], mask


def teacher_forced_logits(
    packed: PackedDecoder, codes: torch.Tensor, text_hidden: torch.Tensor, text_mask: torch.Tensor
) -> torch.Tensor:
    """codes [B, K, T] from window position 0 -> logits [B, K, T, V] of the packed decoder."""
    with torch.inference_mode():
        session = packed.session(codes.shape[0], codes.shape[-1], text_hidden, text_mask)
        return session.step(codes, 0, every_position=True)


def argmax_agreement(logits: torch.Tensor, reference: torch.Tensor) -> float:
    """Fraction of positions where `logits` and `reference` [..., V] pick the same token."""
    return float((logits.argmax(-1) == reference.argmax(-1)).float().mean())


def agreement_with(packed: PackedDecoder, reference: PackedDecoder) -> float:
    """`packed`'s agreement with `reference` (its fp32 form) on the check inputs."""
    length = min(CHECK_LENGTH, packed.positions.shape[0])
    codes, hidden, mask = (t.to(packed.device) for t in random_inputs(packed.spec, length=length))
    fp32 = teacher_forced_logits(reference, codes, hidden, mask)
    return argmax_agreement(teacher_forced_logits(packed, codes, hidden, mask), fp32)
