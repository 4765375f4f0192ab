"""The `train` command: `add_parser(subparsers)` registers it, `run(args)` runs it.

Trains an Expotion adapter on a prepared dataset (`prepare-dataset`), resumes from the newest
checkpoint in `--out` unless `--no-resume`, writes the adapter directory and a sample WAV made with
it from the first test window's condition. `--debug` runs the whole loop on CPU with the tiny model.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

NAME = "train"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(NAME, help="train the visual adapter on a prepared dataset")
    p.add_argument("--data", type=Path, required=True, help="folder written by prepare-dataset")
    p.add_argument("--out", type=Path, required=True, help="adapter directory (checkpoints inside)")
    p.add_argument("--model", default=None, help="base model: hub id, local dir or 'tiny' (must match the dataset)")
    p.add_argument("--device", default=None)
    p.add_argument("--offline", action="store_true", help="never contact the model hub")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default 2000; 0 writes the fresh adapter)")
    p.add_argument("--batch-size", type=int, default=None, help="global batch (default 40)")
    p.add_argument("--grad-accum", type=int, default=None, help="micro-batches per step (for small GPUs)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default 1e-2)")
    p.add_argument("--latent-dim", type=int, default=None, help="adapter latent width (default 32)")
    p.add_argument("--lora-rank", type=int, default=None, help="LoRA rank on decoder self-attention q/v (0 = off)")
    p.add_argument("--debug", action="store_true", help="tiny model, small batch, 40 steps: the whole loop on CPU")
    p.add_argument("--no-resume", action="store_true", help="start over even if checkpoints exist")
    p.add_argument("--quiet", action="store_true")
    return p


def _configs(args: argparse.Namespace, window_s: float, feature_fps: float):
    from ..model.adapter import AdapterConfig
    from .train import TrainConfig, debug_configs

    train_cfg, adapter_cfg = debug_configs() if args.debug else (TrainConfig(), AdapterConfig())
    overrides = {"steps": args.steps, "batch_size": args.batch_size, "grad_accum": args.grad_accum, "lr": args.lr}
    train_cfg = replace(train_cfg, **{k: v for k, v in overrides.items() if v is not None})
    adapter_over = {"latent_dim": args.latent_dim, "lora_rank": args.lora_rank}
    adapter_cfg = replace(
        adapter_cfg,
        window_s=window_s,
        feature_fps=feature_fps,
        **{k: v for k, v in adapter_over.items() if v is not None},
    )
    return train_cfg, adapter_cfg


def _sample(music: Any, loaded: Any, item: dict[str, Any], out: Path) -> Path:
    from ..audio import write_wav
    from ..config import GenerationConfig
    from ..pipeline.generate import decode_codes, generate_codes, guidance_blocks

    frames = item["codes"].shape[-1]
    cfg = GenerationConfig(
        prompt=item.get("prompt", ""), window_s=loaded.config.window_s, context_s=loaded.config.window_s / 2
    )
    runner = loaded.runner(music, item["condition"], batch=1, blocks=guidance_blocks(cfg))
    codes = generate_codes(music, frames, cfg, condition=runner)
    audio = decode_codes(music, codes, chunk_frames=frames, overlap_frames=0)
    return write_wav(out / "sample.wav", audio[0], music.sample_rate)


def run(args: argparse.Namespace) -> int:
    from ..model.loading import load_music_model
    from ..progress_bar import BarProgress
    from .dataset_files import read_summary
    from .train import train
    from .window_dataset import WindowDataset

    summary = read_summary(args.data)
    model_id = args.model or ("tiny" if args.debug else summary["model"]["id"])
    music = load_music_model(model_id, device=args.device, allow_network=not args.offline)
    fps = float(summary["features"]["fps"])
    train_set = WindowDataset(args.data, "train", feature_fps=fps, model_id=music.model_id)
    test_set = WindowDataset(args.data, "test", feature_fps=fps, model_id=music.model_id)
    train_cfg, adapter_cfg = _configs(args, float(summary["window_s"]), fps)
    bar = BarProgress(enabled=not args.quiet)
    try:
        loaded = train(
            music,
            train_set,
            [test_set[i] for i in range(len(test_set))],
            args.out,
            train_cfg,
            adapter_cfg,
            resume=not args.no_resume,
            progress=bar,
        )
    finally:
        bar.close()
    result = {
        "adapter": str(args.out),
        "steps": loaded.training.get("steps"),
        "final_val_loss": loaded.training.get("final_val_loss"),
        "untrained_base": music.untrained,
    }
    if len(test_set):
        result["sample"] = str(_sample(music, loaded, test_set[0], args.out))
    print(json.dumps(result, indent=2))
    if music.untrained:
        print("NOTE: trained on the UNTRAINED tiny test model: a smoke run, not music.", file=sys.stderr)
    return 0
