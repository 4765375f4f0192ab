"""Path mode without a usable /proc/self/fd (jobs/media_root.py): the read falls back to a private copy.

test_path_mode_race.py covers a system with no FD_DIR at all; these cover the two other ways
`_bound_path` must refuse it: an FD_DIR whose entry names some other file, and one that cannot be read.
"""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from generator_service.hashing import ContentHashes
from generator_service.jobs import media_root as media_root_module
from generator_service.jobs.media_root import open_confined


def _fd_dir_naming_other_files(base: Path) -> Path:
    """A folder where every small descriptor number names a decoy file (not the opened one)."""
    fake = base / "fake-fd"
    fake.mkdir()
    for n in range(3, 256):
        (fake / str(n)).write_bytes(b"decoy")
    return fake


def _fd_dir_unreadable(base: Path) -> Path:
    return base / "missing" / "fd"


@pytest.mark.parametrize("make_fd_dir", [_fd_dir_naming_other_files, _fd_dir_unreadable], ids=["other-file", "gone"])
def test_open_confined_reads_a_private_copy_when_the_fd_path_is_not_the_opened_file(
    tmp_path: Path, make_fd_dir
) -> None:
    root = tmp_path / "media"
    root.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 17)  # over one copy chunk
    (root / "clip.mp4").write_bytes(data)
    staging = tmp_path / "staging"
    with mock.patch.object(media_root_module, "FD_DIR", make_fd_dir(tmp_path)):
        with open_confined(Path(os.path.realpath(root)), "clip.mp4", ContentHashes(), scratch=staging) as opened:
            assert opened.readable.parent == staging and opened.readable.suffix == ".mp4"
            assert opened.readable.read_bytes() == data
            first = opened.sha256
        with open_confined(  # the recorded hash is checked against the copy's
            Path(os.path.realpath(root)), "clip.mp4", ContentHashes(), expected_sha256=first, scratch=staging
        ) as again:
            assert again.sha256 == first
    assert not any(staging.glob("*"))
