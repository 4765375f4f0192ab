"""The code's own rules, checked with the suite: the layers hold (import-linter), lint and format
(ruff), types at the seams (mypy). Each runs the tool installed from the lock, as CI does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_the_layers_hold() -> None:
    """protocol < model < pipeline < jobs | training < evaluation < api < scale < commands, base
    modules below all, the protocol package alone, the extension on the protocol only (pyproject)."""
    out = run("lint-imports")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_types_at_the_seams() -> None:
    """mypy --strict on the protocol package and the seams between layers (files listed in pyproject)."""
    out = run("mypy")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_lint_and_format() -> None:
    """ruff: the lint rules and the format configured in pyproject, over the whole repository."""
    lint = run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout[-4000:]
    fmt = run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout[-4000:]
