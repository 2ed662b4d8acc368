"""What every request passes before a route sees it: the token, the size limit, the access
log, and the last line of defence against a traceback.

One pure ASGI middleware, so the order is explicit and nothing is buffered twice: the access
log wraps everything (a refused request is logged too), then the bearer token (compared in
constant time), then the body is read up to the limit (a larger body is a 413 before any
JSON parsing), then the app. An exception that escapes a route is logged with its traceback
and answered with a one-line 500; the client never sees the stack.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ACCESS = logging.getLogger("dmsweep.serve.access")
LOG = logging.getLogger("dmsweep.serve")


class _Exchange:
    """What the access log line says about one request (filled in as the response goes)."""

    def __init__(self, send: Send) -> None:
        self.status = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self._send = send

    @property
    def started(self) -> bool:
        return self.status != 0

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body":
            self.bytes_out += len(message.get("body", b""))
        await self._send(message)


class Guard:
    """ASGI middleware: access log, bearer token, body size limit, no traceback to clients."""

    def __init__(self, app: ASGIApp, *, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token.encode() if token is not None else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(send)
        start = time.perf_counter()
        try:
            await self._guarded(scope, receive, exchange)
        except Exception as err:
            LOG.exception("%s %s: internal error", scope.get("method"), scope.get("path"))
            if not exchange.started:
                message = f"internal error ({type(err).__name__}); see the server log"
                await _send_error(exchange.send, 500, message)
        finally:
            _log_access(scope, exchange, time.perf_counter() - start)

    async def _guarded(self, scope: Scope, receive: Receive, exchange: _Exchange) -> None:
        if not self._authorised(scope):
            headers = [(b"www-authenticate", b"Bearer")]
            message = "missing or wrong bearer token (send Authorization: Bearer <token>)"
            await _send_error(exchange.send, 401, message, headers)
            return
        body, problem = await self._read_body(scope, receive)
        exchange.bytes_in = len(body)
        if problem:
            await _send_error(exchange.send, 413, problem)
            return
        await self.app(scope, _replay(body, receive), exchange.send)

    def _authorised(self, scope: Scope) -> bool:
        if self.token is None:
            return True
        header = _header(scope, b"authorization")
        scheme, _, given = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[bytes, str]:
        """(body, '') or (what was read, why it is refused): at most max_body_bytes."""
        limit = self.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            return b"", f"request body of {int(declared)} bytes: at most {limit}"
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", f"request body over {limit} bytes"
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(parts), ""


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the client's own events."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return b""


async def _send_error(
    send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": message}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


def _log_access(scope: Scope, exchange: _Exchange, seconds: float) -> None:
    """One JSON line per request: when, who, what, the status, sizes and time taken."""
    client = scope.get("client")
    record = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "client": f"{client[0]}:{client[1]}" if client else None,
        "method": scope.get("method"),
        "path": scope.get("path"),
        "status": exchange.status,
        "bytes_in": exchange.bytes_in,
        "bytes_out": exchange.bytes_out,
        "ms": round(seconds * 1000, 3),
    }
    ACCESS.info(json.dumps(record))
