"""Training the Expotion adapter: teacher forcing over MusicGen's codebook delay pattern.

Teacher forcing runs our decoder's module form (model/decoder.py: unfused q/k/v, where peft's LoRA
sits) with the adapter on its per-layer seam. Only the adapter (and LoRA, when on) trains; MusicGen
stays frozen. Paper defaults (DESIGN §4):
AdamW lr 1e-2, weight decay 0.02, linear warm-up over 2 epochs, cosine to 1e-4, grad-clip 0.1,
global batch 40, ~2k steps; mixed precision (bf16) on GPU; gradient accumulation for small GPUs.
Loss: cross-entropy on real code positions only (the delay pattern's pad positions are excluded).
Checkpoints hold the trainable weights, optimizer, scheduler, data order and RNG states, so a
resumed run reaches the same weights as an uninterrupted one.

Items (see training/dataset.py): codes [K, F] long, condition [F, D] float, prompt str; for a
melody checkpoint also chroma bins [Fc] long (the window's own music), which with the text make the
decoder's prefix (model/melody.py); items without them train on the null melody.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..model.adapter import AdapterConfig
from ..model.adapter_files import (
    LoadedAdapter,
    create_adapter,
    save_adapter,
    trainable_parameters,
)
from ..model.loading import MusicModel
from ..model.melody import block_chroma, melody_prefix
from ..model.text import encode_prompts
from ..progress import CancelToken, ProgressCallback, no_progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch_size: int = 40
    grad_accum: int = 1
    lr: float = 1e-2
    min_lr: float = 1e-4
    weight_decay: float = 0.02
    #: Warm-up in epochs over the training set (paper: 2); converted to steps.
    warmup_epochs: float = 2.0
    grad_clip: float = 0.1
    #: "auto" = bf16 autocast on CUDA, none on CPU; "bf16" / "no" to force.
    mixed_precision: str = "auto"
    val_every: int = 200
    checkpoint_every: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.steps >= 0, "steps", "must be >= 0"),
            (self.batch_size >= 1 and self.grad_accum >= 1, "batch_size", "batch and accumulation must be >= 1"),
            (
                self.batch_size % self.grad_accum == 0,
                "grad_accum",
                f"{self.grad_accum} must divide the batch size {self.batch_size}",
            ),
            (0 < self.min_lr <= self.lr, "min_lr", "must be in (0, lr]"),
            (self.mixed_precision in ("auto", "bf16", "no"), "mixed_precision", "must be auto, bf16 or no"),
        ]
        for ok, name, message in checks:
            if not ok:
                raise ConfigError(f"{name}: {message}")


def debug_configs() -> tuple[TrainConfig, AdapterConfig]:
    """The `--debug` set-up: the whole loop on CPU with the tiny model in minutes."""
    return (
        TrainConfig(steps=40, batch_size=4, val_every=20, checkpoint_every=20),
        AdapterConfig(latent_dim=16, window_s=2.0),
    )


def lr_factor(step: int, warmup: int, total: int, lr: float, min_lr: float) -> float:
    """Linear warm-up to 1, then cosine down to min_lr / lr at `total`."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    floor = min_lr / lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def delayed_sequence(codes: torch.Tensor, pad: int, audio_channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """codes [B, K, F] -> (sequence [B, K, F + D] with BOS and the delay pattern, valid [K, F + D]).

    Codebook k is delayed by d_k = k // audio_channels (stereo interleaves left/right codebooks);
    D = K / audio_channels. Position p of codebook k holds frame p - 1 - d_k; position 0 and
    out-of-range frames are pad."""
    b, k, f = codes.shape
    delays = torch.arange(k, device=codes.device) // audio_channels
    length = f + k // audio_channels
    frame = torch.arange(length, device=codes.device)[None, :] - 1 - delays[:, None]
    valid = (frame >= 0) & (frame < f)
    seq = torch.full((b, k, length), pad, dtype=torch.long, device=codes.device)
    index = frame.clamp(0, f - 1).expand(b, k, length)
    seq = torch.where(valid, torch.gather(codes, 2, index), seq)
    return seq, valid


class AdapterTrainer:
    """Runs steps of teacher-forced training of `loaded` on `music`."""

    def __init__(self, music: MusicModel, loaded: LoadedAdapter, config: TrainConfig, steps_per_epoch: int) -> None:
        self.music, self.loaded, self.config = music, loaded, config
        self.params = trainable_parameters(loaded)
        for p in [*music.model.parameters(), *music.decoder.parameters()]:
            p.requires_grad_(False)
        for p in self.params:
            p.requires_grad_(True)
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, weight_decay=config.weight_decay)
        warmup = round(config.warmup_epochs * steps_per_epoch)
        self.warmup = min(warmup, max(0, config.steps - 1))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, self.warmup, config.steps, config.lr, config.min_lr)
        )
        self.autocast = music.device.startswith("cuda") and config.mixed_precision in ("auto", "bf16")

    def loss(self, batch: dict[str, Any], visual_dropout: float = 0.0, generator: Any = None) -> torch.Tensor:
        """Mean cross-entropy over real code positions of a batch."""
        music, attached = self.music, self.loaded.attached
        codes = batch["codes"].to(music.device)
        cond = batch["condition"].to(music.device).float()
        if visual_dropout:
            keep = (torch.rand(cond.shape[0], generator=generator) >= visual_dropout).to(cond)
            cond = cond * keep[:, None, None]
        pad = int(music.model.generation_config.pad_token_id)
        seq, valid = delayed_sequence(codes, pad, music.audio_channels)
        positions = attached.adapter.max_positions
        window = cond.new_zeros(cond.shape[0], positions, cond.shape[-1])
        window[:, : min(positions, cond.shape[1])] = cond[:, :positions]
        with torch.no_grad():
            hidden, mask = encode_prompts(music, batch["prompt"])
            if music.melody:
                hidden = melody_prefix(music, hidden, block_chroma(music, window_chroma(music, batch), hidden.shape[0]))
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast):
            logits = attached.decoder(seq[..., :-1], hidden, mask, extra=attached.training_extra(window))
        logits = logits.float()  # [B, K, L - 1, V]
        labels = seq[..., 1:].masked_fill(~valid[None, :, 1:], -100)
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
        )

    def step(self, micro_batches: Sequence[dict[str, Any]], visual_dropout: float, generator: Any) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for micro in micro_batches:
            loss = self.loss(micro, visual_dropout, generator) / len(micro_batches)
            loss.backward()
            total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return total


class EpochOrder:
    """Deterministic shuffled order over `n` items, resumable from (epoch, index)."""

    def __init__(self, n: int, seed: int, epoch: int = 0, index: int = 0) -> None:
        self.n, self.seed, self.epoch, self.index = n, seed, epoch, index

    def _perm(self) -> list[int]:
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist()

    def take(self, count: int) -> list[int]:
        out: list[int] = []
        while len(out) < count:
            perm = self._perm()
            grab = perm[self.index : self.index + count - len(out)]
            out += grab
            self.index += len(grab)
            if self.index >= self.n:
                self.epoch, self.index = self.epoch + 1, 0
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    batch = {
        "codes": torch.stack([torch.as_tensor(i["codes"]).long() for i in items]),
        "condition": torch.stack([torch.as_tensor(i["condition"]).float() for i in items]),
        "prompt": [i.get("prompt", "") for i in items],
    }
    if items and all("chroma" in i for i in items):
        batch["chroma"] = torch.stack([torch.as_tensor(i["chroma"]).long() for i in items])
    return batch


def window_chroma(music: MusicModel, batch: dict[str, Any]) -> torch.Tensor | None:
    """A melody checkpoint's melody for a batch: each window's own music as chroma bins [B, Tc]
    (prepare-dataset stores them, as the melody checkpoints were trained on their targets' chroma)
    -> one-hot [B, Tc, 12]; None (the null melody) when the batch has none."""
    bins = batch.get("chroma")
    if bins is None:
        return None
    return torch.nn.functional.one_hot(bins.to(music.device), int(music.model.config.num_chroma)).float()


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _checkpoint(
    path: Path, trainer: AdapterTrainer, order: EpochOrder, step: int, gen: torch.Generator, history: list
) -> None:
    state = {
        "step": step,
        "params": [p.detach().cpu().clone() for p in trainer.params],
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "order": order.state(),
        "generator": gen.get_state(),
        "rng": _rng_state(),
        "history": history,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def latest_checkpoint(out_dir: Path) -> Path | None:
    found = sorted((out_dir / "checkpoints").glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
    return found[-1] if found else None


def _restore(path: Path, trainer: AdapterTrainer, order: EpochOrder, gen: torch.Generator) -> tuple[int, list]:
    state = torch.load(path, weights_only=False)
    with torch.no_grad():
        for p, saved in zip(trainer.params, state["params"]):
            p.copy_(saved.to(p.device))
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    order.epoch, order.index = state["order"]["epoch"], state["order"]["index"]
    gen.set_state(state["generator"])
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return state["step"], state["history"]


def validation_loss(trainer: AdapterTrainer, items: Sequence[dict[str, Any]], batch: int) -> float:
    with torch.no_grad():
        losses = [float(trainer.loss(collate(items[i : i + batch]))) for i in range(0, len(items), batch)]
    return float(np.mean(losses)) if losses else float("nan")


def train(
    music: MusicModel,
    train_items: Sequence[dict[str, Any]],
    val_items: Sequence[dict[str, Any]],
    out_dir: Path,
    config: TrainConfig,
    adapter_config: AdapterConfig,
    *,
    resume: bool = True,
    stop_after: int | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> LoadedAdapter:
    """Train an adapter and write its directory to `out_dir` (checkpoints under out_dir/checkpoints).

    `stop_after` ends the run after that many steps without writing the final adapter (for resume
    tests and preemptible machines); a later call with `resume=True` continues exactly."""
    if not train_items:
        raise ConfigError("training set is empty", hint="Prepare a dataset with prepare-dataset first.")
    cancel = cancel or CancelToken()
    torch.manual_seed(config.seed)
    loaded = create_adapter(music, adapter_config)
    micro = config.batch_size // config.grad_accum
    trainer = AdapterTrainer(music, loaded, config, steps_per_epoch=max(1, len(train_items) // config.batch_size))
    order, gen = EpochOrder(len(train_items), config.seed), torch.Generator().manual_seed(config.seed)
    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    step, history = 0, []
    found = latest_checkpoint(out_dir) if resume else None
    if found is not None:
        step, history = _restore(found, trainer, order, gen)
        logger.info("resumed from %s (step %d)", found, step)
    music.decoder.train()
    try:
        while step < config.steps and (stop_after is None or step < stop_after):
            cancel.check()
            picked = [train_items[i] for i in order.take(config.batch_size)]
            micros = [collate(picked[i : i + micro]) for i in range(0, len(picked), micro)]
            loss = trainer.step(micros, adapter_config.visual_dropout, gen)
            step += 1
            record = {"step": step, "loss": loss, "lr": trainer.scheduler.get_last_lr()[0]}
            if val_items and (step % config.val_every == 0 or step == config.steps):
                record["val_loss"] = validation_loss(trainer, val_items, micro)
            history.append(record)
            progress("train", step, config.steps)
            if step % config.checkpoint_every == 0 or step == config.steps:
                _checkpoint(out_dir / "checkpoints" / f"step-{step}.pt", trainer, order, step, gen, history)
    finally:
        music.decoder.eval()
    if step >= config.steps:
        summary = {
            "config": asdict(config),
            "steps": step,
            "train_items": len(train_items),
            "val_items": len(val_items),
            "history": history[-50:],
            "final_val_loss": next((h["val_loss"] for h in reversed(history) if "val_loss" in h), None),
        }
        loaded.training = summary
        save_adapter(loaded, out_dir, summary)
    return loaded
