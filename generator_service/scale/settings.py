"""Typed settings of the Ray Serve face (`serve --ray` flags, `EXPOTION_RAY_*` environment variables,
the `args` of a Serve config): replicas, autoscaling, resources, per-replica bounds.

The service's own settings stay in `api/settings.py` (`ServiceSettings`); both are passed explicitly
to the deployments. Nothing here imports Ray.
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..errors import ConfigError

#: Seconds a generator replica that Serve stops may take to finish its running job.
REPLICA_SHUTDOWN_S = 600.0


class ScaleSettings(BaseSettings):
    """How the service runs on Ray Serve (env: EXPOTION_RAY_<NAME>, e.g. EXPOTION_RAY_REPLICAS)."""

    model_config = SettingsConfigDict(env_prefix="EXPOTION_RAY_", extra="ignore")

    address: str | None = Field(
        None,
        description='Ray cluster to join ("auto", "HOST:6379", "ray://HOST:10001"); None starts a local Ray instance.',
    )
    app_name: str = Field(
        "expotion", description="Name of the Serve application (its deployments are `Ingress` and `Generator`)."
    )
    replicas: int = Field(1, ge=1, le=1024, description="Generator replicas when autoscaling is off.")
    min_replicas: int = Field(
        1, ge=0, le=1024, description="Autoscaling lower bound (autoscaling is on when `max_replicas` is set)."
    )
    max_replicas: int | None = Field(
        None, ge=1, le=1024, description="Autoscaling upper bound; setting it turns autoscaling on."
    )
    target_queue_depth: float = Field(
        1.0,
        ge=1.0,
        le=100.0,
        description="Queue-depth target of the autoscaler: jobs per replica (running + waiting for it) it aims at.",
    )
    upscale_delay_s: float = Field(
        10.0, ge=0, description="Seconds the load stays above the target before replicas are added."
    )
    downscale_delay_s: float = Field(
        300.0, ge=0, description="Seconds the load stays below the target before replicas are removed."
    )
    gpus_per_replica: float | None = Field(
        None, ge=0, description="GPUs each generator replica reserves; None: 1 when the cluster has GPUs, else 0."
    )
    cpus_per_replica: float = Field(
        1.0, gt=0, description="CPUs each generator replica reserves (fractions pack several replicas on one core set)."
    )
    ingress_cpus: float = Field(
        1.0, gt=0, description="CPUs the ingress reserves (HTTP, uploads, result files, the job store, `/v1/analyze`)."
    )
    adapters_per_replica: int = Field(
        2,
        ge=1,
        le=64,
        description="Models a replica keeps warm, each the base model with one adapter or none; least recently used go first. Jobs for an adapter are routed to replicas that hold it.",
    )
    ingress_max_requests: int = Field(
        1000,
        ge=8,
        le=100_000,
        description="HTTP requests the ingress serves at once (open event streams count); more wait in Ray's proxy.",
    )
    replica_cache_mb: float = Field(
        1024.0,
        ge=0,
        description="Feature cache of each replica (its own scratch folder), MiB; least recently used go first.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> ScaleSettings:
        if self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} exceeds max_replicas {self.max_replicas}")
        return self

    @property
    def autoscaling(self) -> bool:
        return self.max_replicas is not None

    @property
    def most_replicas(self) -> int:
        return self.max_replicas if self.max_replicas is not None else self.replicas

    @property
    def slots(self) -> int:
        """Jobs the ingress hands to Ray at once: every replica busy at the queue-depth target (so
        the autoscaler sees the load); the rest wait in the service's own bounded queue."""
        return math.ceil(self.most_replicas * self.target_queue_depth)

    def gpus(self, cluster_gpus: float) -> float:
        """GPUs per replica given the cluster's GPU count."""
        if self.gpus_per_replica is not None:
            return self.gpus_per_replica
        return 1.0 if cluster_gpus >= 1 else 0.0

    def generator_options(self, gpus: float) -> dict[str, object]:
        """`serve.deployment` options of the generator (one job at a time per replica)."""
        options: dict[str, object] = {
            "max_ongoing_requests": 1,
            "ray_actor_options": {"num_cpus": self.cpus_per_replica, "num_gpus": gpus},
            # a replica being scaled down finishes its job first (a clean stop cancels jobs at once)
            "graceful_shutdown_timeout_s": REPLICA_SHUTDOWN_S,
        }
        if self.autoscaling:
            options["autoscaling_config"] = {
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "initial_replicas": max(1, self.min_replicas),
                "target_ongoing_requests": self.target_queue_depth,
                "upscale_delay_s": self.upscale_delay_s,
                "downscale_delay_s": self.downscale_delay_s,
            }
        else:
            options["num_replicas"] = self.replicas
        return options


def scale_settings(**flags: object) -> ScaleSettings:
    """`ScaleSettings` from flags (None: not given) and the environment; `ConfigError` names the field."""
    from pydantic import ValidationError

    try:
        return ScaleSettings(**{k: v for k, v in flags.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'ray'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"ray settings: {problems}", "Fix the named --ray flag (see `serve --help`).") from exc


def require_ray() -> None:
    """`ConfigError` with the install command when Ray Serve is not installed."""
    import importlib.util

    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.serve") is None:
        raise ConfigError(
            "--ray: Ray Serve is not installed",
            'Install the extra: pip install "expotion[ray]" (ray[serve] 2.60 or later).',
        )
