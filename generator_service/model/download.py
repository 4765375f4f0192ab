"""Fetching a hub model's files before it is loaded, with huggingface_hub's own download and its
progress forwarded as `("download", bytes done, bytes total)`.

`fetch_model(model_id, progress=..., cancel=...)` lists the files `from_pretrained` reads for a
MusicGen (configs, tokenizer files, the weights — safetensors when the repo has them, else the
`.bin` files) with a dry run, which also says which are in the cache already and how large the
others are; then `snapshot_download` fetches the others with a progress class (huggingface_hub's
`tqdm_class` seam) that forwards the bytes and checks `cancel` on every update.
What survives an interruption is what huggingface_hub keeps: a connection cut mid-file is resumed
within the download (it retries with a range request); files already complete stay in the cache,
and Xet-stored files leave their fetched chunks in the Xet chunk cache — so the next fetch
continues from there. A download that stops raises `DownloadError` saying how far it got.
After a fetch the model loads from the cache (model/loading.py finds it and does not contact the hub).
Heavy imports (huggingface_hub) happen inside the functions. Thread rule: `progress` is called from
huggingface_hub's download threads (several at once); it must be thread-safe (the job board is).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Cancelled, ExpotionError
from ..progress import CancelToken, ProgressCallback, no_progress

logger = logging.getLogger(__name__)

PHASE = "download"
#: Files `from_pretrained` reads for a MusicGen (the weights are chosen in `_wanted`).
NEEDED = ("*.json", "*.model", "*.txt", "*.safetensors", "*.bin")


class DownloadError(ExpotionError, ConnectionError):
    """The hub could not be reached, or a download stopped before it finished."""

    hint = (
        "Check the internet connection, then run `expotion download MODEL` or submit the job again: the "
        "files already fetched are kept and the download continues from there."
    )


@dataclass(frozen=True)
class Fetched:
    """A finished fetch: the snapshot folder, the bytes of the model's files, and how many of those
    were in the cache before (from an earlier, possibly interrupted, fetch)."""

    path: Path
    total_bytes: int
    cached_bytes: int


def describe_bytes(count: int) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What huggingface_hub's HTTP stack raises for a broken connection (besides OSError)."""
    errors: list[type[BaseException]] = [OSError]
    for name in ("httpx2", "httpx"):  # huggingface_hub 2.x uses httpx2, 1.x httpx
        try:
            module = __import__(name)
        except ImportError:
            continue
        errors.append(module.HTTPError)
    return tuple(errors)


def _wanted(names: list[str]) -> list[str]:
    """The repo files a MusicGen load reads: safetensors weights when present, else `.bin`."""
    chosen = [n for n in names if any(fnmatch.fnmatch(n, p) for p in NEEDED) and "/" not in n]
    if any(n.endswith(".safetensors") for n in chosen):
        chosen = [n for n in chosen if not n.endswith(".bin")]
    return chosen


class _Bytes:
    """The bytes of one fetch, forwarded to `progress`; the thread-safe state behind the progress
    class handed to huggingface_hub."""

    def __init__(self, total: int, progress: ProgressCallback, cancel: CancelToken | None) -> None:
        self.total = total
        self.done = 0
        self.progress = progress
        self.cancel = cancel
        self._lock = threading.Lock()

    def observe(self, counted: int) -> None:
        """A byte bar counted `counted` bytes so far: the fetch has done at least that much."""
        if self.cancel is not None:
            self.cancel.check()  # raised inside the download: the partial file stays for a resume
        with self._lock:
            self.done = min(self.total, max(self.done, counted))
            done = self.done
        self.progress(PHASE, done, self.total)

    def bar_class(self) -> type:
        """A tqdm class for huggingface_hub's `tqdm_class` seam. A snapshot opens byte bars (unit
        "B": bytes received, bytes written — the latter also counts what a resumed file already had)
        and a file-count bar; the fetch has done as many bytes as its busiest byte bar counted."""
        from tqdm.auto import tqdm

        state = self

        class ForwardingBar(tqdm):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self._counts_bytes = kwargs.get("unit") == "B"
                self._bytes = int(kwargs.get("initial") or 0)
                kwargs["disable"] = True  # nothing drawn: the callback decides how progress is shown
                super().__init__(*args, **kwargs)

            def update(self, n: float | None = 1) -> bool | None:
                if self._counts_bytes and n:
                    self._bytes += int(n)
                    state.observe(self._bytes)
                return super().update(n)

        return ForwardingBar


def fetch_model(
    model_id: str,
    *,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    cache_dir: Path | None = None,
    endpoint: str | None = None,
) -> Fetched:
    """Download what is missing of `model_id` into the hub cache (see the module docstring).
    `endpoint`: the hub's URL (default: huggingface_hub's, i.e. $HF_ENDPOINT or the public hub)."""
    from huggingface_hub import snapshot_download

    errors = _transport_errors()
    try:
        listed = snapshot_download(
            model_id, cache_dir=cache_dir, endpoint=endpoint, allow_patterns=list(NEEDED), dry_run=True
        )
        files = _wanted([info.filename for info in listed])
        sizes = {info.filename: info.file_size or 0 for info in listed if info.filename in files}
        missing = sum(sizes[info.filename] for info in listed if info.filename in files and info.will_download)
    except errors as exc:
        raise DownloadError(f"cannot list the files of {model_id} on the Hugging Face hub: {exc}") from exc
    total = sum(sizes.values())
    counter = _Bytes(missing, progress, cancel)
    counter.progress(PHASE, 0, missing)
    if missing < total:
        logger.info(
            "continuing the download of %s: %s of %s already here",
            model_id,
            describe_bytes(total - missing),
            describe_bytes(total),
        )
    try:
        folder = snapshot_download(
            model_id, cache_dir=cache_dir, endpoint=endpoint, allow_patterns=files, tqdm_class=counter.bar_class()
        )
    except Cancelled:
        raise
    except errors as exc:
        got = describe_bytes(counter.done)
        raise DownloadError(f"the download of {model_id} stopped at {got} of {describe_bytes(missing)}: {exc}") from exc
    counter.progress(PHASE, missing, missing)
    return Fetched(Path(folder), total, total - missing)


def needs_fetch(model_id: str, allow_network: bool) -> bool:
    """Whether `model_id` is a hub id whose weights are not in the cache and may be fetched."""
    from .loading import TINY_MODELS, hub_weights_cached, network_allowed

    if model_id in TINY_MODELS or Path(model_id).expanduser().is_dir() or not network_allowed(allow_network):
        return False
    try:
        return not hub_weights_cached(model_id)
    except ValueError:  # not a valid hub id: loading says so
        return False


def hub_fetcher(model_id: str, allow_network: bool) -> Any:
    """The model holder's `fetcher` for a service: `(progress, cancel) -> None`, fetching the
    model's files when they are missing and may be downloaded (nothing otherwise)."""

    def fetch(progress: ProgressCallback, cancel: CancelToken | None) -> None:
        if needs_fetch(model_id, allow_network):
            fetch_model(model_id, progress=progress, cancel=cancel)

    return fetch
