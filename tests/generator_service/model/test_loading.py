"""The tiny model is deterministic, cached, loaded by the users' code path, and labelled untrained."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from generator_service.errors import ConfigError, ModelLoadError
from generator_service.model.loading import hub_weights_cached, load_music_model
from generator_service.model.tiny import MARKER_FILE, build_tiny_model, ensure_tiny_model


def _digest(path: Path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_tiny_is_deterministic_and_cached(tmp_path: Path, cache_dir: Path) -> None:
    first = ensure_tiny_model(cache_dir)
    mtime = (first / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(cache_dir) == first  # cached: not rebuilt
    assert (first / "model.safetensors").stat().st_mtime_ns == mtime
    build_tiny_model(tmp_path / "again")
    assert _digest(tmp_path / "again") == _digest(first)


def test_saved_tiny_dir_loads_through_from_pretrained_and_stays_labelled(tmp_path: Path, tiny, cache_dir: Path) -> None:
    saved = tmp_path / "my-model"
    tiny.model.save_pretrained(saved)
    tiny.tokenizer.save_pretrained(saved)
    shutil.copy(ensure_tiny_model(cache_dir) / MARKER_FILE, saved)
    loaded = load_music_model(str(saved), device="cpu")
    assert loaded.untrained and loaded.model_id == str(saved)
    assert (loaded.sample_rate, loaded.frame_rate, loaded.num_codebooks, loaded.hop_length) == (32000, 50, 4, 640)
    for name, tensor in tiny.model.state_dict().items():
        assert (loaded.model.state_dict()[name] == tensor).all(), name


def test_a_local_model_dir_without_the_marker_is_not_called_untrained(tmp_path: Path, tiny) -> None:
    saved = tmp_path / "other"
    tiny.model.save_pretrained(saved)
    tiny.tokenizer.save_pretrained(saved)
    assert load_music_model(str(saved), device="cpu").untrained is False


def test_missing_hub_model_offline_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not hub_weights_cached("expotion-test/not-a-model")
    with pytest.raises(ModelLoadError) as err:
        load_music_model("expotion-test/not-a-model", device="cpu")
    assert "expotion-test/not-a-model" in str(err.value) and "tiny" in err.value.hint


def test_a_missing_folder_is_a_config_error_not_a_hub_traceback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        hub_weights_cached(str(tmp_path / "no" / "such" / "dir"))  # what `demo --model` asks first
    assert "neither a folder nor a Hugging Face model id" in err.value.message and "tiny" in err.value.hint


def test_bad_local_dir_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="broken"):
        load_music_model(str(tmp_path / "broken"), device="cpu")
