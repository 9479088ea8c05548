"""Protecting the server: a request body cap enforced while streaming, and bounded admission."""

from __future__ import annotations

import json
import threading

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def send_json(send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
    start_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*start_headers, *headers]})
    await send({"type": "http.response.body", "body": payload})


class BodySizeLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, decided from Content-Length before reading
    anything, or while streaming when the client sends no length (chunked uploads)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = {"error": "payload_too_large", "detail": f"the request body is over {self.max_bytes:,} bytes"}
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await send_json(send, 413, detail, [(b"connection", b"close")])
            return
        received = 0
        too_large = answered = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                too_large = True  # cut the body off: the app sees a disconnect and we answer 413
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if not too_large:
                await send(message)
            elif not answered:
                answered = True
                await send_json(send, 413, detail, [(b"connection", b"close")])

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not answered:
            await send_json(send, 413, detail, [(b"connection", b"close")])


class Admission:
    """At most `limit` requests in the server's hands (running or waiting for a worker) at once;
    the rest are turned away at the door (503 + Retry-After) instead of queueing without bound."""

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0
        self.lock = threading.Lock()

    def try_enter(self) -> bool:
        with self.lock:
            if self.active >= self.limit:
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        with self.lock:
            self.active -= 1
