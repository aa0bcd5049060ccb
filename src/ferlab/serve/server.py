"""Running the app under uvicorn: a ready line naming the real endpoints, SIGTERM drained to exit 0,
and whether running requests were cut off by the graceful timeout."""

from __future__ import annotations

import signal
import sys

import uvicorn


class Server(uvicorn.Server):
    """uvicorn.Server that prints where it serves once it listens, and records whether the drain
    finished (`drained`): the requests running when shutdown began (its public
    `server_state.tasks`) are checked afterwards for a cancellation, which uvicorn asks of each
    one still running when the graceful timeout runs out."""

    drained = True

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started:
            host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
            names = ", ".join(self.config.app.state.recognizers)
            print(
                f"ferlab: serving {names or 'the bundled model'} on http://{host}:{self.config.port}/ "
                f"(page /, API POST /v1/predict, schema /openapi.json); Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )

    async def shutdown(self, sockets=None) -> None:
        running = set(self.server_state.tasks)
        await super().shutdown(sockets)
        self.drained = not any(t.cancelled() or t.cancelling() for t in running)


def serve(app, *, host: str, port: int, access_log: bool, graceful_timeout_s: float) -> bool:
    """Serve until SIGINT/SIGTERM; True when every running request finished. uvicorn re-raises
    the signal it stopped on once it has shut down (a SIGTERM would end the process with 143):
    SIGTERM is set to be ignored before it starts, so that re-raise ends nothing and a drained
    stop exits 0."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        timeout_graceful_shutdown=graceful_timeout_s,
    )
    server = Server(config)
    before = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, before)
    return server.drained
