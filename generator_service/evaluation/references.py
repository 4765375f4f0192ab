"""Optional reference models of the evaluation, loaded from local files only: never the network.

- `encodec_embedder(music)`: frame embeddings [T, D] from the loaded MusicGen's own EnCodec (the
  continuous encoder output, before quantisation), for FAD. Always available offline; with the
  untrained tiny model the embedding is random and an FAD on it means nothing.
- `clap_models(path_or_id)`: a transformers CLAP (`ClapModel` + `ClapProcessor`) from a local
  directory or a hub id already in the local Hugging Face cache -> `(embedder, text_scorer)`:
  per-window audio embeddings [W, P] for FAD-on-CLAP and the audio/text cosine similarity.

The callables match `inputs.Embedder` / `inputs.TextScorer`. They run on the calling thread under
`torch.inference_mode()`; model loading happens in the builders, never inside `runner`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ExpotionError

logger = logging.getLogger(__name__)

#: How a hub id looks ("name" or "owner/name"); anything else that is not a directory is a path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ReferenceModelError(ExpotionError, FileNotFoundError):
    """An optional reference model (CLAP) is not available in local files."""

    hint = (
        "Give --clap a local directory with a transformers CLAP (config.json, weights, tokenizer and "
        "processor files), or a hub id already in the local Hugging Face cache (fetch it once yourself, "
        "e.g. `hf download laion/clap-htsat-unfused`); evaluation never downloads."
    )


# ---------------------------------------------------------------------------------------------
# audio helpers


def _mono(audio: np.ndarray, what: str) -> np.ndarray:
    """Audio [S] or [1, S] -> float32 [S]; anything else is a ConfigError naming `what`."""
    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"{what}: expected mono audio [S], got shape {arr.shape}")
    return arr


def _resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling [S] at `sr_in` -> [S'] at `sr_out` (32 kHz -> 48 kHz is 3/2)."""
    if sr_in == sr_out:
        return audio
    from scipy.signal import resample_poly

    g = math.gcd(int(sr_in), int(sr_out))
    return resample_poly(audio, int(sr_out) // g, int(sr_in) // g).astype(np.float32)


def _windows(audio: np.ndarray, size: int) -> list[np.ndarray]:
    """Consecutive windows of `size` samples; a last partial one is kept when it is at least half a
    window long (or is the only one)."""
    full, rest = divmod(audio.shape[0], size)
    out = [audio[i * size : (i + 1) * size] for i in range(full)]
    if rest and (rest * 2 >= size or not out):
        out.append(audio[full * size :])
    return out


# ---------------------------------------------------------------------------------------------
# EnCodec of the loaded music model


class EncodecEmbedder:
    """audio [S] at `sr` -> the music model's continuous EnCodec latents [T, D] (T at its frame rate)."""

    def __init__(self, music: Any) -> None:
        self.music = music
        codec = music.model.audio_encoder
        note = "; the untrained tiny model: this FAD is meaningless" if music.untrained else ""
        self.description = (
            f"EnCodec of the music model {music.model_id} (continuous encoder output, "
            f"D={codec.config.hidden_size}, {music.frame_rate} Hz; local){note}"
        )

    def __call__(self, audio: np.ndarray, sr: int) -> np.ndarray:
        import torch

        codec = self.music.model.audio_encoder
        samples = _resample(_mono(audio, "encodec embedder"), sr, self.music.sample_rate)
        wave = torch.from_numpy(np.ascontiguousarray(samples))[None, None]  # [1, 1, S]
        wave = wave.expand(1, int(codec.config.audio_channels), -1)
        if codec.config.normalize:  # as EncodecModel._encode_frame does before its encoder
            wave = wave / (wave.mean(dim=1, keepdim=True).pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-8)
        param = next(codec.encoder.parameters())
        with torch.inference_mode():
            latent = codec.encoder(wave.to(device=param.device, dtype=param.dtype))  # [1, D, T]
        return latent[0].T.float().cpu().numpy().astype(np.float64)


def encodec_embedder(music: Any) -> EncodecEmbedder:
    """FAD embedder on the EnCodec latent of `music` (a loaded `MusicModel`): [S] -> [T, D]."""
    return EncodecEmbedder(music)


# ---------------------------------------------------------------------------------------------
# CLAP


def _clap_source(path_or_id: str) -> str:
    """A local directory, or a hub id whose config is in the local cache -> what from_pretrained gets."""
    path = Path(path_or_id).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise ReferenceModelError(f"CLAP {path_or_id!r} is a file, not a model directory")
    if not _HUB_ID.match(path_or_id):
        raise ReferenceModelError(f"CLAP {path_or_id!r}: no such directory")
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(path_or_id, "config.json"), str):
        raise ReferenceModelError(
            f"CLAP {path_or_id!r} is neither a local directory nor a model in the local Hugging Face cache"
        )
    return path_or_id


class ClapReference:
    """A loaded CLAP: per-window audio embeddings and audio/text cosine similarity.

    Audio is resampled to the processor's rate (48 kHz) and cut into windows of the processor's
    `max_length_s` (10 s); each window is embedded alone (batch 1: the processor's fusion choice is
    then deterministic). Embeddings are L2-normalised projections [P].
    """

    def __init__(self, model: Any, processor: Any, name: str) -> None:
        self.model = model
        self.processor = processor
        self.name = name
        self._text_cache: dict[str, np.ndarray] = {}
        fe = processor.feature_extractor
        self.sample_rate = int(fe.sampling_rate)
        self.window = int(fe.nb_max_samples)
        self.description = f"CLAP {name} ({self.window / self.sample_rate:g} s windows; local files only)"

    def _param(self) -> Any:
        return next(self.model.parameters())

    def embed(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """audio [S] at `sr` -> unit embeddings [W, P], one per window."""
        import torch

        samples = _resample(_mono(audio, "clap embedder"), sr, self.sample_rate)
        rows = []
        for window in _windows(samples, self.window):
            inputs = self.processor.feature_extractor(window, sampling_rate=self.sample_rate, return_tensors="pt")
            param = self._param()
            features = inputs["input_features"].to(device=param.device, dtype=param.dtype)
            with torch.inference_mode():
                out = self.model.get_audio_features(features, is_longer=inputs["is_longer"].to(param.device))
            rows.append(out.pooler_output[0].float().cpu().numpy())
        return _unit(np.stack(rows).astype(np.float64))

    def text_embedding(self, text: str) -> np.ndarray:
        """text -> unit embedding [P] (cached per text: every system shares a clip's prompt)."""
        if text not in self._text_cache:
            import torch

            inputs = self.processor.tokenizer([text], padding=True, truncation=True, return_tensors="pt")
            with torch.inference_mode():
                out = self.model.get_text_features(**inputs.to(self._param().device))
            self._text_cache[text] = _unit(out.pooler_output[0].float().cpu().numpy().astype(np.float64))
        return self._text_cache[text]

    def text_score(self, audio: np.ndarray, sr: int, text: str) -> float:
        """Mean over windows of cos(audio, text) in [-1, 1]; NaN (undefined) for an empty prompt."""
        if not text.strip():
            logger.info("CLAP text score undefined: empty prompt")
            return float("nan")
        sims = self.embed(audio, sr) @ self.text_embedding(text)
        return float(np.clip(np.mean(sims), -1.0, 1.0))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def load_clap(path_or_id: str, *, device: str = "cpu") -> ClapReference:
    """Load a transformers CLAP from local files only (a directory or the HF cache); never downloads."""
    from transformers import ClapModel, ClapProcessor

    source = _clap_source(str(path_or_id))
    try:
        model = ClapModel.from_pretrained(source, local_files_only=True)
        processor = ClapProcessor.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ReferenceModelError(f"cannot load CLAP {path_or_id!r} from local files: {exc}") from exc
    model.to(device).eval()
    return ClapReference(model, processor, str(path_or_id))


def clap_models(
    path_or_id: str, *, device: str = "cpu"
) -> tuple[Callable[[np.ndarray, int], np.ndarray], Callable[[np.ndarray, int, str], float]]:
    """(embedder, text_scorer) of a local CLAP: audio [S] -> [W, P]; (audio, sr, text) -> cosine."""
    clap = load_clap(path_or_id, device=device)
    return clap.embed, clap.text_score
