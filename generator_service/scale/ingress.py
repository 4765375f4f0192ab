"""The ingress deployment: today's FastAPI app (`create_app`) and job service on one replica, with
the job worker handing jobs to the generator replicas instead of running them in-process.

Job records live here, in the SQLite store under `work_dir` on the head node (the ingress is
pinned there by scale/app.py): one ingress replica owns the store, its queue and its board, so
every status, cancel, event stream and result of a job is answered from one place, exactly as in
the single-process service. (More than one ingress replica would need a shared store and a shared
board for events and cancels; one is enough for thousands of requests per second — see
docs/scaling.md.) Uploads and result files are on the same disk; videos and results travel to and
from the replicas through Ray.
The app's lifespan starts the job service (resuming what a dead ingress left queued or running,
as at any start) when Serve starts the replica, and stops it (running jobs handed back) when Serve
stops it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ..api.app import build_service, create_app, feature_config
from ..api.settings import ServiceSettings
from ..errors import ModelLoadError
from ..jobs.holder import ModelHolder
from .dispatch import ReplicaExecutor
from .settings import ScaleSettings

#: What `GET /v1/health` says the service runs on (the generator replicas pick their own devices).
DEVICE = "ray"


def _no_local_model() -> Any:
    raise ModelLoadError("the ingress of the Ray face runs no model: jobs run on the generator replicas")


class Ingress:
    """Deployed by scale/app.py with `serve.ingress()`; Serve calls `__serve_build_asgi_app__`."""

    def __init__(self, settings: dict[str, Any], scale: dict[str, Any], generator: Any) -> None:
        self.config = ServiceSettings(**settings)
        self.scale = ScaleSettings(**scale)
        self.generator = generator  # DeploymentHandle of the generator deployment

    def __serve_build_asgi_app__(self) -> FastAPI:
        config = self.config
        holder = ModelHolder(
            _no_local_model, model_id=config.model, device=DEVICE, idle_unload_s=-1, features=feature_config(config)
        )
        service = build_service(config, holder, executor=ReplicaExecutor(self.generator), slots=self.scale.slots)
        return create_app(config, service)
