"""The melody checkpoints' architecture: the built-in `tiny-melody`, its prefix conditioning in our
decoder (module and packed forms) against transformers' MusicgenMelody models (the parity reference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generator_service.config import GenerationConfig
from generator_service.errors import ConfigError
from generator_service.model.chroma import ChromaSettings
from generator_service.model.decoder import MusicDecoder
from generator_service.model.melody import block_chroma, melody_prefix
from generator_service.model.packed import PackedDecoder
from generator_service.model.precision.parity import argmax_agreement, random_inputs, teacher_forced_logits
from generator_service.model.shapes import random_decoder
from generator_service.pipeline.generate import Window, encode_texts, generate_codes, melody_texts, sample_window
from generator_service.progress import CancelToken

from ..pipeline.test_generate import _hf_codes
from .test_decoder import FAST_SHAPES, _stepped


@pytest.fixture(scope="module")
def tiny_melody(cache_dir: Path):
    from generator_service.model.loading import load_music_model

    return load_music_model("tiny-melody", cache_dir=cache_dir, device="cpu")


def _prefixed_reference(hf, codes: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
    """transformers' melody decoder on prefix [B, P, D] + codes [B, K, T] -> code logits [B, K, T, V]."""
    b, k, t = codes.shape
    with torch.no_grad():
        out = hf(input_ids=codes.reshape(b * k, t), encoder_hidden_states=prefix)
    return out.logits.view(b, k, prefix.shape[1] + t, -1)[:, :, prefix.shape[1] :]


@pytest.mark.parametrize("size,layers,channels", [(s, n, 1) for s, n in FAST_SHAPES] + [("tiny", None, 2)])
def test_prefix_logits_match_transformers_melody_decoder(size: str, layers: int | None, channels: int) -> None:
    """Mono, and the stereo melody checkpoints' layout (8 codebooks interleaved)."""
    hf = random_decoder(size, layers, audio_channels=channels, melody=True)
    ours = MusicDecoder.from_transformers(hf)
    assert not ours.spec.cross_attention and not hasattr(ours.layers[0], "encoder_attn")
    codes, prefix, _ = random_inputs(ours.spec, rows=4, length=40, padded=False)
    prefix = prefix + 0.5  # the null rows' prefix is not zero either (projected null chroma, positions)
    expected = _prefixed_reference(hf, codes, prefix)
    unused_mask = torch.zeros(prefix.shape[:2], dtype=torch.long)  # prefix conditioning takes no mask
    with torch.no_grad():
        module = ours(codes, prefix, unused_mask)
    assert (module - expected).abs().max() < 1e-4  # training form (teacher forcing)
    packed = PackedDecoder(ours, "fp32")
    for static in (False, True):  # the CPU step, and the step CUDA graphs capture
        assert (_stepped(packed, codes, prefix, unused_mask, static) - expected).abs().max() < 1e-4


def test_tiny_melody_is_the_melody_architecture_labelled_untrained(tiny_melody) -> None:
    from transformers import MusicgenMelodyForConditionalGeneration

    from generator_service.model.tiny import is_tiny_dir, tiny_model_dir

    assert isinstance(tiny_melody.model, MusicgenMelodyForConditionalGeneration)
    assert tiny_melody.untrained and tiny_melody.melody and tiny_melody.audio_channels == 1
    config = tiny_melody.model.config
    assert (config.num_chroma, config.chroma_length) == (12, 235)
    folder = tiny_model_dir(tiny_melody.cache_dir, "tiny-melody")
    assert is_tiny_dir(folder) and (folder / "preprocessor_config.json").is_file()
    assert tiny_melody.chroma == ChromaSettings() and tiny_melody.chroma.frame_rate == 7.8125  # read from it


def test_a_local_melody_model_without_preprocessor_settings_takes_the_defaults(tiny_melody, tmp_path: Path) -> None:
    import shutil

    from generator_service.model.loading import load_music_model
    from generator_service.model.tiny import tiny_model_dir

    copy = tmp_path / "melody"
    shutil.copytree(tiny_model_dir(tiny_melody.cache_dir, "tiny-melody"), copy)
    (copy / "preprocessor_config.json").write_text('{"hop_length": 2048}')
    assert load_music_model(str(copy), device="cpu").chroma == ChromaSettings(hop_length=2048)
    (copy / "preprocessor_config.json").unlink()
    assert load_music_model(str(copy), device="cpu").chroma == ChromaSettings()


def _one_hot_chroma(rows: int, frames: int, seed: int = 0) -> torch.Tensor:
    bins = torch.randint(0, 12, (rows, frames), generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.one_hot(bins, 12).float()


@pytest.mark.parametrize("melody", [True, False])
def test_greedy_with_melody_matches_transformers_generate(tiny_melody, monkeypatch, melody: bool) -> None:
    """200 greedy steps of our sampling loop on our packed decoder (fp32, CFG 3.0) = transformers'
    melody generate(), with a melody (40 chroma frames, repeated to 235 in the prefix) and without
    (text alone: the null melody)."""
    mm, frames, rows = tiny_melody, 197, 2
    cfg = GenerationConfig(prompt="calm piano", top_k=1, guidance_scale=3.0, variants=rows)
    chroma = _one_hot_chroma(1, 40) if melody else None
    ours = generate_codes(mm, frames, cfg, melody=None if chroma is None else lambda start, end: chroma)
    tok = mm.tokenizer([cfg.prompt] * rows, return_tensors="pt", padding=True)
    features = {} if chroma is None else {"input_features": chroma.repeat(rows, 1, 1)}
    ref = _hf_codes(mm, monkeypatch, **tok, **features, guidance_scale=3.0, max_new_tokens=frames + 3)
    assert ours.shape == ref.shape == (rows, 4, frames)
    assert torch.equal(ours, ref)


def test_the_melody_steers_the_prefix_and_is_refused_where_it_cannot_act(tiny, tiny_melody) -> None:
    cfg = GenerationConfig(prompt="calm piano", guidance_scale=3.0, variants=1)
    with torch.inference_mode():
        hidden, _ = encode_texts(tiny_melody, [cfg.prompt], 1, ("cond", "no_text"))[cfg.prompt]
        one, other = (
            melody_prefix(
                tiny_melody, hidden, block_chroma(tiny_melody, _one_hot_chroma(1, 40, seed), 1, [False, True])
            )
            for seed in (0, 1)
        )
    length = tiny_melody.model.config.chroma_length
    assert one.shape == (2, length + hidden.shape[1], tiny_melody.decoder.spec.hidden)
    assert not torch.equal(one[0, :length], other[0, :length])  # the melody is in the conditioned rows
    assert torch.equal(one[1], other[1]) and torch.equal(one[:, length:], other[:, length:])  # not in the null
    with pytest.raises(ConfigError, match="'tiny' is not a melody checkpoint") as refused:
        generate_codes(tiny, 10, cfg, melody=lambda start, end: _one_hot_chroma(1, 40))
    assert "tiny-melody" in refused.value.hint and "facebook/musicgen-melody" in refused.value.hint


def test_each_window_gets_the_chroma_of_its_own_span(tiny_melody) -> None:
    """Three windows with continuation: the melody is asked for each window's span (context
    included, seconds of the music), and a chroma that changes between windows changes the music
    after the first window only."""
    cfg = GenerationConfig(prompt="drums", window_s=1.0, context_s=0.4, top_k=1, guidance_scale=3.0, variants=1)
    asked: list[tuple[float, float]] = []

    def melody(start: float, end: float) -> torch.Tensor:
        asked.append((round(start, 3), round(end, 3)))
        return _one_hot_chroma(1, 8, seed=0 if start == 0 else len(asked))

    changing = generate_codes(tiny_melody, 100, cfg, melody=melody)
    assert asked == [(0.0, 1.0), (0.6, 1.6), (1.2, 2.0)]
    fixed = generate_codes(tiny_melody, 100, cfg, melody=lambda start, end: _one_hot_chroma(1, 8, seed=0))
    assert torch.equal(changing[:, :, :50], fixed[:, :, :50])
    assert not torch.equal(changing[:, :, 50:], fixed[:, :, 50:])


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_reduced_precision_runs_the_prefix_decoder(tmp_path: Path, precision: str) -> None:
    """The mono model's precision path, unchanged: int8 rounds (GPTQ) and caches only the slots a
    prefix decoder has (no cross-attention), and both stay close to fp32 at tiny shape.
    Measured: bf16 0.989, int8 0.978 argmax agreement on these inputs."""
    from generator_service.model.precision.packing import pack_checked

    ours = MusicDecoder.from_transformers(random_decoder("tiny", melody=True))
    codes, prefix, mask = random_inputs(ours.spec, 4, 40)
    fp32 = teacher_forced_logits(PackedDecoder(ours, "fp32"), codes, prefix, mask)
    packed, _ = pack_checked(ours, precision, "cpu", name="tiny-melody", cache_dir=tmp_path)
    assert packed.precision == precision and not hasattr(packed.layers[0], "xq")
    assert argmax_agreement(teacher_forced_logits(packed, codes, prefix, mask), fp32) >= 0.9
    if precision == "int8":  # the rounded weights come back from the cache, the same
        again, _ = pack_checked(ours, precision, "cpu", name="tiny-melody", cache_dir=tmp_path)
        assert list(tmp_path.rglob("*.pt"))
        assert torch.equal(again.layers[1].qkv.weight, packed.layers[1].qkv.weight)


def _adapter_item(rng, frames: int, chroma: bool = True) -> dict:
    item = {
        "codes": rng.integers(0, 2048, (4, frames)),
        "prompt": "",
        "condition": rng.standard_normal((frames, 112)).astype(np.float32),
    }
    return item | ({"chroma": torch.as_tensor(rng.integers(0, 12, 7))} if chroma else {})


def test_the_visual_adapter_trains_and_generates_on_a_melody_checkpoint(tmp_path: Path, cache_dir: Path) -> None:
    """The adapter seam on tiny-melody: trained with each window's own chroma in the prefix; at
    zero gates exactly the base model following the same melody; trained, reloaded onto a fresh
    base, it changes the music; the training loss hears the chroma."""
    from generator_service.model.adapter import AdapterConfig
    from generator_service.model.adapter_files import create_adapter, load_adapter
    from generator_service.model.loading import load_music_model
    from generator_service.pipeline.generate import guidance_blocks
    from generator_service.training.train import AdapterTrainer, TrainConfig, collate, train

    frames, rng = 40, np.random.default_rng(0)
    items = [_adapter_item(rng, frames) for _ in range(4)]
    melody = lambda start, end: _one_hot_chroma(1, 7)  # noqa: E731
    cfg = GenerationConfig(prompt="x", seed=2, window_s=0.8, context_s=0.3)
    music = load_music_model("tiny-melody", cache_dir=cache_dir, device="cpu")  # adapters change the decoder
    base = generate_codes(music, frames, cfg, melody=melody)
    adapter = AdapterConfig(window_s=0.8, latent_dim=8, lora_rank=2)
    untrained = train(music, items, [], tmp_path / "zero", TrainConfig(steps=0, batch_size=1), adapter)
    condition = untrained.runner(music, items[0]["condition"], batch=1, blocks=guidance_blocks(cfg))
    assert torch.equal(generate_codes(music, frames, cfg, condition=condition, melody=melody), base)

    other = load_music_model("tiny-melody", cache_dir=cache_dir, device="cpu")
    config = TrainConfig(steps=3, batch_size=2, warmup_epochs=0)
    trained = train(other, items, [], tmp_path / "a", config, AdapterConfig(window_s=0.8, latent_dim=8))
    assert float(trained.module.gates.detach().abs().sum()) > 0
    fresh = load_music_model("tiny-melody", cache_dir=cache_dir, device="cpu")
    reloaded = load_adapter(tmp_path / "a", fresh)
    condition = reloaded.runner(fresh, items[0]["condition"], batch=1, blocks=guidance_blocks(cfg))
    adapted = generate_codes(fresh, frames, cfg, condition=condition, melody=melody)
    assert adapted.shape == (1, 4, frames) and not torch.equal(adapted, base)

    probe = load_music_model("tiny-melody", cache_dir=cache_dir, device="cpu")
    trainer = AdapterTrainer(probe, create_adapter(probe, AdapterConfig(window_s=0.8)), config, steps_per_epoch=2)
    with torch.no_grad():
        heard = float(trainer.loss(collate(items[:2])))
        other_chroma = float(trainer.loss(collate([i | {"chroma": (i["chroma"] + 5) % 12} for i in items[:2]])))
        null = float(trainer.loss(collate([{k: v for k, v in i.items() if k != "chroma"} for i in items[:2]])))
    assert heard != other_chroma and heard != null  # the prefix carries each window's chroma


def test_continuation_after_the_prefix_matches_transformers_audio_prompt(tiny_melody, monkeypatch) -> None:
    """A window with context (the multi-token prefill after the prefix, what each later window of a
    long clip runs) = transformers' melody generate() prompted with the same codes (200 steps, CFG)."""
    mm, blocks = tiny_melody, ("cond", "no_text")
    context = torch.randint(0, 2048, (1, 4, 20), generator=torch.Generator().manual_seed(3))
    chroma = _one_hot_chroma(1, 30, seed=2)
    cfg = GenerationConfig(prompt="drums", top_k=1, guidance_scale=3.0)
    with torch.inference_mode():
        texts = melody_texts(mm, encode_texts(mm, [cfg.prompt], 1, blocks), blocks, 1, chroma)
        session = mm.packed().session(2, 20 + 197 + 4, *texts[cfg.prompt])
        window = Window(0, 20, 197)
        ours = sample_window(
            mm, session.step, context, window, cfg, [torch.Generator()], on_step=lambda: None, cancel=CancelToken()
        )
    tok = mm.tokenizer([cfg.prompt], return_tensors="pt")
    ref = _hf_codes(
        mm,
        monkeypatch,
        **tok,
        input_features=chroma,
        decoder_input_ids=context.reshape(4, 20),
        guidance_scale=3.0,
        max_new_tokens=197 + 3,
    )
    assert ref.shape == ours.shape == (1, 4, 217)
    assert torch.equal(ours, ref)


def test_a_long_clip_on_a_melody_checkpoint_runs_in_windows(tiny_melody) -> None:
    """Text alone, three windows with continuation: the prefix stays in the cache across windows."""
    cfg = GenerationConfig(prompt="drums", window_s=2.0, context_s=1.0, guidance_scale=3.0, variants=1)
    codes = generate_codes(tiny_melody, 200, cfg)
    assert codes.shape == (1, 4, 200) and int(codes.min()) >= 0 and int(codes.max()) < 2048
