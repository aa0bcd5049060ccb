"""What the server checks before FastAPI reads a request: the Host header, and the body's size.

A pure ASGI middleware rather than Starlette's TrustedHostMiddleware and a route-level size
check: the route's form parsing reads (and spools) the whole multipart body before any handler
runs, so the cap has to sit in front of it, counting bytes as they arrive; and every refusal here
answers in the app's JSON error format. It also stamps each request's arrival time, from which
the request's deadline is measured.
"""

from __future__ import annotations

import asyncio
import json
import time

# Host names a local server answers to by default: a page on another site that makes the
# visitor's browser post to 127.0.0.1, or a DNS-rebinding name pointing there, is refused.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class Refused(Exception):
    """The body is refused while it arrives: (status, message)."""


def host_name(value: str) -> str:
    """The host in a Host header, without its port: 'a.b:8000' → 'a.b', '[::1]:80' → '::1'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


async def send_error(send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message, "status": status}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    # the client may still be sending a body we will not read: ask it to close
    raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """max_body: bytes a request body may have (413 beyond, before or while it is read).
    allowed_hosts: host names accepted in the Host header ("*" accepts any). body_timeout_s: the
    longest wait for the next piece of a body, and upload_deadline_s the longest time from
    arrival to the whole body (408 beyond either: a client trickling bytes holds a connection
    and a request's memory for no longer than the request's deadline)."""

    def __init__(
        self,
        app,
        *,
        max_body: int,
        allowed_hosts: list[str] | tuple[str, ...],
        max_mb: float,
        body_timeout_s: float = 30.0,
        upload_deadline_s: float = float("inf"),
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout_s
        self.upload_deadline = upload_deadline_s
        self.any_host = "*" in allowed_hosts
        self.hosts = {h.strip().lower().strip("[]") for h in allowed_hosts}
        self.too_large = f"upload larger than {max_mb:g} MB"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["arrived"] = time.monotonic()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = host_name(headers.get("host", ""))
        if not self.any_host and host not in self.hosts:
            await send_error(send, 400, f"host {host[:60]!r} is not served here (start the server with --allowed-host)")
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await send_error(send, 413, self.too_large)  # refused before one byte of the body is read
            return
        state: dict = {"read": 0, "refused": None, "started": False, "done": False}

        def refuse(status: int, message: str) -> Refused:
            state["refused"] = (status, message)
            return Refused(status, message)

        async def counted_receive():
            if state["done"]:
                return await receive()  # after the body: a disconnect, whenever it comes
            left = self.upload_deadline - (time.monotonic() - scope["state"]["arrived"])
            try:
                # a piece that arrives within a tenth of a second is never "slow", whatever is left
                message = await asyncio.wait_for(receive(), max(0.1, min(self.body_timeout, left)))
            except TimeoutError:
                if left < self.body_timeout:
                    raise refuse(
                        408, f"upload too slow: not complete within the {self.upload_deadline:g} s deadline"
                    ) from None
                raise refuse(408, f"upload too slow: no data for {self.body_timeout:g} s") from None
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > self.max_body:
                    raise refuse(413, self.too_large)
                state["done"] = not message.get("more_body", False)
            return message

        async def answer_refusal() -> None:
            if not state["started"]:
                state["started"] = True
                await send_error(send, *state["refused"])

        async def guarded_send(message) -> None:
            if state["refused"]:
                # the app turned the interrupted read into its own error: answer ours instead, once
                await answer_refusal()
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Refused:
            await answer_refusal()
