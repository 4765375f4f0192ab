"""The text condition: prompts through MusicGen's T5 encoder, projected to the decoder's width.

Shared by generation (pipeline/generate.py) and training (training/train.py): a model operation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .loading import MusicModel


def encode_prompts(mm: MusicModel, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """T5-encode prompts -> (hidden [B, L, D] projected to the decoder width and masked, mask [B, L])."""
    tok = mm.tokenizer(list(prompts), return_tensors="pt", padding=True)
    ids, mask = tok["input_ids"].to(mm.device), tok["attention_mask"].to(mm.device)
    model = mm.model
    hidden = model.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    if model.text_encoder.config.hidden_size != model.decoder.config.hidden_size and (
        getattr(model.decoder.config, "cross_attention_hidden_size", None) is None  # melody: no such field
    ):
        hidden = model.enc_to_dec_proj(hidden)
    return hidden * mask[..., None], mask
