"""Fixtures for the extension's tests: PyAV test clips, the stub service, the built zip, and a
runner for scenarios inside real Blender (`bpy` in a subprocess: bpy is a process-wide singleton and
user resources must be isolated before it is imported)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from .stub_service import StubService

ROOT = Path(__file__).resolve().parents[2]


def write_clip(path: Path, seconds: float, fps: Fraction, size: tuple[int, int] = (160, 90)) -> Path:
    """A small H.264 MP4 whose frames change brightness each frame."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(round(seconds * fps)):
            img = np.full((size[1], size[0], 3), (i * 7) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def count_frames(path: str) -> int:
    import av

    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


def brightness_drops(path: str) -> list[int]:
    """Indices of the frames of `path` much darker than the frame before. In a `write_clip` clip,
    source frame i has brightness (7 i) mod 255, so the drops sit at source frames 37 and 73: where
    they fall in a clip rendered from one tells which source frames it shows, whatever (monotonic)
    view transform the render applied."""
    import av

    with av.open(path) as container:
        levels = [float(frame.to_ndarray(format="gray").mean()) for frame in container.decode(video=0)]
    return [i for i in range(1, len(levels)) if levels[i - 1] - levels[i] > 100]


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("media")
    rates = {"c2997": Fraction(30000, 1001), "c25": Fraction(25), "c23976": Fraction(24000, 1001)}
    return {name: str(write_clip(folder / f"{name}.mp4", 3.0, fps)) for name, fps in rates.items()}


@pytest.fixture()
def stub(clips: dict[str, str]):
    service = StubService(media_root=str(Path(next(iter(clips.values()))).parent)).start()
    yield service
    service.stop()


def bpy_python() -> str | None:
    """An interpreter that has bpy: $EXPOTION_BPY_PYTHON, this one, or .venv-blender."""
    explicit = os.environ.get("EXPOTION_BPY_PYTHON")
    if explicit:
        return explicit
    if importlib.util.find_spec("bpy") is not None:
        return sys.executable
    candidate = ROOT / ".venv-blender" / "bin" / "python"
    return str(candidate) if candidate.exists() else None


@pytest.fixture(scope="session")
def built_zip(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0 and "was not found" in proc.stderr:
        pytest.skip(f"Blender's validator is not available: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def scenario_result(name: str, returncode: int, stdout: str, stderr: str) -> dict:
    """The JSON a scenario printed (the run must have succeeded and used no deprecated API)."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("SCENARIO_RESULT ")]
    assert returncode == 0 and lines, f"scenario {name} failed ({returncode}):\n{stdout[-4000:]}\n{stderr[-4000:]}"
    result = json.loads(lines[-1].split(" ", 1)[1])
    deprecated = result.pop("deprecations", [])
    assert not deprecated, "the extension uses API deprecated in this Blender:\n" + "\n".join(deprecated)
    return result


@pytest.fixture()
def blender_command(built_zip: str, tmp_path: Path):
    """(argv, env) running `bpy_scenarios.<name>(args)` in a fresh bpy process (cwd: tmp_path)."""
    python = bpy_python()
    if python is None:
        pytest.skip("no Python with bpy: pip install bpy==5.0.1 (here or in .venv-blender)")

    def command(
        name: str, service_url: str, env: dict[str, str] | None = None, **args: object
    ) -> tuple[list[str], dict[str, str]]:
        full = dict(
            os.environ,
            BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"),
            EXPOTION_SERVICE_URL=service_url,
            EXPOTION_TEST_ZIP=built_zip,
            EXPOTION_TEST_ARGS=json.dumps(args),
            PYTHONPATH=str(ROOT),
            # as a shell started in tmp_path would: bpy 4.5 resolves relative paths against $PWD
            PWD=str(tmp_path),
            **(env or {}),
        )
        return [python, "-m", "tests.expotion_blender.bpy_scenarios", name], full

    return command


@pytest.fixture()
def run_blender(blender_command, tmp_path: Path):
    """Run `bpy_scenarios.<name>(args)` in a fresh bpy process (most install the zip); returns its JSON."""

    def run(
        name: str, service_url: str, env: dict[str, str] | None = None, timeout: float = 120, **args: object
    ) -> dict:
        argv, full = blender_command(name, service_url, env, **args)
        proc = subprocess.run(
            argv, capture_output=True, text=True, cwd=tmp_path, env=full, timeout=timeout, check=False
        )
        return scenario_result(name, proc.returncode, proc.stdout, proc.stderr)

    return run
