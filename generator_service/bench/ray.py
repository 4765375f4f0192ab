"""`bench ray`: throughput of the service on Ray Serve with 1 and then 2 generator replicas, in one run.

A local Ray instance (CPU only here; one CPU per replica, so each replica's torch runs one thread)
serves the tiny model; for each replica count the application is deployed, each replica is warmed
up with one short job (model loaded), then `jobs` jobs of `seconds`-long clips (distinct seeds, so
none is answered from the result cache) are submitted at once over HTTP. Throughput is jobs
finished per minute of wall time from the first submit to the last success; latency is per job.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

from . import table
from .service import poll_count

logger = logging.getLogger(__name__)


def _run_jobs(url: str, clip: Path, seeds: list[int], seconds: float, ids: list[str] | None = None) -> list[float]:
    """Submit one job per seed at once (path mode), wait for all -> each job's latency, s (their ids
    are appended to `ids`)."""
    import httpx

    with httpx.Client(base_url=url, timeout=120, trust_env=False) as client:
        started = time.perf_counter()
        ids = [] if ids is None else ids
        first = len(ids)
        for seed in seeds:
            r = client.post(
                "/v1/jobs",
                data={"params": json.dumps({"path": str(clip), "seed": seed, "duration": seconds, "prompt": "bench"})},
            )
            r.raise_for_status()
            ids.append(r.json()["id"])
        latency: dict[str, float] = {}
        while len(latency) < len(ids) - first:
            for job_id in ids[first:]:
                if job_id in latency:
                    continue
                status = client.get(f"/v1/jobs/{job_id}").json()
                if status["status"] == "succeeded":
                    latency[job_id] = time.perf_counter() - started
                elif status["status"] in ("failed", "cancelled"):
                    raise RuntimeError(f"bench job {job_id} {status['status']}: {status['error']}")
            time.sleep(0.05)
    return [latency[j] for j in ids[first:]]


def run(seconds: float | None = None, jobs: int = 8, replica_counts: tuple[int, ...] = (1, 2), repeats: int = 3) -> str:
    """One Serve application per replica count, side by side on one Ray instance (route prefix
    `/r<count>`, own work dir); batches alternate between them `repeats` times, so both see the same
    machine load; the best and the median batch are shown."""
    import ray
    from ray import serve

    from ..api.launch import free_port
    from ..api.settings import ServiceSettings
    from ..demo_clip import make_performer_clip
    from .app import build_application
    from .settings import ScaleSettings

    seconds = seconds or 4.0
    port = free_port()
    walls: dict[int, list[float]] = {count: [] for count in replica_counts}
    ids: list[str] = []
    polls: list[list[object]] = []
    latencies: dict[int, list[float]] = {count: [] for count in replica_counts}
    with tempfile.TemporaryDirectory(prefix="expotion-bench-ray-") as tmp:
        work = Path(tmp)
        clip = make_performer_clip(work / "clip.mp4", duration=seconds, fps=25, size=(160, 90))
        ray.init(
            num_cpus=sum(replica_counts) + len(replica_counts), include_dashboard=False, logging_level=logging.WARNING
        )
        try:
            serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
            for count in replica_counts:
                config = ServiceSettings(
                    model="tiny",
                    device="cpu",
                    port=port,
                    work_dir=work / f"r{count}",
                    media_root=work,
                    allow_network=False,
                    queue_size=max(8, jobs),
                )
                scale = ScaleSettings(app_name=f"r{count}", replicas=count, cpus_per_replica=1.0, ingress_cpus=0.5)
                serve.run(build_application(config, scale), name=scale.app_name, route_prefix=f"/r{count}")
                _run_jobs(f"http://127.0.0.1:{port}/r{count}", clip, list(range(count)), 0.5)  # warm every replica
            for round_ in range(repeats):
                for count in replica_counts:
                    seeds = [10_000 * (round_ + 1) + 100 * count + i for i in range(jobs)]
                    started = time.perf_counter()
                    latencies[count] += _run_jobs(f"http://127.0.0.1:{port}/r{count}", clip, seeds, seconds, ids)
                    walls[count].append(time.perf_counter() - started)
            url = f"http://127.0.0.1:{port}/r{replica_counts[-1]}"
            for connections in (1, 8):
                count = poll_count(url, ids[-1], connections, 3.0)
                polls.append(
                    [
                        f"GET /v1/jobs/{{id}} through Serve's proxy, {connections} connection(s)",
                        round(count / 3.0),
                        count,
                    ]
                )
        finally:
            serve.shutdown()
            ray.shutdown()
    rows: list[list[object]] = []
    base = min(walls[replica_counts[0]])
    for count in replica_counts:
        best, median = min(walls[count]), statistics.median(walls[count])
        rows.append(
            [
                count,
                jobs,
                round(best, 1),
                round(median, 1),
                round(jobs * 60 / best, 1),
                round(jobs * 60 / median, 1),
                round(base / best, 2),
                round(statistics.mean(latencies[count]), 1),
            ]
        )
    title = (
        f"Ray Serve throughput, tiny model, {seconds:g} s clips, {jobs} jobs submitted at once, {repeats} "
        "alternating batches per replica count (one CPU per replica)"
    )
    headers = [
        "replicas",
        "jobs",
        "best wall s",
        "median wall s",
        "jobs/min (best)",
        "jobs/min (median)",
        "speed-up (best)",
        "mean latency s",
    ]
    return (
        title
        + "\n"
        + table(headers, rows)
        + "\n\nIngress (one replica): status polling\n"
        + table(["what", "requests/s", "requests"], polls)
    )
