"""The Serve application and its config file, with Ray installed but no cluster: `--write-config` writes a
file Ray Serve accepts, whose args give back the same settings and never the token; the builder
binds both deployments; the replica's scratch cache is trimmed least recently used first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from generator_service.cli import main
from generator_service.errors import ConfigError

pytest.importorskip("ray.serve")

from ray.serve.schema import ServeDeploySchema

from generator_service.scale.app import IMPORT_PATH, build, settings_from_args


def test_write_config_gives_a_serve_config_with_the_same_settings(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    assert (
        main(
            [
                "serve",
                "--ray",
                "--model",
                "tiny",
                "--port",
                "9000",
                "--work-dir",
                str(tmp_path / "work"),
                "--max-replicas",
                "8",
                "--min-replicas",
                "2",
                "--target-queue-depth",
                "2",
                "--token",
                "a-long-secret",
                "--write-config",
                str(path),
            ]
        )
        == 0
    )
    text = path.read_text()
    assert "a-long-secret" not in text
    schema = ServeDeploySchema.model_validate(yaml.safe_load(text))
    assert schema.http_options.port == 9000 and schema.proxy_location == "HeadOnly"
    (app,) = schema.applications
    assert app.import_path == IMPORT_PATH and app.route_prefix == "/"
    config, scale = settings_from_args(app.args)
    assert config.model == "tiny" and config.port == 9000 and config.work_dir == tmp_path / "work"
    assert scale.max_replicas == 8 and scale.min_replicas == 2 and scale.slots == 16


def test_config_args_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key.*replica_count"):
        settings_from_args({"model": "tiny", "replica_count": 2})
    with pytest.raises(ConfigError, match="needs a token"):  # the service's own safety rules hold on Ray too
        build({"model": "tiny", "host": "0.0.0.0", "work_dir": str(tmp_path)})


def test_the_builder_binds_ingress_to_generator(tmp_path: Path) -> None:
    from ray.serve import Application

    assert isinstance(build({"model": "tiny", "work_dir": str(tmp_path), "replicas": 2}), Application)


def test_the_replica_cache_is_trimmed_least_recently_used_first(tmp_path: Path) -> None:
    from generator_service.scale.replica import trim_folder

    for i in range(4):
        path = tmp_path / f"{i}.npz"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 + i, 1000 + i))
    os.utime(tmp_path / "0.npz", (2000, 2000))  # used last
    trim_folder(tmp_path, 250)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.npz", "3.npz"]
