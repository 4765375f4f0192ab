"""Settings of the Ray face and its contract with the ingress, without Ray: validation, slots and
deployment options, multiplexed model ids, the `serve` flags — and that without `--ray` nothing
imports Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from generator_service.api.settings import ServiceSettings
from generator_service.cli import main
from generator_service.errors import ConfigError
from generator_service.scale.events import BASE_MODEL, ReplicaScoreResult, adapter_of, model_id_for
from generator_service.scale.settings import REPLICA_SHUTDOWN_S, ScaleSettings, scale_settings


def test_fixed_replicas_and_autoscaling_options() -> None:
    fixed = ScaleSettings(replicas=3, cpus_per_replica=0.5)
    assert fixed.slots == 3 and not fixed.autoscaling
    assert fixed.generator_options(1.0) == {
        "max_ongoing_requests": 1,
        "num_replicas": 3,
        "ray_actor_options": {"num_cpus": 0.5, "num_gpus": 1.0},
        "graceful_shutdown_timeout_s": REPLICA_SHUTDOWN_S,
    }
    auto = ScaleSettings(min_replicas=0, max_replicas=8, target_queue_depth=2)
    assert auto.slots == 16  # every replica at the target: the autoscaler sees the whole load
    config = auto.generator_options(1.0)["autoscaling_config"]
    assert config["min_replicas"] == 0 and config["max_replicas"] == 8 and config["target_ongoing_requests"] == 2
    assert config["initial_replicas"] == 1 and "num_replicas" not in auto.generator_options(1.0)


def test_gpus_per_replica_follow_the_cluster_unless_given() -> None:
    assert ScaleSettings().gpus(0.0) == 0.0 and ScaleSettings().gpus(8.0) == 1.0
    assert ScaleSettings(gpus_per_replica=0.5).gpus(8.0) == 0.5


def test_bad_ray_settings_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="min_replicas 4 exceeds max_replicas 2"):
        scale_settings(min_replicas=4, max_replicas=2)
    with pytest.raises(ConfigError, match="replicas"):
        scale_settings(replicas=0)
    monkeypatch.setenv("EXPOTION_RAY_REPLICAS", "5")
    assert scale_settings(replicas=None).replicas == 5  # flags not given fall back to the environment


def test_the_two_settings_share_no_key() -> None:
    assert not set(ServiceSettings.model_fields) & set(ScaleSettings.model_fields)


def test_multiplexed_model_ids_round_trip() -> None:
    assert model_id_for(None) == BASE_MODEL and adapter_of(BASE_MODEL) is None
    assert adapter_of(model_id_for("base")) == "base"  # an adapter may be called "base"
    with pytest.raises(ValueError):
        adapter_of("adapter:")


def test_replica_results_name_their_replica() -> None:
    result = ReplicaScoreResult(
        takes=[np.zeros(4, np.float32)],
        seeds=[1],
        sample_rate=32000,
        num_samples=4,
        start=0.0,
        end=4 / 32000,
        prompt_used="",
        model_id="tiny",
        untrained=True,
        adapter=None,
        visual="unused",
        replica="Generator#abc",
    )
    meta = result.metadata()
    assert meta["replica"] == "Generator#abc" and meta["num_samples"] == 4


def test_ray_flags_need_ray(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--replicas", "2", "--max-replicas", "4"]) == 2
    err = capsys.readouterr().err
    assert "--replicas, --max-replicas: only with --ray" in err and "hint: Add --ray" in err


def test_without_ray_nothing_imports_ray(tmp_path: Path) -> None:
    code = f"""
import sys
from generator_service.cli import build_parser
from generator_service.api.app import create_app
from generator_service.api.settings import ServiceSettings
build_parser().parse_args(["serve", "--model", "tiny"])
create_app(ServiceSettings(model="tiny", device="cpu", work_dir={str(tmp_path)!r}))
assert "ray" not in sys.modules, sorted(m for m in sys.modules if m.startswith("ray"))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
