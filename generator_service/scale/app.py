"""The Serve application: the `Ingress` deployment (one replica, pinned to the head node, where the
job store is) bound to the `Generator` deployment (N replicas or autoscaled, one job at a time each).

`build_application(config, scale)` is what `serve --ray` deploys; `build(args)` is the same for a
Serve config file (`serve run` / `serve deploy`), whose `args` are the keys of `ServiceSettings`
and `ScaleSettings`; `serve_config(config, scale)` writes such a file from the same settings.
The token never goes into deployment arguments or config files: the ingress reads it from its
environment (`EXPOTION_TOKEN` where Ray was started) unless `serve --ray --token` passed it.
"""

from __future__ import annotations

from typing import Any

from ..api.settings import ServiceSettings
from ..errors import ConfigError
from .settings import ScaleSettings

#: The resource only the Ray head node has: the ingress (and so the job store) lives there.
HEAD_NODE = "node:__internal_head__"
IMPORT_PATH = "generator_service.scale.app:build"


def _cluster_gpus() -> float:
    import ray

    if ray.is_initialized():
        return float(ray.cluster_resources().get("GPU", 0.0))
    import torch  # `serve run` with an import path builds before connecting to Ray: this machine decides

    return float(torch.cuda.device_count())


def build_application(config: ServiceSettings, scale: ScaleSettings, *, token: bool = False) -> Any:
    """The bound Serve application (`token=True` hands the settings' token to the ingress)."""
    from ray import serve

    from .ingress import Ingress
    from .replica import Generator

    config.check()
    shared = config.model_dump(mode="json", exclude={"token"})
    ingress_settings = shared | ({"token": config.token} if token and config.token else {})
    scale_args = scale.model_dump(mode="json")
    generator = serve.deployment(Generator, name="Generator", **scale.generator_options(scale.gpus(_cluster_gpus())))
    ingress = serve.deployment(
        serve.ingress()(Ingress),
        name="Ingress",
        num_replicas=1,
        max_ongoing_requests=scale.ingress_max_requests,
        ray_actor_options={"num_cpus": scale.ingress_cpus, "resources": {HEAD_NODE: 0.001}},
    )
    return ingress.bind(ingress_settings, scale_args, generator.bind(shared, scale_args))


def settings_from_args(args: dict[str, Any]) -> tuple[ServiceSettings, ScaleSettings]:
    """Split a config file's `args` into the two settings; `ConfigError` for an unknown key."""
    from pydantic import ValidationError

    service_keys, scale_keys = set(ServiceSettings.model_fields), set(ScaleSettings.model_fields)
    unknown = sorted(set(args) - service_keys - scale_keys)
    if unknown:
        raise ConfigError(
            f"serve config args: unknown key(s) {', '.join(unknown)}",
            "Use the names of ServiceSettings and ScaleSettings (docs/scaling.md).",
        )
    try:
        return (
            ServiceSettings(**{k: v for k, v in args.items() if k in service_keys}),
            ScaleSettings(**{k: v for k, v in args.items() if k in scale_keys}),
        )
    except ValidationError as exc:
        raise ConfigError(f"serve config args: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc


def build(args: dict[str, Any]) -> Any:
    """Application builder of Serve config files (`import_path: generator_service.scale.app:build`)."""
    config, scale = settings_from_args(args)
    return build_application(config, scale)


def serve_config(config: ServiceSettings, scale: ScaleSettings) -> dict[str, Any]:
    """A Serve config (as YAML data) that runs these settings: `serve run FILE` / `serve deploy FILE`."""
    args = config.model_dump(mode="json", exclude={"token"}) | scale.model_dump(mode="json", exclude={"address"})
    return {
        "proxy_location": "HeadOnly",
        "http_options": {"host": config.host, "port": config.port},
        "applications": [{"name": scale.app_name, "route_prefix": "/", "import_path": IMPORT_PATH, "args": args}],
    }
