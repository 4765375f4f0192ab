"""The GPU decode path: the static step CUDA graphs capture, the clean fallback when capture is not
possible (checked here on CPU, where it always fails), and, on a CUDA machine, graphed generation
= eager generation."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
import torch

from generator_service.config import GenerationConfig
from generator_service.model.cuda_graph import make_stepper
from generator_service.pipeline.generate import Window, encode_text, generate_codes, guidance_blocks, sample_window
from generator_service.progress import CancelToken


def _window_codes(music, static: bool, graphs: bool) -> torch.Tensor:
    cfg = GenerationConfig(prompt="drums", top_k=1, guidance_scale=3.0)
    window = Window(0, 0, 30)
    with torch.inference_mode():
        hidden, mask = encode_text(music, cfg.prompt, 1, guidance_blocks(cfg))
        session = music.packed().session(2, window.new + 4, hidden, mask, static=static)
        step = make_stepper(session, None, graphs=graphs)
        return sample_window(
            music, step, None, window, cfg, [torch.Generator()], on_step=lambda: None, cancel=CancelToken()
        )


def test_failed_capture_falls_back_to_the_same_numbers(tiny, caplog) -> None:
    eager = _window_codes(tiny, static=False, graphs=False)
    with caplog.at_level(logging.WARNING, logger="generator_service.model.cuda_graph"):
        fallback = _window_codes(tiny, static=True, graphs=True)  # no CUDA here: capture fails
    assert torch.equal(fallback, eager)
    assert "running the step eagerly" in caplog.text


gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_graphed_generation_equals_eager_generation(cache_dir, precision: str) -> None:
    from generator_service.model.loading import load_music_model

    music = load_music_model("tiny", cache_dir=cache_dir, device="cuda", precision=precision)
    # greedy: the graphed (static, masked) and eager (dynamic) steps use different kernels
    cfg = GenerationConfig(prompt="drums", top_k=1, variants=4, window_s=0.8, context_s=0.3)
    graphed = generate_codes(music, 70, cfg)  # 3 windows: the graph is captured again per window
    eager = generate_codes(replace(music, cuda_graphs=False), 70, cfg)
    assert graphed.shape == (4, 4, 70) and graphed.device.type == "cuda"
    assert torch.equal(graphed, eager)
