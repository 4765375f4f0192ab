"""The generator deployment: a replica runs one job at a time on its warm models and streams the
job's events (scale/events.py) back to the ingress.

Models: `serve.multiplexed` keeps up to `adapters_per_replica` `ModelHolder`s, each the base model
with one adapter attached (or none), least recently used first out; Serve routes a job to a
replica that already holds its model id. Adapters are read from `adapters_dir` on the replica's
own machine (the same path on every node).
Video: the ingress sends the bytes through Ray; they are written to this replica's scratch folder
for the run and removed after it. Its feature cache lives there too, trimmed to `replica_cache_mb`.
Cancel: the ingress cancels the Serve request; the `asyncio.CancelledError` it raises here sets the
run's `CancelToken`, which the pipeline checks at every generation step; the request ends only
after the run stopped, so the replica (and its GPU) is free when Serve sends the next job.
Thread rule: the event loop relays events; each run's model work happens on one executor thread,
and the holders are used only there (one run at a time: `max_ongoing_requests=1`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from ray import serve

from ..api.app import feature_config
from ..api.settings import ServiceSettings
from ..errors import ConfigError, ExpotionError
from ..jobs.holder import ModelHolder, default_loader
from ..jobs.job_progress import Throttle
from ..jobs.service import ADAPTER_MARKERS
from ..jobs.worker import is_out_of_memory
from ..pipeline.feature_cache import FeatureCache
from ..pipeline.score import ScoreRequest, ScoreResult
from ..progress import CancelToken
from .events import Event, Failed, Finished, Progress, ReplicaScoreResult, Started, adapter_of
from .settings import ScaleSettings

logger = logging.getLogger(__name__)


def trim_folder(folder: Path, max_bytes: int) -> None:
    """Delete the least recently modified files of `folder` until it holds at most `max_bytes`."""
    entries = []
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            entries.append((st.st_mtime, st.st_size, Path(entry.path)))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            return
        path.unlink(missing_ok=True)
        total -= size


class Generator:
    """A generator replica (deployed by scale/app.py with one job at a time)."""

    def __init__(self, settings: dict[str, Any], scale: dict[str, Any]) -> None:
        self.config = ServiceSettings(**settings)
        self.scale = ScaleSettings(**scale)
        context = serve.get_replica_context()
        self.name = f"{context.deployment}#{context.replica_tag}"
        self.scratch = Path(tempfile.mkdtemp(prefix=f"expotion-{context.replica_tag}-"))
        self.features = FeatureCache(self.scratch / "features")
        self.features.folder.mkdir()

        async def load(model_id: str) -> ModelHolder:  # a plain function: Serve keeps its LRU on it
            return await self._load(model_id)

        self._model = serve.multiplexed(max_num_models_per_replica=self.scale.adapters_per_replica)(load)
        logger.info("generator replica %s ready (scratch %s)", self.name, self.scratch)

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "scratch", ""), ignore_errors=True)

    def _adapter(self, name: str | None) -> tuple[str, str] | None:
        if name is None:
            return None
        root = self.config.adapters_dir
        folder = None if root is None else root / name
        if folder is None or not any((folder / marker).is_file() for marker in ADAPTER_MARKERS):
            raise ConfigError(
                f"adapter: {name!r} is not in the adapters dir {root} on the machine of replica {self.name}",
                "Copy the adapters dir to the same path on every Ray node.",
            )
        return name, str(folder)

    async def _load(self, model_id: str) -> ModelHolder:
        """A holder with the model (and adapter) of `model_id` loaded; called by `serve.multiplexed`."""
        cfg = self.config
        holder = ModelHolder(
            default_loader(cfg.model, cfg.device, cfg.allow_network),
            model_id=cfg.model,
            device=cfg.device,
            idle_unload_s=-1,
            features=feature_config(cfg),
            feature_cache=self.features,
        )
        await asyncio.to_thread(holder.scorer, self._adapter(adapter_of(model_id)))
        return holder

    async def run(self, request: ScoreRequest, video: bytes) -> AsyncIterator[Event]:
        """Run one job (its video as bytes) -> its events; see the module docstring."""
        yield Started(self.name)
        model_id = serve.get_multiplexed_model_id()
        try:
            holder = await self._model(model_id)
            adapter = self._adapter(adapter_of(model_id))
        except ExpotionError as exc:  # the model or adapter cannot be loaded here
            yield Failed(exc)
            return
        path = self.scratch / f"video-{os.urandom(8).hex()}{Path(request.video).suffix or '.bin'}"
        await asyncio.to_thread(path.write_bytes, video)
        try:
            async with aclosing(self._score(holder, adapter, replace(request, video=path))) as events:
                async for event in events:
                    yield event
        finally:
            path.unlink(missing_ok=True)
            await asyncio.to_thread(trim_folder, self.features.folder, int(self.scale.replica_cache_mb * 2**20))

    async def _score(
        self, holder: ModelHolder, adapter: tuple[str, str] | None, request: ScoreRequest
    ) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()
        throttle, token = Throttle(), CancelToken()

        def progress(phase: str, done: int, total: int) -> None:
            if throttle.due(phase, done, total):
                loop.call_soon_threadsafe(events.put_nowait, Progress(phase, done, total))

        run = loop.run_in_executor(None, self._work, holder, adapter, request, progress, token)
        try:
            while not run.done():
                next_event = asyncio.ensure_future(events.get())
                await asyncio.wait({next_event, run}, return_when=asyncio.FIRST_COMPLETED)
                if next_event.done():
                    yield next_event.result()
                else:
                    next_event.cancel()  # a cancelled get takes nothing from the queue
            while not events.empty():
                yield events.get_nowait()
            yield run.result()
        finally:
            if not run.done():  # the request was cancelled (or its stream closed): stop the run
                token.cancel()
                await asyncio.wait({run})  # it ends within one generation step; then the replica is free

    def _work(
        self,
        holder: ModelHolder,
        adapter: tuple[str, str] | None,
        request: ScoreRequest,
        progress: Callable[[str, int, int], None],
        token: CancelToken,
    ) -> Finished | Failed:
        """On the executor thread: the run -> `Finished`, or `Failed` with an error the ingress maps
        as the single-process worker does (anything else propagates: a bug, reported there)."""
        try:
            result: ScoreResult = holder.scorer(adapter)(request, progress=progress, cancel=token)
        except (ExpotionError, OSError) as exc:
            return Failed(exc)
        except (MemoryError, RuntimeError) as exc:
            if not is_out_of_memory(exc):
                raise
            logger.warning("replica %s ran out of memory: %s", self.name, exc)
            holder.unload()
            return Failed(MemoryError(f"out of memory on replica {self.name}: {exc}"))
        fields_of = {f.name: getattr(result, f.name) for f in fields(result)}
        return Finished(ReplicaScoreResult(**fields_of, replica=self.name))
