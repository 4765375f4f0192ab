"""The conditioning seam with a visual adapter attached (see model/conditioning.py).

Per generation window it computes the condition keys/values once (all `max_positions` frames from
the window start, zero features past the clip's end, as in training); per decoder call it sets the
window positions of the input tokens. Every block of the batch gets the condition except the
"no_visual" block of visual guidance, which gets the null (zero) condition.
"""

from __future__ import annotations

import torch

from .adapter import AttachedAdapter


class AdapterRunner:
    def __init__(self, attached: AttachedAdapter, condition: torch.Tensor, *, batch: int,
                 blocks: tuple[str, ...]) -> None:
        """`condition` [T, F]: frame s of the clip at the codec frame rate; `blocks` as in
        pipeline/generate.py `guidance_blocks`, `batch` rows each."""
        self.attached = attached
        self.condition = condition
        self.batch, self.blocks = batch, blocks
        self._window_start: int | None = None
        self._kv: list = []

    def window_condition(self, window_start: int) -> torch.Tensor:
        """[1, P, F]: frames window_start .. window_start + P - 1 (zeros past the end)."""
        positions = self.attached.adapter.max_positions
        out = self.condition.new_zeros(1, positions, self.condition.shape[-1])
        part = self.condition[window_start : window_start + positions]
        out[0, : part.shape[0]] = part
        return out

    def _prepare(self, window_start: int) -> None:
        window = self.window_condition(window_start)
        self.attached.set_condition(torch.cat([window, torch.zeros_like(window)]))  # [condition, null]
        kv = []
        for layer in self.attached.state.kv:
            kv.append(tuple(torch.cat([t[1 if b == "no_visual" else 0].expand(self.batch, -1, -1, -1)
                                       for b in self.blocks]) for t in layer))
        self._kv = kv
        self._window_start = window_start

    def __call__(self, input_ids, *, window_start, position, encoder_hidden_states, encoder_attention_mask,
                 past_key_values):
        if window_start != self._window_start:
            self._prepare(window_start)
        # The decoder may be shared with adapter-free callers: the adapter is active only inside this call.
        self.attached.state.kv, self.attached.state.active = self._kv, True
        self.attached.set_positions(position, input_ids.shape[-1], input_ids.device)
        try:
            out = self.attached.decoder(
                input_ids=input_ids, encoder_hidden_states=encoder_hidden_states,
                encoder_attention_mask=encoder_attention_mask, past_key_values=past_key_values, use_cache=True,
            )
        finally:
            self.attached.state.active = False
        return out.logits, out.past_key_values
