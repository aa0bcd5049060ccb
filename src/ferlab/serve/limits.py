"""The server's limits, each defaulted here once: `ferlab serve`'s flags and `create_app` read them.
Imports nothing heavy (the CLI builds its --help from it without loading FastAPI)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeLimits:
    """max_upload_mb: larger bodies get 413, refused as they arrive. timeout_s: per-request
    deadline from arrival (504). max_concurrency / max_queue: requests processed at once / allowed
    to wait (more, or a wait longer than the deadline: 503 with Retry-After). batch_window_ms: the
    longest wait to gather concurrent requests' faces into one model call. max_faces: faces
    classified per image, the largest (the answer says how many were dropped). max_pixels: pixel
    cap for formats decoded whole — a 24 MP PNG is 72 MB as RGB, so a few decoding at once stay
    well under 1 GB. decode_slots: images decoded at once. body_timeout_s: longest wait for the
    next piece of an upload (408 beyond). graceful_timeout_s: on SIGTERM/Ctrl-C, how long running
    requests may finish before they are cut off."""

    max_upload_mb: float = 10.0
    timeout_s: float = 15.0
    max_concurrency: int = 4
    max_queue: int = 64
    batch_window_ms: float = 4.0
    max_faces: int = 32
    max_pixels: int = 24_000_000
    decode_slots: int = 2
    body_timeout_s: float = 30.0
    graceful_timeout_s: float = 10.0
