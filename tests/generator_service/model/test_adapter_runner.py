"""The adapter's generation path (packed decoder, shared condition keys/values per guidance block,
KV cache, cached null condition past the clip's end; the dynamic CPU step and the static step CUDA
graphs capture) computes what the training path computes, with open gates."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generator_service.model.adapter import AdapterConfig
from generator_service.model.adapter_files import create_adapter
from generator_service.model.adapter_runner import CLIP, NULL, AdapterRunner, row_groups
from generator_service.model.loading import load_music_model
from generator_service.model.melody import block_chroma, melody_prefix
from generator_service.model.text import encode_prompts

K, L = 4, 24


def open_adapter(cache_dir: Path, lora_rank: int = 0, model: str = "tiny"):
    """A tiny model with an adapter whose gates (and LoRA) are open (an untrained one would hide every bug)."""
    music = load_music_model(model, cache_dir=cache_dir, device="cpu")
    loaded = create_adapter(music, AdapterConfig(window_s=1.0, lora_rank=lora_rank))
    torch.manual_seed(0)
    with torch.no_grad():
        loaded.module.gates.uniform_(0.5, 1.5)
        for name, p in music.decoder.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.3)
    return music, loaded


@pytest.fixture()
def opened(cache_dir: Path):
    return open_adapter(cache_dir)


def teacher_forced(music, attached, ids, windows, hidden, mask) -> torch.Tensor:
    """The training path: each row attends to its own full window [rows, P, F] -> logits [rows, K, L, V]."""
    return music.decoder(ids, hidden, mask, extra=attached.training_extra(windows))


def stepped(music, runner, ids, window_start, hidden, mask, static: bool, prefill: int = 5) -> torch.Tensor:
    """The generation path: a prefill, then one token per call through the KV cache."""
    runner.prepare(window_start, torch.float32)
    session = music.packed().session(ids.shape[0], ids.shape[-1], hidden, mask, static=static)
    out = [session.step(ids[..., :prefill], 0, runner, every_position=True)]
    for p in range(prefill, ids.shape[-1]):
        out.append(session.step(ids[..., p : p + 1], p, runner)[:, :, None])
    return torch.cat(out, dim=2)


@pytest.mark.parametrize("static", [False, True], ids=["dynamic", "static"])
@pytest.mark.parametrize(
    "blocks,window_start,lora_rank",
    [
        (("cond", "no_text"), 10, 0),  # text guidance only: one shared condition
        (("cond", "no_text", "no_visual"), 30, 0),  # visual guidance: the null block apart
        (("cond",), 70, 0),  # window past the clip's end: all null frames
        (("cond", "no_text", "no_visual"), 30, 2),  # open LoRA: unmerged in training, merged in generation
    ],
)
def test_generation_path_equals_the_training_path(cache_dir: Path, blocks, window_start, lora_rank, static) -> None:
    _check_paths_agree(cache_dir, blocks, window_start, lora_rank, static, "tiny")


@pytest.mark.parametrize("static", [False, True], ids=["dynamic", "static"])
@pytest.mark.parametrize(
    "blocks,window_start,lora_rank",
    [(("cond", "no_text", "no_visual"), 30, 0), (("cond", "no_text"), 10, 2)],
)
def test_generation_path_equals_the_training_path_after_a_melody_prefix(
    cache_dir: Path, blocks, window_start, lora_rank, static
) -> None:
    """tiny-melody: the decoder attends to a chroma + text prefix first; the adapter's frames stay
    tied to the code positions (the prefix shifts the cache, not the condition)."""
    _check_paths_agree(cache_dir, blocks, window_start, lora_rank, static, "tiny-melody")


def _check_paths_agree(cache_dir: Path, blocks, window_start: int, lora_rank: int, static: bool, model: str) -> None:
    music, loaded = open_adapter(cache_dir, lora_rank, model)
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
        if music.melody:  # the melody in the conditional rows, the null one in "no_text"'s
            chroma = torch.nn.functional.one_hot(torch.randint(0, 12, (1, 9)), 12).float()
            nulls = [block == "no_text" for block in blocks]
            hidden = melody_prefix(music, hidden, block_chroma(music, chroma, batch, nulls))
        expected = teacher_forced(music, attached, ids, windows, hidden, mask)
        shifted = teacher_forced(music, attached, ids, windows.roll(3, dims=1), hidden, mask)
        runner = AdapterRunner(attached, condition, batch=batch, blocks=blocks)
        got = stepped(music, runner, ids, window_start, hidden, mask, static)
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
