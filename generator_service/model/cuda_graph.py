"""The decode step on CUDA: captured once per window in a CUDA graph, replayed every step.

A session made with `static=True` (model/packed.py) runs single-token steps with fixed shapes and
tensor addresses: the token ids and the window position live in device buffers, keys/values are
written with `index_copy_` into the preallocated cache, and attention reads the whole cache under a
position mask. `GraphedStep` captures that step (after warm-up on a side stream, as PyTorch's
CUDA-graph notes require) and replays it; copying the next ids and position into the buffers is
all the host does per step. A window's first call (the prefill, several tokens) runs eagerly.

Optional `torch.compile` of the step before capture (`compile_step`). When compilation or capture
fails (an old driver, an op without graph support) the step falls back to eager with a warning:
slower, same numbers. On CPU none of this applies: `make_stepper` returns the plain session call.
The graph is captured again for every window because the visual condition's keys/values are new
tensors per window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from .decoder import AttentionExtra
from .packed import DecodeSession

logger = logging.getLogger(__name__)

Stepper = Callable[[torch.Tensor, int], torch.Tensor]


class GraphedStep:
    """A CUDA graph of `session.static_step` for single-token calls; prefill calls run eagerly."""

    def __init__(self, session: DecodeSession, extra: AttentionExtra | None, compile_step: bool = False) -> None:
        self.session, self.extra = session, extra
        packed = session.packed
        self.ids = torch.zeros((session.rows, packed.spec.num_codebooks, 1), dtype=torch.long, device=packed.device)
        self.position = torch.zeros(1, dtype=torch.long, device=packed.device)
        fn = session.static_step
        if compile_step:
            fn = torch.compile(fn, mode="max-autotune-no-cudagraphs", dynamic=False)
        self.fn = fn
        self.graph = torch.cuda.CUDAGraph()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(
                2
            ):  # warm-up: kernels chosen, allocator primed (writes land at position 0 and are overwritten)
                fn(self.ids, self.position, extra)
        torch.cuda.current_stream().wait_stream(side)
        with torch.cuda.graph(self.graph):
            self.logits = fn(self.ids, self.position, extra)

    def __call__(self, codes: torch.Tensor, start: int) -> torch.Tensor:
        if codes.shape[-1] != 1:
            return self.session.step(codes, start, self.extra)
        self.ids.copy_(codes)
        self.position.fill_(start)
        self.graph.replay()
        return self.logits


def make_stepper(
    session: DecodeSession, extra: AttentionExtra | None, *, graphs: bool, compile_step: bool = False
) -> Stepper:
    """`(codes, start) -> logits` for one window: graphed on CUDA when asked and possible."""
    if not graphs:
        return lambda codes, start: session.step(codes, start, extra)
    try:
        return GraphedStep(session, extra, compile_step)
    except (RuntimeError, torch.cuda.CudaError) as exc:  # capture unsupported here: eager, same numbers
        logger.warning("CUDA graph capture of the decode step failed (%s); running the step eagerly", exc)
        return lambda codes, start: session.step(codes, start, extra)
