"""Outermost ASGI middleware: request bodies are bounded in size and in time before anything
parses them, and every answer carries the browser security headers.

A body over the limit is refused with 413 as soon as its Content-Length (or, when it is sent in
chunks, its running size) says so, without reading the rest; one that trickles in slower than
`body_seconds` gets 408. The app behind then sees the client as gone, so it never parses a
partial body and whatever it answers is dropped."""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The page and its modules come from this server only; nothing may frame it (clickjacking).
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# The API docs page (Swagger UI) starts itself with an inline script.
DOCS_POLICY = PAGE_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"midi=(self), camera=(), microphone=(self), geolocation=()"),
]
# Encoded once: they go on every answer.
PAGE_HEADERS = SECURITY_HEADERS + [(b"content-security-policy", PAGE_POLICY.encode())]
DOCS_HEADERS = SECURITY_HEADERS + [(b"content-security-policy", DOCS_POLICY.encode())]


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int, body_seconds: float,
                 path_limits: dict[str, int] | None = None) -> None:
        """`path_limits`: routes with a body limit of their own (recordings are larger than MIDI)."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_seconds = body_seconds
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = DOCS_HEADERS if scope["path"].startswith("/docs") else PAGE_HEADERS
        answered = False  # by the guard itself; the app's answer is then dropped

        async def send_with_headers(message: Message) -> None:
            if answered:
                return
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"content-security-policy"]
                message = {**message, "headers": headers + added}
            await send(message)

        async def refuse(status: int, detail: str) -> None:
            nonlocal answered
            body = json.dumps({"detail": detail}).encode()
            await send_with_headers({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"connection", b"close")]})
            await send_with_headers({"type": "http.response.body", "body": body})
            answered = True

        limit = self.path_limits.get(scope["path"], self.max_body_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await refuse(413, _too_large(limit))
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_seconds
        received = 0
        guarded = True  # until the whole body is in

        async def guarded_receive() -> Message:
            nonlocal received, guarded
            if answered:
                return {"type": "http.disconnect"}
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await refuse(408, f"the request body took longer than {self.body_seconds:g} s to arrive")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    await refuse(413, _too_large(limit))
                    return {"type": "http.disconnect"}
                # Later reads (the app waiting for the client to hang up) have no deadline.
                guarded = message.get("more_body", False)
            return message

        async def app_receive() -> Message:
            return await guarded_receive() if guarded else await receive()

        await self.app(scope, app_receive, send_with_headers)



def _too_large(limit: int) -> str:
    return f"the request body is larger than the {limit:,} byte limit"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
