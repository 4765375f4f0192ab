"""The model holder: the one warm `Scorer` of the service, loaded lazily, unloaded when idle.

The holder loads the music model on the first job (through `loader`, default
`load_music_model(model_id, device=...)`), keeps it warm between jobs and drops it after
`idle_unload_s` seconds without a job (-1: never). Before a load, an optional `fetcher` downloads
what is missing of a hub model (model/download.py), reporting `("download", bytes done, total)` to
the job that waits for it and honouring its cancel token. Tests inject an already-loaded model by
passing `loader=lambda: music`. An out-of-memory error unloads the model (freeing GPU memory) so the next
job starts clean.
Thread rule: `scorer()`, `unload()` and `maybe_unload()` run on the worker thread only; the read-only
properties may be read from any thread.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import FeatureConfig
from ..progress import CancelToken, ProgressCallback, no_progress

if TYPE_CHECKING:
    from ..model.adapter_files import LoadedAdapter
    from ..model.loading import MusicModel
    from ..pipeline.feature_reader import FeatureStore
    from ..pipeline.score import Scorer

logger = logging.getLogger(__name__)

Loader = Callable[[], "MusicModel"]
#: (name, folder, model) -> the adapter attached to the model
AdapterLoader = Callable[[str, str, "MusicModel"], "LoadedAdapter"]
Fetcher = Callable[[ProgressCallback, CancelToken | None], None]  # downloads what a load will need


def default_loader(model_id: str, device: str | None, allow_network: bool, precision: str = "auto") -> Loader:
    """A loader calling `load_music_model` with the service's settings."""

    def load() -> MusicModel:
        from ..model.loading import load_music_model

        return load_music_model(model_id, device=device, allow_network=allow_network, precision=precision)

    return load


def load_adapter_files(name: str, path: str, music: MusicModel) -> LoadedAdapter:
    """Default adapter loader: the adapter folder saved by `train` (model/adapter_files.py)."""
    from pathlib import Path

    from ..model.adapter_files import load_adapter

    return load_adapter(Path(path), music)


class ModelHolder:
    """Lazily loaded, idle-unloaded `Scorer` (one model, one adapter at a time)."""

    def __init__(
        self,
        loader: Loader,
        *,
        model_id: str,
        device: str | None = None,
        idle_unload_s: float = 600.0,
        features: FeatureConfig | None = None,
        feature_cache: FeatureStore | None = None,
        adapter_loader: AdapterLoader = load_adapter_files,
        fetcher: Fetcher | None = None,
        clock: Callable[[], float] = time.monotonic,
        precision: str = "auto",
    ) -> None:
        self._loader = loader
        self._precision = precision
        self._fetcher = fetcher
        self._adapter_loader = adapter_loader
        self.model_id = model_id
        self._device = device
        self.idle_unload_s = idle_unload_s
        self.features = features or FeatureConfig()
        self.feature_cache = feature_cache
        self._clock = clock
        self._music: MusicModel | None = None
        self._scorer: Scorer | None = None
        self._adapter: tuple[str, LoadedAdapter] | None = None
        self._last_used = clock()
        self.loads = 0
        self._resolved_precision: str | None = None

    @property
    def loaded(self) -> bool:
        return self._music is not None

    @property
    def untrained(self) -> bool:
        music = self._music
        return music.untrained if music is not None else self.model_id == "tiny"

    @property
    def device(self) -> str:
        """The loaded model's device, else the configured one, else what would be picked."""
        music = self._music
        if music is not None:
            return str(music.device)
        if self._device is None:
            from ..model.loading import pick_device

            self._device = pick_device(None)
        return self._device

    @property
    def precision(self) -> str:
        """The loaded model's precision, else what the configured one resolves to on `device`."""
        music = self._music
        if music is not None:
            return str(music.precision)
        device = self.device
        if device != "cpu" and not device.startswith("cuda"):  # models live elsewhere (Ray replicas)
            return self._precision
        if self._resolved_precision is None:  # torch answers it (its import: ~1 s, once)
            from ..model.precision.choice import resolve_precision

            self._resolved_precision = resolve_precision(self._precision, device)
        return self._resolved_precision

    @property
    def takes_melody(self) -> bool | None:
        """Whether the model takes a melody: the loaded model's answer, else what its name or config
        says (None: not known until it loads)."""
        music = self._music
        if music is not None:
            return music.melody
        from ..model.loading import takes_melody

        return takes_melody(self.model_id)

    def needs_load(self, adapter: tuple[str, str] | None = None) -> bool:
        """Whether `scorer(adapter)` loads weights first (the model, or another adapter)."""
        current = None if self._adapter is None else self._adapter[0]
        return self._music is None or (None if adapter is None else adapter[0]) != current

    def scorer(
        self,
        adapter: tuple[str, str] | None = None,
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> Scorer:
        """The warm `Scorer` (loading the model, and the named adapter `(name, path)`, if needed;
        a download before the load reports to `progress` and stops on `cancel`).

        An attached adapter changes the model in place, so switching adapters starts from a freshly
        loaded base model; a failed adapter load unloads the model for the same reason.
        """
        from ..pipeline.score import Scorer

        wanted = None if adapter is None else adapter[0]
        current = None if self._adapter is None else self._adapter[0]
        if self._scorer is not None and wanted != current and current is not None:
            self.unload()
        if self._music is None:
            if self._fetcher is not None:
                self._fetcher(progress, cancel)
            started = time.perf_counter()
            self._music = self._loader()
            self._scorer = None
            self.loads += 1
            logger.info("loaded music model %s in %.1f s", self.model_id, time.perf_counter() - started)
        if self._scorer is None or wanted != current:
            if self._scorer is not None:
                self._scorer.close()
            self._scorer = Scorer(
                self._music, self.features, adapter=self._attach(adapter), feature_cache=self.feature_cache
            )
        self._last_used = self._clock()
        return self._scorer

    def _attach(self, adapter: tuple[str, str] | None) -> LoadedAdapter | None:
        if adapter is None:
            self._adapter = None
            return None
        assert self._music is not None  # loaded just before
        attached = False
        try:
            loaded = self._adapter_loader(adapter[0], adapter[1], self._music)
            attached = True
        finally:
            if not attached:  # never keep a half-attached model
                self.unload()
        self._adapter = (adapter[0], loaded)
        return loaded

    def touch(self) -> None:
        self._last_used = self._clock()

    def maybe_unload(self) -> bool:
        """Unload when idle longer than `idle_unload_s` (never when it is negative) -> unloaded?"""
        if self._music is None or self.idle_unload_s < 0:
            return False
        if self._clock() - self._last_used < self.idle_unload_s:
            return False
        logger.info("unloading music model %s after %.0f s idle", self.model_id, self.idle_unload_s)
        self.unload()
        return True

    def unload(self) -> None:
        """Drop the model and adapter and give their memory back."""
        cuda = self._music is not None and str(self._music.device).startswith("cuda")
        if self._scorer is not None:
            self._scorer.close()  # its feature extractor's landmarkers, on this (the worker's) thread
        self._music = self._scorer = self._adapter = None
        gc.collect()
        if cuda:
            import torch

            torch.cuda.empty_cache()
