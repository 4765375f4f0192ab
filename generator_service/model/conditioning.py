"""The conditioning seam of generation: what a visual condition must offer the sampling loop.

Generation runs our decoder (model/packed.py); a condition attaches to it through the decoder's
per-layer `AttentionExtra` seam (model/decoder.py). Before each window the loop calls
`prepare(window_start, dtype)` with where the window starts in the clip (codec frames) and the
dtype of the decoder's attention; then every decoder call passes the condition as `extra`, which
sees the window positions of its input tokens, so position s is tied to condition frame
`window_start + s`. With no condition (no adapter loaded) the loop passes nothing: the base model.
"""

from __future__ import annotations

from typing import Protocol

import torch

from .decoder import AttentionExtra


class WindowCondition(AttentionExtra, Protocol):
    def prepare(self, window_start: int, dtype: torch.dtype) -> None:
        """Set up the condition of the window that starts at clip frame `window_start`."""
        ...
