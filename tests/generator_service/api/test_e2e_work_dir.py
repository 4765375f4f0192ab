"""A bad work dir, from outside (issues #23, #27): a real `serve --model tiny` given a file instead of
a folder, a read-only mount, a read-only job database, a disk with no room, or a disk that fills
while it runs. Each start that cannot keep jobs is refused with `error:` + `hint:` and exit status 2,
no traceback; a disk that fills later answers 507 with a hint, and nothing accepted earlier is lost.

Read-only and full disks are small tmpfs mounts (the test needs the right to mount, as CI's root
has; elsewhere those cases skip and say why)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import job_form, wait_done

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


def serve_once(work_dir: Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """`serve` on `work_dir`, expected to refuse at start (a start that does not end is a failure)."""
    cmd = [sys.executable, "-m", "generator_service", "serve", "--model", "tiny", "--device", "cpu"]
    cmd += ["--port", "0", "--work-dir", str(work_dir), "--offline"]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def assert_refused(run: subprocess.CompletedProcess[str], *words: str) -> None:
    err = run.stderr
    assert run.returncode == 2, (run.returncode, err[-2000:])
    assert "Traceback" not in err, err[-3000:]
    assert "error: work dir:" in err and "hint:" in err, err
    for word in words:
        assert word in err, err


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """mount(size) -> a fresh tmpfs of that size (unmounted at teardown); skips where mounting is not allowed."""
    mounted: list[Path] = []

    def mount(size: str, name: str = "disk") -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not permitted'}); CI's root can")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def remount(point: Path, *options: str) -> None:
    subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(point)], check=True)


def test_a_file_instead_of_a_folder_is_refused_at_start(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.write_text("not a folder")
    assert_refused(serve_once(work), "is a file, not a folder")
    assert work.read_text() == "not a folder"


def test_a_read_only_work_dir_with_jobs_is_refused_and_its_jobs_are_kept(server_factory, clip, tmpfs) -> None:
    disk = tmpfs("64m")
    work = disk / "work"
    server = server_factory(work)

    async def one_job() -> str:
        async with server.client() as client:
            job_id = (await client.post("/v1/jobs", **job_form(clip, seed=11, end=0.5))).json()["id"]
            assert (await wait_done(client, job_id, 120))["status"] == "succeeded"
            return job_id

    job_id = asyncio.run(one_job())
    server.stop()
    remount(disk, "ro")
    assert_refused(serve_once(work), "read-only file system")

    remount(disk, "rw")  # the operator's fix: the job is there as it was
    again = server_factory(work)

    async def read() -> dict:
        async with again.client() as client:
            return (await client.get(f"/v1/jobs/{job_id}")).json()

    assert asyncio.run(read())["status"] == "succeeded"


def test_a_read_only_job_database_is_refused_at_start(tmp_path: Path, server_factory) -> None:
    work = tmp_path / "work"
    server_factory(work).stop()  # a real database, then only its file made read-only (a bind mount)
    db = work / "jobs.sqlite3"
    done = subprocess.run(["mount", "--bind", str(db), str(db)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({done.stderr.decode().strip()}); CI's root can")
    try:
        remount(db, "bind", "ro")
        assert_refused(serve_once(work), "job database", "cannot be written")
    finally:
        subprocess.run(["umount", "-l", str(db)], check=False)


def test_a_disk_without_room_is_refused_at_start(tmpfs) -> None:
    disk = tmpfs("4m")
    assert_refused(serve_once(disk / "work"), "MiB free")
    assert not (disk / "work" / "jobs.sqlite3").exists()


def test_a_disk_that_fills_answers_507_and_loses_nothing(server_factory, clip, tmpfs) -> None:
    disk = tmpfs("40m")
    server = server_factory(disk / "work")

    async def run() -> None:
        async with server.client() as client:
            first = (await client.post("/v1/jobs", **job_form(clip, seed=12, end=0.5))).json()["id"]
            assert (await wait_done(client, first, 120))["status"] == "succeeded"
            wav = (await client.get(f"/v1/jobs/{first}/result")).content
            uploads = disk / "work" / "uploads"
            kept = sorted(uploads.rglob("*"))
            stat = os.statvfs(disk)
            with open(disk / "filler", "wb") as out:  # leave less than one upload's room
                out.write(b"\0" * (stat.f_bavail * stat.f_frsize - 16_384))
            full = await client.post("/v1/jobs", **job_form(clip, seed=13, end=0.5))
            assert full.status_code == 507, full.text
            body = full.json()
            assert body["hint"] and "Free disk space" in body["hint"] and body["error_id"], body
            assert "System error" not in body["detail"]
            assert sorted(uploads.rglob("*")) == kept  # nothing of the refused upload was kept
            assert (await client.get(f"/v1/jobs/{first}/result")).content == wav  # the earlier result is intact
            listed = (await client.get("/v1/jobs")).json()["jobs"]
            assert [job["id"] for job in listed] == [first]  # nothing half-made is visible
            (disk / "filler").unlink()  # room again: the service takes jobs without a restart
            again = (await client.post("/v1/jobs", **job_form(clip, seed=13, end=0.5))).json()["id"]
            assert (await wait_done(client, again, 120))["status"] == "succeeded"

    asyncio.run(run())
