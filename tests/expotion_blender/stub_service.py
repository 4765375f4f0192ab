"""A small real HTTP server on 127.0.0.1 implementing the v1 contract (docs/http-api.md) with canned
WAVs of exactly the requested length. An honest stand-in for protocol and placement tests; the real
service is exercised by test_e2e_service.py.

Behaviour switches live in the prompt: "FAIL" -> the job fails with a hint, "NOPERSON" -> succeeds
with `visual: "null"`, "SLOW" -> never finishes (until cancelled). Jobs advance one step per status
request or event (no sleeps, deterministic). `ready`/`hint` set what /v1/health says about the
model's weights. Every request is logged (`log`); `wait_for(predicate)` blocks on that log.
"""

from __future__ import annotations

import array
import email.parser
import email.policy
import io
import json
import math
import os
import tempfile
import threading
import uuid
import wave
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SAMPLE_RATE = 32000
VERSION = "0.1.0-stub"


def wav_bytes(num_samples: int, freq: float) -> bytes:
    period = max(2, round(SAMPLE_RATE / freq))
    cycle = array.array("h", (int(8000 * math.sin(2 * math.pi * i / period)) for i in range(period)))
    samples = (cycle * (num_samples // period + 1))[:num_samples]
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.tobytes())
    return buf.getvalue()


@dataclass
class StubJob:
    id: str
    params: dict[str, Any]
    upload: str | None
    steps_left: int
    status: str = "queued"
    progress: float = 0.0
    error: str | None = None
    hint: str | None = None

    @property
    def duration(self) -> float:
        p = self.params
        return p["duration"] if p.get("duration") is not None else p["end"] - p["start"]

    def advance(self) -> None:
        if self.status in ("succeeded", "failed", "cancelled"):
            return
        self.steps_left -= 1
        self.status, self.progress = "running", min(0.9, self.progress + 0.3)
        if self.steps_left <= 0:
            if "SLOW" in self.params.get("prompt", ""):
                self.steps_left = 1
            elif "FAIL" in self.params.get("prompt", ""):
                self.status, self.error, self.hint = "failed", "generation failed (stub)", "Try another seed (stub)"
            else:
                self.status, self.progress = "succeeded", 1.0

    def result(self) -> dict[str, Any] | None:
        if self.status != "succeeded":
            return None
        n = round(self.duration * SAMPLE_RATE)
        takes = self.params.get("variants", 1)
        return {
            "takes": takes,
            "sample_rate": SAMPLE_RATE,
            "num_samples": n,
            "duration_s": n / SAMPLE_RATE,
            "seeds": [self.params["seed"] + i for i in range(takes)],
            "prompt_used": self.params["prompt"] or "auto",
            "model": "stub/tiny",
            "adapter": self.params.get("adapter"),
            "untrained": True,
            "visual": "null" if "NOPERSON" in self.params.get("prompt", "") else "present",
            "cached": False,
            "version": VERSION,
            "precision": "fp32",
            "beat_lock": self.lock_mode,
            "hits": self.hits,
            "lock": [self.lock_report() for _ in range(takes)],
        } | self.melody_block(takes)

    def melody_block(self, takes: int) -> dict[str, Any]:
        """The real service's `melody` block for a job sent a temp (its shape; figures made up)."""
        if "melody_bytes" not in self.params:
            return {}
        measure = {"chroma_similarity": 0.61, "chance": 0.2, "chance_max": 0.3, "frames": 100, "follows": True}
        return {
            "melody": {
                "start_s": self.params.get("melody_start", 0.0),
                "measure": "chroma cosine (stub)",
                "follows": True,
                "takes": [dict(measure, chroma_similarity=0.61 - 0.01 * i) for i in range(takes)],
            }
        }

    @property
    def lock_mode(self) -> str:
        """The mode the real service would use: the one asked, else both (hits without a person)."""
        return self.params.get("beat_lock") or ("hits" if "NOPERSON" in self.params.get("prompt", "") else "both")

    @property
    def hits(self) -> list[dict[str, Any]]:
        """The hits inside the range, on its clock (as the real service reports them)."""
        start = self.params.get("start") or 0.0
        return [
            dict(h, t=round(h["t"] - start, 6), strength=h.get("strength", 1.0))
            for h in self.params.get("hits") or []
            if start <= h["t"] < start + self.duration
        ]

    def lock_report(self) -> dict[str, Any]:
        """A report of the real one's shape (with the nulls and string lists JSON allows)."""
        n = len(self.hits)
        side = {
            "beat_f": 0.5,
            "beat_chance_f": 0.3,
            "hits_landed": n,
            "hits": n,
            "hit_tolerance_s": 0.03,
            "hit_offsets_s": [None] * n,
        }
        return {
            "mode": self.lock_mode,
            "locked": self.lock_mode != "off",
            "reason": "stub lock",
            "max_stretch": 0.08,
            "stretch_range": [0.97, 1.03],
            "motion_tempo_bpm": None,
            "music_tempo_bpm": 120.0,
            "beat_anchors": 2,
            "hit_anchors": n,
            "notes": ["stub", "note"],
            "motion_beats": 4,
            "alignment": {"beat_tolerance_s": 0.1, "before": side, "after": side},
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "phase": "generate" if self.status == "running" else "",
            "progress": self.progress,
            "eta_s": 1.0 if self.status == "running" else None,
            "error": self.error,
            "hint": self.hint,
            "created": 0.0,
            "result": self.result(),
        }


@dataclass
class StubService:
    token: str = ""
    media_root: str | None = None
    steps: int = 2
    ready: bool = True
    hint: str = ""
    refuse_melody: bool = False  # answer a melody as a service without a melody model does
    jobs: dict[str, StubJob] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    upload_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="expotion-stub-"))
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    def record(self, entry: dict[str, Any]) -> None:
        with self.changed:
            self.log.append(entry)
            self.changed.notify_all()

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> bool:
        """Block until `predicate(log)` holds (re-checked on every request) -> whether it did."""
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self.log), timeout)

    def routes(self, method: str, suffix: str = "") -> list[dict[str, Any]]:
        return [e for e in self.log if e.get("method") == method and e["route"].endswith(suffix)]

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StubService:
        service = self

        class Handler(_Handler):
            stub = service

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    stub: StubService
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # keep test output quiet
        pass

    # -- helpers -----------------------------------------------------------------------------
    def _send(self, code: int, body: bytes, ctype: str = "application/json", headers: dict[str, str] | None = None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, data: Any) -> None:
        self._send(code, json.dumps(data).encode())

    def _error(self, code: int, detail: str, hint: str) -> None:
        self._json(code, {"detail": detail, "hint": hint, "error_id": "e-" + uuid.uuid4().hex[:8]})

    def _authorised(self) -> bool:
        if self.stub.token and self.headers.get("Authorization") != f"Bearer {self.stub.token}":
            self._error(401, "missing or wrong token", "Send Authorization: Bearer <token>")
            return False
        return True

    def _form(self) -> tuple[dict[str, Any], bytes | None, bytes | None]:
        length = int(self.headers.get("Content-Length", 0))
        raw = b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + self.rfile.read(length)
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        params, video, melody = {}, None, None
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "params":
                params = json.loads(part.get_content())
            elif name == "video":
                video = part.get_payload(decode=True)
            elif name == "melody":
                melody = part.get_payload(decode=True)
        return params, video, melody

    def _job(self, path: str) -> StubJob | None:
        job = self.stub.jobs.get(path.split("/")[3])
        if job is None:
            self._error(404, "unknown job", "Check the job id")
        return job

    # -- routes ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        if not self._authorised():
            return
        url = urlsplit(self.path)
        self.stub.record({"method": "GET", "route": url.path})
        parts = url.path.split("/")
        if url.path == "/v1/health":
            self._json(
                200,
                {
                    "status": "ok",
                    "version": VERSION,
                    "device": "cpu",
                    "model": "stub/tiny",
                    "model_loaded": True,
                    "untrained": True,
                    "queue_depth": len(self.stub.jobs),
                    "queue_limit": 8,
                    "path_mode": self.stub.media_root is not None,
                    "ready": self.stub.ready,
                    "model_available": self.stub.ready,
                    "hint": self.stub.hint,
                },
            )
        elif url.path == "/v1/models":
            self._json(
                200,
                {
                    "base_model": "stub/tiny",
                    "untrained": True,
                    "adapters": [{"name": "stub-adapter", "path": "/nowhere"}],
                    "licence": "stub",
                },
            )
        elif len(parts) == 4 and parts[2] == "jobs":
            if job := self._job(url.path):
                with self.stub.lock:
                    job.advance()
                self._json(200, job.to_json())
        elif len(parts) == 5 and parts[4] == "events":
            if job := self._job(url.path):
                self._events(job)
        elif len(parts) == 5 and parts[4] == "result":
            if job := self._job(url.path):
                self._result(job, int(parse_qs(url.query).get("take", ["0"])[0]))
        else:
            self._error(404, f"no route {url.path}", "")

    def _events(self, job: StubJob) -> None:
        chunks = []
        while True:
            job.advance()
            done = job.status in ("succeeded", "failed", "cancelled")
            chunks.append(f"event: {'done' if done else 'progress'}\ndata: {json.dumps(job.to_json())}\n\n")
            if done:
                break
        self._send(200, "".join(chunks).encode(), "text/event-stream")

    def _result(self, job: StubJob, take: int) -> None:
        result = job.result()
        if result is None:
            self._error(409, "job not finished", "Wait for status succeeded")
        elif not 0 <= take < result["takes"]:
            self._error(404, f"no take {take}", "")
        else:
            body = wav_bytes(result["num_samples"], 220.0 + 20 * result["seeds"][take] % 500)
            self._send(200, body, "audio/wav", {"X-Expotion-Metadata": json.dumps(result)})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        params, video, melody = self._form()
        if (video is None) == (params.get("path") is None):
            return self._error(422, "send a video or params.path", "")
        if melody is not None and self.stub.refuse_melody:
            return self._error(422, "melody: 'stub/tiny' cannot take a melody", "Start the service with a melody model")
        if params.get("path") is not None:
            root = self.stub.media_root
            if root is None or not os.path.abspath(params["path"]).startswith(os.path.abspath(root) + os.sep):
                return self._error(
                    400, "path mode is off or the path is outside the media root", "Start the service with --media-root"
                )
            if not os.path.isfile(params["path"]):
                return self._error(400, f"no such file {params['path']}", "")
        if params.get("duration") is None and params.get("end") is None:
            return self._error(422, "stub needs duration or end", "")
        upload = None
        if video is not None:
            upload = os.path.join(self.stub.upload_dir, uuid.uuid4().hex + ".mp4")
            with open(upload, "wb") as fh:
                fh.write(video)
        if melody is not None:
            params["melody_upload"] = melody.decode("latin-1")[:64]  # what the stub saw (a test's WAV header)
            params["melody_bytes"] = len(melody)
        self.stub.record({"method": "POST", "route": self.path, "params": params, "upload": upload})
        if self.path == "/v1/analyze":
            return self._json(
                200,
                {
                    "duration_s": params.get("duration"),
                    "face": {"coverage": 0.9},
                    "person": {"coverage": 1.0},
                    "motion": {"tempo_bpm": 120.0},
                    "expression": {},
                    "suggested_prompt": "bright stub music, 120 bpm",
                },
            )
        if len(self.stub.jobs) >= 8 and all(j.status == "queued" for j in self.stub.jobs.values()):
            return self._error(429, "queue full", "Wait")
        job = StubJob("j-" + uuid.uuid4().hex[:10], params, upload, self.stub.steps)
        self.stub.jobs[job.id] = job
        self._json(202, {"id": job.id, "status": "queued"})

    def do_DELETE(self) -> None:
        if not self._authorised():
            return
        if job := self._job(urlsplit(self.path).path):
            if job.status not in ("succeeded", "failed"):
                job.status = "cancelled"
            self.stub.record({"method": "DELETE", "route": urlsplit(self.path).path})
            self._json(200, {"id": job.id, "status": job.status})
