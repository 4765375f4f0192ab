"""The adapter's cost: generation-step overhead vs the base model at a real MusicGen shape (random
weights; target < 15 %), trainable parameter counts per size, CPU seconds per debug training step."""

from __future__ import annotations

import time

import numpy as np

from expotion_protocol.features import FEATURE_SPEC

from ..config import GenerationConfig
from . import table


def parameter_rows(latent_dim: int = 32, window_s: float = 10.0, lora_rank: int = 8) -> list[list[object]]:
    """Trainable parameters of the adapter (and of LoRA on self-attention q/v) per MusicGen size."""
    from ..model.adapter import AdapterConfig, ExpotionAdapter
    from ..model.shapes import DECODER_SHAPES

    cfg = AdapterConfig(latent_dim=latent_dim, window_s=window_s)
    rows = []
    for size in ("small", "medium", "large"):
        hidden, layers, _, _ = DECODER_SHAPES[size]
        adapter = ExpotionAdapter(cfg, layers, hidden, cfg.max_positions())
        n = sum(p.numel() for p in adapter.parameters())
        lora = layers * 2 * lora_rank * (hidden + hidden)
        rows.append([size, f"{n / 1e6:.1f} M", f"{lora / 1e6:.2f} M"])
    return rows


def overhead_rows(
    size: str, seconds: float, device: str, repeats: int = 2, precision: str = "fp32"
) -> list[list[object]]:
    import torch

    from ..model.adapter import AdapterConfig
    from ..model.adapter_files import create_adapter
    from ..pipeline.generate import generate_codes, guidance_blocks
    from .generate import _music_model, _time

    mm = _music_model(size, device)
    mm.precision = precision
    frames = round(seconds * mm.frame_rate)
    cfg = GenerationConfig(prompt="drums", window_s=10.0, context_s=5.0)
    loaded = create_adapter(mm, AdapterConfig(window_s=10.0))
    condition = np.random.default_rng(0).standard_normal((frames, FEATURE_SPEC.dim)).astype(np.float32)
    steps = frames + mm.num_codebooks - 1

    def base() -> None:
        generate_codes(mm, frames, cfg)

    def adapted() -> None:
        generate_codes(mm, frames, cfg, condition=loaded.runner(mm, condition, batch=1, blocks=guidance_blocks(cfg)))

    base()  # warm-up
    with torch.inference_mode():
        loaded.attached.null_kv()  # computed once per loaded adapter (the service keeps adapters loaded)
    times = {"base": [], "adapter": []}
    for _ in range(max(1, repeats)):  # interleaved, so drift in machine load hits both alike
        times["base"].append(_time(base))
        times["adapter"].append(_time(adapted))
    b, a = min(times["base"]), min(times["adapter"])
    return [["base model", steps, b / steps * 1e3, 1.0], ["with adapter", steps, a / steps * 1e3, a / b]]


def train_step_seconds() -> float:
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from ..model.loading import load_music_model
    from ..training.train import debug_configs, train

    music = load_music_model("tiny", device="cpu")
    tcfg, acfg = debug_configs()
    tcfg = replace(tcfg, steps=10, val_every=1000, checkpoint_every=1000)
    rng = np.random.default_rng(0)
    frames = round(acfg.window_s * 50)
    items = [
        {
            "codes": rng.integers(0, 2048, (4, frames)),
            "condition": rng.standard_normal((frames, 112)).astype(np.float32),
            "prompt": "drums",
        }
        for _ in range(8)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train(music, items, [], Path(tmp), tcfg, acfg)
        return (time.perf_counter() - start) / tcfg.steps


def train_steps_per_second(
    size: str, device: str, batch: int = 10, window_s: float = 10.0, steps: int = 3
) -> tuple[float, float | None]:
    """Training throughput at a MusicGen shape: (optimizer steps per second, peak GPU memory GiB or None).

    Random weights and random targets: the cost of a step does not depend on what is learnt."""
    import torch

    from ..model.adapter import AdapterConfig
    from ..model.adapter_files import create_adapter
    from ..training.train import AdapterTrainer, TrainConfig, collate
    from .generate import _music_model

    mm = _music_model(size, device)
    acfg = AdapterConfig(window_s=window_s)
    trainer = AdapterTrainer(mm, create_adapter(mm, acfg), TrainConfig(steps=steps + 1, batch_size=batch), 1)
    frames = round(window_s * mm.frame_rate)
    rng = np.random.default_rng(0)
    micro = [
        collate(
            [
                {
                    "codes": rng.integers(0, 2048, (mm.num_codebooks, frames)),
                    "condition": rng.standard_normal((frames, 112)).astype(np.float32),
                    "prompt": "drums and bass",
                }
                for _ in range(batch)
            ]
        )
    ]
    gen = torch.Generator().manual_seed(0)
    cuda = device.startswith("cuda")
    trainer.step(micro, acfg.visual_dropout, gen)  # warm-up (kernels, allocator)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(micro, acfg.visual_dropout, gen)
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return steps / elapsed, (torch.cuda.max_memory_allocated() / 2**30 if cuda else None)


def run(
    seconds: float | None = None,
    device: str | None = None,
    size: str = "small",
    repeats: int = 2,
    precision: str = "auto",
) -> str:
    import torch

    from ..model.loading import pick_device
    from ..model.precision.choice import resolve_precision

    device = pick_device(device)
    seconds = seconds or 2.0
    precision = resolve_precision(precision, device)
    over = overhead_rows(size, seconds, device, repeats, precision)
    parts = [
        f"adapter overhead per generation step at musicgen-{size} shape (random weights), {device}, {precision}, "
        f"{torch.get_num_threads()} threads, guidance 3.0, {seconds:g} s of audio, min of {repeats} interleaved runs",
        table(["model", "steps", "ms per step", "ratio"], over),
        "",
        "trainable parameters (latent 32, 10 s window; LoRA rank 8 on self-attention q/v)",
        table(["size", "adapter", "LoRA r8"], parameter_rows()),
        "",
        f"debug training config (tiny model, batch 4, 2 s windows) on CPU: {train_step_seconds():.3f} s per step",
    ]
    if device.startswith("cuda"):
        rate, peak = train_steps_per_second(size, device)
        parts.append(
            f"training at musicgen-{size} shape, batch 10, 10 s windows, bf16 autocast, {device}: "
            f"{rate:.2f} steps/s, peak GPU memory {peak:.1f} GiB"
        )
    else:
        parts.append(
            f"training steps/s at musicgen-{size} shape, batch 10: not measured on {device} "
            "(run `bench adapter --device cuda` on a machine with a GPU)"
        )
    return "\n".join(parts)
