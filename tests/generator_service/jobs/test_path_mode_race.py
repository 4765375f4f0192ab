"""Path mode never reads outside the media root (jobs/media_root.py `open_confined`), whatever the
path names and whatever happens to the file between submit and run, or inside the run's own open.

Each example builds a small world: a media root with files, links that stay inside, links, chains
and a folder link that lead out, a loop; and a private folder beside the root. Hypothesis picks a
path form (`..`, absolute, relative, symlink chains, folder links, noise), a swap (the file becomes
a link out; its folder, or the root itself, a link to the private folder; other content, rewritten
in place even with size and mtime restored; the same content under a new inode; a FIFO; a folder;
gone), when it happens (between submit and run, between the run's name check and its open, or
inside the submit's open), and whether reads go through /proc/self/fd or a private copy.
Every `os.read` is recorded by the inode it read: none may be a private file's; a run reads exactly
the bytes accepted at submit; a swap that changes what the name holds makes the run fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from generator_service.hashing import ContentHashes
from generator_service.jobs import media_root as media_root_module
from generator_service.jobs.errors import InputRejected, MediaChanged
from generator_service.jobs.media_root import open_confined

INSIDE = {"a.mp4": b"inside a", "sub/b.mp4": b"inside b", "copy-of-a.mp4": b"inside a", "other.mp4": b"inside o"}
PRIVATE = {"secret": b"SECRET 1", "a.mp4": b"SECRET a", "b.mp4": b"SECRET b"}
REWRITTEN = b"inside r"  # what an in-place rewrite writes (same length as the originals)
LINKS = {
    "in-link": "a.mp4",
    "in-chain1": "in-chain2",
    "in-chain2": "sub/b.mp4",
    "in-dir": "sub",
    "out-link": "../private/secret",
    "out-chain1": "in-chain3",
    "in-chain3": "<private>/secret",
    "out-dir": "../private",
    "loop1": "loop2",
    "loop2": "loop1",
}
NAMED = [
    "a.mp4",
    "./a.mp4",
    "sub/b.mp4",
    "sub//b.mp4",
    "in-dir/b.mp4",
    "in-link",
    "in-chain1",
    "out-link",
    "out-chain1",
    "out-dir/secret",
    "out-dir/a.mp4",
    "sub/../a.mp4",
    "../private/secret",
    "<root>/a.mp4",
    "<root>/sub/b.mp4",
    "<root>/in-chain1",
    "<root>/in-dir/b.mp4",
    "<private>/secret",
    "<private>/a.mp4",
    "<root>/../private/secret",
    "loop1",
    "sub",
    "",
    "a.mp4/",
    "/",
]
PARTS = [
    "..",
    ".",
    "sub",
    "in-dir",
    "out-dir",
    "a.mp4",
    "b.mp4",
    "secret",
    "in-link",
    "in-chain1",
    "out-link",
    "out-chain1",
    "loop1",
    "private",
    "root",
]
SWAPS = [
    "none",
    "same-content",
    "link-out",
    "link-inside-other",
    "rewrite",
    "rewrite-keep-stamp",
    "folder-out",
    "fifo",
    "folder",
    "gone",
]
#: Swaps after which the name no longer holds the bytes accepted at submit: the run must fail.
CHANGING = set(SWAPS) - {"none", "same-content"}

#: Forms that name a file inside the root (drawn as often as the rest, so most examples reach the run).
INSIDE_FORMS = [
    "a.mp4",
    "./a.mp4",
    "copy-of-a.mp4",
    "sub/b.mp4",
    "sub//b.mp4",
    "in-dir/b.mp4",
    "in-link",
    "in-chain1",
    "<root>/a.mp4",
    "<root>/in-chain1",
    "<root>/in-dir/b.mp4",
    "<root>/./sub/b.mp4",
]

path_forms = st.one_of(
    st.sampled_from(INSIDE_FORMS),
    st.sampled_from(NAMED),
    st.builds(
        lambda prefix, parts: prefix + "/".join(parts),
        st.sampled_from(["", "<root>/", "<base>/", "/"]),
        st.lists(st.sampled_from(PARTS), min_size=1, max_size=4),
    ),
)


class World:
    """base/root (the media root) and base/private beside it; `private_inodes` of the private files."""

    def __init__(self, base: Path) -> None:
        self.base, self.root, self.private = base, base / "root", base / "private"
        for folder, files in ((self.root, INSIDE), (self.private, PRIVATE)):
            for name, data in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
        for name, target in LINKS.items():
            (self.root / name).symlink_to(target.replace("<private>", str(self.private)))
        self.private_inodes = {_inode(os.stat(p)) for p in self.private.rglob("*") if p.is_file()}
        self.reads: list[tuple[int, int]] = []

    def raw(self, form: str) -> str:
        return (
            form.replace("<root>", str(self.root))
            .replace("<private>", str(self.private))
            .replace("<base>", str(self.base))
        )

    def swap(self, kind: str, real: Path) -> None:
        """Change what the name `real` (a file under the root) holds."""
        if kind == "none":
            return
        if kind == "same-content":
            spare = real.with_name(real.name + ".new")
            spare.write_bytes(real.read_bytes())
            os.replace(spare, real)
        elif kind == "link-out":
            real.unlink()
            real.symlink_to(self.private / "secret")
        elif kind == "link-inside-other":
            real.unlink()
            real.symlink_to(self.root / "other.mp4")
        elif kind in ("rewrite", "rewrite-keep-stamp"):
            before = os.stat(real)
            real.write_bytes(REWRITTEN)
            if kind == "rewrite-keep-stamp":
                os.utime(real, ns=(before.st_atime_ns, before.st_mtime_ns))
        elif kind == "folder-out":  # the file's folder (the root itself for a top-level file) leads out
            folder = real.parent
            folder.rename(folder.with_name(folder.name + ".moved"))
            folder.symlink_to(self.private)
        else:
            real.unlink()
            {"fifo": os.mkfifo, "folder": os.mkdir, "gone": lambda p: None}[kind](real)


def _inode(st_result: os.stat_result) -> tuple[int, int]:
    return st_result.st_dev, st_result.st_ino


class _OsWithSwap:
    """`os` as media_root.py sees it, with `open(path)` changing the world just before it opens `path`."""

    def __init__(self, when: Callable[[Any], bool], swap: Callable[[], None]) -> None:
        self._when, self._swap = when, swap

    def open(self, path: Any, *args: Any, **kwargs: Any) -> int:
        if self._when(path):
            self._when = lambda p: False
            self._swap()
        return os.open(path, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


@contextlib.contextmanager
def recording_reads(world: World) -> Iterator[None]:
    """Record the inode of every `os.read` (the hashing and copying read through `os.read`)."""
    real_read = os.read

    def read(fd: int, n: int) -> bytes:
        world.reads.append(_inode(os.fstat(fd)))
        return real_read(fd, n)

    with mock.patch("os.read", read):
        yield


def attempt(
    world: World,
    raw: str,
    hashes: ContentHashes,
    expected: str | None = None,
    swap_at_open: Callable[[], None] | None = None,
    target: Path | None = None,
):
    """(real path, bytes read from `readable`, sha256) or the InputRejected raised."""
    patched = (
        contextlib.nullcontext()
        if swap_at_open is None
        else mock.patch.object(
            media_root_module, "os", _OsWithSwap(lambda p: target is None or Path(p) == target, swap_at_open)
        )
    )
    try:
        with (
            patched,
            open_confined(world.root, raw, hashes, expected_sha256=expected, scratch=world.base / "staging") as opened,
        ):
            return opened.path, opened.readable.read_bytes(), opened.sha256
    except InputRejected as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(
    form=path_forms,
    swap=st.sampled_from(SWAPS),
    when=st.sampled_from(["between submit and run", "inside the run's open", "inside the submit's open"]),
    bound=st.booleans(),
)
def test_nothing_outside_the_media_root_is_ever_read(form: str, swap: str, when: str, bound: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(os.path.realpath(tmp)))
        raw, hashes = world.raw(form), ContentHashes()
        allowed = set(INSIDE.values()) | {REWRITTEN}
        fd_dir = media_root_module.FD_DIR if bound else world.base / "no-fd-dir"
        with mock.patch.object(media_root_module, "FD_DIR", fd_dir), recording_reads(world):
            real_now = Path(os.path.realpath(world.root / raw)) if raw else None
            at_submit = None
            if (
                when == "inside the submit's open"
                and real_now is not None
                and real_now.is_file()
                and real_now.is_relative_to(world.root)
            ):
                at_submit = lambda: world.swap(swap, real_now)  # noqa: E731
            submitted = attempt(world, raw, hashes, swap_at_open=at_submit, target=real_now)
            if isinstance(submitted, InputRejected):
                ran = None
            else:
                real, data, digest = submitted
                assert real.is_relative_to(world.root) and data in allowed
                assert digest == hashlib.sha256(data).hexdigest()
                assert any(inode not in world.private_inodes for inode in world.reads)  # the recorder is live
                if when == "between submit and run":
                    world.swap(swap, real)
                at_run = (lambda: world.swap(swap, real)) if when == "inside the run's open" else None
                ran = attempt(world, str(real), hashes, expected=digest, swap_at_open=at_run, target=real)
        assert not set(world.reads) & world.private_inodes, f"read a private file for {raw!r} ({swap}, {when})"
        event("submit refused" if ran is None else f"run {'failed' if isinstance(ran, InputRejected) else 'read'}")
        if ran is None:
            return
        if isinstance(ran, InputRejected):
            assert isinstance(ran, MediaChanged) and str(world.root) in ran.message
            assert when == "inside the submit's open" or swap in CHANGING, ran.message
        else:
            assert ran[1] == data, (raw, swap, when)
            assert when == "inside the submit's open" or swap not in CHANGING, (raw, swap, when)


@pytest.mark.parametrize("bound", [True, False], ids=["fd-path", "private-copy"])
def test_an_unchanged_file_is_read_through_the_open_file_and_nothing_is_left(tmp_path: Path, bound: bool) -> None:
    world = World(tmp_path)
    fd_dir = media_root_module.FD_DIR if bound else tmp_path / "no-fd-dir"
    with mock.patch.object(media_root_module, "FD_DIR", fd_dir):
        submitted = attempt(world, "in-chain1", ContentHashes())
        assert not isinstance(submitted, InputRejected)
        real, data, digest = submitted
        assert (real, data) == (world.root / "sub" / "b.mp4", INSIDE["sub/b.mp4"])
        with open_confined(
            world.root, str(real), ContentHashes(), expected_sha256=digest, scratch=tmp_path / "staging"
        ) as opened:
            assert opened.readable.parent == (fd_dir if bound else tmp_path / "staging")
            world.swap("link-out", real)  # after the check: the read still gets the file that was checked
            assert opened.readable.read_bytes() == data
    assert not any((tmp_path / "staging").glob("*"))  # a private copy lives only while it is read
