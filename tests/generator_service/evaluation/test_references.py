"""Reference models for FAD and the CLAP score: the tiny MusicGen's EnCodec and a tiny random CLAP
built offline here, loaded back through the local-files-only path; missing models fail with a hint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator_service.evaluation import references as r
from generator_service.evaluation.metrics import frechet_distance

SR = 32_000
_CORPUS = ["calm ambient piano", "upbeat drums and bass", "dark cinematic strings", "happy pop song"]


def _tone(hz: float, seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(seed).standard_normal(t.size) * 0.01
    return (0.3 * np.sin(2 * np.pi * hz * t) + noise).astype(np.float32)


def _noise(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 0.3).astype(np.float32)


def build_tiny_clap(out_dir: Path, max_length_s: int = 1) -> Path:
    """A random ClapModel + ClapProcessor (tiny byte-level BPE tokenizer) saved to `out_dir`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok.train_from_iterator(
        _CORPUS,
        trainer=trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=specials,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = RobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        mask_token="<mask>",
        sep_token="</s>",
        cls_token="<s>",
        model_max_length=64,
    )
    config = ClapConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=70,
            projection_dim=16,
        ),
        audio_config=dict(
            depths=[1, 1],
            num_attention_heads=[1, 2],
            hidden_size=32,
            patch_embeds_hidden_size=16,
            window_size=4,
            spec_size=128,
            num_mel_bins=64,
            projection_dim=16,
        ),
        projection_dim=16,
    )
    import torch

    torch.manual_seed(0)
    extractor = ClapFeatureExtractor(max_length_s=max_length_s, truncation="rand_trunc")
    ClapModel(config).save_pretrained(out_dir)
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def tiny_clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clap(tmp_path_factory.mktemp("clap") / "tiny-clap")


# ---------------------------------------------------------------------------------------------
# EnCodec


def test_encodec_embedder_gives_finite_deterministic_frames(tiny) -> None:
    embed = r.encodec_embedder(tiny)
    a = embed(_tone(440.0), SR)
    assert a.ndim == 2 and a.shape[1] == tiny.model.audio_encoder.config.hidden_size
    assert abs(a.shape[0] - 2 * tiny.frame_rate) <= 1  # 2 s at the codec frame rate
    assert np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, embed(_tone(440.0), SR))
    assert "EnCodec" in embed.description and "meaningless" in embed.description  # tiny is untrained


def test_encodec_fad_is_zero_for_identical_sets_and_positive_for_different(tiny) -> None:
    embed = r.encodec_embedder(tiny)
    tones = np.concatenate([embed(_tone(hz, seed=k), SR) for k, hz in enumerate((220.0, 330.0))])
    again = np.concatenate([embed(_tone(hz, seed=k), SR) for k, hz in enumerate((220.0, 330.0))])
    noise = np.concatenate([embed(_noise(seed=k), SR) for k in range(2)])
    assert frechet_distance(tones, again) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(tones, noise) > 1e-3


def test_encodec_embedder_resamples_other_rates(tiny) -> None:
    out = r.encodec_embedder(tiny)(_tone(440.0, seconds=1.0)[::2], SR // 2)  # 1 s at 16 kHz
    assert abs(out.shape[0] - tiny.frame_rate) <= 1


# ---------------------------------------------------------------------------------------------
# CLAP


def test_clap_loaded_from_a_local_dir_embeds_windows_and_scores_text(tiny_clap_dir: Path) -> None:
    embedder, text_scorer = r.clap_models(str(tiny_clap_dir))
    emb = embedder(_tone(440.0, seconds=2.6), SR)  # 1 s windows: 2 full + 0.6 s kept
    assert emb.shape == (3, 16) and np.all(np.isfinite(emb))
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(emb, embedder(_tone(440.0, seconds=2.6), SR))
    score = text_scorer(_tone(440.0), SR, "calm ambient piano")
    assert isinstance(score, float) and -1.0 <= score <= 1.0
    assert np.isnan(text_scorer(_tone(440.0), SR, "  "))  # no prompt: undefined, not a number


def test_clap_short_clip_gives_one_window(tiny_clap_dir: Path) -> None:
    clap = r.load_clap(str(tiny_clap_dir))
    assert clap.sample_rate == 48_000
    assert clap.embed(_tone(440.0, seconds=0.3), SR).shape == (1, 16)
    assert "local" in clap.description


def test_clap_missing_directory_raises_with_hint(tmp_path: Path) -> None:
    with pytest.raises(r.ReferenceModelError, match="no such directory") as info:
        r.clap_models(str(tmp_path / "no-clap-here"))
    assert "never downloads" in info.value.hint
    assert isinstance(info.value, FileNotFoundError)


def test_clap_directory_without_a_model_raises(tmp_path: Path) -> None:
    with pytest.raises(r.ReferenceModelError, match="cannot load CLAP"):
        r.clap_models(str(tmp_path))


def test_clap_hub_id_not_in_cache_raises_without_downloading(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    with pytest.raises(r.ReferenceModelError, match="local Hugging Face cache"):
        r.clap_models("expotion-tests/no-such-clap-model")
