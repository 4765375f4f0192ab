"""Generation speed: seconds of compute per second of audio, our loop vs transformers' generate().

Random weights at a real MusicGen shape (speed does not depend on weight values), the same model,
prompt, guidance (3.0) and top-k (250) for both, measured in the same run; the ratio is the figure
to trust on a shared machine.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..config import GenerationConfig, default_cache_dir
from . import table


def _music_model(size: str, device: str):
    from ..model.loading import MusicModel
    from ..model.shapes import random_musicgen
    from ..model.tiny import ensure_tiny_model
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(ensure_tiny_model(default_cache_dir())))
    model = random_musicgen(size).to(device)
    return MusicModel(model=model, tokenizer=tokenizer, model_id=f"random-{size}", untrained=True,
                      device=device, sample_rate=32000, frame_rate=50, num_codebooks=4)


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(seconds: float | None = None, device: str | None = None, size: str = "small", repeats: int = 2) -> str:
    import torch

    from ..model.loading import pick_device
    from ..pipeline.generate import generate_codes

    seconds = seconds or 2.0
    device = pick_device(device)
    mm = _music_model(size, device)
    frames = round(seconds * mm.frame_rate)
    cfg = GenerationConfig(prompt="upbeat drums and bass", top_k=250, guidance_scale=3.0)
    tok = mm.tokenizer([cfg.prompt], return_tensors="pt").to(device)

    def stock() -> None:
        with torch.inference_mode():
            mm.model.generate(**tok, do_sample=True, top_k=250, guidance_scale=3.0,
                              max_new_tokens=frames + mm.num_codebooks - 1)

    def ours() -> None:
        generate_codes(mm, frames, cfg)

    ours()  # warm-up (allocator, kernels)
    walls: dict[str, list[float]] = {"transformers generate()": [], "expotion loop": []}
    for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
        walls["transformers generate()"].append(_time(stock))
        walls["expotion loop"].append(_time(ours))
    rows = [[name, seconds, min(w), min(w) / seconds] for name, w in walls.items()]
    rows[1].append(rows[0][2] / rows[1][2])
    rows[0].append(1.0)
    head = f"generation at musicgen-{size} shape (random weights), device {device}, {torch.get_num_threads()} threads, " \
           f"guidance 3.0, top-k 250, {frames} frames (+{mm.num_codebooks - 1} delay steps)"
    return head + "\n" + table(["method", "audio s", "wall s", "s per s audio", "speed-up"], rows)
