"""Upload files: written once, content-addressed, and nothing left behind when the disk is full."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from generator_service.jobs import uploads as uploads_module
from generator_service.jobs.errors import UploadNotStored
from generator_service.jobs.uploads import UploadStore

from .full_disk import FullDisk


def test_a_writer_commits_to_the_content_address_or_leaves_nothing(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "up")
    with store.writer("clip.mov") as writer:
        writer.write(b"mo")
        writer.write(b"vie")
        stored = writer.commit()
    assert stored.path.read_bytes() == b"movie" and stored.size == 5 and stored.path.suffix == ".mov"
    assert stored.path.name.startswith(stored.sha256) and store.in_use() == 1
    with pytest.raises(ValueError):
        writer.write(b"more")
    with store.writer("other.mp4") as writer:
        writer.write(b"never committed")
    assert sorted(p.name for p in store.folder.iterdir()) == [stored.path.name]


def test_a_full_disk_is_a_clear_error_and_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    store = UploadStore(tmp_path / "up")
    store.reset()
    monkeypatch.setattr(uploads_module, "os", FullDisk(room=3 << 20))
    with pytest.raises(UploadNotStored, match="No space left on device") as caught:
        store.store(io.BytesIO(b"\1" * (5 << 20)), "big.mp4")
    assert isinstance(caught.value, OSError) and "Free disk space" in caught.value.hint
    assert list(store.folder.iterdir()) == [] and store.in_use() == 0


def test_reset_keeps_the_uploads_of_resumed_jobs_only(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "up")
    store.folder.mkdir()
    keep, stale, partial = (store.folder / n for n in ("a.mp4", "b.mp4", ".upload-x.part"))
    for path in (keep, stale, partial):
        path.write_bytes(b"x")
    store.reset(keep=[keep, keep])  # two resumed jobs of the same video
    assert list(store.folder.iterdir()) == [keep] and store.in_use() == 1
    store.release(keep)
    assert keep.exists()
    store.release(keep)
    assert not keep.exists()
