"""The OpenAPI document tells the truth: schemathesis' full run (`--checks all`: coverage, fuzzing
and the stateful phase that follows the document's links) against a real `serve --model tiny`
process finds no failure in at least 500 generated requests.

What a schema cannot say (a file part that is not a movie, a range outside the clip, cross-field
rules) is configured in schemathesis.toml beside this file, with the reason for each entry."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("schemathesis")

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).with_name("schemathesis.toml")
MIN_CASES = 500


def run_schemathesis(url: str, report_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "30",
        "--seed",
        "20261202",
        "--workers",
        "1",
        "--request-timeout",
        "120",
        "--report",
        "har",
        "--report-dir",
        str(report_dir),
        *extra,
    ]
    # run in the report folder: schemathesis keeps its own state (.schemathesis/) in the working directory
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False, cwd=report_dir.parent)


def requests_made(report_dir: Path) -> Counter[tuple[str, str, int]]:
    """(method, path with ids replaced by {id}, status) of every request the run made."""
    (har,) = report_dir.glob("*.json")
    seen: Counter[tuple[str, str, int]] = Counter()
    for entry in json.loads(har.read_text())["log"]["entries"]:
        path = re.sub(r"^https?://[^/]+", "", entry["request"]["url"]).split("?")[0]
        path = re.sub(r"/(j-[0-9a-f]{16}(-mp4)?|f-[0-9a-f]{16})(?=/|$)", "/{id}", path)
        seen[entry["request"]["method"], path, entry["response"]["status"]] += 1
    return seen


def test_full_schemathesis_run_finds_no_failure(server_factory, tmp_path) -> None:
    # room for what the fuzzing phases upload and never submit (uploads wait for a job, bounded by the
    # queue size), so the stateful phase can still upload and score a clip
    server = server_factory(tmp_path / "work", "--queue-size", "200")
    proc = run_schemathesis(server.url, tmp_path / "report")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", out)
    assert cases is not None, out[-3000:]
    assert int(cases[1]) >= MIN_CASES and cases[1] == cases[2], cases[0]
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ {phase}", out), (phase, out[-3000:])
    # the stateful phase followed the links: jobs it created were read by their real ids, and a
    # clip uploaded through the contract face was scored
    seen = requests_made(tmp_path / "report")
    assert seen["GET", "/v1/jobs/{id}", 200] and seen["GET", "/v1/jobs/{id}/events", 200], seen
    assert seen["POST", "/v1/files", 201] and seen["GET", "/v1/files/{id}", 200], seen
    assert seen["POST", "/v1/videos", 202], seen
    assert not [key for key in seen if key[2] >= 500], seen
