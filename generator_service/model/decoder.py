"""Our own MusicGen decoder, module form: the weights transformers loads, run by our code.

transformers stays the loader (hub id, local dir, `tiny`), the T5 text encoder, EnCodec and the
reference the tests compare against; this module owns the decoder's computation. It is built from a
loaded `MusicgenForCausalLM` and shares its parameter objects (no copy). Module names follow
transformers' (`layers.N.self_attn.q_proj`, ...), so peft's LoRA targets them as before; saved
adapter keys carry transformers' `model.decoder.` prefix (`hf_key` / `our_key` map them).

This is the full-sequence, causal, unfused form: teacher forcing (training) and the reference for the
packed inference form (model/packed.py), which fuses q/k/v, merges LoRA and quantises.

Shapes: codes [B, K, T] (K codebooks), text hidden [B, L, D] with mask [B, L], hidden D, H heads of
size d.

Two kinds of conditioning, told apart by `DecoderSpec.cross_attention`:
- cross-attention (musicgen-small/medium/large/stereo): every layer attends to the text hidden states
  under the text mask;
- prefix (the melody checkpoints, transformers' `MusicgenMelodyForCausalLM`): the layers have no
  cross-attention; the condition states [B, P, D] (projected chroma then projected text, built by
  model/melody.py) are put in front of the token embeddings and the whole sequence is causal, no
  mask (transformers' generate passes none). The prefix takes positions 0..P-1, the codes P... In
  this form the `text_hidden` argument carries the prefix and `text_mask` is not used. The visual adapter attaches through `AttentionExtra`: in every layer, after self-attention and
before the output projection, `extra(layer, query, attn, positions)` may add its term.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError

#: transformers' `model_type` of the melody checkpoints' decoder config (prefix conditioning).
MELODY_DECODER_TYPE = "musicgen_melody_decoder"
#: Key prefix of the decoder body in transformers' MusicgenForCausalLM (the heads have none).
HF_PREFIX = "model.decoder."

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
}


class AttentionExtra(Protocol):
    """A per-layer term added to self-attention's output (the visual adapter's seam)."""

    def __call__(self, layer: int, query: torch.Tensor, attn: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """`query`, `attn` [B, H, t, d] of layer `layer` at window positions `positions` [t] (long)
        -> attn with the extra term added (same shape and dtype)."""
        ...


@dataclass(frozen=True)
class DecoderSpec:
    """The decoder's shape, read from transformers' MusicgenDecoderConfig."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    num_codebooks: int
    vocab_size: int
    audio_channels: int = 1
    activation: str = "gelu"
    dropout: float = 0.0
    scale_embedding: bool = False
    max_positions: int = 2048
    #: True: text through per-layer cross-attention; False: condition states as a causal prefix.
    cross_attention: bool = True

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ConfigError(f"hidden: {self.hidden} is not divisible by {self.heads} heads")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation: {self.activation!r} is not one of {sorted(ACTIVATIONS)}")
        if self.audio_channels not in (1, 2) or self.num_codebooks % self.audio_channels:
            raise ConfigError(
                f"audio_channels: {self.audio_channels} with {self.num_codebooks} codebooks "
                "(expected 1, or 2 with an even number of interleaved codebooks)"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def delay_steps(self) -> int:
        """Codebooks per channel: the delay pattern's depth (a window of N frames takes N + this - 1 steps)."""
        return self.num_codebooks // self.audio_channels

    def delays(self) -> list[int]:
        """Delay of each codebook: k for mono; stereo interleaves left/right, so codebooks 2c, 2c+1 -> c."""
        return [k // self.audio_channels for k in range(self.num_codebooks)]

    @classmethod
    def from_config(cls, config: Any) -> DecoderSpec:
        """From a transformers `MusicgenDecoderConfig`."""
        return cls(
            hidden=int(config.hidden_size),
            layers=int(config.num_hidden_layers),
            heads=int(config.num_attention_heads),
            ffn=int(config.ffn_dim),
            num_codebooks=int(config.num_codebooks),
            vocab_size=int(config.vocab_size),
            audio_channels=int(getattr(config, "audio_channels", 1)),
            activation=str(config.activation_function),
            dropout=float(config.dropout),
            scale_embedding=bool(config.scale_embedding),
            max_positions=int(config.max_position_embeddings),
            cross_attention=getattr(config, "model_type", "") != MELODY_DECODER_TYPE,
        )


def sinusoids(length: int, dim: int) -> torch.Tensor:
    """MusicGen's sinusoidal position table [length, dim]: cos first, then sin (tensor2tensor style)."""
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.int64).float() * -(math.log(10000) / (half - 1)))
    angle = torch.arange(length, dtype=torch.int64).float()[:, None] * freq[None, :]
    table = torch.cat([torch.cos(angle), torch.sin(angle)], dim=1)
    return F.pad(table, (0, dim % 2))


def text_mask_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Text mask [B, L] (1 = token) -> additive attention bias [B, 1, 1, L] of `dtype`.

    A fully masked row (the null text of guidance) attends uniformly over its values, which are
    zero because masked text hidden states are zeroed: the cross-attention term is exactly 0."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask == 0, torch.finfo(dtype).min)[
        :, None, None, :
    ]


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, t, H*d] -> [B, H, t, d]."""
    return x.view(*x.shape[:-1], heads, -1).transpose(1, 2)


class Attention(nn.Module):
    """q/k/v/out projections (no biases in MusicGen), transformers' names."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.q_proj = nn.Linear(hidden, hidden, bias=False)
        self.k_proj = nn.Linear(hidden, hidden, bias=False)
        self.v_proj = nn.Linear(hidden, hidden, bias=False)
        self.out_proj = nn.Linear(hidden, hidden, bias=False)


class DecoderLayer(nn.Module):
    def __init__(self, spec: DecoderSpec) -> None:
        super().__init__()
        d = spec.hidden
        self.self_attn = Attention(d)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        if spec.cross_attention:
            self.encoder_attn = Attention(d)
            self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, spec.ffn, bias=False)
        self.fc2 = nn.Linear(spec.ffn, d, bias=False)
        self.final_layer_norm = nn.LayerNorm(d)


class MusicDecoder(nn.Module):
    """The MusicGen decoder + LM heads (see module docstring)."""

    def __init__(self, spec: DecoderSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embed_tokens = nn.ModuleList(
            nn.Embedding(spec.vocab_size + 1, spec.hidden) for _ in range(spec.num_codebooks)
        )
        self.layers = nn.ModuleList(DecoderLayer(spec) for _ in range(spec.layers))
        self.layer_norm = nn.LayerNorm(spec.hidden)
        self.lm_heads = nn.ModuleList(
            nn.Linear(spec.hidden, spec.vocab_size, bias=False) for _ in range(spec.num_codebooks)
        )
        self.register_buffer("positions", sinusoids(spec.max_positions, spec.hidden), persistent=False)

    @classmethod
    def from_transformers(cls, hf_decoder: nn.Module) -> MusicDecoder:
        """Built from a transformers `MusicgenForCausalLM`, sharing its parameter objects."""
        spec = DecoderSpec.from_config(hf_decoder.config)
        with torch.device("meta"):
            ours = cls(spec)
        theirs = hf_decoder.state_dict(keep_vars=True)
        state = {name: theirs[hf_key(name)] for name in ours.state_dict()}
        ours.load_state_dict(state, assign=True)
        reference = state["layer_norm.weight"]
        ours.positions = sinusoids(spec.max_positions, spec.hidden).to(reference.device, reference.dtype)
        return ours.train(hf_decoder.training)

    def embed(self, codes: torch.Tensor, start: int = 0) -> torch.Tensor:
        """codes [B, K, t] at window positions start.. -> summed embeddings + positions [B, t, D]."""
        x = sum(emb(codes[:, k]) for k, emb in enumerate(self.embed_tokens))
        if self.spec.scale_embedding:
            x = x * math.sqrt(self.spec.hidden)
        return x + self.positions[start : start + codes.shape[-1]].to(x.dtype)

    def text_kv(self, hidden: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Text hidden [B, L, D] -> per layer cross-attention (K, V), each [B, H, L, d]
        (none for a prefix-conditioned decoder)."""
        if not self.spec.cross_attention:
            return []
        heads = self.spec.heads
        return [
            (
                split_heads(layer.encoder_attn.k_proj(hidden), heads),
                split_heads(layer.encoder_attn.v_proj(hidden), heads),
            )
            for layer in self.layers
        ]

    def forward(
        self,
        codes: torch.Tensor,
        text_hidden: torch.Tensor,
        text_mask: torch.Tensor,
        extra: AttentionExtra | None = None,
    ) -> torch.Tensor:
        """Teacher forcing: codes [B, K, T] from window position 0 -> logits [B, K, T, V] (causal).

        Prefix conditioning: `text_hidden` is the prefix [B, P, D] (module docstring); the logits
        are those of the T code positions."""
        spec, heads, p = self.spec, self.spec.heads, self.spec.dropout if self.training else 0.0
        prefix = 0 if spec.cross_attention else text_hidden.shape[1]
        x = self.embed(codes, prefix)
        if prefix:
            x = torch.cat([text_hidden.to(x.dtype) + self.positions[:prefix].to(x.dtype), x], dim=1)
        x = F.dropout(x, p, self.training)
        bias = text_mask_bias(text_mask, x.dtype) if spec.cross_attention else None
        positions = torch.arange(codes.shape[-1], device=codes.device)
        act = ACTIVATIONS[spec.activation]
        for i, layer in enumerate(self.layers):
            attn, h = layer.self_attn, layer.self_attn_layer_norm(x)
            q = split_heads(attn.q_proj(h), heads)
            a = F.scaled_dot_product_attention(
                q, split_heads(attn.k_proj(h), heads), split_heads(attn.v_proj(h), heads), is_causal=True
            )
            if extra is not None:  # the code positions only (a prefix is condition, not music)
                a = torch.cat([a[:, :, :prefix], extra(i, q[:, :, prefix:], a[:, :, prefix:], positions)], dim=2)
            x = x + F.dropout(attn.out_proj(a.transpose(1, 2).flatten(2)), p, self.training)
            if spec.cross_attention:
                cross, h = layer.encoder_attn, layer.encoder_attn_layer_norm(x)
                a = F.scaled_dot_product_attention(
                    split_heads(cross.q_proj(h), heads),
                    split_heads(cross.k_proj(text_hidden), heads),
                    split_heads(cross.v_proj(text_hidden), heads),
                    attn_mask=bias,
                )
                x = x + F.dropout(cross.out_proj(a.transpose(1, 2).flatten(2)), p, self.training)
            h = layer.fc2(act(layer.fc1(layer.final_layer_norm(x))))
            x = x + F.dropout(h, p, self.training)
        x = self.layer_norm(x[:, prefix:])
        return torch.stack([head(x) for head in self.lm_heads], dim=1)


def hf_key(name: str) -> str:
    """Our state-dict / module name -> transformers' MusicgenForCausalLM name."""
    return name if name.startswith("lm_heads.") else HF_PREFIX + name


def our_key(name: str) -> str:
    """transformers' name (or ours) -> ours."""
    return name[len(HF_PREFIX) :] if name.startswith(HF_PREFIX) else name
