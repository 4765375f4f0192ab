"""Fixtures of the Ray Serve tests: a local Ray instance started by the tests (CPU only: 4 logical CPUs,
half a CPU per replica) with the service deployed on it — 2 generator replicas of the tiny model —
reached over HTTP through Serve's proxy on a free loopback port, and the processes of its replicas."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator_service.api.launch import free_port
from generator_service.api.settings import ServiceSettings
from generator_service.demo_clip import make_performer_clip

pytest.importorskip("ray.serve")

APP = "expotion"


@dataclass
class RayService:
    url: str
    config: ServiceSettings
    media: Path
    clip: Path
    #: A clip long enough that a job on it is surely still running when a test acts on it.
    long_clip: Path


@pytest.fixture(scope="module")
def ray_service(tmp_path_factory: pytest.TempPathFactory, tiny) -> Iterator[RayService]:
    """The service on a local Ray instance (depends on `tiny` so the model is in the cache the replicas read)."""
    from generator_service.scale.launch import deploy, undeploy
    from generator_service.scale.settings import ScaleSettings

    media = tmp_path_factory.mktemp("ray-media")
    clip = make_performer_clip(media / "performer.mp4", duration=2.0, fps=25, size=(160, 90))
    long_clip = make_performer_clip(media / "long.mp4", duration=12.0, fps=10, size=(160, 90), seed=3)
    adapters = make_adapters(tmp_path_factory.mktemp("ray-adapters"))
    config = ServiceSettings(
        model="tiny",
        device="cpu",
        port=free_port(),
        work_dir=tmp_path_factory.mktemp("ray-work"),
        media_root=media,
        adapters_dir=adapters,
        allow_network=False,
    )
    scale = ScaleSettings(app_name=APP, replicas=2, cpus_per_replica=0.5, ingress_cpus=0.5)
    url = deploy(config, scale, num_cpus=4, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield RayService(url, config, media, clip, long_clip)
    finally:
        undeploy(scale)


def make_adapters(folder: Path) -> Path:
    """An adapters dir holding one real (untrained) Expotion adapter for the tiny model: "dance"."""
    from generator_service.model.adapter import AdapterConfig
    from generator_service.model.adapter_files import create_adapter, save_adapter
    from generator_service.model.loading import load_music_model

    save_adapter(create_adapter(load_music_model("tiny", device="cpu"), AdapterConfig(window_s=1.0)), folder / "dance")
    return folder


def replica_pids(deployment: str) -> list[int]:
    """Processes of this test's Ray replicas of `deployment` (children of this process, by their title)."""
    import psutil

    title = f"ray::ServeReplica:{APP}:{deployment}"
    pids = []
    for child in psutil.Process().children(recursive=True):
        try:
            if " ".join(child.cmdline()).startswith(title):
                pids.append(child.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


def params(**values: Any) -> dict[str, str]:
    return {"params": json.dumps(values)}
