"""`python -m generator_service serve --ray`: join a Ray cluster (or start a local Ray instance),
start Serve's HTTP proxy on the head node at the service's host/port, deploy the application and
serve until interrupted; then the application is deleted (gracefully: running jobs are handed back
to the queue, as at any clean stop) and a Ray instance started here is shut down.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from ..api.settings import ServiceSettings
from .settings import ScaleSettings

logger = logging.getLogger(__name__)


def deploy(config: ServiceSettings, scale: ScaleSettings, **ray_init: Any) -> str:
    """Connect to Ray (`ray.init(address=scale.address, **ray_init)` unless already connected),
    deploy the application and wait until it is ready -> the service's URL."""
    import ray
    from ray import serve

    from .app import build_application

    config.check()
    if not ray.is_initialized():
        if scale.address is None:
            patient_local_proxy()
        ray.init(address=scale.address, **ray_init)
    serve.start(proxy_location="HeadOnly", http_options={"host": config.host, "port": config.port})
    serve.run(build_application(config, scale, token=True), name=scale.app_name, route_prefix="/")
    return f"http://{config.host}:{config.port}"


#: Serve's proxy checks (documented Serve environment variables, seconds) for a Ray instance started
#: here, on the user's own machine: Serve's defaults (ready 5 s, health 10 s, 3 misses) kill the proxy
#: while the machine is busy (measured: both cores loaded, the proxy missed its ready check 3 times
#: and `serve.start` failed with ActorDiedError). A value already in the environment wins.
LOCAL_PROXY_CHECKS = {
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
    "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "60",
}


def patient_local_proxy() -> None:
    """Set `LOCAL_PROXY_CHECKS` where unset, before `ray.init` starts the local instance (its
    processes inherit this environment)."""
    for name, value in LOCAL_PROXY_CHECKS.items():
        os.environ.setdefault(name, value)


def undeploy(scale: ScaleSettings) -> None:
    """Delete the application (its replicas stop gracefully) and leave Serve and Ray as found."""
    import ray
    from ray import serve

    serve.delete(scale.app_name)
    if scale.address is None:  # the local instance deploy() started
        serve.shutdown()
        ray.shutdown()


def serve_on_ray(config: ServiceSettings, scale: ScaleSettings) -> None:
    """Deploy and block until SIGINT/SIGTERM (the `serve --ray` command)."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    url = deploy(config, scale)
    where = f"the Ray cluster at {scale.address}" if scale.address else "a local Ray instance"
    logger.warning(
        "Expotion on Ray Serve at %s (%s; generator replicas: %s)",
        url,
        where,
        f"{scale.min_replicas}..{scale.max_replicas}" if scale.autoscaling else scale.replicas,
    )
    try:
        stop.wait()
    finally:
        undeploy(scale)
