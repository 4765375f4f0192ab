"""The adapter's generation path (shared condition keys/values per guidance block, KV cache, cached
null condition past the clip's end) computes what the training path computes, with open gates."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generator_service.model.adapter import AdapterConfig
from generator_service.model.adapter_files import create_adapter
from generator_service.model.adapter_runner import CLIP, NULL, AdapterRunner, row_groups
from generator_service.model.loading import load_music_model
from generator_service.pipeline.generate import encode_prompts

K, L = 4, 24


@pytest.fixture()
def opened(cache_dir: Path):
    """A tiny model with an adapter whose gates are open (an untrained one would hide every bug)."""
    music = load_music_model("tiny", cache_dir=cache_dir, device="cpu")
    loaded = create_adapter(music, AdapterConfig(window_s=1.0))
    torch.manual_seed(0)
    with torch.no_grad():
        loaded.module.gates.uniform_(0.5, 1.5)
    return music, loaded


def teacher_forced(music, attached, ids, windows, hidden, mask) -> torch.Tensor:
    """The training path: each row attends to its own full window [rows, P, F] -> logits [rows*K, L, V]."""
    attached.set_condition(windows)
    attached.set_positions(0, ids.shape[-1])
    try:
        return music.model.decoder(input_ids=ids.reshape(-1, ids.shape[-1]), encoder_hidden_states=hidden,
                                   encoder_attention_mask=mask, use_cache=False).logits
    finally:
        attached.state.active = False


def stepped(runner, ids, window_start, hidden, mask, prefill: int = 5) -> torch.Tensor:
    """The generation path: a prefill, then one token per call through the KV cache."""
    logits, cache = runner(ids[..., :prefill].reshape(-1, prefill), window_start=window_start, position=0,
                           encoder_hidden_states=hidden, encoder_attention_mask=mask, cache=None)
    out = [logits]
    for p in range(prefill, ids.shape[-1]):
        logits, cache = runner(ids[..., p : p + 1].reshape(-1, 1), window_start=window_start, position=p,
                               encoder_hidden_states=hidden, encoder_attention_mask=mask, cache=cache)
        out.append(logits)
    return torch.cat(out, dim=1)


@pytest.mark.parametrize("blocks,window_start", [
    (("cond", "no_text"), 10),              # text guidance only: one shared condition
    (("cond", "no_text", "no_visual"), 30),  # visual guidance: the null block apart
    (("cond",), 70),                       # window past the clip's end: all null frames
])
def test_generation_path_equals_the_training_path(opened, blocks, window_start) -> None:
    music, loaded = opened
    attached, positions = loaded.attached, loaded.module.max_positions
    batch, frames = 2, 60
    rows = batch * len(blocks)
    condition = torch.randn(frames, 112)
    ids = torch.randint(0, 2048, (rows, K, L))
    windows = torch.zeros(rows, positions, 112)
    inside = condition[window_start : window_start + positions]
    for i, block in enumerate(blocks):
        if block != "no_visual":
            windows[i * batch : (i + 1) * batch, : inside.shape[0]] = inside
    with torch.no_grad():
        hidden, mask = encode_prompts(music, ["x"] * rows)
        expected = teacher_forced(music, attached, ids, windows, hidden, mask)
        shifted = teacher_forced(music, attached, ids, windows.roll(3, dims=1), hidden, mask)
        got = stepped(AdapterRunner(attached, condition, batch=batch, blocks=blocks), ids, window_start, hidden, mask)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < 1e-4
    if inside.shape[0]:
        assert (shifted - expected).abs().max() > 1e-2  # the condition matters: the check can fail


def test_null_condition_is_recomputed_when_a_weight_changes(opened) -> None:
    _, loaded = opened
    attached = loaded.attached
    with torch.no_grad():
        first = attached.null_kv()
        assert attached.null_kv() is first  # kept while the weights stay
        loaded.module.positions.add_(0.1)  # e.g. an optimizer step
        second = attached.null_kv()
        zeros = torch.zeros(1, loaded.module.max_positions, 112)
        fresh = attached.condition_kv(zeros)
    assert second is not first
    assert not torch.equal(second[0][1], first[0][1])
    assert all(torch.equal(a, b) for layer_a, layer_b in zip(second, fresh) for a, b in zip(layer_a, layer_b))


def test_row_groups_merge_blocks_that_share_a_condition() -> None:
    assert row_groups(("cond", "no_text"), 3) == ((slice(0, 6), CLIP),)
    assert row_groups(("cond", "no_text", "no_visual"), 2) == ((slice(0, 4), CLIP), (slice(4, 6), NULL))
    assert row_groups(("no_visual", "cond"), 1) == ((slice(0, 1), NULL), (slice(1, 2), CLIP))
