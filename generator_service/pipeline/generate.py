"""Music generation: sampling MusicGen's codebook tokens window by window, and decoding them.

Our own sampling loop (instead of `generate()`) so that every step checks the cancel token,
reports progress, ties step s to condition frame s for the visual adapter, and samples each take
with its own seeded generator (take i = seed + i, independent of how many takes are made).

Delay pattern: with K codebooks, sequence position p (position 0 is BOS) holds frame p - 1 - k of
codebook k; positions whose frame is before 0 or past the end hold the pad token. A window of C
context frames and N new frames therefore has L = C + N + K positions, and N + K - 1 forward passes.

Long clips: windows of at most `window_frames`; each later window is prompted with the last
`context_frames` codes of the one before (continuation), so the token stream has no seam. Decoding
runs in chunks of one window with a linear crossfade over their overlap, so memory stays bounded.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..config import GenerationConfig
from ..errors import ConfigError
from ..model.conditioning import DecoderRunner, PlainDecoder
from ..model.loading import MusicModel
from ..progress import CancelToken, ProgressCallback, no_progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """One generation window: `context` frames already known, then `new` frames to sample;
    `start` is the global frame index of its first (context) frame."""

    start: int
    context: int
    new: int


def plan_windows(total_frames: int, window_frames: int, context_frames: int) -> list[Window]:
    """Cut `total_frames` into windows of at most `window_frames`, each later one with context."""
    if total_frames <= 0:
        raise ConfigError(f"total_frames: {total_frames} must be > 0")
    if not 0 <= context_frames < window_frames:
        raise ConfigError(f"context_frames: {context_frames} must be in [0, window {window_frames})")
    windows = [Window(0, 0, min(total_frames, window_frames))]
    done = windows[0].new
    while done < total_frames:
        new = min(total_frames - done, window_frames - context_frames)
        windows.append(Window(done - context_frames, context_frames, new))
        done += new
    return windows


def steps_for(windows: Sequence[Window], num_codebooks: int) -> int:
    """Forward passes needed for all windows (the unit of generation progress)."""
    return sum(w.new + num_codebooks - 1 for w in windows)


def encode_prompts(mm: MusicModel, prompts: Sequence[str]) -> tuple[Any, Any]:
    """T5-encode prompts -> (hidden [B, L, D] projected to the decoder width and masked, mask [B, L])."""
    tok = mm.tokenizer(list(prompts), return_tensors="pt", padding=True)
    ids, mask = tok["input_ids"].to(mm.device), tok["attention_mask"].to(mm.device)
    model = mm.model
    hidden = model.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    if model.text_encoder.config.hidden_size != model.decoder.config.hidden_size and (
        model.decoder.config.cross_attention_hidden_size is None
    ):
        hidden = model.enc_to_dec_proj(hidden)
    return hidden * mask[..., None], mask


def guidance_blocks(cfg: GenerationConfig) -> tuple[str, ...]:
    """Row blocks of the decoder batch, `variants` rows each: "cond" (text + visual), "no_text"
    (null text: text guidance), "no_visual" (null visual condition: visual guidance)."""
    blocks = ["cond"]
    if cfg.guidance_scale > 1.0:
        blocks.append("no_text")
    if cfg.visual_guidance > 1.0:
        blocks.append("no_visual")
    return tuple(blocks)


def encode_text(mm: MusicModel, prompt: str, batch: int, blocks: Sequence[str] = ("cond",)) -> tuple[Any, Any]:
    """`prompt` for `batch` takes, per block -> (hidden [B', L, D], mask [B', L]); the "no_text"
    block is the null text condition (zeros, fully masked), as transformers does for guidance."""
    import torch

    hidden, mask = encode_prompts(mm, [prompt] * batch)
    null = (torch.zeros_like(hidden), torch.zeros_like(mask))
    parts = [null if block == "no_text" else (hidden, mask) for block in blocks]
    return torch.cat([h for h, _ in parts], dim=0), torch.cat([m for _, m in parts], dim=0)


def combine_guidance(logits: Any, blocks: Sequence[str], cfg: GenerationConfig) -> Any:
    """Guided logits [B*K, V] from the blocks' logits stacked [len(blocks)*B*K, V]."""
    parts = dict(zip(blocks, logits.split(logits.shape[0] // len(blocks))))
    cond = parts["cond"]
    out = cond
    if "no_text" in parts:
        uncond = parts["no_text"]
        out = uncond + (cond - uncond) * cfg.guidance_scale
    if "no_visual" in parts:
        out = out + (cond - parts["no_visual"]) * (cfg.visual_guidance - 1.0)
    return out


def _initial_sequence(prompt_codes: Any, batch: int, window: Window, k: int, pad: int, device: str) -> Any:
    """[B, K, L] with BOS/pad and the context codes placed on the delay pattern; -1 = to sample."""
    import torch

    length = window.context + window.new + k
    frame = torch.arange(length, device=device)[None, :] - 1 - torch.arange(k, device=device)[:, None]
    seq = torch.full((batch, k, length), -1, dtype=torch.long, device=device)
    outside = (frame < 0) | (frame >= window.context + window.new)
    seq[:, outside] = pad
    if window.context:
        known = (frame >= 0) & (frame < window.context)
        for cb in range(k):
            cols = known[cb].nonzero().squeeze(1)
            seq[:, cb, cols] = prompt_codes[:, cb, frame[cb, cols]]
    return seq


def _pick(logits: Any, cfg: GenerationConfig, generators: Sequence[Any], batch: int, k: int) -> Any:
    """Sample [B, K] tokens from guided logits [B*K, V] (top-k 1 = greedy)."""
    import torch

    if cfg.top_k == 1:
        return logits.argmax(dim=-1).view(batch, k)
    logits = logits / cfg.temperature
    top = min(cfg.top_k, logits.shape[-1])
    kth = torch.topk(logits, top, dim=-1).values[..., -1, None]
    probs = torch.softmax(logits.masked_fill(logits < kth, float("-inf")), dim=-1).view(batch, k, -1)
    picks = [torch.multinomial(probs[b], 1, generator=generators[b]).squeeze(1) for b in range(batch)]
    return torch.stack(picks)


def sample_window(
    mm: MusicModel,
    text: tuple[Any, Any],
    prompt_codes: Any,
    window: Window,
    cfg: GenerationConfig,
    generators: Sequence[Any],
    *,
    runner: DecoderRunner,
    on_step: Any,
    cancel: CancelToken,
) -> Any:
    """Sample one window -> codes [B, K, context + new] (the context frames copied through)."""
    import torch

    k, pad, batch = mm.num_codebooks, int(mm.model.generation_config.pad_token_id), len(generators)
    blocks = guidance_blocks(cfg)
    seq = _initial_sequence(prompt_codes, batch, window, k, pad, mm.device)
    hidden, mask = text
    cache, pos = None, 0
    for p in range(window.context + 1, seq.shape[-1]):
        cancel.check()
        ids = seq[:, :, pos:p]
        ids = ids.repeat(len(blocks), 1, 1)
        logits, cache = runner(
            ids.reshape(-1, p - pos), window_start=window.start, position=pos,
            encoder_hidden_states=hidden, encoder_attention_mask=mask, cache=cache,
        )
        last = combine_guidance(logits[:, -1, :].float(), blocks, cfg)
        picked = _pick(last, cfg, generators, batch, k)
        todo = seq[:, :, p] == -1
        seq[:, :, p] = torch.where(todo, picked, seq[:, :, p])
        pos = p
        on_step()
    frames = window.context + window.new
    return torch.stack([seq[:, cb, 1 + cb : 1 + cb + frames] for cb in range(k)], dim=1)


def generate_codes(
    mm: MusicModel,
    total_frames: int,
    cfg: GenerationConfig,
    *,
    runner: DecoderRunner | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Any:
    """Sample `cfg.variants` takes of `total_frames` codec frames -> codes [B, K, total_frames]."""
    import torch

    cancel = cancel or CancelToken()
    runner = runner or PlainDecoder(mm.model.decoder)
    window_s = cfg.window_s or mm.max_window_s
    if window_s > mm.max_window_s:
        raise ConfigError(f"window_s: {window_s} s exceeds the model maximum {mm.max_window_s} s")
    rate = mm.frame_rate
    windows = plan_windows(total_frames, round(window_s * rate), round(cfg.context_s * rate))
    total_steps, done = steps_for(windows, mm.num_codebooks), 0

    def on_step() -> None:
        nonlocal done
        done += 1
        progress("generate", done, total_steps)

    generators = [torch.Generator(device=mm.device).manual_seed(cfg.seed + i) for i in range(cfg.variants)]
    progress("generate", 0, total_steps)
    with torch.inference_mode():
        text = encode_text(mm, cfg.prompt, cfg.variants, guidance_blocks(cfg))
        codes = None
        for window in windows:
            context = None if codes is None else codes[:, :, codes.shape[-1] - window.context :]
            out = sample_window(mm, text, context, window, cfg, generators,
                                runner=runner, on_step=on_step, cancel=cancel)
            new = out[:, :, window.context :]
            codes = new if codes is None else torch.cat([codes, new], dim=-1)
    logger.debug("generated %d frames in %d windows", total_frames, len(windows))
    return codes


def _ramp_weights(n_samples: int, fade_in: int, fade_out: int) -> np.ndarray:
    w = np.ones(n_samples, dtype=np.float32)
    if fade_in:
        w[:fade_in] = np.linspace(0.0, 1.0, fade_in + 2, dtype=np.float32)[1:-1]
    if fade_out:
        w[n_samples - fade_out :] = np.linspace(1.0, 0.0, fade_out + 2, dtype=np.float32)[1:-1]
    return w


def decode_codes(
    mm: MusicModel,
    codes: Any,
    *,
    chunk_frames: int,
    overlap_frames: int,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """EnCodec-decode codes [B, K, F] -> audio [B, F * hop] float32, in overlapping chunks of
    `chunk_frames` blended by a linear crossfade over `overlap_frames`."""
    import torch

    cancel = cancel or CancelToken()
    batch, _, frames = codes.shape
    hop = mm.hop_length
    overlap = min(overlap_frames, chunk_frames // 2)
    stride = chunk_frames - overlap
    starts = [0] if frames <= chunk_frames else list(range(0, frames - overlap, stride))
    out = np.zeros((batch, frames * hop), dtype=np.float32)
    weight = np.zeros(frames * hop, dtype=np.float32)
    for i, s in enumerate(starts):
        cancel.check()
        e = min(s + chunk_frames, frames)
        with torch.inference_mode():
            audio = mm.model.audio_encoder.decode(codes[None, :, :, s:e], audio_scales=[None] * batch)
        chunk = audio.audio_values[:, 0].float().cpu().numpy()
        w = _ramp_weights((e - s) * hop, overlap * hop if s > 0 else 0, overlap * hop if e < frames else 0)
        out[:, s * hop : e * hop] += chunk * w
        weight[s * hop : e * hop] += w
        progress("decode_audio", i + 1, len(starts))
    return out / np.maximum(weight, 1e-8)


def frames_for_samples(num_samples: int, hop: int) -> int:
    """Codec frames needed to cover `num_samples` audio samples."""
    return max(1, math.ceil(num_samples / hop))
