"""Stereo checkpoints' layout end to end on the built-in `tiny-stereo` (8 codebooks, left/right
interleaved, each channel decoded by the mono EnCodec): codes and audio = transformers', two-channel
takes from the scorer, the CLI and the service's WAV writer, the adapter trained and applied."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from generator_service.config import GenerationConfig
from generator_service.model.adapter import AdapterConfig
from generator_service.model.adapter_files import load_adapter
from generator_service.model.loading import load_music_model
from generator_service.pipeline.generate import decode_codes, generate_codes, guidance_blocks
from generator_service.training.train import TrainConfig, train

FRAMES = 40


@pytest.fixture(scope="module")
def stereo(cache_dir: Path):
    return load_music_model("tiny-stereo", cache_dir=cache_dir, device="cpu")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from generator_service.demo_clip import make_performer_clip

    return make_performer_clip(tmp_path_factory.mktemp("stereo") / "clip.mp4", duration=1.0, fps=25, size=(160, 90))


def test_tiny_stereo_has_the_stereo_layout(stereo) -> None:
    assert (stereo.num_codebooks, stereo.audio_channels, stereo.untrained) == (8, 2, True)
    assert stereo.decoder.spec.delays() == [0, 0, 1, 1, 2, 2, 3, 3]  # left/right of codebook c share delay c


def test_greedy_codes_and_audio_match_transformers(stereo, monkeypatch) -> None:
    cfg = GenerationConfig(prompt="warm pads", top_k=1, guidance_scale=3.0)
    ours = generate_codes(stereo, FRAMES, cfg)
    seen = []
    original = stereo.model.audio_encoder.decode

    def spy(codes, *args, **kwargs):
        seen.append(codes.clone())
        return original(codes, *args, **kwargs)

    monkeypatch.setattr(stereo.model.audio_encoder, "decode", spy)
    with torch.no_grad():
        audio = stereo.model.generate(
            **stereo.tokenizer([cfg.prompt], return_tensors="pt"),
            do_sample=False,
            guidance_scale=3.0,
            max_new_tokens=FRAMES + 3,
        )
    monkeypatch.undo()
    left, right = seen  # transformers decodes the even (left) then the odd (right) codebooks
    assert ours.shape == (1, 8, FRAMES)
    assert torch.equal(ours[:, 0::2], left[0]) and torch.equal(ours[:, 1::2], right[0])
    ours_audio = decode_codes(stereo, ours, chunk_frames=1000, overlap_frames=5)
    assert ours_audio.shape == audio.shape == (1, 2, FRAMES * 640)
    np.testing.assert_allclose(ours_audio, audio.numpy(), atol=1e-5)
    assert not np.allclose(ours_audio[0, 0], ours_audio[0, 1])  # two channels, not one copied


def test_scoring_writes_two_channel_takes_of_the_exact_length(tmp_path: Path, stereo, clip: Path) -> None:
    from generator_service.audio import write_wav
    from generator_service.pipeline.score import Scorer, ScoreRequest

    result = Scorer(stereo)(ScoreRequest(clip, end=0.9, generation=GenerationConfig(prompt="x", variants=2)))
    assert result.channels == 2 and result.metadata()["channels"] == 2
    assert [t.shape for t in result.takes] == [(2, 28800)] * 2
    info = sf.info(str(write_wav(tmp_path / "take.wav", result.takes[0], result.sample_rate)))
    assert (info.channels, info.frames, info.samplerate) == (2, 28800, 32000)


def test_cli_score_with_tiny_stereo(tmp_path: Path, clip: Path, cache_dir: Path) -> None:
    from generator_service.cli import main

    out = tmp_path / "music.wav"
    assert (
        main(
            [
                "score",
                str(clip),
                "-o",
                str(out),
                "--model",
                "tiny-stereo",
                "--quiet",
                "--end",
                "0.5",
                "--precision",
                "int8",
            ]
        )
        == 0
    )
    assert sf.info(str(out)).channels == 2
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["channels"] == 2 and meta["precision"] == "int8" and meta["untrained"] is True


def _item(rng: np.random.Generator) -> dict:
    return {
        "codes": rng.integers(0, 2048, (8, FRAMES)),
        "prompt": "",
        "condition": rng.standard_normal((FRAMES, 112)).astype(np.float32),
    }


def test_adapter_trains_and_generates_on_stereo(tmp_path: Path, cache_dir: Path) -> None:
    music = load_music_model("tiny-stereo", cache_dir=cache_dir, device="cpu")  # adapters change the decoder
    rng = np.random.default_rng(0)
    items = [_item(rng) for _ in range(4)]
    cfg = GenerationConfig(prompt="x", seed=2, window_s=0.8, context_s=0.3)
    base = generate_codes(music, FRAMES, cfg)
    untrained = train(
        music,
        items,
        [],
        tmp_path / "zero",
        TrainConfig(steps=0, batch_size=1),
        AdapterConfig(window_s=0.8, latent_dim=8, lora_rank=2),
    )
    condition = untrained.runner(music, items[0]["condition"], batch=1, blocks=guidance_blocks(cfg))
    assert torch.equal(generate_codes(music, FRAMES, cfg, condition=condition), base)  # zero gates: the base model

    other = load_music_model("tiny-stereo", cache_dir=cache_dir, device="cpu")
    trained = train(
        other,
        items,
        [],
        tmp_path / "a",
        TrainConfig(steps=3, batch_size=2, warmup_epochs=0),
        AdapterConfig(window_s=0.8, latent_dim=8),
    )
    assert float(trained.module.gates.detach().abs().sum()) > 0
    fresh = load_music_model("tiny-stereo", cache_dir=cache_dir, device="cpu")
    reloaded = load_adapter(tmp_path / "a", fresh)
    condition = reloaded.runner(fresh, items[0]["condition"], batch=1, blocks=guidance_blocks(cfg))
    adapted = generate_codes(fresh, FRAMES, cfg, condition=condition)
    assert adapted.shape == (1, 8, FRAMES) and not torch.equal(adapted, base)


def test_training_data_keeps_left_and_right(tmp_path: Path, stereo) -> None:
    """prepare-dataset's audio path for a stereo model: a stereo file decodes to [2, S], and its
    codes interleave the left channel's and the right channel's own codes."""
    from generator_service.audio import write_wav
    from generator_service.training.audio_io import decode_audio
    from generator_service.training.codes import codec_bandwidth, encode_audio

    rng = np.random.default_rng(0)
    wave = (0.3 * rng.standard_normal((2, 32000))).astype(np.float32)
    path = write_wav(tmp_path / "music.wav", wave, 32000)
    decoded = decode_audio(path, 32000, channels=2)
    assert decoded.samples.shape == (2, 32000) and decoded.duration == 1.0
    assert decode_audio(path, 32000).samples.shape == (32000,)  # mono models: the mean of the channels
    codes = encode_audio(stereo, decoded.samples[None], 50, codec_bandwidth(stereo))
    assert codes.shape == (1, 8, 50)
    for channel in (0, 1):  # the same (mono) EnCodec encodes each channel
        alone = encode_audio(stereo, decoded.samples[None, channel], 50, codec_bandwidth(stereo))
        assert np.array_equal(codes[:, channel::2], alone)
    assert not np.array_equal(codes[:, 0::2], codes[:, 1::2])
