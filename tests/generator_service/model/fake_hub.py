"""A local stand-in for the Hugging Face hub's HTTP API, enough for huggingface_hub's own
`snapshot_download` (repo info, the file tree, HEAD/GET of `resolve/<commit>/<file>` with ranges):
tests point HF_ENDPOINT at it and nothing is downloaded from the internet.

`cut_after` makes every GET of a file stop after that many bytes (the connection is closed mid-body);
a GET of a file named in `broken` answers 503 — together a download that is interrupted and cannot
resume until the test mends the hub. Every GET's starting byte is recorded in `starts` (a resumed download
asks for a range). A GET waits on `gate` before sending its body (tests hold a download in progress).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeHub:
    repo: str
    files: dict[str, bytes]
    cut_after: int | None = None
    broken: set[str] = field(default_factory=set)
    starts: list[tuple[str, int]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def __post_init__(self) -> None:
        self.gate.set()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                hub.answer(self, body=False)

            def do_GET(self) -> None:
                hub.answer(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def total(self) -> int:
        return sum(len(data) for data in self.files.values())

    def _tree(self) -> list[dict[str, object]]:
        entries = []
        for name, data in self.files.items():
            sha = hashlib.sha256(data).hexdigest()
            entries.append(
                {
                    "type": "file",
                    "path": name,
                    "size": len(data),
                    "oid": hashlib.sha1(data).hexdigest(),
                    "lfs": {"oid": sha, "size": len(data), "pointerSize": 134},
                }
            )
        return entries

    def answer(self, request: BaseHTTPRequestHandler, body: bool) -> None:
        path = request.path.split("?")[0]
        if path in (f"/api/models/{self.repo}/revision/main", f"/api/models/{self.repo}"):
            self._json(
                request,
                {
                    "id": self.repo,
                    "modelId": self.repo,
                    "sha": COMMIT,
                    "private": False,
                    "siblings": [{"rfilename": name} for name in self.files],
                },
                body,
            )
        elif re.fullmatch(rf"/api/models/{re.escape(self.repo)}/tree/{COMMIT}(/.*)?", path):
            self._json(request, self._tree(), body)
        elif (match := re.fullmatch(rf"/{re.escape(self.repo)}/resolve/(?:main|{COMMIT})/(.+)", path)) and match[
            1
        ] in self.files:
            self._file(request, match[1], body)
        else:
            self._send(
                request,
                404,
                b'{"error": "not found"}',
                {"Content-Type": "application/json", "X-Error-Code": "EntryNotFound"},
                body,
            )

    def _json(self, request: BaseHTTPRequestHandler, data: object, body: bool) -> None:
        self._send(request, 200, json.dumps(data).encode(), {"Content-Type": "application/json"}, body)

    def _file(self, request: BaseHTTPRequestHandler, name: str, body: bool) -> None:
        data = self.files[name]
        headers = {
            "X-Repo-Commit": COMMIT,
            "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
        }
        if not body:
            self._send(request, 200, b"", headers | {"Content-Length": str(len(data))}, False)
            return
        if name in self.broken:
            self._send(request, 503, b'{"error": "hub down"}', {"Content-Type": "application/json"}, True)
            return
        start = 0
        if (match := re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range", ""))) is not None:
            start = int(match[1])
        self.starts.append((name, start))
        self.gate.wait(30)
        part = data[start:]
        status = 206 if start else 200
        headers |= {"Content-Length": str(len(part))}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.end_headers()
        sent = part if self.cut_after is None else part[: max(0, self.cut_after - start)]
        request.wfile.write(sent)
        request.wfile.flush()
        if len(sent) < len(part):
            request.close_connection = True
            request.connection.shutdown(2)  # the body stops mid-way: the client sees a broken connection

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str], body: bool
    ) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        if "Content-Length" not in headers:
            request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if body:
            request.wfile.write(payload)


def serve_hub(repo: str, files: dict[str, bytes], cache: Path, monkeypatch: Any) -> FakeHub:
    """A started `FakeHub`, with huggingface_hub in this process pointed at a private `cache` and
    its offline mode off (the test session turns it on); stop it when done."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    return FakeHub(repo, files)
