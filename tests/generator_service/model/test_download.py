"""Fetching a hub model ahead of loading (model/download.py) with huggingface_hub's own download,
against a local stand-in for the hub (nothing is downloaded from the internet): bytes progress, a
cut connection resumed, a download that stops says how far it got and the next one continues, a
cancel stops it, and the CLI's `download` command."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator_service.errors import Cancelled
from generator_service.model.download import DownloadError, fetch_model, needs_fetch
from generator_service.progress import CancelToken

from .fake_hub import FakeHub, serve_hub

REPO = "acme/music"
ROOT = Path(__file__).resolve().parents[3]
WEIGHTS = 25_000_000  # more than huggingface_hub's 10 MiB download chunk: a cut leaves whole chunks written


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake hub serving a repo with configs, a tokenizer file, safetensors and (unwanted) .bin
    weights; huggingface_hub pointed at it with a private cache, offline mode off."""
    files = {
        "config.json": b'{"model_type": "musicgen"}',
        "spiece.model": b"tokenizer",
        "model.safetensors": os.urandom(WEIGHTS),
        "pytorch_model.bin": b"old weights",
        "README.md": b"# card",
    }
    fake = serve_hub(REPO, files, tmp_path / "hub-cache", monkeypatch)
    yield fake
    fake.stop()


def test_fetch_forwards_bytes_and_a_cut_connection_resumes_with_a_range(hub: FakeHub) -> None:
    hub.cut_after = 12_000_000  # once: the retry asks for the rest
    cut = hub._file

    def once(request, name, body):  # type: ignore[no-untyped-def]
        cut(request, name, body)
        if body and name == "model.safetensors":
            hub.cut_after = None

    hub._file = once  # type: ignore[method-assign]
    seen: list[tuple[str, int, int]] = []
    assert needs_fetch(REPO, allow_network=True)
    fetched = fetch_model(REPO, progress=lambda *a: seen.append(a), endpoint=hub.url)
    wanted = WEIGHTS + len(b'{"model_type": "musicgen"}') + len(b"tokenizer")
    assert {phase for phase, _, _ in seen} == {"download"} and {t for _, _, t in seen} == {wanted}
    done = [d for _, d, _ in seen]
    assert done == sorted(done) and done[0] == 0 and done[-1] == wanted
    assert sorted(p.name for p in fetched.path.iterdir()) == ["config.json", "model.safetensors", "spiece.model"]
    weights = (fetched.path / "model.safetensors").read_bytes()
    assert hashlib.sha256(weights).digest() == hashlib.sha256(hub.files["model.safetensors"]).digest()
    resumed = [start for name, start in hub.starts if name == "model.safetensors"]
    assert resumed[0] == 0 and 0 < resumed[1] <= 12_000_000  # the second request asked for a range
    assert fetched.cached_bytes == 0 and not needs_fetch(REPO, allow_network=True)
    assert not needs_fetch(REPO, allow_network=False) and not needs_fetch("tiny", allow_network=True)


def test_a_stopped_download_says_how_far_it_got_and_the_next_one_continues(hub: FakeHub) -> None:
    hub.cut_after = 12_000_000
    original = hub._file

    def cut_then_down(request, name, body):  # type: ignore[no-untyped-def]
        original(request, name, body)
        if body and name == "model.safetensors":
            hub.broken = {name}  # the retry finds the hub down

    hub._file = cut_then_down  # type: ignore[method-assign]
    with pytest.raises(DownloadError) as failed:
        fetch_model(REPO, endpoint=hub.url)
    assert "stopped at" in failed.value.message and "of 25.0 MB" in failed.value.message
    assert "continues" in failed.value.hint
    hub._file, hub.broken, hub.cut_after = original, set(), None  # type: ignore[method-assign]
    before = list(hub.starts)
    fetched = fetch_model(REPO, endpoint=hub.url)
    again = [name for name, _ in hub.starts[len(before) :]]
    assert again == ["model.safetensors"]  # what was complete stayed in the cache
    assert fetched.cached_bytes == fetched.total_bytes - WEIGHTS


def test_a_cancel_stops_the_download_and_a_later_fetch_completes(hub: FakeHub) -> None:
    token = CancelToken()

    def progress(phase: str, done: int, total: int) -> None:
        if done >= 10_000_000:
            token.cancel("stop it")

    with pytest.raises(Cancelled, match="stop it"):
        fetch_model(REPO, progress=progress, cancel=token, endpoint=hub.url)
    assert fetch_model(REPO, endpoint=hub.url).path.joinpath("model.safetensors").stat().st_size == WEIGHTS


def test_an_unreachable_hub_is_a_download_error(hub: FakeHub) -> None:
    hub.stop()
    with pytest.raises(DownloadError, match="cannot list the files of acme/music"):
        fetch_model(REPO, endpoint=hub.url)


def _cli(hub: FakeHub, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ, HF_ENDPOINT=hub.url, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1"
    )
    return subprocess.run(
        [sys.executable, "-m", "generator_service", "download", REPO, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_the_download_command_shows_a_bar_and_says_when_it_stopped(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "cli-cache"
    hub.broken = {"model.safetensors"}
    stopped = _cli(hub, cache)
    assert stopped.returncode == 2, stopped.stderr
    assert "error: the download of acme/music stopped at" in stopped.stderr and "hint:" in stopped.stderr
    hub.broken = set()
    done = _cli(hub, cache)
    assert done.returncode == 0, done.stderr
    assert "download" in done.stderr and "23.8M" in done.stderr  # tqdm's byte bar (KiB units, 1024-based)
    assert Path(done.stdout.strip(), "model.safetensors").stat().st_size == WEIGHTS
    assert "already here" in done.stderr  # the small files fetched by the first run were kept
