"""A client of Pallaidium's "Backend Contract v0.1", written from the contract's description (not
from Pallaidium's code): standard-library urllib, the key sent as `Authorization: Bearer`,
`X-API-Key` and `?api_key=` at once, a non-2xx shown as the first 500 characters of its body,
`POST /v1/videos` answers taken in the three accepted shapes, polling until `succeeded` or `failed`
only (anything else keeps it polling), then the result file downloaded by its `file_id`."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

CONTRACT_VERSION = "v0.1"


class ContractError(RuntimeError):
    pass


class ContractClient:
    def __init__(self, base_url: str, api_key: str = "", poll_s: float = 2.0, max_wait_s: float = 3600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.poll_s = poll_s
        self.max_wait_s = max_wait_s
        self.phases: list[str] = []
        self.progress: list[float] = []
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _request(
        self, method: str, path: str, data: bytes | None = None, ctype: str | None = None, timeout: float = 60.0
    ) -> tuple[bytes, Any]:
        url = self.base_url + path
        if self.api_key:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"api_key": self.api_key})
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers |= {"Authorization": f"Bearer {self.api_key}", "X-API-Key": self.api_key}
        if ctype:
            headers["Content-Type"] = ctype
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return response.read(), response.headers
        except urllib.error.HTTPError as exc:
            raise ContractError(
                f"{method} {path} -> HTTP {exc.code}: {exc.read().decode('utf-8', 'replace')[:500]}"
            ) from exc

    def _json(self, method: str, path: str, payload: Any = None, timeout: float = 60.0) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        body, _ = self._request(method, path, data, "application/json" if data else None, timeout)
        return json.loads(body) if body else {}

    def check_compatible(self) -> dict[str, Any]:
        health = self._json("GET", "/v1/health")
        versions = health.get("contract_versions") or []
        if versions and CONTRACT_VERSION not in versions:
            raise ContractError(f"backend speaks {versions}, the client needs {CONTRACT_VERSION}")
        return health

    def models(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/models").get("data", [])

    def upload(self, path: Path, purpose: str = "control") -> str:
        boundary = "----ContractBoundary" + uuid.uuid4().hex
        body = b"\r\n".join(
            [
                f"--{boundary}".encode(),
                b'Content-Disposition: form-data; name="purpose"',
                b"",
                purpose.encode(),
                f"--{boundary}".encode(),
                f'Content-Disposition: form-data; name="file"; filename="{path.name}"'.encode(),
                b"Content-Type: video/mp4",
                b"",
                path.read_bytes(),
                f"--{boundary}--".encode(),
                b"",
            ]
        )
        raw, _ = self._request("POST", "/v1/files", body, f"multipart/form-data; boundary={boundary}", timeout=300)
        file_id = json.loads(raw).get("file_id")
        if not file_id:
            raise ContractError(f"/v1/files returned no file_id: {raw[:300]!r}")
        return file_id

    def run(self, payload: dict[str, Any], dst: Path) -> Path:
        """Submit, then resolve the answer to a file at `dst`."""
        answer = self._json("POST", "/v1/videos", payload, timeout=300)
        if answer.get("id") and answer.get("status") in ("queued", "running"):
            return self.poll(answer["id"], dst)
        if answer.get("file_id"):
            return self.download(answer["file_id"], dst)
        raise ContractError(f"unrecognised answer from /v1/videos: {json.dumps(answer)[:300]}")

    def poll(self, job_id: str, dst: Path) -> Path:
        deadline = time.monotonic() + self.max_wait_s
        while True:
            job = self._json("GET", f"/v1/jobs/{job_id}")
            if job.get("phase") and (not self.phases or self.phases[-1] != job["phase"]):
                self.phases.append(job["phase"])
            if isinstance(job.get("progress"), (int, float)):
                self.progress.append(float(job["progress"]))
            if job.get("status") == "succeeded":
                if not job.get("file_id"):
                    raise ContractError(f"job {job_id} succeeded but returned no file_id")
                return self.download(job["file_id"], dst)
            if job.get("status") == "failed":
                raise ContractError(f"job {job_id} failed: {job.get('error') or 'unknown error'}")
            if time.monotonic() > deadline:
                raise ContractError(f"job {job_id} timed out (status={job.get('status')})")
            time.sleep(self.poll_s)

    def download(self, file_id: str, dst: Path) -> Path:
        body, _ = self._request("GET", f"/v1/files/{file_id}")
        dst.write_bytes(body)
        return dst
