"""The Expotion visual-condition adapter (DESIGN §4), on our MusicGen decoder (model/decoder.py).

Shapes: condition [B, T, F] at the codec frame rate (50 Hz), F = the feature spec's face + pose
dims; decoder hidden D, H heads of size d; T is the window's number of sequence positions.

1. Face and pose parts are projected separately to `latent_dim` and fused (`AdapterConfig.fusion`
   picks a module from `FUSIONS`) -> z [B, T, latent].
2. Per decoder layer l: c_l = W_l z + E_l (a learned per-layer position embedding) [B, T, D], passed
   through the frozen layer's own self-attention norm and q/k/v projections (the parallel branch
   through the frozen weights) -> Qc, Kc, Vc [B, H, T, d], once per window.
3. Inside every decoder self-attention, for the music token at window position s:
   extra_s = softmax((q_s + Qc_s) Kc^T * scale) Vc (non-causal: all condition frames), and the
   attention output becomes attn + gate_l * extra before the frozen output projection. This is
   the decoder's explicit per-layer seam (`AttentionExtra`): no hooks, no patched modules.
   `gate_l` starts at 0, so an untrained adapter is exactly the base model.
Sequence position s (input token s of the window) is tied to condition frame s; with MusicGen's
delay pattern the token predicted there is codebook k's frame s - k.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .decoder import MusicDecoder, split_heads


@dataclass(frozen=True)
class AdapterConfig:
    """Shape and training-time behaviour of an adapter (stored in expotion_config.json)."""

    #: Width of the shared latent the condition is squeezed through (paper: 12-48).
    latent_dim: int = 32
    #: How face and pose latents are fused: a key of FUSIONS.
    fusion: str = "concat"
    #: Window length the adapter is trained on, seconds; positions = window * 50 + codebooks.
    window_s: float = 10.0
    #: Feature sampling rate the adapter was trained with (an adapter is tied to it).
    feature_fps: float = 10.0
    #: Feature layout: name, version, and the [start, stop) of its face and pose parts.
    feature_spec: str = "expotion-face-pose"
    feature_version: int = 1
    face_slice: tuple[int, int] = (0, 56)
    pose_slice: tuple[int, int] = (56, 112)
    #: LoRA (through peft) on the decoder self-attention q/v projections; rank 0 = off.
    lora_rank: int = 0
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    #: Probability of replacing a training example's condition by the null (zero) condition.
    visual_dropout: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.latent_dim <= 1024, "latent_dim", f"{self.latent_dim} is outside 1..1024"),
            (self.fusion in FUSIONS, "fusion", f"{self.fusion!r} is not one of {sorted(FUSIONS)}"),
            (0 < self.window_s <= 30, "window_s", f"{self.window_s} is outside (0, 30]"),
            (self.lora_rank >= 0, "lora_rank", f"{self.lora_rank} must be >= 0"),
            (0 <= self.visual_dropout < 1, "visual_dropout", f"{self.visual_dropout} is outside [0, 1)"),
            (
                self.face_slice[0] < self.face_slice[1] and self.pose_slice[0] < self.pose_slice[1],
                "face_slice",
                "slices must be non-empty [start, stop) pairs",
            ),
        ]
        for ok, name, message in checks:
            if not ok:
                raise ConfigError(f"{name}: {message}")

    @property
    def feature_dim(self) -> int:
        return max(self.face_slice[1], self.pose_slice[1])

    def max_positions(self, frame_rate: int = 50, num_codebooks: int = 4) -> int:
        return round(self.window_s * frame_rate) + num_codebooks

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdapterConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("face_slice", "pose_slice", "lora_targets"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


class ConcatFusion(nn.Module):
    """Fuse face and pose latents by concatenation and a linear map."""

    def __init__(self, latent: int) -> None:
        super().__init__()
        self.proj = nn.Linear(2 * latent, latent)

    def forward(self, face: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.cat([face, pose], dim=-1))


class SumFusion(nn.Module):
    """Fuse face and pose latents by adding them."""

    def __init__(self, latent: int) -> None:
        super().__init__()

    def forward(self, face: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        return face + pose


FUSIONS: dict[str, type[nn.Module]] = {"concat": ConcatFusion, "sum": SumFusion}


class ExpotionAdapter(nn.Module):
    """The trainable part: input projections, fusion, per-layer projections, positions, gates."""

    def __init__(self, config: AdapterConfig, num_layers: int, hidden: int, max_positions: int) -> None:
        super().__init__()
        self.config = config
        latent = config.latent_dim
        face, pose = config.face_slice, config.pose_slice
        self.face_in = nn.Linear(face[1] - face[0], latent)
        self.pose_in = nn.Linear(pose[1] - pose[0], latent)
        self.fusion = FUSIONS[config.fusion](latent)
        self.layer_proj = nn.ModuleList(nn.Linear(latent, hidden) for _ in range(num_layers))
        self.positions = nn.Parameter(torch.randn(num_layers, max_positions, hidden) / math.sqrt(hidden))
        self.gates = nn.Parameter(torch.zeros(num_layers))

    @property
    def max_positions(self) -> int:
        return self.positions.shape[1]

    def latent(self, condition: torch.Tensor) -> torch.Tensor:
        """condition [B, T, F] -> z [B, T, latent]."""
        face, pose = self.config.face_slice, self.config.pose_slice
        return self.fusion(
            self.face_in(condition[..., face[0] : face[1]]), self.pose_in(condition[..., pose[0] : pose[1]])
        )

    def layer_input(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """z [B, T, latent] -> c_l [B, T, D]."""
        if z.shape[1] > self.max_positions:
            raise ConfigError(f"window of {z.shape[1]} positions exceeds the adapter's {self.max_positions}")
        return self.layer_proj[layer](z) + self.positions[layer, : z.shape[1]]


class ConditionExtra:
    """The gated, non-causal condition term of every decoder self-attention (step 3 above): the
    decoder's `AttentionExtra` seam (model/decoder.py), the same object in training and generation.

    `kv[l]` is (Qc, Kc, Vc), each [G, H, P, d]. With `groups` None the G conditions are row-aligned
    with the batch (training); otherwise `groups` lists (rows, g): those batch rows attend to
    condition g, so rows that share a condition (classifier-free guidance blocks, takes) share one
    read of its keys/values (generation). `gates[l]` is layer l's gate: at 0 the added term is
    exactly zero, the base model bit for bit.
    """

    def __init__(
        self,
        kv: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
        groups: tuple[tuple[slice, int], ...] | None,
        gates: torch.Tensor | list[torch.Tensor],
        scaling: float,
    ) -> None:
        self.kv, self.groups, self.gates, self.scaling = kv, groups, gates, scaling

    def __call__(self, layer: int, query: torch.Tensor, attn: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        extra = self.condition_attention(layer, query, positions)
        return attn + self.gates[layer].to(attn.dtype) * extra.to(attn.dtype)

    def condition_attention(self, layer: int, q: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """softmax((q_s + Qc_s) Kc^T * scale) Vc for q [B, H, t, d] at window positions [t] -> [B, H, t, d]."""
        qc, kc, vc = self.kv[layer]
        qc = qc.index_select(2, positions)
        attend, scale = nn.functional.scaled_dot_product_attention, self.scaling
        if self.groups is None:
            return attend(q + qc, kc, vc, scale=scale)
        parts = []
        for rows, g in self.groups:
            query = q[rows] + qc[g]  # [n, H, t, d]; non-causal, so the n rows' queries can share one call
            n, h, t, d = query.shape
            flat = query.transpose(0, 1).reshape(1, h, n * t, d)
            out = attend(flat, kc[g : g + 1], vc[g : g + 1], scale=scale)
            parts.append(out.reshape(h, n, t, d).transpose(0, 1))
        return parts[0] if len(parts) == 1 else torch.cat(parts)


class AttachedAdapter:
    """An adapter wired to our decoder (model/decoder.py): per-window condition K/V, and the
    `ConditionExtra` the decoder calls in every layer."""

    def __init__(self, decoder: MusicDecoder, adapter: ExpotionAdapter) -> None:
        self.decoder = decoder
        self.adapter = adapter
        self.num_heads = decoder.spec.heads
        self.scaling = decoder.spec.head_dim**-0.5
        self._null: tuple[tuple, list] | None = None

    def condition_kv(self, condition: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """condition [G, T, F] for window positions 0..T-1 -> per layer (Qc, Kc, Vc), each [G, H, T, d].

        The parallel branch through the frozen layer's own norm and projections (LoRA included)."""
        z = self.adapter.latent(condition)
        kv = []
        for i, layer in enumerate(self.decoder.layers):
            attn = layer.self_attn
            c = layer.self_attn_layer_norm(self.adapter.layer_input(z, i))
            kv.append(tuple(split_heads(proj(c), self.num_heads) for proj in (attn.q_proj, attn.k_proj, attn.v_proj)))
        return kv

    def null_kv(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per layer (Qc, Kc, Vc) [1, H, P, d] of the null (all-zero) condition over the whole window.

        It depends only on the weights, so it is kept until any weight it reads changes (tracked by
        the tensors' version counters: an optimizer step or a state-dict load invalidates it)."""
        key = self._weights_key()
        if self._null is None or self._null[0] != key:
            p = self.adapter.positions
            with torch.no_grad():
                kv = self.condition_kv(p.new_zeros(1, self.adapter.max_positions, self.adapter.config.feature_dim))
            self._null = (key, kv)
        return self._null[1]

    def _weights_key(self) -> tuple:
        tensors = list(self.adapter.parameters())
        for layer in self.decoder.layers:
            tensors += list(layer.self_attn_layer_norm.parameters()) + list(layer.self_attn.parameters())
        return tuple((id(t), t._version, t.device, t.dtype) for t in tensors)

    def training_extra(self, condition: torch.Tensor) -> ConditionExtra:
        """Training: condition [B, T, F], row b of the batch attends to condition b (differentiable)."""
        return ConditionExtra(self.condition_kv(condition), None, self.adapter.gates, self.scaling)

    def generation_extra(self, kv: list, groups: tuple[tuple[slice, int], ...], dtype: torch.dtype) -> ConditionExtra:
        """Generation: `kv` shared by row `groups`, everything cast to the decoder's `dtype` once."""
        cast = [tuple(t.to(dtype) for t in layer) for layer in kv]
        gates = list(self.adapter.gates.detach().to(dtype).unbind())
        return ConditionExtra(cast, groups, gates, self.scaling)
