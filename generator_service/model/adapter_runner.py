"""The conditioning seam with a visual adapter attached (see model/conditioning.py).

Per generation window it sets up the condition queries/keys/values once: all `max_positions`
frames from the window start, zero features past the clip's end, as in training. Frames past the end
are exactly the null condition's, so only the frames inside the clip go through the layers; the
rest come from the adapter's cached null condition. In every decoder call the decoder hands it the
window positions of the input tokens. Every block of the batch gets the condition except the
"no_visual" block of visual guidance, which gets the null condition; rows with the same condition
share its keys/values.
"""

from __future__ import annotations

import torch

from .adapter import AttachedAdapter, ConditionExtra

#: Index of a block's condition in the per-window keys/values: the clip's, or the null condition.
CLIP, NULL = 0, 1


def row_groups(blocks: tuple[str, ...], batch: int) -> tuple[tuple[slice, int], ...]:
    """Runs of consecutive rows that attend to the same condition: ((rows, CLIP or NULL), ...)."""
    groups: list[tuple[slice, int]] = []
    for i, block in enumerate(blocks):
        g = NULL if block == "no_visual" else CLIP
        if groups and groups[-1][1] == g:
            groups[-1] = (slice(groups[-1][0].start, (i + 1) * batch), g)
        else:
            groups.append((slice(i * batch, (i + 1) * batch), g))
    return tuple(groups)


class AdapterRunner:
    """A `WindowCondition` (model/conditioning.py): the adapter's condition for the sampling loop."""

    def __init__(
        self, attached: AttachedAdapter, condition: torch.Tensor, *, batch: int, blocks: tuple[str, ...]
    ) -> None:
        """`condition` [T, F]: frame s of the clip at the codec frame rate; `blocks` as in
        pipeline/generate.py `guidance_blocks`, `batch` rows each."""
        self.attached = attached
        self.condition = condition
        self.groups = row_groups(blocks, batch)
        self._extra: ConditionExtra | None = None

    def prepare(self, window_start: int, dtype: torch.dtype) -> None:
        null = self.attached.null_kv()
        inside = self.condition[window_start : window_start + self.attached.adapter.max_positions]
        with torch.no_grad():
            clip = self.attached.condition_kv(inside[None]) if inside.shape[0] else null
        with_null = any(g == NULL for _, g in self.groups)
        kv = []
        for ours, nothing in zip(clip, null):
            # the clip's frames, then the null condition's from the clip's end: [1, H, P, d] each
            full = [torch.cat([a, b[:, :, a.shape[2] :]], dim=2) for a, b in zip(ours, nothing)]
            kv.append(tuple(torch.cat([f, b]) for f, b in zip(full, nothing)) if with_null else tuple(full))
        self._extra = self.attached.generation_extra(kv, self.groups, dtype)

    def __call__(self, layer: int, query: torch.Tensor, attn: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        if self._extra is None:
            raise RuntimeError("AdapterRunner.prepare(window_start, dtype) must run before the decoder calls")
        return self._extra(layer, query, attn, positions)
