"""Who may drive the server: the Host header (against DNS rebinding), the Origin of browser requests (against
other web pages), and a token for what changes stored sessions.

- Host: only the names in `allowed_hosts` (Starlette's TrustedHostMiddleware); by default the loopback names
  and the address served, or any name when serving every interface (the token then guards the writes).
- Origin: a browser's WebSocket, or its request that writes, is served only from a page of this server.
- Token: writes to sessions (create, delete, record from /v1/live) need `Authorization: Bearer TOKEN` (or
  `?token=` on the WebSocket, where browsers cannot set headers) when a token is set; a server on a
  non-loopback address without a token refuses them.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from moodlens.server.settings import ServerSettings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "same-origin",
}
RAW_SECURITY_HEADERS = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: ServerSettings) -> list[str]:
    """The Host names the server answers to: `settings.allowed_hosts`, else loopback and the address served."""
    if settings.allowed_hosts:
        return [name.strip() for name in settings.allowed_hosts.split(",") if name.strip()]
    if settings.host in WILDCARDS:
        return ["*"]
    return sorted({*LOOPBACK_NAMES, settings.host, f"[{settings.host}]" if ":" in settings.host else settings.host})


def writes_session(scope: Scope, query: dict[str, list[str]]) -> bool:
    """Whether the request changes stored sessions: a write to /v1/sessions, or a live socket that records."""
    if scope["type"] == "websocket":
        return bool(query.get("session"))
    return scope["path"].startswith("/v1/sessions") and scope["method"] not in SAFE_METHODS


def same_origin(headers: Headers) -> bool:
    """No Origin (not a browser, or a same-origin GET), or one whose host:port is the Host asked for."""
    origin = headers.get("origin")
    return origin is None or (origin != "null" and urlsplit(origin).netloc == headers.get("host"))


class RequestGuard:
    """ASGI middleware: same-origin for browser writes and WebSockets, the token for session writes, and
    security headers on every HTTP answer."""

    def __init__(self, app: ASGIApp, settings: ServerSettings):
        self.app, self.token = app, settings.token
        self.open_writes = not settings.token and is_loopback(settings.host)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = Headers(scope=scope)
        writes = scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS
        if writes and not same_origin(headers):
            return 403, "requests from other web pages are refused"
        query = parse_qs(scope.get("query_string", b"").decode())
        if not writes_session(scope, query) or self.open_writes:
            return None
        if not self.token:
            return 403, "this server listens beyond loopback without --token: set one to record or delete sessions"
        given = headers.get("authorization", "").removeprefix("Bearer ").strip() or query.get("token", [""])[0]
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return 401, "this needs the server's token (Authorization: Bearer TOKEN)"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if refused := self.refusal(scope):
            await refuse(scope, receive, send, *refused)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *RAW_SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


async def refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    """A JSON error over HTTP; a WebSocket is closed before it is accepted (the client sees HTTP 403)."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return
    error = "forbidden" if status == 403 else "unauthorized"
    await JSONResponse({"error": error, "detail": detail}, status, headers=SECURITY_HEADERS)(scope, receive, send)
