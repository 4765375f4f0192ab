"""The decoder's inference form: fused weights at a precision, a static KV cache, one call per step.

`PackedDecoder(decoder, precision)` reads the module form (model/decoder.py): q/k/v fused into
one weight, LoRA merged into the weights it adapts (peft's `get_delta_weight`), every matrix in
the precision's format (model/linear.py). int8 layer weights come in already rounded
(`int8_layers`: model/precision/ chooses them, by GPTQ or from its cache) or are rounded to the
nearest level; this module only runs them. The text's cross-attention keys/values are computed
once per session and again when a window brings its own prompt (`DecodeSession.set_text`; in fp32
by the module form, then cast); self-attention keys/values go into caches preallocated for the
whole window [rows, H, max_length, d]. The matrix products run in the
precision's compute dtype, attention in its attention dtype (model/linear.py: fp32 on CPUs);
the residual stream, layer norms and embeddings stay fp32 (rounding the residual to bf16 after
every layer costs argmax agreement with fp32 and saves nothing measurable).

`DecodeSession.step(codes, start, extra)` runs the decoder on codes [B, K, t] at window positions
start..start+t-1 and returns the logits of the last position [B, K, V] in fp32. Two step bodies:
- dynamic (CPU): positions are Python ints, attention reads the cache up to the current length;
  no mask is built and nothing is allocated per layer beyond the kernels' outputs.
- static (CUDA graphs): the position is a device tensor, the new keys/values are written with
  `index_copy_`, and attention reads the whole static cache under a position mask, so every
  tensor address and shape is the same at every step (model/cuda_graph.py captures it).
A prefill (t > 1) must start at position 0 (a window's first call) and is causal.

Prefix conditioning (the melody checkpoints, model/decoder.py): the session's "text" is the prefix
[rows, P, D]; `set_text` runs it through the layers once (causal), its keys/values filling cache
positions 0..P-1, and window position s sits at position P + s; the layers have no cross-attention.
The callers' window positions are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .decoder import ACTIVATIONS, AttentionExtra, DecoderSpec, MusicDecoder, split_heads, text_mask_bias
from .linear import Int8Linear, Linear, attention_dtype, check_supported, compute_dtype, pack_linear

#: Per slot of a layer ("qkv", "out", "xq", "xout", "fc1", "fc2"): int8 weight [N, K] and scales [N].
Int8Slots = dict[str, tuple[torch.Tensor, torch.Tensor]]
#: Every layer's `Int8Slots`, in layer order.
Int8Layers = list[Int8Slots]
#: (layer, q, k, v) -> self-attention output: stores the new keys/values in the cache, attends.
SelfAttention = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def effective_weight(linear: nn.Module) -> torch.Tensor:
    """A projection's weight with its active LoRA adapters merged (a new tensor if any)."""
    base = getattr(linear, "base_layer", None)
    if base is None:
        return linear.weight.detach()
    weight = base.weight.detach()
    if getattr(linear, "disable_adapters", False):
        return weight
    for name in linear.active_adapters:
        if name in linear.lora_A:
            weight = weight + linear.get_delta_weight(name).detach().to(weight.dtype)
    return weight


class PackedLayer:
    """One decoder layer's weights in inference form."""

    __slots__ = ("ln1", "qkv", "out", "ln2", "xq", "xout", "ln3", "fc1", "fc2")

    def __init__(self, layer: nn.Module, precision: str, int8: Int8Slots | None = None) -> None:
        """`int8`: the projections already rounded, per slot (weight, scales). A layer without
        cross-attention (prefix conditioning) has no "xq", "xout" nor `ln2` (None)."""
        cross = getattr(layer, "encoder_attn", None)
        if int8 is not None:
            for slot, (weight, scales) in int8.items():
                setattr(self, slot, Int8Linear.from_int8(weight, scales))
        else:
            attn = layer.self_attn
            qkv = [effective_weight(attn.q_proj), effective_weight(attn.k_proj), effective_weight(attn.v_proj)]
            self.qkv = pack_linear(torch.cat(qkv), precision)
            self.out = pack_linear(effective_weight(attn.out_proj), precision)
            if cross is not None:
                self.xq = pack_linear(effective_weight(cross.q_proj), precision)
                self.xout = pack_linear(effective_weight(cross.out_proj), precision)
            self.fc1 = pack_linear(effective_weight(layer.fc1), precision)
            self.fc2 = pack_linear(effective_weight(layer.fc2), precision)
        self.ln1, self.ln3 = (
            (norm.weight.detach().float(), norm.bias.detach().float())
            for norm in (layer.self_attn_layer_norm, layer.final_layer_norm)
        )
        norm = layer.encoder_attn_layer_norm if cross is not None else None
        self.ln2 = None if norm is None else (norm.weight.detach().float(), norm.bias.detach().float())


class PackedDecoder:
    """A `MusicDecoder` packed for inference at one precision (see module docstring)."""

    def __init__(self, decoder: MusicDecoder, precision: str, *, int8_layers: Int8Layers | None = None) -> None:
        """`int8_layers`: at int8, each layer's projections already rounded, per slot (int8 weight
        [N, K], scales [N]); without them every weight is rounded to the nearest level."""
        ref = decoder.layer_norm.weight
        check_supported(precision, str(ref.device))
        self.reference = decoder
        self.spec: DecoderSpec = decoder.spec
        self.precision = precision
        self.dtype = compute_dtype(precision)
        self.device = ref.device
        self.attn_dtype = attention_dtype(precision, str(ref.device))
        scale = self.spec.hidden**0.5 if self.spec.scale_embedding else 1.0
        with torch.no_grad():
            self.embed = torch.stack([e.weight.detach().float() * scale for e in decoder.embed_tokens])  # [K, V+1, D]
            self.positions = decoder.positions.float()
            if int8_layers is not None and precision != "int8":
                raise ValueError(f"int8 layers given for a {precision} pack")
            rounded = int8_layers if int8_layers is not None else [None] * len(decoder.layers)
            self.layers = [PackedLayer(layer, precision, r) for layer, r in zip(decoder.layers, rounded, strict=True)]
            self.norm = (decoder.layer_norm.weight.detach().float(), decoder.layer_norm.bias.detach().float())
            # The heads decide the argmax and are small (K x V x D): fp32 under bf16 (argmax agreement
            # with fp32 0.98 -> 0.99 on the small-shaped random model), bf16 under int8.
            head_precision = {"bf16": "fp32", "int8": "bf16"}.get(precision, precision)
            self.head_dtype = compute_dtype(head_precision)
            self.heads: list[Linear] = [pack_linear(h.weight, head_precision) for h in decoder.lm_heads]
        self.codebooks = torch.arange(self.spec.num_codebooks, device=self.device)[None, :, None]
        self.act = ACTIVATIONS[self.spec.activation]

    def session(
        self, rows: int, max_length: int, text_hidden: torch.Tensor, text_mask: torch.Tensor, *, static: bool = False
    ) -> DecodeSession:
        """A decoding session for `rows` sequences of up to `max_length` positions with this text
        (hidden [rows, L, D] as the decoder sees it, mask [rows, L])."""
        return DecodeSession(self, rows, max_length, text_hidden, text_mask, static=static)


class DecodeSession:
    """KV caches + text keys/values for one batch of rows; `step` runs one decoder call."""

    def __init__(
        self,
        packed: PackedDecoder,
        rows: int,
        max_length: int,
        text_hidden: torch.Tensor,
        text_mask: torch.Tensor,
        *,
        static: bool = False,
    ) -> None:
        self.packed, self.rows, self.max_length, self.static = packed, rows, max_length, static
        #: Cache positions the prefix takes (0 with cross-attention): window position s is at offset + s.
        self.offset = 0
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.text_keys: list[torch.Tensor] = []
        self.text_values: list[torch.Tensor] = []
        self.set_text(text_hidden, text_mask)

    def _allocate(self, offset: int) -> None:
        """Self-attention caches for a prefix of `offset` positions and the window."""
        spec, dtype, device = self.packed.spec, self.packed.attn_dtype, self.packed.device
        length = offset + self.max_length
        if length > self.packed.positions.shape[0]:
            raise ValueError(
                f"prefix {offset} + max_length {self.max_length} exceeds the decoder's "
                f"{self.packed.positions.shape[0]} positions"
            )
        shape = (self.rows, spec.heads, length, spec.head_dim)
        # zeros, not empty: the static step reads the whole cache under a mask, and 0 * NaN is NaN
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(spec.layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(spec.layers)]
        self.arange = torch.arange(length, device=device)
        self.offset = offset

    def set_text(self, text_hidden: torch.Tensor, text_mask: torch.Tensor) -> None:
        """The text the next calls attend to (hidden [rows, L, D], mask [rows, L]): a window's own
        prompt. Keys/values of the same shape as the current ones are written into the same tensors,
        so a captured step (model/cuda_graph.py) keeps its addresses; another shape replaces them.
        Prefix conditioning: `text_hidden` is the prefix [rows, P, D], run into the cache here (a
        prefix of another length reallocates the caches); `text_mask` is not used."""
        dtype = self.packed.attn_dtype
        if not self.packed.spec.cross_attention:
            self._set_prefix(text_hidden)
            return
        if not self.keys:
            self._allocate(0)
        with torch.no_grad():
            kv = self.packed.reference.text_kv(text_hidden.to(self.packed.reference.layer_norm.weight.dtype))
            keys = [k.to(dtype).contiguous() for k, _ in kv]
            values = [v.to(dtype).contiguous() for _, v in kv]
            bias = text_mask_bias(text_mask, dtype)
            same = bool(self.text_keys) and keys[0].shape == self.text_keys[0].shape
            if not same:
                self.text_keys, self.text_values, self.text_bias = keys, values, bias
                return
            for old, new in zip(
                self.text_keys + self.text_values + [self.text_bias], keys + values + [bias], strict=True
            ):
                old.copy_(new)

    def _set_prefix(self, prefix: torch.Tensor) -> None:
        """Run the prefix [rows, P, D] through the layers (causal), its keys/values into positions 0..P-1."""
        length = prefix.shape[1]
        if not self.keys or length != self.offset:
            self._allocate(length)
        keys, values, sdpa = self.keys, self.values, F.scaled_dot_product_attention

        def attend(i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            keys[i][:, :, :length] = k
            values[i][:, :, :length] = v
            return sdpa(q, k, v, is_causal=True)

        with torch.no_grad():
            x = prefix.float() + self.packed.positions[:length]
            self._run_layers(x, self.arange[:length], attend, None)

    def step(
        self, codes: torch.Tensor, start: int, extra: AttentionExtra | None = None, *, every_position: bool = False
    ) -> torch.Tensor:
        """codes [B, K, t] at window positions start.. -> last-position logits [B, K, V] fp32
        (`every_position`: logits of every input position [B, K, t, V])."""
        t = codes.shape[-1]
        if t > 1 and start:
            raise ValueError(f"a multi-token call must start the window (position 0), not {start}")
        if self.static and t == 1:
            return self.static_step(codes, self.arange[start : start + 1], extra)
        return self._dynamic_step(codes, start, extra, every_position)

    def _dynamic_step(
        self, codes: torch.Tensor, start: int, extra: AttentionExtra | None, every_position: bool = False
    ) -> torch.Tensor:
        t, offset = codes.shape[-1], self.offset
        first, end = offset + start, offset + start + t
        keys, values, sdpa = self.keys, self.values, F.scaled_dot_product_attention
        # the window's prefill after a prefix: position offset + j sees the prefix and codes 0..j
        after_prefix = torch.ones(t, end, dtype=torch.bool, device=codes.device).tril(offset) if offset else None

        def attend(i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            keys[i][:, :, first:end] = k
            values[i][:, :, first:end] = v
            if t > 1 and after_prefix is not None:
                return sdpa(q, keys[i][:, :, :end], values[i][:, :, :end], attn_mask=after_prefix)
            if t > 1:  # the window's prefill, from position 0
                return sdpa(q, k, v, is_causal=True)
            return sdpa(q, keys[i][:, :, :end], values[i][:, :, :end])  # the cache so far: no mask

        x = self._layers(codes, self.arange[first:end], attend, extra)
        return self._logits(x if every_position else x[:, -1])

    def static_step(self, codes: torch.Tensor, position: torch.Tensor, extra: AttentionExtra | None) -> torch.Tensor:
        """One token per row, codes [B, K, 1], at the window position held by the tensor `position`
        [1]: fixed shapes and addresses (CUDA-graph capturable)."""
        keys, values, sdpa = self.keys, self.values, F.scaled_dot_product_attention
        position = position + self.offset  # in the cache, after any prefix
        visible = (self.arange <= position)[None, None, None, :]  # [1, 1, 1, offset + max_length]

        def attend(i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            keys[i].index_copy_(2, position, k)
            values[i].index_copy_(2, position, v)
            return sdpa(q, keys[i], values[i], attn_mask=visible)  # the whole cache, masked

        return self._logits(self._layers(codes, position, attend, extra)[:, -1])

    def _layers(
        self, codes: torch.Tensor, positions: torch.Tensor, attend: SelfAttention, extra: AttentionExtra | None
    ) -> torch.Tensor:
        """Embeddings and every layer for codes [B, K, t] at cache `positions` [t] (window positions
        + `offset`); `attend(i, q, k, v)` stores layer i's new keys/values and returns its
        self-attention -> hidden [B, t, D] fp32. `extra` sees the window positions."""
        p = self.packed
        x = p.embed[p.codebooks, codes].sum(1) + p.positions.index_select(0, positions)
        return self._run_layers(x, positions, attend, extra)

    def _run_layers(
        self, x: torch.Tensor, positions: torch.Tensor, attend: SelfAttention, extra: AttentionExtra | None
    ) -> torch.Tensor:
        """Every layer on input states x [B, t, D] fp32 at cache `positions` [t] (see `_layers`)."""
        p, spec = self.packed, self.packed.spec
        b, t, _ = x.shape
        heads, width, act, dtype, adt = spec.heads, (spec.hidden,), p.act, p.dtype, p.attn_dtype
        sdpa, layer_norm = F.scaled_dot_product_attention, F.layer_norm
        for i, layer in enumerate(p.layers):
            h = layer_norm(x, width, *layer.ln1).to(dtype)
            q, k, v = layer.qkv(h).to(adt).view(b, t, 3, heads, -1).permute(2, 0, 3, 1, 4)
            a = attend(i, q, k, v)
            if extra is not None:
                a = extra(i, q, a, positions - self.offset)
            x = x + layer.out(a.transpose(1, 2).reshape(b, t, -1).to(dtype))
            if layer.ln2 is not None:  # cross-attention to the text (none under prefix conditioning)
                h = layer_norm(x, width, *layer.ln2).to(dtype)
                a = sdpa(
                    split_heads(layer.xq(h).to(adt), heads),
                    self.text_keys[i],
                    self.text_values[i],
                    attn_mask=self.text_bias,
                )
                x = x + layer.xout(a.transpose(1, 2).reshape(b, t, -1).to(dtype))
            x = x + layer.fc2(act(layer.fc1(layer_norm(x, width, *layer.ln3).to(dtype))))
        return x

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """[B, D] -> [B, K, V] (or [B, t, D] -> [B, K, t, V]), fp32."""
        p = self.packed
        h = F.layer_norm(hidden, (p.spec.hidden,), *p.norm).to(p.head_dtype)
        return torch.stack([head(h) for head in p.heads], dim=1).float()


def pack_key(decoder: MusicDecoder, precision: str) -> tuple[Any, ...]:
    """Identity of the weights a packed form was made from: any in-place change (an optimizer step,
    a state-dict load) or a module swap (LoRA injected) gives another key."""
    return (precision,) + tuple((id(t), t._version, t.device, t.dtype) for t in decoder.parameters())
