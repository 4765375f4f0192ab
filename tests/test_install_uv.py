"""docs/install.md's Linux/macOS block, run as written: the fenced block after the page's
`<!-- tested: tests/test_install_uv.py -->` marker is read from the page and run with bash, unedited,
in a temporary copy of the checkout (a fresh `.venv` there, never this checkout's), then the
installed `expotion demo --no-blender` runs on the tiny model: lock, torch, MediaPipe, the decoder,
the beat lock and the editable install, all from that venv.

The interpreter is the page's own `PY` variable: $PY when set, else the Python running the tests
(outside its venv). Skipped where PyPI cannot be reached (the locks install from it) or where no
torch 2.13.0 wheel for that Python lies on this disk: the test never downloads PyPI's multi-GB
CUDA build. It does not care whether pip's and uv's caches are warm or cold.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "install.md"
MARKER = "<!-- tested: tests/test_install_uv.py -->"
TORCH = "2.13.0"
#: where torch wheels lie on the development machines (the Makefile's TORCH_WHEELS), besides $PIP_FIND_LINKS
TORCH_WHEEL_DIRS = ("/opt/wheels", "/opt/pypi-more/files", str(ROOT / "wheels-torch"))
#: top-level entries of the checkout not copied: venvs, outputs, caches, git
NOT_COPIED = re.compile(r"^(\.git|\.venv.*|demo_out|dist|build|gpu-wheels|wheels-torch|\..*_cache|.*\.egg-info)$")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name == "nt", reason="the page's POSIX block needs bash (Windows has its own block)"),
]


def documented_block(text: str) -> str:
    """The body of the first fenced block after MARKER in `text`."""
    _, found, rest = text.partition(MARKER)
    assert found, f"{PAGE.name} has no {MARKER} marker"
    match = re.match(r"\s*```(?:bash|sh)\n(.*?)^```", rest, re.S | re.M)
    assert match, f"no ```bash block right after the marker in {PAGE.name}"
    return match.group(1)


def test_the_block_is_read_from_after_the_marker() -> None:
    text = f'```bash\nnot this\n```\n{MARKER}\n```bash\nPY=${{PY:-python3}}\n"$PY" -m venv .venv\n```\n'
    assert documented_block(text) == 'PY=${PY:-python3}\n"$PY" -m venv .venv\n'


def test_make_installs_torch_with_the_line_the_page_documents() -> None:
    """`make` and the page take torch alike, with its dependencies: PyPI's Linux torch 2.13.0 is a CUDA
    build whose CUDA libraries are dependencies; without them `import torch` fails (libcudnn.so.9)."""
    page_line = next(line for line in documented_block(PAGE.read_text()).splitlines() if " torch==" in line)
    make_line = next(line for line in (ROOT / "Makefile").read_text().splitlines() if '"$(TORCH)"' in line)
    assert page_line == ".venv/bin/python -m pip install torch==2.13.0"
    assert make_line.strip() == '$(BIN)/python -m pip install --quiet $(TORCH_ARGS) "$(TORCH)"'
    assert "TORCH ?= torch==2.13.0" in (ROOT / "Makefile").read_text()


def _interpreter() -> tuple[str, str]:
    """-> (the PY to use, its 'X.Y')."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    py = os.environ.get("PY") or str(Path(sys.base_prefix, "bin", name))
    try:
        out = subprocess.run(
            [py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError as exc:
        pytest.skip(f"PY={py} does not run here ({exc})")
    if out.returncode != 0:
        pytest.skip(f"PY={py} does not run here: {out.stderr.strip()[-300:]}")
    return py, out.stdout.strip()


def _torch_wheel_dir(version: str) -> str | None:
    """A folder holding a torch TORCH wheel for Python `version` ('3.11'), or None."""
    tag = "cp" + version.replace(".", "")
    dirs = [*os.environ.get("PIP_FIND_LINKS", "").split(), *TORCH_WHEEL_DIRS]
    for folder in dirs:
        if any(Path(folder).glob(f"torch-{TORCH}*-{tag}-{tag}-*.whl")):
            return folder
    return None


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError:
        return False
    return True


def _copy_checkout(dest: Path) -> None:
    def ignore(folder: str, names: list[str]) -> set[str]:
        if Path(folder) != ROOT:
            return {n for n in names if n == "__pycache__"}
        return {n for n in names if NOT_COPIED.match(n) or n == "__pycache__"}

    shutil.copytree(ROOT, dest, ignore=ignore)


def test_the_documented_install_block_installs_a_working_expotion(tmp_path: Path) -> None:
    block = documented_block(PAGE.read_text(encoding="utf-8"))
    py, version = _interpreter()
    wheels = _torch_wheel_dir(version)
    if wheels is None:
        pytest.skip(
            f"no torch {TORCH} wheel for Python {version} on this disk ($PIP_FIND_LINKS, {', '.join(TORCH_WHEEL_DIRS)}); "
            "the test does not download PyPI's multi-GB CUDA build (PY=... names another Python)"
        )
    if not _pypi_reachable():
        pytest.skip("pypi.org cannot be reached: the block installs uv and the lock from PyPI")
    checkout = tmp_path / "expotion"
    _copy_checkout(checkout)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PY"] = py
    # pip finds the torch wheel on disk as `make` does (pip's own settings, or here the folder found)
    env["PIP_FIND_LINKS"] = " ".join(dict.fromkeys([*os.environ.get("PIP_FIND_LINKS", "").split(), wheels]))

    install = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, f"the documented block failed:\n{(install.stdout + install.stderr)[-4000:]}"

    python = checkout / ".venv" / "bin" / "python"
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import sys, torch, generator_service as g; print(sys.version_info[:2] >= (3, 11), torch.__version__, g.__file__)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert where.returncode == 0, where.stderr[-2000:]
    ok, torch_version, module = where.stdout.split()
    assert ok == "True" and torch_version.startswith(TORCH), where.stdout
    assert Path(module).is_relative_to(checkout), f"not the editable install of the copy: {module}"

    out = tmp_path / "demo_out"
    demo = subprocess.run(
        [str(checkout / ".venv" / "bin" / "expotion"), "demo", "--no-blender", "--seconds", "2", "--model", "tiny"]
        + ["--out", str(out)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, (demo.stdout + demo.stderr)[-4000:]
    assert soundfile.info(str(out / "demo_music.wav")).frames == 2 * 32000
    assert (out / "demo_scored.mp4").stat().st_size > 0
