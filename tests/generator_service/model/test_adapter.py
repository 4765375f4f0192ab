"""The Expotion adapter: exact zero-init, save/load round trip, steps=0 scoring, resume, alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generator_service.config import GenerationConfig
from generator_service.errors import ConfigError
from generator_service.model.adapter import AdapterConfig
from generator_service.model.adapter_files import create_adapter, load_adapter
from generator_service.model.loading import load_music_model
from generator_service.pipeline.generate import generate_codes, guidance_blocks
from generator_service.training.train import TrainConfig, collate, train

F, K, CLASSES = 100, 4, 8  # 2 s windows at 50 Hz, 4 codebooks, 8 condition classes


def code_for(k: int, c: int) -> int:
    return 100 * k + 7 * c + 3


def synthetic_item(rng: np.random.Generator) -> dict:
    """Condition: a class per 50 Hz frame (runs of 1-3 frames) one-hot in the pose dims; target code of
    codebook k at frame s = code_for(k, class at frame s)."""
    classes: list[int] = []
    while len(classes) < F:
        classes += [int(rng.integers(CLASSES))] * int(rng.integers(1, 4))
    cls = np.array(classes[:F])
    cond = np.zeros((F, 112), np.float32)
    cond[np.arange(F), 56 + cls] = 1.0
    codes = np.array([[code_for(k, c) for c in cls] for k in range(K)])
    return {"codes": codes, "condition": cond, "prompt": "", "classes": cls}


def _codes(music, loaded, condition, cfg) -> torch.Tensor:
    runner = (
        None if loaded is None else loaded.runner(music, condition, batch=cfg.variants, blocks=guidance_blocks(cfg))
    )
    return generate_codes(music, F, cfg, condition=runner)


@pytest.fixture()
def fresh(cache_dir: Path):
    """A tiny model of its own (adapters and LoRA modify the decoder they attach to)."""
    return load_music_model("tiny", cache_dir=cache_dir, device="cpu")


GEN = GenerationConfig(prompt="x", seed=3, window_s=2.0, context_s=0.5)


@pytest.mark.parametrize("lora_rank", [0, 4])
def test_untrained_adapter_is_exactly_the_base_model(fresh, lora_rank: int) -> None:
    item = synthetic_item(np.random.default_rng(0))
    batch = collate([item, synthetic_item(np.random.default_rng(1))])
    from generator_service.model.text import encode_prompts
    from generator_service.training.train import delayed_sequence

    seq, _ = delayed_sequence(batch["codes"], 2048)
    ids = seq[..., :-1]
    with torch.no_grad():
        hidden, mask = encode_prompts(fresh, ["x", "x"])
        base_logits = fresh.decoder(ids, hidden, mask)
        base_codes = generate_codes(fresh, F, GEN)
    loaded = create_adapter(fresh, AdapterConfig(window_s=2.0, lora_rank=lora_rank))
    window = torch.zeros(2, loaded.module.max_positions, 112)
    window[:, :F] = batch["condition"]
    with torch.no_grad():
        logits = fresh.decoder(ids, hidden, mask, extra=loaded.attached.training_extra(window))
    assert torch.equal(logits, base_logits)  # training path (teacher forcing), LoRA unmerged
    assert torch.equal(
        _codes(fresh, loaded, item["condition"], GEN), base_codes
    )  # generation: packed, LoRA merged, CFG


def test_steps_0_adapter_scores_bit_identical_audio(tmp_path: Path, fresh) -> None:
    from generator_service.demo_clip import make_performer_clip
    from generator_service.pipeline.score import Scorer, ScoreRequest

    out = tmp_path / "adapter"
    train(
        fresh,
        [synthetic_item(np.random.default_rng(0))],
        [],
        out,
        TrainConfig(steps=0, batch_size=1),
        AdapterConfig(window_s=2.0),
    )
    clip = make_performer_clip(tmp_path / "c.mp4", duration=1.5, fps=25, size=(320, 180))
    request = ScoreRequest(clip, generation=GenerationConfig(prompt="calm", seed=5, window_s=2.0, context_s=0.5))
    plain = Scorer(fresh)(request)
    with_adapter = Scorer(fresh, adapter=load_adapter(out, fresh))(request)
    assert with_adapter.adapter == "adapter" and with_adapter.visual in ("present", "null")
    assert np.array_equal(plain.takes[0], with_adapter.takes[0])


def test_save_load_into_a_fresh_base_gives_identical_generations(tmp_path: Path, fresh, cache_dir: Path) -> None:
    rng = np.random.default_rng(0)
    items = [synthetic_item(rng) for _ in range(4)]
    trained = train(
        fresh,
        items,
        [],
        tmp_path / "a",
        TrainConfig(steps=3, batch_size=2, warmup_epochs=0),
        AdapterConfig(window_s=2.0, lora_rank=2, latent_dim=8),
    )
    assert float(trained.module.gates.detach().abs().sum()) > 0
    before = _codes(fresh, trained, items[0]["condition"], GEN)
    other = load_music_model("tiny", cache_dir=cache_dir, device="cpu")
    reloaded = load_adapter(tmp_path / "a", other)
    assert torch.equal(_codes(other, reloaded, items[0]["condition"], GEN), before)
    assert (tmp_path / "a" / "adapter_model.safetensors").is_file()  # peft's LoRA file


def test_visual_guidance_uses_the_null_condition_block(tmp_path: Path, fresh) -> None:
    rng = np.random.default_rng(2)
    items = [synthetic_item(rng) for _ in range(4)]
    trained = train(
        fresh,
        items,
        [],
        tmp_path / "a",
        TrainConfig(steps=3, batch_size=2, warmup_epochs=0),
        AdapterConfig(window_s=2.0, latent_dim=8),
    )
    plain = _codes(fresh, trained, items[0]["condition"], GEN)
    from dataclasses import replace

    guided = _codes(fresh, trained, items[0]["condition"], replace(GEN, visual_guidance=3.0))
    assert guided.shape == plain.shape and not torch.equal(guided, plain)


def test_visual_guidance_without_adapter_is_refused(tmp_path: Path, fresh) -> None:
    from generator_service.demo_clip import make_performer_clip
    from generator_service.pipeline.score import Scorer, ScoreRequest

    clip = make_performer_clip(tmp_path / "c.mp4", duration=0.5, fps=25, size=(160, 90))
    with pytest.raises(ConfigError, match="visual_guidance: needs an adapter"):
        Scorer(fresh)(ScoreRequest(clip, generation=GenerationConfig(visual_guidance=2.0)))


def test_loading_onto_another_base_says_what_differs(tmp_path: Path, fresh) -> None:
    train(
        fresh,
        [synthetic_item(np.random.default_rng(0))],
        [],
        tmp_path / "a",
        TrainConfig(steps=0, batch_size=1),
        AdapterConfig(window_s=2.0),
    )
    fresh.model_id = "facebook/musicgen-small"
    with pytest.raises(ConfigError, match="base model: adapter trained on 'tiny'"):
        load_adapter(tmp_path / "a", fresh)


def test_resumed_run_reaches_the_same_weights(tmp_path: Path, fresh) -> None:
    rng = np.random.default_rng(1)
    items = [synthetic_item(rng) for _ in range(6)]
    cfg = TrainConfig(steps=6, batch_size=2, checkpoint_every=3, warmup_epochs=1)
    acfg = AdapterConfig(window_s=2.0, latent_dim=8, visual_dropout=0.3)
    whole = train(fresh, items, [], tmp_path / "whole", cfg, acfg)
    w = {k: v.clone() for k, v in whole.module.state_dict().items()}
    train(fresh, items, [], tmp_path / "parts", cfg, acfg, stop_after=3)
    assert not (tmp_path / "parts" / "expotion_config.json").exists()
    resumed = train(fresh, items, [], tmp_path / "parts", cfg, acfg)
    for name, value in resumed.module.state_dict().items():
        assert torch.equal(value, w[name]), name


@pytest.mark.slow
def test_generation_follows_the_condition_frame_by_frame(tmp_path: Path, fresh) -> None:
    """Learnability and alignment: after a short CPU run the adapter's greedy tokens follow the
    condition; the same adapter with the condition shifted by 3 frames, and the text-only model, do not.
    Chance: 1/8 if a model picked uniformly among the 8 codes a codebook uses; 1/2048 over the vocabulary."""
    rng = np.random.default_rng(0)
    items = [synthetic_item(rng) for _ in range(64)]
    held_out = [synthetic_item(rng) for _ in range(2)]
    loaded = train(
        fresh,
        items,
        held_out[:1],
        tmp_path / "a",
        TrainConfig(steps=150, batch_size=8, lr=2e-2, warmup_epochs=0.5, val_every=50),
        AdapterConfig(latent_dim=16, window_s=2.0, visual_dropout=0.0),
    )
    cfg = GenerationConfig(top_k=1, guidance_scale=1.0, window_s=2.0, context_s=0.5)

    def accuracy(item, condition, adapter) -> float:
        codes = _codes(fresh, adapter, condition, cfg)[0].numpy()
        return float((codes == item["codes"]).mean())

    for item in held_out:
        aligned = accuracy(item, item["condition"], loaded)
        shifted = max(accuracy(item, np.roll(item["condition"], s, axis=0), loaded) for s in (-3, 3))
        text_only = accuracy(item, item["condition"], None)
        assert aligned > 0.2, aligned
        assert shifted < 0.1 and aligned > 3 * shifted, (aligned, shifted)
        assert text_only < 0.02, text_only
