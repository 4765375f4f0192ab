"""Wire encodings of the HTTP API: the multipart/form-data request body, server-sent events, WAV headers.

Standard library only, no I/O beyond reading a file it is handed: used by the extension's client
and by tests of the service alike.
"""

from __future__ import annotations

import json
import mimetypes
import os
import uuid
import wave
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .errors import ProtocolError
from .params import JobParams

#: Header of `POST /v1/jobs` naming the request: a retry with the same key gets the same job.
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass
class Multipart:
    """A multipart/form-data body built in memory (proxies are small by construction)."""

    boundary: str = field(default_factory=lambda: "expotion-" + uuid.uuid4().hex)
    parts: list[bytes] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def add_field(self, name: str, value: str) -> None:
        head = f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        self.parts.append(head.encode("utf-8") + value.encode("utf-8") + b"\r\n")

    def add_file(self, name: str, path: str) -> None:
        filename = os.path.basename(path).replace('"', "_")
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        head = (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n"
        )
        with open(path, "rb") as fh:
            self.parts.append(head.encode("utf-8") + fh.read() + b"\r\n")

    def body(self) -> bytes:
        return b"".join(self.parts) + f"--{self.boundary}--\r\n".encode("ascii")


def job_form(params: JobParams, video_path: str | None, melody_path: str | None = None) -> Multipart:
    """The form of `POST /v1/jobs` / `/v1/analyze`: `params` JSON, the `video` part or `params.path`,
    and (a job following a temp track) the `melody` part or `params.melody_path`."""
    if (video_path is None) == (params.path is None):
        raise ProtocolError("exactly one of an uploaded video and params.path must be given")
    if melody_path is not None and params.melody_path is not None:
        raise ProtocolError("at most one of an uploaded melody and params.melody_path may be given")
    form = Multipart()
    form.add_field("params", json.dumps(params.to_json()))
    if video_path is not None:
        form.add_file("video", video_path)
    if melody_path is not None:
        form.add_file("melody", melody_path)
    return form


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Yield `(event, data)` per server-sent event from decoded lines (newlines stripped or not)."""
    event, data = "message", list[str]()
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


@dataclass(frozen=True)
class WavInfo:
    sample_rate: int
    channels: int
    num_samples: int


def read_wav_info(path: str) -> WavInfo:
    """Header of a PCM WAV; `ProtocolError` if the file is not one."""
    try:
        with wave.open(path, "rb") as wav:
            return WavInfo(wav.getframerate(), wav.getnchannels(), wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ProtocolError(f"{path} is not a PCM WAV file: {exc}") from exc
