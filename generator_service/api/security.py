"""Request guards of the HTTP service, as one ASGI middleware in front of the app.

- Token: when the service has a token, every request needs it (compared in constant time) as
  `Authorization: Bearer <token>`, `X-API-Key: <token>` or `?api_key=<token>` (Pallaidium's client
  sends all three); 401 with `WWW-Authenticate: Bearer` otherwise. The token decides: a page cannot
  send it (it does not know it; a cross-origin `Authorization` or `X-API-Key` header needs a CORS
  preflight this service never grants, and a link carrying `?api_key=` needs the token to be made).
- Loopback without a token: the `Host` must be a loopback name or address and an `Origin`, if sent,
  must be a loopback origin too (403) — so a web page cannot drive the service (DNS rebinding,
  CSRF). `Origin: null` is refused: browsers send it from sandboxed iframes, `data:` and `file:`
  pages and after cross-origin redirects, i.e. exactly from pages whose origin is hidden.
  Browsers send `Origin` with every cross-origin POST, DELETE and fetch; other clients send none.
- Body size: a declared `Content-Length` over the limit is refused before reading (413); a body
  that grows past the limit while streaming stops with 413 as well.
Errors use the API's `{detail, hint, error_id}` shape.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from expotion_protocol.hosts import is_loopback_host

from .errors import ApiError, error_response

logger = logging.getLogger(__name__)

TOO_LARGE_HINT = "Send a smaller file (the limit is set by --max-upload-mb), or use path mode (--media-root)."


def _host_name(value: str) -> str:
    try:
        return urlsplit(f"//{value}").hostname or ""
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return ""


def _loopback_origin(origin: str) -> bool:
    """`http(s)://<loopback host>[:port]`; "null", other schemes and other hosts are not."""
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and is_loopback_host(parts.hostname or "")


def _credentials(headers: Headers, query: bytes) -> list[str]:
    """Every token the request carries: bearer, `X-API-Key`, `api_key` query parameters."""
    scheme, _, bearer = headers.get("authorization", "").partition(" ")
    given = [bearer.strip()] if scheme.lower() == "bearer" else []
    given += headers.getlist("x-api-key")
    given += [value for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if name == "api_key"]
    return given


class UploadTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit / 2**20:.1f} MiB", TOO_LARGE_HINT)


class GuardMiddleware:
    """Token, loopback-origin and body-size checks (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, token: str | None, max_body: int) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._refusal(headers, scope.get("query_string", b""))
        if problem is not None:
            await error_response(*problem)(scope, receive, send)
            return
        await self.app(scope, self._limited(receive), send)

    def _refusal(self, headers: Headers, query: bytes = b"") -> tuple[int, str, str] | None:
        if self.token:
            if not any(
                hmac.compare_digest(given.encode(), self.token.encode()) for given in _credentials(headers, query)
            ):
                return (
                    401,
                    "missing or wrong token",
                    ("Send the service's token as `Authorization: Bearer <token>` (or `X-API-Key`, or `?api_key=`)."),
                )
        else:
            if not is_loopback_host(_host_name(headers.get("host", "127.0.0.1"))):
                return (
                    403,
                    "this service answers only requests addressed to a loopback host",
                    "Use http://127.0.0.1:<port>; to serve other machines start it with --host and --token.",
                )
            origin = headers.get("origin")
            if origin is not None and not _loopback_origin(origin):
                return (
                    403,
                    f"requests from web pages ({origin}) are refused",
                    "Call the service from the Blender extension or a local script.",
                )
        declared = headers.get("content-length")
        if declared is not None and not declared.isdigit():
            return 400, f"Content-Length {declared!r} is not a byte count", "Send a valid Content-Length header."
        if declared is not None and int(declared) > self.max_body:
            return (
                413,
                f"the declared body of {declared} bytes exceeds the limit of {self.max_body} bytes",
                TOO_LARGE_HINT,
            )
        return None

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise UploadTooLarge(limit)
            return message

        return wrapped
