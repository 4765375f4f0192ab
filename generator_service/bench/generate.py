"""Generation speed: seconds of compute per second of audio, transformers' generate() vs our decoder
at each precision, end to end (T5 text encoder, decoder steps, EnCodec decode), in the same run.

Random weights at a real MusicGen shape (speed does not depend on weight values), the same model,
prompt, guidance (3.0) and top-k (250) for every row; runs are interleaved so drift in machine load
hits all rows alike, and the minimum of `repeats` is reported: the ratios are the figures to trust
on a shared machine. `argmax_agreement` is teacher-forced agreement with our fp32 decoder
(model/precision/parity.py) on the codes our fp32 row sampled; for generate() it is transformers' decoder's.
`peak_rss_mb` is the process's peak resident memory while the row ran (Linux: the peak is reset
before each row through /proc/self/clear_refs; elsewhere it is the process peak so far). `pack_s` is
the cost of packing the decoder at that precision when a model loads, not part of `s_per_audio_s`;
for int8 the first load of a set of weights (calibration, GPTQ rounding, model/precision/quantize.py, and the
agreement check): later loads read the rounding from the cache directory (model/precision/int8_cache.py), which
this bench does not use.
A precision with no kernel on the device (int8 on some CUDA builds) is left out and listed under
"skipped". On CUDA, `takes` > 1 adds a row of that many takes sharing each step (one batch).

`model_kind="melody"`: the melody checkpoints' architecture (MusicgenMelodyForConditionalGeneration,
chroma + text prefix; facebook/musicgen-melody is the medium decoder shape) following a temp (a
synthesised arpeggio, `reference_temp`). Both rows extract the temp's chroma with model/chroma.py
inside their timing (transformers' MusicgenMelodyFeatureExtractor needs torchaudio, which we do not
install, so the stock row is given our chroma as `input_features`); `chroma_ms_per_audio_s` is that
extraction alone, measured in the same run. The agreement is teacher-forced on the same prefix.
"""

from __future__ import annotations

import json
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import GenerationConfig, default_cache_dir
from ..errors import ConfigError
from . import table

STOCK = "transformers generate()"
OURS = "expotion decoder"
PRECISIONS = ("fp32", "bf16", "int8")
#: "mono": the text-conditioned checkpoints (cross-attention); "melody": the melody ones (prefix).
MODEL_KINDS = ("mono", "melody")
#: The shape each kind is measured at unless told: musicgen-small, and musicgen-melody (a medium decoder).
DEFAULT_SIZE = {"mono": "small", "melody": "medium"}
#: The published melody checkpoints by decoder shape.
MELODY_NAMES = {"medium": "musicgen-melody", "large": "musicgen-melody-large"}
SAMPLE_RATE = 32000


def _music_model(size: str, device: str, audio_channels: int = 1, melody: bool = False):
    from transformers import AutoTokenizer

    from ..model.chroma import ChromaSettings
    from ..model.loading import MusicModel
    from ..model.shapes import random_musicgen
    from ..model.tiny import ensure_tiny_model

    tokenizer = AutoTokenizer.from_pretrained(str(ensure_tiny_model(default_cache_dir())))
    model = random_musicgen(size, audio_channels=audio_channels, melody=melody).to(device)
    return MusicModel(
        model=model,
        tokenizer=tokenizer,
        model_id=f"random-{size}{'-melody' if melody else ''}",
        untrained=True,
        device=device,
        sample_rate=SAMPLE_RATE,
        frame_rate=50,
        num_codebooks=4 * audio_channels,
        chroma=ChromaSettings() if melody else None,
    )


def reference_temp(seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The temp the melody rows follow: an arpeggio C4 E4 G4 B4, a quarter second a note, each note
    with two harmonics -> mono float32 [rate * seconds]."""
    t = np.arange(round(seconds * rate)) / rate
    notes = 261.63 * 2 ** (np.array([0, 4, 7, 11]) / 12)
    f0 = notes[(t // 0.25).astype(int) % len(notes)]
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3))
    return (0.3 * wave).astype(np.float32)


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def describe_device(device: str) -> str:
    """ "cpu (<model name>, bf16 instructions)" or the CUDA device's name."""
    import torch

    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    from ..model.precision.choice import cpu_has_bf16

    name = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu ({name}, {'bf16 instructions' if cpu_has_bf16() else 'no bf16 instructions'})"


class PeakMemory:
    """Peak resident memory (MiB) of this process during a stretch of work."""

    def __init__(self) -> None:
        self._resettable = self._reset()

    @staticmethod
    def _reset() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # Linux: resets VmHWM to the current RSS
            return True
        except OSError:
            return False

    def __enter__(self) -> PeakMemory:
        self._resettable = self._reset()
        return self

    def __exit__(self, *exc: object) -> None:
        self.mb = self.read()

    def read(self) -> float:
        if self._resettable:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _agreement_inputs(mm: Any, codes: Any, cfg: GenerationConfig, chroma: Any = None) -> tuple[Any, Any, Any]:
    """The delay-pattern sequence of sampled codes [1, K, F] for the guidance rows, and their text
    (for a melody checkpoint: the prefix of `chroma` [1, T, 12] + text)."""
    import torch

    from ..pipeline.generate import encode_text, guidance_blocks, melody_texts
    from ..training.train import delayed_sequence

    blocks = guidance_blocks(cfg)
    with torch.inference_mode():
        hidden, mask = encode_text(mm, cfg.prompt, 1, blocks)
        if mm.melody:
            hidden, mask = melody_texts(mm, {cfg.prompt: (hidden, mask)}, blocks, 1, chroma)[cfg.prompt]
    seq, _ = delayed_sequence(codes[:1], int(mm.model.generation_config.pad_token_id), mm.audio_channels)
    return seq.repeat(len(blocks), 1, 1), hidden, mask


def _agreements(
    mm: Any, codes: Any, cfg: GenerationConfig, packs: dict[str, Any], chroma: Any = None
) -> dict[str, float]:
    """Teacher-forced argmax agreement with our fp32 decoder, per precision (its packed decoder in
    `packs`) and for transformers' (a melody checkpoint's on the prefix of `chroma` + text)."""
    import torch

    from ..model.packed import PackedDecoder
    from ..model.precision.parity import argmax_agreement, teacher_forced_logits

    seq, hidden, mask = _agreement_inputs(mm, codes, cfg, chroma)
    reference = teacher_forced_logits(PackedDecoder(mm.decoder, "fp32"), seq, hidden, mask)
    out = {
        p: argmax_agreement(teacher_forced_logits(packed, seq, hidden, mask), reference)
        for p, packed in packs.items()
        if p != "fp32"
    }
    out["fp32"] = 1.0
    b, k, t = seq.shape
    with torch.inference_mode():
        if mm.melody:  # the prefix comes first in the decoder's sequence; the codes' logits follow it
            prefix = hidden.shape[1]
            logits = mm.model.decoder(input_ids=seq.reshape(b * k, t), encoder_hidden_states=hidden).logits
            stock = logits.view(b, k, prefix + t, -1)[:, :, prefix:]
        else:
            stock = mm.model.decoder(
                input_ids=seq.reshape(b * k, t), encoder_hidden_states=hidden, encoder_attention_mask=mask
            ).logits.view(b, k, t, -1)
    out[STOCK] = argmax_agreement(stock.float(), reference)
    return out


def measure(
    size: str = "small",
    seconds: float = 4.0,
    device: str | None = None,
    repeats: int = 2,
    precisions: tuple[str, ...] = PRECISIONS,
    takes: int = 1,
    model_kind: str = "mono",
) -> dict[str, Any]:
    """Run every row (interleaved, `repeats` times) -> {"device", "threads", "rows": [...]} (see module docstring)."""
    import torch

    from ..model.chroma import melody_chroma
    from ..model.linear import check_supported
    from ..model.loading import pick_device
    from ..pipeline.generate import decode_codes, generate_codes

    if model_kind not in MODEL_KINDS:
        raise ConfigError(f"model kind {model_kind!r}: not one of {', '.join(MODEL_KINDS)}")
    device = pick_device(device)
    melody = model_kind == "melody"
    mm = _music_model(size, device, melody=melody)
    frames = round(seconds * mm.frame_rate)
    temp = reference_temp(seconds) if melody else None

    def melody_at(start_s: float, end_s: float) -> Any:  # the temp's chroma under a span of the music
        return melody_chroma(temp, SAMPLE_RATE, start_s, end_s, settings=mm.chroma)

    cfg = GenerationConfig(prompt="upbeat drums and bass", top_k=250, guidance_scale=3.0)
    tok = mm.tokenizer([cfg.prompt], return_tensors="pt").to(device)
    models, skipped = {}, {}
    for p in precisions:
        try:
            check_supported(p, device)
        except ConfigError as exc:
            skipped[p] = exc.message
        else:
            models[p] = replace(mm, precision=p)
    pack_s = {p: _time(m.packed) for p, m in models.items()}  # int8: a first load (GPTQ + check)
    sampled: dict[str, Any] = {}

    def stock() -> None:
        features = {"input_features": melody_at(0.0, frames / mm.frame_rate).to(device)} if melody else {}
        with torch.inference_mode():
            mm.model.generate(
                **tok,
                **features,
                do_sample=True,
                top_k=250,
                guidance_scale=3.0,
                max_new_tokens=frames + mm.decoder.spec.delay_steps - 1,
            ).cpu()

    def ours(model: Any, variants: int = 1) -> Callable[[], None]:
        def run() -> None:
            codes = generate_codes(model, frames, replace(cfg, variants=variants), melody=melody_at if melody else None)
            decode_codes(model, codes, chunk_frames=frames, overlap_frames=0)
            sampled.setdefault(model.precision, codes)

        return run

    rows: dict[tuple[str, str], Callable[[], None]] = {(STOCK, "fp32"): stock}
    rows |= {(OURS, p): ours(m) for p, m in models.items()}
    if takes > 1:
        best = "bf16" if device.startswith("cuda") and "bf16" in models else list(models)[-1]
        rows[(f"{OURS}, {takes} takes", best)] = ours(models[best], takes)
    walls: dict[tuple[str, str], list[float]] = {key: [] for key in rows}
    peaks: dict[tuple[str, str], float] = {}
    for key, fn in rows.items():  # warm-up (allocator, kernels, packed weights); peak memory per row
        with PeakMemory() as peak:
            fn()
        peaks[key] = peak.mb
    for _ in range(max(1, repeats)):  # interleaved, so drift in machine load hits all rows alike
        for key, fn in rows.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            walls[key].append(_time(fn))
    reference_codes = sampled.get("fp32", next(iter(sampled.values())))
    chroma = melody_at(0.0, frames / mm.frame_rate) if melody else None  # what the fp32 row's window heard
    agree = _agreements(mm, reference_codes, cfg, {p: m.packed() for p, m in models.items()}, chroma)
    stock_s = min(walls[(STOCK, "fp32")]) / seconds
    out_rows = []
    for (method, precision), wall in walls.items():
        s_per_audio = min(wall) / seconds
        out_rows.append(
            {
                "method": method,
                "precision": precision,
                "s_per_audio_s": round(s_per_audio, 3),
                "speedup_vs_stock": round(stock_s / s_per_audio, 2),
                "argmax_agreement": round(agree[STOCK if method == STOCK else precision], 4),
                "peak_rss_mb": round(peaks[(method, precision)]),
                "pack_s": None if method == STOCK else round(pack_s[precision], 2),
            }
        )
    result = {
        "device": describe_device(device),
        "threads": torch.get_num_threads(),
        "size": size,
        "model_kind": model_kind,
        "audio_s": seconds,
        "rows": out_rows,
    }
    if melody:  # the extraction both rows include, alone: min of 3 after the rows' warm-ups
        span = frames / mm.frame_rate
        result["chroma_ms_per_audio_s"] = round(
            1000 * min(_time(lambda: melody_at(0.0, span)) for _ in range(3)) / span, 2
        )
    return result | ({"skipped": skipped} if skipped else {})


def run(
    seconds: float | None = None,
    device: str | None = None,
    size: str | None = None,
    repeats: int = 2,
    as_json: bool = False,
    precision: str | None = None,
    takes: int = 1,
    model_kind: str = "mono",
) -> str:
    """The bench as text: one JSON object (`as_json`) or a table. `precision` limits our rows to
    fp32 (the reference) and that one; `size` None: the kind's DEFAULT_SIZE."""
    from ..model.loading import pick_device
    from ..model.precision.choice import resolve_precision

    device = pick_device(device)
    precisions = (
        PRECISIONS if precision is None else tuple(dict.fromkeys(("fp32", resolve_precision(precision, device))))
    )
    size = size or DEFAULT_SIZE.get(model_kind, "small")  # measure() refuses an unknown kind
    result = measure(size, seconds or 4.0, device, repeats, precisions, takes, model_kind)
    if as_json:
        return json.dumps(result)
    shape, parts = f"musicgen-{size} shape", "T5, decoder, EnCodec"
    if model_kind == "melody":
        name = MELODY_NAMES.get(size)
        shape = (f"{name} shape" if name else f"melody architecture at {size} size") + " (chroma + text prefix)"
        parts = "the temp's chroma, " + parts
    head = (
        f"generation at {shape} (random weights), {result['device']}, {result['threads']} threads, "
        f"guidance 3.0, top-k 250, {result['audio_s']:g} s of audio, end to end ({parts}), "
        f"min of {repeats} interleaved runs"
    )
    keys = ["method", "precision", "s_per_audio_s", "speedup_vs_stock", "argmax_agreement", "peak_rss_mb", "pack_s"]
    notes = "".join(f"\n{p} skipped: {why}" for p, why in result.get("skipped", {}).items())
    if "chroma_ms_per_audio_s" in result:
        notes += (
            f"\nchroma extraction (model/chroma.py, inside both rows): {result['chroma_ms_per_audio_s']:g} ms "
            "per audio s; `bench chroma` measures it at the usual recording rates"
        )
    return (
        head
        + "\n"
        + table(
            ["method", "precision", "s per s audio", "speed-up", "argmax agreement", "peak RSS MiB", "pack s"],
            [[r[k] if r[k] is not None else "-" for k in keys] for r in result["rows"]],
        )
        + notes
    )
