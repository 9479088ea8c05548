"""Protecting the server: a request body cap enforced while streaming, and bounded admission."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LINGER_BYTES = 64 * 1024 * 1024  # body read and thrown away after a 413, so that the client reads the answer
LINGER_SECONDS = 10.0


async def answer_413(send: Send, receive: Receive, detail: str, linger: bool) -> None:
    """Send the 413 JSON, then, before completing the response, read and discard what the client is still
    sending (at most LINGER_BYTES for LINGER_SECONDS): closing on an unread body resets the connection, and
    clients that send the whole body before reading (httpx, urllib) would see the reset, not the 413."""
    payload = json.dumps({"error": "payload_too_large", "detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": True})
    if linger:
        try:
            async with asyncio.timeout(LINGER_SECONDS):
                drained = 0
                while drained < LINGER_BYTES:
                    message = await receive()
                    drained += len(message.get("body", b""))
                    if message["type"] != "http.request" or not message.get("more_body"):
                        break
        except TimeoutError:
            pass
    await send({"type": "http.response.body", "body": b"", "more_body": False})


class BodySizeLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, decided from Content-Length before reading any of
    it, or while streaming when the client sends no length (chunked uploads). The request is still routed
    (the app sees a body cut off at once), so that metrics know which route refused it."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"the request body is over {self.max_bytes:,} bytes"
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        # a client that waits for "100 Continue" has sent nothing yet: answer at once, read nothing
        linger = headers.get(b"expect", b"").lower() != b"100-continue"
        too_large = length is not None and length.isdigit() and int(length) > self.max_bytes
        received, answered = 0, False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}  # the app sees the body cut off; we answer 413
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                too_large = True
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if not too_large:
                await send(message)
            elif not answered:
                answered = True
                await answer_413(send, receive, detail, linger)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not answered:
            await answer_413(send, receive, detail, linger)


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


class PixelBudget:
    """At most `limit` decoded pixels in the workers' hands at once. A worker about to decode an image
    waits until those being analysed leave room for it (one larger than the limit waits to run alone), so
    the server's memory is bounded by pixels, not by threads times the largest image, whatever the CPU."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self.room = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        pixels = min(pixels, self.limit)
        with self.room:
            self.room.wait_for(lambda: self.used + pixels <= self.limit)
            self.used += pixels
        try:
            yield
        finally:
            with self.room:
                self.used -= pixels
                self.room.notify_all()
