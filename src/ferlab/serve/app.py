"""The FastAPI app: `POST /v1/predict`, `GET /v1/models`, `GET /healthz`, the web page at `/`.

Safety: uploads are size-capped (413), type-checked (415) and decoded with the decompression-bomb
guard (422); each request has a deadline (504); at most `max_concurrency` requests run and
`max_queue` wait, beyond that 503 with Retry-After. Nothing in a request names a server file:
models are chosen by the names loaded at start.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ferlab.errors import FerlabError
from ferlab.inference.images import UnsupportedFormat, load_image_bytes
from ferlab.inference.recognizer import Recognizer
from ferlab.serve.batching import MicroBatcher

STATIC = Path(__file__).parent / "static"
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/bmp", "image/gif", "image/tiff", "image/x-ms-bmp"}


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


class Gate:
    """Bounded concurrency with a bounded wait list."""

    def __init__(self, running: int, waiting: int) -> None:
        self.sem = asyncio.Semaphore(running)
        self.capacity = running + waiting
        self.inside = 0

    def try_enter(self) -> bool:
        if self.inside >= self.capacity:
            return False
        self.inside += 1
        return True

    def leave(self) -> None:
        self.inside -= 1


def create_app(
    models: list[str | None] | None = None,
    *,
    max_upload_mb: float = 10.0,
    timeout_s: float = 15.0,
    max_concurrency: int = 4,
    max_queue: int = 64,
    micro_batch: bool = True,
    batch_window_ms: float = 4.0,
) -> FastAPI:
    """The FastAPI app behind `ferlab serve`.

    models: model references to load (bundled names or paths); the first is the default, each
        runs as its card ships it. max_upload_mb: larger uploads get 413. timeout_s: per-request
        deadline (504). max_concurrency / max_queue: requests processed at once / allowed to wait
        (more get 503 with Retry-After). micro_batch, batch_window_ms: classify the faces of
        concurrent requests in one model call, waiting at most this long to gather them.
    """
    recognizers: dict[str, Recognizer] = {}
    for ref in models or [None]:
        rec = Recognizer(ref)
        recognizers.setdefault(rec.name, rec)
    default = next(iter(recognizers))
    batchers = {
        name: MicroBatcher(rec.probabilities, window_ms=batch_window_ms, enabled=micro_batch)
        for name, rec in recognizers.items()
    }
    max_bytes = int(max_upload_mb * 1024 * 1024)
    gate = Gate(max_concurrency, max_queue)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for b in batchers.values():
            await b.start()
        yield
        for b in batchers.values():
            await b.stop()

    app = FastAPI(
        title="ferlab",
        version=__import__("ferlab").__version__,
        lifespan=lifespan,
        description="Facial emotion recognition: faces found, classified, explained.",
    )
    app.state.batchers = batchers
    app.state.gate = gate

    # Every error answers in the app's one format, {"error", "status"}: FastAPI's validation errors,
    # Starlette's 404/405, and anything unexpected (no stack trace, no server path).
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail)[:200], getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
            for e in exc.errors()[:5]
        )
        return _error(422, f"invalid request ({problems})"[:300])

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        return _error(500, "internal error while handling the request")

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "models": list(recognizers), "in_flight": gate.inside}

    @app.get("/v1/models")
    async def list_models() -> dict:
        return {
            "default": default,
            "models": [
                {"name": n, "card": {k: v for k, v in r.card.items() if not k.startswith("_")}}
                for n, r in recognizers.items()
            ],
        }

    async def _predict(
        rec: Recognizer, batcher: MicroBatcher, rgb: np.ndarray, explain: bool, min_confidence: float
    ) -> list[dict]:
        found = await asyncio.to_thread(rec.find_faces, rgb, where="upload")
        crops = np.stack([f.crop for f in found]) if found else np.zeros((0, 48, 48), np.uint8)
        probs = await batcher(crops)
        dets = [f.detection for f in found]
        faces = [f.to_dict() for f in rec.faces_from(dets, probs, min_confidence=min_confidence)]
        if explain and found:
            heat = await asyncio.to_thread(_heatmaps, rec, crops.astype(np.uint8))
            for f, png in zip(faces, heat, strict=True):
                f["heatmap_png"] = png
        return faces

    @app.post("/v1/predict")
    async def predict(
        request: Request,
        file: UploadFile = File(...),
        model: str | None = Form(None),
        explain: bool = Form(False),
        min_confidence: float = Form(0.0, ge=0.0, le=1.0),
    ):
        t0 = time.perf_counter()
        name = model or request.query_params.get("model") or default
        if name not in recognizers:
            return _error(422, f"unknown model {name[:40]!r}; loaded: {', '.join(recognizers)}")
        explain = explain or request.query_params.get("explain", "").lower() in ("1", "true", "yes")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
            return _error(413, f"upload larger than {max_upload_mb:g} MB")
        ctype = (file.content_type or "").split(";")[0].strip().lower()
        if ctype not in IMAGE_TYPES:
            return _error(
                415, f"content type {ctype or 'none'!r} is not an image type ({', '.join(sorted(IMAGE_TYPES))})"
            )
        data = await file.read(max_bytes + 1)
        if len(data) > max_bytes:
            return _error(413, f"upload larger than {max_upload_mb:g} MB")
        if not gate.try_enter():
            return _error(503, "server busy: too many requests waiting", {"Retry-After": "1"})
        try:
            async with gate.sem:
                try:
                    where = (file.filename or "upload")[:80]
                    rgb = await asyncio.to_thread(load_image_bytes, data, where, allow_list=True)
                except UnsupportedFormat as e:
                    return _error(415, str(e))
                except FerlabError as e:
                    return _error(422, str(e))
                try:
                    faces = await asyncio.wait_for(
                        _predict(recognizers[name], batchers[name], rgb, explain, min_confidence), timeout_s
                    )
                except TimeoutError:
                    return _error(504, f"request took longer than {timeout_s:g} s")
                except FerlabError as e:  # e.g. an image too elongated to search
                    return _error(422, str(e))
        finally:
            gate.leave()
        return {
            "faces": faces,
            "model": name,
            "tta": recognizers[name].tta,
            "detector": recognizers[name].detector_name,
            "ms": round((time.perf_counter() - t0) * 1000, 2),
            "image": {"width": int(rgb.shape[1]), "height": int(rgb.shape[0])},
        }

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _heatmaps(rec: Recognizer, crops: np.ndarray) -> list[str]:
    from PIL import Image

    from ferlab.inference.explain import grad_cam, overlay

    cams, _ = grad_cam(rec.model, rec.card, crops)
    out = []
    for face, cam in zip(crops, cams, strict=True):
        buf = io.BytesIO()
        Image.fromarray(overlay(face, cam, 96)).save(buf, format="PNG")
        out.append(base64.b64encode(buf.getvalue()).decode())
    return out
