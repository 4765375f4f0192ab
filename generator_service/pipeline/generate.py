"""Music generation: sampling MusicGen's codebook tokens window by window, and decoding them.

Our own sampling loop over our own decoder (model/packed.py, at the model's precision) instead of
`generate()`: every step checks the cancel token, reports progress, ties step s to condition frame
s for the visual adapter, and samples each take with its own seeded generator (take i = seed + i,
independent of how many takes are made). All takes and guidance blocks of a job share one decoder
call per step (one batch); top-k, temperature and guidance run on the model's device, and nothing
is read back to the host between steps.

Delay pattern: codebook k is delayed by d_k (k for mono; stereo interleaves left/right codebooks,
so codebooks 2c and 2c+1 are both delayed by c). Sequence position p (position 0 is BOS) holds
frame p - 1 - d_k of codebook k; positions whose frame is before 0 or past the end hold the pad
token. With D = max d_k + 1 delay steps, a window of C context frames and N new frames has
L = C + N + D positions, and N + D - 1 forward passes.

Long clips: windows of at most `window_frames`; each later window is prompted with the last
`context_frames` codes of the one before (continuation), so the token stream has no seam. Decoding
runs in chunks of one window with a linear crossfade over their overlap, so memory stays bounded.
A prompt schedule (`PromptSpan`s, e.g. from pipeline/schedule.py) gives each window its own text:
windows end at the spans' boundaries where the window length allows, each window is prompted with
the span its first new frame lies in, and the text's keys/values are recomputed in the same decode
session between windows (continuation carries the music across the change of words).

Melody checkpoints: a `MelodyAt` gives each window the chroma of its own time span of the reference
(context frames included, as audiocraft's long generation slices the melody per window); the prefix
is rebuilt between windows in the same session (its length, chroma_length + text, does not change).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import GenerationConfig
from ..errors import ConfigError
from ..model.conditioning import WindowCondition
from ..model.loading import MELODY_HINT, MusicModel
from ..model.text import encode_prompts
from ..progress import CancelToken, ProgressCallback, no_progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """One generation window: `context` frames already known, then `new` frames to sample;
    `start` is the global frame index of its first (context) frame."""

    start: int
    context: int
    new: int


#: A melody by time: the span [start_s, end_s) of the generated music -> the melody chroma
#: [1, T, 12] that plays under it (model/chroma.py; pipeline/melody_input.py builds one from a file).
MelodyAt = Callable[[float, float], Any]


@dataclass(frozen=True)
class PromptSpan:
    """From codec frame `start` on (until the next span's start) windows are prompted with `prompt`."""

    start: int
    prompt: str


def plan_windows(
    total_frames: int, window_frames: int, context_frames: int, boundaries: Sequence[int] = ()
) -> list[Window]:
    """Cut `total_frames` into windows of at most `window_frames`, each later one with context; a
    window's new frames end at the next of `boundaries` (frame indices) when it is within reach."""
    if total_frames <= 0:
        raise ConfigError(f"total_frames: {total_frames} must be > 0")
    if not 0 <= context_frames < window_frames:
        raise ConfigError(f"context_frames: {context_frames} must be in [0, window {window_frames})")
    stops = sorted({int(b) for b in boundaries if 0 < b < total_frames} | {total_frames})
    windows: list[Window] = []
    done = 0
    while done < total_frames:
        context = min(context_frames, done)  # a window that ended early at a boundary is all context
        stop = next(b for b in stops if b > done)
        new = min(stop - done, window_frames - context)
        windows.append(Window(done - context, context, new))
        done += new
    return windows


def window_prompts(windows: Sequence[Window], spans: Sequence[PromptSpan], default: str) -> list[str]:
    """The prompt of each window: that of the span holding its first new frame (`default` without spans)."""
    ordered = sorted(spans, key=lambda s: s.start)
    out = []
    for w in windows:
        first_new = w.start + w.context
        out.append(next((s.prompt for s in reversed(ordered) if s.start <= first_new), default))
    return out


def steps_for(windows: Sequence[Window], delay_steps: int) -> int:
    """Forward passes needed for all windows (the unit of generation progress)."""
    return sum(w.new + delay_steps - 1 for w in windows)


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
    return encode_texts(mm, [prompt], batch, blocks)[prompt]


def encode_texts(
    mm: MusicModel, prompts: Sequence[str], batch: int, blocks: Sequence[str] = ("cond",)
) -> dict[str, tuple[Any, Any]]:
    """Each distinct prompt as `encode_text` gives it, all padded to one length L (one tokenizer
    call), so a decode session can switch between them in place -> {prompt: (hidden, mask)}."""
    import torch

    distinct = list(dict.fromkeys(prompts))
    hidden, mask = encode_prompts(mm, [p for p in distinct for _ in range(batch)])
    out = {}
    for i, prompt in enumerate(distinct):
        h, m = hidden[i * batch : (i + 1) * batch], mask[i * batch : (i + 1) * batch]
        null = (torch.zeros_like(h), torch.zeros_like(m))
        parts = [null if block == "no_text" else (h, m) for block in blocks]
        out[prompt] = (torch.cat([p for p, _ in parts], dim=0), torch.cat([q for _, q in parts], dim=0))
    return out


def melody_texts(
    mm: MusicModel, texts: dict[str, tuple[Any, Any]], blocks: Sequence[str], batch: int, melody: Any | None
) -> dict[str, tuple[Any, Any]]:
    """For a melody checkpoint: each prompt's text rows -> the decoder prefix of those rows
    (model/melody.py), the melody chroma [1, T, 12] (None: no melody) in every block but guidance's
    "no_text", which drops text and melody together as transformers does."""
    from ..model.melody import block_chroma, melody_prefix

    chroma = block_chroma(mm, melody, batch, [block == "no_text" for block in blocks])
    return {prompt: (melody_prefix(mm, hidden, chroma), mask) for prompt, (hidden, mask) in texts.items()}


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


def _initial_sequence(
    prompt_codes: Any, batch: int, window: Window, delays: Sequence[int], pad: int, device: str
) -> Any:
    """[B, K, L] with BOS/pad and the context codes placed on the delay pattern; -1 = to sample."""
    import torch

    k = len(delays)
    length = window.context + window.new + max(delays) + 1
    frame = torch.arange(length, device=device)[None, :] - 1 - torch.tensor(delays, device=device)[:, None]
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
    step: Any,
    prompt_codes: Any,
    window: Window,
    cfg: GenerationConfig,
    generators: Sequence[Any],
    *,
    on_step: Any,
    cancel: CancelToken,
) -> Any:
    """Sample one window -> codes [B, K, context + new] (the context frames copied through).

    `step(codes [rows, K, t], start)` runs the decoder (a `DecodeSession` call with the window's
    condition, see `generate_codes`) and returns the last position's logits [rows, K, V]."""
    import torch

    delays = mm.decoder.spec.delays()
    k, pad, batch = mm.num_codebooks, int(mm.model.generation_config.pad_token_id), len(generators)
    blocks = guidance_blocks(cfg)
    seq = _initial_sequence(prompt_codes, batch, window, delays, pad, mm.device)
    pos = 0
    for p in range(window.context + 1, seq.shape[-1]):
        cancel.check()
        logits = step(seq[:, :, pos:p].repeat(len(blocks), 1, 1), pos)
        last = combine_guidance(logits.reshape(-1, logits.shape[-1]), blocks, cfg)
        picked = _pick(last, cfg, generators, batch, k)
        todo = seq[:, :, p] == -1
        seq[:, :, p] = torch.where(todo, picked, seq[:, :, p])
        pos = p
        on_step()
    frames = window.context + window.new
    return torch.stack([seq[:, cb, 1 + d : 1 + d + frames] for cb, d in enumerate(delays)], dim=1)


def generate_codes(
    mm: MusicModel,
    total_frames: int,
    cfg: GenerationConfig,
    *,
    condition: WindowCondition | None = None,
    schedule: Sequence[PromptSpan] = (),
    melody: MelodyAt | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Any:
    """Sample `cfg.variants` takes of `total_frames` codec frames -> codes [B, K, total_frames].

    `condition`: the visual adapter's (model/conditioning.py), or None for the base model.
    `schedule`: a prompt per span of frames (module docstring); empty: `cfg.prompt` throughout.
    `melody`: a melody checkpoint's reference, the chroma of each window's time span (module
    docstring); without it a melody checkpoint runs on text alone (the null melody)."""
    import torch

    from ..model.cuda_graph import make_stepper

    cancel = cancel or CancelToken()
    window_s = cfg.window_s or mm.max_window_s
    if window_s > mm.max_window_s:
        raise ConfigError(f"window_s: {window_s} s exceeds the model maximum {mm.max_window_s} s")
    rate, delay_steps = mm.frame_rate, mm.decoder.spec.delay_steps
    windows = plan_windows(
        total_frames, round(window_s * rate), round(cfg.context_s * rate), [span.start for span in schedule]
    )
    prompts = window_prompts(windows, schedule, cfg.prompt)
    if melody is not None and not mm.melody:
        raise ConfigError(f"melody: {mm.model_id!r} is not a melody checkpoint", hint=MELODY_HINT)
    total_steps, done = steps_for(windows, delay_steps), 0

    def on_step() -> None:
        nonlocal done
        done += 1
        progress("generate", done, total_steps)

    generators = [torch.Generator(device=mm.device).manual_seed(cfg.seed + i) for i in range(cfg.variants)]
    packed = mm.packed(progress, cancel)  # the first int8 pack of these weights: phase "prepare"
    progress("generate", 0, total_steps)
    blocks = guidance_blocks(cfg)
    graphs = mm.cuda_graphs and str(mm.device).startswith("cuda")
    with torch.inference_mode():
        texts = encode_texts(mm, prompts, cfg.variants, blocks)
        hidden, mask = _window_text(mm, texts, prompts[0], windows[0], blocks, cfg.variants, melody)
        length = max(w.context + w.new for w in windows) + delay_steps
        session = packed.session(hidden.shape[0], length, hidden, mask, static=graphs)
        codes = None
        for i, window in enumerate(windows):
            if i and (melody is not None or prompts[i] != prompts[i - 1]):
                session.set_text(*_window_text(mm, texts, prompts[i], window, blocks, cfg.variants, melody))
            if condition is not None:
                condition.prepare(window.start, packed.attn_dtype)
            step = make_stepper(session, condition, graphs=graphs, compile_step=mm.compile_step)
            context = None if codes is None else codes[:, :, codes.shape[-1] - window.context :]
            out = sample_window(mm, step, context, window, cfg, generators, on_step=on_step, cancel=cancel)
            new = out[:, :, window.context :]
            codes = new if codes is None else torch.cat([codes, new], dim=-1)
    logger.debug(
        "generated %d frames in %d windows (%d prompts) at %s",
        total_frames,
        len(windows),
        len(set(prompts)),
        mm.precision,
    )
    return codes


def _window_text(
    mm: MusicModel,
    texts: dict[str, tuple[Any, Any]],
    prompt: str,
    window: Window,
    blocks: Sequence[str],
    batch: int,
    melody: MelodyAt | None,
) -> tuple[Any, Any]:
    """What a window's decoder attends to: its prompt's text rows, for a melody checkpoint as the
    prefix with the chroma of the window's span (none: the null melody)."""
    if not mm.melody:
        return texts[prompt]
    rate = mm.frame_rate
    chroma = (
        None if melody is None else melody(window.start / rate, (window.start + window.context + window.new) / rate)
    )
    return melody_texts(mm, {prompt: texts[prompt]}, blocks, batch, chroma)[prompt]


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
    """EnCodec-decode codes [B, K, F] -> audio [B, F * hop] float32 (stereo: [B, 2, F * hop]), in
    overlapping chunks of `chunk_frames` blended by a linear crossfade over `overlap_frames`.

    Stereo checkpoints interleave left/right codebooks (left 0, 2, 4, 6; right 1, 3, 5, 7): each
    channel is decoded by the same mono EnCodec, as transformers does."""
    import torch

    cancel = cancel or CancelToken()
    batch, _, frames = codes.shape
    hop = mm.hop_length
    overlap = min(overlap_frames, chunk_frames // 2)
    stride = chunk_frames - overlap
    starts = [0] if frames <= chunk_frames else list(range(0, frames - overlap, stride))
    channels = mm.audio_channels
    out = np.zeros((batch, channels, frames * hop), dtype=np.float32)
    weight = np.zeros(frames * hop, dtype=np.float32)
    for i, s in enumerate(starts):
        cancel.check()
        e = min(s + chunk_frames, frames)
        with torch.inference_mode():
            chunk = np.stack(
                [
                    mm.model.audio_encoder.decode(codes[None, :, c::channels, s:e], audio_scales=[None] * batch)
                    .audio_values[:, 0]
                    .float()
                    .cpu()
                    .numpy()
                    for c in range(channels)
                ],
                axis=1,
            )  # [B, C, samples]
        w = _ramp_weights((e - s) * hop, overlap * hop if s > 0 else 0, overlap * hop if e < frames else 0)
        out[..., s * hop : e * hop] += chunk * w
        weight[s * hop : e * hop] += w
        progress("decode_audio", i + 1, len(starts))
    out /= np.maximum(weight, 1e-8)
    return out[:, 0] if channels == 1 else out


def frames_for_samples(num_samples: int, hop: int) -> int:
    """Codec frames needed to cover `num_samples` audio samples."""
    return max(1, math.ceil(num_samples / hop))
